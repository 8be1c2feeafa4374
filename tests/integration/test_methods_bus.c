/*
 * Every method of the org.libvirt schema through the bus, against an agent
 * on the fleet fixture (libvirt's test driver): each one once with success
 * and once with a failure (a libvirt error, an unknown object or invalid
 * arguments), with follow-up queries showing the effect.  Where the test
 * driver cannot do a method at all, its exact refusal is the failure case
 * (see docs/HYPERVISORS.md).
 */
#define _XOPEN_SOURCE 700     /* nftw */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <libvirt/virterror.h>

#include "controller/lib/expr.h"
#include "tests/integration/harness.h"
#include "tests/testutil.h"

#define FLEET(n) "domain:f0000000-0000-4000-8000-0000000000" #n
#define NO_DOMAIN "domain:00000000-0000-4000-8000-00000000dead"
#define IMAGES "pool:fa000000-0000-4000-8000-000000000001"
#define DATA "pool:fa000000-0000-4000-8000-000000000002"
#define FLEET_NET "network:fb000000-0000-4000-8000-000000000001"
#define ISOLATED_NET "network:fb000000-0000-4000-8000-000000000002"
#define IMAGES_DIR "/var/lib/virtbus/fleet-images/"
#define VOLUME(name) "volume:" IMAGES_DIR name

#define LIBVIRT(code) (QMF_ERR_LIBVIRT | (uint32_t)(code))

/* ---- host paths ---- */

/*
 * The files the agent may name: the fixture's pools and volumes, which
 * the test driver keeps in memory only, and allowed/ of this test
 * process's tree (each test runs in a process of its own).  The tree:
 *   allowed/            allowed/link -> ../outside
 *   outside/victim      outside/dir/
 */
static char *
tree_path(const char *rel)
{
    return qmf_xasprintf("/tmp/virtbus-methods-%ld/%s", (long)getpid(), rel);
}

static void
allow_test_paths(struct agent_config *cfg, size_t index)
{
    char *allowed = tree_path("allowed");

    qmf_list_append(cfg->allowed_paths, qmf_string("/var/lib/virtbus"));
    qmf_list_append(cfg->allowed_paths, qmf_string(allowed));
    free(allowed);
}

static const char victim_text[] = "not to be overwritten\n";

static void
tree_make(void)
{
    static const char *const dirs[] = { "", "allowed", "outside", "outside/dir" };
    char *p;
    FILE *v;
    size_t i;

    for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        p = tree_path(dirs[i]);
        cr_assert_eq(mkdir(p, 0700), 0, "mkdir %s: %s", p, strerror(errno));
        free(p);
    }
    p = tree_path("allowed/link");
    cr_assert_eq(symlink("../outside", p), 0, "%s: %s", p, strerror(errno));
    free(p);
    p = tree_path("outside/victim");
    v = fopen(p, "w");
    cr_assert_not_null(v, "%s", p);
    fputs(victim_text, v);
    fclose(v);
    free(p);
}

/* The victim is as the tree made it. */
static void
expect_victim_untouched(void)
{
    char *p = tree_path("outside/victim"), buf[256] = "";
    FILE *v = fopen(p, "r");
    size_t n;

    cr_assert_not_null(v, "%s is gone", p);
    n = fread(buf, 1, sizeof(buf) - 1, v);
    buf[n] = '\0';
    fclose(v);
    cr_expect_str_eq(buf, victim_text, "%s was written", p);
    free(p);
}

static int
remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove(path);
}

/* Everything in it, save files included; links are removed, not followed. */
static void
tree_remove(void)
{
    char *root = tree_path("");

    nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(root);
}

/* ---- requests ---- */

static void
start_fleet_watching(struct test_fleet *f, const char *const *watch_keys)
{
    fleet_init(f);
    fleet_add_agent(f, "fleet.xml", allow_test_paths);
    fleet_wait_ready(f);
    fleet_open_console(f, watch_keys);
}

static void
start_fleet(struct test_fleet *f)
{
    start_fleet_watching(f, NULL);
}

/* Argument maps, built by chaining: arg_s(arg_u(NULL, "a", 1), "b", "x"). */
static qmf_value *
arg_s(qmf_value *args, const char *name, const char *value)
{
    if (args == NULL)
        args = qmf_map();
    qmf_map_set(args, name, qmf_string(value));
    return args;
}

static qmf_value *
arg_u(qmf_value *args, const char *name, uint64_t value)
{
    if (args == NULL)
        args = qmf_map();
    qmf_map_set(args, name, qmf_u64(value));
    return args;
}

static qmf_value *
arg_b(qmf_value *args, const char *name, bool value)
{
    if (args == NULL)
        args = qmf_map();
    qmf_map_set(args, name, qmf_bool(value));
    return args;
}

/* One method call on one object of the fleet's agent; args consumed. */
static struct virtbus_result
call(struct test_fleet *f, const char *object_name, const char *method, qmf_value *args)
{
    struct virtbus_result r;
    qmf_value *id = qmf_map();
    qmf_error err;

    qmf_map_set(id, "_agent_name", qmf_string(agent_name(f->agents[0])));
    qmf_map_set(id, "_object_name", qmf_string(object_name));
    cr_assert(virtbus_call(f->console, agent_name(f->agents[0]), id, method, args,
                           FLEET_REPLY_MS, &r, &err) == 0, "%s: %s", method, err.text);
    qmf_free(id);
    qmf_free(args);
    return r;
}

/* Calls and asserts success; returns the output arguments (caller frees). */
static qmf_value *
call_ok(struct test_fleet *f, const char *object_name, const char *method,
        qmf_value *args)
{
    struct virtbus_result r = call(f, object_name, method, args);
    qmf_value *out;

    cr_assert_eq(r.status, VIRTBUS_OK, "%s on %s failed: %#x %s", method, object_name,
                 r.error.code, r.error.text);
    out = r.value;
    r.value = NULL;
    virtbus_result_clear(&r);
    cr_assert_not_null(out, "%s: no _arguments", method);
    return out;
}

/* Calls and asserts the failure: its exact code and part of its text. */
static void
call_fails(struct test_fleet *f, const char *object_name, const char *method,
           qmf_value *args, uint32_t code, const char *text_part)
{
    struct virtbus_result r = call(f, object_name, method, args);

    cr_assert_eq(r.status, VIRTBUS_FAILED, "%s on %s did not fail", method, object_name);
    cr_expect_eq(r.error.code, code, "%s on %s: expected %#x, got %#x: %s", method,
                 object_name, code, r.error.code, r.error.text);
    cr_expect(strstr(r.error.text, text_part) != NULL, "%s: '%s' not in '%s'", method,
              text_part, r.error.text);
    virtbus_result_clear(&r);
}

