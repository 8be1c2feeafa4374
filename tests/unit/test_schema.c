/* Tests of the org.libvirt schema tables: the built-in tables, _hash, load errors and the checks. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "schema/schema.h"
#include "tests/testutil.h"

/* A small schema whose lines the error tests point at. */
static const char base_xml[] =
    "<schema package=\"org.test\">\n"                                              /* 1 */
    "  <class name=\"Thing\" desc=\"A thing.\">\n"                                 /* 2 */
    "    <property name=\"size\" type=\"uint64\" access=\"RO\" unit=\"bytes\" desc=\"Size.\"/>\n"
    "    <property name=\"owner\" type=\"objId\" access=\"RC\" references=\"Thing\" desc=\"Owner.\"/>\n"
    "    <method name=\"grow\" role=\"operator\" desc=\"Grow it.\">\n"             /* 5 */
    "      <arg name=\"by\" dir=\"I\" type=\"uint32\" optional=\"y\" default=\"1\" desc=\"Amount.\"/>\n"
    "    </method>\n"                                                              /* 7 */
    "  </class>\n"
    "  <event name=\"happened\" severity=\"info\" desc=\"It happened.\">\n"        /* 9 */
    "    <arg name=\"what\" type=\"sstr\" desc=\"What.\"/>\n"                      /* 10 */
    "  </event>\n"
    "</schema>\n";

/* base_xml with the one occurrence of `from` replaced by `to`. */
static char *
edit(const char *xml, const char *from, const char *to)
{
    const char *at = strstr(xml, from);

    cr_assert(at != NULL, "test bug: '%s' not in the XML", from);
    cr_assert(strstr(at + 1, from) == NULL, "test bug: '%s' is ambiguous", from);
    return qmf_xasprintf("%.*s%s%s", (int)(at - xml), xml, to, at + strlen(from));
}

static struct schema *
load_text(const char *xml, qmf_error *err)
{
    return schema_load_memory(xml, strlen(xml), "t.xml", err);
}

static struct schema *
load_edit(const char *from, const char *to, qmf_error *err)
{
    char *xml = edit(base_xml, from, to);
    struct schema *s = load_text(xml, err);

    free(xml);
    return s;
}

static void
expect_error(const char *from, const char *to, const char *message)
{
    qmf_error err = { 0, "" };
    struct schema *s = load_edit(from, to, &err);

    cr_assert_null(s, "loaded despite %s -> %s", from, to);
    cr_assert_eq(err.code, QMF_ERR_MALFORMED);
    cr_assert_str_eq(err.text, message);
}

static struct schema *
builtin(void)
{
    qmf_error err = { 0, "" };
    struct schema *s = schema_load_builtin(&err);

    cr_assert_not_null(s, "builtin schema: %s", err.text);
    return s;
}

struct prop_spec {
    const char *name;
    enum qmf_type type;
};

static void
expect_props(const struct schema *s, const char *class_name,
             const struct prop_spec *props, size_t count)
{
    const struct schema_class *c = schema_find_class(s, class_name);
    size_t i;

    cr_assert_not_null(c, "class %s missing", class_name);
    cr_assert_eq(c->kind, SCHEMA_DATA);
    cr_assert_str_eq(c->package, "org.libvirt");
    cr_assert_eq(c->nprops, count, "%s has %zu properties, expected %zu", class_name,
                 c->nprops, count);
    for (i = 0; i < count; i++) {
        const struct schema_property *p = schema_find_property(c, props[i].name);

        cr_assert_not_null(p, "%s.%s missing", class_name, props[i].name);
        cr_assert_eq(p->type, props[i].type, "%s.%s is %s", class_name, props[i].name,
                     qmf_type_name(p->type));
        cr_assert(p->desc != NULL && strlen(p->desc) > 10, "%s.%s lacks a desc",
                  class_name, props[i].name);
    }
}

static void
expect_methods(const struct schema *s, const char *class_name, const char *const *names)
{
    const struct schema_class *c = schema_find_class(s, class_name);
    size_t i;

    cr_assert_not_null(c);
    for (i = 0; names[i] != NULL; i++)
        cr_assert_not_null(schema_find_method(c, names[i]), "%s.%s missing",
                           class_name, names[i]);
    cr_assert_eq(c->nmethods, i, "%s has %zu methods, expected %zu", class_name,
                 c->nmethods, i);
}

static const struct schema_arg *
arg_of(const struct schema *s, const char *cls, const char *method, const char *arg)
{
    const struct schema_class *c = schema_find_class(s, cls);
    const struct schema_method *m = c != NULL ? schema_find_method(c, method) : NULL;
    const struct schema_arg *a = m != NULL ? schema_find_arg(m, arg) : NULL;

    cr_assert_not_null(a, "%s.%s(%s) missing", cls, method, arg);
    return a;
}

static const struct schema_method *
method_of(const struct schema *s, const char *cls, const char *method)
{
    const struct schema_class *c = schema_find_class(s, cls);
    const struct schema_method *m = c != NULL ? schema_find_method(c, method) : NULL;

    cr_assert_not_null(m, "%s.%s missing", cls, method);
    return m;
}

Test(schema, builtin_loads)
{
    struct schema *s = builtin();

    cr_assert_str_eq(s->package, SCHEMA_PACKAGE);
    cr_assert_eq(s->nclasses, 6 + 11);
    cr_assert_null(schema_find_class(s, "Nothing"));
    schema_free(s);
}

