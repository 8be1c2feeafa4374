/*
 * One option parser for every command: the shared flags (targeting,
 * --where, batches, --async, and --json, -q, --timeout, which are also
 * accepted after the command name) plus the command's own options from
 * its entry, so no command parses targeting by itself.
 */
#include "controller/ctl.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_JSON = 256, OPT_NO_HEADER, OPT_RAW, OPT_COLOR, OPT_IF, OPT_ALL, OPT_BATCH, OPT_BATCH_SLEEP, OPT_ASYNC, OPT_DRY_RUN, OPT_YES,
    OPT_OWN = 1024,             /* + index of the entry's own option */
};

struct shared_option {
    struct option opt;
    unsigned needs;             /* CTL_* the entry must accept; 0: always */
    const char *arg;            /* for help */
    const char *help;
};

static const struct shared_option shared_options[] = {
    { { "node", required_argument, NULL, 'n' }, CTL_TARGETS, "LIST",
      "nodes by name, glob or @group, comma-separated (repeatable)" },
    { { "label", required_argument, NULL, 'l' }, CTL_TARGETS, "KEY=VALUE",
      "nodes with this label (repeatable: all must match)" },
    { { "if", required_argument, NULL, OPT_IF }, CTL_TARGETS, "EXPR",
      "nodes whose attributes match EXPR, e.g. 'memory > 64G'" },
    { { "all", no_argument, NULL, OPT_ALL }, CTL_TARGETS, NULL, "every node" },
    { { "where", required_argument, NULL, 'w' }, CTL_WHERE, "EXPR",
      "the objects matching EXPR, e.g. 'state == \"running\"'" },
    { { "batch", required_argument, NULL, OPT_BATCH }, CTL_BATCH, "N|N%",
      "at most N nodes (or N% of them) at a time" },
    { { "batch-sleep", required_argument, NULL, OPT_BATCH_SLEEP }, CTL_BATCH, "SECONDS",
      "pause between sends in a batch" },
    { { "async", no_argument, NULL, OPT_ASYNC }, CTL_ASYNC, NULL,
      "leave a job on the broker, print its id and exit (virtbus job)" },
    { { "dry-run", no_argument, NULL, OPT_DRY_RUN }, CTL_GUARDED, NULL,
      "print the nodes and objects it would act on, and send nothing" },
    { { "yes", no_argument, NULL, OPT_YES }, CTL_GUARDED, NULL,
      "no confirmation for a destructive verb on more than confirm_above nodes" },
    { { "connect", required_argument, NULL, 'c' }, 0, "NAME|URL", "the broker: an alias or a URL" },
    { { "json", no_argument, NULL, OPT_JSON }, 0, NULL, "one JSON document on stdout" },
    { { "quiet", no_argument, NULL, 'q' }, 0, NULL,
      "the data only: no headers, notices or summaries" },
    { { "no-header", no_argument, NULL, OPT_NO_HEADER }, 0, NULL, "tables without their header" },
    { { "color", required_argument, NULL, OPT_COLOR }, 0, "WHEN",
      "colour states and failures: auto (on a terminal, unless $NO_COLOR), always, never" },
    { { "raw", no_argument, NULL, OPT_RAW }, 0, NULL,
      "one field per value, as into a pipe: sizes in bytes, times in RFC 3339" },
    { { "timeout", required_argument, NULL, 't' }, 0, "SECONDS", "how long to wait for answers" },
    { { "help", no_argument, NULL, 'h' }, 0, NULL, "this help" },
    { { "version", no_argument, NULL, 'V' }, 0, NULL, "the version, and exit" },
};
#define NSHARED (sizeof(shared_options) / sizeof(shared_options[0]))

static size_t
count_own(const struct ctl_cmd_entry *e)
{
    size_t n = 0;

    while (e->options && e->options[n].name)
        n++;
    return n;
}

/* getopt_long's tables for this entry: shared options it accepts, then
 * its own. */
