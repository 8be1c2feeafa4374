/*
 * The virtbus CLI: the shared context, the command entry table (one file
 * per command, in the tmux style) and the output helpers.
 */
#ifndef CTL_H
#define CTL_H

#include <stdbool.h>
#include <stdio.h>

#include <event2/event.h>

#include "controller/lib/virtbus.h"

/* Exit statuses (documented in the man page and README). */
#define CTL_EXIT_OK        0   /* everything asked for succeeded */
#define CTL_EXIT_FAILED    1   /* some node answered with an error */
#define CTL_EXIT_USAGE     2   /* bad command line */
#define CTL_EXIT_NO_REPLY  3   /* some node did not answer in time */

#define CTL_DEFAULT_BROKER "amqp://guest:guest@127.0.0.1:5672/"
#define CTL_DEFAULT_TIMEOUT_MS 10000

struct ctl_ctx {
    const char *url;
    bool json;
    bool quiet;
    unsigned timeout_ms;
    struct event_base *base;
    struct virtbus_console *console;
    const struct schema *schema;
};

struct ctl_cmd_entry {
    const char *name;
    const char *usage;          /* what follows the command name */
    const char *summary;        /* one line for `virtbus help` */
    int (*exec)(struct ctl_ctx *ctx, int argc, char **argv);
};

extern const struct ctl_cmd_entry ctl_cmd_nodes_entry;
extern const struct ctl_cmd_entry ctl_cmd_list_entry;
extern const struct ctl_cmd_entry ctl_cmd_start_entry;
extern const struct ctl_cmd_entry ctl_cmd_shutdown_entry;
extern const struct ctl_cmd_entry ctl_cmd_destroy_entry;
extern const struct ctl_cmd_entry ctl_cmd_watch_entry;
extern const struct ctl_cmd_entry ctl_cmd_schema_entry;

/* Opens the console (with watch bindings, or NULL).  On failure prints the
 * error and returns an exit status; 0 on success. */
int ctl_connect(struct ctl_ctx *ctx, const char *const *watch_keys);

/* Prints "virtbus: <cmd>: usage: virtbus <cmd> <usage>" and returns 2. */
int ctl_usage(const struct ctl_cmd_entry *e);
void ctl_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Finds the live agents (all of them, for now). */
int ctl_locate(struct ctl_ctx *ctx, struct virtbus_agent_list *agents);

/* Connects, finds the live agents and queries their objects of a class
 * (where may be NULL).  On failure prints why and returns an exit status. */
int ctl_query_fleet(struct ctl_ctx *ctx, const char *class_name,
                    const qmf_value *where, struct virtbus_results *res);

/* Reports failed and silent agents of a result set on stderr (or into a
 * JSON "errors" list) and returns the exit status they imply. */
int ctl_report_results(struct ctl_ctx *ctx, const struct virtbus_results *r,
                       qmf_value *json_errors);

/* Domain verbs (start, shutdown, destroy, ...): resolve names, call. */
int ctl_domain_verb(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e,
                    const char *method, int argc, char **argv);

/* Output ------------------------------------------------------------------- */

struct ctl_table;
struct ctl_table *ctl_table_new(size_t ncols, const char *const *headers);
/* Adds a row of ncols strings (copied). */
void ctl_table_add(struct ctl_table *t, const char *const *cells);
/* Sorts rows by the given columns, in order (numbers compare naturally). */
void ctl_table_sort(struct ctl_table *t, const size_t *cols, size_t ncols);
void ctl_table_print(const struct ctl_table *t, FILE *f);
void ctl_table_free(struct ctl_table *t);

/* A value for a table cell: strings as is, maps as k=v,..., malloc'd. */
char *ctl_format_value(const qmf_value *v);
/* KiB as "512 MiB", "1.5 GiB"; malloc'd. */
char *ctl_format_kib(uint64_t kib);
/* libvirt's version encoding (major*1000000+minor*1000+micro) as "9.0.0". */
char *ctl_format_version(uint64_t v);
/* Prints v as one line of JSON on stdout. */
void ctl_print_json(const qmf_value *v);

#endif