Test(schema, classes_match_the_property_contract)
{
    static const struct prop_spec node[] = {
        { "hostname", QMF_T_SSTR }, { "uri", QMF_T_SSTR },
        { "libvirtVersion", QMF_T_UINT32 }, { "apiVersion", QMF_T_UINT32 },
        { "hypervisorVersion", QMF_T_UINT32 }, { "hypervisorType", QMF_T_SSTR },
        { "model", QMF_T_SSTR }, { "memory", QMF_T_UINT64 }, { "cpus", QMF_T_UINT32 },
        { "mhz", QMF_T_UINT32 }, { "nodes", QMF_T_UINT32 }, { "sockets", QMF_T_UINT32 },
        { "cores", QMF_T_UINT32 }, { "threads", QMF_T_UINT32 },
        { "freeMemory", QMF_T_UINT64 }, { "arch", QMF_T_SSTR }, { "labels", QMF_T_MAP },
    };
    static const struct prop_spec domain[] = {
        { "uuid", QMF_T_SSTR }, { "name", QMF_T_SSTR }, { "id", QMF_T_INT32 },
        { "node", QMF_T_OBJID }, { "state", QMF_T_SSTR }, { "numVcpus", QMF_T_UINT32 },
        { "active", QMF_T_BOOL }, { "maximumMemory", QMF_T_UINT64 },
        { "memory", QMF_T_UINT64 }, { "cpuTime", QMF_T_UINT64 },
        { "persistent", QMF_T_BOOL }, { "autostart", QMF_T_BOOL },
        { "osType", QMF_T_SSTR }, { "reason", QMF_T_SSTR },
    };
    static const struct prop_spec pool[] = {
        { "uuid", QMF_T_SSTR }, { "name", QMF_T_SSTR }, { "state", QMF_T_SSTR },
        { "capacity", QMF_T_UINT64 }, { "allocation", QMF_T_UINT64 },
        { "available", QMF_T_UINT64 }, { "node", QMF_T_OBJID }, { "type", QMF_T_SSTR },
        { "path", QMF_T_SSTR }, { "autostart", QMF_T_BOOL }, { "persistent", QMF_T_BOOL },
    };
    static const struct prop_spec volume[] = {
        { "key", QMF_T_SSTR }, { "path", QMF_T_SSTR }, { "name", QMF_T_SSTR },
        { "capacity", QMF_T_UINT64 }, { "allocation", QMF_T_UINT64 },
        { "storagePool", QMF_T_OBJID }, { "format", QMF_T_SSTR },
    };
    static const struct prop_spec network[] = {
        { "uuid", QMF_T_SSTR }, { "name", QMF_T_SSTR }, { "active", QMF_T_BOOL },
        { "persistent", QMF_T_BOOL }, { "autostart", QMF_T_BOOL },
        { "bridge", QMF_T_SSTR }, { "forwardMode", QMF_T_SSTR },
    };
    static const struct prop_spec iface[] = {
        { "name", QMF_T_SSTR }, { "mac", QMF_T_SSTR }, { "active", QMF_T_BOOL },
    };
    struct schema *s = builtin();
    const struct schema_class *c;
    const struct schema_property *p;

    expect_props(s, "Node", node, sizeof(node) / sizeof(node[0]));
    expect_props(s, "Domain", domain, sizeof(domain) / sizeof(domain[0]));
    expect_props(s, "Pool", pool, sizeof(pool) / sizeof(pool[0]));
    expect_props(s, "Volume", volume, sizeof(volume) / sizeof(volume[0]));
    expect_props(s, "Network", network, sizeof(network) / sizeof(network[0]));
    expect_props(s, "Interface", iface, sizeof(iface) / sizeof(iface[0]));

    c = schema_find_class(s, "Domain");
    p = schema_find_property(c, "memory");
    cr_assert(p->statistic);
    cr_assert_str_eq(p->unit, "KiB");
    cr_assert_eq(p->access, SCHEMA_RO);
    p = schema_find_property(c, "uuid");
    cr_assert(p->index);
    cr_assert_eq(p->access, SCHEMA_RC);
    cr_assert_str_eq(schema_find_property(c, "node")->references, "Node");
    cr_assert_str_eq(schema_find_property(c, "cpuTime")->unit, "ns");
    cr_assert_not(schema_find_property(c, "name")->statistic);
    cr_assert(schema_find_property(schema_find_class(s, "Node"), "freeMemory")->statistic);
    cr_assert_str_eq(schema_find_property(schema_find_class(s, "Volume"),
                                          "storagePool")->references, "Pool");
    cr_assert_str_eq(schema_find_property(schema_find_class(s, "Pool"),
                                          "capacity")->unit, "bytes");
    schema_free(s);
}

