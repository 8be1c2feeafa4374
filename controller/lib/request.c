/*
 * Requests and their answers.  A request goes to one agent, to many with
 * one broadcast, or to many in a sliding window of targeted sends (a
 * batch); answers are matched by correlation-id and agent, and every
 * expected agent ends with a result: OK, FAILED or NO_REPLY.  Requests are
 * synchronous for the caller, so at most one is outstanding; answers that
 * arrive after it ended are dropped.
 *
 * Costs: O(1) per answer (agents are found through a hash table), O(N log N)
 * to sort N results at the end.
 */
#include "controller/lib/console_impl.h"
#include "core/names.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* Without a known set of agents to expect, a broadcast is complete once no
 * new agent answered for this long (locate only; presence avoids it). */
#define QUIET_PERIOD_MS 300
/* How often a batch checks for agents past their deadline. */
#define BATCH_TICK_MS 50

/* Results ------------------------------------------------------------------ */

void
virtbus_result_clear(struct virtbus_result *r)
{
    free(r->agent);
    free(r->node);
    qmf_free(r->value);
    memset(r, 0, sizeof(*r));
}

void
virtbus_results_free(struct virtbus_results *r)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        virtbus_result_clear(&r->items[i]);
    free(r->items);
    r->items = NULL;
    r->n = 0;
}

void
virtbus_agent_list_free(struct virtbus_agent_list *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        free(l->items[i].name);
        free(l->items[i].node);
        qmf_free(l->items[i].attrs);
        qmf_free(l->items[i].instances);
    }
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* "virtbus:agent:node1" -> "node1" */
static char *
node_of_agent(const char *agent)
{
    return qmf_xstrdup(qmf_name_agent_label(agent));
}

static size_t
result_add(struct pending *p, const char *agent)
{
    struct virtbus_result *res;
    size_t i = p->results.n;

    /* Doubling: a broadcast to 10,000 agents adds 10,000 results. */
    if (i == p->results_cap) {
        p->results_cap = p->results_cap ? p->results_cap * 2 : 16;
        p->results.items = qmf_xrealloc(p->results.items,
                                        p->results_cap * sizeof(*p->results.items));
    }
    res = &p->results.items[i];
    memset(res, 0, sizeof(*res));
    res->agent = qmf_xstrdup(agent);
    res->node = node_of_agent(agent);
    res->status = VIRTBUS_NO_REPLY;
    qmf_error_set(&res->error, QMF_ERR_TIMEOUT, "no reply");
    p->results.n++;
    /* The value is the index + 1: never NULL. */
    qmf_dict_add(p->index, agent, (void *)(uintptr_t)(i + 1));
    return i;
}

static bool
result_find(struct pending *p, const char *agent, size_t *i)
{
    void *v;

    if ((v = qmf_dict_get(p->index, agent)) == NULL)
        return false;
    *i = (uintptr_t)v - 1;
    return true;
}

static int
compare_results(const void *a, const void *b)
{
    return strcmp(((const struct virtbus_result *)a)->node,
                  ((const struct virtbus_result *)b)->node);
}

/* Batches ------------------------------------------------------------------ */

static void send_more(struct virtbus_console *c, struct pending *p);

static void
report(const struct pending *p)
{
    if (p->opts && p->opts->progress)
        p->opts->progress(p->opts->opaque, p->sent, p->answered, p->failed, p->results.n);
}

static void
batch_tick(evutil_socket_t fd, short what, void *arg)
{
    struct virtbus_console *c = arg;
    struct pending *p = c->current;
    int64_t now = console_now_ms();
    size_t i;

    if (p == NULL || p->done)
        return;
    /* Agents past their deadline free their place in the window. */
    for (i = 0; i < p->results.n; i++) {
        if (p->in_flight_flags[i] && now >= p->deadline_ms[i]) {
            p->in_flight_flags[i] = false;
            p->in_flight--;
            p->answered++;
            report(p);
        }
    }
    send_more(c, p);
}

