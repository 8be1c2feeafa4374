/*
 * Requests from the command queue: validation, targeting, the sender's
 * signature and validity window, then one handler per opcode, each of
 * which asks the guard whether the sender may (docs/SECURITY.md).  Locates
 * and queries are answered at once from the inventory; methods are checked
 * against the schema here and executed on a worker thread, ordered per
 * object.  Every request that can be answered gets an answer, an
 * _exception at worst, and the agent keeps serving.
 */
#include "agent/agent_impl.h"
#include "agent/clock.h"

#include <stdlib.h>
#include <string.h>

#include "agent/journal.h"

typedef int (*request_fn)(struct agent *a, struct bus_delivery *d,
                          const struct bus_message *m, const struct agent_caller *caller,
                          bool durable, qmf_error *err);

static int handle_locate(struct agent *a, struct bus_delivery *d,
                         const struct bus_message *m, const struct agent_caller *caller,
                         bool durable, qmf_error *err);
static int handle_query(struct agent *a, struct bus_delivery *d,
                        const struct bus_message *m, const struct agent_caller *caller,
                        bool durable, qmf_error *err);
static int handle_method(struct agent *a, struct bus_delivery *d,
                         const struct bus_message *m, const struct agent_caller *caller,
                         bool durable, qmf_error *err);

static const struct {
    const char *opcode;
    request_fn handle;
} request_handlers[] = {
    { "_agent_locate_request", handle_locate },
    { "_query_request", handle_query },
    { "_method_request", handle_method },
};

/* The command record every refused method leaves behind. */
static void
publish_command_result(struct agent *a, const struct bus_message *m,
                       const struct agent_caller *caller, const char *object_name,
                       const char *method_name, const char *outcome, const qmf_error *err,
                       bus_confirm_cb confirm, void *opaque)
{
    qmf_value *v = agent_command_result(caller, m, NULL, object_name, method_name, outcome,
                                        err, 0);

    agent_count_command(a, v);
    agent_publish_event(a, "commandResult", v, confirm, opaque);
}

/* Broadcasts arrive through the topic exchange with console.* keys. */
static bool
is_broadcast(const struct bus_message *m)
{
    return m->subject != NULL && strncmp(m->subject, "console.", 8) == 0;
}

/*
 * Whether now_ms is past created + ttl, and by how much.  Both come from
 * the sender: the deadline saturates at INT64_MAX (a deadline past the end
 * of time never comes), and the lateness is counted in uint64, where any
 * difference of two int64 fits.
 */
bool
agent_request_expired(int64_t created_ms, uint64_t ttl_ms, int64_t now_ms, uint64_t *late_ms)
{
    int64_t deadline;

    if (ttl_ms == 0 || created_ms == 0)
        return false;
    if (ttl_ms > (uint64_t)INT64_MAX || created_ms > INT64_MAX - (int64_t)ttl_ms)
        deadline = INT64_MAX;
    else
        deadline = created_ms + (int64_t)ttl_ms;
    if (now_ms <= deadline)
        return false;
    *late_ms = (uint64_t)now_ms - (uint64_t)deadline;
    return true;
}

/*
 * A field of a request map that must be a string when present: 0 with *out
 * NULL when absent, -1 (error 5, naming the field) when of another kind.
 * A wrongly typed field is never taken for an absent one: an _agent_name
 * that is not a string would otherwise send a command to every agent.
 */
static int
field_string(const qmf_value *map, const char *key, const char **out, qmf_error *err)
{
    const qmf_value *v = qmf_map_get(map, key);

    *out = NULL;
    if (v == NULL)
        return 0;
    if (v->kind != QMF_STRING) {
        qmf_error_set(err, QMF_ERR_MALFORMED, "%s must be a string, not a %s", key,
                      qmf_kind_name(v->kind));
        return -1;
    }
    *out = qmf_as_string(v);
    return 0;
}