Test(schema, methods_of_the_brief)
{
    static const char *const node[] = { "domainDefineXML", "domainCreateXML",
        "storagePoolDefineXML", "storagePoolCreateXML", "networkDefineXML",
        "networkCreateXML", "findStoragePoolSources", "getCapabilities", "restore", NULL };
    static const char *const domain[] = { "create", "destroy", "undefine", "suspend",
        "resume", "save", "shutdown", "reboot", "getXMLDesc", "migrate", "reset",
        "managedSave", "setAutostart", "attachDevice", "detachDevice", "setVcpus",
        "setMemory", NULL };
    static const char *const pool[] = { "getXMLDesc", "create", "build", "destroy",
        "delete", "undefine", "createVolumeXML", "refresh", "createVolume", NULL };
    static const char *const volume[] = { "getXMLDesc", "delete", "wipe", "resize",
        "clone", NULL };
    static const char *const network[] = { "getXMLDesc", "create", "destroy",
        "undefine", "setAutostart", "dhcpLeases", NULL };
    static const char *const iface[] = { "getXMLDesc", "create", "destroy", NULL };
    struct schema *s = builtin();
    const struct schema_arg *a;
    const struct schema_method *m;

    expect_methods(s, "Node", node);
    expect_methods(s, "Domain", domain);
    expect_methods(s, "Pool", pool);
    expect_methods(s, "Volume", volume);
    expect_methods(s, "Network", network);
    expect_methods(s, "Interface", iface);

    a = arg_of(s, "Node", "domainDefineXML", "xmlDesc");
    cr_assert_eq(a->type, QMF_T_LSTR);
    cr_assert_eq(a->dir, SCHEMA_DIR_IN);
    cr_assert_not(a->optional);
    a = arg_of(s, "Node", "domainDefineXML", "domain");
    cr_assert_eq(a->type, QMF_T_OBJID);
    cr_assert_eq(a->dir, SCHEMA_DIR_OUT);
    cr_assert_str_eq(a->references, "Domain");
    cr_assert_str_eq(arg_of(s, "Node", "storagePoolCreateXML", "pool")->references, "Pool");
    cr_assert_str_eq(arg_of(s, "Node", "networkDefineXML", "network")->references, "Network");
    cr_assert(arg_of(s, "Node", "findStoragePoolSources", "srcSpec")->optional);
    cr_assert_null(arg_of(s, "Node", "findStoragePoolSources", "srcSpec")->default_value);
    cr_assert_eq(arg_of(s, "Node", "getCapabilities", "capabilities")->dir, SCHEMA_DIR_OUT);
    cr_assert_eq(arg_of(s, "Node", "restore", "filename")->type, QMF_T_LSTR);

    a = arg_of(s, "Domain", "migrate", "destinationUri");
    cr_assert_eq(a->type, QMF_T_SSTR);
    cr_assert_not(a->optional);
    a = arg_of(s, "Domain", "migrate", "flags");
    cr_assert_eq(a->type, QMF_T_UINT32);
    cr_assert(a->optional);
    cr_assert_not_null(a->default_value);
    cr_assert_eq(a->default_value->kind, qmf_type_kind(QMF_T_UINT32));
    cr_assert_eq(qmf_as_uint(a->default_value), 0);
    cr_assert_eq(arg_of(s, "Domain", "migrate", "bandwidth")->type, QMF_T_UINT64);
    cr_assert(arg_of(s, "Domain", "migrate", "dname")->optional);
    a = arg_of(s, "Domain", "attachDevice", "live");
    cr_assert_eq(a->type, QMF_T_BOOL);
    cr_assert_eq(a->default_value->kind, QMF_BOOL);
    cr_assert(qmf_as_bool(a->default_value));
    cr_assert_not(qmf_as_bool(arg_of(s, "Domain", "detachDevice", "config")->default_value));
    cr_assert_eq(arg_of(s, "Domain", "getXMLDesc", "description")->dir, SCHEMA_DIR_OUT);
    cr_assert_eq(arg_of(s, "Domain", "setMemory", "memory")->type, QMF_T_UINT64);
    cr_assert_eq(arg_of(s, "Domain", "setVcpus", "count")->type, QMF_T_UINT32);
    cr_assert_eq(arg_of(s, "Domain", "setAutostart", "autostart")->type, QMF_T_BOOL);
    cr_assert_eq(method_of(s, "Domain", "destroy")->nargs, 0);

    a = arg_of(s, "Pool", "createVolume", "format");
    cr_assert_eq(a->default_value->kind, QMF_STRING);
    cr_assert_str_eq(qmf_as_string(a->default_value), "raw");
    cr_assert_eq(arg_of(s, "Pool", "createVolume", "capacity")->type, QMF_T_UINT64);
    cr_assert_str_eq(arg_of(s, "Pool", "createVolumeXML", "volume")->references, "Volume");
    cr_assert_eq(arg_of(s, "Volume", "resize", "capacity")->type, QMF_T_UINT64);
    cr_assert_eq(arg_of(s, "Volume", "clone", "volume")->dir, SCHEMA_DIR_OUT);
    a = arg_of(s, "Network", "dhcpLeases", "leases");
    cr_assert_eq(a->type, QMF_T_LIST);
    cr_assert_eq(a->dir, SCHEMA_DIR_OUT);

    m = method_of(s, "Domain", "migrate");
    cr_assert_eq(m->role, SCHEMA_ROLE_ADMIN);
    cr_assert_str_eq(m->class_name, "Domain");
    cr_assert_eq(method_of(s, "Domain", "shutdown")->role, SCHEMA_ROLE_OPERATOR);
    cr_assert_eq(method_of(s, "Domain", "getXMLDesc")->role, SCHEMA_ROLE_READER);
    cr_assert_eq(method_of(s, "Domain", "undefine")->role, SCHEMA_ROLE_ADMIN);
    cr_assert_eq(method_of(s, "Domain", "attachDevice")->role, SCHEMA_ROLE_ADMIN);
    cr_assert_eq(method_of(s, "Node", "getCapabilities")->role, SCHEMA_ROLE_READER);
    cr_assert_eq(method_of(s, "Node", "findStoragePoolSources")->role, SCHEMA_ROLE_READER);
    cr_assert_eq(method_of(s, "Node", "domainCreateXML")->role, SCHEMA_ROLE_ADMIN);
    cr_assert_eq(method_of(s, "Node", "restore")->role, SCHEMA_ROLE_ADMIN);
    cr_assert_eq(method_of(s, "Pool", "delete")->role, SCHEMA_ROLE_ADMIN);
    cr_assert_eq(method_of(s, "Pool", "refresh")->role, SCHEMA_ROLE_OPERATOR);
    cr_assert_eq(method_of(s, "Volume", "wipe")->role, SCHEMA_ROLE_ADMIN);
    cr_assert_eq(method_of(s, "Network", "dhcpLeases")->role, SCHEMA_ROLE_READER);
    cr_assert_eq(method_of(s, "Interface", "create")->role, SCHEMA_ROLE_OPERATOR);
    schema_free(s);
}

/* Every argument that names host files, and only those, is marked. */
Test(schema, host_path_arguments_are_marked)
{
    static const struct {
        const char *cls, *method, *arg;
        enum schema_path path;
    } marked[] = {
        { "Node", "domainDefineXML", "xmlDesc", SCHEMA_PATH_DOMAIN_XML },
        { "Node", "domainCreateXML", "xmlDesc", SCHEMA_PATH_DOMAIN_XML },
        { "Node", "storagePoolDefineXML", "xmlDesc", SCHEMA_PATH_POOL_XML },
        { "Node", "storagePoolCreateXML", "xmlDesc", SCHEMA_PATH_POOL_XML },
        { "Node", "findStoragePoolSources", "srcSpec", SCHEMA_PATH_POOL_XML },
        { "Node", "restore", "filename", SCHEMA_PATH_FILE },
        { "Domain", "save", "filename", SCHEMA_PATH_FILE },
        { "Domain", "attachDevice", "xmlDesc", SCHEMA_PATH_DEVICE_XML },
        { "Domain", "detachDevice", "xmlDesc", SCHEMA_PATH_DEVICE_MATCH },
        { "Pool", "createVolumeXML", "xmlDesc", SCHEMA_PATH_VOLUME_XML },
        { "Node", "networkDefineXML", "xmlDesc", SCHEMA_PATH_NETWORK_XML },
        { "Node", "networkCreateXML", "xmlDesc", SCHEMA_PATH_NETWORK_XML },
    };
    struct schema *s = builtin();
    size_t i, j, k, n = 0;

    for (i = 0; i < sizeof(marked) / sizeof(marked[0]); i++)
        cr_expect_eq(arg_of(s, marked[i].cls, marked[i].method, marked[i].arg)->path,
                     marked[i].path, "%s.%s(%s) is not marked %s", marked[i].cls,
                     marked[i].method, marked[i].arg, schema_path_name(marked[i].path));
    for (i = 0; i < s->nclasses; i++)
        for (j = 0; j < s->classes[i].nmethods; j++)
            for (k = 0; k < s->classes[i].methods[j].nargs; k++)
                n += s->classes[i].methods[j].args[k].path != SCHEMA_PATH_NONE;
    cr_expect_eq(n, sizeof(marked) / sizeof(marked[0]), "%zu arguments are marked", n);
    /* libvirt chooses the managed save file. */
    cr_expect_eq(method_of(s, "Domain", "managedSave")->nargs, 0);
    cr_expect_str_eq(schema_path_name(SCHEMA_PATH_DEVICE_MATCH), "device-match");
    cr_expect_str_eq(schema_path_name(SCHEMA_PATH_FILE), "file");
    cr_expect_str_eq(schema_path_name(SCHEMA_PATH_VOLUME_XML), "volume-xml");
    cr_expect_str_eq(schema_path_name(SCHEMA_PATH_NETWORK_XML), "network-xml");
    schema_free(s);
}

