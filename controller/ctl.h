/*
 * The virtbus CLI: the shared context, the command entry tables (tmux
 * style: a table of entries per file, a list of tables in commands.c), the
 * shared option parser, targeting, object resolution, the verb machinery,
 * outcomes and their summary, and the output helpers.
 */
#ifndef CTL_H
#define CTL_H

#include <stdbool.h>
#include <stdio.h>

#include <event2/event.h>

#include "controller/config.h"
#include "controller/lib/virtbus_bus.h"
#include "trust/credential.h"
#include "trust/key.h"

/*
 * Exit statuses (docs/CLI.md).  When several apply, usage wins (nothing
 * was sent), then the broker (nothing could be sent), then no reply (which
 * includes down nodes: the command could not be done there), then failed.
 */
#define CTL_EXIT_OK        0   /* everything asked for succeeded */
#define CTL_EXIT_FAILED    1   /* some node answered with an error */
#define CTL_EXIT_USAGE     2   /* bad command line or configuration */
#define CTL_EXIT_NO_REPLY  3   /* some node did not answer in time, or is down */
#define CTL_EXIT_BROKER    4   /* the broker cannot be reached, or refused us */

#define CTL_DEFAULT_BROKER "amqp://guest:guest@127.0.0.1:5672/"
/* How long a command takes the fleet's memory from the cache without
 * reading the stream (a stream reader is 10-15 ms of a command). */
#define CTL_FLEET_REUSE_MS 30000

struct ctl_ctx {
    char *url;                  /* the broker, resolved through the config */
    char *url_shown;            /* the same without its password, for people */
    bool default_broker;        /* nothing named a broker: the built-in one */
    bool answers_checked;       /* answers must be signed by the agent they name */
    bool answers_sealed;        /* agents were asked to seal answers to us */
    unsigned presence_window_s; /* heartbeats read to know who is up */
    unsigned presence_reuse_ms; /* a presence cache this young is taken as is */
    bool presence_no_summaries; /* the heartbeats, never a keeper's summary */
    bool no_fleet_memory;       /* presence without the fleet's memory */
    unsigned fleet_retention_s; /* the fleet's memory forgets nodes unseen this long */
    unsigned fleet_reuse_ms;    /* a fleet cache this young is taken as is */
    bool json;
    bool quiet;                 /* -q: the data only, no headers, notices or summaries */
    bool no_header;             /* --no-header */
    bool raw;                   /* --raw, or stdout is no terminal: a field per value */
    bool colour_out, colour_err;    /* --color, NO_COLOR, and terminals decide */
    bool progress;              /* stderr is a terminal and not quiet */
    unsigned timeout_ms;
    struct ctl_config config;
    struct event_base *base;
    struct virtbus_console *console;
    struct schema *schema;      /* the built-in schema, loaded once */
};

/* A command's own option; for verbs it may also set method arguments. */
struct ctl_option {
    const char *name;           /* long name, without "--" */
    char short_name;            /* 0: none */
    const char *arg;            /* the value's name in usage, NULL for a flag */
    const char *help;
    /* Verbs: "argument=value ..." applied when given, in table order;
     * "%s" stands for the option's value. */
    const char *sets;
};

/* What a command accepts beyond its own options (-c, --json, -q,
 * --timeout and -h are accepted everywhere). */
enum {
    CTL_TARGETS = 1 << 0,       /* -n, -l, --if, --all */
    CTL_WHERE = 1 << 1,         /* --where */
    CTL_BATCH = 1 << 2,         /* --batch, --batch-sleep */
    CTL_ASYNC = 1 << 3,         /* --async */
    CTL_OFFLINE = 1 << 4,       /* needs neither broker nor configuration */
    CTL_GUARDED = 1 << 5,       /* --dry-run, --yes */
};
#define CTL_ACTING (CTL_TARGETS | CTL_WHERE | CTL_BATCH | CTL_ASYNC | CTL_GUARDED)

struct ctl_args;
struct ctl_verb;