/* The text output argument `name` of a call (caller frees). */
static char *
call_text(struct test_fleet *f, const char *object_name, const char *method,
          qmf_value *args, const char *name)
{
    qmf_value *out = call_ok(f, object_name, method, args);
    const char *s = qmf_map_get_string(out, name);
    char *copy;

    cr_assert_not_null(s, "%s returned no %s", method, name);
    copy = qmf_xstrdup(s);
    qmf_free(out);
    return copy;
}

/* The object name in the objId output `name`, checked to be this agent's. */
static char *
call_created(struct test_fleet *f, const char *object_name, const char *method,
             qmf_value *args, const char *name)
{
    qmf_value *out = call_ok(f, object_name, method, args);
    const qmf_value *id = qmf_map_get(out, name);
    char *created;

    cr_assert_not_null(id, "%s returned no %s", method, name);
    cr_expect_str_eq(qmf_map_get_string(id, "_agent_name"), agent_name(f->agents[0]));
    cr_assert_not_null(qmf_map_get_string(id, "_object_name"));
    created = qmf_xstrdup(qmf_map_get_string(id, "_object_name"));
    qmf_free(out);
    return created;
}

/* ---- looking at the inventory ---- */

/* The _values of an object from a fresh query of its class (caller frees),
 * or NULL if the agent does not have it. */
static qmf_value *
values_of(struct test_fleet *f, const char *class_name, const char *object_name)
{
    qmf_value *list = fleet_query(f, 0, class_name, NULL), *values = NULL;
    size_t i;

    for (i = 0; i < qmf_list_len(list); i++) {
        const qmf_value *data = qmf_list_at(list, i);
        const char *name = qmf_map_get_string(qmf_map_get(data, "_object_id"),
                                              "_object_name");

        if (name != NULL && strcmp(name, object_name) == 0) {
            values = qmf_dup(qmf_map_get(data, "_values"));
            break;
        }
    }
    qmf_free(list);
    return values;
}

static qmf_value *
must_have(struct test_fleet *f, const char *class_name, const char *object_name)
{
    qmf_value *v = values_of(f, class_name, object_name);

    cr_assert_not_null(v, "no %s %s", class_name, object_name);
    return v;
}

static void
expect_string(struct test_fleet *f, const char *class_name, const char *object_name,
              const char *prop, const char *want)
{
    qmf_value *v = must_have(f, class_name, object_name);
    const char *s = qmf_map_get_string(v, prop);

    cr_expect(s != NULL && strcmp(s, want) == 0, "%s.%s is %s, not %s", object_name,
              prop, s ? s : "(none)", want);
    qmf_free(v);
}

static void
expect_number(struct test_fleet *f, const char *class_name, const char *object_name,
              const char *prop, uint64_t want)
{
    qmf_value *v = must_have(f, class_name, object_name);
    uint64_t u = 0;

    cr_expect(qmf_get_uint64(qmf_map_get(v, prop), &u) && u == want,
              "%s.%s is %llu, not %llu", object_name, prop, (unsigned long long)u,
              (unsigned long long)want);
    qmf_free(v);
}

static void
expect_bool(struct test_fleet *f, const char *class_name, const char *object_name,
            const char *prop, bool want)
{
    qmf_value *v = must_have(f, class_name, object_name);
    const qmf_value *b = qmf_map_get(v, prop);

    cr_expect(b != NULL && b->kind == QMF_BOOL && qmf_as_bool(b) == want, "%s.%s is not %s",
              object_name, prop, want ? "true" : "false");
    qmf_free(v);
}

static void
expect_gone(struct test_fleet *f, const char *class_name, const char *object_name)
{
    qmf_value *v = values_of(f, class_name, object_name);

    cr_expect_null(v, "%s %s is still there", class_name, object_name);
    qmf_free(v);
}

static bool
never(void *arg)
{
    return false;
}

/*
 * Class reloads (Volume after a pool method, Domain after a restore) run
 * after the reply: polls, bounded, until the object's string property
 * `prop` is `want` (prop NULL: until it exists), or with want NULL until
 * it is gone.
 */
static void
wait_for(struct test_fleet *f, const char *class_name, const char *object_name,
         const char *prop, const char *want)
{
    int tries;

    for (tries = 0; tries < FLEET_WAIT_MS / 50; tries++) {
        qmf_value *v = values_of(f, class_name, object_name);
        const char *s = v != NULL && prop != NULL ? qmf_map_get_string(v, prop) : NULL;
        bool done = want == NULL ? v == NULL :
                    v != NULL && (prop == NULL || (s != NULL && strcmp(s, want) == 0));

        qmf_free(v);
        if (done)
            return;
        fleet_run_until(f, never, NULL, 50);
    }
    cr_assert_fail("%s %s never reached %s=%s", class_name, object_name,
                   prop ? prop : "(exists)", want ? want : "(gone)");
}

static char *
domain_xml(const char *name, const char *uuid)
{
    return qmf_xasprintf("<domain type='test'><name>%s</name><uuid>%s</uuid>"
                         "<memory>65536</memory><vcpu>1</vcpu>"
                         "<os><type>hvm</type></os></domain>", name, uuid);
}

static char *
pool_xml(const char *name)
{
    return qmf_xasprintf("<pool type='dir'><name>%s</name>"
                         "<target><path>/var/lib/virtbus/%s</path></target></pool>",
                         name, name);
}

static char *
network_xml(const char *name, int n)
{
    return qmf_xasprintf("<network><name>%s</name><bridge name='virbr%d'/>"
                         "<forward mode='route'/><ip address='192.168.%d.1' "
                         "netmask='255.255.255.0'/></network>", name, n, n);
}

/* Consumes xml into an {xmlDesc} argument map. */
static qmf_value *
xml_arg(char *xml)
{
    qmf_value *args = arg_s(NULL, "xmlDesc", xml);

    free(xml);
    return args;
}

/* ---- Node ---- */