static void
send_one(struct virtbus_console *c, struct pending *p, size_t i)
{
    struct bus_message *m = bus_message_dup(p->request);
    char *address = virtbus_agent_address(p->results.items[i].agent);
    qmf_error err;

    p->deadline_ms[i] = console_now_ms() + p->opts->timeout_ms;
    p->in_flight_flags[i] = true;
    p->in_flight++;
    p->sent++;
    report(p);
    if (console_publish_request(c, address, p->results.items[i].agent, m, &err) != 0) {
        /* The broker connection is gone; the agent will be "no reply". */
        p->deadline_ms[i] = 0;
    }
    bus_message_free(m);
    free(address);
}

static void
send_more(struct virtbus_console *c, struct pending *p)
{
    int64_t now = console_now_ms();

    while (p->next_to_send < p->results.n && p->in_flight < p->window) {
        if (p->opts->batch_sleep_ms && p->next_to_send > 0 && now < p->next_send_ms)
            return;     /* the tick sends it when the pause is over */
        send_one(c, p, p->next_to_send++);
        p->next_send_ms = now + p->opts->batch_sleep_ms;
    }
    if (p->next_to_send == p->results.n && p->in_flight == 0)
        p->done = true;
}

/* Answers ------------------------------------------------------------------ */

/* An answer is complete: count it, free its batch place, maybe finish. */
static void
complete(struct virtbus_console *c, struct pending *p, size_t i, bool was_pending)
{
    if (!was_pending)
        return;
    p->answered++;
    if (p->results.items[i].status == VIRTBUS_FAILED)
        p->failed++;
    report(p);
    if (p->in_flight_flags) {
        if (p->in_flight_flags[i]) {
            p->in_flight_flags[i] = false;
            p->in_flight--;
        }
        send_more(c, p);
    } else if (p->expect_known && p->answered == p->results.n) {
        p->done = true;
    }
}

/* Appends the items of a list body (or of its _results) to r->value. */
static void
append_items(struct virtbus_result *r, const qmf_value *list)
{
    size_t i;

    if (r->value == NULL)
        r->value = qmf_list();
    for (i = 0; list && list->kind == QMF_LIST && i < qmf_list_len(list); i++)
        qmf_list_append(r->value, qmf_dup(qmf_list_at(list, i)));
}

/*
 * Takes one answer into p: returns the index of the agent's result once
 * its answer is complete (a final message or an exception), or -1 (not
 * ours, not complete yet, or a late duplicate).
 */
ssize_t
console_absorb(struct pending *p, const struct bus_message *m, const qmf_value *body,
               const qmf_error *forged)
{
    const char *agent = bus_message_header(m, "qmf.agent");
    const char *opcode = bus_message_header(m, "qmf.opcode");
    const qmf_value *partial = qmf_map_get(m->headers, "partial");
    bool more = partial && partial->kind == QMF_BOOL && qmf_as_bool(partial);
    struct virtbus_result *r;
    size_t i;

    if (agent == NULL)
        return -1;
    if (!result_find(p, agent, &i)) {
        if (p->expect_known)
            return -1;      /* not one we asked: ignore */
        i = result_add(p, agent);
        if (p->quiet_ev) {
            struct timeval tv = { 0, QUIET_PERIOD_MS * 1000 };

            evtimer_add(p->quiet_ev, &tv);
        }
    }
    r = &p->results.items[i];
    if (r->status != VIRTBUS_NO_REPLY)
        return -1;          /* a late duplicate */
    if (forged != NULL) {
        /* Whatever it says, it cannot be taken for this agent's word. */
        qmf_free(r->value);
        r->value = NULL;
        r->verified = false;
        r->status = VIRTBUS_FAILED;
        r->error = *forged;
        return (ssize_t)i;
    }
    r->verified = p->checking && (r->value == NULL || r->verified);
    if (body == NULL) {
        r->status = VIRTBUS_FAILED;
        r->error = m->body_error;
    } else if (opcode && strcmp(opcode, "_exception") == 0) {
        const qmf_value *values = qmf_map_get(body, "_values");
        const char *text = qmf_map_get_string(values, "error_text");
        uint64_t code = 0;

        qmf_get_uint64(qmf_map_get(values, "error_code"), &code);
        r->status = VIRTBUS_FAILED;
        qmf_error_set(&r->error, (uint32_t)code, "%s", text ? text : "(no text)");
    } else if (opcode && strcmp(opcode, "_query_response") == 0) {
        append_items(r, body);
        if (more)
            return -1;
        r->status = VIRTBUS_OK;
    } else if (opcode && strcmp(opcode, "_method_response") == 0 &&
               qmf_map_get(body, "_results") != NULL) {
        append_items(r, qmf_map_get(body, "_results"));
        if (more)
            return -1;
        r->status = VIRTBUS_OK;
    } else if (opcode && strcmp(opcode, "_method_response") == 0) {
        const qmf_value *out = qmf_map_get(body, "_arguments");

        r->value = out ? qmf_dup(out) : qmf_map();
        r->status = VIRTBUS_OK;
    } else {
        /* _agent_locate_response and anything else: keep the values. */
        r->value = qmf_dup(qmf_map_get(body, "_values"));
        r->status = VIRTBUS_OK;
    }
    if (r->status == VIRTBUS_OK)
        qmf_error_clear(&r->error);
    return (ssize_t)i;
}

