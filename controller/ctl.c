/* Helpers the CLI commands share: messages, exit statuses, connecting,
 * classes and expressions, send options and progress. */
#include "controller/ctl.h"

#include <signal.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "controller/lib/expr.h"

void
ctl_warnx(const char *fmt, ...)
{
    va_list ap;

    fputs("virtbus: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int
ctl_usage(const struct ctl_cmd_entry *e, const char *fmt, ...)
{
    va_list ap;

    if (fmt) {
        fprintf(stderr, "virtbus: %s: ", e->name);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    fprintf(stderr, "usage: virtbus %s%s%s\n(virtbus help %s for more)\n",
            e->name, *e->usage ? " " : "", e->usage, e->name);
    return CTL_EXIT_USAGE;
}

static int
exit_rank(int rc)
{
    switch (rc) {
    case CTL_EXIT_USAGE: return 4;
    case CTL_EXIT_BROKER: return 3;
    case CTL_EXIT_NO_REPLY: return 2;
    case CTL_EXIT_OK: return 0;
    default: return 1;
    }
}

int
ctl_exit_worse(int a, int b)
{
    return exit_rank(a) >= exit_rank(b) ? a : b;
}

int
ctl_exit_of(const qmf_error *err)
{
    switch (err->code) {
    case QMF_ERR_TRANSPORT: return CTL_EXIT_BROKER;
    case QMF_ERR_TIMEOUT: return CTL_EXIT_NO_REPLY;
    default: return CTL_EXIT_FAILED;
    }
}

int
ctl_fail(const qmf_error *err)
{
    ctl_warnx("%s", err->text);
    return ctl_exit_of(err);
}

const struct ctl_cmd_entry *
ctl_find_command(const char *name)
{
    const struct ctl_cmd_section *s;
    const struct ctl_cmd_entry *e;

    for (s = ctl_sections; s->entries; s++)
        for (e = s->entries; e->name; e++)
            if (strcmp(e->name, name) == 0)
                return e;
    return NULL;
}

/* Edits (insert, delete, substitute, swap two neighbours) from a to b,
 * counted up to CTL_SUGGEST_MAX + 1: command names are short. */
#define CTL_SUGGEST_MAX 2
#define CTL_NAME_MAX 32

static size_t
edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i, j;
    size_t d[CTL_NAME_MAX + 1][CTL_NAME_MAX + 1];

    if (la > CTL_NAME_MAX || lb > CTL_NAME_MAX)
        return CTL_SUGGEST_MAX + 1;
    for (i = 0; i <= la; i++)
        d[i][0] = i;
    for (j = 0; j <= lb; j++)
        d[0][j] = j;
    for (i = 1; i <= la; i++)
        for (j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

const char *
ctl_suggest_command(const char *name)
{
    const struct ctl_cmd_section *s;
    const struct ctl_cmd_entry *e;
    const char *best = NULL;
    size_t best_d = CTL_SUGGEST_MAX + 1, d;

    for (s = ctl_sections; s->entries; s++)
        for (e = s->entries; e->name; e++)
            if ((d = edit_distance(name, e->name)) < best_d) {
                best_d = d;
                best = e->name;
            }
    return best;
}

void
ctl_unknown_command(const char *name)
{
    const char *near = ctl_suggest_command(name);

    if (near != NULL)
        ctl_warnx("unknown command '%s'; did you mean '%s'? (virtbus help lists them)", name,
                  near);
    else
        ctl_warnx("unknown command '%s' (try virtbus help)", name);
}

/* mkdir -p, private: the cache says which nodes exist. */
static int
mkdir_parents(char *dir)
{
    char *p;

    for (p = strchr(dir + 1, '/'); ; p = strchr(p + 1, '/')) {
        if (p)
            *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            if (p)
                *p = '/';
            return -1;
        }
        if (p == NULL)
            return 0;
        *p = '/';
    }
}

/*
 * The broker part of a cache file's name: the URL without its password
 * (a cache file must not hold one), every byte but [A-Za-z0-9.-] as %XX,
 * so that two brokers never share a file.
 */
static char *
cache_name_of_url(const char *url_shown)
{
    char *out = qmf_xmalloc(3 * strlen(url_shown) + 1), *o = out;
    const char *p;

    for (p = url_shown; *p; p++) {
        if (isalnum((unsigned char)*p) || *p == '.' || *p == '-')
            *o++ = *p;
        else
            o += sprintf(o, "%%%02X", (unsigned char)*p);
    }
    *o = '\0';
    return out;
}

char *
ctl_cache_path(const struct ctl_ctx *ctx, const char *what, const char *suffix)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char *dir, *path, *name;

    if (xdg != NULL && xdg[0] == '/')
        dir = qmf_xasprintf("%s/virtbus", xdg);
    else if (home != NULL && home[0] == '/')
        dir = qmf_xasprintf("%s/.cache/virtbus", home);
    else
        return NULL;
    if (mkdir_parents(dir) != 0) {
        free(dir);
        return NULL;
    }
    name = cache_name_of_url(ctx->url_shown);
    path = qmf_xasprintf("%s/%s-%s%s.json", dir, what, name, suffix);
    free(name);
    free(dir);
    return path;
}

static void
on_interrupt(evutil_socket_t sig, short what, void *arg)
{
    struct ctl_ctx *ctx = arg;

    (void)sig;
    (void)what;
    virtbus_console_interrupt(ctx->console, true);
}

struct event *
ctl_interrupt_catch(struct ctl_ctx *ctx)
{
    struct event *ev;

    if (ctx->console == NULL || (ev = evsignal_new(ctx->base, SIGINT, on_interrupt, ctx)) == NULL)
        return NULL;
    event_add(ev, NULL);
    return ev;
}

bool
ctl_interrupt_release(struct ctl_ctx *ctx, struct event *ev)
{
    bool came = ctx->console && virtbus_console_interrupted(ctx->console);

    if (ev)
        event_free(ev);
    if (ctx->console)
        virtbus_console_interrupt(ctx->console, false);
    return came;
}

int
ctl_connect(struct ctl_ctx *ctx, bool presence, const char *const *watch_keys,
            const char *const *named_nodes)
{
    char window[32];
    char *cache, *fleet_cache;
    struct virtbus_console_options o = {
        .url = ctx->url,
        .tls = {
            .ca = ctx->config.tls_ca, .cert = ctx->config.tls_cert,
            .key = ctx->config.tls_key, .no_verify_hostname = !ctx->config.tls_verify_hostname,
        },
        .sasl = ctx->config.sasl == BUS_SASL_EXTERNAL ? VIRTBUS_SASL_EXTERNAL : VIRTBUS_SASL_PLAIN,
        .provisioned = ctx->config.provisioned,
        .read_only = ctx->config.read_only,
        .plain_answers = !ctx->config.seal_answers,
        .watch_keys = watch_keys,
        .presence = presence,
        .presence_window_s = ctx->presence_window_s,
        .presence_reuse_ms = ctx->presence_reuse_ms,
        .presence_nodes = named_nodes,
        .presence_no_summaries = ctx->presence_no_summaries || !ctx->config.presence_summaries,
        .fleet = presence && !ctx->no_fleet_memory,
        .fleet_retention_s = ctx->fleet_retention_s,
        .fleet_reuse_ms = ctx->fleet_reuse_ms,
    };
    struct ctl_identity id;
    size_t nissuers = qmf_list_len(ctx->config.agent_issuer_keys), i;
    const char **issuers = qmf_xcalloc(nissuers + 1, sizeof(*issuers));
    qmf_error err;

    /* The caller it signs as; none means unsigned requests, which agents
     * refuse unless configured not to (their answer says so). */
    if (ctl_identity_find(ctx, &id, false) != 0) {
        free(issuers);
        return CTL_EXIT_USAGE;
    }
    o.key_file = id.key_path;
    o.credential_file = id.credential_text != NULL ? id.credential_path : NULL;
    for (i = 0; i < nissuers; i++)
        issuers[i] = qmf_as_string(qmf_list_at(ctx->config.agent_issuer_keys, i));
    o.answer_issuer_keys = nissuers > 0 ? issuers : NULL;
    ctx->answers_checked = nissuers > 0;
    ctx->answers_sealed = id.key_path != NULL && ctx->config.seal_answers;
    /* A broker on the default port may not be the one meant: an empty
     * answer from it must not pass for an empty fleet unannounced. */
    if (ctx->default_broker && !ctx->quiet)
        ctl_warnx("no broker configured (-c, $VIRTBUS_BROKER or the configuration's "
                  "broker); using the default %s", ctx->url_shown);
    snprintf(window, sizeof(window), "-%us", ctx->presence_window_s);
    o.presence_cache = cache = presence ? ctl_cache_path(ctx, "presence", window) : NULL;
    o.fleet_cache = fleet_cache = presence ? ctl_cache_path(ctx, "fleet", "") : NULL;
    ctx->console = virtbus_console_open(ctx->base, &o, &err);
    free(cache);
    free(fleet_cache);
    free(issuers);
    ctl_identity_clear(&id);
    if (ctx->console == NULL) {
        ctl_warnx("%s", err.text);
        /* A URL that is no URL, or of no transport: a bad option. */
        if (err.code == QMF_ERR_INVALID_ARGS || err.code == QMF_ERR_NOT_IMPLEMENTED)
            return CTL_EXIT_USAGE;
        return ctl_exit_of(&err);
    }
    return CTL_EXIT_OK;
}

const struct schema_class *
ctl_find_class(const struct ctl_ctx *ctx, const char *name)
{
    size_t i;

    for (i = 0; i < ctx->schema->nclasses; i++)
        if (ctx->schema->classes[i].kind == SCHEMA_DATA &&
            strcasecmp(ctx->schema->classes[i].name, name) == 0)
            return &ctx->schema->classes[i];
    ctl_warnx("no class '%s' (virtbus schema lists them)", name);
    return NULL;
}

qmf_value *
ctl_compile_expr(const char *flag, const char *text, const struct schema_class *cls)
{
    qmf_value *pred;
    qmf_error err;
    unsigned col;
    char caret[1024];

    pred = virtbus_expr_compile(text, cls, &err);
    if (pred)
        return pred;
    ctl_warnx("%s: %s", flag, err.text);
    if ((col = virtbus_expr_error_column(&err)) > 0) {
        virtbus_expr_caret(text, col, caret, sizeof(caret));
        fputs(caret, stderr);
    }
    return NULL;
}

/* --batch N, or N% of n agents (at least one). */
static unsigned
batch_window(const char *batch, size_t n)
{
    char *end;
    unsigned long v;

    if (batch == NULL)
        return 0;
    v = strtoul(batch, &end, 10);
    if (*end == '%')
        v = (v * n + 99) / 100;
    return v ? (unsigned)v : 1;
}

static void
progress_cb(void *opaque, size_t sent, size_t answered, size_t failed, size_t expected)
{
    ctl_progress_update(opaque, sent, answered, failed, expected);
}

void
ctl_send_opts(struct ctl_ctx *ctx, const struct ctl_args *a, size_t n,
              const qmf_value *target, struct ctl_progress *p,
              struct virtbus_send_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->target = target;
    o->timeout_ms = ctx->timeout_ms;
    o->batch = batch_window(a->batch, n);
    o->batch_sleep_ms = a->batch_sleep_ms;
    if (ctx->progress) {
        o->progress = progress_cb;
        o->opaque = p;
    }
}

/* "12/50 answered, 1 failed", rewritten in place on stderr; with a
 * batch window, how many were sent too. */
void
ctl_progress_update(struct ctl_progress *p, size_t sent, size_t answered, size_t failed,
                    size_t expected)
{
    char window[48] = "";

    if (p == NULL)
        return;
    if (sent < expected)
        snprintf(window, sizeof(window), " (%zu sent)", sent);
    fprintf(stderr, "\r\033[K%s%s%zu/%zu answered, %zu failed%s", p->what ? p->what : "",
            p->what ? ": " : "", answered, expected, failed, window);
    fflush(stderr);
    p->shown = true;
}

void
ctl_progress_end(struct ctl_progress *p)
{
    if (p && p->shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        p->shown = false;
    }
}
