/*
 * The libvirt backend's Node (its facts, capabilities and restore) and
 * domains: their family row, their inventory maps and the Domain actions
 * that fit no family shape.
 *
 * Versions (Node): libvirtVersion is the library on the hypervisor side
 * (virConnectGetLibVersion; the daemon's for remote URIs), apiVersion the
 * library virtbus runs on (virGetVersion), hypervisorVersion the
 * hypervisor's own (virConnectGetVersion).
 *
 * Migration is peer to peer (VIR_MIGRATE_PEER2PEER): the destination URI
 * is a libvirt connection URI that the source host's libvirt daemon opens
 * itself, so the agent needs no connection to, nor credentials for, the
 * destination.
 */
#include "drivers/libvirt/libvirt_impl.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const drv_lv_state_names[] = {
    [VIR_DOMAIN_NOSTATE] = "nostate",
    [VIR_DOMAIN_RUNNING] = "running",
    [VIR_DOMAIN_BLOCKED] = "blocked",
    [VIR_DOMAIN_PAUSED] = "paused",
    [VIR_DOMAIN_SHUTDOWN] = "shutdown",
    [VIR_DOMAIN_SHUTOFF] = "shutoff",
    [VIR_DOMAIN_CRASHED] = "crashed",
    [VIR_DOMAIN_PMSUSPENDED] = "pmsuspended",
};

static const char *const drv_lv_unknown_reasons[] = { "unknown" };

static const char *const drv_lv_running_reasons[] = {
    [VIR_DOMAIN_RUNNING_UNKNOWN] = "unknown",
    [VIR_DOMAIN_RUNNING_BOOTED] = "booted",
    [VIR_DOMAIN_RUNNING_MIGRATED] = "migrated",
    [VIR_DOMAIN_RUNNING_RESTORED] = "restored",
    [VIR_DOMAIN_RUNNING_FROM_SNAPSHOT] = "from_snapshot",
    [VIR_DOMAIN_RUNNING_UNPAUSED] = "unpaused",
    [VIR_DOMAIN_RUNNING_MIGRATION_CANCELED] = "migration_canceled",
    [VIR_DOMAIN_RUNNING_SAVE_CANCELED] = "save_canceled",
    [VIR_DOMAIN_RUNNING_WAKEUP] = "wakeup",
    [VIR_DOMAIN_RUNNING_CRASHED] = "crashed",
    [VIR_DOMAIN_RUNNING_POSTCOPY] = "postcopy",
    [VIR_DOMAIN_RUNNING_POSTCOPY_FAILED] = "postcopy_failed",
};

static const char *const drv_lv_paused_reasons[] = {
    [VIR_DOMAIN_PAUSED_UNKNOWN] = "unknown",
    [VIR_DOMAIN_PAUSED_USER] = "user",
    [VIR_DOMAIN_PAUSED_MIGRATION] = "migration",
    [VIR_DOMAIN_PAUSED_SAVE] = "save",
    [VIR_DOMAIN_PAUSED_DUMP] = "dump",
    [VIR_DOMAIN_PAUSED_IOERROR] = "ioerror",
    [VIR_DOMAIN_PAUSED_WATCHDOG] = "watchdog",
    [VIR_DOMAIN_PAUSED_FROM_SNAPSHOT] = "from_snapshot",
    [VIR_DOMAIN_PAUSED_SHUTTING_DOWN] = "shutting_down",
    [VIR_DOMAIN_PAUSED_SNAPSHOT] = "snapshot",
    [VIR_DOMAIN_PAUSED_CRASHED] = "crashed",
    [VIR_DOMAIN_PAUSED_STARTING_UP] = "starting_up",
    [VIR_DOMAIN_PAUSED_POSTCOPY] = "postcopy",
    [VIR_DOMAIN_PAUSED_POSTCOPY_FAILED] = "postcopy_failed",
};

static const char *const drv_lv_shutdown_reasons[] = {
    [VIR_DOMAIN_SHUTDOWN_UNKNOWN] = "unknown",
    [VIR_DOMAIN_SHUTDOWN_USER] = "user",
};

