/*
 * The libvirt backend's network table: virtual networks and host
 * interfaces as org.libvirt property maps, and every action of the Network
 * and Interface classes, DHCP leases among them.
 */
#include "drivers/libvirt/libvirt_impl.h"

#include <stdlib.h>
#include <string.h>

/* ---- lookups ---- */

static virNetworkPtr
drv_lv_network_open(struct drv_conn *c, const char *uuid, qmf_error *err)
{
    uint8_t raw[16];
    virNetworkPtr net;

    if (drv_lv_check_alive(c, err) < 0)
        return NULL;
    if (uuid == NULL || !qmf_uuid_parse(uuid, raw)) {
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT, "no network with uuid '%s'",
                      uuid != NULL ? uuid : "");
        return NULL;
    }
    if ((net = virNetworkLookupByUUIDString(c->conn, uuid)) == NULL)
        drv_lv_fail_lookup(c, VIR_ERR_NO_NETWORK, "network with uuid", uuid, err);
    return net;
}

static virInterfacePtr
drv_lv_interface_open(struct drv_conn *c, const char *name, qmf_error *err)
{
    virInterfacePtr iface;

    if (drv_lv_check_alive(c, err) < 0)
        return NULL;
    if (name == NULL || *name == '\0') {
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT, "no interface with an empty name");
        return NULL;
    }
    if ((iface = virInterfaceLookupByName(c->conn, name)) == NULL)
        drv_lv_fail_lookup(c, VIR_ERR_NO_INTERFACE, "interface", name, err);
    return iface;
}

static void
drv_lv_network_free(void *obj)
{
    virNetworkFree(obj);
}

static void
drv_lv_interface_free(void *obj)
{
    virInterfaceFree(obj);
}

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

static int
drv_lv_network_list(struct drv_conn *c, qmf_value **list, qmf_error *err)
{
    virNetworkPtr *nets = NULL;
    int n;

    *list = NULL;
    if (drv_lv_check_alive(c, err) < 0)
        return -1;
    if ((n = virConnectListAllNetworks(c->conn, &nets, 0)) < 0)
        return drv_lv_fail(c, err);
    if (drv_lv_collect(c, (void **)nets, n, drv_lv_network_values, NULL,
                       drv_lv_network_free, VIR_ERR_NO_NETWORK, list, err) < 0) {
        qmf_free(*list);
        *list = NULL;
        return -1;
    }
    return 0;
}

static int
drv_lv_network_get(struct drv_conn *c, const char *uuid, qmf_value **values,
                   qmf_error *err)
{
    virNetworkPtr net;
    qmf_error e = { .code = QMF_OK };
    int rc;

    *values = NULL;
    if ((net = drv_lv_network_open(c, uuid, err)) == NULL)
        return -1;
    rc = drv_lv_network_values(c, net, NULL, values, &e);
    if (rc < 0 && e.code == (QMF_ERR_LIBVIRT | VIR_ERR_NO_NETWORK))
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT, "no network with uuid '%s'", uuid);
    else if (rc < 0 && err != NULL)
        *err = e;
    virNetworkFree(net);
    return rc;
}

/* ---- network actions ---- */

/* The UUID of a network libvirt just returned (malloc'd), and frees it. */
static int
drv_lv_network_uuid(struct drv_conn *c, virNetworkPtr net, char **uuid,
                    qmf_error *err)
{
    char buf[VIR_UUID_STRING_BUFLEN];
    int rc = 0;

    if (virNetworkGetUUIDString(net, buf) < 0)
        rc = drv_lv_fail(c, err);
    else
        *uuid = qmf_xstrdup(buf);
    virNetworkFree(net);
    return rc;
}

static int
drv_lv_network_define_xml(struct drv_conn *c, const char *xml, char **uuid,
                          qmf_error *err)
{
    virNetworkPtr net;

    *uuid = NULL;
    if (drv_lv_check_alive(c, err) < 0)
        return -1;
    if ((net = virNetworkDefineXML(c->conn, xml)) == NULL)
        return drv_lv_fail(c, err);
    return drv_lv_network_uuid(c, net, uuid, err);
}

static int
drv_lv_network_create_xml(struct drv_conn *c, const char *xml, char **uuid,
                          qmf_error *err)
{
    virNetworkPtr net;

    *uuid = NULL;
    if (drv_lv_check_alive(c, err) < 0)
        return -1;
    if ((net = virNetworkCreateXML(c->conn, xml)) == NULL)
        return drv_lv_fail(c, err);
    return drv_lv_network_uuid(c, net, uuid, err);
}

/* Runs one of libvirt's plain network actions on the network with uuid. */
static int
drv_lv_network_act(struct drv_conn *c, const char *uuid, int (*act)(virNetworkPtr),
                   qmf_error *err)
{
    virNetworkPtr net;
    int rc = 0;

    if ((net = drv_lv_network_open(c, uuid, err)) == NULL)
        return -1;
    if (act(net) < 0)
        rc = drv_lv_fail(c, err);
    virNetworkFree(net);
    return rc;
}

static int
drv_lv_network_create(struct drv_conn *c, const char *uuid, qmf_error *err)
{
    return drv_lv_network_act(c, uuid, virNetworkCreate, err);
}

static int
drv_lv_network_destroy(struct drv_conn *c, const char *uuid, qmf_error *err)
{
    return drv_lv_network_act(c, uuid, virNetworkDestroy, err);
}