/* The same for a map field (_object_id, _schema_id). */
static int
field_map(const qmf_value *map, const char *key, const qmf_value **out, qmf_error *err)
{
    const qmf_value *v = qmf_map_get(map, key);

    *out = v;
    if (v != NULL && v->kind != QMF_MAP) {
        qmf_error_set(err, QMF_ERR_MALFORMED, "%s must be a map, not a %s", key,
                      qmf_kind_name(v->kind));
        return -1;
    }
    return 0;
}

/*
 * A request's _object_id: *present, and its agent and object names (NULL
 * when it names none).  The map {_agent_name, _object_name} (§1.2), or a
 * string, as Python's qmf2 sends it: the object's name, of the agent the
 * request was sent to.
 */
static int
object_id(const qmf_value *body, bool *present, const char **agent, const char **name,
          qmf_error *err)
{
    const qmf_value *oid = qmf_map_get(body, "_object_id");

    *agent = *name = NULL;
    *present = oid != NULL;
    if (oid != NULL && oid->kind == QMF_STRING) {
        *name = qmf_as_string(oid);
        return 0;
    }
    if (field_map(body, "_object_id", &oid, err) != 0 ||
        field_string(oid, "_agent_name", agent, err) != 0 ||
        field_string(oid, "_object_name", name, err) != 0)
        return -1;
    return 0;
}

/* The agent name of a request's _object_id, NULL if it names none. */
static int
object_owner(const qmf_value *body, const char **owner, qmf_error *err)
{
    const char *name;
    bool present;

    return object_id(body, &present, owner, &name, err);
}

/* Requests for methods name their target in the body; for the record. */
static void
method_names(const struct bus_message *m, const char **object_name,
             const char **method_name)
{
    const char *agent;
    qmf_error err;
    bool present;

    *object_name = NULL;
    if (m->body != NULL && m->body->kind == QMF_MAP)
        object_id(m->body, &present, &agent, object_name, &err);
    *method_name = m->body ? qmf_map_get_string(m->body, "_method_name") : NULL;
}

/*
 * A refused command is acked once the broker confirmed its commandResult:
 * the record of its fate (expired, rejected) is then on the broker.  If it
 * is not, the request goes back and is refused again, recorded again.
 */
static void
refusal_recorded(bool ok, void *opaque)
{
    struct bus_delivery *d = opaque;

    if (ok)
        bus_ack(d);
    else
        bus_reject(d, true);
}

/* caller NULL: the sender is not known (its signature failed). */
static void
refuse(struct agent *a, struct bus_delivery *d, const struct bus_message *m,
       const char *opcode, const struct agent_caller *caller, const qmf_error *err)
{
    const char *object_name = NULL, *method_name = NULL;
    const char *outcome = err->code == QMF_ERR_EXPIRED ? "expired" : "rejected";
    bool method = opcode && strcmp(opcode, "_method_request") == 0;

    log_info(&a->log, "refused %.100s from %s (%.300s): %s", opcode ? opcode : "request",
             caller != NULL ? caller->name : "an unknown sender",
             m->reply_to ? m->reply_to : "no reply-to", err->text);
    agent_reply_exception(a, m, err, NULL, NULL);
    if (method)
        method_names(m, &object_name, &method_name);
    agent_audit(a, caller, m, method ? method_name : opcode, object_name, outcome, err);
    if (method) {
        publish_command_result(a, m, caller, object_name, method_name, outcome, err,
                               refusal_recorded, d);
        return;
    }
    bus_ack(d);
}

/*
 * A command the journal knows was taken in time (it ran, began, or had
 * its objects selected): a repeat of it past its deadline is answered
 * from the journal, not refused as expired, which would contradict what
 * was recorded.
 */
