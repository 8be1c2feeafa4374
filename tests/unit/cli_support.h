/* What the CLI's unit tests share: a context with the built-in schema,
 * command lines parsed as main() parses them, and values from JSON. */
#ifndef CLI_SUPPORT_H
#define CLI_SUPPORT_H

#include "controller/ctl.h"

/* A context as main() sets one up for a command, without a broker: the
 * built-in schema, the default configuration, no console. */
struct ctl_ctx *cli_ctx_new(void);
void cli_ctx_free(struct ctl_ctx *ctx);

/* One command line and what the parser made of it. */
struct cli_line {
    char **argv;                    /* "virtbus" and the words, copied */
    char **words;                   /* hoisted: the command first */
    int nwords;
    const struct ctl_cmd_entry *entry;
    struct ctl_args args;           /* valid when rc is 0 */
    int rc;                         /* ctl_args_parse's */
    char *err;                      /* what it wrote on stderr */
};

/* Parses the words after "virtbus" (NULL-terminated) as main() does:
 * hoisted, the command looked up (the test fails if there is none),
 * then its options.  Returns l->rc. */
int cli_parse(struct ctl_ctx *ctx, struct cli_line *l, const char *const *words);
#define CLI_PARSE(ctx, l, ...) cli_parse((ctx), (l), (const char *const[]){ __VA_ARGS__, NULL })
void cli_line_free(struct cli_line *l);

/* Appends an agent's answer: OK with a value (JSON), or FAILED or
 * NO_REPLY with an error. */
void cli_result_add(struct virtbus_results *r, const char *node, enum virtbus_status status,
                    const char *value_json, uint32_t code, const char *text);
/* Appends an agent as presence knows it: its node, up or down, its
 * attributes (JSON; "node" is added) and last heartbeat. */
void cli_agent_add(struct virtbus_agent_list *l, const char *node, bool up,
                   const char *attrs_json, int64_t last_seen_ns);

/* A value from JSON text (the test fails on bad JSON). */
qmf_value *cli_json(const char *text);
/* The JSON text of v, malloc'd. */
char *cli_to_json(const qmf_value *v);
/* Fails the test unless v's JSON text is want. */
void cli_assert_json(const qmf_value *v, const char *want);

#endif
