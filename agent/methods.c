/*
 * The method table: for every method of the org.libvirt schema, the
 * adapter that runs it on a worker thread through the driver tables.
 * DRV_CALL turns an entry the backend lacks into "not implemented" naming
 * the backend.  Arguments arrive checked and coerced against the schema
 * (dispatch.c), with defaults filled in; optional ones without a default
 * may be absent.  Of the agent, adapters only read call->a->drv and
 * call->a->dconn, and its name (agent_object_ref): what workers may read.
 *
 * Most methods have one of a few shapes (an action on the target object,
 * with or without flags; its XML; a define from XML on the Node), written
 * once as macros below, so that each such method is one line; the rest are
 * written out.
 */
#include "agent/agent_impl.h"

#include <stdlib.h>
#include <string.h>

/* ---- arguments and results ---- */

/* A string argument; NULL only for an absent optional one. */
static const char *
arg_string(const struct method_call *call, const char *name)
{
    return qmf_map_get_string(call->args, name);
}

static uint64_t
arg_uint(const struct method_call *call, const char *name)
{
    uint64_t u = 0;

    qmf_get_uint64(qmf_map_get(call->args, name), &u);
    return u;
}

static bool
arg_bool(const struct method_call *call, const char *name)
{
    const qmf_value *v = qmf_map_get(call->args, name);

    return v != NULL && v->kind == QMF_BOOL && v->u.b;
}

/* A text output argument (lstr); text is consumed. */
static void
out_text(struct method_call *call, const char *arg, char *text)
{
    qmf_map_set(call->out, arg, qmf_string(text != NULL ? text : ""));
    free(text);
}

/*
 * The object a method created: its objId goes out as `arg`, and the agent
 * fetches and pushes it once the method returns.  key is consumed.
 */
static void
out_created(struct method_call *call, const char *arg, const char *class_name,
            char *key)
{
    free(call->created);
    call->created = agent_object_name(class_name, key);
    qmf_map_set(call->out, arg, agent_object_ref(call->a, call->created));
    free(key);
}

/* ---- the common shapes ---- */

/* An action on the target object; reload names a class it may change. */
#define ACTION(fn, table, entry, reload)                                         \
    static int fn(struct method_call *call, qmf_error *err)                      \
    {                                                                            \
        call->reload_class = (reload);                                           \
        return DRV_CALL(call->a->drv, table, entry, err, call->a->dconn,         \
                        call->object_key, err);                                  \
    }

/* The same with the method's `flags` argument. */
#define ACTION_FLAGS(fn, table, entry, reload)                                   \
    static int fn(struct method_call *call, qmf_error *err)                      \
    {                                                                            \
        call->reload_class = (reload);                                           \
        return DRV_CALL(call->a->drv, table, entry, err, call->a->dconn,         \
                        call->object_key, (uint32_t)arg_uint(call, "flags"),     \
                        err);                                                    \
    }

/* setAutostart(autostart). */
#define SET_AUTOSTART(fn, table, entry)                                          \
    static int fn(struct method_call *call, qmf_error *err)                      \
    {                                                                            \
        return DRV_CALL(call->a->drv, table, entry, err, call->a->dconn,         \
                        call->object_key, arg_bool(call, "autostart"), err);     \
    }

/* getXMLDesc(flags) -> description. */
#define GET_XML(fn, table, entry)                                                \
    static int fn(struct method_call *call, qmf_error *err)                      \
    {                                                                            \
        char *xml = NULL;                                                        \
                                                                                 \
        if (DRV_CALL(call->a->drv, table, entry, err, call->a->dconn,            \
                     call->object_key, (uint32_t)arg_uint(call, "flags"), &xml,  \
                     err) != 0)                                                  \
            return -1;                                                           \
        out_text(call, "description", xml);                                      \
        return 0;                                                                \
    }