/* Agents remembered as holding the console's credential: a fleet's. */
#define CREDENTIAL_HELD_MAX 65536

/*
 * Follows which agents hold this console's credential, from what their
 * answers say (virtbus.credential-held), and sends the query again, with
 * the credential, to an agent that answers that it does not hold it (or,
 * asked by id, that the signature failed: an agent from before ids):
 * once per agent and request, after which its answer stands.  True if m
 * was such an answer, and the agent is asked again.
 */
static bool
follow_credential(struct virtbus_console *c, struct pending *p, const struct bus_message *m,
                  const qmf_value *body)
{
    const char *agent = bus_message_header(m, "qmf.agent");
    const char *opcode = bus_message_header(m, "qmf.opcode");
    const char *asked = p->request ? bus_message_header(p->request, "qmf.opcode") : NULL;
    const char *held;
    struct bus_message *again;
    char *address;
    uint64_t code = 0;
    qmf_error err;
    size_t i;

    if (c->credential_held == NULL || agent == NULL || asked == NULL ||
        strcmp(asked, "_query_request") != 0 || !result_find(p, agent, &i))
        return false;
    if (opcode != NULL && strcmp(opcode, "_exception") == 0)
        qmf_get_uint64(qmf_map_get(qmf_map_get(body, "_values"), "error_code"), &code);
    /* Bounded: answers from names the console never asked about could
     * come; past the bound, new agents are sent the credential whole. */
    held = bus_message_header(m, TRUST_HDR_CREDENTIAL_HELD);
    if (held != NULL && strcmp(held, c->credential_id) == 0 &&
        qmf_dict_len(c->credential_held) < CREDENTIAL_HELD_MAX)
        qmf_dict_set(c->credential_held, agent, (void *)1);
    if (code != QMF_ERR_CREDENTIAL_UNKNOWN &&
        !(code == QMF_ERR_BAD_SIGNATURE && p->named_by_id))
        return false;
    qmf_dict_remove(c->credential_held, agent);
    if (p->sent_whole == NULL)
        p->sent_whole = qmf_dict_new(NULL);
    if (!qmf_dict_add(p->sent_whole, agent, (void *)1))
        return false;
    /* A read-only console may only broadcast; the agents that answered
     * already are not counted twice. */
    again = bus_message_dup(p->request);
    address = c->read_only ? virtbus_broadcast_address("query")
                           : virtbus_agent_address(agent);
    console_publish_request(c, address, c->read_only ? NULL : agent, again, &err);
    bus_message_free(again);
    free(address);
    return true;
}

ssize_t
console_take_answer(struct virtbus_console *c, struct pending *p, const struct bus_message *m)
{
    qmf_error why;
    qmf_value *opened = NULL;
    bool ok = console_answer_ok(c, m, &why) && console_answer_open(c, m, &opened, &why);
    ssize_t i;

    if (ok && follow_credential(c, p, m, opened ? opened : m->body)) {
        qmf_free(opened);
        return -1;
    }
    p->checking = c->answer_store != NULL;
    i = console_absorb(p, m, opened ? opened : m->body, ok ? NULL : &why);
    qmf_free(opened);
    return i;
}