static bool
command_on_record(struct agent *a, const struct bus_message *m,
                  const struct agent_caller *caller)
{
    const char *object_name, *method_name;
    uint8_t digest[JOURNAL_DIGEST_LEN];

    if (a->journal == NULL || m->message_id == NULL || m->message_id[0] == '\0')
        return false;
    method_names(m, &object_name, &method_name);
    agent_command_digest(m, caller, digest);
    return journal_lookup(a->journal, m->message_id, object_name ? object_name : "",
                          digest, NULL, NULL, NULL) != JOURNAL_UNKNOWN;
}

/* durable: the request came by the agent's durable queue (else by its
 * private queue of broadcast queries). */
static void
dispatch(struct agent *a, struct bus_delivery *d, const struct bus_message *m, bool durable)
{
    const char *opcode = bus_message_header(m, "qmf.opcode");
    const qmf_value *target;
    struct agent_caller caller;
    /* QMFv2's locate carries a predicate list, or nothing at all. */
    bool locate = opcode != NULL && strcmp(opcode, "_agent_locate_request") == 0;
    bool method;
    uint64_t late_ms;
    qmf_error err;
    size_t i;
    int rc;

    if (a->state != AGENT_RUNNING) {
        /* Leave it for the next run of this agent. */
        bus_reject(d, true);
        return;
    }
    if (m->body == NULL && !(locate && m->body_absent)) {
        refuse(a, d, m, opcode, NULL, &m->body_error);
        return;
    }
    if (opcode == NULL) {
        if (qmf_map_get(m->headers, "qmf.opcode") != NULL)
            qmf_error_set(&err, QMF_ERR_MALFORMED, "qmf.opcode must be a string, not a %s",
                          qmf_kind_name(qmf_map_get(m->headers, "qmf.opcode")->kind));
        else
            qmf_error_set(&err, QMF_ERR_MALFORMED, "the request has no qmf.opcode");
        refuse(a, d, m, opcode, NULL, &err);
        return;
    }
    if (m->body != NULL && m->body->kind != QMF_MAP && !(locate && m->body->kind == QMF_LIST)) {
        qmf_error_set(&err, QMF_ERR_MALFORMED, "the body of %s must be a map, not a %s",
                      opcode, qmf_kind_name(m->body->kind));
        refuse(a, d, m, opcode, NULL, &err);
        return;
    }
    method = strcmp(opcode, "_method_request") == 0;
    /* Before the signature: the agents a broadcast is not for spend nothing
     * on checking it. */
    target = qmf_map_get(m->body, "_target");
    if (target != NULL) {
        qmf_where *w = qmf_where_compile(target, &err);
        qmf_value *attrs;

        if (w == NULL) {
            qmf_error_set(&err, QMF_ERR_INVALID_ARGS, "bad _target: %.400s", err.text);
            refuse(a, d, m, opcode, NULL, &err);
            return;
        }
        attrs = agent_attributes(a);
        rc = qmf_where_test(w, attrs, &err);
        qmf_free(attrs);
        qmf_where_free(w);
        if (rc < 0) {
            refuse(a, d, m, opcode, NULL, &err);
            return;
        }
        if (rc == 0) {
            /* A broadcast for other agents: stay silent. */
            bus_ack(d);
            return;
        }
    }
    /* Nothing is sent to a reply-to that is not a reply address (§3.3):
     * refused, recorded if a command, and the refusal goes nowhere (a
     * refusal for another reason, above, goes nowhere either: agent_reply
     * checks every address).  After _target, so that only the agents a
     * broadcast is for record it. */
    if (m->reply_to != NULL && !agent_reply_address_allowed(m->reply_to, &err)) {
        refuse(a, d, m, opcode, NULL, &err);
        return;
    }
    /* By the query queue only methods that change nothing come, with
     * their own key; check_method holds the method to that. */
    if (!durable && method &&
        (m->subject == NULL || strcmp(m->subject, BUS_READ_METHOD_KEY) != 0)) {
        qmf_error_set(&err, QMF_ERR_INVALID_ARGS,
                      "commands are broadcast with key console.request.method, "
                      "where they wait for agents that are down (methods that change "
                      "nothing with key " BUS_READ_METHOD_KEY ")");
        refuse(a, d, m, opcode, NULL, &err);
        return;
    }
    if (agent_guard_identify(a->guard, m, m->subject, clock_wall_ns() / 1000000, &caller,
                             &err) != 0) {
        /* Signed, and out of its window: a repeat of a command taken in
         * time is answered from the journal, not refused as expired,
         * which would contradict what was recorded. */
        bool signer_known = err.code == QMF_ERR_EXPIRED;

        if (!(signer_known && method && command_on_record(a, m, &caller))) {
            refuse(a, d, m, opcode, signer_known ? &caller : NULL, &err);
            return;
        }
    } else if (!caller.is_signed &&
               agent_request_expired(m->created_ms, m->ttl_ms, clock_wall_ns() / 1000000,
                                     &late_ms) &&
               !(method && command_on_record(a, m, &caller))) {
        qmf_error_set(&err, QMF_ERR_EXPIRED,
                      "the request expired %llu ms before it could run (ttl %llu ms)",
                      (unsigned long long)late_ms, (unsigned long long)m->ttl_ms);
        refuse(a, d, m, opcode, &caller, &err);
        return;
    }
    for (i = 0; i < sizeof(request_handlers) / sizeof(request_handlers[0]); i++) {
        if (strcmp(opcode, request_handlers[i].opcode) != 0)
            continue;
        if (request_handlers[i].handle(a, d, m, &caller, durable, &err) != 0)
            refuse(a, d, m, opcode, &caller, &err);
        return;
    }
    qmf_error_set(&err, QMF_ERR_MALFORMED, "unknown opcode '%.100s'", opcode);
    refuse(a, d, m, opcode, &caller, &err);
}

