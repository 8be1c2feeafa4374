/*
 * Domain verbs, as virsh names them: one table line each (class, method,
 * which positionals and options become which method arguments).  Each
 * acts on domains by name or UUID wherever they live, or on a --where
 * selection of the targeted nodes.
 */
#include "controller/ctl.h"

#include <stdlib.h>
#include <string.h>

/* virDomainMigrateFlags */
#define MIGRATE_LIVE 1
#define MIGRATE_PERSIST_DEST 8
#define MIGRATE_UNDEFINE_SOURCE 16

/*
 * A node's own libvirt URI as seen from another host: the driver with
 * ssh (or the transport it names, unless unix) to the node's hostname,
 * e.g. qemu:///system on hv2 -> qemu+ssh://hv2.example/system.
 */
static char *
remote_uri(const char *uri, const char *host)
{
    const char *sep = uri ? strstr(uri, "://") : NULL, *path, *plus;
    char *driver, *transport, *out;

    if (sep == NULL)
        return NULL;
    path = strchr(sep + 3, '/');
    plus = memchr(uri, '+', (size_t)(sep - uri));
    driver = qmf_xstrndup(uri, (size_t)((plus ? plus : sep) - uri));
    transport = plus ? qmf_xstrndup(plus + 1, (size_t)(sep - plus - 1)) : qmf_xstrdup("ssh");
    if (strcmp(transport, "unix") == 0) {
        free(transport);
        transport = qmf_xstrdup("ssh");
    }
    out = qmf_xasprintf("%s+%s://%s%s", driver, transport, host, path ? path : "/");
    free(driver);
    free(transport);
    return out;
}

static int
migrate_prepare(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, const struct ctl_args *a,
                const struct ctl_nodes *nodes, qmf_value *args)
{
    const char *to = ctl_args_get(a, e, "to"), *host;
    const struct virtbus_agent *dest;
    uint32_t flags = 0;
    char *uri;

    if ((to != NULL) == (ctl_args_get(a, e, "to-uri") != NULL))
        return ctl_usage(e, "name the destination with either --to NODE or --to-uri URI");
    flags |= ctl_args_get(a, e, "offline") ? 0 : MIGRATE_LIVE;
    flags |= ctl_args_get(a, e, "persistent") ? MIGRATE_PERSIST_DEST : 0;
    flags |= ctl_args_get(a, e, "undefinesource") ? MIGRATE_UNDEFINE_SOURCE : 0;
    qmf_map_set(args, "flags", qmf_u32(flags));
    if (to == NULL)
        return CTL_EXIT_OK;
    if ((dest = ctl_nodes_find(&nodes->presence, to)) == NULL || !dest->up) {
        ctl_warnx("migrate: destination node '%s' is %s", to, dest ? "down" : "unknown");
        return CTL_EXIT_FAILED;
    }
    host = qmf_map_get_string(dest->attrs, "hostname");
    uri = remote_uri(qmf_map_get_string(dest->attrs, "uri"), host && *host ? host : to);
    if (uri == NULL) {
        ctl_warnx("migrate: node '%s' publishes no libvirt URI; use --to-uri", to);
        return CTL_EXIT_FAILED;
    }
    qmf_map_set(args, "destinationUri", qmf_string(uri));
    free(uri);
    return CTL_EXIT_OK;
}

static const struct ctl_option start_options[] = {
    { "paused", 0, NULL, "leave the domain paused", "flags=1" },
    { 0 },
};
/* Applied in this order: --config alone is the definition only. */
static const struct ctl_option device_options[] = {
    { "config", 0, NULL, "change the persistent definition", "config=true live=false" },
    { "live", 0, NULL, "change the running domain (the default)", "live=true" },
    { "persistent", 0, NULL, "both: the running domain and its definition",
      "live=true config=true" },
    { 0 },
};
static const struct ctl_option xml_options[] = {
    { "inactive", 0, NULL, "the definition used at next boot", "flags=2" },
    { 0 },
};
static const struct ctl_option migrate_options[] = {
    { "to", 0, "NODE", "the destination node (its URI, made remote over ssh)", NULL },
    { "to-uri", 0, "URI", "the destination libvirt URI, as is", "destinationUri=%s" },
    { "offline", 0, NULL, "not live: the domain pauses while it moves", NULL },
    { "persistent", 0, NULL, "define the domain on the destination", NULL },
    { "undefinesource", 0, NULL, "undefine it on the source", NULL },
    { "dname", 0, "NAME", "its new name on the destination", "dname=%s" },
    { "bandwidth", 0, "MIB", "bandwidth limit in MiB/s", "bandwidth=%s" },
    { 0 },
};