void
console_on_reply(struct bus_delivery *d, const struct bus_message *m, void *opaque)
{
    struct virtbus_console *c = opaque;
    struct pending *p = c->current;
    ssize_t i;

    /* The message belongs to the delivery: settle (and free) it last. */
    if (p != NULL && !p->done && m->correlation_id != NULL &&
        strcmp(m->correlation_id, p->correlation_id) == 0 &&
        (i = console_take_answer(c, p, m)) >= 0)
        complete(c, p, (size_t)i, true);
    bus_ack(d);
}

void
console_pending_init(struct pending *p, const struct virtbus_agent_list *expect)
{
    size_t i;

    memset(p, 0, sizeof(*p));
    p->index = qmf_dict_new(NULL);
    if (expect != NULL) {
        p->expect_known = true;
        for (i = 0; i < expect->n; i++)
            result_add(p, expect->items[i].name);
        p->done = expect->n == 0;
    }
}

void
console_pending_clear(struct pending *p)
{
    qmf_dict_free(p->index);
    qmf_dict_free(p->sent_whole);
    free(p->correlation_id);
    virtbus_results_free(&p->results);
}

void
console_results_sort(struct virtbus_results *r)
{
    if (r->n > 1)
        qsort(r->items, r->n, sizeof(*r->items), compare_results);
}

/* The engine ------------------------------------------------------------------- */

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
    ((struct pending *)arg)->done = true;
}

/* Asks again, by name, the expected agents still owed an answer (in a
 * batch: those in flight). */
static void
resend_unanswered(struct virtbus_console *c, struct pending *p, const struct bus_message *m)
{
    qmf_error err;
    size_t i;

    for (i = 0; i < p->results.n; i++) {
        struct bus_message *again;
        char *address;

        if (p->results.items[i].status != VIRTBUS_NO_REPLY ||
            (p->in_flight_flags != NULL && !p->in_flight_flags[i]))
            continue;
        again = bus_message_dup(m);
        address = virtbus_agent_address(p->results.items[i].agent);
        console_publish_request(c, address, p->results.items[i].agent, again, &err);
        bus_message_free(again);
        free(address);
    }
}

/*
 * A call by object id names no class (QMFv2's request carries none): the
 * method is read-only if every class that has it says so.  The agent still
 * judges by the object's class; only the message's persistence rides on it.
 */
static bool
readonly_everywhere(const struct schema *s, const char *method)
{
    const struct schema_method *sm;
    bool found = false;
    size_t i;

    for (i = 0; i < s->nclasses; i++) {
        if ((sm = schema_find_method(&s->classes[i], method)) == NULL)
            continue;
        if (!sm->readonly)
            return false;
        found = true;
    }
    return found;
}

/*
 * Whether m is a method request that changes nothing, by the console's
 * schema (the class named by _schema_id, or every class with the method):
 * then it travels like a query (PROTOCOL.md §7.8), not persistent, and a
 * read-only console may send it.
 */
static bool
readonly_method(struct virtbus_console *c, const struct bus_message *m)
{
    const char *opcode = bus_message_header(m, "qmf.opcode");
    const char *class_name, *method;
    const struct schema_class *cls;
    const struct schema_method *sm;
    const struct schema *s;

    if (opcode == NULL || strcmp(opcode, "_method_request") != 0 || m->body == NULL ||
        m->body->kind != QMF_MAP)
        return false;
    class_name = qmf_map_get_string(qmf_map_get(m->body, "_schema_id"), "_class_name");
    method = qmf_map_get_string(m->body, "_method_name");
    if (method == NULL || (s = virtbus_console_schema(c)) == NULL)
        return false;
    if (class_name == NULL)
        return readonly_everywhere(s, method);
    if ((cls = schema_find_class(s, class_name)) == NULL ||
        (sm = schema_find_method(cls, method)) == NULL)
        return false;
    return sm->readonly;
}

/* A read-only console asks again the only way it may: by broadcast (the
 * agents that answered already are not counted twice). */