Test(methods, node_defines_and_creates, .timeout = 180)
{
    struct test_fleet f;
    char *name;

    start_fleet(&f);

    name = call_created(&f, "node", "domainDefineXML",
                        xml_arg(domain_xml("new-1", "d1000000-0000-4000-8000-000000000001")),
                        "domain");
    cr_expect_str_eq(name, "domain:d1000000-0000-4000-8000-000000000001");
    expect_string(&f, "Domain", name, "state", "shutoff");
    expect_bool(&f, "Domain", name, "persistent", true);
    free(name);
    call_fails(&f, "node", "domainDefineXML", arg_s(NULL, "xmlDesc", "<domain/>"),
               LIBVIRT(VIR_ERR_NO_NAME), "missing name information");
    call_fails(&f, "node", "domainDefineXML", NULL, QMF_ERR_INVALID_ARGS, "xmlDesc");

    name = call_created(&f, "node", "domainCreateXML",
                        xml_arg(domain_xml("new-2", "d1000000-0000-4000-8000-000000000002")),
                        "domain");
    expect_string(&f, "Domain", name, "state", "running");
    expect_bool(&f, "Domain", name, "persistent", false);
    free(name);
    /* Another domain of that name already runs. */
    call_fails(&f, "node", "domainCreateXML",
               xml_arg(domain_xml("fleet-01", "d1000000-0000-4000-8000-000000000003")),
               LIBVIRT(VIR_ERR_OPERATION_FAILED), "fleet-01");

    name = call_created(&f, "node", "storagePoolDefineXML", xml_arg(pool_xml("new-pool")),
                        "pool");
    cr_expect(strncmp(name, "pool:", 5) == 0, "%s", name);
    expect_string(&f, "Pool", name, "name", "new-pool");
    expect_string(&f, "Pool", name, "state", "inactive");
    free(name);
    /* XML that carries host paths is read by the agent first. */
    call_fails(&f, "node", "storagePoolDefineXML", arg_s(NULL, "xmlDesc", "<pool>"),
               QMF_ERR_INVALID_ARGS, "argument 'xmlDesc': not well-formed XML");

    name = call_created(&f, "node", "storagePoolCreateXML", xml_arg(pool_xml("run-pool")),
                        "pool");
    expect_string(&f, "Pool", name, "state", "running");
    expect_bool(&f, "Pool", name, "persistent", false);
    free(name);
    call_fails(&f, "node", "storagePoolCreateXML", xml_arg(pool_xml("fleet-images")),
               LIBVIRT(VIR_ERR_OPERATION_FAILED), "fleet-images");

    name = call_created(&f, "node", "networkDefineXML", xml_arg(network_xml("new-net", 60)),
                        "network");
    expect_string(&f, "Network", name, "name", "new-net");
    expect_bool(&f, "Network", name, "active", false);
    expect_string(&f, "Network", name, "forwardMode", "route");
    free(name);
    call_fails(&f, "node", "networkDefineXML", arg_s(NULL, "xmlDesc", "<network/>"),
               LIBVIRT(VIR_ERR_NO_NAME), "missing name information");

    name = call_created(&f, "node", "networkCreateXML", xml_arg(network_xml("run-net", 61)),
                        "network");
    expect_bool(&f, "Network", name, "active", true);
    expect_bool(&f, "Network", name, "persistent", false);
    free(name);
    call_fails(&f, "node", "networkCreateXML", xml_arg(network_xml("fleet-net", 62)),
               LIBVIRT(VIR_ERR_OPERATION_FAILED), "fleet-net");
    fleet_fini(&f);
}

Test(methods, node_reads_and_restores, .timeout = 180)
{
    struct test_fleet f;
    char *path, *text;

    tree_make();
    start_fleet(&f);

    text = call_text(&f, "node", "getCapabilities", NULL, "capabilities");
    cr_expect(strstr(text, "<capabilities>") != NULL, "%s", text);
    free(text);
    call_fails(&f, "node", "getCapabilities", arg_u(NULL, "flags", 0),
               QMF_ERR_INVALID_ARGS, "flags");

    text = call_text(&f, "node", "findStoragePoolSources", arg_s(NULL, "type", "logical"),
                     "xmlDesc");
    cr_expect(strstr(text, "<sources>") != NULL, "%s", text);
    free(text);
    call_fails(&f, "node", "findStoragePoolSources", arg_s(NULL, "type", "dir"),
               LIBVIRT(VIR_ERR_INTERNAL_ERROR), "unknown storage pool type dir");

    /* Domain.save, then Node.restore of its file. */
    path = tree_path("allowed/fleet-05.save");
    qmf_free(call_ok(&f, FLEET(05), "save", arg_s(NULL, "filename", path)));
    expect_string(&f, "Domain", FLEET(05), "state", "shutoff");
    expect_string(&f, "Domain", FLEET(05), "reason", "saved");
    cr_expect_eq(access(path, F_OK), 0, "no state file %s", path);
    call_fails(&f, FLEET(07), "save", arg_s(NULL, "filename", path),
               LIBVIRT(VIR_ERR_OPERATION_INVALID), "not running");

    qmf_free(call_ok(&f, "node", "restore", arg_s(NULL, "filename", path)));
    wait_for(&f, "Domain", FLEET(05), "reason", "restored");
    expect_string(&f, "Domain", FLEET(05), "state", "running");
    free(path);
    /* Under allowed_paths, libvirt's own account of a failure. */
    path = tree_path("allowed/missing.save");
    call_fails(&f, "node", "restore", arg_s(NULL, "filename", path),
               LIBVIRT(VIR_ERR_SYSTEM_ERROR), "cannot read domain image");
    free(path);
    fleet_fini(&f);
    tree_remove();
}

/* ---- Domain ---- */

