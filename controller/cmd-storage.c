/*
 * Storage verbs, as virsh names them: pools by name or UUID, volumes by
 * name, path or key; one table line each.
 */
#include "controller/ctl.h"

static const struct ctl_option build_options[] = {
    { "no-overwrite", 0, NULL, "refuse to overwrite existing data", "flags=4" },
    { "overwrite", 0, NULL, "overwrite whatever is there", "flags=8" },
    { 0 },
};
static const struct ctl_option xml_options[] = {
    { "inactive", 0, NULL, "the definition used at next start", "flags=1" },
    { 0 },
};
static const struct ctl_option vol_create_options[] = {
    { "format", 0, "FORMAT", "volume format, e.g. raw (default) or qcow2", "format=%s" },
    { 0 },
};

const struct ctl_cmd_entry ctl_cmds_storage[] = {
    CTL_VERB("pool-start", "POOL...", "start defined pools", NULL,
             .class_name = "Pool", .method = "create"),
    CTL_VERB("pool-destroy", "POOL...", "stop pools (their data stays)", NULL,
             .class_name = "Pool", .method = "destroy",
             .flags = CTL_VERB_DESTRUCTIVE),
    CTL_VERB("pool-define", "-n NODE FILE", "define a pool from an XML file on one node", NULL,
             .class_name = "Node", .method = "storagePoolDefineXML", .params = "<xmlDesc",
             .flags = CTL_VERB_NODE),
    CTL_VERB("pool-create", "-n NODE FILE", "create and start a transient pool from XML", NULL,
             .class_name = "Node", .method = "storagePoolCreateXML", .params = "<xmlDesc",
             .flags = CTL_VERB_NODE),
    CTL_VERB("pool-undefine", "POOL...", "remove inactive pools' definitions", NULL,
             .class_name = "Pool", .method = "undefine",
             .flags = CTL_VERB_DESTRUCTIVE),
    CTL_VERB("pool-build", "POOL...", "build pools' storage (directory, volume group ...)",
             build_options, .class_name = "Pool", .method = "build"),
    CTL_VERB("pool-delete", "POOL...", "delete pools' storage: this destroys data", NULL,
             .class_name = "Pool", .method = "delete",
             .flags = CTL_VERB_DESTRUCTIVE),
    CTL_VERB("pool-refresh", "POOL...", "rescan pools for volumes", NULL,
             .class_name = "Pool", .method = "refresh"),
    CTL_VERB("pool-dumpxml", "POOL...", "print pools' XML descriptions", xml_options,
             .class_name = "Pool", .method = "getXMLDesc", .print = "description"),
    CTL_VERB("vol-create", "POOL NAME SIZE", "create a volume (SIZE in bytes, or 10G ...)",
             vol_create_options, .class_name = "Pool", .method = "createVolume",
             .params = "name capacity", .flags = CTL_VERB_ONE),
    CTL_VERB("vol-create-xml", "POOL FILE", "create a volume from an XML file", NULL,
             .class_name = "Pool", .method = "createVolumeXML", .params = "<xmlDesc",
             .flags = CTL_VERB_ONE),
    CTL_VERB("vol-delete", "VOLUME...", "delete volumes and their data", NULL,
             .class_name = "Volume", .method = "delete",
             .flags = CTL_VERB_DESTRUCTIVE),
    CTL_VERB("vol-clone", "VOLUME NAME", "copy a volume in its pool", NULL,
             .class_name = "Volume", .method = "clone", .params = "name",
             .flags = CTL_VERB_ONE),
    CTL_VERB("vol-resize", "VOLUME SIZE", "change a volume's capacity (bytes, or 20G ...)", NULL,
             .class_name = "Volume", .method = "resize", .params = "capacity",
             .flags = CTL_VERB_ONE),
    CTL_VERB("vol-wipe", "VOLUME...", "overwrite volumes' data with zeros", NULL,
             .class_name = "Volume", .method = "wipe",
             .flags = CTL_VERB_DESTRUCTIVE),
    CTL_VERB("vol-dumpxml", "VOLUME...", "print volumes' XML descriptions", NULL,
             .class_name = "Volume", .method = "getXMLDesc", .print = "description"),
    { 0 },
};
