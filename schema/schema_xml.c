/*
 * Reads a schema from XML (schema/org.libvirt.xml and test schemas) with
 * libxml2 into struct schema, validating it strictly: a schema error is a
 * programming error we want to see at build/test time, with file and line.
 */
#include "schema/schema.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "schema/schema_int.h"

#define XC(s) ((const char *)(s))

/* One load in progress: where errors point, and the first one seen. */
struct parser {
    const char *file;
    qmf_error *err;
    bool failed;
    xmlNodePtr root;
    /* libxml2's first complaint, captured instead of printed to stderr. */
    bool xml_failed;
    int xml_line;
    char xml_msg[256];
};

static void parse_fail(struct parser *p, xmlNodePtr n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the first error only: later ones are usually its consequences. */
static void
parse_fail(struct parser *p, xmlNodePtr n, const char *fmt, ...)
{
    char msg[QMF_ERROR_TEXT_MAX];
    xmlChar *name;
    va_list ap;

    if (p->failed)
        return;
    p->failed = true;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    name = xmlGetProp(n, BAD_CAST "name");
    if (name != NULL)
        qmf_error_set(p->err, QMF_ERR_MALFORMED, "%s:%ld: <%s name=\"%s\">: %s",
                      p->file, xmlGetLineNo(n), XC(n->name), XC(name), msg);
    else
        qmf_error_set(p->err, QMF_ERR_MALFORMED, "%s:%ld: <%s>: %s",
                      p->file, xmlGetLineNo(n), XC(n->name), msg);
    xmlFree(name);
}

static void
on_xml_error(void *data, xmlErrorPtr error)
{
    xmlParserCtxtPtr ctxt = data;
    struct parser *p = ctxt->_private;
    size_t len;

    if (p->xml_failed || error->level < XML_ERR_ERROR)
        return;
    p->xml_failed = true;
    p->xml_line = error->line;
    snprintf(p->xml_msg, sizeof(p->xml_msg), "%s",
             error->message != NULL ? error->message : "malformed XML");
    len = strlen(p->xml_msg);
    while (len > 0 && (p->xml_msg[len - 1] == '\n' || p->xml_msg[len - 1] == ' '))
        p->xml_msg[--len] = '\0';
}

/* Attribute helpers.  Each returns 0, or -1 after parse_fail. */

static int
check_attrs(struct parser *p, xmlNodePtr n, const char *const *allowed)
{
    xmlAttrPtr a;
    size_t i;

    for (a = n->properties; a != NULL; a = a->next) {
        for (i = 0; allowed[i] != NULL; i++)
            if (strcmp(XC(a->name), allowed[i]) == 0)
                break;
        if (allowed[i] == NULL) {
            parse_fail(p, n, "unknown attribute \"%s\"", XC(a->name));
            return -1;
        }
    }
    return 0;
}

/* A copy of the attribute's value (ours to free), or NULL if absent. */
static char *
attr_dup(xmlNodePtr n, const char *name)
{
    xmlChar *v = xmlGetProp(n, BAD_CAST name);
    char *s;

    if (v == NULL)
        return NULL;
    s = qmf_xstrdup(XC(v));
    xmlFree(v);
    return s;
}

/* Optional attributes may be absent but never empty. */
static int
attr_optional(struct parser *p, xmlNodePtr n, const char *name, char **out)
{
    *out = attr_dup(n, name);
    if (*out != NULL && (*out)[0] == '\0') {
        parse_fail(p, n, "empty attribute \"%s\"", name);
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

static int
attr_required(struct parser *p, xmlNodePtr n, const char *name, char **out)
{
    if (attr_optional(p, n, name, out) == -1)
        return -1;
    if (*out == NULL) {
        parse_fail(p, n, "missing attribute \"%s\"", name);
        return -1;
    }
    return 0;
}

/* Names end up in routing keys and CLI arguments: keep them identifiers. */
static bool
valid_name(const char *s)
{
    const char *c;

    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (c = s + 1; *c != '\0'; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
              (*c >= '0' && *c <= '9') || *c == '_'))
            return false;
    return true;
}

static int
attr_name(struct parser *p, xmlNodePtr n, char **out)
{
    if (attr_required(p, n, "name", out) == -1)
        return -1;
    if (!valid_name(*out)) {
        parse_fail(p, n, "bad name: use letters, digits and '_', not starting with a digit");
        return -1;
    }
    return 0;
}

static int
attr_flag(struct parser *p, xmlNodePtr n, const char *name, bool *out)
{
    char *v = attr_dup(n, name);
    int rc = 0;

    *out = false;
    if (v == NULL)
        return 0;
    if (strcmp(v, "y") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "true") == 0)
        *out = true;
    else if (!(strcmp(v, "n") == 0 || strcmp(v, "no") == 0 || strcmp(v, "false") == 0)) {
        parse_fail(p, n, "bad %s \"%s\": use y or n", name, v);
        rc = -1;
    }
    free(v);
    return rc;
}

static int
lookup_name(const char *const *names, size_t count, const char *s)
{
    size_t i;

    for (i = 0; i < count; i++)
        if (names[i] != NULL && strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

/* A required attribute whose value is one of names[]; *out is its index. */
static int
attr_enum(struct parser *p, xmlNodePtr n, const char *name,
          const char *const *names, size_t count, int *out)
{
    char *v;

    if (attr_required(p, n, name, &v) == -1)
        return -1;
    *out = lookup_name(names, count, v);
    if (*out == -1)
        parse_fail(p, n, "bad %s \"%s\"", name, v);
    free(v);
    return *out == -1 ? -1 : 0;
}

static int
attr_type(struct parser *p, xmlNodePtr n, enum qmf_type *out)
{
    char *v;
    int t;

    if (attr_required(p, n, "type", &v) == -1)
        return -1;
    t = qmf_type_from_name(v);
    if (t < 0)
        parse_fail(p, n, "unknown type \"%s\"", v);
    free(v);
    if (t < 0)
        return -1;
    *out = (enum qmf_type)t;
    return 0;
}

static bool
class_declared(xmlNodePtr root, const char *name)
{
    xmlNodePtr n;
    xmlChar *v;
    bool found = false;

    for (n = root->children; n != NULL && !found; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || !xmlStrEqual(n->name, BAD_CAST "class"))
            continue;
        v = xmlGetProp(n, BAD_CAST "name");
        found = v != NULL && strcmp(XC(v), name) == 0;
        xmlFree(v);
    }
    return found;
}

/* references="X" is only meaningful on an objId and must name a data class. */
static int
attr_references(struct parser *p, xmlNodePtr n, enum qmf_type type, char **out)
{
    if (attr_optional(p, n, "references", out) == -1 || *out == NULL)
        return p->failed ? -1 : 0;
    if (type != QMF_T_OBJID) {
        parse_fail(p, n, "references is only allowed on type objId");
        return -1;
    }
    if (!class_declared(p->root, *out)) {
        parse_fail(p, n, "references unknown class \"%s\"", *out);
        return -1;
    }
    return 0;
}

/* Element children of n named `name`. */
static size_t
count_children(xmlNodePtr n, const char *name)
{
    size_t count = 0;

    for (n = n->children; n != NULL; n = n->next)
        if (n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST name))
            count++;
    return count;
}

/* Comments are fine between elements; stray text or elements are not. */
static int
check_child(struct parser *p, xmlNodePtr parent, xmlNodePtr n,
            const char *const *allowed)
{
    size_t i;

    if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
        if (!xmlIsBlankNode(n)) {
            parse_fail(p, parent, "unexpected text");
            return -1;
        }
        return 0;
    }
    if (n->type != XML_ELEMENT_NODE)
        return 0;
    for (i = 0; allowed[i] != NULL; i++)
        if (xmlStrEqual(n->name, BAD_CAST allowed[i]))
            return 0;
    parse_fail(p, n, "unexpected element inside <%s>", XC(parent->name));
    return -1;
}