Test(methods, domain_lifecycle, .timeout = 180)
{
    struct test_fleet f;

    start_fleet(&f);

    qmf_free(call_ok(&f, FLEET(01), "suspend", NULL));
    expect_string(&f, "Domain", FLEET(01), "state", "paused");
    call_fails(&f, FLEET(03), "suspend", NULL, LIBVIRT(VIR_ERR_INTERNAL_ERROR), "not running");

    qmf_free(call_ok(&f, FLEET(01), "resume", NULL));
    expect_string(&f, "Domain", FLEET(01), "state", "running");
    call_fails(&f, FLEET(02), "resume", NULL, LIBVIRT(VIR_ERR_INTERNAL_ERROR), "not paused");

    qmf_free(call_ok(&f, FLEET(02), "shutdown", NULL));
    expect_string(&f, "Domain", FLEET(02), "state", "shutoff");
    expect_string(&f, "Domain", FLEET(02), "reason", "shutdown");
    call_fails(&f, FLEET(03), "shutdown", NULL, LIBVIRT(VIR_ERR_INTERNAL_ERROR), "not running");

    qmf_free(call_ok(&f, FLEET(03), "create", NULL));
    expect_string(&f, "Domain", FLEET(03), "state", "running");
    expect_string(&f, "Domain", FLEET(03), "reason", "booted");
    call_fails(&f, FLEET(01), "create", NULL, LIBVIRT(VIR_ERR_INTERNAL_ERROR),
               "already running");

    qmf_free(call_ok(&f, FLEET(05), "destroy", NULL));
    expect_string(&f, "Domain", FLEET(05), "reason", "destroyed");
    expect_bool(&f, "Domain", FLEET(05), "active", false);
    call_fails(&f, FLEET(07), "destroy", NULL, LIBVIRT(VIR_ERR_OPERATION_INVALID),
               "not running");

    qmf_free(call_ok(&f, FLEET(06), "reboot", NULL));
    expect_string(&f, "Domain", FLEET(06), "state", "running");
    call_fails(&f, FLEET(07), "reboot", NULL, LIBVIRT(VIR_ERR_OPERATION_INVALID),
               "not running");

    qmf_free(call_ok(&f, FLEET(09), "reset", NULL));
    expect_string(&f, "Domain", FLEET(09), "state", "running");
    call_fails(&f, FLEET(11), "reset", NULL, LIBVIRT(VIR_ERR_OPERATION_INVALID),
               "not running");

    qmf_free(call_ok(&f, FLEET(10), "managedSave", NULL));
    expect_string(&f, "Domain", FLEET(10), "state", "shutoff");
    expect_string(&f, "Domain", FLEET(10), "reason", "saved");
    call_fails(&f, FLEET(11), "managedSave", NULL, LIBVIRT(VIR_ERR_OPERATION_INVALID),
               "not running");
    /* The next create resumes from the managed save. */
    qmf_free(call_ok(&f, FLEET(10), "create", NULL));
    expect_string(&f, "Domain", FLEET(10), "state", "running");

    qmf_free(call_ok(&f, FLEET(15), "undefine", NULL));
    expect_gone(&f, "Domain", FLEET(15));
    call_fails(&f, FLEET(15), "undefine", NULL, QMF_ERR_UNKNOWN_OBJECT, "no object");
    call_fails(&f, NO_DOMAIN, "undefine", NULL, QMF_ERR_UNKNOWN_OBJECT, "no object");
    /* A running domain stays, as a transient one. */
    qmf_free(call_ok(&f, FLEET(13), "undefine", NULL));
    expect_bool(&f, "Domain", FLEET(13), "persistent", false);
    expect_string(&f, "Domain", FLEET(13), "state", "running");
    fleet_fini(&f);
}

Test(methods, domain_settings, .timeout = 180)
{
    struct test_fleet f;
    char *xml;

    start_fleet(&f);

    qmf_free(call_ok(&f, FLEET(01), "setAutostart", arg_b(NULL, "autostart", true)));
    expect_bool(&f, "Domain", FLEET(01), "autostart", true);
    qmf_free(call_ok(&f, FLEET(01), "setAutostart", arg_b(NULL, "autostart", false)));
    expect_bool(&f, "Domain", FLEET(01), "autostart", false);
    call_fails(&f, FLEET(01), "setAutostart", NULL, QMF_ERR_INVALID_ARGS, "autostart");

    xml = call_text(&f, FLEET(01), "getXMLDesc", NULL, "description");
    cr_expect(strstr(xml, "<name>fleet-01</name>") != NULL, "%s", xml);
    free(xml);
    xml = call_text(&f, FLEET(03), "getXMLDesc", arg_u(NULL, "flags", 2), "description");
    cr_expect(strstr(xml, "<name>fleet-03</name>") != NULL, "%s", xml);
    free(xml);
    call_fails(&f, FLEET(01), "getXMLDesc", arg_u(NULL, "flags", 0x100000),
               LIBVIRT(VIR_ERR_INVALID_ARG), "unsupported flags");

    qmf_free(call_ok(&f, FLEET(02), "setVcpus", arg_u(NULL, "count", 1)));
    expect_number(&f, "Domain", FLEET(02), "numVcpus", 1);
    call_fails(&f, FLEET(02), "setVcpus", arg_u(NULL, "count", 64),
               LIBVIRT(VIR_ERR_INVALID_ARG), "exceeds maximum");
    call_fails(&f, FLEET(02), "setVcpus", arg_s(NULL, "count", "many"),
               QMF_ERR_INVALID_ARGS, "count");

    qmf_free(call_ok(&f, FLEET(02), "setMemory", arg_u(NULL, "memory", 524288)));
    expect_number(&f, "Domain", FLEET(02), "memory", 524288);
    call_fails(&f, FLEET(02), "setMemory", arg_u(NULL, "memory", 99999999),
               LIBVIRT(VIR_ERR_INVALID_ARG), "higher than max memory");
    fleet_fini(&f);
}

/* What libvirt's test driver cannot do: its own refusal, code and text. */
Test(methods, domain_devices_and_migration, .timeout = 180)
{
    static const char disk[] =
        "<disk type='file' device='disk'><source file='" IMAGES_DIR "golden.img'/>"
        "<target dev='vdb' bus='virtio'/></disk>";
    static const char nic[] =
        "<interface type='network'><mac address='52:54:00:aa:bb:cc'/>"
        "<source network='fleet-net'/></interface>";
    struct test_fleet f;

    start_fleet(&f);
    call_fails(&f, FLEET(01), "attachDevice", arg_s(NULL, "xmlDesc", disk),
               LIBVIRT(VIR_ERR_NO_SUPPORT),
               "this function is not supported by the connection driver: "
               "virDomainAttachDeviceFlags");
    call_fails(&f, FLEET(01), "attachDevice",
               arg_b(arg_b(arg_s(NULL, "xmlDesc", nic), "live", false), "config", true),
               LIBVIRT(VIR_ERR_NO_SUPPORT), "virDomainAttachDeviceFlags");
    call_fails(&f, FLEET(01), "attachDevice", NULL, QMF_ERR_INVALID_ARGS, "xmlDesc");
    call_fails(&f, FLEET(01), "detachDevice", arg_s(NULL, "xmlDesc", disk),
               LIBVIRT(VIR_ERR_NO_SUPPORT),
               "this function is not supported by the connection driver: "
               "virDomainDetachDeviceFlags");
    call_fails(&f, NO_DOMAIN, "detachDevice", arg_s(NULL, "xmlDesc", nic),
               QMF_ERR_UNKNOWN_OBJECT, "no object");

    call_fails(&f, FLEET(01), "migrate",
               arg_u(arg_s(arg_s(NULL, "destinationUri", "test:///default"),
                           "dname", "fleet-01-moved"), "bandwidth", 100),
               LIBVIRT(VIR_ERR_ARGUMENT_UNSUPPORTED),
               "p2p migration is not supported by the source host");
    call_fails(&f, FLEET(01), "migrate", arg_u(NULL, "flags", 1), QMF_ERR_INVALID_ARGS,
               "destinationUri");
    expect_string(&f, "Domain", FLEET(01), "state", "running");
    fleet_fini(&f);
}

