/*
 * The libvirt backend's networks: the family rows of virtual networks and
 * host interfaces, their org.libvirt property maps, and DHCP leases, the
 * one Network action that fits no family shape.
 */
#include "drivers/libvirt/libvirt_impl.h"

#include <stdlib.h>
#include <string.h>

/* ---- network inventory ---- */

static int
drv_lv_network_values(struct drv_conn *c, void *obj, const void *ctx,
                      qmf_value **values, qmf_error *err)
{
    static const char *const exprs[] = {
        "string(/network/bridge/@name)",
        "string(/network/forward/@mode)",
        "string(count(/network/forward))",
    };
    virNetworkPtr net = obj;
    char uuid[VIR_UUID_STRING_BUFLEN], *xml, *facts[3];
    int active, persistent, autostart;
    const char *name, *mode;
    qmf_value *m;

    if (virNetworkGetUUIDString(net, uuid) < 0 ||
        (name = virNetworkGetName(net)) == NULL ||
        (active = virNetworkIsActive(net)) < 0 ||
        (persistent = virNetworkIsPersistent(net)) < 0 ||
        virNetworkGetAutostart(net, &autostart) < 0 ||
        (xml = virNetworkGetXMLDesc(net, 0)) == NULL)
        return drv_lv_fail(c, err);
    if (drv_lv_xpath_strings(xml, exprs, facts, 3, err) < 0) {
        free(xml);
        return -1;
    }
    free(xml);

    /* libvirt's defaults: <forward/> without a mode is NAT, no <forward>
     * at all an isolated network. */
    if (facts[1][0] != '\0')
        mode = facts[1];
    else if (strcmp(facts[2], "0") != 0)
        mode = "nat";
    else
        mode = "none";

    m = qmf_map();
    qmf_map_set(m, "uuid", qmf_string(uuid));
    qmf_map_set(m, "name", qmf_string(name));
    qmf_map_set(m, "active", qmf_bool(active == 1));
    qmf_map_set(m, "persistent", qmf_bool(persistent == 1));
    qmf_map_set(m, "autostart", qmf_bool(autostart != 0));
    drv_lv_set_optional(m, "bridge", facts[0]);
    qmf_map_set(m, "forwardMode", qmf_string(mode));
    drv_lv_free_strings(facts, 3);
    *values = m;
    return 0;
}

/* ---- DHCP leases ---- */

static const char *
drv_lv_or_empty(const char *s)
{
    return s != NULL ? s : "";
}

/* Every key is always there, "" (or 0) where libvirt knows nothing. */
static qmf_value *
drv_lv_lease_values(const virNetworkDHCPLease *l)
{
    qmf_value *m = qmf_map();

    qmf_map_set(m, "iface", qmf_string(drv_lv_or_empty(l->iface)));
    qmf_map_set(m, "expiryTime", qmf_i64(l->expirytime));
    qmf_map_set(m, "type", qmf_string(l->type == VIR_IP_ADDR_TYPE_IPV6 ? "ipv6" : "ipv4"));
    qmf_map_set(m, "mac", qmf_string(drv_lv_or_empty(l->mac)));
    qmf_map_set(m, "iaid", qmf_string(drv_lv_or_empty(l->iaid)));
    qmf_map_set(m, "ipaddr", qmf_string(drv_lv_or_empty(l->ipaddr)));
    qmf_map_set(m, "prefix", qmf_u32(l->prefix));
    qmf_map_set(m, "hostname", qmf_string(drv_lv_or_empty(l->hostname)));
    qmf_map_set(m, "clientid", qmf_string(drv_lv_or_empty(l->clientid)));
    return m;
}

int
drv_network_dhcp_leases(struct drv_conn *c, const char *uuid, const char *mac,
                        qmf_value **leases, qmf_error *err)
{
    virNetworkDHCPLeasePtr *l = NULL;
    virNetworkPtr net;
    int i, n;

    *leases = NULL;
    if ((net = drv_lv_lookup(c, &drv_networks, uuid, err)) == NULL)
        return -1;
    if ((n = virNetworkGetDHCPLeases(net, mac, &l, 0)) < 0) {
        drv_lv_fail(c, err);
        virNetworkFree(net);
        return -1;
    }
    *leases = qmf_list();
    for (i = 0; i < n; i++) {
        qmf_list_append(*leases, drv_lv_lease_values(l[i]));
        virNetworkDHCPLeaseFree(l[i]);
    }
    free(l);
    virNetworkFree(net);
    return 0;
}