static bool
is_element(xmlNodePtr n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST name);
}

/* Defaults are written as text; they are parsed per wire kind of the type. */

static bool
parse_unsigned(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long u;

    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    u = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || u > max)
        return false;
    *out = u;
    return true;
}

static bool
parse_signed(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long i;

    if (!((*s >= '0' && *s <= '9') || *s == '-'))
        return false;
    errno = 0;
    i = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || i < min || i > max)
        return false;
    *out = i;
    return true;
}

static qmf_value *
parse_default(const char *text, enum qmf_type type)
{
    enum qmf_kind kind = qmf_type_kind(type);
    uint8_t uuid[16];
    uint64_t u;
    int64_t i;
    double d;
    char *end;
    size_t len;

    switch (kind) {
    case QMF_UINT8:
        return parse_unsigned(text, UINT8_MAX, &u) ? qmf_uint(kind, u) : NULL;
    case QMF_UINT16:
        return parse_unsigned(text, UINT16_MAX, &u) ? qmf_uint(kind, u) : NULL;
    case QMF_UINT32:
        return parse_unsigned(text, UINT32_MAX, &u) ? qmf_uint(kind, u) : NULL;
    case QMF_UINT64:
        return parse_unsigned(text, UINT64_MAX, &u) ? qmf_uint(kind, u) : NULL;
    case QMF_INT8:
        return parse_signed(text, INT8_MIN, INT8_MAX, &i) ? qmf_int(kind, i) : NULL;
    case QMF_INT16:
        return parse_signed(text, INT16_MIN, INT16_MAX, &i) ? qmf_int(kind, i) : NULL;
    case QMF_INT32:
        return parse_signed(text, INT32_MIN, INT32_MAX, &i) ? qmf_int(kind, i) : NULL;
    case QMF_INT64:
        return parse_signed(text, INT64_MIN, INT64_MAX, &i) ? qmf_int(kind, i) : NULL;
    case QMF_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "y") == 0)
            return qmf_bool(true);
        if (strcmp(text, "false") == 0 || strcmp(text, "n") == 0)
            return qmf_bool(false);
        return NULL;
    case QMF_FLOAT:
    case QMF_DOUBLE:
        errno = 0;
        d = strtod(text, &end);
        if (errno != 0 || end == text || *end != '\0')
            return NULL;
        return kind == QMF_FLOAT ? qmf_float((float)d) : qmf_double(d);
    case QMF_STRING:
        len = strlen(text);
        if ((type == QMF_T_SSTR && len > 255) || (type == QMF_T_LSTR && len > 65535))
            return NULL;
        return qmf_string(text);
    case QMF_UUID:
        return qmf_uuid_parse(text, uuid) ? qmf_uuid(uuid) : NULL;
    default:
        return NULL;
    }
}