/* ---- Pool ---- */

Test(methods, pools, .timeout = 180)
{
    struct test_fleet f;
    char *text;

    start_fleet(&f);

    text = call_text(&f, IMAGES, "getXMLDesc", NULL, "description");
    cr_expect(strstr(text, "<name>fleet-images</name>") != NULL, "%s", text);
    free(text);
    call_fails(&f, "pool:fa000000-0000-4000-8000-0000000000ff", "getXMLDesc", NULL,
               QMF_ERR_UNKNOWN_OBJECT, "no object");

    qmf_free(call_ok(&f, IMAGES, "refresh", NULL));
    expect_string(&f, "Pool", IMAGES, "state", "running");

    /* Stopping a pool takes its volumes out of the inventory. */
    qmf_free(call_ok(&f, DATA, "destroy", NULL));
    expect_string(&f, "Pool", DATA, "state", "inactive");
    wait_for(&f, "Volume", "volume:/var/lib/virtbus/fleet-data/data-01.img", NULL, NULL);
    call_fails(&f, DATA, "destroy", NULL, LIBVIRT(VIR_ERR_OPERATION_INVALID), "not active");
    call_fails(&f, DATA, "refresh", NULL, LIBVIRT(VIR_ERR_OPERATION_INVALID), "not active");

    qmf_free(call_ok(&f, DATA, "build", NULL));
    call_fails(&f, IMAGES, "build", arg_u(NULL, "flags", 0),
               LIBVIRT(VIR_ERR_OPERATION_INVALID), "is active");
    qmf_free(call_ok(&f, DATA, "delete", NULL));
    call_fails(&f, IMAGES, "delete", NULL, LIBVIRT(VIR_ERR_OPERATION_INVALID), "is active");

    qmf_free(call_ok(&f, DATA, "create", NULL));
    expect_string(&f, "Pool", DATA, "state", "running");
    call_fails(&f, IMAGES, "create", NULL, LIBVIRT(VIR_ERR_OPERATION_INVALID), "is active");

    qmf_free(call_ok(&f, DATA, "destroy", NULL));
    qmf_free(call_ok(&f, DATA, "undefine", NULL));
    expect_gone(&f, "Pool", DATA);
    call_fails(&f, IMAGES, "undefine", NULL, LIBVIRT(VIR_ERR_OPERATION_INVALID), "is active");
    fleet_fini(&f);
}

Test(methods, pool_volumes, .timeout = 180)
{
    struct test_fleet f;
    char *name;

    start_fleet(&f);

    name = call_created(&f, IMAGES, "createVolumeXML",
                        arg_s(NULL, "xmlDesc",
                              "<volume><name>new.raw</name>"
                              "<capacity unit='MiB'>64</capacity></volume>"),
                        "volume");
    cr_expect_str_eq(name, VOLUME("new.raw"));
    expect_number(&f, "Volume", name, "capacity", 64ULL << 20);
    {
        qmf_value *v = must_have(&f, "Volume", name);
        const qmf_value *pool = qmf_map_get(v, "storagePool");

        cr_expect_str_eq(qmf_map_get_string(pool, "_object_name"), IMAGES);
        cr_expect_str_eq(qmf_map_get_string(pool, "_agent_name"), agent_name(f.agents[0]));
        qmf_free(v);
    }
    free(name);
    call_fails(&f, IMAGES, "createVolumeXML", arg_s(NULL, "xmlDesc", "<volume>"),
               QMF_ERR_INVALID_ARGS, "argument 'xmlDesc': not well-formed XML");

    name = call_created(&f, IMAGES, "createVolume",
                        arg_s(arg_u(arg_s(NULL, "name", "vm-disk.qcow2"),
                                    "capacity", 5ULL << 30), "format", "qcow2"),
                        "volume");
    cr_expect_str_eq(name, VOLUME("vm-disk.qcow2"));
    expect_number(&f, "Volume", name, "capacity", 5ULL << 30);
    expect_string(&f, "Volume", name, "format", "qcow2");
    free(name);
    /* Without a format, raw; a name XML must escape arrives intact. */
    name = call_created(&f, IMAGES, "createVolume",
                        arg_u(arg_s(NULL, "name", "R&D <scratch>.img"), "capacity", 4096),
                        "volume");
    expect_string(&f, "Volume", name, "name", "R&D <scratch>.img");
    expect_string(&f, "Volume", name, "format", "raw");
    free(name);
    call_fails(&f, IMAGES, "createVolume",
               arg_u(arg_s(NULL, "name", "base.qcow2"), "capacity", 1024),
               LIBVIRT(VIR_ERR_OPERATION_FAILED), "already exists");
    call_fails(&f, IMAGES, "createVolume", arg_s(NULL, "name", "x.img"),
               QMF_ERR_INVALID_ARGS, "capacity");
    fleet_fini(&f);
}

/* ---- Volume ---- */