/* ---- host interfaces ---- */

static int
drv_lv_interface_values(struct drv_conn *c, void *obj, const void *ctx,
                        qmf_value **values, qmf_error *err)
{
    virInterfacePtr iface = obj;
    const char *name;
    int active;
    qmf_value *m;

    if ((name = virInterfaceGetName(iface)) == NULL ||
        (active = virInterfaceIsActive(iface)) < 0)
        return drv_lv_fail(c, err);
    m = qmf_map();
    qmf_map_set(m, "name", qmf_string(name));
    drv_lv_set_optional(m, "mac", virInterfaceGetMACString(iface));
    qmf_map_set(m, "active", qmf_bool(active == 1));
    *values = m;
    return 0;
}

DRV_LV_LOOKUP_THUNK(virNetworkLookupByUUIDString)
DRV_LV_OBJ_THUNK(virNetworkFree)
DRV_LV_UUID_THUNK(virNetworkGetUUIDString)
DRV_LV_LIST_ALL_THUNK(virConnectListAllNetworks, virConnectPtr, virNetworkPtr)
DRV_LV_XML_DESC_THUNK(virNetworkGetXMLDesc)
DRV_LV_FROM_XML_THUNK(virNetworkDefineXML)
DRV_LV_FROM_XML_THUNK(virNetworkCreateXML)
DRV_LV_SET_AUTOSTART_THUNK(virNetworkSetAutostart)
DRV_LV_OBJ_THUNK(virNetworkCreate)
DRV_LV_OBJ_THUNK(virNetworkDestroy)
DRV_LV_OBJ_THUNK(virNetworkUndefine)

const struct drv_family drv_networks = {
    .name = "network",
    .key_name = "uuid",
    .label = "network with uuid",
    .not_found = VIR_ERR_NO_NETWORK,
    .lookup = drv_lv_call_virNetworkLookupByUUIDString,
    .free = drv_lv_call_virNetworkFree,
    .uuid = drv_lv_call_virNetworkGetUUIDString,
    .list_all = drv_lv_call_virConnectListAllNetworks,
    .values = drv_lv_network_values,
    .xml_desc = drv_lv_call_virNetworkGetXMLDesc,
    .define_xml = drv_lv_call_virNetworkDefineXML,
    .create_xml = drv_lv_call_virNetworkCreateXML,
    .set_autostart = drv_lv_call_virNetworkSetAutostart,
    .act = {
        [DRV_CREATE] = drv_lv_call_virNetworkCreate,
        [DRV_DESTROY] = drv_lv_call_virNetworkDestroy,
        [DRV_UNDEFINE] = drv_lv_call_virNetworkUndefine,
    },
};

DRV_LV_LOOKUP_THUNK(virInterfaceLookupByName)
DRV_LV_OBJ_THUNK(virInterfaceFree)
DRV_LV_KEY_THUNK(virInterfaceGetName)
DRV_LV_LIST_ALL_THUNK(virConnectListAllInterfaces, virConnectPtr, virInterfacePtr)
DRV_LV_XML_DESC_THUNK(virInterfaceGetXMLDesc)
DRV_LV_OBJ_FLAGS_THUNK(virInterfaceCreate)
DRV_LV_OBJ_FLAGS_THUNK(virInterfaceDestroy)

const struct drv_family drv_interfaces = {
    .name = "interface",
    .key_name = "name",
    .label = "interface",
    .not_found = VIR_ERR_NO_INTERFACE,
    .lookup = drv_lv_call_virInterfaceLookupByName,
    .free = drv_lv_call_virInterfaceFree,
    .key = drv_lv_call_virInterfaceGetName,
    .list_all = drv_lv_call_virConnectListAllInterfaces,
    .values = drv_lv_interface_values,
    .xml_desc = drv_lv_call_virInterfaceGetXMLDesc,
    .act_flags = {
        [DRV_CREATE] = drv_lv_call_virInterfaceCreate,
        [DRV_DESTROY] = drv_lv_call_virInterfaceDestroy,
    },
};