/* The methods that change nothing, and only those, travel as queries do. */
Test(schema, read_only_methods_are_marked)
{
    static const struct { const char *cls, *method; } marked[] = {
        { "Node", "getCapabilities" }, { "Node", "findStoragePoolSources" },
        { "Domain", "getXMLDesc" }, { "Pool", "getXMLDesc" }, { "Volume", "getXMLDesc" },
        { "Network", "getXMLDesc" }, { "Network", "dhcpLeases" },
        { "Interface", "getXMLDesc" },
    };
    struct schema *s = builtin();
    size_t i, j, n = 0;

    for (i = 0; i < sizeof(marked) / sizeof(marked[0]); i++)
        cr_expect(method_of(s, marked[i].cls, marked[i].method)->readonly,
                  "%s.%s is not marked readonly", marked[i].cls, marked[i].method);
    for (i = 0; i < s->nclasses; i++)
        for (j = 0; j < s->classes[i].nmethods; j++) {
            const struct schema_method *m = &s->classes[i].methods[j];

            n += m->readonly;
            cr_expect(!m->readonly || m->role == SCHEMA_ROLE_READER, "%s.%s",
                      s->classes[i].name, m->name);
        }
    cr_expect_eq(n, sizeof(marked) / sizeof(marked[0]), "%zu methods are marked", n);
    /* Changes the pool's state as libvirt sees it. */
    cr_expect_not(method_of(s, "Pool", "refresh")->readonly);
    schema_free(s);
}

/* The mark is part of the class (a peer routes by it), and only a
 * reader's method may carry it. */
Test(schema, readonly_mark_loads_hashes_and_is_checked)
{
    char *marked = edit(base_xml, "role=\"operator\"", "role=\"reader\" readonly=\"y\"");
    char *plain = edit(base_xml, "role=\"operator\"", "role=\"reader\"");
    qmf_error err = { 0, "" };
    struct schema *a = load_text(marked, &err), *b;
    qmf_value *v;

    cr_assert_not_null(a, "%s", err.text);
    b = load_text(plain, &err);
    cr_assert_not_null(b, "%s", err.text);
    cr_assert(a->classes[0].methods[0].readonly);
    cr_assert_not(b->classes[0].methods[0].readonly);
    cr_assert(memcmp(schema_class_hash(&a->classes[0]), schema_class_hash(&b->classes[0]),
                     16) != 0, "the readonly mark does not enter _hash");
    v = schema_class_value(&a->classes[0]);
    {
        const qmf_value *mark = qmf_map_get(qmf_list_at(qmf_map_get(v, "_methods"), 0),
                                            "_readonly");

        cr_assert(mark != NULL && mark->kind == QMF_BOOL && qmf_as_bool(mark));
    }
    qmf_free(v);
    v = schema_class_value(&b->classes[0]);
    cr_assert_null(qmf_map_get(qmf_list_at(qmf_map_get(v, "_methods"), 0), "_readonly"));
    qmf_free(v);
    schema_free(a);
    schema_free(b);
    free(marked);
    free(plain);

    expect_error("role=\"operator\"", "role=\"operator\" readonly=\"y\"",
                 "t.xml:5: <method name=\"grow\">: a readonly method must have role reader");
    expect_error("role=\"operator\"", "role=\"reader\" readonly=\"maybe\"",
                 "t.xml:5: <method name=\"grow\">: bad readonly \"maybe\": use y or n");
}

Test(schema, events)
{
    static const char *const names[] = { "domainLifecycle", "domainReboot",
        "domainDeviceAdded", "domainDeviceRemoved", "poolLifecycle",
        "networkLifecycle", "agentStarted", "agentStopping", "driverDisconnected",
        "driverReconnected", "commandResult", NULL };
    struct schema *s = builtin();
    const struct schema_class *c;
    size_t i;

    for (i = 0; names[i] != NULL; i++) {
        c = schema_find_class(s, names[i]);
        cr_assert_not_null(c, "event %s missing", names[i]);
        cr_assert_eq(c->kind, SCHEMA_EVENT);
        cr_assert_eq(c->nmethods, 0);
    }
    c = schema_find_class(s, "domainLifecycle");
    cr_assert_eq(c->severity, SCHEMA_SEV_INFO);
    cr_assert_eq(c->nprops, 4);
    cr_assert_str_eq(c->props[0].name, "domain");
    cr_assert_str_eq(c->props[3].name, "detail");
    cr_assert_eq(schema_find_class(s, "driverDisconnected")->severity, SCHEMA_SEV_WARN);
    cr_assert_eq(schema_find_property(schema_find_class(s, "driverDisconnected"),
                                      "reason")->type, QMF_T_LSTR);
    cr_assert_not_null(schema_find_property(schema_find_class(s, "domainDeviceRemoved"),
                                            "device"));
    c = schema_find_class(s, "commandResult");
    cr_assert_eq(c->severity, SCHEMA_SEV_INFO);
    cr_assert_eq(c->nprops, 11);
    cr_assert_eq(schema_find_property(c, "requesterKey")->type, QMF_T_SSTR);
    cr_assert_eq(schema_find_property(c, "errorCode")->type, QMF_T_UINT32);
    cr_assert_eq(schema_find_property(c, "durationNs")->type, QMF_T_DELTATIME);
    cr_assert_eq(schema_find_property(c, "errorText")->type, QMF_T_LSTR);
    cr_assert_not_null(schema_find_property(c, "correlationId"));
    cr_assert_str_eq(schema_severity_name(SCHEMA_SEV_WARN), "warn");
    cr_assert_str_eq(schema_severity_name(SCHEMA_SEV_INFO), "info");
    schema_free(s);
}