void
agent_on_request(struct bus_delivery *d, const struct bus_message *m, void *opaque)
{
    dispatch(opaque, d, m, true);
}

void
agent_on_broadcast_query(struct bus_delivery *d, const struct bus_message *m, void *opaque)
{
    dispatch(opaque, d, m, false);
}

/* Authorization ---------------------------------------------------------- */

static unsigned
role_bit(enum schema_role role)
{
    switch (role) {
    case SCHEMA_ROLE_ADMIN:
        return TRUST_ROLE_ADMIN;
    case SCHEMA_ROLE_OPERATOR:
        return TRUST_ROLE_OPERATOR;
    case SCHEMA_ROLE_READER:
    default:
        return TRUST_ROLE_READER;
    }
}

/* QMF_ERR_UNAUTHORIZED unless the caller may do action here
 * (docs/SECURITY.md §4); class_name may be NULL. */
static int
authorize(struct agent *a, const struct agent_caller *c, const char *action,
          const char *class_name, enum schema_role needs, qmf_error *err)
{
    struct agent_action act = {
        .action = action,
        .class_name = class_name,
        .needs = role_bit(needs),
        .node = a->cfg.node,
        .labels = a->cfg.labels,
    };

    return agent_guard_authorize(a->guard, c, &act, err);
}

/* Reading the objects of a class. */
static int
authorize_query(struct agent *a, const struct agent_caller *c,
                const struct schema_class *cls, qmf_error *err)
{
    char *action = qmf_xasprintf("%s.query", cls->name);
    int rc = authorize(a, c, action, cls->name, SCHEMA_ROLE_READER, err);

    free(action);
    return rc;
}

/* Locate ----------------------------------------------------------------- */

/*
 * A locate's predicate: virtbus's {"_where": predicate} (or {}), or
 * QMFv2's body that is the predicate itself, a list, where [] (like no
 * body at all) means every agent.  NULL: every agent.
 */
static const qmf_value *
locate_predicate(const struct bus_message *m)
{
    if (m->body == NULL)
        return NULL;
    if (m->body->kind == QMF_LIST)
        return qmf_list_len(m->body) > 0 ? m->body : NULL;
    return qmf_map_get(m->body, "_where");
}