static const char *const drv_lv_shutoff_reasons[] = {
    [VIR_DOMAIN_SHUTOFF_UNKNOWN] = "unknown",
    [VIR_DOMAIN_SHUTOFF_SHUTDOWN] = "shutdown",
    [VIR_DOMAIN_SHUTOFF_DESTROYED] = "destroyed",
    [VIR_DOMAIN_SHUTOFF_CRASHED] = "crashed",
    [VIR_DOMAIN_SHUTOFF_MIGRATED] = "migrated",
    [VIR_DOMAIN_SHUTOFF_SAVED] = "saved",
    [VIR_DOMAIN_SHUTOFF_FAILED] = "failed",
    [VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT] = "from_snapshot",
    [VIR_DOMAIN_SHUTOFF_DAEMON] = "daemon",
};

static const char *const drv_lv_crashed_reasons[] = {
    [VIR_DOMAIN_CRASHED_UNKNOWN] = "unknown",
    [VIR_DOMAIN_CRASHED_PANICKED] = "panicked",
};

static const struct drv_lv_names drv_lv_state_reasons[] = {
    [VIR_DOMAIN_NOSTATE] = DRV_LV_NAMES(drv_lv_unknown_reasons),
    [VIR_DOMAIN_RUNNING] = DRV_LV_NAMES(drv_lv_running_reasons),
    [VIR_DOMAIN_BLOCKED] = DRV_LV_NAMES(drv_lv_unknown_reasons),
    [VIR_DOMAIN_PAUSED] = DRV_LV_NAMES(drv_lv_paused_reasons),
    [VIR_DOMAIN_SHUTDOWN] = DRV_LV_NAMES(drv_lv_shutdown_reasons),
    [VIR_DOMAIN_SHUTOFF] = DRV_LV_NAMES(drv_lv_shutoff_reasons),
    [VIR_DOMAIN_CRASHED] = DRV_LV_NAMES(drv_lv_crashed_reasons),
    [VIR_DOMAIN_PMSUSPENDED] = DRV_LV_NAMES(drv_lv_unknown_reasons),
};

/* ---- node ---- */

int
drv_node_info(struct drv_conn *c, qmf_value **values, qmf_error *err)
{
    static const char *const exprs[] = { "string(/capabilities/host/cpu/arch)" };
    unsigned long lib_ver, api_ver, hv_ver;
    unsigned long long free_bytes;
    virNodeInfo ni;
    const char *type;
    char *hostname = NULL, *uri = NULL, *caps = NULL, *arch[1] = { NULL };
    qmf_error e = { .code = QMF_OK };
    qmf_value *m;
    int rc = -1;

    *values = NULL;
    if (drv_lv_check_alive(c, err) < 0)
        return -1;
    if ((hostname = virConnectGetHostname(c->conn)) == NULL ||
        (uri = virConnectGetURI(c->conn)) == NULL ||
        virConnectGetLibVersion(c->conn, &lib_ver) < 0 ||
        virGetVersion(&api_ver, NULL, NULL) < 0 ||
        virConnectGetVersion(c->conn, &hv_ver) < 0 ||
        (type = virConnectGetType(c->conn)) == NULL ||
        virNodeGetInfo(c->conn, &ni) < 0 ||
        (caps = virConnectGetCapabilities(c->conn)) == NULL) {
        drv_lv_fail(c, err);
        goto out;
    }
    /*
     * 0 is libvirt's error return, and drivers without per-cell figures
     * (the test driver's node files) take that path with no cause.  A
     * statistic is not worth failing the Node for, so only a lost
     * connection fails; anything else reads as 0 free.
     */
    free_bytes = virNodeGetFreeMemory(c->conn);
    if (free_bytes == 0 && virGetLastError() != NULL) {
        drv_lv_fail(c, &e);
        if (e.code == QMF_ERR_DRIVER_DOWN) {
            if (err != NULL)
                *err = e;
            goto out;
        }
    }
    if (drv_lv_xpath_strings(caps, exprs, arch, 1, err) < 0)
        goto out;

    m = qmf_map();
    qmf_map_set(m, "hostname", qmf_string(hostname));
    qmf_map_set(m, "uri", qmf_string(uri));
    qmf_map_set(m, "libvirtVersion", qmf_u32((uint32_t)lib_ver));
    qmf_map_set(m, "apiVersion", qmf_u32((uint32_t)api_ver));
    qmf_map_set(m, "hypervisorVersion", qmf_u32((uint32_t)hv_ver));
    qmf_map_set(m, "hypervisorType", qmf_string(type));
    qmf_map_set(m, "model", qmf_string(ni.model));
    qmf_map_set(m, "memory", qmf_u64(ni.memory));
    qmf_map_set(m, "cpus", qmf_u32(ni.cpus));
    qmf_map_set(m, "mhz", qmf_u32(ni.mhz));
    qmf_map_set(m, "nodes", qmf_u32(ni.nodes));
    qmf_map_set(m, "sockets", qmf_u32(ni.sockets));
    qmf_map_set(m, "cores", qmf_u32(ni.cores));
    qmf_map_set(m, "threads", qmf_u32(ni.threads));
    qmf_map_set(m, "freeMemory", qmf_u64(free_bytes / 1024));
    /* The capabilities name the host's architecture; NodeInfo's model is
     * what older drivers put there instead. */
    qmf_map_set(m, "arch", qmf_string(arch[0][0] != '\0' ? arch[0] : ni.model));
    *values = m;
    rc = 0;

out:
    free(hostname);
    free(uri);
    free(caps);
    free(arch[0]);
    return rc;
}