Test(schema, hash_is_stable_and_distinct)
{
    struct schema *a = builtin(), *b = builtin();
    size_t i, j;

    cr_assert_eq(a->nclasses, b->nclasses);
    for (i = 0; i < a->nclasses; i++) {
        cr_assert(memcmp(schema_class_hash(&a->classes[i]), schema_class_hash(&b->classes[i]), 16) == 0,
                  "hash of %s differs between loads", a->classes[i].name);
        for (j = 0; j < i; j++)
            cr_assert(memcmp(schema_class_hash(&a->classes[i]), schema_class_hash(&a->classes[j]), 16) != 0,
                      "%s and %s share a hash", a->classes[i].name, a->classes[j].name);
    }
    schema_free(a);
    schema_free(b);
}

/* Loads base_xml edited once and reports whether class `cls` hashes as before. */
static bool
same_hash_after(const char *cls, const char *from, const char *to)
{
    qmf_error err = { 0, "" };
    struct schema *base = load_text(base_xml, &err), *changed;
    bool same;

    cr_assert_not_null(base, "%s", err.text);
    changed = load_edit(from, to, &err);
    cr_assert_not_null(changed, "%s -> %s: %s", from, to, err.text);
    same = memcmp(schema_class_hash(schema_find_class(base, cls)),
                  schema_class_hash(schema_find_class(changed, cls)), 16) == 0;
    schema_free(base);
    schema_free(changed);
    return same;
}

Test(schema, hash_follows_the_table_not_the_text)
{
    cr_assert_not(same_hash_after("Thing", "type=\"uint64\"", "type=\"uint32\""));
    cr_assert_not(same_hash_after("Thing", "access=\"RO\"", "access=\"RW\""));
    cr_assert_not(same_hash_after("Thing", "unit=\"bytes\"", "unit=\"KiB\""));
    cr_assert_not(same_hash_after("Thing", "role=\"operator\"", "role=\"admin\""));
    cr_assert_not(same_hash_after("Thing", "default=\"1\"", "default=\"2\""));
    cr_assert_not(same_hash_after("Thing", "name=\"by\"", "name=\"step\""));
    cr_assert_not(same_hash_after("happened", "severity=\"info\"", "severity=\"warn\""));
    cr_assert_not(same_hash_after("happened", "type=\"sstr\"", "type=\"lstr\""));

    cr_assert(same_hash_after("Thing", "desc=\"Size.\"", "desc=\"How big it is.\""));
    cr_assert(same_hash_after("Thing", "desc=\"A thing.\"", "desc=\"Something.\""));
    cr_assert(same_hash_after("Thing", "default=\"1\"", "default=\"01\""));
    cr_assert(same_hash_after("Thing", "  <class", "<!-- a comment -->\n\n  <class"));
    /* Another class changing leaves this one alone. */
    cr_assert(same_hash_after("Thing", "severity=\"info\"", "severity=\"warn\""));
}

/* A host path mark is part of the class: it changes what calls are accepted. */
Test(schema, path_mark_loads_hashes_and_is_checked)
{
    static const char plain[] = "<arg name=\"by\" dir=\"I\" type=\"uint32\" optional=\"y\" default=\"1\"";
    char *with_file = edit(base_xml, plain,
                           "<arg name=\"by\" dir=\"I\" type=\"lstr\" path=\"file\"");
    char *without = edit(base_xml, plain, "<arg name=\"by\" dir=\"I\" type=\"lstr\"");
    qmf_error err = { 0, "" };
    struct schema *a = load_text(with_file, &err), *b;
    qmf_value *v;

    cr_assert_not_null(a, "%s", err.text);
    b = load_text(without, &err);
    cr_assert_not_null(b, "%s", err.text);
    cr_assert_eq(a->classes[0].methods[0].args[0].path, SCHEMA_PATH_FILE);
    cr_assert_eq(b->classes[0].methods[0].args[0].path, SCHEMA_PATH_NONE);
    cr_assert(memcmp(schema_class_hash(&a->classes[0]), schema_class_hash(&b->classes[0]),
                     16) != 0, "the path mark does not enter _hash");
    v = schema_class_value(&a->classes[0]);
    cr_assert_str_eq(qmf_map_get_string(qmf_list_at(qmf_map_get(qmf_list_at(
        qmf_map_get(v, "_methods"), 0), "_arguments"), 0), "_path"), "file");
    qmf_free(v);
    v = schema_class_value(&b->classes[0]);
    cr_assert_null(qmf_map_get(qmf_list_at(qmf_map_get(qmf_list_at(
        qmf_map_get(v, "_methods"), 0), "_arguments"), 0), "_path"));
    qmf_free(v);
    schema_free(a);
    schema_free(b);
    free(with_file);
    free(without);

    expect_error("optional=\"y\" default", "path=\"file\" optional=\"y\" default",
                 "t.xml:6: <arg name=\"by\">: path is only allowed on inputs of type sstr or lstr");
    expect_error("dir=\"I\"", "dir=\"I\" path=\"files\"",
                 "t.xml:6: <arg name=\"by\">: bad path \"files\"");
}

Test(schema, load_errors_name_file_line_and_element)
{
    expect_error("type=\"uint64\"", "type=\"uint33\"",
                 "t.xml:3: <property name=\"size\">: unknown type \"uint33\"");
    expect_error("name=\"owner\"", "name=\"size\"",
                 "t.xml:4: <property name=\"size\">: duplicate property");
    expect_error("default=\"1\"", "default=\"-1\"",
                 "t.xml:6: <arg name=\"by\">: default \"-1\" is not a valid uint32");
    expect_error("default=\"1\"", "default=\"4294967296\"",
                 "t.xml:6: <arg name=\"by\">: default \"4294967296\" is not a valid uint32");
    expect_error("default=\"1\"", "default=\"one\"",
                 "t.xml:6: <arg name=\"by\">: default \"one\" is not a valid uint32");
    expect_error("optional=\"y\" default", "default",
                 "t.xml:6: <arg name=\"by\">: default given for a required argument: add optional=\"y\"");
    expect_error("<class name=\"Thing\"", "<class",
                 "t.xml:2: <class>: missing attribute \"name\"");
    expect_error("access=\"RO\"", "access=\"RX\"",
                 "t.xml:3: <property name=\"size\">: bad access \"RX\"");
    expect_error("role=\"operator\"", "role=\"root\"",
                 "t.xml:5: <method name=\"grow\">: bad role \"root\"");
    expect_error("dir=\"I\"", "dir=\"in\"", "t.xml:6: <arg name=\"by\">: bad dir \"in\"");
    expect_error("severity=\"info\"", "severity=\"information\"",
                 "t.xml:9: <event name=\"happened\">: bad severity \"information\"");
    expect_error("references=\"Thing\"", "references=\"Nothing\"",
                 "t.xml:4: <property name=\"owner\">: references unknown class \"Nothing\"");
    expect_error("unit=\"bytes\"", "unti=\"bytes\"",
                 "t.xml:3: <property name=\"size\">: unknown attribute \"unti\"");
    expect_error("desc=\"What.\"", "",
                 "t.xml:10: <arg name=\"what\">: missing attribute \"desc\"");
    expect_error("name=\"what\"", "name=\"what-now\"",
                 "t.xml:10: <arg name=\"what-now\">: bad name: use letters, digits and '_', not starting with a digit");
    expect_error("<property name=\"owner\"", "<propertee name=\"owner\"",
                 "t.xml:4: <propertee name=\"owner\">: unexpected element inside <class>");
    expect_error("</schema>", "  <event name=\"happened\" severity=\"info\" desc=\"Again.\"/>\n</schema>",
                 "t.xml:12: <event name=\"happened\">: duplicate class or event name");
}