struct ctl_cmd_entry {
    const char *name;
    const char *usage;          /* what follows the command name */
    const char *summary;        /* one line for `virtbus help` */
    unsigned accepts;
    const struct ctl_option *options;   /* ended by { NULL }, or NULL */
    int (*exec)(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, struct ctl_args *a);
    const struct ctl_verb *verb;        /* verbs only */
};

/* The commands, in sections for `virtbus help` (commands.c); a NULL title
 * continues the section above.  Ended by { NULL, NULL }. */
struct ctl_cmd_section {
    const char *title;
    const struct ctl_cmd_entry *entries;    /* ended by { NULL } */
};
extern const struct ctl_cmd_section ctl_sections[];

extern const struct ctl_cmd_entry ctl_cmds_nodes[];     /* cmd-nodes.c */
extern const struct ctl_cmd_entry ctl_cmds_query[];     /* cmd-query.c */
extern const struct ctl_cmd_entry ctl_cmds_domain[];    /* cmd-domain.c */
extern const struct ctl_cmd_entry ctl_cmds_storage[];   /* cmd-storage.c */
extern const struct ctl_cmd_entry ctl_cmds_network[];   /* cmd-network.c */
extern const struct ctl_cmd_entry ctl_cmds_call[];      /* cmd-call.c */
extern const struct ctl_cmd_entry ctl_cmds_job[];       /* cmd-job.c */
extern const struct ctl_cmd_entry ctl_cmds_watch[];     /* cmd-watch.c */
extern const struct ctl_cmd_entry ctl_cmds_keeper[];    /* cmd-keeper.c */
extern const struct ctl_cmd_entry ctl_cmds_exporter[];  /* cmd-exporter.c */
extern const struct ctl_cmd_entry ctl_cmds_schema[];    /* cmd-schema.c */
extern const struct ctl_cmd_entry ctl_cmds_help[];      /* cmd-help.c */
extern const struct ctl_cmd_entry ctl_cmds_completion[];    /* cmd-completion.c */
extern const struct ctl_cmd_entry ctl_cmds_key[];       /* cmd-key.c */
extern const struct ctl_cmd_entry ctl_cmds_broker_setup[]; /* cmd-broker-setup.c */

const struct ctl_cmd_entry *ctl_find_command(const char *name);
/* The command nearest to a misspelled name (at most two edits), or NULL. */
const char *ctl_suggest_command(const char *name);
/* Says name is no command, and which one it may have meant. */
void ctl_unknown_command(const char *name);
/* The global usage and the list of commands (cmd-help.c). */
void ctl_help_print(FILE *f);
/* One command's usage, options and (verbs) method. */
void ctl_help_command(const struct ctl_cmd_entry *e, const struct schema *schema);

/* Messages ------------------------------------------------------------------ */

