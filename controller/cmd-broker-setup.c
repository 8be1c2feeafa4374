/*
 * virtbus broker-setup: the least-privilege broker accounts and the topology
 * they need, as rabbitmqctl commands (or, with --json, a definitions file
 * for rabbitmqctl import_definitions).  docs/TRANSPORTS.md, "Least-privilege
 * broker accounts", says what each rule allows and prevents.  Needs no
 * broker: it only prints.
 */
#include "controller/ctl.h"

#include <stdlib.h>
#include <string.h>

#include "core/codec.h"
#include "core/names.h"

#define SETUP_DEFAULT_DELIVERY_LIMIT 5
#define SETUP_MAX_DELIVERY_LIMIT 1000

/*
 * The permissions of one kind of account, as RabbitMQ regexes over the
 * names of exchanges and queues (configure, write, read) and over the
 * routing keys of qmf.default.topic (topic write, topic read).  In an
 * agent's, "%N" stands for its node and "%K" for the routing-key form of
 * it, both quoted for a regex; in every account's, "%T" for the account's
 * part of the AMQP 1.0 stand-in queues' names (bus.h), quoted.  RabbitMQ
 * expands {username} in topic permissions only, and without quoting it (a
 * '.' of a node name would match any character): so each account gets its
 * own, quoted.
 */
struct setup_role {
    const char *name;
    const char *configure, *write, *read;
    const char *topic_write, *topic_read;
};

/* The account's own stand-in queues, which an AMQP 1.0 client declares,
 * binds and consumes where 0-9-1 would have a server-named or exclusive
 * queue: never another account's. */
#define SETUP_TEMP "virtbus\\.tmp\\.%T\\.[0-9a-f]{24}"
_Static_assert(BUS_TEMP_QUEUE_HEX == 24, "SETUP_TEMP counts the stand-ins' hex digits");

static const struct setup_role setup_agent = {
    "agent",
    /* its query queue, which is also the node's lock (exclusive): only its
     * own node's */
    "^(virtbus\\.lock\\.%N|" SETUP_TEMP ")$",
    /* bind the query queue; answers by direct reply-to and fleet records
     * (the default exchange), answers to job queues (direct); indications
     * (topic, by key) */
    "^(virtbus\\.lock\\.%N|" SETUP_TEMP "|amq\\.default|qmf\\.default\\.(direct|topic))$",
    /* its command queue, its query queue; presence, to find who holds its
     * lock; the topic exchange to bind */
    "^(virtbus\\.agent\\.%N|virtbus\\.lock\\.%N|" SETUP_TEMP "|virtbus\\.presence|"
    "qmf\\.default\\.topic)$",
    "^agent\\.ind\\..+\\.virtbus\\.agent\\.%K$",
    "^(console\\.request\\.(query|agent_locate|read)|console\\.ind\\.locate(\\.virtbus:agent:%N)?)$",
};

static const struct setup_role setup_console = {
    "console",
    /* its watch queue; job queues */
    "^(amq\\.gen-.*|" SETUP_TEMP "|virtbus\\.job\\..+)$",
    /* bind those; requests (direct and topic); job records, job markers and
     * the fleet's records by queue name (the default exchange) */
    "^(amq\\.gen-.*|" SETUP_TEMP "|virtbus\\.job\\..+|amq\\.default|"
    "qmf\\.default\\.(direct|topic))$",
    "^(amq\\.gen-.*|" SETUP_TEMP "|virtbus\\.job\\..+|virtbus\\.(presence|fleet|jobs)|"
    "virtbus\\.presence\\.summaries|qmf\\.default\\.(direct|topic))$",
    /* ...and presence summaries: any console may keep presence */
    "^(console\\.request\\.(query|agent_locate|read|method)|virtbus\\.(presence|fleet)\\.marker|"
    "virtbus\\.presence\\.summary)$",
    "^agent\\.ind\\..+$",
};