static int
handle_locate(struct agent *a, struct bus_delivery *d,
              const struct bus_message *m, const struct agent_caller *caller, bool durable,
              qmf_error *err)
{
    const qmf_value *where = locate_predicate(m);
    qmf_value *attrs, *body;

    (void)durable;          /* a locate is the same by either queue */
    if (authorize(a, caller, "locate", NULL, SCHEMA_ROLE_READER, err) != 0)
        return -1;
    attrs = agent_attributes(a);

    if (where != NULL) {
        qmf_where *w = qmf_where_compile(where, err);
        int match;

        if (w == NULL) {
            qmf_free(attrs);
            return -1;
        }
        match = qmf_where_test(w, attrs, err);
        qmf_where_free(w);
        if (match != 1) {
            qmf_free(attrs);
            if (match < 0)
                return -1;
            bus_ack(d);
            return 0;
        }
    }
    body = qmf_map();
    qmf_map_set(body, "_values", attrs);
    agent_reply(a, m, "_agent_locate_response", NULL, false, body, NULL, NULL);
    bus_ack(d);
    return 0;
}

/* Query ------------------------------------------------------------------ */

/* Sends a result list in batches: `partial` on every message but the last,
 * and one (empty) message when there are no results. */
static void
reply_batches(struct agent *a, const struct bus_message *m, const char *content,
              qmf_value *results)
{
    size_t n = qmf_list_len(results), i = 0;

    do {
        qmf_value *batch = qmf_list();
        size_t end = i + AGENT_ANSWER_BATCH < n ? i + AGENT_ANSWER_BATCH : n;

        for (; i < end; i++)
            qmf_list_append(batch, qmf_list_steal(results, i));
        agent_reply(a, m, "_query_response", content, i < n, batch, NULL, NULL);
    } while (i < n);
    qmf_free(results);
}

struct select_ctx {
    struct agent *a;
    qmf_value *results;
    bool ids_only;
    const qmf_value *properties;    /* _properties: the only ones to send, or NULL */
    /* A query without a class: the classes the caller may read, by their
     * index in the schema; NULL when the class was checked as a whole. */
    const bool *readable;
};

static void
select_one(const struct inv_object *o, void *opaque)
{
    struct select_ctx *ctx = opaque;
    qmf_value *values;
    size_t i;

    if (ctx->readable != NULL && !ctx->readable[o->cls - ctx->a->env.schema->classes])
        return;

    if (ctx->ids_only) {
        qmf_list_append(ctx->results, inv_object_id(&ctx->a->inv, o->name));
        return;
    }
    if (ctx->properties == NULL) {
        values = qmf_dup(o->values);
    } else {
        values = qmf_map();
        for (i = 0; i < qmf_list_len(ctx->properties); i++) {
            const char *name = qmf_as_string(qmf_list_at(ctx->properties, i));
            const qmf_value *v = qmf_map_get(o->values, name);

            if (v != NULL)
                qmf_map_set(values, name, qmf_dup(v));
        }
    }
    qmf_list_append(ctx->results,
                    inv_object_data_with(&ctx->a->inv, o, !ctx->a->driver_up, values));
}

/*
 * _properties (a virtbus extension): a list of property names; only these
 * are sent in _values.  Names the class lacks are left out, not refused,
 * so that a console may ask agents of several versions alike.
 */
static int
requested_properties(const qmf_value *body, const qmf_value **out, qmf_error *err)
{
    const qmf_value *p = qmf_map_get(body, "_properties");
    size_t i;

    *out = NULL;
    if (p == NULL)
        return 0;
    if (p->kind != QMF_LIST) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "_properties must be a list of names, not a %s",
                      qmf_kind_name(p->kind));
        return -1;
    }
    for (i = 0; i < qmf_list_len(p); i++)
        if (qmf_list_at(p, i)->kind != QMF_STRING) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                          "_properties must be a list of names; item %zu is a %s", i,
                          qmf_kind_name(qmf_list_at(p, i)->kind));
            return -1;
        }
    *out = p;
    return 0;
}

