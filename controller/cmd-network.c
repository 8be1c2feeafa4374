/*
 * Network and host interface verbs, as virsh names them; one table line
 * each.
 */
#include "controller/ctl.h"

static const struct ctl_option xml_options[] = {
    { "inactive", 0, NULL, "the definition used at next start", "flags=1" },
    { 0 },
};
static const struct ctl_option leases_options[] = {
    { "mac", 0, "MAC", "only the leases of this MAC address", "mac=%s" },
    { 0 },
};

const struct ctl_cmd_entry ctl_cmds_network[] = {
    CTL_VERB("net-start", "NETWORK...", "start defined networks", NULL,
             .class_name = "Network", .method = "create"),
    CTL_VERB("net-destroy", "NETWORK...", "stop networks", NULL,
             .class_name = "Network", .method = "destroy",
             .flags = CTL_VERB_DESTRUCTIVE),
    CTL_VERB("net-define", "-n NODE FILE", "define a network from an XML file on one node", NULL,
             .class_name = "Node", .method = "networkDefineXML", .params = "<xmlDesc",
             .flags = CTL_VERB_NODE),
    CTL_VERB("net-create", "-n NODE FILE", "create and start a transient network from XML",
             NULL, .class_name = "Node", .method = "networkCreateXML", .params = "<xmlDesc",
             .flags = CTL_VERB_NODE),
    CTL_VERB("net-undefine", "NETWORK...", "remove networks' definitions", NULL,
             .class_name = "Network", .method = "undefine",
             .flags = CTL_VERB_DESTRUCTIVE),
    CTL_VERB("net-autostart", "NETWORK...", "start networks at host boot (--disable: not)",
             ctl_autostart_options, .class_name = "Network", .method = "setAutostart",
             .preset = "autostart=true"),
    CTL_VERB("net-dumpxml", "NETWORK...", "print networks' XML descriptions", xml_options,
             .class_name = "Network", .method = "getXMLDesc", .print = "description"),
    CTL_VERB("net-dhcp-leases", "NETWORK...", "list the DHCP leases networks handed out",
             leases_options, .class_name = "Network", .method = "dhcpLeases",
             .print = "leases"),
    CTL_VERB("iface-start", "INTERFACE...", "bring host interfaces up", NULL,
             .class_name = "Interface", .method = "create"),
    CTL_VERB("iface-destroy", "INTERFACE...", "bring host interfaces down", NULL,
             .class_name = "Interface", .method = "destroy",
             .flags = CTL_VERB_DESTRUCTIVE),
    CTL_VERB("iface-dumpxml", "INTERFACE...", "print host interfaces' XML descriptions",
             xml_options, .class_name = "Interface", .method = "getXMLDesc",
             .print = "description"),
    { 0 },
};