int
drv_node_capabilities(struct drv_conn *c, char **xml, qmf_error *err)
{
    *xml = NULL;
    if (drv_lv_check_alive(c, err) < 0)
        return -1;
    if ((*xml = virConnectGetCapabilities(c->conn)) == NULL)
        return drv_lv_fail(c, err);
    return 0;
}

int
drv_node_restore(struct drv_conn *c, const char *path, qmf_error *err)
{
    if (drv_lv_check_alive(c, err) < 0)
        return -1;
    if (virDomainRestore(c->conn, path) < 0)
        return drv_lv_fail(c, err);
    return 0;
}

/* ---- domain inventory ---- */

static int
drv_lv_domain_values(struct drv_conn *c, void *obj, const void *ctx,
                     qmf_value **values, qmf_error *err)
{
    virDomainPtr dom = obj;
    char uuid[VIR_UUID_STRING_BUFLEN];
    virDomainInfo info;
    int state, reason, active, persistent, autostart;
    unsigned int id;
    const char *name;
    char *os_type;
    qmf_value *m;

    if (virDomainGetUUIDString(dom, uuid) < 0 ||
        (name = virDomainGetName(dom)) == NULL ||
        virDomainGetInfo(dom, &info) < 0 ||
        virDomainGetState(dom, &state, &reason, 0) < 0 ||
        (active = virDomainIsActive(dom)) < 0 ||
        (persistent = virDomainIsPersistent(dom)) < 0 ||
        virDomainGetAutostart(dom, &autostart) < 0 ||
        (os_type = virDomainGetOSType(dom)) == NULL)
        return drv_lv_fail(c, err);
    id = virDomainGetID(dom);

    m = qmf_map();
    qmf_map_set(m, "uuid", qmf_string(uuid));
    qmf_map_set(m, "name", qmf_string(name));
    qmf_map_set(m, "id", qmf_i32(id == (unsigned int)-1 ? -1 : (int32_t)id));
    qmf_map_set(m, "state", qmf_string(drv_lv_name(drv_lv_state_names,
        DRV_LV_NELEMS(drv_lv_state_names), state, "nostate")));
    qmf_map_set(m, "numVcpus", qmf_u32(info.nrVirtCpu));
    qmf_map_set(m, "active", qmf_bool(active == 1));
    qmf_map_set(m, "maximumMemory", qmf_u64(info.maxMem));
    qmf_map_set(m, "memory", qmf_u64(info.memory));
    qmf_map_set(m, "cpuTime", qmf_u64(info.cpuTime));
    qmf_map_set(m, "persistent", qmf_bool(persistent == 1));
    qmf_map_set(m, "autostart", qmf_bool(autostart != 0));
    qmf_map_set(m, "osType", qmf_string(os_type));
    qmf_map_set(m, "reason", qmf_string(drv_lv_sub_name(drv_lv_state_reasons,
        DRV_LV_NELEMS(drv_lv_state_reasons), state, reason)));
    free(os_type);
    *values = m;
    return 0;
}