/* The class a request names in _schema_id, NULL if it names none. */
static int
requested_class(struct agent *a, const qmf_value *body,
                const struct schema_class **cls, qmf_error *err)
{
    const qmf_value *sid;
    const char *name, *package;

    *cls = NULL;
    if (field_map(body, "_schema_id", &sid, err) != 0)
        return -1;
    if (sid == NULL)
        return 0;
    if (field_string(sid, "_package_name", &package, err) != 0)
        return -1;
    if (package != NULL && strcmp(package, SCHEMA_PACKAGE) != 0) {
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT, "unknown package '%.100s'", package);
        return -1;
    }
    if (field_string(sid, "_class_name", &name, err) != 0)
        return -1;
    if (name == NULL) {
        qmf_error_set(err, QMF_ERR_MALFORMED, "_schema_id has no _class_name");
        return -1;
    }
    *cls = schema_find_class(a->env.schema, name);
    if (*cls == NULL) {
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT, "unknown class '%.100s'", name);
        return -1;
    }
    return 0;
}

static int
query_schema(struct agent *a, const struct bus_message *m, const struct agent_caller *caller,
             bool ids_only, qmf_error *err)
{
    const struct schema_class *cls;
    qmf_value *results;
    size_t i;

    if (authorize(a, caller, "schema", NULL, SCHEMA_ROLE_READER, err) != 0 ||
        requested_class(a, m->body, &cls, err) != 0)
        return -1;
    results = qmf_list();
    for (i = 0; i < a->env.schema->nclasses; i++) {
        const struct schema_class *c = &a->env.schema->classes[i];

        if (cls != NULL && c != cls)
            continue;
        qmf_list_append(results, ids_only ? schema_id_value(c) : schema_class_value(c));
    }
    reply_batches(a, m, ids_only ? "_schema_id" : "_schema", results);
    return 0;
}

/*
 * A query without a class answers the objects of the classes the caller
 * may read; NULL (err set to the first refusal) if it may read none.
 */
static bool *
readable_classes(struct agent *a, const struct agent_caller *caller, qmf_error *err)
{
    const struct schema *s = a->env.schema;
    bool *readable = qmf_xcalloc(s->nclasses + 1, sizeof(*readable)), any = false;
    qmf_error first, why;
    size_t i;

    qmf_error_clear(&first);
    for (i = 0; i < s->nclasses; i++) {
        if (s->classes[i].kind != SCHEMA_DATA)
            continue;
        readable[i] = authorize_query(a, caller, &s->classes[i], &why) == 0;
        any |= readable[i];
        if (!readable[i] && first.code == 0)
            first = why;
    }
    if (!any) {
        *err = first;
        free(readable);
        return NULL;
    }
    return readable;
}

static int
query_objects(struct agent *a, const struct bus_message *m, const struct agent_caller *caller,
              bool ids_only, qmf_error *err)
{
    const qmf_value *where_expr = qmf_map_get(m->body, "_where");
    bool oid;
    struct select_ctx ctx = { .a = a, .ids_only = ids_only };
    const struct schema_class *cls;
    const char *agent = NULL, *name = NULL;
    qmf_where *where = NULL;
    bool *readable = NULL;
    int rc = 0;

    if (requested_class(a, m->body, &cls, err) != 0 ||
        requested_properties(m->body, &ctx.properties, err) != 0)
        return -1;
    if (object_id(m->body, &oid, &agent, &name, err) != 0)
        return -1;
    if (oid && name == NULL) {
        qmf_error_set(err, QMF_ERR_MALFORMED, "_object_id needs an _object_name");
        return -1;
    }
    if (cls != NULL ? authorize_query(a, caller, cls, err) != 0
                    : (readable = readable_classes(a, caller, err)) == NULL)
        return -1;
    ctx.readable = readable;
    if (where_expr != NULL && (where = qmf_where_compile(where_expr, err)) == NULL) {
        free(readable);
        return -1;
    }
    ctx.results = qmf_list();
    if (oid) {
        const struct inv_object *o;

        /* An id of another agent is not ours to answer: empty result. */
        o = (agent == NULL || strcmp(agent, a->name) == 0) ? inv_get(&a->inv, name) : NULL;
        if (o != NULL && (cls == NULL || o->cls == cls) &&
            (where == NULL || (rc = qmf_where_test(where, o->values, err)) == 1))
            select_one(o, &ctx);
    } else {
        rc = inv_select(&a->inv, cls, where, select_one, &ctx, err);
    }
    qmf_where_free(where);
    free(readable);
    if (rc < 0) {
        /* A regex limit: no answer is better than a partial one. */
        qmf_free(ctx.results);
        return -1;
    }
    reply_batches(a, m, ids_only ? "_object_id" : "_data", ctx.results);
    return 0;
}