static void
resend(struct virtbus_console *c, struct pending *p, const struct bus_message *m)
{
    const char *opcode = bus_message_header(m, "qmf.opcode");
    struct bus_message *again;
    char *address;
    qmf_error err;

    if (!c->read_only) {
        resend_unanswered(c, p, m);
        return;
    }
    again = bus_message_dup(m);
    address = virtbus_broadcast_address(opcode && strcmp(opcode, "_agent_locate_request") == 0 ?
                                        "agent_locate" : readonly_method(c, m) ? "read" : "query");
    bus_publish(c->bus, address, again, NULL, NULL, &err);
    bus_message_free(again);
    free(address);
}

/* After a lost connection, how long without a new answer before the
 * agents still owed one are asked again. */
#define RESEND_QUIET_S 5

/*
 * Runs the loop until p is done (answered or timed out).  A broker lost
 * meanwhile is waited for (the bus reconnects by itself); then the
 * agents still owed an answer are asked again with the same message-id:
 * answers sent while the broker was away are gone, and agents answer a
 * repeated command from their journal instead of running it twice.
 * From then on they are asked again whenever RESEND_QUIET_S pass without
 * a new answer: in a cluster, an answer sent while a node was rejoining
 * can be lost with no loss of this console's own connection to say so.
 */
static void
wait_answers(struct virtbus_console *c, struct pending *p, const struct bus_message *m)
{
    struct timeval quiet = { RESEND_QUIET_S, 0 };
    struct event *again = NULL;
    bool fired = false;
    size_t i, seen = 0;

    while (!p->done && !c->interrupted) {
        if (!c->lost) {
            event_base_loop(c->base, EVLOOP_ONCE);
            if (again == NULL || p->done)
                continue;
            if (p->answered + p->failed != seen) {
                seen = p->answered + p->failed;
                fired = false;
                evtimer_add(again, &quiet);
            } else if (fired) {
                fired = false;
                resend(c, p, m);
                evtimer_add(again, &quiet);
            }
            continue;
        }
        /* Refused for want of a permission: so would a repeat be. */
        if (c->refused.code != QMF_OK)
            break;
        while (c->lost && !p->done && !c->interrupted)
            event_base_loop(c->base, EVLOOP_ONCE);
        if (!p->done && !c->interrupted && p->expect_known) {
            resend(c, p, m);
            if (again == NULL)
                again = evtimer_new(c->base, console_flag_cb, &fired);
            seen = p->answered + p->failed;
            fired = false;
            evtimer_add(again, &quiet);
        }
    }
    if (again != NULL)
        event_free(again);
    /* Interrupted: those still owed an answer say so, not "no reply". */
    for (i = 0; !p->done && c->interrupted && i < p->results.n; i++)
        if (p->results.items[i].status == VIRTBUS_NO_REPLY)
            qmf_error_set(&p->results.items[i].error, QMF_ERR_TIMEOUT,
                          "interrupted before it answered");
}

/*
 * Interrupted while agents still owe an answer: a command is kept as a
 * job (PROTOCOL.md §7.5), so that what they answer is not lost with this
 * process.  It is sent again as it went: in a batch to each agent sent
 * to, by name; else to address once.  Agents a batch never sent to are
 * not part of it.
 */
static void
keep_as_job(struct virtbus_console *c, const struct pending *p, const char *address,
            const struct bus_message *m)
{
    const char *class_name = qmf_map_get_string(qmf_map_get(m->body, "_schema_id"),
                                                "_class_name");
    struct virtbus_agent_list asked = { 0 };
    char **addresses = qmf_xcalloc(p->results.n + 1, sizeof(*addresses)), *description;
    size_t i, n = 0, owed = 0;

    asked.items = qmf_xcalloc(p->results.n + 1, sizeof(*asked.items));
    for (i = 0; i < p->results.n; i++) {
        const struct virtbus_result *r = &p->results.items[i];

        if (p->in_flight_flags != NULL && i >= p->next_to_send)
            continue;
        asked.items[asked.n++] = (struct virtbus_agent){ .name = r->agent, .node = r->node };
        owed += r->status == VIRTBUS_NO_REPLY;
        if (p->in_flight_flags != NULL)
            addresses[n++] = virtbus_agent_address(r->agent);
    }
    if (p->in_flight_flags == NULL)
        addresses[n++] = qmf_xstrdup(address);
    description = c->description ? qmf_xstrdup(c->description) :
                  qmf_xasprintf("%s.%s", class_name ? class_name : "object",
                                qmf_map_get_string(m->body, "_method_name"));
    if (owed > 0) {
        /* Answers coming meanwhile go to the job, and a batch sends no
         * more: nothing is current.  The interrupt ended the waits for
         * answers, not these: a second one does. */
        c->current = NULL;
        c->interrupted = false;
        console_job_keep(c, m, addresses, n, &asked, description, &c->interrupt_job,
                         &c->interrupt_job_err);
        c->interrupted = true;
    }
    for (i = 0; i < n; i++)
        free(addresses[i]);
    free(addresses);
    free(asked.items);
    free(description);
}

