/*
 * Host paths in method arguments against allowed_paths: resolving paths
 * (realpath(3) and the rule for files not yet written), and reading the
 * paths out of domain, device, pool, volume and network XML the way
 * libvirt will read them.  See hostpath.h for the contract.
 */
#include "agent/hostpath.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#define XC(s) ((const char *)(s))

struct hostpath_set {
    atomic_uint refs;
    char **dirs;            /* resolved, or NULL for an entry that did not resolve */
    size_t n;
    size_t max_xml;
};

/* Resolving ---------------------------------------------------------------- */

/* path is absolute, without NUL, at most PATH_MAX bytes. */
static char *
resolve(const char *path)
{
    char *real, *copy, *parent, *base, *slash, *out;
    size_t len;
    struct stat st;

    if ((real = realpath(path, NULL)) != NULL)
        return real;
    if (errno != ENOENT)
        return NULL;
    copy = qmf_xstrdup(path);
    len = strlen(copy);
    while (len > 1 && copy[len - 1] == '/')
        copy[--len] = '\0';
    /* It exists, yet does not resolve: a dangling symbolic link. */
    if (lstat(copy, &st) == 0 || errno != ENOENT) {
        free(copy);
        return NULL;
    }
    slash = strrchr(copy, '/');
    base = slash + 1;
    if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        free(copy);
        return NULL;
    }
    *slash = '\0';
    parent = resolve(slash == copy ? "/" : copy);
    if (parent == NULL) {
        free(copy);
        return NULL;
    }
    out = qmf_xasprintf("%s%s%s", parent, strcmp(parent, "/") == 0 ? "" : "/", base);
    free(parent);
    free(copy);
    return out;
}

char *
hostpath_resolve(const char *path, size_t len)
{
    if (path == NULL || len == 0 || len > PATH_MAX || strlen(path) != len || path[0] != '/')
        return NULL;
    return resolve(path);
}