static const struct setup_role setup_reader = {
    "reader",
    "^(amq\\.gen-.*|" SETUP_TEMP ")$",
    /* broadcast queries, read-only methods (which agents take by their
     * query queues only) and markers: no direct exchange, no default
     * exchange, so no command can be sent */
    "^(amq\\.gen-.*|" SETUP_TEMP "|qmf\\.default\\.topic)$",
    "^(amq\\.gen-.*|" SETUP_TEMP "|virtbus\\.(presence|fleet)|virtbus\\.presence\\.summaries|"
    "qmf\\.default\\.topic)$",
    "^(console\\.request\\.(query|agent_locate|read)|virtbus\\.(presence|fleet)\\.marker)$",
    "^agent\\.ind\\..+$",
};

struct setup {
    const char *vhost;
    const char *queue_type;
    unsigned delivery_limit;
    qmf_value *defs;            /* the definitions document */
    qmf_value *roles;           /* the role of each user, in order */
    qmf_value *users, *permissions, *topic_permissions;
    qmf_value *exchanges, *queues, *bindings;
};

/* Names become broker user names, queue names and regexes: the node
 * name's characters only (qmf_name_char_ok). */
static bool
setup_name_ok(const char *s)
{
    if (*s == '\0' || strlen(s) > BUS_TEMP_QUEUE_USER_MAX)
        return false;
    for (; *s != '\0'; s++)
        if (!qmf_name_char_ok(*s))
            return false;
    return true;
}

/* "a,b" -> [ "a", "b" ] (NULL text: empty); NULL after a warning for a bad
 * name. */
static qmf_value *
setup_names(const char *option, const char *text)
{
    qmf_value *names = qmf_list();
    const char *p = text, *end;
    char *name;

    while (p != NULL && *p != '\0') {
        end = strchr(p, ',');
        name = end ? qmf_xstrndup(p, (size_t)(end - p)) : qmf_xstrdup(p);
        if (!setup_name_ok(name)) {
            ctl_warnx("--%s: '%s' is not a name (letters, digits, '.', '_' and '-'; "
                      "at most %d)",
                      option, name, BUS_TEMP_QUEUE_USER_MAX);
            free(name);
            qmf_free(names);
            return NULL;
        }
        qmf_list_append(names, qmf_string(name));
        free(name);
        p = end ? end + 1 : NULL;
    }
    return names;
}

/* s with the characters a regex gives a meaning quoted. */
static char *
setup_regex_quote(const char *s)
{
    char *out = qmf_xmalloc(2 * strlen(s) + 1), *o = out;

    for (; *s != '\0'; s++) {
        if (strchr(".^$*+?()[]{}|\\", *s) != NULL)
            *o++ = '\\';
        *o++ = *s;
    }
    *o = '\0';
    return out;
}