Test(schema, malformed_xml_names_file_and_line)
{
    qmf_error err = { 0, "" };
    struct schema *s;

    s = load_edit("    </method>", "    </methd>", &err);
    cr_assert_null(s);
    cr_assert_eq(err.code, QMF_ERR_MALFORMED);
    cr_assert(strncmp(err.text, "t.xml:7: ", 9) == 0, "got: %s", err.text);
    cr_assert(strstr(err.text, "method") != NULL, "got: %s", err.text);

    s = load_text("", &err);
    cr_assert_null(s);
    cr_assert(strncmp(err.text, "t.xml:", 6) == 0, "got: %s", err.text);

    s = load_text("<schema package=\"x\"><class name=\"A\" desc=\"a\">oops</class></schema>", &err);
    cr_assert_null(s);
    cr_assert_str_eq(err.text, "t.xml:1: <class name=\"A\">: unexpected text");

    s = load_text("<scheme package=\"x\"/>", &err);
    cr_assert_null(s);
    cr_assert_str_eq(err.text, "t.xml:1: <scheme>: the root element must be <schema>");
}

static void
assert_same_text(const char *a, const char *b, const char *what)
{
    cr_assert((a == NULL) == (b == NULL) && (a == NULL || strcmp(a, b) == 0),
              "%s differs: '%s' vs '%s'", what, a ? a : "(null)", b ? b : "(null)");
}

/* The build's tables (gen.c) say exactly what the XML says, field by field. */
static void
assert_same_class(const struct schema_class *x, const struct schema_class *y)
{
    size_t i, j;

    assert_same_text(x->name, y->name, "class name");
    assert_same_text(x->package, y->package, x->name);
    assert_same_text(x->desc, y->desc, x->name);
    cr_assert(x->kind == y->kind && x->severity == y->severity, "%s", x->name);
    cr_assert_eq(x->nprops, y->nprops, "%s", x->name);
    for (i = 0; i < x->nprops; i++) {
        const struct schema_property *p = &x->props[i], *q = &y->props[i];

        assert_same_text(p->name, q->name, x->name);
        assert_same_text(p->unit, q->unit, p->name);
        assert_same_text(p->references, q->references, p->name);
        assert_same_text(p->desc, q->desc, p->name);
        cr_assert(p->type == q->type && p->access == q->access && p->optional == q->optional &&
                  p->statistic == q->statistic && p->index == q->index, "%s.%s", x->name,
                  p->name);
    }
    cr_assert_eq(x->nmethods, y->nmethods, "%s", x->name);
    for (i = 0; i < x->nmethods; i++) {
        const struct schema_method *m = &x->methods[i], *n = &y->methods[i];

        assert_same_text(m->name, n->name, x->name);
        assert_same_text(m->desc, n->desc, m->name);
        assert_same_text(m->class_name, n->class_name, m->name);
        cr_assert(m->role == n->role && m->readonly == n->readonly && m->nargs == n->nargs,
                  "%s.%s", x->name, m->name);
        for (j = 0; j < m->nargs; j++) {
            const struct schema_arg *a = &m->args[j], *b = &n->args[j];

            assert_same_text(a->name, b->name, m->name);
            assert_same_text(a->references, b->references, a->name);
            assert_same_text(a->desc, b->desc, a->name);
            cr_assert(a->type == b->type && a->dir == b->dir && a->optional == b->optional &&
                      a->path == b->path, "%s.%s(%s)", x->name, m->name, a->name);
            cr_assert((a->default_value == NULL) == (b->default_value == NULL) &&
                      (a->default_value == NULL || qmf_equal(a->default_value, b->default_value)),
                      "%s.%s(%s): default differs", x->name, m->name, a->name);
        }
    }
}

Test(schema, load_file_matches_builtin)
{
    char *path = test_fixture_path("../../schema/org.libvirt.xml");
    qmf_error err = { 0, "" };
    struct schema *file = schema_load_file(path, &err), *mem = builtin();
    size_t i;

    cr_assert_not_null(file, "%s", err.text);
    cr_assert_eq(file->nclasses, mem->nclasses);
    for (i = 0; i < mem->nclasses; i++) {
        assert_same_class(&file->classes[i], &mem->classes[i]);
        cr_assert(memcmp(schema_class_hash(&file->classes[i]), schema_class_hash(&mem->classes[i]), 16) == 0);
        cr_assert_eq(mem->classes[i].schema, mem);
    }
    schema_free(file);
    schema_free(mem);
    free(path);

    cr_assert_null(schema_load_file("/nonexistent/org.libvirt.xml", &err));
    cr_assert(strstr(err.text, "/nonexistent/org.libvirt.xml") != NULL, "got: %s", err.text);
}

Test(schema, id_value_shape)
{
    struct schema *s = builtin();
    const struct schema_class *c = schema_find_class(s, "Domain");
    qmf_value *id = schema_id_value(c), *hash;

    cr_assert_eq(id->kind, QMF_MAP);
    cr_assert_eq(qmf_map_len(id), 4);
    cr_assert_str_eq(qmf_map_get_string(id, "_package_name"), "org.libvirt");
    cr_assert_str_eq(qmf_map_get_string(id, "_class_name"), "Domain");
    cr_assert_str_eq(qmf_map_get_string(id, "_type"), "_data");
    hash = qmf_map_get(id, "_hash");
    cr_assert_not_null(hash);
    cr_assert_eq(hash->kind, QMF_UUID);
    cr_assert(memcmp(qmf_as_uuid(hash), schema_class_hash(c), 16) == 0);
    qmf_free(id);

    id = schema_id_value(schema_find_class(s, "domainLifecycle"));
    cr_assert_str_eq(qmf_map_get_string(id, "_type"), "_event");
    qmf_free(id);
    schema_free(s);
}