/*
 * Sends m (consumed) and collects answers.  With expect, every agent of it
 * gets a result; else answers are collected until a quiet period.  With
 * o->batch, m goes to each expected agent in turn (targeted), at most
 * o->batch at a time; else once, to address.
 */
static int
request(struct virtbus_console *c, const char *address, struct bus_message *m,
        const struct virtbus_agent_list *expect, const struct virtbus_send_opts *o,
        struct virtbus_results *out, qmf_error *err)
{
    struct pending p = { 0 };
    unsigned timeout_ms = o->timeout_ms ? o->timeout_ms : 10000;
    const char *opcode = bus_message_header(m, "qmf.opcode");
    bool readonly = readonly_method(c, m);
    /* Changes something: worth keeping the answers of, if interrupted. */
    bool command = opcode && strcmp(opcode, "_method_request") == 0 && !readonly;
    struct timeval tv;
    size_t i;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (command && console_check_writable(c, "a method call", err) != 0) {
        bus_message_free(m);
        return -1;
    }
    if (!c->up) {
        bus_message_free(m);
        qmf_error_set(err, QMF_ERR_TRANSPORT, "not connected to the broker: %s",
                      c->last_error.code ? c->last_error.text : "connection lost");
        return -1;
    }
    qmf_error_clear(&c->refused);
    free(c->interrupt_job);
    c->interrupt_job = NULL;
    qmf_error_clear(&c->interrupt_job_err);
    console_pending_init(&p, expect);
    p.correlation_id = qmf_xasprintf("%s-%llu", c->id, (unsigned long long)++c->seq);
    p.opts = o;
    if (expect == NULL) {
        struct timeval quiet = { 0, QUIET_PERIOD_MS * 1000 };

        p.quiet_ev = evtimer_new(c->base, done_cb, &p);
        evtimer_add(p.quiet_ev, &quiet);
    }

    free(m->correlation_id);
    m->correlation_id = qmf_xstrdup(p.correlation_id);
    free(m->reply_to);
    m->reply_to = qmf_xstrdup(c->reply_to);
    /* A request is worth running only while someone waits for it. */
    console_stamp(c, m, timeout_ms);
    /* Worthless once nobody waits, as a query is: nothing to persist, and
     * the broker may drop it once expired. */
    if (readonly)
        m->durable = m->receiver_expires = false;
    /* Only a command's publish needs the broker's word: the answers
     * confirm the rest, and the timeout covers their loss.  (On 1.0 an
     * unconfirmed message goes pre-settled: one disposition less per
     * request, and no confirm for the broker to track.) */
    m->unconfirmed = !command;
    if (o->target != NULL && m->body != NULL && m->body->kind == QMF_MAP)
        qmf_map_set(m->body, "_target", qmf_dup(o->target));
    p.request = m;
    c->current = &p;