/* A Node method making an object from xmlDesc -> its objId as `out`. */
#define FROM_XML(fn, table, entry, out, class_name, reload)                     \
    static int fn(struct method_call *call, qmf_error *err)                      \
    {                                                                            \
        char *key = NULL;                                                        \
                                                                                 \
        call->reload_class = (reload);                                           \
        if (DRV_CALL(call->a->drv, table, entry, err, call->a->dconn,            \
                     arg_string(call, "xmlDesc"), &key, err) != 0)               \
            return -1;                                                           \
        out_created(call, (out), (class_name), key);                             \
        return 0;                                                                \
    }

/* ---- Node ---- */

FROM_XML(node_domain_define_xml, hypervisor, domain_define_xml, "domain", "Domain", NULL)
FROM_XML(node_pool_define_xml, storage, pool_define_xml, "pool", "Pool", NULL)
/* A started pool brings its volumes along. */
FROM_XML(node_pool_create_xml, storage, pool_create_xml, "pool", "Pool", "Volume")
FROM_XML(node_network_define_xml, network, network_define_xml, "network", "Network", NULL)
FROM_XML(node_network_create_xml, network, network_create_xml, "network", "Network", NULL)

static int
node_domain_create_xml(struct method_call *call, qmf_error *err)
{
    char *uuid = NULL;

    if (DRV_CALL(call->a->drv, hypervisor, domain_create_xml, err, call->a->dconn,
                 arg_string(call, "xmlDesc"), (uint32_t)arg_uint(call, "flags"),
                 &uuid, err) != 0)
        return -1;
    out_created(call, "domain", "Domain", uuid);
    return 0;
}

static int
node_find_pool_sources(struct method_call *call, qmf_error *err)
{
    char *xml = NULL;

    if (DRV_CALL(call->a->drv, storage, find_pool_sources, err, call->a->dconn,
                 arg_string(call, "type"), arg_string(call, "srcSpec"), &xml, err) != 0)
        return -1;
    out_text(call, "xmlDesc", xml);
    return 0;
}

static int
node_get_capabilities(struct method_call *call, qmf_error *err)
{
    char *xml = NULL;

    if (DRV_CALL(call->a->drv, hypervisor, node_capabilities, err, call->a->dconn,
                 &xml, err) != 0)
        return -1;
    out_text(call, "capabilities", xml);
    return 0;
}

/* ---- paths the caller names ----
 *
 * Only paths under allowed_paths reach these (command.c checks every
 * argument the schema marks as a host path before anything runs), so
 * libvirt's own account of a failure may be told: it says nothing about
 * files the caller may not name. */

/* Which domain the file holds is libvirt's secret: look at them all. */
static int
node_restore(struct method_call *call, qmf_error *err)
{
    const char *path = arg_string(call, "filename");

    call->reload_class = "Domain";
    return DRV_CALL(call->a->drv, hypervisor, node_restore, err, call->a->dconn, path, err);
}

/* ---- Domain ---- */

ACTION_FLAGS(domain_create, hypervisor, domain_create, NULL)
ACTION(domain_destroy, hypervisor, domain_destroy, NULL)
ACTION(domain_undefine, hypervisor, domain_undefine, NULL)
ACTION(domain_suspend, hypervisor, domain_suspend, NULL)
ACTION(domain_resume, hypervisor, domain_resume, NULL)
ACTION(domain_shutdown, hypervisor, domain_shutdown, NULL)
ACTION(domain_reboot, hypervisor, domain_reboot, NULL)
ACTION(domain_reset, hypervisor, domain_reset, NULL)
ACTION(domain_managed_save, hypervisor, domain_managed_save, NULL)
SET_AUTOSTART(domain_set_autostart, hypervisor, domain_set_autostart)
GET_XML(domain_get_xml, hypervisor, domain_get_xml)

static int
domain_save(struct method_call *call, qmf_error *err)
{
    const char *path = arg_string(call, "filename");

    return DRV_CALL(call->a->drv, hypervisor, domain_save, err, call->a->dconn,
                    call->object_key, path, err);
}

static int
domain_attach_device(struct method_call *call, qmf_error *err)
{
    return DRV_CALL(call->a->drv, hypervisor, domain_attach_device, err,
                    call->a->dconn, call->object_key, arg_string(call, "xmlDesc"),
                    arg_bool(call, "live"), arg_bool(call, "config"), err);
}