static void
build_tables(const struct ctl_cmd_entry *e, struct option *longs, char *shorts)
{
    size_t i, n = 0, own = count_own(e);
    char *s = shorts;

    *s++ = ':';                 /* report a missing value as ':' */
    for (i = 0; i < NSHARED; i++) {
        const struct shared_option *so = &shared_options[i];

        if (so->needs && !(e->accepts & so->needs))
            continue;
        longs[n++] = so->opt;
        if (so->opt.val < 256) {
            *s++ = (char)so->opt.val;
            if (so->opt.has_arg)
                *s++ = ':';
        }
    }
    for (i = 0; i < own; i++) {
        const struct ctl_option *o = &e->options[i];

        longs[n++] = (struct option){ o->name, o->arg ? required_argument : no_argument,
                                      NULL, (int)(OPT_OWN + i) };
        if (o->short_name) {
            *s++ = o->short_name;
            if (o->arg)
                *s++ = ':';
        }
    }
    longs[n] = (struct option){ NULL, 0, NULL, 0 };
    *s = '\0';
}

static void
push(const char ***list, size_t *n, const char *value)
{
    *list = qmf_xrealloc(*list, (*n + 2) * sizeof(**list));
    (*list)[(*n)++] = value;
    (*list)[*n] = NULL;
}

static bool
valid_batch(const char *text)
{
    char *end;
    unsigned long n = strtoul(text, &end, 10);

    if (end == text || n == 0 || text[0] == '-')
        return false;
    if (*end == '%')
        return end[1] == '\0' && n <= 100;
    return *end == '\0' && n <= 1000000;
}

/*
 * getopt_long reports a flag given a value (--json=1) as an unknown
 * option, with optopt its val: a character for the short ones (-h), above
 * 255 for the others, which "-%c" cannot print.  The word is the last
 * one getopt read; a short option's error may stand in a cluster (-xq)
 * after it, which the val tells apart.
 */
static bool
flag_given_value(const struct option *longs, const char *word, int val)
{
    size_t i, len;

    if (val == 0 || strncmp(word, "--", 2) != 0 || strchr(word, '=') == NULL)
        return false;
    len = (size_t)(strchr(word, '=') - word) - 2;
    for (i = 0; longs[i].name; i++)
        if (longs[i].val == val && longs[i].has_arg == no_argument &&
            strncmp(longs[i].name, word + 2, len) == 0)
            return true;
    return false;
}

static int
parse_one(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, const struct option *longs,
          int ch, char **argv, struct ctl_args *a, size_t *nnames, size_t *nlabels)
{
    double secs;
    char *end;
    size_t i;

    switch (ch) {
    case OPT_JSON: ctx->json = true; break;
    case 'q': ctx->quiet = true; break;
    case OPT_NO_HEADER: ctx->no_header = true; break;
    case OPT_RAW: ctx->raw = true; break;
    case OPT_COLOR:
        if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "always") != 0 &&
            strcmp(optarg, "never") != 0)
            return ctl_usage(e, "--color: expected auto, always or never, got '%s'", optarg);
        a->color = optarg;
        break;
    case 't': a->timeout = optarg; break;
    case 'c': a->connect = optarg; break;
    case 'h': a->help = true; break;
    case 'V': a->version = true; break;
    case 'n': push(&a->names, nnames, optarg); break;
    case 'l': push(&a->labels, nlabels, optarg); break;
    case OPT_IF: a->if_expr = optarg; break;
    case OPT_ALL: a->all = true; break;
    case 'w': a->where = optarg; break;
    case OPT_ASYNC: a->async = true; break;
    case OPT_DRY_RUN: a->dry_run = true; break;
    case OPT_YES: a->yes = true; break;
    case OPT_BATCH:
        if (!valid_batch(optarg))
            return ctl_usage(e, "--batch: expected a count or a percentage, got '%s'", optarg);
        a->batch = optarg;
        break;
    case OPT_BATCH_SLEEP:
        secs = strtod(optarg, &end);
        if (end == optarg || *end != '\0' || !(secs >= 0) || secs > 3600)
            return ctl_usage(e, "--batch-sleep: expected seconds, got '%s'", optarg);
        a->batch_sleep_ms = (unsigned)(secs * 1000);
        break;
    case ':':
        return ctl_usage(e, "option '%s' needs a value", argv[optind - 1]);
    case '?':
        if (flag_given_value(longs, argv[optind - 1], optopt))
            return ctl_usage(e, "option '%.*s' takes no value",
                             (int)strcspn(argv[optind - 1], "="), argv[optind - 1]);
        if (optopt)
            return ctl_usage(e, "unknown option '-%c'", optopt);
        return ctl_usage(e, "unknown option '%s'", argv[optind - 1]);
    default:
        if (ch < OPT_OWN) {
            /* a short name of the entry's own options */
            for (i = 0; e->options && e->options[i].name; i++)
                if (e->options[i].short_name == ch)
                    ch = (int)(OPT_OWN + i);
        }
        if (ch < OPT_OWN)
            return ctl_usage(e, "unknown option '-%c'", ch);
        a->values[ch - OPT_OWN] = e->options[ch - OPT_OWN].arg ? optarg : "";
        break;
    }
    return CTL_EXIT_OK;
}

