# Turns the schema XML into a C array (schema_builtin_xml) at build time.
file(READ ${INPUT} hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
# Bytes above 0x7f do not fit a signed char: convert them explicitly, so
# that a non-ASCII character in the XML does not trip -Woverflow.
string(REGEX REPLACE "0x([89a-f][0-9a-f])," "(char)0x\\1," bytes "${bytes}")
file(WRITE ${OUTPUT}
"/* Generated from org.libvirt.xml by embed.cmake: do not edit. */\n#include <stddef.h>\n"
"extern const char schema_builtin_xml[];\nextern const size_t schema_builtin_xml_len;\n"
"const char schema_builtin_xml[] = {\n${bytes}0x00};\n"
"const size_t schema_builtin_xml_len = ${len};\n")