/* pattern with %N and %K replaced by node's quoted forms, %T by user's. */
static char *
setup_expand(const char *pattern, const char *node, const char *user)
{
    char *key = node ? bus_key_escape(node) : NULL, *temp = bus_temp_queue_user(user);
    char *qnode = node ? setup_regex_quote(node) : NULL, *qkey = key ? setup_regex_quote(key) : NULL;
    char *qtemp = setup_regex_quote(temp);
    size_t cap = strlen(pattern) + 1 + 3 * strlen(qtemp) +
                 (qnode ? 2 * (strlen(qnode) + strlen(qkey)) : 0);
    char *out = qmf_xmalloc(cap), *o = out;
    const char *p;

    for (p = pattern; *p != '\0'; p++) {
        if (p[0] == '%' && (((p[1] == 'N' || p[1] == 'K') && node != NULL) || p[1] == 'T')) {
            const char *with = p[1] == 'N' ? qnode : p[1] == 'K' ? qkey : qtemp;

            memcpy(o, with, strlen(with));
            o += strlen(with);
            p++;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    free(key);
    free(qnode);
    free(qkey);
    free(temp);
    free(qtemp);
    return out;
}

/* The regex of pattern for node and user, as a string value. */
static qmf_value *
setup_regex(const char *pattern, const char *node, const char *user)
{
    char *text = setup_expand(pattern, node, user);
    qmf_value *v = qmf_string(text);

    free(text);
    return v;
}

static void
setup_account(struct setup *s, const struct setup_role *role, const char *user,
              const char *node)
{
    qmf_value *u = qmf_list_append(s->users, qmf_map());
    qmf_value *p = qmf_list_append(s->permissions, qmf_map());
    qmf_value *t = qmf_list_append(s->topic_permissions, qmf_map());

    /* No password: it logs in by certificate (SASL EXTERNAL) until one is
     * set with rabbitmqctl change_password. */
    qmf_map_set(u, "name", qmf_string(user));
    qmf_map_set(u, "password_hash", qmf_string(""));
    qmf_map_set(u, "tags", qmf_string(""));
    qmf_list_append(s->roles, qmf_string(role->name));
    qmf_map_set(p, "user", qmf_string(user));
    qmf_map_set(p, "vhost", qmf_string(s->vhost));
    qmf_map_set(p, "configure", setup_regex(role->configure, node, user));
    qmf_map_set(p, "write", setup_regex(role->write, node, user));
    qmf_map_set(p, "read", setup_regex(role->read, node, user));
    qmf_map_set(t, "user", qmf_string(user));
    qmf_map_set(t, "vhost", qmf_string(s->vhost));
    qmf_map_set(t, "exchange", qmf_string(BUS_EXCHANGE_TOPIC));
    qmf_map_set(t, "write", setup_regex(role->topic_write, node, user));
    qmf_map_set(t, "read", setup_regex(role->topic_read, node, user));
}

static void
setup_exchange(struct setup *s, const char *name, const char *type)
{
    qmf_value *x = qmf_list_append(s->exchanges, qmf_map());

    qmf_map_set(x, "name", qmf_string(name));
    qmf_map_set(x, "vhost", qmf_string(s->vhost));
    qmf_map_set(x, "type", qmf_string(type));
    qmf_map_set(x, "durable", qmf_bool(true));
    qmf_map_set(x, "auto_delete", qmf_bool(false));
    qmf_map_set(x, "internal", qmf_bool(false));
    qmf_map_set(x, "arguments", qmf_map());
}

/* A queue and its bindings, with the arguments its declarers use (a
 * client that still declares it must declare it alike). */
static void
setup_queue(struct setup *s, const struct bus_queue *q)
{
    qmf_value *v = qmf_list_append(s->queues, qmf_map());
    size_t i;

    qmf_map_set(v, "name", qmf_string(q->name));
    qmf_map_set(v, "vhost", qmf_string(s->vhost));
    qmf_map_set(v, "durable", qmf_bool(q->durable));
    qmf_map_set(v, "auto_delete", qmf_bool(q->auto_delete));
    qmf_map_set(v, "arguments", bus_queue_arguments(q));
    for (i = 0; i < q->nbindings; i++) {
        qmf_value *b = qmf_list_append(s->bindings, qmf_map());

        qmf_map_set(b, "source", qmf_string(q->bindings[i].exchange));
        qmf_map_set(b, "vhost", qmf_string(s->vhost));
        qmf_map_set(b, "destination", qmf_string(q->name));
        qmf_map_set(b, "destination_type", qmf_string("queue"));
        qmf_map_set(b, "routing_key", qmf_string(q->bindings[i].key));
        qmf_map_set(b, "arguments", qmf_map());
    }
}

/* The command queue of a node, as its agent declares it (agent/agent.c):
 * targeted requests by its agent name, broadcast methods, dead letters. */
static void
setup_command_queue(struct setup *s, const char *node)
{
    char *queue = qmf_xasprintf("virtbus.agent.%s", node);
    char *agent = virtbus_agent_name(node);
    struct bus_binding bindings[2] = {
        { BUS_EXCHANGE_DIRECT, agent },
        { BUS_EXCHANGE_TOPIC, "console.request.method" },
    };
    qmf_value *args = qmf_map();
    bool quorum = strcmp(s->queue_type, "quorum") == 0;
    struct bus_queue q = {
        .name = queue, .durable = true, .queue_type = s->queue_type,
        .delivery_limit = quorum ? s->delivery_limit : 0,
        .dead_letter_exchange = BUS_EXCHANGE_DIRECT,
        .bindings = bindings, .nbindings = 2, .arguments = args,
    };

    qmf_map_set(args, "x-dead-letter-routing-key", qmf_string(BUS_DEAD_LETTERS));
    setup_queue(s, &q);
    qmf_free(args);
    free(agent);
    free(queue);
}

static void
setup_topology(struct setup *s, const qmf_value *agents)
{
    static const struct bus_binding dead_letter_binding = {
        BUS_EXCHANGE_DIRECT, BUS_DEAD_LETTERS
    };
    const struct bus_queue dead_letters = {
        .name = BUS_DEAD_LETTERS, .durable = true, .queue_type = s->queue_type,
        .bindings = &dead_letter_binding, .nbindings = 1,
    };
    struct bus_queue q;
    qmf_value *args;
    size_t i;

    setup_exchange(s, BUS_EXCHANGE_DIRECT, "direct");
    setup_exchange(s, BUS_EXCHANGE_TOPIC, "topic");
    setup_queue(s, &dead_letters);
    args = bus_presence_queue(&q);
    setup_queue(s, &q);
    qmf_free(args);
    args = bus_summary_queue(&q);
    setup_queue(s, &q);
    qmf_free(args);
    args = bus_jobs_queue(&q);
    setup_queue(s, &q);
    qmf_free(args);
    args = bus_fleet_queue(&q);
    setup_queue(s, &q);
    qmf_free(args);
    for (i = 0; i < qmf_list_len(agents); i++)
        setup_command_queue(s, qmf_as_string(qmf_list_at(agents, i)));
}

/* One resource a line: readable, and a diff shows what changed. */
static void
print_definitions(const qmf_value *defs)
{
    size_t i, j;

    printf("{\n");
    for (i = 0; i < qmf_map_len(defs); i++) {
        const qmf_value *list = qmf_map_at(defs, i)->value;

        printf("  \"%s\": [", qmf_map_at(defs, i)->key);
        for (j = 0; j < qmf_list_len(list); j++) {
            char *text = qmf_to_json(qmf_list_at(list, j), NULL);

            printf("%s\n    %s", j ? "," : "", text);
            free(text);
        }
        printf("%s]%s\n", j ? "\n  " : "", i + 1 < qmf_map_len(defs) ? "," : "");
    }
    printf("}\n");
}

/* Names are checked (setup_name_ok) and regexes hold no quote: safe inside
 * single quotes. */
static void
print_commands(const struct setup *s, const char *invocation)
{
    qmf_value *topology = qmf_map();
    size_t i;

    qmf_map_set(topology, "exchanges", qmf_dup(s->exchanges));
    qmf_map_set(topology, "queues", qmf_dup(s->queues));
    qmf_map_set(topology, "bindings", qmf_dup(s->bindings));
    printf("#!/bin/sh\n"
           "# virtbus least-privilege broker accounts, from\n"
           "#   %s\n"
           "# Run it where rabbitmqctl reaches the broker, as its administrator.\n"
           "# Agents and consoles with these accounts need broker_topology =\n"
           "# \"provisioned\", readers read_only = yes too (docs/TRANSPORTS.md,\n"
           "# \"Least-privilege broker accounts\").\n"
           "set -eu\n"
           "vhost='%s'\n\n"
           "# The exchanges, the shared queues and each agent's command queue with\n"
           "# its bindings: the accounts below may only check that they exist.\n"
           "# RabbitMQ applies an import in the background, within moments.\n"
           "rabbitmqctl import_definitions <<'EOF'\n",
           invocation, s->vhost);
    print_definitions(topology);
    printf("EOF\n\n"
           "# A user that does not exist yet is made without a password: it logs\n"
           "# in by its certificate (SASL EXTERNAL, whose user is the certificate's\n"
           "# common name).  To log in with a password instead:\n"
           "#   rabbitmqctl change_password USER\n"
           "# (rabbitmqctl reads the throwaway password on its standard input.)\n"
           "users=$(rabbitmqctl --silent list_users | cut -f1)\n"
           "user() {\n"
           "    printf '%%s\\n' \"$users\" | grep -qxF \"$1\" ||\n"
           "        { { od -An -N16 -tx1 /dev/urandom | tr -d ' \\n'; echo; } |\n"
           "              rabbitmqctl add_user \"$1\" >/dev/null &&\n"
           "          rabbitmqctl clear_password \"$1\"; }\n"
           "}\n");
    for (i = 0; i < qmf_list_len(s->users); i++) {
        const qmf_value *u = qmf_list_at(s->users, i);
        const qmf_value *p = qmf_list_at(s->permissions, i);
        const qmf_value *t = qmf_list_at(s->topic_permissions, i);
        const char *name = qmf_map_get_string(u, "name");

        printf("\n# %s %s\nuser '%s'\n", qmf_as_string(qmf_list_at(s->roles, i)), name, name);
        printf("rabbitmqctl set_permissions -p \"$vhost\" '%s' \\\n    '%s' \\\n    '%s' \\\n"
               "    '%s'\n", name, qmf_map_get_string(p, "configure"),
               qmf_map_get_string(p, "write"), qmf_map_get_string(p, "read"));
        printf("rabbitmqctl set_topic_permissions -p \"$vhost\" '%s' %s \\\n    '%s' \\\n"
               "    '%s'\n", name, BUS_EXCHANGE_TOPIC, qmf_map_get_string(t, "write"),
               qmf_map_get_string(t, "read"));
    }
    qmf_free(topology);
}

static int
setup_options(const struct ctl_cmd_entry *e, const struct ctl_args *a, struct setup *s)
{
    const char *type = ctl_args_get(a, e, "queue-type");
    const char *limit = ctl_args_get(a, e, "delivery-limit");
    char *end;
    unsigned long n;

    s->vhost = ctl_args_get(a, e, "vhost") ? ctl_args_get(a, e, "vhost") : "/";
    s->queue_type = type ? type : "quorum";
    if (strcmp(s->queue_type, "quorum") != 0 && strcmp(s->queue_type, "classic") != 0)
        return ctl_usage(e, "--queue-type: expected quorum or classic, got '%s'", type);
    s->delivery_limit = SETUP_DEFAULT_DELIVERY_LIMIT;
    if (limit != NULL) {
        n = strtoul(limit, &end, 10);
        if (end == limit || *end != '\0' || n > SETUP_MAX_DELIVERY_LIMIT)
            return ctl_usage(e, "--delivery-limit: expected 0..%d, got '%s'",
                             SETUP_MAX_DELIVERY_LIMIT, limit);
        s->delivery_limit = (unsigned)n;
    }
    return CTL_EXIT_OK;
}

/* The command line as it was given, for the script's heading. */
static char *
setup_invocation(const struct ctl_cmd_entry *e, const struct ctl_args *a)
{
    static const char *const shown[] = {
        "agents", "consoles", "readers", "vhost", "queue-type", "delivery-limit", NULL,
    };
    char *line = qmf_xstrdup("virtbus broker-setup"), *next;
    size_t i;

    for (i = 0; shown[i] != NULL; i++) {
        if (ctl_args_get(a, e, shown[i]) == NULL)
            continue;
        next = qmf_xasprintf("%s --%s %s", line, shown[i], ctl_args_get(a, e, shown[i]));
        free(line);
        line = next;
    }
    return line;
}

static int
broker_setup_exec(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, struct ctl_args *a)
{
    static const struct { const char *option; const struct setup_role *role; } kinds[] = {
        { "agents", &setup_agent },
        { "consoles", &setup_console },
        { "readers", &setup_reader },
    };
    qmf_value *names[3] = { NULL, NULL, NULL }, *seen = qmf_map();
    struct setup s = { 0 };
    char *invocation;
    size_t k, i;
    int rc;

    if (a->argc > 0)
        return ctl_usage(e, NULL);
    if ((rc = setup_options(e, a, &s)) != CTL_EXIT_OK)
        return rc;
    rc = CTL_EXIT_USAGE;
    for (k = 0; k < 3; k++) {
        names[k] = setup_names(kinds[k].option, ctl_args_get(a, e, kinds[k].option));
        if (names[k] == NULL)
            goto out;
        /* One broker user, one account. */
        for (i = 0; i < qmf_list_len(names[k]); i++) {
            const char *name = qmf_as_string(qmf_list_at(names[k], i));

            if (qmf_map_get(seen, name) != NULL) {
                ctl_warnx("'%s' is named twice: each broker user has one account", name);
                goto out;
            }
            qmf_map_set(seen, name, qmf_bool(true));
        }
    }
    if (qmf_map_len(seen) == 0) {
        rc = ctl_usage(e, "name the accounts: --agents, --consoles, --readers");
        goto out;
    }
    s.defs = qmf_map();
    s.roles = qmf_list();
    s.users = qmf_map_set(s.defs, "users", qmf_list());
    s.permissions = qmf_map_set(s.defs, "permissions", qmf_list());
    s.topic_permissions = qmf_map_set(s.defs, "topic_permissions", qmf_list());
    s.exchanges = qmf_map_set(s.defs, "exchanges", qmf_list());
    s.queues = qmf_map_set(s.defs, "queues", qmf_list());
    s.bindings = qmf_map_set(s.defs, "bindings", qmf_list());
    for (k = 0; k < 3; k++)
        for (i = 0; i < qmf_list_len(names[k]); i++) {
            const char *name = qmf_as_string(qmf_list_at(names[k], i));

            setup_account(&s, kinds[k].role, name, kinds[k].role == &setup_agent ? name : NULL);
        }
    setup_topology(&s, names[0]);
    if (ctx->json) {
        print_definitions(s.defs);
    } else {
        invocation = setup_invocation(e, a);
        print_commands(&s, invocation);
        free(invocation);
    }
    rc = CTL_EXIT_OK;
out:
    for (k = 0; k < 3; k++)
        qmf_free(names[k]);
    qmf_free(seen);
    qmf_free(s.defs);
    qmf_free(s.roles);
    return rc;
}

static const struct ctl_option broker_setup_options[] = {
    { "agents", 0, "NODES", "agents' accounts, one per node (user = node name)", NULL },
    { "consoles", 0, "NAMES", "operators' consoles: requests, jobs, events, presence", NULL },
    { "readers", 0, "NAMES", "read-only consoles: broadcast queries, events, presence", NULL },
    { "vhost", 0, "VHOST", "the virtual host (default /)", NULL },
    { "queue-type", 0, "TYPE", "agents' command queues: quorum (default) or classic", NULL },
    { "delivery-limit", 0, "N", "quorum command queues: deliveries before dead-lettering "
      "(default 5)", NULL },
    { 0 },
};

const struct ctl_cmd_entry ctl_cmds_broker_setup[] = {
    { .name = "broker-setup",
      .usage = "[--agents NODES] [--consoles NAMES] [--readers NAMES] [--vhost VHOST] "
      "[--queue-type TYPE] [--delivery-limit N]",
      .summary = "least-privilege broker accounts and topology, as rabbitmqctl commands",
      .accepts = CTL_OFFLINE, .options = broker_setup_options, .exec = broker_setup_exec },
    { 0 },
};