static int
handle_query(struct agent *a, struct bus_delivery *d,
             const struct bus_message *m, const struct agent_caller *caller, bool durable,
             qmf_error *err)
{
    const char *what, *owner;
    int rc;

    (void)durable;          /* a query is the same by either queue */
    if (field_string(m->body, "_what", &what, err) != 0 ||
        object_owner(m->body, &owner, err) != 0)
        return -1;
    if (what == NULL) {
        qmf_error_set(err, QMF_ERR_MALFORMED, "_query_request needs a _what string");
        return -1;
    }
    if (owner != NULL && strcmp(owner, a->name) != 0 && is_broadcast(m)) {
        bus_ack(d);             /* another agent's object: its owner answers */
        return 0;
    }
    if (strcmp(what, "OBJECT") == 0)
        rc = query_objects(a, m, caller, false, err);
    else if (strcmp(what, "OBJECT_ID") == 0)
        rc = query_objects(a, m, caller, true, err);
    else if (strcmp(what, "SCHEMA") == 0)
        rc = query_schema(a, m, caller, false, err);
    else if (strcmp(what, "SCHEMA_ID") == 0)
        rc = query_schema(a, m, caller, true, err);
    else {
        qmf_error_set(err, QMF_ERR_MALFORMED,
                      "unknown _what '%.100s' (OBJECT, OBJECT_ID, SCHEMA or SCHEMA_ID)", what);
        return -1;
    }
    if (rc == 0)
        bus_ack(d);
    return rc;
}

/* Methods ---------------------------------------------------------------- */

/* What a method request asks, checked against the schema, for one class. */
struct method_check {
    const struct schema_method *sm;
    const struct agent_method *impl;
    qmf_value *args;            /* checked and coerced; owned */
};

static int
check_method(struct agent *a, const struct bus_message *m, const struct agent_caller *caller,
             const struct schema_class *cls, bool durable, struct method_check *mc,
             qmf_error *err)
{
    const qmf_value *args = qmf_map_get(m->body, "_arguments");
    const char *method_name;

    memset(mc, 0, sizeof(*mc));
    if (field_string(m->body, "_method_name", &method_name, err) != 0)
        return -1;
    if (method_name == NULL) {
        qmf_error_set(err, QMF_ERR_MALFORMED, "_method_request needs a _method_name string");
        return -1;
    }
    if (args != NULL && args->kind != QMF_MAP) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "_arguments must be a map, not a %s",
                      qmf_kind_name(args->kind));
        return -1;
    }
    mc->sm = schema_find_method(cls, method_name);
    if (mc->sm == NULL) {
        qmf_error_set(err, QMF_ERR_UNKNOWN_METHOD, "class %s has no method '%.100s'",
                      cls->name, method_name);
        return -1;
    }
    /* The query queue keeps nothing for an agent that is down, and what
     * comes by it is not journaled: only what changes nothing may. */
    if (!durable && !mc->sm->readonly) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "%s.%s changes things: commands are broadcast with key "
                      "console.request.method, where they wait for agents that are down",
                      cls->name, mc->sm->name);
        return -1;
    }
    {
        char *action = qmf_xasprintf("%s.%s", cls->name, mc->sm->name);
        int rc = authorize(a, caller, action, cls->name, mc->sm->role, err);

        free(action);
        if (rc != 0)
            return -1;
    }
    mc->args = args ? qmf_dup(args) : NULL;
    if (schema_check_args(mc->sm, &mc->args, err) != 0)
        goto fail;
    mc->impl = agent_find_method(cls->name, mc->sm->name);
    if (mc->impl == NULL) {
        qmf_error_set(err, QMF_ERR_NOT_IMPLEMENTED,
                      "%s.%s is not implemented by this agent (driver libvirt)",
                      cls->name, mc->sm->name);
        goto fail;
    }
    if (!a->driver_up) {
        qmf_error_set(err, QMF_ERR_DRIVER_DOWN, "not connected to %s", a->cfg.uri);
        goto fail;
    }
    return 0;
