/*
 * The method table: for every method of the org.libvirt schema, what runs
 * it on a worker thread.  Most methods are one libvirt call on one object
 * family (drivers/driver.h) in one of a few shapes (an action on the target
 * object, with or without the method's flags; its XML; its autostart; a
 * Node method making an object from XML), so their row names the shape,
 * the family and the action, and run_method below is the whole of their
 * code; the rest are written out.  Arguments arrive checked and coerced
 * against the schema (dispatch.c), with defaults filled in; optional ones
 * without a default may be absent.  Of the agent, methods only read
 * call->a->dconn and its name (agent_object_ref): what workers may read.
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

    return v != NULL && v->kind == QMF_BOOL && qmf_as_bool(v);
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

/* ---- methods written out ---- */

static int
node_find_pool_sources(struct method_call *call, qmf_error *err)
{
    char *xml = NULL;

    if (drv_find_pool_sources(call->a->dconn, arg_string(call, "type"),
                              arg_string(call, "srcSpec"), &xml, err) != 0)
        return -1;
    out_text(call, "xmlDesc", xml);
    return 0;
}

static int
node_get_capabilities(struct method_call *call, qmf_error *err)
{
    char *xml = NULL;

    if (drv_node_capabilities(call->a->dconn, &xml, err) != 0)
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

/* Which domain the file holds is libvirt's secret: its row reloads them all. */
static int
node_restore(struct method_call *call, qmf_error *err)
{
    return drv_node_restore(call->a->dconn, arg_string(call, "filename"), err);
}

static int
domain_save(struct method_call *call, qmf_error *err)
{
    return drv_domain_save(call->a->dconn, call->object_key,
                           arg_string(call, "filename"), err);
}

static int
domain_attach_device(struct method_call *call, qmf_error *err)
{
    return drv_domain_attach_device(call->a->dconn, call->object_key,
                                    arg_string(call, "xmlDesc"), arg_bool(call, "live"),
                                    arg_bool(call, "config"), err);
}

static int
domain_detach_device(struct method_call *call, qmf_error *err)
{
    return drv_domain_detach_device(call->a->dconn, call->object_key,
                                    arg_string(call, "xmlDesc"), arg_bool(call, "live"),
                                    arg_bool(call, "config"), err);
}

static int
domain_set_vcpus(struct method_call *call, qmf_error *err)
{
    return drv_domain_set_vcpus(call->a->dconn, call->object_key,
                                (uint32_t)arg_uint(call, "count"), err);
}

static int
domain_set_memory(struct method_call *call, qmf_error *err)
{
    return drv_domain_set_memory(call->a->dconn, call->object_key,
                                 arg_uint(call, "memory"), err);
}

static int
domain_migrate(struct method_call *call, qmf_error *err)
{
    return drv_domain_migrate(call->a->dconn, call->object_key,
                              arg_string(call, "destinationUri"),
                              (uint32_t)arg_uint(call, "flags"), arg_string(call, "dname"),
                              arg_uint(call, "bandwidth"), err);
}

static int
pool_create_volume_xml(struct method_call *call, qmf_error *err)
{
    char *key = NULL;

    if (drv_pool_create_volume_xml(call->a->dconn, call->object_key,
                                   arg_string(call, "xmlDesc"), &key, err) != 0)
        return -1;
    out_created(call, "volume", "Volume", key);
    return 0;
}

static int
pool_create_volume(struct method_call *call, qmf_error *err)
{
    char *key = NULL;

    if (drv_pool_create_volume(call->a->dconn, call->object_key, arg_string(call, "name"),
                               arg_uint(call, "capacity"), arg_string(call, "format"),
                               &key, err) != 0)
        return -1;
    out_created(call, "volume", "Volume", key);
    return 0;
}

static int
volume_resize(struct method_call *call, qmf_error *err)
{
    return drv_volume_resize(call->a->dconn, call->object_key,
                             arg_uint(call, "capacity"), err);
}

static int
volume_clone(struct method_call *call, qmf_error *err)
{
    char *key = NULL;

    if (drv_volume_clone(call->a->dconn, call->object_key, arg_string(call, "name"),
                         &key, err) != 0)
        return -1;
    out_created(call, "volume", "Volume", key);
    return 0;
}

static int
network_dhcp_leases(struct method_call *call, qmf_error *err)
{
    qmf_value *leases = NULL;

    if (drv_network_dhcp_leases(call->a->dconn, call->object_key,
                                arg_string(call, "mac"), &leases, err) != 0)
        return -1;
    qmf_map_set(call->out, "leases", leases != NULL ? leases : qmf_list());
    return 0;
}

/* ---- the table ---- */

enum method_shape {
    OWN,                /* the row's own function */
    ACT,                /* an action on the target object */
    ACT_FLAGS,          /* the same with the method's `flags` argument */
    SET_AUTOSTART,      /* setAutostart(autostart) */
    GET_XML,            /* getXMLDesc(flags) -> description */
    DEFINE_XML,         /* a Node method defining an object from xmlDesc */
    CREATE_XML,         /* the same, started, with the method's `flags` */
};

struct agent_method {
    const char *class_name;
    const char *method_name;
    enum method_shape shape;
    /* The family acted on, or (DEFINE_XML, CREATE_XML) made. */
    const struct drv_family *family;
    enum drv_action action;
    /* A class the method may change as a whole, reloaded afterwards. */
    const char *reload_class;
    /* DEFINE_XML, CREATE_XML: the output argument and class of what is made. */
    const char *out_arg;
    const char *out_class;
    int (*own)(struct method_call *call, qmf_error *err);
};

#define FAMILY(shape_, family_, action_, reload)                                \
    .shape = (shape_), .family = &(family_), .action = (action_), .reload_class = (reload)
#define FROM_XML(shape_, family_, reload, arg, class_name)                       \
    .shape = (shape_), .family = &(family_), .reload_class = (reload),          \
    .out_arg = (arg), .out_class = (class_name)
#define OWN_FN(fn, reload) .shape = OWN, .own = (fn), .reload_class = (reload)

/* Starting, stopping, building, deleting or rescanning a pool changes
 * which volumes there are: the Volume class is reloaded after them.  A
 * deleted volume needs no reload: the agent finds its target gone. */
static const struct agent_method method_table[] = {
    { "Node", "domainDefineXML", FROM_XML(DEFINE_XML, drv_domains, NULL, "domain", "Domain") },
    { "Node", "domainCreateXML", FROM_XML(CREATE_XML, drv_domains, NULL, "domain", "Domain") },
    { "Node", "storagePoolDefineXML", FROM_XML(DEFINE_XML, drv_pools, NULL, "pool", "Pool") },
    /* A started pool brings its volumes along. */
    { "Node", "storagePoolCreateXML", FROM_XML(CREATE_XML, drv_pools, "Volume", "pool", "Pool") },
    { "Node", "networkDefineXML", FROM_XML(DEFINE_XML, drv_networks, NULL, "network", "Network") },
    { "Node", "networkCreateXML", FROM_XML(CREATE_XML, drv_networks, NULL, "network", "Network") },
    { "Node", "findStoragePoolSources", OWN_FN(node_find_pool_sources, NULL) },
    { "Node", "getCapabilities", OWN_FN(node_get_capabilities, NULL) },
    { "Node", "restore", OWN_FN(node_restore, "Domain") },

    { "Domain", "create", FAMILY(ACT_FLAGS, drv_domains, DRV_CREATE, NULL) },
    { "Domain", "destroy", FAMILY(ACT, drv_domains, DRV_DESTROY, NULL) },
    { "Domain", "undefine", FAMILY(ACT, drv_domains, DRV_UNDEFINE, NULL) },
    { "Domain", "suspend", FAMILY(ACT, drv_domains, DRV_SUSPEND, NULL) },
    { "Domain", "resume", FAMILY(ACT, drv_domains, DRV_RESUME, NULL) },
    { "Domain", "save", OWN_FN(domain_save, NULL) },
    { "Domain", "shutdown", FAMILY(ACT, drv_domains, DRV_SHUTDOWN, NULL) },
    { "Domain", "reboot", FAMILY(ACT, drv_domains, DRV_REBOOT, NULL) },
    { "Domain", "getXMLDesc", FAMILY(GET_XML, drv_domains, 0, NULL) },
    { "Domain", "migrate", OWN_FN(domain_migrate, NULL) },
    { "Domain", "reset", FAMILY(ACT, drv_domains, DRV_RESET, NULL) },
    { "Domain", "managedSave", FAMILY(ACT, drv_domains, DRV_MANAGED_SAVE, NULL) },
    { "Domain", "setAutostart", FAMILY(SET_AUTOSTART, drv_domains, 0, NULL) },
    { "Domain", "attachDevice", OWN_FN(domain_attach_device, NULL) },
    { "Domain", "detachDevice", OWN_FN(domain_detach_device, NULL) },
    { "Domain", "setVcpus", OWN_FN(domain_set_vcpus, NULL) },
    { "Domain", "setMemory", OWN_FN(domain_set_memory, NULL) },

    { "Pool", "getXMLDesc", FAMILY(GET_XML, drv_pools, 0, NULL) },
    { "Pool", "create", FAMILY(ACT, drv_pools, DRV_CREATE, "Volume") },
    { "Pool", "build", FAMILY(ACT_FLAGS, drv_pools, DRV_BUILD, "Volume") },
    { "Pool", "destroy", FAMILY(ACT, drv_pools, DRV_DESTROY, "Volume") },
    { "Pool", "delete", FAMILY(ACT_FLAGS, drv_pools, DRV_DELETE, "Volume") },
    { "Pool", "undefine", FAMILY(ACT, drv_pools, DRV_UNDEFINE, NULL) },
    { "Pool", "createVolumeXML", OWN_FN(pool_create_volume_xml, "Volume") },
    { "Pool", "refresh", FAMILY(ACT, drv_pools, DRV_REFRESH, "Volume") },
    { "Pool", "createVolume", OWN_FN(pool_create_volume, "Volume") },

    { "Volume", "getXMLDesc", FAMILY(GET_XML, drv_volumes, 0, NULL) },
    { "Volume", "delete", FAMILY(ACT, drv_volumes, DRV_DELETE, NULL) },
    { "Volume", "wipe", FAMILY(ACT, drv_volumes, DRV_WIPE, NULL) },
    { "Volume", "resize", OWN_FN(volume_resize, NULL) },
    { "Volume", "clone", OWN_FN(volume_clone, NULL) },

    { "Network", "getXMLDesc", FAMILY(GET_XML, drv_networks, 0, NULL) },
    { "Network", "create", FAMILY(ACT, drv_networks, DRV_CREATE, NULL) },
    { "Network", "destroy", FAMILY(ACT, drv_networks, DRV_DESTROY, NULL) },
    { "Network", "undefine", FAMILY(ACT, drv_networks, DRV_UNDEFINE, NULL) },
    { "Network", "setAutostart", FAMILY(SET_AUTOSTART, drv_networks, 0, NULL) },
    { "Network", "dhcpLeases", OWN_FN(network_dhcp_leases, NULL) },

    { "Interface", "getXMLDesc", FAMILY(GET_XML, drv_interfaces, 0, NULL) },
    { "Interface", "create", FAMILY(ACT, drv_interfaces, DRV_CREATE, NULL) },
    { "Interface", "destroy", FAMILY(ACT, drv_interfaces, DRV_DESTROY, NULL) },
};

#define NMETHODS (sizeof(method_table) / sizeof(method_table[0]))

const struct agent_method *
agent_find_method(const char *class_name, const char *method_name)
{
    size_t i;

    for (i = 0; i < NMETHODS; i++)
        if (strcmp(method_table[i].class_name, class_name) == 0 &&
            strcmp(method_table[i].method_name, method_name) == 0)
            return &method_table[i];
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

int
agent_run_method(const struct agent_method *m, struct method_call *call, qmf_error *err)
{
    struct drv_conn *c = call->a->dconn;
    uint32_t flags = (uint32_t)arg_uint(call, "flags");
    char *text = NULL;

    call->reload_class = m->reload_class;
    switch (m->shape) {
    case ACT:
        return drv_act(c, m->family, m->action, call->object_key, 0, err);
    case ACT_FLAGS:
        return drv_act(c, m->family, m->action, call->object_key, flags, err);
    case SET_AUTOSTART:
        return drv_set_autostart(c, m->family, call->object_key,
                                 arg_bool(call, "autostart"), err);
    case GET_XML:
        if (drv_get_xml(c, m->family, call->object_key, flags, &text, err) != 0)
            return -1;
        out_text(call, "description", text);
        return 0;
    case DEFINE_XML:
    case CREATE_XML:
        if ((m->shape == DEFINE_XML
                 ? drv_define_xml(c, m->family, arg_string(call, "xmlDesc"), &text, err)
                 : drv_create_xml(c, m->family, arg_string(call, "xmlDesc"), flags, &text,
                                  err)) != 0)
            return -1;
        out_created(call, m->out_arg, m->out_class, text);
        return 0;
    case OWN:
        break;
    }
    return m->own(call, err);
}