static int
domain_detach_device(struct method_call *call, qmf_error *err)
{
    return DRV_CALL(call->a->drv, hypervisor, domain_detach_device, err,
                    call->a->dconn, call->object_key, arg_string(call, "xmlDesc"),
                    arg_bool(call, "live"), arg_bool(call, "config"), err);
}

static int
domain_set_vcpus(struct method_call *call, qmf_error *err)
{
    return DRV_CALL(call->a->drv, hypervisor, domain_set_vcpus, err, call->a->dconn,
                    call->object_key, (uint32_t)arg_uint(call, "count"), err);
}

static int
domain_set_memory(struct method_call *call, qmf_error *err)
{
    return DRV_CALL(call->a->drv, hypervisor, domain_set_memory, err, call->a->dconn,
                    call->object_key, arg_uint(call, "memory"), err);
}

static int
domain_migrate(struct method_call *call, qmf_error *err)
{
    return DRV_CALL(call->a->drv, hypervisor, domain_migrate, err, call->a->dconn,
                    call->object_key, arg_string(call, "destinationUri"),
                    (uint32_t)arg_uint(call, "flags"), arg_string(call, "dname"),
                    arg_uint(call, "bandwidth"), err);
}

/* ---- Pool ---- */

/* Starting, stopping, building, deleting or rescanning a pool changes
 * which volumes there are: the Volume class is reloaded after them. */
GET_XML(pool_get_xml, storage, pool_get_xml)
ACTION(pool_create, storage, pool_create, "Volume")
ACTION_FLAGS(pool_build, storage, pool_build, "Volume")
ACTION(pool_destroy, storage, pool_destroy, "Volume")
ACTION_FLAGS(pool_delete, storage, pool_delete, "Volume")
ACTION(pool_undefine, storage, pool_undefine, NULL)
ACTION(pool_refresh, storage, pool_refresh, "Volume")

static int
pool_create_volume_xml(struct method_call *call, qmf_error *err)
{
    char *key = NULL;

    call->reload_class = "Volume";
    if (DRV_CALL(call->a->drv, storage, pool_create_volume_xml, err, call->a->dconn,
                 call->object_key, arg_string(call, "xmlDesc"), &key, err) != 0)
        return -1;
    out_created(call, "volume", "Volume", key);
    return 0;
}

static int
pool_create_volume(struct method_call *call, qmf_error *err)
{
    char *key = NULL;

    call->reload_class = "Volume";
    if (DRV_CALL(call->a->drv, storage, pool_create_volume, err, call->a->dconn,
                 call->object_key, arg_string(call, "name"), arg_uint(call, "capacity"),
                 arg_string(call, "format"), &key, err) != 0)
        return -1;
    out_created(call, "volume", "Volume", key);
    return 0;
}

/* ---- Volume ---- */

/* A deleted volume needs no reload: the agent finds its target gone. */
GET_XML(volume_get_xml, storage, volume_get_xml)
ACTION(volume_delete, storage, volume_delete, NULL)
ACTION(volume_wipe, storage, volume_wipe, NULL)

static int
volume_resize(struct method_call *call, qmf_error *err)
{
    return DRV_CALL(call->a->drv, storage, volume_resize, err, call->a->dconn,
                    call->object_key, arg_uint(call, "capacity"), err);
}

static int
volume_clone(struct method_call *call, qmf_error *err)
{
    char *key = NULL;

    if (DRV_CALL(call->a->drv, storage, volume_clone, err, call->a->dconn,
                 call->object_key, arg_string(call, "name"), &key, err) != 0)
        return -1;
    out_created(call, "volume", "Volume", key);
    return 0;
}

/* ---- Network ---- */

GET_XML(network_get_xml, network, network_get_xml)
ACTION(network_create, network, network_create, NULL)
ACTION(network_destroy, network, network_destroy, NULL)
ACTION(network_undefine, network, network_undefine, NULL)
SET_AUTOSTART(network_set_autostart, network, network_set_autostart)