static int
parse_property(struct parser *p, xmlNodePtr n, struct schema_property *prop)
{
    static const char *const attrs[] = { "name", "type", "access", "optional",
        "statistic", "index", "unit", "references", "desc", NULL };
    int access;

    if (check_attrs(p, n, attrs) == -1 || attr_name(p, n, &prop->name) == -1 ||
        attr_type(p, n, &prop->type) == -1 ||
        attr_enum(p, n, "access", access_names, NELEM(access_names), &access) == -1 ||
        attr_flag(p, n, "optional", &prop->optional) == -1 ||
        attr_flag(p, n, "statistic", &prop->statistic) == -1 ||
        attr_flag(p, n, "index", &prop->index) == -1 ||
        attr_optional(p, n, "unit", &prop->unit) == -1 ||
        attr_references(p, n, prop->type, &prop->references) == -1 ||
        attr_required(p, n, "desc", &prop->desc) == -1)
        return -1;
    prop->access = (enum schema_access)access;
    return 0;
}

/* An event's arguments are stored as read-only properties of the class. */
static int
parse_event_arg(struct parser *p, xmlNodePtr n, struct schema_property *prop)
{
    static const char *const attrs[] = { "name", "type", "optional", "unit",
        "references", "desc", NULL };

    prop->access = SCHEMA_RO;
    if (check_attrs(p, n, attrs) == -1 || attr_name(p, n, &prop->name) == -1 ||
        attr_type(p, n, &prop->type) == -1 ||
        attr_flag(p, n, "optional", &prop->optional) == -1 ||
        attr_optional(p, n, "unit", &prop->unit) == -1 ||
        attr_references(p, n, prop->type, &prop->references) == -1 ||
        attr_required(p, n, "desc", &prop->desc) == -1)
        return -1;
    return 0;
}

/* path="file|domain-xml|...": only an input string can carry a host path. */
static int
attr_path(struct parser *p, xmlNodePtr n, struct schema_arg *arg)
{
    int path;

    arg->path = SCHEMA_PATH_NONE;
    if (!xmlHasProp(n, BAD_CAST "path"))
        return 0;
    /* Index 0 is "none", which is spelt by leaving the attribute out. */
    if (attr_enum(p, n, "path", path_names + 1, NELEM(path_names) - 1, &path) == -1)
        return -1;
    arg->path = (enum schema_path)(path + 1);
    if (!(arg->dir & SCHEMA_DIR_IN) ||
        (arg->type != QMF_T_SSTR && arg->type != QMF_T_LSTR)) {
        parse_fail(p, n, "path is only allowed on inputs of type sstr or lstr");
        return -1;
    }
    return 0;
}