Test(methods, volumes, .timeout = 180)
{
    struct test_fleet f;
    char *text, *name;

    start_fleet(&f);

    text = call_text(&f, VOLUME("base.qcow2"), "getXMLDesc", NULL, "description");
    cr_expect(strstr(text, "<name>base.qcow2</name>") != NULL, "%s", text);
    free(text);
    call_fails(&f, VOLUME("nope.img"), "getXMLDesc", NULL, QMF_ERR_UNKNOWN_OBJECT,
               "no object");

    name = call_created(&f, VOLUME("base.qcow2"), "clone", arg_s(NULL, "name", "copy.qcow2"),
                        "volume");
    cr_expect_str_eq(name, VOLUME("copy.qcow2"));
    expect_number(&f, "Volume", name, "capacity", 20ULL << 30);
    expect_string(&f, "Volume", name, "format", "qcow2");
    call_fails(&f, VOLUME("base.qcow2"), "clone", arg_s(NULL, "name", "golden.img"),
               LIBVIRT(VIR_ERR_OPERATION_FAILED), "already exists");

    qmf_free(call_ok(&f, name, "delete", NULL));
    expect_gone(&f, "Volume", name);
    call_fails(&f, name, "delete", NULL, QMF_ERR_UNKNOWN_OBJECT, "no object");
    free(name);

    /* The test driver has neither wipe nor resize. */
    call_fails(&f, VOLUME("golden.img"), "wipe", NULL, LIBVIRT(VIR_ERR_NO_SUPPORT),
               "this function is not supported by the connection driver: virStorageVolWipe");
    call_fails(&f, VOLUME("golden.img"), "resize", arg_u(NULL, "capacity", 20ULL << 30),
               LIBVIRT(VIR_ERR_NO_SUPPORT),
               "this function is not supported by the connection driver: virStorageVolResize");
    call_fails(&f, VOLUME("golden.img"), "resize", NULL, QMF_ERR_INVALID_ARGS, "capacity");
    fleet_fini(&f);
}

/* ---- Network ---- */

Test(methods, networks, .timeout = 180)
{
    struct test_fleet f;
    char *text, *name;

    start_fleet(&f);

    text = call_text(&f, FLEET_NET, "getXMLDesc", NULL, "description");
    cr_expect(strstr(text, "<name>fleet-net</name>") != NULL, "%s", text);
    free(text);
    call_fails(&f, "network:fb000000-0000-4000-8000-0000000000ff", "getXMLDesc", NULL,
               QMF_ERR_UNKNOWN_OBJECT, "no object");

    qmf_free(call_ok(&f, FLEET_NET, "setAutostart", arg_b(NULL, "autostart", true)));
    expect_bool(&f, "Network", FLEET_NET, "autostart", true);
    call_fails(&f, FLEET_NET, "setAutostart", arg_s(NULL, "autostart", "sometimes"),
               QMF_ERR_INVALID_ARGS, "autostart");

    qmf_free(call_ok(&f, ISOLATED_NET, "destroy", NULL));
    expect_bool(&f, "Network", ISOLATED_NET, "active", false);
    call_fails(&f, "network:fb000000-0000-4000-8000-0000000000ff", "destroy", NULL,
               QMF_ERR_UNKNOWN_OBJECT, "no object");

    qmf_free(call_ok(&f, ISOLATED_NET, "create", NULL));
    expect_bool(&f, "Network", ISOLATED_NET, "active", true);
    call_fails(&f, FLEET_NET, "create", NULL, LIBVIRT(VIR_ERR_OPERATION_INVALID),
               "already running");

    name = call_created(&f, "node", "networkDefineXML", xml_arg(network_xml("gone-net", 63)),
                        "network");
    qmf_free(call_ok(&f, name, "undefine", NULL));
    expect_gone(&f, "Network", name);
    call_fails(&f, name, "undefine", NULL, QMF_ERR_UNKNOWN_OBJECT, "no object");
    free(name);

    /* The test driver keeps no leases. */
    call_fails(&f, FLEET_NET, "dhcpLeases", NULL, LIBVIRT(VIR_ERR_NO_SUPPORT),
               "this function is not supported by the connection driver: "
               "virNetworkGetDHCPLeases");
    call_fails(&f, FLEET_NET, "dhcpLeases", arg_s(NULL, "mac", "52:54:00:aa:bb:cc"),
               LIBVIRT(VIR_ERR_NO_SUPPORT), "virNetworkGetDHCPLeases");
    fleet_fini(&f);
}

/* ---- Interface ---- */

Test(methods, interfaces, .timeout = 180)
{
    struct test_fleet f;
    char *text;

    start_fleet(&f);

    text = call_text(&f, "interface:eth0", "getXMLDesc", NULL, "description");
    cr_expect(strstr(text, "name='eth0'") != NULL, "%s", text);
    free(text);
    call_fails(&f, "interface:eth9", "getXMLDesc", NULL, QMF_ERR_UNKNOWN_OBJECT, "no object");

    qmf_free(call_ok(&f, "interface:eth1", "destroy", NULL));
    expect_bool(&f, "Interface", "interface:eth1", "active", false);
    call_fails(&f, "interface:eth1", "destroy", NULL, LIBVIRT(VIR_ERR_OPERATION_INVALID), "");

    qmf_free(call_ok(&f, "interface:eth1", "create", NULL));
    expect_bool(&f, "Interface", "interface:eth1", "active", true);
    call_fails(&f, "interface:eth0", "create", NULL, LIBVIRT(VIR_ERR_OPERATION_INVALID), "");
    fleet_fini(&f);
}

/* ---- Host paths (docs/SECURITY.md) ---- */

/* The refusal of `method`'s argument `arg` naming a file. */
#define REFUSED(method, arg) method ": argument '" arg "': the path is not under allowed_paths"

/* Calls with the tree path rel as argument `arg` (rel absolute if it
 * starts with '/', else in the tree) and expects exactly `text`, error 6. */
static void
refused_path(struct test_fleet *f, const char *object_name, const char *method,
             const char *arg, const char *rel, const char *text)
{
    char *path = rel[0] == '/' || strchr(rel, '/') == NULL ? qmf_xstrdup(rel) : tree_path(rel);
    struct virtbus_result r = call(f, object_name, method, arg_s(NULL, arg, path));

    cr_assert_eq(r.status, VIRTBUS_FAILED, "%s %s was not refused", method, path);
    cr_expect_eq(r.error.code, QMF_ERR_UNAUTHORIZED, "%s %s: %#x %s", method, path,
                 r.error.code, r.error.text);
    cr_expect_str_eq(r.error.text, text, "%s %s", method, path);
    virtbus_result_clear(&r);
    free(path);
}

