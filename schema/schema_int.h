/*
 * Private to the schema module: the names of its enums, shared by the
 * tables (schema.c), the XML reader (schema_xml.c) and the generator of
 * the built-in tables (gen.c).
 */
#ifndef SCHEMA_INT_H
#define SCHEMA_INT_H

#include <stddef.h>

static const char *const kind_names[] = { "_data", "_event" };
static const char *const access_names[] = { "RO", "RC", "RW" };
static const char *const dir_names[] = { NULL, "I", "O", "IO" };
static const char *const role_names[] = { "reader", "operator", "admin" };
static const char *const path_names[] = {
    "",         "file",       "domain-xml",  "device-xml",
    "pool-xml", "volume-xml", "network-xml", "device-match",
};
static const char *const severity_names[] = {
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug",
};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#endif