static int
parse_arg(struct parser *p, xmlNodePtr n, struct schema_arg *arg)
{
    static const char *const attrs[] = { "name", "type", "dir", "optional",
        "default", "references", "path", "desc", NULL };
    char *def = NULL;
    int dir;

    if (check_attrs(p, n, attrs) == -1 || attr_name(p, n, &arg->name) == -1 ||
        attr_type(p, n, &arg->type) == -1 ||
        attr_enum(p, n, "dir", dir_names, NELEM(dir_names), &dir) == -1 ||
        attr_flag(p, n, "optional", &arg->optional) == -1 ||
        attr_references(p, n, arg->type, &arg->references) == -1 ||
        attr_required(p, n, "desc", &arg->desc) == -1)
        return -1;
    arg->dir = (enum schema_dir)dir;
    if (attr_path(p, n, arg) == -1)
        return -1;
    if (arg->optional && !(arg->dir & SCHEMA_DIR_IN)) {
        parse_fail(p, n, "optional is only meaningful for inputs");
        return -1;
    }
    def = attr_dup(n, "default");
    if (def == NULL)
        return 0;
    if (!(arg->dir & SCHEMA_DIR_IN))
        parse_fail(p, n, "an output cannot have a default");
    else if (!arg->optional)
        parse_fail(p, n, "default given for a required argument: add optional=\"y\"");
    else if ((arg->default_value = parse_default(def, arg->type)) == NULL)
        parse_fail(p, n, "default \"%s\" is not a valid %s", def,
                   qmf_type_name(arg->type));
    free(def);
    return p->failed ? -1 : 0;
}

static int
parse_method(struct parser *p, xmlNodePtr n, const char *class_name,
             struct schema_method *m)
{
    static const char *const attrs[] = { "name", "role", "readonly", "desc", NULL };
    static const char *const children[] = { "arg", NULL };
    xmlNodePtr c;
    size_t i;
    int role;

    m->class_name = class_name;
    if (check_attrs(p, n, attrs) == -1 || attr_name(p, n, &m->name) == -1 ||
        attr_enum(p, n, "role", role_names, NELEM(role_names), &role) == -1 ||
        attr_flag(p, n, "readonly", &m->readonly) == -1 ||
        attr_required(p, n, "desc", &m->desc) == -1)
        return -1;
    m->role = (enum schema_role)role;
    /* A method that changes nothing needs no more than reading. */
    if (m->readonly && m->role != SCHEMA_ROLE_READER) {
        parse_fail(p, n, "a readonly method must have role reader");
        return -1;
    }
    m->args = qmf_xcalloc(count_children(n, "arg") + 1, sizeof(*m->args));
    for (c = n->children; c != NULL; c = c->next) {
        if (check_child(p, n, c, children) == -1)
            return -1;
        if (!is_element(c, "arg"))
            continue;
        if (parse_arg(p, c, &m->args[m->nargs]) == -1)
            return -1;
        for (i = 0; i < m->nargs; i++)
            if (strcmp(m->args[i].name, m->args[m->nargs].name) == 0) {
                parse_fail(p, c, "duplicate argument");
                return -1;
            }
        m->nargs++;
    }
    return 0;
}

static int
parse_class(struct parser *p, xmlNodePtr n, const char *package,
            struct schema_class *c)
{
    static const char *const class_attrs[] = { "name", "desc", NULL };
    static const char *const event_attrs[] = { "name", "severity", "desc", NULL };
    static const char *const class_children[] = { "property", "method", NULL };
    static const char *const event_children[] = { "arg", NULL };
    bool event = is_element(n, "event");
    const char *prop_element = event ? "arg" : "property";
    xmlNodePtr e;
    size_t i;
    int sev;

    c->package = qmf_xstrdup(package);
    c->kind = event ? SCHEMA_EVENT : SCHEMA_DATA;
    c->severity = SCHEMA_SEV_INFO;
    if (check_attrs(p, n, event ? event_attrs : class_attrs) == -1 ||
        attr_name(p, n, &c->name) == -1)
        return -1;
    if (event) {
        if (attr_enum(p, n, "severity", severity_names, NELEM(severity_names),
                      &sev) == -1)
            return -1;
        c->severity = (enum schema_severity)sev;
    }
    if (attr_required(p, n, "desc", &c->desc) == -1)
        return -1;

    c->props = qmf_xcalloc(count_children(n, prop_element) + 1, sizeof(*c->props));
    c->methods = qmf_xcalloc(count_children(n, "method") + 1, sizeof(*c->methods));
    for (e = n->children; e != NULL; e = e->next) {
        if (check_child(p, n, e, event ? event_children : class_children) == -1)
            return -1;
        if (is_element(e, prop_element)) {
            struct schema_property *prop = &c->props[c->nprops];

            if ((event ? parse_event_arg(p, e, prop) : parse_property(p, e, prop)) == -1)
                return -1;
            for (i = 0; i < c->nprops; i++)
                if (strcmp(c->props[i].name, prop->name) == 0) {
                    parse_fail(p, e, "duplicate %s", event ? "argument" : "property");
                    return -1;
                }
            c->nprops++;
        } else if (is_element(e, "method")) {
            struct schema_method *m = &c->methods[c->nmethods];

            if (parse_method(p, e, c->name, m) == -1)
                return -1;
            for (i = 0; i < c->nmethods; i++)
                if (strcmp(c->methods[i].name, m->name) == 0) {
                    parse_fail(p, e, "duplicate method");
                    return -1;
                }
            c->nmethods++;
        }
    }
    return 0;
}