int
ctl_args_parse(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, int argc,
               char **argv, struct ctl_args *a)
{
    size_t own = count_own(e), nnames = 0, nlabels = 0;
    struct option *longs = qmf_xcalloc(NSHARED + own + 1, sizeof(*longs));
    char *shorts = qmf_xcalloc(2 * (NSHARED + own) + 2, 1);
    int ch, rc = CTL_EXIT_OK;

    memset(a, 0, sizeof(*a));
    a->values = qmf_xcalloc(own + 1, sizeof(*a->values));
    build_tables(e, longs, shorts);
    optind = 0;                 /* a fresh scan: main's getopt used '+' */
    opterr = 0;
    while (rc == 0 && (ch = getopt_long(argc, argv, shorts, longs, NULL)) != -1)
        rc = parse_one(ctx, e, longs, ch, argv, a, &nnames, &nlabels);
    free(longs);
    free(shorts);
    a->argc = argc - optind;
    a->argv = argv + optind;
    if (rc != 0)
        ctl_args_free(a);
    return rc;
}

void
ctl_args_free(struct ctl_args *a)
{
    free(a->names);
    free(a->labels);
    free(a->values);
    a->names = a->labels = a->values = NULL;
}

const char *
ctl_args_get(const struct ctl_args *a, const struct ctl_cmd_entry *e, const char *name)
{
    size_t i;

    for (i = 0; e->options && e->options[i].name; i++)
        if (strcmp(e->options[i].name, name) == 0)
            return a->values ? a->values[i] : NULL;
    return NULL;
}

bool
ctl_args_targeted(const struct ctl_args *a)
{
    return a->names || a->labels || a->if_expr || a->all;
}

void
ctl_options_each(const struct ctl_cmd_entry *e, ctl_option_fn fn, void *opaque)
{
    size_t i;

    for (i = 0; e->options && e->options[i].name; i++)
        fn(opaque, e->options[i].short_name, e->options[i].name, e->options[i].arg,
           e->options[i].help);
    for (i = 0; i < NSHARED; i++) {
        const struct shared_option *so = &shared_options[i];

        if (!so->needs || (e->accepts & so->needs))
            fn(opaque, so->opt.val < 256 ? (char)so->opt.val : 0, so->opt.name, so->arg,
               so->help);
    }
}

static const struct option *
shared_short(char c)
{
    size_t i;

    for (i = 0; i < NSHARED; i++)
        if (shared_options[i].opt.val == c)
            return &shared_options[i].opt;
    return NULL;
}

/* Whether a shared option word ("-n", "--where", "-qn") takes the next
 * word: in a cluster of short flags, the first one that takes a value
 * takes the rest of the word, or the next word if it is the last. */
static bool
takes_value(const char *word)
{
    const struct option *o;
    size_t i;

    if (word[1] == '-') {
        for (i = 0; i < NSHARED; i++) {
            o = &shared_options[i].opt;
            if (o->has_arg && strcmp(word + 2, o->name) == 0)
                return true;
        }
        return false;
    }
    for (i = 1; word[i]; i++) {
        if ((o = shared_short(word[i])) == NULL)
            return false;
        if (o->has_arg)
            return word[i + 1] == '\0';
    }
    return false;
}

char **
ctl_args_hoist(int argc, char **argv, int *nargs)
{
    char **out = qmf_xcalloc((size_t)argc + 1, sizeof(char *));
    int i = 1, n = 1;

    while (i < argc && argv[i][0] == '-' && argv[i][1] != '\0') {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (takes_value(argv[i]) && i + 1 < argc)
            out[n++] = argv[i++];
        out[n++] = argv[i++];
    }
    if (i >= argc) {
        /* no command: help, or its usage */
        out[0] = NULL;
        *nargs = n;
        return out;
    }
    out[0] = argv[i++];
    while (i < argc)
        out[n++] = argv[i++];
    *nargs = n;
    return out;
}