/* ---- domain actions that fit no family shape ---- */

int
drv_domain_save(struct drv_conn *c, const char *uuid, const char *path,
                qmf_error *err)
{
    virDomainPtr dom;
    int rc = 0;

    if ((dom = drv_lv_lookup(c, &drv_domains, uuid, err)) == NULL)
        return -1;
    if (virDomainSave(dom, path) < 0)
        rc = drv_lv_fail(c, err);
    virDomainFree(dom);
    return rc;
}

/*
 * Attaches or detaches (change) a device; live and config select
 * VIR_DOMAIN_AFFECT_*, neither means "current".
 */
static int
drv_lv_change_device(struct drv_conn *c, const char *uuid, const char *xml, bool live,
                     bool config, int (*change)(virDomainPtr, const char *, unsigned int),
                     qmf_error *err)
{
    unsigned int affect = (live ? VIR_DOMAIN_AFFECT_LIVE : 0) |
                          (config ? VIR_DOMAIN_AFFECT_CONFIG : 0);
    virDomainPtr dom;
    int rc = 0;

    if ((dom = drv_lv_lookup(c, &drv_domains, uuid, err)) == NULL)
        return -1;
    if (change(dom, xml, affect) < 0)
        rc = drv_lv_fail(c, err);
    virDomainFree(dom);
    return rc;
}

int
drv_domain_attach_device(struct drv_conn *c, const char *uuid, const char *xml,
                         bool live, bool config, qmf_error *err)
{
    return drv_lv_change_device(c, uuid, xml, live, config, virDomainAttachDeviceFlags,
                                err);
}

int
drv_domain_detach_device(struct drv_conn *c, const char *uuid, const char *xml,
                         bool live, bool config, qmf_error *err)
{
    return drv_lv_change_device(c, uuid, xml, live, config, virDomainDetachDeviceFlags,
                                err);
}

int
drv_domain_set_vcpus(struct drv_conn *c, const char *uuid, uint32_t count,
                     qmf_error *err)
{
    virDomainPtr dom;
    int rc = 0;

    if ((dom = drv_lv_lookup(c, &drv_domains, uuid, err)) == NULL)
        return -1;
    if (virDomainSetVcpus(dom, count) < 0)
        rc = drv_lv_fail(c, err);
    virDomainFree(dom);
    return rc;
}

int
drv_domain_set_memory(struct drv_conn *c, const char *uuid, uint64_t kib,
                      qmf_error *err)
{
    virDomainPtr dom;
    int rc = 0;

    if (kib > ULONG_MAX) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "memory %llu KiB is too large",
                      (unsigned long long)kib);
        return -1;
    }
    if ((dom = drv_lv_lookup(c, &drv_domains, uuid, err)) == NULL)
        return -1;
    if (virDomainSetMemory(dom, (unsigned long)kib) < 0)
        rc = drv_lv_fail(c, err);
    virDomainFree(dom);
    return rc;
}

/*
 * Always PEER2PEER (dest_uri is the destination's libvirt URI, opened by
 * the source daemon), plus the caller's virDomainMigrateFlags: live or not
 * is the caller's choice (the CLI asks for live by default).  No
 * VIR_MIGRATE_PARAM_URI: the destination picks the address its
 * hypervisor listens on.
 */