static int
parse_schema(struct parser *p, struct schema *s)
{
    static const char *const attrs[] = { "package", NULL };
    static const char *const children[] = { "class", "event", NULL };
    xmlNodePtr n = p->root;
    size_t i;

    if (!is_element(n, "schema")) {
        parse_fail(p, n, "the root element must be <schema>");
        return -1;
    }
    if (check_attrs(p, n, attrs) == -1 || attr_required(p, n, "package", &s->package) == -1)
        return -1;
    s->classes = qmf_xcalloc(count_children(n, "class") + count_children(n, "event") + 1,
                             sizeof(*s->classes));
    for (n = n->children; n != NULL; n = n->next) {
        struct schema_class *c = &s->classes[s->nclasses];

        if (check_child(p, p->root, n, children) == -1)
            return -1;
        if (n->type != XML_ELEMENT_NODE)
            continue;
        /* Counted before parsing, so that a half-built class is freed too. */
        s->nclasses++;
        if (parse_class(p, n, s->package, c) == -1)
            return -1;
        for (i = 0; i + 1 < s->nclasses; i++)
            if (strcmp(s->classes[i].name, c->name) == 0) {
                parse_fail(p, n, "duplicate class or event name");
                return -1;
            }
    }
    return 0;
}

struct schema *
schema_load_memory(const char *xml, size_t len, const char *name, qmf_error *err)
{
    struct parser p;
    xmlParserCtxtPtr ctxt;
    xmlDocPtr doc;
    struct schema *s;
    size_t i;

    memset(&p, 0, sizeof(p));
    p.file = name != NULL ? name : "<memory>";
    p.err = err;
    if (len > INT_MAX) {
        qmf_error_set(err, QMF_ERR_TOO_LARGE, "%s: schema too large", p.file);
        return NULL;
    }
    xmlInitParser();
    ctxt = xmlNewParserCtxt();
    if (ctxt == NULL) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "%s: cannot create an XML parser", p.file);
        return NULL;
    }
    /* Per-parser handler: no process-wide libxml2 error state is touched. */
    ctxt->_private = &p;
    ctxt->sax->serror = on_xml_error;
    doc = xmlCtxtReadMemory(ctxt, xml, (int)len, p.file, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOBLANKS |
                            XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (doc == NULL || p.xml_failed) {
        if (p.xml_failed)
            qmf_error_set(err, QMF_ERR_MALFORMED, "%s:%d: %s", p.file, p.xml_line,
                          p.xml_msg);
        else
            qmf_error_set(err, QMF_ERR_MALFORMED, "%s: malformed XML", p.file);
        xmlFreeDoc(doc);
        xmlFreeParserCtxt(ctxt);
        return NULL;
    }
    xmlFreeParserCtxt(ctxt);

    s = qmf_xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->hash_lock, NULL);
    atomic_init(&s->hashed, false);
    p.root = xmlDocGetRootElement(doc);
    if (p.root == NULL) {
        qmf_error_set(err, QMF_ERR_MALFORMED, "%s: empty document", p.file);
        p.failed = true;
    } else {
        parse_schema(&p, s);
    }
    xmlFreeDoc(doc);
    if (p.failed) {
        schema_free(s);
        return NULL;
    }
    for (i = 0; i < s->nclasses; i++)
        s->classes[i].schema = s;
    return s;
}

struct schema *
schema_load_file(const char *path, qmf_error *err)
{
    struct schema *s;
    FILE *f;
    char *data = NULL;
    size_t len = 0, cap = 0, n;

    if ((f = fopen(path, "rb")) == NULL) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "%s: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (len == cap) {
            cap = cap != 0 ? cap * 2 : 65536;
            data = qmf_xrealloc(data, cap);
        }
        n = fread(data + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        qmf_error_set(err, QMF_ERR_INTERNAL, "%s: read error", path);
        fclose(f);
        free(data);
        return NULL;
    }
    fclose(f);
    s = schema_load_memory(data, len, path, err);
    free(data);
    return s;
}
