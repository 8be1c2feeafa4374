/*
 * virtbus: the controller CLI, virsh for a fleet.  main() parses the global
 * flags and hands over to one command of the table below.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "controller/ctl.h"

static const struct ctl_cmd_entry *const ctl_commands[] = {
    &ctl_cmd_nodes_entry,
    &ctl_cmd_list_entry,
    &ctl_cmd_start_entry,
    &ctl_cmd_shutdown_entry,
    &ctl_cmd_destroy_entry,
    &ctl_cmd_watch_entry,
    &ctl_cmd_schema_entry,
};
#define NCOMMANDS (sizeof(ctl_commands) / sizeof(ctl_commands[0]))

static void
usage(FILE *f)
{
    size_t i;

    fprintf(f,
        "usage: virtbus [-c BROKER_URL] [--json] [-q] [--timeout SECONDS] COMMAND [ARGS]\n"
        "\n"
        "  -c, --connect URL   broker URL (default $VIRTBUS_BROKER or " CTL_DEFAULT_BROKER ")\n"
        "      --json          machine-readable output, one JSON document\n"
        "  -q, --quiet         print only errors\n"
        "  -t, --timeout S     how long to wait for answers (default %d s)\n"
        "\ncommands:\n", CTL_DEFAULT_TIMEOUT_MS / 1000);
    for (i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %-28s %s\n", ctl_commands[i]->name,
                ctl_commands[i]->usage, ctl_commands[i]->summary);
    fprintf(f, "\nexit status: 0 all ok, 1 some failed, 2 usage, 3 some did not reply\n");
}

static const struct ctl_cmd_entry *
find_command(const char *name)
{
    size_t i;

    for (i = 0; i < NCOMMANDS; i++)
        if (strcmp(ctl_commands[i]->name, name) == 0)
            return ctl_commands[i];
    return NULL;
}

int
main(int argc, char **argv)
{
    static const struct option options[] = {
        { "connect", required_argument, NULL, 'c' },
        { "json", no_argument, NULL, 'j' },
        { "quiet", no_argument, NULL, 'q' },
        { "timeout", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct ctl_ctx ctx = { 0 };
    const struct ctl_cmd_entry *cmd;
    char *end;
    double secs;
    int ch, rc;

    ctx.url = getenv("VIRTBUS_BROKER") ? getenv("VIRTBUS_BROKER") : CTL_DEFAULT_BROKER;
    ctx.timeout_ms = CTL_DEFAULT_TIMEOUT_MS;
    /* '+': options after the command name belong to the command. */
    while ((ch = getopt_long(argc, argv, "+c:jqt:h", options, NULL)) != -1) {
        switch (ch) {
        case 'c':
            ctx.url = optarg;
            break;
        case 'j':
            ctx.json = true;
            break;
        case 'q':
            ctx.quiet = true;
            break;
        case 't':
            secs = strtod(optarg, &end);
            if (*end != '\0' || secs <= 0 || secs > 86400) {
                ctl_warnx("--timeout: expected seconds, got '%s'", optarg);
                return CTL_EXIT_USAGE;
            }
            ctx.timeout_ms = (unsigned)(secs * 1000);
            break;
        case 'h':
            usage(stdout);
            return CTL_EXIT_OK;
        default:
            usage(stderr);
            return CTL_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (strcmp(argv[optind], "help") == 0) {
        if (optind + 1 < argc && (cmd = find_command(argv[optind + 1])) != NULL) {
            printf("usage: virtbus %s %s\n  %s\n", cmd->name, cmd->usage, cmd->summary);
            return CTL_EXIT_OK;
        }
        usage(stdout);
        return CTL_EXIT_OK;
    }
    cmd = find_command(argv[optind]);
    if (cmd == NULL) {
        ctl_warnx("unknown command '%s' (try virtbus help)", argv[optind]);
        return CTL_EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* The bus hands connections over from a connect thread. */
    if (evthread_use_pthreads() != 0) {
        ctl_warnx("libevent has no pthreads support");
        return CTL_EXIT_FAILED;
    }
    ctx.base = event_base_new();
    if (ctx.base == NULL) {
        ctl_warnx("cannot create the event loop");
        return CTL_EXIT_FAILED;
    }
    argc -= optind;
    argv += optind;
    optind = 1;     /* commands parse their own flags with getopt */
    rc = cmd->exec(&ctx, argc, argv);
    virtbus_console_close(ctx.console);
    event_base_free(ctx.base);
    return rc;
}