fail:
    qmf_free(mc->args);
    mc->args = NULL;
    return -1;
}

/* A method on every object of a class that _where selects (§7.4). */
static int
handle_method_where(struct agent *a, struct bus_delivery *d, const struct bus_message *m,
                    const struct agent_caller *caller, bool durable, qmf_error *err)
{
    const qmf_value *where_expr = qmf_map_get(m->body, "_where");
    const struct schema_class *cls;
    struct method_check mc;
    qmf_where *where = NULL;
    int rc;

    if (requested_class(a, m->body, &cls, err) != 0)
        return -1;
    if (cls == NULL || cls->kind != SCHEMA_DATA) {
        qmf_error_set(err, QMF_ERR_MALFORMED, "_schema_id must name a data class");
        return -1;
    }
    if (where_expr != NULL && (where = qmf_where_compile(where_expr, err)) == NULL)
        return -1;
    if (check_method(a, m, caller, cls, durable, &mc, err) != 0) {
        qmf_where_free(where);
        return -1;
    }
    rc = agent_command_where(a, d, m, caller, cls, mc.sm, mc.impl, mc.args, where, err);
    qmf_where_free(where);
    qmf_free(mc.args);
    return rc;
}


static int
handle_method(struct agent *a, struct bus_delivery *d,
              const struct bus_message *m, const struct agent_caller *caller, bool durable,
              qmf_error *err)
{
    const char *agent, *name;
    const struct inv_object *o;
    struct method_check mc;
    bool oid;

    if (object_id(m->body, &oid, &agent, &name, err) != 0)
        return -1;
    if (!oid && qmf_map_get(m->body, "_schema_id") != NULL)
        return handle_method_where(a, d, m, caller, durable, err);
    if (name == NULL) {
        qmf_error_set(err, QMF_ERR_MALFORMED,
                      "_method_request needs an _object_id with an _object_name, "
                      "or a _schema_id (and _where) selecting objects");
        return -1;
    }
    if (agent != NULL && strcmp(agent, a->name) != 0) {
        if (is_broadcast(m)) {
            bus_ack(d);         /* another agent's object: not ours to answer */
            return 0;
        }
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT, "object of agent %.200s sent to %s",
                      agent, a->name);
        return -1;
    }
    o = inv_get(&a->inv, name);
    if (o == NULL) {
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT, "no object '%.200s' on %s",
                      name, a->cfg.node);
        return -1;
    }
    if (a->env.dispatching != NULL && qmf_map_get_string(m->body, "_method_name") != NULL)
        a->env.dispatching(o->cls->name, qmf_map_get_string(m->body, "_method_name"),
                           a->env.dispatching_opaque);
    if (check_method(a, m, caller, o->cls, durable, &mc, err) != 0)
        return -1;
    agent_command_one(a, d, m, caller, o->cls, mc.sm, mc.impl, mc.args, o->name);
    qmf_free(mc.args);
    return 0;
}