    /* Batches send to each agent by name, which a read-only console may
     * not: one broadcast instead. */
    if (o->batch > 0 && expect != NULL && !p.done && !c->read_only) {
        struct virtbus_send_opts bo = *o;

        /* Each agent gets its own timeout from when it was sent. */
        bo.timeout_ms = timeout_ms;
        p.opts = &bo;
        p.window = o->batch;
        p.deadline_ms = qmf_xcalloc(p.results.n, sizeof(*p.deadline_ms));
        p.in_flight_flags = qmf_xcalloc(p.results.n, sizeof(*p.in_flight_flags));
        p.batch_ev = event_new(c->base, -1, EV_PERSIST, batch_tick, c);
        tv = (struct timeval){ 0, BATCH_TICK_MS * 1000 };
        event_add(p.batch_ev, &tv);
        send_more(c, &p);
        wait_answers(c, &p, m);
        for (i = p.next_to_send; c->interrupted && i < p.results.n; i++)
            qmf_error_set(&p.results.items[i].error, QMF_ERR_TIMEOUT, "not sent: interrupted");
        if (command && c->interrupted && !p.done)
            keep_as_job(c, &p, address, m);
        event_free(p.batch_ev);
        free(p.deadline_ms);
        free(p.in_flight_flags);
        p.opts = o;
    } else {
        tv = (struct timeval){ timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
        p.timeout_ev = evtimer_new(c->base, done_cb, &p);
        evtimer_add(p.timeout_ev, &tv);
        rc = p.done ? 0 : console_publish_request(c, address, NULL, m, err);
        if (rc == 0 && !p.done) {
            p.sent = p.results.n;
            report(&p);
            wait_answers(c, &p, m);
            if (command && c->interrupted && !p.done)
                keep_as_job(c, &p, address, m);
        }
        event_free(p.timeout_ev);
    }
    bus_message_free(m);
    c->current = NULL;
    if (p.quiet_ev)
        event_free(p.quiet_ev);
    if (rc == 0 && c->refused.code != QMF_OK) {
        /* The broker's refusal, as its refusal of a login is: transport. */
        qmf_error_set(err, QMF_ERR_TRANSPORT, "refused by the broker: %s%s", c->refused.text,
                      c->read_only ? "" : " (a reader's account? set read_only = yes)");
        rc = -1;
    }
    if (rc == 0) {
        console_results_sort(&p.results);
        *out = p.results;
        memset(&p.results, 0, sizeof(p.results));
    }
    console_pending_clear(&p);
    return rc;
}

int
virtbus_request_message(struct virtbus_console *c, const char *address,
                        struct bus_message *m, const struct virtbus_agent_list *expect,
                        unsigned timeout_ms, struct virtbus_results *out, qmf_error *err)
{
    struct virtbus_send_opts o = { .timeout_ms = timeout_ms };

    return request(c, address, m, expect, &o, out, err);
}

static struct bus_message *
new_request(const char *opcode, qmf_value *body)
{
    struct bus_message *m = bus_message_new();

    bus_message_set_header_string(m, "qmf.opcode", opcode);
    bus_message_set_header_string(m, "method", "request");
    bus_message_set_header_string(m, "app-id", "qmf2");
    m->body = body;
    return m;
}

int
virtbus_request(struct virtbus_console *c, const char *address, const char *opcode,
                qmf_value *body, const struct virtbus_agent_list *expect,
                unsigned timeout_ms, struct virtbus_results *out, qmf_error *err)
{
    return virtbus_request_message(c, address, new_request(opcode, body), expect,
                                   timeout_ms, out, err);
}

/* The calls ---------------------------------------------------------------------- */

int
virtbus_locate(struct virtbus_console *c, const qmf_value *target, unsigned timeout_ms,
               struct virtbus_agent_list *out, qmf_error *err)
{
    struct virtbus_results res;
    qmf_value *body = qmf_map();
    char *address = virtbus_broadcast_address("agent_locate");
    size_t i;
    int rc;