static qmf_value *
find_named(const qmf_value *list, const char *name)
{
    size_t i;

    for (i = 0; i < qmf_list_len(list); i++) {
        const char *n = qmf_map_get_string(qmf_list_at(list, i), "_name");

        if (n != NULL && strcmp(n, name) == 0)
            return qmf_list_at(list, i);
    }
    cr_assert_fail("no %s in the list", name);
    return NULL;
}

Test(schema, class_value_shape)
{
    struct schema *s = builtin();
    const struct schema_class *c = schema_find_class(s, "Domain");
    qmf_value *v = schema_class_value(c), *props, *methods, *p, *m, *args, *a;

    cr_assert_str_eq(qmf_map_get_string(qmf_map_get(v, "_schema_id"), "_class_name"), "Domain");
    cr_assert_str_eq(qmf_map_get_string(v, "_desc"), c->desc);
    cr_assert_null(qmf_map_get(v, "_default_severity"));

    props = qmf_map_get(v, "_properties");
    cr_assert_eq(props->kind, QMF_LIST);
    cr_assert_eq(qmf_list_len(props), c->nprops);
    p = qmf_list_at(props, 0);
    cr_assert_str_eq(qmf_map_get_string(p, "_name"), "uuid");
    cr_assert_str_eq(qmf_map_get_string(p, "_type"), "TYPE_STRING");
    cr_assert_str_eq(qmf_map_get_string(p, "_subtype"), "sstr");
    cr_assert_str_eq(qmf_map_get_string(p, "_access"), "RC");
    cr_assert(qmf_as_bool(qmf_map_get(p, "_index")));
    cr_assert_null(qmf_map_get(p, "_unit"));
    p = find_named(props, "memory");
    cr_assert_str_eq(qmf_map_get_string(p, "_type"), "TYPE_INT");
    cr_assert_str_eq(qmf_map_get_string(p, "_subtype"), "uint64");
    cr_assert_str_eq(qmf_map_get_string(p, "_unit"), "KiB");
    cr_assert_eq(qmf_map_get(p, "_statistic")->kind, QMF_BOOL);
    cr_assert(qmf_as_bool(qmf_map_get(p, "_statistic")));
    cr_assert_not(qmf_as_bool(qmf_map_get(p, "_optional")));
    cr_assert_not_null(qmf_map_get_string(p, "_desc"));
    cr_assert_str_eq(qmf_map_get_string(find_named(props, "node"), "_references"), "Node");
    cr_assert_str_eq(qmf_map_get_string(find_named(props, "node"), "_type"), "TYPE_MAP");
    cr_assert_str_eq(qmf_map_get_string(find_named(props, "node"), "_subtype"), "objId");

    methods = qmf_map_get(v, "_methods");
    cr_assert_eq(qmf_list_len(methods), c->nmethods);
    cr_assert_str_eq(qmf_map_get_string(qmf_list_at(methods, 0), "_name"), "create");
    m = find_named(methods, "migrate");
    cr_assert_str_eq(qmf_map_get_string(m, "_role"), "admin");
    args = qmf_map_get(m, "_arguments");
    cr_assert_eq(qmf_list_len(args), 4);
    a = qmf_list_at(args, 0);
    cr_assert_str_eq(qmf_map_get_string(a, "_name"), "destinationUri");
    cr_assert_str_eq(qmf_map_get_string(a, "_dir"), "I");
    cr_assert_not(qmf_as_bool(qmf_map_get(a, "_optional")));
    cr_assert_null(qmf_map_get(a, "_default"));
    a = find_named(args, "flags");
    cr_assert(qmf_as_bool(qmf_map_get(a, "_optional")));
    cr_assert_eq(qmf_map_get(a, "_default")->kind, qmf_type_kind(QMF_T_UINT32));
    a = find_named(qmf_map_get(find_named(methods, "getXMLDesc"), "_arguments"), "description");
    cr_assert_str_eq(qmf_map_get_string(a, "_dir"), "O");
    cr_assert_str_eq(qmf_map_get_string(a, "_type"), "TYPE_STRING");
    cr_assert_str_eq(qmf_map_get_string(a, "_subtype"), "lstr");
    qmf_free(v);

    v = schema_class_value(schema_find_class(s, "driverDisconnected"));
    cr_assert_str_eq(qmf_map_get_string(v, "_default_severity"), "warn");
    cr_assert_eq(qmf_list_len(qmf_map_get(v, "_properties")), 2);
    cr_assert_eq(qmf_list_len(qmf_map_get(v, "_methods")), 0);
    qmf_free(v);
    schema_free(s);
}