int
drv_domain_migrate(struct drv_conn *c, const char *uuid, const char *dest_uri,
                   uint32_t flags, const char *dname, uint64_t bandwidth,
                   qmf_error *err)
{
    virTypedParameterPtr params = NULL;
    int nparams = 0, maxparams = 0, rc = 0;
    virDomainPtr dom;

    if ((dom = drv_lv_lookup(c, &drv_domains, uuid, err)) == NULL)
        return -1;
    if ((dname != NULL && *dname != '\0' &&
         virTypedParamsAddString(&params, &nparams, &maxparams,
                                 VIR_MIGRATE_PARAM_DEST_NAME, dname) < 0) ||
        (bandwidth > 0 &&
         virTypedParamsAddULLong(&params, &nparams, &maxparams,
                                 VIR_MIGRATE_PARAM_BANDWIDTH, bandwidth) < 0) ||
        virDomainMigrateToURI3(dom, dest_uri, params, (unsigned int)nparams,
                               flags | VIR_MIGRATE_PEER2PEER) < 0)
        rc = drv_lv_fail(c, err);
    virTypedParamsFree(params, nparams);
    virDomainFree(dom);
    return rc;
}

DRV_LV_LOOKUP_THUNK(virDomainLookupByUUIDString)
DRV_LV_OBJ_THUNK(virDomainFree)
DRV_LV_UUID_THUNK(virDomainGetUUIDString)
DRV_LV_LIST_ALL_THUNK(virConnectListAllDomains, virConnectPtr, virDomainPtr)
DRV_LV_XML_DESC_THUNK(virDomainGetXMLDesc)
DRV_LV_FROM_XML_THUNK(virDomainDefineXML)
DRV_LV_FROM_XML_FLAGS_THUNK(virDomainCreateXML)
DRV_LV_SET_AUTOSTART_THUNK(virDomainSetAutostart)
DRV_LV_OBJ_THUNK(virDomainDestroy)
DRV_LV_OBJ_THUNK(virDomainUndefine)
DRV_LV_OBJ_THUNK(virDomainSuspend)
DRV_LV_OBJ_THUNK(virDomainResume)
DRV_LV_OBJ_THUNK(virDomainShutdown)
DRV_LV_OBJ_FLAGS_THUNK(virDomainCreateWithFlags)
DRV_LV_OBJ_FLAGS_THUNK(virDomainReboot)
DRV_LV_OBJ_FLAGS_THUNK(virDomainReset)
DRV_LV_OBJ_FLAGS_THUNK(virDomainManagedSave)

const struct drv_family drv_domains = {
    .name = "domain",
    .key_name = "uuid",
    .label = "domain with uuid",
    .not_found = VIR_ERR_NO_DOMAIN,
    .lookup = drv_lv_call_virDomainLookupByUUIDString,
    .free = drv_lv_call_virDomainFree,
    .uuid = drv_lv_call_virDomainGetUUIDString,
    .list_all = drv_lv_call_virConnectListAllDomains,
    .values = drv_lv_domain_values,
    .xml_desc = drv_lv_call_virDomainGetXMLDesc,
    .define_xml = drv_lv_call_virDomainDefineXML,
    .create_xml_flags = drv_lv_call_virDomainCreateXML,
    .set_autostart = drv_lv_call_virDomainSetAutostart,
    .act = {
        [DRV_DESTROY] = drv_lv_call_virDomainDestroy,
        [DRV_UNDEFINE] = drv_lv_call_virDomainUndefine,
        [DRV_SUSPEND] = drv_lv_call_virDomainSuspend,
        [DRV_RESUME] = drv_lv_call_virDomainResume,
        [DRV_SHUTDOWN] = drv_lv_call_virDomainShutdown,
    },
    .act_flags = {
        [DRV_CREATE] = drv_lv_call_virDomainCreateWithFlags,
        [DRV_REBOOT] = drv_lv_call_virDomainReboot,
        [DRV_RESET] = drv_lv_call_virDomainReset,
        [DRV_MANAGED_SAVE] = drv_lv_call_virDomainManagedSave,
    },
};
