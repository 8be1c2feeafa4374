/*
 * Every command of the CLI: the tables of the cmd-*.c files, in the
 * sections `virtbus help` lists them in.  Lookup (ctl_find_command) and
 * the guard's destructive verbs read them here.
 */
#include "controller/ctl.h"

const struct ctl_cmd_section ctl_sections[] = {
    { "Fleet", ctl_cmds_nodes },
    { NULL, ctl_cmds_query },
    { NULL, ctl_cmds_keeper },
    { "Domains", ctl_cmds_domain },
    { "Storage pools and volumes", ctl_cmds_storage },
    { "Networks and interfaces", ctl_cmds_network },
    { "Keys and credentials", ctl_cmds_key },
    { NULL, ctl_cmds_broker_setup },
    { "Any method, jobs, events", ctl_cmds_call },
    { NULL, ctl_cmds_job },
    { NULL, ctl_cmds_watch },
    { NULL, ctl_cmds_exporter },
    { NULL, ctl_cmds_schema },
    { NULL, ctl_cmds_help },
    { NULL, ctl_cmds_completion },
    { NULL, NULL },
};