Test(schema, check_args_coerces_and_fills_defaults)
{
    struct schema *s = builtin();
    qmf_error err = { 0, "" };
    qmf_value *args = qmf_map(), *v;

    /* As JSON delivers them: every integer an int64. */
    qmf_map_set(args, "destinationUri", qmf_string("qemu+ssh://b/system"));
    qmf_map_set(args, "bandwidth", qmf_i64(100));
    cr_assert_eq(schema_check_args(method_of(s, "Domain", "migrate"), &args, &err), 0,
                 "%s", err.text);
    v = qmf_map_get(args, "bandwidth");
    cr_assert_eq(v->kind, QMF_UINT64);
    cr_assert_eq(qmf_as_uint(v), 100);
    v = qmf_map_get(args, "flags");
    cr_assert_not_null(v, "default not filled");
    cr_assert_eq(v->kind, QMF_UINT32);
    cr_assert_eq(qmf_as_uint(v), 0);
    cr_assert_null(qmf_map_get(args, "dname"), "an optional without default stays absent");
    cr_assert_str_eq(qmf_map_get_string(args, "destinationUri"), "qemu+ssh://b/system");
    qmf_free(args);

    /* No arguments at all: the map is created and defaults filled. */
    args = NULL;
    cr_assert_eq(schema_check_args(method_of(s, "Domain", "attachDevice"), &args, &err), -1);
    cr_assert_str_eq(err.text, "missing argument 'xmlDesc' for Domain.attachDevice");
    qmf_free(args);
    args = NULL;
    cr_assert_eq(schema_check_args(method_of(s, "Domain", "create"), &args, &err), 0);
    cr_assert_not_null(args);
    cr_assert_eq(qmf_map_get(args, "flags")->kind, QMF_UINT32);
    qmf_free(args);

    args = qmf_map();
    qmf_map_set(args, "xmlDesc", qmf_string("<disk/>"));
    qmf_map_set(args, "config", qmf_bool(true));
    cr_assert_eq(schema_check_args(method_of(s, "Domain", "attachDevice"), &args, &err), 0);
    cr_assert(qmf_as_bool(qmf_map_get(args, "live")));
    cr_assert(qmf_as_bool(qmf_map_get(args, "config")), "a given value is not replaced by the default");
    qmf_free(args);

    args = qmf_map();
    qmf_map_set(args, "name", qmf_string("disk1"));
    qmf_map_set(args, "capacity", qmf_i64(1 << 20));
    qmf_map_set(args, "format", qmf_void());
    cr_assert_eq(schema_check_args(method_of(s, "Pool", "createVolume"), &args, &err), 0,
                 "%s", err.text);
    cr_assert_str_eq(qmf_map_get_string(args, "format"), "raw", "null counts as omitted");
    qmf_free(args);

    args = qmf_map();
    qmf_map_set(args, "flags", qmf_void());
    qmf_map_set(args, "dname", qmf_void());
    qmf_map_set(args, "destinationUri", qmf_string("qemu:///b"));
    cr_assert_eq(schema_check_args(method_of(s, "Domain", "migrate"), &args, &err), 0,
                 "%s", err.text);
    cr_assert_null(qmf_map_get(args, "dname"));
    cr_assert_eq(qmf_map_get(args, "flags")->kind, QMF_UINT32);
    cr_assert_eq(qmf_map_len(args), 3, "destinationUri, flags and bandwidth");
    qmf_free(args);
    schema_free(s);
}

static void
expect_args_error(const struct schema *s, const char *cls, const char *method,
                  qmf_value *args, const char *message)
{
    qmf_error err = { 0, "" };

    cr_assert_eq(schema_check_args(method_of(s, cls, method), &args, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    if (message != NULL)
        cr_assert_str_eq(err.text, message);
    qmf_free(args);
}

Test(schema, check_args_rejects)
{
    struct schema *s = builtin();
    qmf_value *args;
    qmf_error err = { 0, "" };

    expect_args_error(s, "Domain", "save", qmf_map(),
                      "missing argument 'filename' for Domain.save");

    args = qmf_map();
    qmf_map_set(args, "destinationUri", qmf_string("qemu:///b"));
    qmf_map_set(args, "speed", qmf_i64(1));
    expect_args_error(s, "Domain", "migrate", args,
                      "unknown argument 'speed' for Domain.migrate");

    args = qmf_map();
    qmf_map_set(args, "description", qmf_string("<domain/>"));
    expect_args_error(s, "Domain", "getXMLDesc", args,
                      "argument 'description' is an output of Domain.getXMLDesc");

    args = qmf_map();
    qmf_map_set(args, "count", qmf_string("4"));
    cr_assert_eq(schema_check_args(method_of(s, "Domain", "setVcpus"), &args, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    cr_assert(strstr(err.text, "Domain.setVcpus") != NULL, "got: %s", err.text);
    cr_assert(strstr(err.text, "count") != NULL, "got: %s", err.text);
    qmf_free(args);

    args = qmf_map();
    qmf_map_set(args, "count", qmf_i64(-1));
    expect_args_error(s, "Domain", "setVcpus", args, NULL);

    args = qmf_map();
    qmf_map_set(args, "count", qmf_i64(1LL << 32));
    expect_args_error(s, "Domain", "setVcpus", args, NULL);

    args = qmf_map();
    qmf_map_set(args, "autostart", qmf_string("yes"));
    expect_args_error(s, "Domain", "setAutostart", args, NULL);

    /* A required argument sent as null is missing, not a valid value. */
    args = qmf_map();
    qmf_map_set(args, "filename", qmf_void());
    expect_args_error(s, "Domain", "save", args,
                      "missing argument 'filename' for Domain.save");

    args = qmf_list();
    expect_args_error(s, "Domain", "save", args,
                      "the arguments of Domain.save must be a map, not list");
    schema_free(s);
}

Test(schema, check_values)
{
    struct schema *s = builtin();
    const struct schema_class *c = schema_find_class(s, "Domain");
    qmf_error err = { 0, "" };
    qmf_value *values = qmf_map();

    qmf_map_set(values, "uuid", qmf_string("c7a5fdbd-cdaf-9455-926a-d65c16db1809"));
    qmf_map_set(values, "id", qmf_i64(-1));
    qmf_map_set(values, "memory", qmf_i64(524288));
    qmf_map_set(values, "numVcpus", qmf_u64(2));
    qmf_map_set(values, "active", qmf_bool(false));
    cr_assert_eq(schema_check_values(c, values, &err), 0, "%s", err.text);
    cr_assert_eq(qmf_map_get(values, "id")->kind, QMF_INT32);
    cr_assert_eq(qmf_as_int(qmf_map_get(values, "id")), -1);
    cr_assert_eq(qmf_map_get(values, "memory")->kind, QMF_UINT64);
    cr_assert_eq(qmf_map_get(values, "numVcpus")->kind, QMF_UINT32);

    qmf_map_set(values, "colour", qmf_string("blue"));
    cr_assert_eq(schema_check_values(c, values, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    cr_assert_str_eq(err.text, "unknown property 'colour' of Domain");
    qmf_free(qmf_map_take(values, "colour"));

    qmf_map_set(values, "name", qmf_i64(3));
    cr_assert_eq(schema_check_values(c, values, &err), -1);
    cr_assert(strstr(err.text, "Domain") != NULL && strstr(err.text, "name") != NULL,
              "got: %s", err.text);
    qmf_free(values);

    /* An optional property may be sent as null; a required one may not. */
    values = qmf_map();
    qmf_map_set(values, "path", qmf_void());
    cr_assert_eq(schema_check_values(schema_find_class(s, "Pool"), values, &err), 0,
                 "%s", err.text);
    qmf_map_set(values, "name", qmf_void());
    cr_assert_eq(schema_check_values(schema_find_class(s, "Pool"), values, &err), -1);
    qmf_free(values);
    schema_free(s);
}