void ctl_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the usage line (and why, if given) and returns CTL_EXIT_USAGE. */
int ctl_usage(const struct ctl_cmd_entry *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The worse of two exit statuses (usage, broker, no reply, failed). */
int ctl_exit_worse(int a, int b);
/* The exit status of a library call's error: the broker's, a timeout's
 * (no reply) or a failure's. */
int ctl_exit_of(const qmf_error *err);
/* Prints a library call's error and returns ctl_exit_of() it. */
int ctl_fail(const qmf_error *err);

/* Options (options.c) -------------------------------------------------------- */

/* A command line, parsed for one command. */
struct ctl_args {
    int argc;                   /* positionals */
    char **argv;
    const char **names;         /* -n words, NULL-terminated */
    const char **labels;        /* -l KEY=VALUE, NULL-terminated */
    const char *if_expr;        /* --if */
    bool all;                   /* --all */
    const char *where;          /* --where, as written */
    const char *batch;          /* --batch N or N% */
    unsigned batch_sleep_ms;
    bool async;
    const char *color;          /* --color auto|always|never; NULL: auto */
    bool dry_run;               /* --dry-run: the targets, nothing sent */
    bool yes;                   /* --yes: no confirmation asked */
    const char *timeout;        /* --timeout */
    const char *connect;        /* -c */
    bool help;                  /* -h: the command's help */
    bool version;               /* -V: the version */
    const char **values;        /* the entry's own options, by index; NULL: not given */
};

/* Parses argv (argv[0] is the command name) for e; on error prints the
 * usage and returns CTL_EXIT_USAGE. */
int ctl_args_parse(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, int argc,
                   char **argv, struct ctl_args *a);
void ctl_args_free(struct ctl_args *a);
/*
 * The command line with the command name first: shared options written
 * before the command (virtbus --async -n web1 start x) move after it, so
 * that one parser reads them.  argv[0] of the result is NULL if there is
 * no command; *nargs counts the words.
 */
char **ctl_args_hoist(int argc, char **argv, int *nargs);
/* The value of the entry's option `name` ("" for a given flag), or NULL. */
const char *ctl_args_get(const struct ctl_args *a, const struct ctl_cmd_entry *e,
                         const char *name);
bool ctl_args_targeted(const struct ctl_args *a);
/* Visits the options of a command, its own then the shared ones (help). */
typedef void (*ctl_option_fn)(void *opaque, char short_name, const char *name,
                              const char *arg, const char *help);
void ctl_options_each(const struct ctl_cmd_entry *e, ctl_option_fn fn, void *opaque);

/* Ctrl-C (ctl.c): SIGINT, while the loop runs, interrupts the console's
 * waits (virtbus_console_interrupt) instead of killing the process, so
 * that what answered is still reported.  Through an evsignal: nothing
 * is done in a signal handler.  NULL if there is no console. */
struct event *ctl_interrupt_catch(struct ctl_ctx *ctx);
/* Stops catching it (the default action again); true if it came. */
bool ctl_interrupt_release(struct ctl_ctx *ctx, struct event *ev);
/* The exit status of an interrupted command, as the shell's for SIGINT. */
#define CTL_EXIT_INTERRUPTED 130

/* Connection and targeting (ctl.c, target.c) ---------------------------------- */

/* Opens the console (with presence, and watch bindings or NULL; a recent
 * presence cache is taken as is only if it has every node of named_nodes
 * up).  On failure prints the error and returns an exit status; 0 on
 * success. */
int ctl_connect(struct ctl_ctx *ctx, bool presence, const char *const *watch_keys,
                const char *const *named_nodes);

/* The nodes a command is for, from presence. */
struct ctl_nodes {
    struct virtbus_agent_list presence;     /* every agent known: heard of in
                                               presence, or remembered */
    struct virtbus_agent_list up, down;     /* the targeted ones */
    qmf_value *predicate;                   /* sent as _target */
    bool targeted;                          /* by a flag, not every node */
};

/* Compiles the targeting flags (usage errors before anything is sent),
 * connects, reads presence and the fleet's memory and selects; no flag
 * means every node (acting commands refuse that earlier where it matters).
 * A node named literally that is unknown is a usage error.  Returns an
 * exit status; out is empty unless it is 0.  Without values, the nodes'
 * heartbeat values (attrs) are read only if the target selects by them:
 * a warm start of a large fleet then decodes none. */
int ctl_discover(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e,
                 const struct ctl_args *a, bool values, struct ctl_nodes *out);
void ctl_nodes_clear(struct ctl_nodes *n);
/* The agent predicate of the targeting flags (-n words split at commas,
 * @groups expanded, into names; -l; --if; none: every node), before
 * anything is sent: a bad flag prints the usage and returns
 * CTL_EXIT_USAGE with *out NULL. */
int ctl_target_predicate(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e,
                         const struct ctl_args *a, qmf_value *names, qmf_value **out);
/* Splits n->presence by n->predicate into n->up and n->down; a literal
 * name of `names` that presence does not know is a usage error, and a
 * target (n->targeted) that matches nothing a failure, each with a
 * message.  Returns an exit status. */
int ctl_nodes_select(struct ctl_nodes *n, const qmf_value *names);
/* The agent of a node in a list, or NULL. */
const struct virtbus_agent *ctl_nodes_find(const struct virtbus_agent_list *l,
                                           const char *node);

/* Compiles a human predicate (docs/EXPRESSIONS.md) for a class; prints the
 * error with a caret under the column and returns NULL. */
qmf_value *ctl_compile_expr(const char *flag, const char *text,
                            const struct schema_class *cls);

/* A class by name, case-insensitively ("domain" is Domain); NULL and a
 * message if there is none. */
const struct schema_class *ctl_find_class(const struct ctl_ctx *ctx, const char *name);

/* Send options from --timeout, --batch and --batch-sleep for n agents;
 * with progress on a terminal.  The progress state lives in *p. */
struct ctl_progress {
    const char *what;
    bool shown;
};
void ctl_send_opts(struct ctl_ctx *ctx, const struct ctl_args *a, size_t n,
                   const qmf_value *target, struct ctl_progress *p,
                   struct virtbus_send_opts *o);
void ctl_progress_update(struct ctl_progress *p, size_t sent, size_t answered,
                         size_t failed, size_t expected);
void ctl_progress_end(struct ctl_progress *p);

/* The caller this console signs as (identity.c) ------------------------------ */

struct ctl_identity {
    char *key_path;
    struct trust_key *key;              /* private */
    char *credential_path;
    char *credential_text;              /* NULL: a key agents trust directly */
    struct trust_credential *credential;
};

/* "<user configuration directory>/<base>" (~/.config/virtbus/<base>), or
 * NULL without a home; malloc'd. */
char *ctl_identity_default(const char *base);
/* The key (key_file, else ~/.config/virtbus/caller.key) and its credential
 * (the same path, .cred for .key).  Without a key: -1 and a message if
 * required, else 0 with id->key NULL (requests go unsigned).  A key that
 * cannot be read, or a credential for another key, is -1 and a message. */
int ctl_identity_find(struct ctl_ctx *ctx, struct ctl_identity *id, bool required);
/* The same for commands that did not read the configuration (offline). */
int ctl_identity_load(struct ctl_ctx *ctx, struct ctl_identity *id);
void ctl_identity_clear(struct ctl_identity *id);

/* Outcomes (outcome.c) -------------------------------------------------------- */

enum ctl_status { CTL_OK, CTL_FAILED, CTL_NO_REPLY, CTL_DOWN };

/* What happened to one object (or to a node as a whole: object NULL). */
struct ctl_outcome {
    char *node;                 /* NULL: no node (a name found nowhere) */
    char *object;               /* its name for people, or NULL */
    char *object_name;          /* its _object_name, or NULL */
    enum ctl_status status;
    qmf_error error;
    qmf_value *output;          /* output arguments, or NULL */
};

struct ctl_outcomes {
    struct ctl_outcome *items;
    size_t n;
};

/* Adds an outcome; output is taken over, error copied (may be NULL). */
struct ctl_outcome *ctl_outcome_add(struct ctl_outcomes *o, const char *node,
                                    const char *object, const char *object_name,
                                    enum ctl_status status, const qmf_error *error,
                                    qmf_value *output);
/* One outcome per down node. */
void ctl_outcomes_add_down(struct ctl_outcomes *o, const struct virtbus_agent_list *down);
/* The agents that failed or did not answer, one outcome each. */
void ctl_outcomes_add_failures(struct ctl_outcomes *o, const struct virtbus_results *r);
/* Per-object results of virtbus_call_where or a job (docs/PROTOCOL.md
 * §7.4), each object named by the _name its agent gave it (else by its
 * _object_name). */
void ctl_outcomes_add_where_results(struct ctl_outcomes *o, const struct virtbus_results *r);
void ctl_outcomes_clear(struct ctl_outcomes *o);

/* Keeps the names of the objects of a class each node answered with, for
 * completion, in the names cache beside the presence cache (per broker);
 * partial (--where): added to what the node had, else replacing it.
 * Nodes that did not answer keep theirs.  A write failure is ignored. */
void ctl_names_remember(struct ctl_ctx *ctx, const char *class_name,
                        const struct virtbus_results *res, bool partial);

/* The namespace of the root that holds several XML documents (dumpxml of
 * several objects, docs/CLI.md). */
#define CTL_DOCUMENTS_NS "urn:x-virtbus:documents:1"

/* How outcomes are printed. */
struct ctl_report {
    const char *command;        /* "shutdown", "call" (JSON) */
    const char *verb;           /* in "node1: web1: <verb> ok" */
    const char *class_name;
    const char *method;
    const char *print;          /* output argument printed as is (dumpxml) */
};

/* Prints the outcomes (ok lines on stdout, failures and the summary on
 * stderr, or one JSON document) and returns the exit status. */
int ctl_outcomes_report(struct ctl_ctx *ctx, const struct ctl_report *r,
                        const struct ctl_outcomes *o, qmf_value *json_extra);
/* Only the failures (for queries): warnings, or JSON elements appended to
 * json_errors.  Returns the exit status they imply. */
int ctl_outcomes_warn(struct ctl_ctx *ctx, const struct ctl_outcomes *o,
                      qmf_value *json_errors);
/* The JSON element of one outcome (docs/CLI.md). */
qmf_value *ctl_outcome_json(const struct ctl_outcome *oc);
int ctl_outcomes_exit(const struct ctl_outcomes *o);

/* Objects by name (resolve.c) -------------------------------------------------- */

/* One object found: borrowed from the query answers kept in the set. */
struct ctl_found {
    const struct virtbus_result *owner;     /* its agent's answer */
    const qmf_value *data;                  /* {_object_id, _values, ...} */
    const char *name;                       /* as the user wrote it */
};

struct ctl_found_set {
    struct virtbus_results answers;
    struct ctl_found *items;
    size_t n;
};

/* Finds each name (name, UUID, key, path: any identity of the class) on
 * the up nodes; a name found nowhere, or on several nodes, becomes a
 * failed outcome.  Down nodes become outcomes too when a flag targeted
 * them, or when a name was not found (it may be on one of them).
 * Returns an exit status for errors of its own. */
int ctl_resolve(struct ctl_ctx *ctx, const struct schema_class *cls,
                const struct ctl_nodes *nodes, char *const *names, int n,
                struct ctl_found_set *out, struct ctl_outcomes *errors);
/* The matching half of ctl_resolve: finds each name in out->answers (the
 * up nodes' answers to a query of the class) and adds the failures. */
void ctl_resolve_answers(const struct schema_class *cls, const struct ctl_nodes *nodes,
                         char *const *names, int n, struct ctl_found_set *out,
                         struct ctl_outcomes *errors);
void ctl_found_set_clear(struct ctl_found_set *s);
/* The query predicate that finds names: ["or", ["eq", field, ["quote",
 * name]], ...] over the class's identities (name, index properties, path)
 * and the names. */
qmf_value *ctl_names_predicate(const struct schema_class *cls, char *const *names, int n);
/* ["eq", field, ["quote", text]] */
qmf_value *ctl_equals(const char *field, const char *text);
/* The name of an object for people: its name, else its _object_name. */
const char *ctl_object_label(const qmf_value *data);

/* Method arguments (args.c) ---------------------------------------------------- */

/* The value of one method argument from its text, by its schema type:
 * numbers, sizes (2G) for arguments in KiB or bytes, booleans, strings,
 * @FILE for long strings, JSON for maps and lists. */
qmf_value *ctl_arg_value(const struct schema_arg *arg, const char *text, qmf_error *err);
/* Sets argument `name` of m in args from text (errors name the argument). */
int ctl_arg_set(const struct schema_method *m, qmf_value *args, const char *name,
                const char *text, qmf_error *err);
/* The most a file argument may hold: an agent's default max_body. */
#define CTL_FILE_MAX (4u * 1024 * 1024)
/* The contents of a file (or "-", standard input), NUL-terminated: UTF-8
 * text of at most CTL_FILE_MAX bytes, without NUL; a device is refused
 * (/dev/zero would never end).  NULL with an error. */
char *ctl_read_file(const char *path, qmf_error *err);
/*
 * Where presence (and the fleet's memory) is kept between commands:
 * $XDG_CACHE_HOME/virtbus (or ~/.cache/virtbus), one file per broker and
 * window ("presence") or per broker ("fleet"); malloc'd.  NULL when there
 * is no such place.
 */
char *ctl_cache_path(const struct ctl_ctx *ctx, const char *what, const char *suffix);
/* "2G", "512M", "1024" (in `unit` bytes) as a count of units, rounded up. */
bool ctl_parse_size(const char *text, uint64_t unit, uint64_t *out);
/* The unit of an integer argument in bytes (1024 for KiB, 1 for bytes), or
 * 0 if it is no size. */
uint64_t ctl_arg_unit(const struct schema_arg *arg);

/* Acting on objects (verb.c) ------------------------------------------------------ */

enum {
    CTL_VERB_ONE = 1 << 0,      /* exactly one object (followed by arguments) */
    CTL_VERB_NODE = 1 << 1,     /* the object is the Node of one -n node */
    CTL_VERB_DESTRUCTIVE = 1 << 2,  /* loses data or state: confirmed on many nodes */
};

struct ctl_verb {
    const char *class_name;
    const char *method;
    /* Method arguments from the positionals after the objects, separated
     * by spaces; "<name" reads the argument from a local file. */
    const char *params;
    const char *preset;         /* "argument=value ...", before options */
    unsigned flags;
    const char *print;          /* output argument printed as is */
    /* Called once the nodes are known, to fill in arguments (migrate);
     * prints why and returns an exit status. */
    int (*prepare)(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e,
                   const struct ctl_args *a, const struct ctl_nodes *nodes,
                   qmf_value *args);
};

/* One entry line of a verb table.  The variable part initialises the
 * struct ctl_verb (class_name and method at least). */
#define CTL_VERB(name_, usage_, summary_, options_, ...)                    \
    { .name = (name_), .usage = (usage_), .summary = (summary_),            \
      .accepts = CTL_ACTING, .options = (options_), .exec = ctl_verb_exec, \
      .verb = &(const struct ctl_verb){ __VA_ARGS__ } }

int ctl_verb_exec(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, struct ctl_args *a);
/* --disable for the autostart verbs (autostart=true is their preset). */
extern const struct ctl_option ctl_autostart_options[];

/* What an acting command asks for, however it was written. */
struct ctl_action {
    const struct ctl_cmd_entry *entry;
    const struct schema_class *cls;
    const struct schema_method *method;
    qmf_value *args;            /* checked against the schema */
    char *const *objects;       /* names, or NULL with where */
    int nobjects;
    const char *print;
    const char *verb;           /* for people: the command, or the method */
    bool one_node;              /* the Node of exactly one targeted node */
    int (*prepare)(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e,
                   const struct ctl_args *a, const struct ctl_nodes *nodes,
                   qmf_value *args);
};

/* The action a verb's command line asks for (e->verb): its objects, and
 * its arguments from the positionals after them, the preset and the
 * options; a bad command line prints the usage and returns
 * CTL_EXIT_USAGE.  On success act->args is the caller's. */
int ctl_verb_action(const struct ctl_ctx *ctx, const struct ctl_cmd_entry *e,
                    const struct ctl_args *a, struct ctl_action *act);
/* What ctl_act refuses before anything is sent: a bad --where (compiled
 * into *where, the caller's), arguments the schema refuses (unless the
 * action prepares them), a Node verb without -n, and an acting selection
 * no targeting flag narrows.  Returns an exit status. */
int ctl_act_preflight(const struct ctl_args *a, struct ctl_action *act, qmf_value **where);
/* Runs an action: targets, resolves names or sends to a selection, or
 * submits a job with --async, then reports.  Returns the exit status. */
int ctl_act(struct ctl_ctx *ctx, struct ctl_args *a, struct ctl_action *act);
/*
 * Before an action is sent (guard.c): with --dry-run, prints its targets
 * (nodes and objects; --where costs a query) and sets *stop; a destructive
 * one on more nodes than the configuration's confirm_above asks on the
 * terminal, or without one refuses unless --yes (exit 2), and sets *stop
 * unless it may go on.  Blocks on the terminal while it asks.  Returns an
 * exit status.
 */
int ctl_guard(struct ctl_ctx *ctx, const struct ctl_args *a, const struct ctl_action *act,
              const struct ctl_nodes *nodes, const qmf_value *where, bool *stop);

/* Output (format.c) ---------------------------------------------------------------- */

struct ctl_table;
struct ctl_table *ctl_table_new(size_t ncols, const char *const *headers);
/* A column the table may leave out to fit the terminal. */
void ctl_table_optional(struct ctl_table *t, size_t col);
/* Adds a row of ncols malloc'd strings, taking them over. */
void ctl_table_add_owned(struct ctl_table *t, char **cells);
/* Sorts rows by the given columns, in order (numbers compare naturally). */
void ctl_table_sort(struct ctl_table *t, const size_t *cols, size_t ncols);
/* On a terminal, fits its width: optional columns go first, then the
 * widest columns are cut with "…". */
void ctl_table_print(const struct ctl_table *t, FILE *f, bool header);
/* The same, raw: nothing cut, "-" for an empty cell, "_" for a header's
 * spaces, so that awk sees as many fields in each line; with colour, the
 * words of state columns coloured. */
void ctl_table_print_raw(const struct ctl_table *t, FILE *f, bool header, bool raw,
                         bool colour);
/* A column of states (running, down ...), coloured on a terminal. */
void ctl_table_state_column(struct ctl_table *t, size_t col);
/* Colour: SGR sequences, and the one a state word gets (green: running,
 * up; yellow: paused, no reply; red: shutoff, down, failed), or NULL. */
#define CTL_SGR_GREEN "\033[32m"
#define CTL_SGR_YELLOW "\033[33m"
#define CTL_SGR_RED "\033[31m"
#define CTL_SGR_RESET "\033[0m"
const char *ctl_colour_of(const char *word);
/* Prints only the columns of a comma-separated list ("name,state"; the
 * headers in any case, "-" or "_" for a space), in its order.  An unknown
 * one is an error that lists the valid ones. */
int ctl_table_choose(struct ctl_table *t, const char *list, qmf_error *err);
/* --name and -o/--columns of the commands that print a table. */
extern const struct ctl_option ctl_table_options[];
/* Applies them to t (name_column: the one --name prints); a usage error
 * (before anything is sent: call it with the table still empty). */
int ctl_table_apply_options(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e,
                            const struct ctl_args *a, struct ctl_table *t,
                            const char *name_column);
/* On stdout, its header left out with -q or --no-header. */
void ctl_print_table(const struct ctl_ctx *ctx, const struct ctl_table *t);
void ctl_table_free(struct ctl_table *t);

/* A value for a table cell: strings as is, maps as k=v,..., malloc'd. */
char *ctl_format_value(const qmf_value *v);
/* KiB as "512 MiB", "1.5 GiB"; malloc'd.  Raw: a count of bytes. */
char *ctl_format_kib(uint64_t kib, bool raw);
char *ctl_format_bytes(uint64_t bytes, bool raw);
/* libvirt's version encoding (major*1000000+minor*1000+micro) as "9.0.0". */
char *ctl_format_version(uint64_t v);
/* How long ago a wall-clock time in ns was: "2s ago", "5m ago", "never".
 * Raw: the time itself, RFC 3339 in UTC ("2026-11-25T21:40:39.123Z"). */
char *ctl_format_ago(int64_t ns, bool raw);
/* ISO 8601 UTC with milliseconds; buf needs 32 bytes. */
void ctl_format_time(int64_t ns, char *buf, size_t len);
/* Prints v as one line of JSON on stdout. */
void ctl_print_json(const qmf_value *v);
/* The same for a command's document (a map), which says so when the
 * broker is the built-in default ("default_broker", docs/CLI.md). */
void ctl_print_doc(const struct ctl_ctx *ctx, qmf_value *doc);
/* Prints a document's top level "key: value" lines (show, outputs). */
void ctl_print_fields(FILE *f, const char *indent, const qmf_value *map,
                      const struct schema_class *cls);

#endif