static bool
is_under(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    if (strcmp(dir, "/") == 0)
        return true;
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

bool
hostpath_allowed(const struct hostpath_set *set, const char *path, size_t len)
{
    char *real;
    bool ok = false;
    size_t i;

    if (set == NULL || (real = hostpath_resolve(path, len)) == NULL)
        return false;
    for (i = 0; i < set->n && !ok; i++)
        ok = set->dirs[i] != NULL && is_under(real, set->dirs[i]);
    free(real);
    return ok;
}

bool
hostpath_dir_shared(const char *resolved_dir)
{
    struct stat st;

    if (stat(resolved_dir, &st) != 0)
        return false;       /* nothing there yet: whoever makes it decides */
    return st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
}

/* The set -------------------------------------------------------------------- */

struct hostpath_set *
hostpath_set_new(const qmf_value *dirs, size_t max_xml)
{
    struct hostpath_set *set = qmf_xcalloc(1, sizeof(*set));
    size_t i;

    atomic_init(&set->refs, 1);
    set->n = qmf_list_len(dirs);
    set->dirs = qmf_xcalloc(set->n + 1, sizeof(*set->dirs));
    for (i = 0; i < set->n; i++) {
        const qmf_value *d = qmf_list_at(dirs, i);

        if (d->kind == QMF_STRING)
            set->dirs[i] = hostpath_resolve(qmf_as_bytes(d), qmf_bytes_len(d));
    }
    set->max_xml = max_xml;
    return set;
}

struct hostpath_set *
hostpath_set_ref(struct hostpath_set *set)
{
    atomic_fetch_add(&set->refs, 1);
    return set;
}

void
hostpath_set_unref(struct hostpath_set *set)
{
    size_t i;

    if (set == NULL || atomic_fetch_sub(&set->refs, 1) != 1)
        return;
    for (i = 0; i < set->n; i++)
        free(set->dirs[i]);
    free(set->dirs);
    free(set);
}

const char *
hostpath_set_dir(const struct hostpath_set *set, size_t i)
{
    return i < set->n ? set->dirs[i] : NULL;
}

/* Paths in XML ---------------------------------------------------------------- */

/*
 * Where a kind of document holds host paths: an attribute of an element,
 * or an element's text.  element or parent NULL matches any; attr NULL
 * means the text.  The domain list is wide on purpose: an attribute named
 * file, path, dir or socket is a host path wherever libvirt has put it so
 * far (disk and filesystem sources, backing stores, mirrors, character
 * devices and their logs, sockets, sysinfo entries, ROMs, TPM and RNG
 * back-ends...), and new elements tend to reuse these names.
 */
struct path_rule {
    const char *element;
    const char *parent;
    const char *attr;
    unsigned flags;
};

#define RULE_IF_ABSOLUTE  0x1   /* a name unless it starts with '/' */
#define RULE_LOCAL_SOURCE 0x2   /* not when its <source> names a remote <host> */
#define RULE_NOT_PTY      0x4   /* not for a pty (its path is libvirt's output) */

static const struct path_rule domain_rules[] = {
    { NULL, NULL, "file", 0 },
    { NULL, NULL, "path", RULE_NOT_PTY },
    { NULL, NULL, "dir", 0 },
    { NULL, NULL, "socket", 0 },
    { NULL, NULL, "evdev", 0 },
    { NULL, NULL, "rendernode", 0 },
    { NULL, NULL, "logFile", 0 },
    { NULL, NULL, "xauth", 0 },
    { "nvram", NULL, "template", 0 },
    { "backend", "interface", "tap", 0 },
    { "backend", "interface", "vhost", 0 },
    { "source", NULL, "master", 0 },
    { "source", NULL, "slave", 0 },
    { "source", "disk", "dev", 0 },
    { "source", "backingStore", "dev", 0 },
    { "source", "mirror", "dev", 0 },
    { "source", "dataStore", "dev", 0 },
    { "source", "filesystem", "dev", 0 },
    { "source", "input", "dev", 0 },
    { "source", "interface", "dev", RULE_IF_ABSOLUTE },
    { "kernel", "os", NULL, 0 },
    { "initrd", "os", NULL, 0 },
    { "dtb", "os", NULL, 0 },
    { "loader", "os", NULL, 0 },
    { "nvram", "os", NULL, 0 },
    { "table", "acpi", NULL, 0 },
    { "path", "source", NULL, 0 },
    { "block", "source", NULL, 0 },
    { "char", "source", NULL, 0 },
    { "path", "pstore", NULL, 0 },
    { "database", "smartcard", NULL, 0 },
    { "backend", "rng", NULL, 0 },
};

static const struct path_rule pool_rules[] = {
    { "path", "target", NULL, 0 },
    { "device", "source", "path", RULE_LOCAL_SOURCE },
    { "dir", "source", "path", RULE_LOCAL_SOURCE },
};

static const struct path_rule volume_rules[] = {
    { "path", "target", NULL, 0 },
    { "path", "backingStore", NULL, 0 },
};

/* The directory dnsmasq serves to anyone on the network by TFTP. */
static const struct path_rule network_rules[] = {
    { "tftp", "ip", "root", 0 },
};

struct xml_walk {
    const struct path_rule *rules;
    size_t nrules;
    bool passthrough_refused;   /* domain, device and network XML */
    hostpath_fn *fn;
    void *opaque;
    qmf_error *err;
    /* The parser's first complaint, and whether it met a DOCTYPE. */
    bool xml_failed, doctype;
    int xml_line;
    char xml_msg[200];
};

static bool
name_is(const xmlChar *name, const char *want)
{
    return want == NULL || (name != NULL && strcmp(XC(name), want) == 0);
}

static const char *
parent_name(xmlNodePtr n)
{
    return n->parent != NULL && n->parent->type == XML_ELEMENT_NODE ? XC(n->parent->name) : "";
}

static bool
has_child(xmlNodePtr n, const char *name)
{
    for (n = n->children; n != NULL; n = n->next)
        if (n->type == XML_ELEMENT_NODE && name_is(n->name, name))
            return true;
    return false;
}

/* The type attribute of the character device (serial, console...) that n,
 * a <source>, belongs to. */
static bool
in_pty(xmlNodePtr n)
{
    xmlChar *type;
    bool pty;

    if (!name_is(n->name, "source") || n->parent == NULL ||
        n->parent->type != XML_ELEMENT_NODE)
        return false;
    type = xmlGetNoNsProp(n->parent, BAD_CAST "type");
    pty = type != NULL && strcmp(XC(type), "pty") == 0;
    xmlFree(type);
    return pty;
}

/* libvirt reads these as given; none but the empty value means "none". */
static bool
blank(const char *s)
{
    for (; *s != '\0'; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    return true;
}

static int
visit_value(struct xml_walk *w, xmlNodePtr n, const struct path_rule *r, const char *value)
{
    char where[200];

    if (blank(value) || ((r->flags & RULE_IF_ABSOLUTE) && value[0] != '/'))
        return 0;
    if ((r->flags & RULE_NOT_PTY) && in_pty(n))
        return 0;
    if ((r->flags & RULE_LOCAL_SOURCE) && n->parent != NULL && has_child(n->parent, "host"))
        return 0;
    if (r->attr != NULL)
        snprintf(where, sizeof(where), "%.60s/%.60s/@%s", parent_name(n), XC(n->name),
                 r->attr);
    else
        snprintf(where, sizeof(where), "%.60s/%.60s", parent_name(n), XC(n->name));
    return w->fn(value, where, w->opaque);
}

/*
 * Every attribute with the rule's name counts, whatever its namespace:
 * libvirt asks libxml2 for an attribute by name alone, and which of two
 * namesakes it gets is libxml2's business, so both are checked.
 */
static int
visit_element(struct xml_walk *w, xmlNodePtr n)
{
    const char *parent = parent_name(n);
    xmlAttrPtr a;
    xmlChar *v;
    size_t i;
    int rc = 0;

    for (i = 0; i < w->nrules && rc == 0; i++) {
        const struct path_rule *r = &w->rules[i];

        if (!name_is(n->name, r->element) || (r->parent && strcmp(parent, r->parent) != 0))
            continue;
        /* A <target> is the guest's side: a mount tag, a device name. */
        if (r->element == NULL && name_is(n->name, "target"))
            continue;
        if (r->attr == NULL) {
            v = xmlNodeGetContent(n);
            rc = visit_value(w, n, r, v != NULL ? XC(v) : "");
            xmlFree(v);
            continue;
        }
        for (a = n->properties; a != NULL && rc == 0; a = a->next) {
            if (!name_is(a->name, r->attr))
                continue;
            v = xmlNodeListGetString(n->doc, a->children, 1);
            rc = visit_value(w, n, r, v != NULL ? XC(v) : "");
            xmlFree(v);
        }
    }
    return rc;
}

/* Depth first, without recursion; a domain's (or network's) <metadata>
 * belongs to applications, and libvirt never reads paths from it. */
static int
walk(struct xml_walk *w, xmlNodePtr root)
{
    xmlNodePtr n = root;
    int rc;

    while (n != NULL) {
        bool descend = n->type == XML_ELEMENT_NODE &&
            !(n->parent == root && name_is(n->name, "metadata"));

        if (descend && n->ns != NULL && w->passthrough_refused) {
            qmf_error_set(w->err, QMF_ERR_UNAUTHORIZED,
                          "<%.60s%s%.60s> (namespace %.100s) hands the hypervisor "
                          "settings that cannot be checked against allowed_paths",
                          n->ns->prefix ? XC(n->ns->prefix) : "",
                          n->ns->prefix ? ":" : "", XC(n->name),
                          n->ns->href ? XC(n->ns->href) : "");
            return -1;
        }
        if (descend && (rc = visit_element(w, n)) != 0)
            return rc;
        if (descend && n->children != NULL) {
            n = n->children;
            continue;
        }
        while (n != root && n->next == NULL)
            n = n->parent;
        if (n == root)
            break;
        n = n->next;
    }
    return 0;
}

static void
on_xml_error(void *data, xmlErrorPtr error)
{
    xmlParserCtxtPtr ctxt = data;
    struct xml_walk *w = ctxt->_private;
    size_t len;

    if (w->xml_failed || error->level < XML_ERR_ERROR)
        return;
    w->xml_failed = true;
    w->xml_line = error->line;
    snprintf(w->xml_msg, sizeof(w->xml_msg), "%s",
             error->message != NULL ? error->message : "malformed XML");
    len = strlen(w->xml_msg);
    while (len > 0 && (w->xml_msg[len - 1] == '\n' || w->xml_msg[len - 1] == ' '))
        w->xml_msg[--len] = '\0';
}

/* A DOCTYPE could declare entities that the values are made of: the parse
 * stops at it, before any declaration is read. */
static void
on_doctype(void *data, const xmlChar *name, const xmlChar *external_id,
           const xmlChar *system_id)
{
    xmlParserCtxtPtr ctxt = data;
    struct xml_walk *w = ctxt->_private;

    (void)name;
    (void)external_id;
    (void)system_id;
    w->doctype = true;
    xmlStopParser(ctxt);
}

static xmlDocPtr
parse(struct xml_walk *w, const char *xml, size_t len, size_t max_len)
{
    xmlParserCtxtPtr ctxt;
    xmlDocPtr doc;

    if (len > max_len || len > INT_MAX) {
        qmf_error_set(w->err, QMF_ERR_TOO_LARGE, "%zu bytes of XML, over the limit of %zu",
                      len, max_len < INT_MAX ? max_len : (size_t)INT_MAX);
        return NULL;
    }
    if (strlen(xml) != len) {
        qmf_error_set(w->err, QMF_ERR_INVALID_ARGS, "the XML holds a NUL byte");
        return NULL;
    }
    if ((ctxt = xmlNewParserCtxt()) == NULL) {
        qmf_error_set(w->err, QMF_ERR_INTERNAL, "cannot create an XML parser");
        return NULL;
    }
    ctxt->_private = w;
    ctxt->sax->serror = on_xml_error;
    ctxt->sax->internalSubset = on_doctype;
    /* No XML_PARSE_NOENT, DTDLOAD, DTDATTR, XINCLUDE or HUGE: nothing comes
     * from outside the document, and libxml2's size limits hold. */
    doc = xmlCtxtReadMemory(ctxt, xml, (int)len, "xmlDesc", NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlFreeParserCtxt(ctxt);
    if (w->doctype) {
        qmf_error_set(w->err, QMF_ERR_INVALID_ARGS, "a DOCTYPE is not accepted");
    } else if (doc == NULL || w->xml_failed || xmlDocGetRootElement(doc) == NULL) {
        if (w->xml_failed)
            qmf_error_set(w->err, QMF_ERR_INVALID_ARGS, "not well-formed XML (line %d: %s)",
                          w->xml_line, w->xml_msg);
        else
            qmf_error_set(w->err, QMF_ERR_INVALID_ARGS, "not well-formed XML");
    } else {
        return doc;
    }
    xmlFreeDoc(doc);
    return NULL;
}

int
hostpath_xml_each(enum schema_path kind, const char *xml, size_t len, size_t max_len,
                  hostpath_fn *fn, void *opaque, qmf_error *err)
{
    struct xml_walk w = { .fn = fn, .opaque = opaque, .err = err };
    xmlDocPtr doc;
    int rc;

    switch (kind) {
    case SCHEMA_PATH_DOMAIN_XML:
    case SCHEMA_PATH_DEVICE_XML:
        w.rules = domain_rules;
        w.nrules = sizeof(domain_rules) / sizeof(domain_rules[0]);
        w.passthrough_refused = true;
        break;
    case SCHEMA_PATH_DEVICE_MATCH:
        /* Only parsed: libvirt compares these paths with the domain's
         * devices and opens none of them. */
        w.passthrough_refused = true;
        break;
    case SCHEMA_PATH_POOL_XML:
        w.rules = pool_rules;
        w.nrules = sizeof(pool_rules) / sizeof(pool_rules[0]);
        break;
    case SCHEMA_PATH_VOLUME_XML:
        w.rules = volume_rules;
        w.nrules = sizeof(volume_rules) / sizeof(volume_rules[0]);
        break;
    case SCHEMA_PATH_NETWORK_XML:
        /* <dnsmasq:options> hands dnsmasq, which runs as root, any option
         * (a dhcp-script, a conf-file): refused as qemu:commandline is. */
        w.rules = network_rules;
        w.nrules = sizeof(network_rules) / sizeof(network_rules[0]);
        w.passthrough_refused = true;
        break;
    default:
        qmf_error_set(err, QMF_ERR_INTERNAL, "no XML of kind '%s'", schema_path_name(kind));
        return -1;
    }
    if ((doc = parse(&w, xml, len, max_len)) == NULL)
        return -1;
    rc = walk(&w, xmlDocGetRootElement(doc));
    xmlFreeDoc(doc);
    return rc;
}

/* Arguments ----------------------------------------------------------------- */

void
hostpath_refuse(qmf_error *err, const struct schema_method *m, const char *arg,
                const char *where)
{
    qmf_error_set(err, QMF_ERR_UNAUTHORIZED, "%s.%s: argument '%s': %s is not under "
                  "allowed_paths", m->class_name, m->name, arg,
                  where != NULL ? where : "the path");
}

struct arg_check {
    const struct hostpath_set *set;
    char where[200];
};

static int
check_xml_path(const char *value, const char *where, void *opaque)
{
    struct arg_check *c = opaque;

    if (hostpath_allowed(c->set, value, strlen(value)))
        return 0;
    snprintf(c->where, sizeof(c->where), "%s", where);
    return 1;
}

int
hostpath_check_args(const struct hostpath_set *set, const struct schema_method *m,
                    const qmf_value *args, qmf_error *err)
{
    struct arg_check check = { .set = set };
    qmf_error xerr;
    size_t i;
    int rc;

    for (i = 0; i < m->nargs; i++) {
        const struct schema_arg *a = &m->args[i];
        const qmf_value *v = qmf_map_get(args, a->name);

        if (a->path == SCHEMA_PATH_NONE || v == NULL || v->kind != QMF_STRING)
            continue;
        if (a->path == SCHEMA_PATH_FILE) {
            if (!hostpath_allowed(set, qmf_as_bytes(v), qmf_bytes_len(v))) {
                hostpath_refuse(err, m, a->name, NULL);
                return -1;
            }
            continue;
        }
        rc = hostpath_xml_each(a->path, qmf_as_bytes(v), qmf_bytes_len(v),
                               set != NULL ? set->max_xml : 0, check_xml_path, &check, &xerr);
        if (rc < 0) {
            qmf_error_set(err, xerr.code, "%s.%s: argument '%s': %s", m->class_name, m->name,
                          a->name, xerr.text);
            return -1;
        }
        if (rc > 0) {
            hostpath_refuse(err, m, a->name, check.where);
            return -1;
        }
    }
    return 0;
}