const struct ctl_cmd_entry ctl_cmds_domain[] = {
    CTL_VERB("start", "DOMAIN...", "start (boot) defined domains", start_options,
             .class_name = "Domain", .method = "create"),
    CTL_VERB("shutdown", "DOMAIN...", "ask domains to shut down", NULL,
             .class_name = "Domain", .method = "shutdown"),
    CTL_VERB("destroy", "DOMAIN...", "stop domains at once (power off)", NULL,
             .class_name = "Domain", .method = "destroy",
             .flags = CTL_VERB_DESTRUCTIVE),
    CTL_VERB("reboot", "DOMAIN...", "ask domains to reboot", NULL,
             .class_name = "Domain", .method = "reboot"),
    CTL_VERB("reset", "DOMAIN...", "reset domains (the reset button)", NULL,
             .class_name = "Domain", .method = "reset",
             .flags = CTL_VERB_DESTRUCTIVE),
    CTL_VERB("suspend", "DOMAIN...", "pause domains", NULL,
             .class_name = "Domain", .method = "suspend"),
    CTL_VERB("resume", "DOMAIN...", "resume paused domains", NULL,
             .class_name = "Domain", .method = "resume"),
    CTL_VERB("managedsave", "DOMAIN...", "save domains' state and stop them; start resumes",
             NULL, .class_name = "Domain", .method = "managedSave"),
    CTL_VERB("undefine", "DOMAIN...", "remove domains' persistent definitions", NULL,
             .class_name = "Domain", .method = "undefine",
             .flags = CTL_VERB_DESTRUCTIVE),
    CTL_VERB("define", "-n NODE FILE", "define a domain from an XML file on one node", NULL,
             .class_name = "Node", .method = "domainDefineXML", .params = "<xmlDesc",
             .flags = CTL_VERB_NODE),
    CTL_VERB("create", "-n NODE FILE", "create and start a transient domain from XML",
             start_options, .class_name = "Node", .method = "domainCreateXML",
             .params = "<xmlDesc", .flags = CTL_VERB_NODE),
    CTL_VERB("migrate", "DOMAIN --to NODE | --to-uri URI", "migrate a domain (live by default)",
             migrate_options, .class_name = "Domain", .method = "migrate",
             .flags = CTL_VERB_ONE, .prepare = migrate_prepare),
    CTL_VERB("attach-device", "DOMAIN FILE", "attach a device described by an XML file",
             device_options, .class_name = "Domain", .method = "attachDevice",
             .params = "<xmlDesc", .flags = CTL_VERB_ONE),
    CTL_VERB("detach-device", "DOMAIN FILE", "detach the device an XML file describes",
             device_options, .class_name = "Domain", .method = "detachDevice",
             .params = "<xmlDesc", .flags = CTL_VERB_ONE),
    CTL_VERB("setvcpus", "DOMAIN COUNT", "change the number of virtual CPUs in use", NULL,
             .class_name = "Domain", .method = "setVcpus", .params = "count",
             .flags = CTL_VERB_ONE),
    CTL_VERB("setmem", "DOMAIN SIZE", "change a domain's memory (KiB, or 2G, 512M ...)", NULL,
             .class_name = "Domain", .method = "setMemory", .params = "memory",
             .flags = CTL_VERB_ONE),
    CTL_VERB("autostart", "DOMAIN...", "start domains at host boot (--disable: not)",
             ctl_autostart_options, .class_name = "Domain", .method = "setAutostart",
             .preset = "autostart=true"),
    CTL_VERB("save", "DOMAIN FILE", "save a domain's state to a file on its host and stop it",
             NULL, .class_name = "Domain", .method = "save", .params = "filename",
             .flags = CTL_VERB_ONE),
    CTL_VERB("restore", "-n NODE FILE", "restore a domain saved to a file on that node", NULL,
             .class_name = "Node", .method = "restore", .params = "filename",
             .flags = CTL_VERB_NODE),
    CTL_VERB("dumpxml", "DOMAIN...", "print domains' XML descriptions", xml_options,
             .class_name = "Domain", .method = "getXMLDesc", .print = "description"),
    { 0 },
};