Test(methods, host_paths_save_only_under_allowed_paths, .timeout = 180)
{
    static const char *const watch[] = {
        "agent.ind.event.org_libvirt.commandResult.*.virtbus.agent.*", NULL,
    };
    static const char *const outside[] = {
        "outside/victim", "outside/new.save", "allowed/link/victim", "allowed/link/new.save",
        "allowed/../outside/victim", "outside/dir", "relative.save",
    };
    static const char nul_path_tail[] = "allowed/nul.save\0/../../outside/victim";
    struct test_fleet f;
    struct virtbus_result r;
    char *path, *with_nul;
    qmf_value *args;
    size_t i;

    tree_make();
    start_fleet_watching(&f, watch);
    for (i = 0; i < sizeof(outside) / sizeof(outside[0]); i++)
        refused_path(&f, FLEET(05), "save", "filename", outside[i],
                     REFUSED("Domain.save", "filename"));
    qmf_free(fleet_expect_watch(&f, 0, "commandResult", "methodName", "save",
                                "outcome", "rejected",
                                "errorText", REFUSED("Domain.save", "filename"), NULL));
    expect_victim_untouched();
    path = tree_path("outside/new.save");
    cr_expect_neq(access(path, F_OK), 0, "%s was written", path);
    free(path);
    cr_expect_neq(access("relative.save", F_OK), 0, "relative.save was written");

    /* A NUL byte: cut there, the path would be allowed. */
    path = tree_path("");
    with_nul = qmf_xmalloc(strlen(path) + sizeof(nul_path_tail));
    memcpy(with_nul, path, strlen(path));
    memcpy(with_nul + strlen(path), nul_path_tail, sizeof(nul_path_tail));
    args = qmf_map();
    qmf_map_set(args, "filename",
                qmf_stringn(with_nul, strlen(path) + sizeof(nul_path_tail) - 1));
    r = call(&f, FLEET(05), "save", args);
    cr_expect_eq(r.status, VIRTBUS_FAILED, "a path with a NUL was saved to");
    cr_expect_not(r.error.code & QMF_ERR_LIBVIRT, "it reached libvirt: %s", r.error.text);
    virtbus_result_clear(&r);
    free(with_nul);
    free(path);
    path = tree_path("allowed/nul.save");
    cr_expect_neq(access(path, F_OK), 0, "%s was written", path);
    free(path);
    expect_string(&f, "Domain", FLEET(05), "state", "running");

    /* Under allowed_paths it runs; through the link it would not. */
    path = tree_path("allowed/fleet-05.save");
    qmf_free(call_ok(&f, FLEET(05), "save", arg_s(NULL, "filename", path)));
    cr_expect_eq(access(path, F_OK), 0, "no state file %s", path);
    free(path);
    expect_string(&f, "Domain", FLEET(05), "state", "shutoff");
    expect_victim_untouched();
    fleet_fini(&f);
    tree_remove();
}

/* Whatever lies there (an image of another format, a directory, nothing),
 * the answer is the same: the agent, root, tells nothing about it. */
Test(methods, host_paths_restore_tells_nothing_outside, .timeout = 180)
{
    static const char *const outside[] = {
        "outside/victim", "outside/dir", "outside/missing.save", "allowed/link/victim",
        "allowed/link/dir", "allowed/link/missing.save", "allowed/../outside/victim",
        "outside/victim/", "relative.save",
    };
    struct test_fleet f;
    size_t i;

    tree_make();
    start_fleet(&f);
    for (i = 0; i < sizeof(outside) / sizeof(outside[0]); i++)
        refused_path(&f, "node", "restore", "filename", outside[i],
                     REFUSED("Node.restore", "filename"));
    fleet_fini(&f);
    tree_remove();
}

static char *
domain_with(const char *name, const char *uuid, const char *devices)
{
    return qmf_xasprintf("<domain type='test'><name>%s</name><uuid>%s</uuid>"
                         "<memory>65536</memory><vcpu>1</vcpu>"
                         "<os><type>hvm</type></os><devices>%s</devices></domain>",
                         name, uuid, devices);
}

static char *
disk_at(const char *rel)
{
    char *path = tree_path(rel);
    char *disk = qmf_xasprintf("<disk type='file' device='disk'><source file='%s'/>"
                               "<target dev='vdb' bus='virtio'/></disk>", path);

    free(path);
    return disk;
}

#define NEW_DOMAIN(n) "d2000000-0000-4000-8000-00000000000" #n

Test(methods, host_paths_in_domain_xml, .timeout = 180)
{
    static const char qemu[] =
        "<domain type='test' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
        "<name>passthrough</name><memory>65536</memory><os><type>hvm</type></os>"
        "<qemu:commandline><qemu:arg value='-drive'/><qemu:arg value='file=/etc/shadow'/>"
        "</qemu:commandline></domain>";
    static const char entity[] =
        "<!DOCTYPE domain [<!ENTITY f '/etc/shadow'>]><domain type='test'>"
        "<name>entity</name><memory>65536</memory><os><type>hvm</type></os><devices>"
        "<disk type='file'><source file='&f;'/><target dev='vda'/></disk></devices></domain>";
    static const char *const outside[] = { "outside/victim", "allowed/link/victim",
        "allowed/../outside/victim" };
    struct test_fleet f;
    char *disk, *xml, *name, *kernel;
    size_t i;

    tree_make();
    start_fleet(&f);
    for (i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
        disk = disk_at(outside[i]);
        xml = domain_with("shadow", NEW_DOMAIN(1), disk);
        call_fails(&f, "node", "domainDefineXML", xml_arg(xml), QMF_ERR_UNAUTHORIZED,
                   "Node.domainDefineXML: argument 'xmlDesc': disk/source/@file is not "
                   "under allowed_paths");
        free(disk);
    }
    expect_gone(&f, "Domain", "domain:" NEW_DOMAIN(1));

    /* A kernel outside, for a domain that would start at once. */
    kernel = tree_path("outside/victim");
    xml = qmf_xasprintf("<domain type='test'><name>kern</name><uuid>%s</uuid>"
                        "<memory>65536</memory><os><type>hvm</type><kernel>%s</kernel></os>"
                        "</domain>", NEW_DOMAIN(2), kernel);
    call_fails(&f, "node", "domainCreateXML", xml_arg(xml), QMF_ERR_UNAUTHORIZED,
               "Node.domainCreateXML: argument 'xmlDesc': os/kernel is not under allowed_paths");
    free(kernel);
    expect_gone(&f, "Domain", "domain:" NEW_DOMAIN(2));

    call_fails(&f, "node", "domainDefineXML", arg_s(NULL, "xmlDesc", qemu),
               QMF_ERR_UNAUTHORIZED, "<qemu:commandline>");
    call_fails(&f, "node", "domainDefineXML", arg_s(NULL, "xmlDesc", entity),
               QMF_ERR_INVALID_ARGS, "a DOCTYPE is not accepted");

    /* A disk under allowed_paths (the test driver opens no file). */
    disk = disk_at("allowed/disk.img");
    name = call_created(&f, "node", "domainDefineXML",
                        xml_arg(domain_with("allowed-disk", NEW_DOMAIN(3), disk)), "domain");
    cr_expect_str_eq(name, "domain:" NEW_DOMAIN(3));
    expect_string(&f, "Domain", name, "state", "shutoff");
    free(name);
    free(disk);
    fleet_fini(&f);
    tree_remove();
}