    memset(out, 0, sizeof(*out));
    if (target)
        qmf_map_set(body, "_where", qmf_dup(target));
    rc = virtbus_request(c, address, "_agent_locate_request", body, NULL, timeout_ms,
                         &res, err);
    free(address);
    if (rc != 0)
        return -1;
    out->items = qmf_xcalloc(res.n, sizeof(*out->items));
    for (i = 0; i < res.n; i++) {
        struct virtbus_result *r = &res.items[i];

        if (r->status != VIRTBUS_OK)
            continue;
        out->items[out->n].name = r->agent;
        out->items[out->n].node = r->node;
        out->items[out->n].attrs = r->value ? r->value : qmf_map();
        out->items[out->n].up = true;
        r->agent = r->node = NULL;
        r->value = NULL;
        out->n++;
    }
    virtbus_results_free(&res);
    return 0;
}

/* One agent: straight to it.  Several: one broadcast (or a batch).  A
 * read-only console may not write to the direct exchange: always a
 * broadcast, and the request's _target chooses. */
static char *
address_for(const struct virtbus_console *c, const struct virtbus_agent_list *agents,
            const char *kind)
{
    if (agents && agents->n == 1 && !c->read_only)
        return virtbus_agent_address(agents->items[0].name);
    return virtbus_broadcast_address(kind);
}

static qmf_value *
schema_id_of(const char *class_name)
{
    qmf_value *sid = qmf_map();

    qmf_map_set(sid, "_package_name", qmf_string(SCHEMA_PACKAGE));
    qmf_map_set(sid, "_class_name", qmf_string(class_name));
    return sid;
}

int
virtbus_query_agents(struct virtbus_console *c, const struct virtbus_agent_list *agents,
                     const char *what, const char *class_name, const qmf_value *where,
                     const struct virtbus_send_opts *o, struct virtbus_results *out,
                     qmf_error *err)
{
    qmf_value *body = qmf_map();
    char *address = address_for(c, agents, "query");
    int rc;

    qmf_map_set(body, "_what", qmf_string(what));
    if (class_name)
        qmf_map_set(body, "_schema_id", schema_id_of(class_name));
    if (where)
        qmf_map_set(body, "_where", qmf_dup(where));
    if (o && o->properties) {
        qmf_value *names = qmf_map_set(body, "_properties", qmf_list());
        size_t i;

        for (i = 0; o->properties[i]; i++)
            qmf_list_append(names, qmf_string(o->properties[i]));
    }
    rc = request(c, address, new_request("_query_request", body), agents, o, out, err);
    free(address);
    return rc;
}

int
virtbus_query(struct virtbus_console *c, const struct virtbus_agent_list *agents,
              const char *what, const char *class_name, const qmf_value *where,
              unsigned timeout_ms, struct virtbus_results *out, qmf_error *err)
{
    struct virtbus_send_opts o = { .timeout_ms = timeout_ms };

    return virtbus_query_agents(c, agents, what, class_name, where, &o, out, err);
}

struct bus_message *
console_where_request(const char *class_name, const qmf_value *where, const char *method,
                      const qmf_value *args)
{
    qmf_value *body = qmf_map();

    qmf_map_set(body, "_schema_id", schema_id_of(class_name));
    if (where)
        qmf_map_set(body, "_where", qmf_dup(where));
    qmf_map_set(body, "_method_name", qmf_string(method));
    qmf_map_set(body, "_arguments", args ? qmf_dup(args) : qmf_map());
    return new_request("_method_request", body);
}

int
virtbus_call_where(struct virtbus_console *c, const struct virtbus_agent_list *agents,
                   const char *class_name, const qmf_value *where, const char *method,
                   const qmf_value *args, const struct virtbus_send_opts *o,
                   struct virtbus_results *out, qmf_error *err)
{
    struct bus_message *m = console_where_request(class_name, where, method, args);
    /* Several agents: by the query queues, if it changes nothing. */
    char *address = address_for(c, agents, readonly_method(c, m) ? "read" : "method");
    int rc;

    rc = request(c, address, m, agents, o, out, err);
    free(address);
    return rc;
}

int
virtbus_call(struct virtbus_console *c, const char *agent, const qmf_value *object_id,
             const char *method, const qmf_value *args, unsigned timeout_ms,
             struct virtbus_result *out, qmf_error *err)
{
    struct virtbus_agent one = { .name = (char *)agent };
    struct virtbus_agent_list expect = { .items = &one, .n = 1 };
    struct virtbus_send_opts o = { .timeout_ms = timeout_ms };
    struct virtbus_results res;
    qmf_value *body = qmf_map();
    char *address = virtbus_agent_address(agent);
    int rc;

    memset(out, 0, sizeof(*out));
    qmf_map_set(body, "_object_id", qmf_dup(object_id));
    qmf_map_set(body, "_method_name", qmf_string(method));
    qmf_map_set(body, "_arguments", args ? qmf_dup(args) : qmf_map());
    rc = request(c, address, new_request("_method_request", body), &expect, &o, &res, err);
    free(address);
    if (rc != 0)
        return -1;
    *out = res.items[0];
    free(res.items);
    return 0;
}