static int
network_dhcp_leases(struct method_call *call, qmf_error *err)
{
    qmf_value *leases = NULL;

    if (DRV_CALL(call->a->drv, network, network_dhcp_leases, err, call->a->dconn,
                 call->object_key, arg_string(call, "mac"), &leases, err) != 0)
        return -1;
    qmf_map_set(call->out, "leases", leases != NULL ? leases : qmf_list());
    return 0;
}

/* ---- Interface ---- */

GET_XML(interface_get_xml, network, interface_get_xml)
ACTION(interface_create, network, interface_create, NULL)
ACTION(interface_destroy, network, interface_destroy, NULL)

/* ---- the table ---- */

static const struct method_entry {
    const char *class_name;
    const char *method_name;
    method_fn fn;
} method_table[] = {
    { "Node", "domainDefineXML", node_domain_define_xml },
    { "Node", "domainCreateXML", node_domain_create_xml },
    { "Node", "storagePoolDefineXML", node_pool_define_xml },
    { "Node", "storagePoolCreateXML", node_pool_create_xml },
    { "Node", "networkDefineXML", node_network_define_xml },
    { "Node", "networkCreateXML", node_network_create_xml },
    { "Node", "findStoragePoolSources", node_find_pool_sources },
    { "Node", "getCapabilities", node_get_capabilities },
    { "Node", "restore", node_restore },

    { "Domain", "create", domain_create },
    { "Domain", "destroy", domain_destroy },
    { "Domain", "undefine", domain_undefine },
    { "Domain", "suspend", domain_suspend },
    { "Domain", "resume", domain_resume },
    { "Domain", "save", domain_save },
    { "Domain", "shutdown", domain_shutdown },
    { "Domain", "reboot", domain_reboot },
    { "Domain", "getXMLDesc", domain_get_xml },
    { "Domain", "migrate", domain_migrate },
    { "Domain", "reset", domain_reset },
    { "Domain", "managedSave", domain_managed_save },
    { "Domain", "setAutostart", domain_set_autostart },
    { "Domain", "attachDevice", domain_attach_device },
    { "Domain", "detachDevice", domain_detach_device },
    { "Domain", "setVcpus", domain_set_vcpus },
    { "Domain", "setMemory", domain_set_memory },

    { "Pool", "getXMLDesc", pool_get_xml },
    { "Pool", "create", pool_create },
    { "Pool", "build", pool_build },
    { "Pool", "destroy", pool_destroy },
    { "Pool", "delete", pool_delete },
    { "Pool", "undefine", pool_undefine },
    { "Pool", "createVolumeXML", pool_create_volume_xml },
    { "Pool", "refresh", pool_refresh },
    { "Pool", "createVolume", pool_create_volume },

    { "Volume", "getXMLDesc", volume_get_xml },
    { "Volume", "delete", volume_delete },
    { "Volume", "wipe", volume_wipe },
    { "Volume", "resize", volume_resize },
    { "Volume", "clone", volume_clone },

    { "Network", "getXMLDesc", network_get_xml },
    { "Network", "create", network_create },
    { "Network", "destroy", network_destroy },
    { "Network", "undefine", network_undefine },
    { "Network", "setAutostart", network_set_autostart },
    { "Network", "dhcpLeases", network_dhcp_leases },

    { "Interface", "getXMLDesc", interface_get_xml },
    { "Interface", "create", interface_create },
    { "Interface", "destroy", interface_destroy },
};

#define NMETHODS (sizeof(method_table) / sizeof(method_table[0]))

method_fn
agent_find_method(const char *class_name, const char *method_name)
{
    size_t i;

    for (i = 0; i < NMETHODS; i++)
        if (strcmp(method_table[i].class_name, class_name) == 0 &&
            strcmp(method_table[i].method_name, method_name) == 0)
            return method_table[i].fn;
    return NULL;
}

bool
agent_method_entry(size_t i, const char **class_name, const char **method_name)
{
    if (i >= NMETHODS)
        return false;
    *class_name = method_table[i].class_name;
    *method_name = method_table[i].method_name;
    return true;
}