Test(methods, host_paths_in_pool_volume_and_device_xml, .timeout = 180)
{
    struct test_fleet f;
    char *xml, *path, *name, *disk;
    qmf_value *pools;
    size_t i;

    tree_make();
    start_fleet(&f);

    path = tree_path("outside/dir");
    xml = qmf_xasprintf("<pool type='dir'><name>outside-pool</name>"
                        "<target><path>%s</path></target></pool>", path);
    call_fails(&f, "node", "storagePoolDefineXML", arg_s(NULL, "xmlDesc", xml),
               QMF_ERR_UNAUTHORIZED, "Node.storagePoolDefineXML: argument 'xmlDesc': "
               "target/path is not under allowed_paths");
    call_fails(&f, "node", "storagePoolCreateXML", xml_arg(xml), QMF_ERR_UNAUTHORIZED,
               "target/path is not under allowed_paths");
    free(path);
    path = tree_path("allowed/link");
    xml = qmf_xasprintf("<pool type='fs'><name>linked-pool</name><source><device "
                        "path='/dev/null'/></source><target><path>%s</path></target></pool>",
                        path);
    call_fails(&f, "node", "storagePoolDefineXML", xml_arg(xml), QMF_ERR_UNAUTHORIZED,
               "is not under allowed_paths");
    free(path);
    pools = fleet_query(&f, 0, "Pool", NULL);
    for (i = 0; i < qmf_list_len(pools); i++) {
        const char *n = qmf_map_get_string(qmf_map_get(qmf_list_at(pools, i), "_values"),
                                           "name");

        cr_expect(strcmp(n, "outside-pool") != 0 && strcmp(n, "linked-pool") != 0,
                  "pool %s was made", n);
    }
    qmf_free(pools);
    path = tree_path("allowed/pool");
    xml = qmf_xasprintf("<pool type='dir'><name>allowed-pool</name>"
                        "<target><path>%s</path></target></pool>", path);
    name = call_created(&f, "node", "storagePoolDefineXML", xml_arg(xml), "pool");
    expect_string(&f, "Pool", name, "name", "allowed-pool");
    free(name);
    free(path);

    /* Volumes: their target and backing store. */
    path = tree_path("outside/victim");
    xml = qmf_xasprintf("<volume><name>v1.img</name><capacity>1024</capacity>"
                        "<target><path>%s</path></target></volume>", path);
    call_fails(&f, IMAGES, "createVolumeXML", xml_arg(xml), QMF_ERR_UNAUTHORIZED,
               "Pool.createVolumeXML: argument 'xmlDesc': target/path is not under "
               "allowed_paths");
    xml = qmf_xasprintf("<volume><name>v2.qcow2</name><capacity>1024</capacity>"
                        "<backingStore><path>%s</path><format type='raw'/></backingStore>"
                        "</volume>", path);
    call_fails(&f, IMAGES, "createVolumeXML", xml_arg(xml), QMF_ERR_UNAUTHORIZED,
               "backingStore/path is not under allowed_paths");
    free(path);
    expect_gone(&f, "Volume", VOLUME("v1.img"));
    expect_gone(&f, "Volume", VOLUME("v2.qcow2"));

    /* A device: refused outside; inside, it reaches libvirt (whose test
     * driver cannot attach anything). */
    disk = disk_at("allowed/link/victim");
    call_fails(&f, FLEET(01), "attachDevice", arg_s(NULL, "xmlDesc", disk),
               QMF_ERR_UNAUTHORIZED, "Domain.attachDevice: argument 'xmlDesc': "
               "disk/source/@file is not under allowed_paths");
    free(disk);
    disk = disk_at("allowed/extra.img");
    call_fails(&f, FLEET(01), "attachDevice", arg_s(NULL, "xmlDesc", disk),
               LIBVIRT(VIR_ERR_NO_SUPPORT), "virDomainAttachDeviceFlags");
    free(disk);
    expect_victim_untouched();
    fleet_fini(&f);
    tree_remove();
}

/* A selection refuses on every object it selected, and runs on none. */
Test(methods, host_paths_for_a_where_selection, .timeout = 180)
{
    struct virtbus_send_opts o = { .timeout_ms = FLEET_REPLY_MS };
    struct virtbus_agent_list one;
    struct virtbus_results res;
    struct test_fleet f;
    qmf_value *where, *args;
    qmf_error err;
    char *path;
    size_t i;

    tree_make();
    start_fleet(&f);
    fleet_agent_list(&f, 0, 1, &one);
    where = virtbus_expr_compile("name =~ \"^fleet-0[56]$\"", NULL, &err);
    cr_assert_not_null(where, "%s", err.text);
    path = tree_path("allowed/link/victim");
    args = arg_s(NULL, "filename", path);
    cr_assert(virtbus_call_where(f.console, &one, "Domain", where, "save", args, &o, &res,
                                 &err) == 0, "%s", err.text);
    cr_assert_eq(res.n, 1);
    cr_assert_eq(res.items[0].status, VIRTBUS_OK, "%s", res.items[0].error.text);
    cr_assert_eq(qmf_list_len(res.items[0].value), 2);
    for (i = 0; i < 2; i++) {
        const qmf_value *values = qmf_map_get(qmf_list_at(res.items[0].value, i), "_values");
        uint64_t code = 0;

        cr_expect(qmf_get_uint64(qmf_map_get(values, "error_code"), &code) &&
                  code == QMF_ERR_UNAUTHORIZED, "item %zu: %llu", i, (unsigned long long)code);
        cr_expect_str_eq(qmf_map_get_string(values, "error_text"),
                         REFUSED("Domain.save", "filename"));
    }
    virtbus_results_free(&res);
    expect_string(&f, "Domain", FLEET(05), "state", "running");
    expect_string(&f, "Domain", FLEET(06), "state", "running");
    expect_victim_untouched();
    virtbus_agent_list_free(&one);
    qmf_free(args);
    qmf_free(where);
    free(path);
    fleet_fini(&f);
    tree_remove();
}