static int
drv_lv_network_undefine(struct drv_conn *c, const char *uuid, qmf_error *err)
{
    return drv_lv_network_act(c, uuid, virNetworkUndefine, err);
}

static int
drv_lv_network_set_autostart(struct drv_conn *c, const char *uuid, bool autostart,
                             qmf_error *err)
{
    virNetworkPtr net;
    int rc = 0;

    if ((net = drv_lv_network_open(c, uuid, err)) == NULL)
        return -1;
    if (virNetworkSetAutostart(net, autostart ? 1 : 0) < 0)
        rc = drv_lv_fail(c, err);
    virNetworkFree(net);
    return rc;
}

static int
drv_lv_network_get_xml(struct drv_conn *c, const char *uuid, uint32_t flags,
                       char **xml, qmf_error *err)
{
    virNetworkPtr net;
    int rc = 0;

    *xml = NULL;
    if ((net = drv_lv_network_open(c, uuid, err)) == NULL)
        return -1;
    if ((*xml = virNetworkGetXMLDesc(net, flags)) == NULL)
        rc = drv_lv_fail(c, err);
    virNetworkFree(net);
    return rc;
}

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

static int
drv_lv_network_dhcp_leases(struct drv_conn *c, const char *uuid, const char *mac,
                           qmf_value **leases, qmf_error *err)
{
    virNetworkDHCPLeasePtr *l = NULL;
    virNetworkPtr net;
    int i, n;

    *leases = NULL;
    if ((net = drv_lv_network_open(c, uuid, err)) == NULL)
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

static int
drv_lv_interface_list(struct drv_conn *c, qmf_value **list, qmf_error *err)
{
    virInterfacePtr *ifaces = NULL;
    int n;

    *list = NULL;
    if (drv_lv_check_alive(c, err) < 0)
        return -1;
    if ((n = virConnectListAllInterfaces(c->conn, &ifaces, 0)) < 0)
        return drv_lv_fail(c, err);
    if (drv_lv_collect(c, (void **)ifaces, n, drv_lv_interface_values, NULL,
                       drv_lv_interface_free, VIR_ERR_NO_INTERFACE, list, err) < 0) {
        qmf_free(*list);
        *list = NULL;
        return -1;
    }
    return 0;
}

static int
drv_lv_interface_get(struct drv_conn *c, const char *name, qmf_value **values,
                     qmf_error *err)
{
    virInterfacePtr iface;
    qmf_error e = { .code = QMF_OK };
    int rc;

    *values = NULL;
    if ((iface = drv_lv_interface_open(c, name, err)) == NULL)
        return -1;
    rc = drv_lv_interface_values(c, iface, NULL, values, &e);
    if (rc < 0 && e.code == (QMF_ERR_LIBVIRT | VIR_ERR_NO_INTERFACE))
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT, "no interface '%s'", name);
    else if (rc < 0 && err != NULL)
        *err = e;
    virInterfaceFree(iface);
    return rc;
}

static int
drv_lv_interface_get_xml(struct drv_conn *c, const char *name, uint32_t flags,
                         char **xml, qmf_error *err)
{
    virInterfacePtr iface;
    int rc = 0;

    *xml = NULL;
    if ((iface = drv_lv_interface_open(c, name, err)) == NULL)
        return -1;
    if ((*xml = virInterfaceGetXMLDesc(iface, flags)) == NULL)
        rc = drv_lv_fail(c, err);
    virInterfaceFree(iface);
    return rc;
}

/* Runs virInterfaceCreate or virInterfaceDestroy on the named interface. */
static int
drv_lv_interface_act(struct drv_conn *c, const char *name,
                     int (*act)(virInterfacePtr, unsigned int), qmf_error *err)
{
    virInterfacePtr iface;
    int rc = 0;

    if ((iface = drv_lv_interface_open(c, name, err)) == NULL)
        return -1;
    if (act(iface, 0) < 0)
        rc = drv_lv_fail(c, err);
    virInterfaceFree(iface);
    return rc;
}

static int
drv_lv_interface_create(struct drv_conn *c, const char *name, qmf_error *err)
{
    return drv_lv_interface_act(c, name, virInterfaceCreate, err);
}

static int
drv_lv_interface_destroy(struct drv_conn *c, const char *name, qmf_error *err)
{
    return drv_lv_interface_act(c, name, virInterfaceDestroy, err);
}

const struct drv_network drv_lv_network = {
    .name = "libvirt",
    .network_list = drv_lv_network_list,
    .network_get = drv_lv_network_get,
    .network_define_xml = drv_lv_network_define_xml,
    .network_create_xml = drv_lv_network_create_xml,
    .network_create = drv_lv_network_create,
    .network_destroy = drv_lv_network_destroy,
    .network_undefine = drv_lv_network_undefine,
    .network_set_autostart = drv_lv_network_set_autostart,
    .network_get_xml = drv_lv_network_get_xml,
    .network_dhcp_leases = drv_lv_network_dhcp_leases,
    .interface_list = drv_lv_interface_list,
    .interface_get = drv_lv_interface_get,
    .interface_get_xml = drv_lv_interface_get_xml,
    .interface_create = drv_lv_interface_create,
    .interface_destroy = drv_lv_interface_destroy,
};
