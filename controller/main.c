/*
 * virtbus: the controller CLI, virsh for a fleet.  main() parses the global
 * flags, reads the configuration and hands over to one command of the
 * tables (commands.c: one table per cmd-*.c file).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "controller/ctl.h"
#include "virtbus_version.h"

/* -c NAME, then $VIRTBUS_BROKER, then the configured default, each an
 * alias or a URL; then the built-in default. */
static int
resolve_broker(struct ctl_ctx *ctx, const char *name)
{
    qmf_error err;

    if (name == NULL && getenv("VIRTBUS_BROKER") && *getenv("VIRTBUS_BROKER"))
        name = getenv("VIRTBUS_BROKER");
    if (ctl_config_broker_url(&ctx->config, name, &ctx->url, &err) != 0) {
        ctl_warnx("%s", err.text);
        return CTL_EXIT_USAGE;
    }
    ctx->default_broker = ctx->url == NULL;
    if (ctx->default_broker)
        ctx->url = qmf_xstrdup(CTL_DEFAULT_BROKER);
    /* A URL nothing can connect to is a bad command line, not a failure. */
    if (bus_url_check(ctx->url, &err) != 0) {
        ctl_warnx("%s", err.text);
        return CTL_EXIT_USAGE;
    }
    ctx->url_shown = bus_url_redact(ctx->url);
    return CTL_EXIT_OK;
}

static int
parse_timeout(const char *text, unsigned *ms)
{
    char *end;
    double secs = strtod(text, &end);

    if (end == text || *end != '\0' || !(secs > 0) || secs > CTL_CONFIG_MAX_TIMEOUT) {
        ctl_warnx("--timeout: expected seconds (up to %d), got '%s'",
                  CTL_CONFIG_MAX_TIMEOUT, text);
        return CTL_EXIT_USAGE;
    }
    *ms = (unsigned)(secs * 1000);
    return CTL_EXIT_OK;
}

/* Colour on a terminal that can show it, unless $NO_COLOR (any value but
 * empty, no-color.org) says no; --color always or never decides alone. */
static bool
want_colour(const char *when, int fd)
{
    const char *term = getenv("TERM"), *no = getenv("NO_COLOR");

    if (when && strcmp(when, "always") == 0)
        return true;
    if (when && strcmp(when, "never") == 0)
        return false;
    return isatty(fd) && !(no && *no) && !(term && strcmp(term, "dumb") == 0);
}

/* The schema, the configuration and the broker (unless the command needs
 * none), the timeout, the event loop. */
static int
setup(struct ctl_ctx *ctx, bool offline, const struct ctl_args *a)
{
    qmf_error err;
    int rc;

    ctx->schema = schema_load_builtin(&err);
    if (ctx->schema == NULL) {
        ctl_warnx("%s", err.text);
        return CTL_EXIT_FAILED;
    }
    ctx->progress = !ctx->quiet && isatty(STDERR_FILENO);
    ctl_config_defaults(&ctx->config);
    if (!offline) {
        if (ctl_config_load_default(&ctx->config, &err) != 0) {
            ctl_warnx("%s", err.text);
            return CTL_EXIT_USAGE;
        }
        if ((rc = resolve_broker(ctx, a->connect)) != 0)
            return rc;
    }
    ctx->timeout_ms = ctx->config.timeout * 1000;
    ctx->presence_window_s = ctx->config.presence_window;
    ctx->presence_reuse_ms = ctx->config.presence_reuse_ms;
    ctx->fleet_retention_s = ctx->config.fleet_retention;
    ctx->fleet_reuse_ms = CTL_FLEET_REUSE_MS;
    if (a->timeout && (rc = parse_timeout(a->timeout, &ctx->timeout_ms)) != 0)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    /* A line at a time, into a pipe too: the per-node lines on stdout must
     * come out before the summary on stderr in `2>&1 | ...`.  Into a pipe,
     * values are single fields for awk (--raw on a terminal). */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!isatty(STDOUT_FILENO))
        ctx->raw = true;
    ctx->colour_out = want_colour(a->color, STDOUT_FILENO);
    ctx->colour_err = want_colour(a->color, STDERR_FILENO);
    /* The bus hands connections over from a connect thread. */
    if (evthread_use_pthreads() != 0 || (ctx->base = event_base_new()) == NULL) {
        ctl_warnx("cannot create the event loop");
        return CTL_EXIT_FAILED;
    }
    return CTL_EXIT_OK;
}

/* The program's, and the schema package it speaks. */
static void
print_version(const struct ctl_ctx *ctx)
{
    if (ctx->json) {
        qmf_value *doc = qmf_map();

        qmf_map_set(doc, "version", qmf_string(VIRTBUS_VERSION));
        qmf_map_set(doc, "package", qmf_string(SCHEMA_PACKAGE));
        ctl_print_json(doc);
        qmf_free(doc);
    } else {
        printf("virtbus %s\n", VIRTBUS_VERSION);
    }
}

static void
teardown(struct ctl_ctx *ctx)
{
    virtbus_console_close_wait(ctx->console, 1000);
    if (ctx->base)
        event_base_free(ctx->base);
    schema_free(ctx->schema);
    ctl_config_free(&ctx->config);
    free(ctx->url);
    free(ctx->url_shown);
}

int
main(int argc, char **argv)
{
    static char help[] = "help";
    struct ctl_ctx ctx = { 0 };
    const struct ctl_cmd_entry *cmd;
    struct ctl_args args;
    char **words = ctl_args_hoist(argc, argv, &argc);
    bool no_command = words[0] == NULL;
    int rc;

    if (no_command)
        words[0] = help;
    if ((cmd = ctl_find_command(words[0])) == NULL) {
        ctl_unknown_command(words[0]);
        free(words);
        return CTL_EXIT_USAGE;
    }
    if ((rc = ctl_args_parse(&ctx, cmd, argc, words, &args)) == 0) {
        if (args.version) {
            print_version(&ctx);
        } else if (no_command && !args.help) {
            ctl_help_print(stderr);
            rc = CTL_EXIT_USAGE;
        } else if ((rc = setup(&ctx, args.help || (cmd->accepts & CTL_OFFLINE), &args)) == 0) {
            if (args.help && no_command)
                ctl_help_print(stdout);
            else if (args.help)
                ctl_help_command(cmd, ctx.schema);
            else
                rc = cmd->exec(&ctx, cmd, &args);
        }
        ctl_args_free(&args);
    }
    teardown(&ctx);
    free(words);
    return rc;
}
