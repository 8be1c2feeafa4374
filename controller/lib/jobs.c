/*
 * Fire-and-forget jobs.  A job is a durable queue of its own,
 * virtbus.job.<id>, that the agents' replies are routed to and that the
 * broker deletes `retention` after its last use; its first message is the
 * job's record (who was asked what), and the record also goes to the jobs
 * stream (virtbus.jobs) so that `job list` can find recent jobs.
 *
 * Everything goes by the console's own connection, with late topology
 * (bus_declare, bus_subscribe): creating declares the job's queue there.
 * Fetching is non-destructive: a late subscription consumes the job queue
 * without acknowledging, reads up to a marker it wrote itself (so it knows
 * it has read everything), is cancelled, and gives every message it read
 * back to the queue (reject with requeue).
 * Agents publish replies persistent and with confirms before they ack the
 * request, so nothing is lost between an agent finishing and a console
 * asking, even with no console running in between.
 *
 * A selection's request is a broadcast, also with one node up: a matching
 * node that is down waits for it in its durable queue, and its answer,
 * once it is back, is part of the job's results.
 *
 * A command interrupted while waited for becomes a job afterwards
 * (console_job_keep): the same command, asked again with the job's
 * reply-to, which the agents' journals answer rather than run twice.
 */
#include "controller/lib/console_impl.h"
#include "core/names.h"

#include <stdlib.h>
#include <string.h>

#define JOB_MARKER_OPCODE "_virtbus_job_marker"
/* How long the broker has to answer a declaration, a confirm, a marker. */
#define JOB_BROKER_TIMEOUT_MS 10000
/* Fire-and-forget requests wait for their agents this long at most. */
#define JOB_REQUEST_TTL_MS (24u * 3600 * 1000)
/* How long the broker keeps a job unused, unless told otherwise. */
#define JOB_RETENTION_S (7u * 24 * 3600)

/*
 * What the bus reports back (confirms, a declaration's end), counted, to a
 * wait that may give up first: the reports still come later (a confirm
 * fails when the connection goes), so a wait that gave up leaves the
 * outcome to its last report to free.
 */
struct outcome {
    size_t pending;            /* reports still to come */
    bool done, failed;
    qmf_error err;             /* the first failure's, when the bus says why */
    /* Given up on: in the console's list, which frees it at close if its
     * last report never comes (a connection closed first). */
    struct outcome **abandoned, *prev, *next;
};

static struct outcome *
outcome_new(void)
{
    return qmf_xcalloc(1, sizeof(struct outcome));
}

static void
outcome_report(struct outcome *o, bool ok, const qmf_error *why)
{
    if (!ok && !o->failed && why != NULL)
        o->err = *why;
    o->failed |= !ok;
    if (--o->pending > 0)
        return;
    o->done = true;
    if (o->abandoned == NULL)
        return;
    if (o->prev != NULL)
        o->prev->next = o->next;
    else
        *o->abandoned = o->next;
    if (o->next != NULL)
        o->next->prev = o->prev;
    free(o);
}

void
console_jobs_free(struct virtbus_console *c)
{
    struct outcome *o, *next;

    for (o = c->abandoned; o != NULL; o = next) {
        next = o->next;
        free(o);
    }
    c->abandoned = NULL;
}

static void
outcome_confirmed(bool ok, void *opaque)
{
    outcome_report(opaque, ok, NULL);
}

static void
outcome_declared(struct bus_conn *conn, const qmf_error *err, void *opaque)
{
    outcome_report(opaque, err == NULL, err);
}

/* Waits for every report and frees o: true if they came and none failed
 * (else *why, if not NULL, has the first failure's reason, if any). */
static bool
outcome_wait(struct virtbus_console *c, struct outcome *o, qmf_error *why)
{
    bool ok;

    if (o->pending > 0 && !console_run_until(c, &o->done, JOB_BROKER_TIMEOUT_MS)) {
        o->abandoned = &c->abandoned;
        o->next = c->abandoned;
        if (c->abandoned != NULL)
            c->abandoned->prev = o;
        c->abandoned = o;
        return false;
    }
    ok = !o->failed;
    if (!ok && why != NULL)
        *why = o->err;
    free(o);
    return ok;
}

/* A job record read, and how far it can be believed. */
struct record_read {
    qmf_value *body;
    enum virtbus_record_auth auth;
    char *signer, *error;
};

/* A one-off read of a queue or a stream on the console's connection: a
 * late subscription, and what it collects. */
struct reader {
    struct virtbus_console *c;    /* whose answer check applies */
    struct bus_sub *sub;
    struct console_wait started;  /* the broker started it, or refused it */
    struct record_read *records;  /* job records */
    size_t nrecords;
    struct bus_message **messages;
    size_t nmessages;
    char *marker;
    bool marker_seen;
    bool ack_all;                 /* a stream: acks only renew credit */
    struct bus_delivery **held;   /* unacknowledged, given back at the end */
    size_t nheld;
    struct pending *pending;      /* when waiting: answers go here live */
    size_t nexpected;             /* the first results of pending */
    bool complete;
};

/* The reader's start (or refusal): its opaque is r, as for its deliveries. */
static void
reader_started(struct bus_conn *conn, const qmf_error *err, void *opaque)
{
    struct reader *r = opaque;

    console_wait_done(conn, err, &r->started);
}

/* Subscribes r to source (declaring queue first) and waits until the
 * broker started it. */
static int
reader_open(struct virtbus_console *c, struct reader *r, const struct bus_queue *queue,
            struct bus_subscription *sub, const char *what, qmf_error *err)
{
    r->c = c;
    sub->opaque = r;
    if (bus_subscribe(c->bus, queue, sub, reader_started, &r->sub, err) != 0)
        return -1;
    return console_wait_for(c, &r->started, JOB_BROKER_TIMEOUT_MS, what, err);
}

/* Cancels the subscription, then gives back to the queue every message it
 * read: reading stays non-destructive. */
static void
reader_close(struct reader *r)
{
    size_t i;

    bus_unsubscribe(r->sub);
    for (i = 0; i < r->nheld; i++)
        bus_reject(r->held[i], true);
    free(r->held);
    for (i = 0; i < r->nmessages; i++)
        bus_message_free(r->messages[i]);
    free(r->messages);
    for (i = 0; i < r->nrecords; i++) {
        qmf_free(r->records[i].body);
        free(r->records[i].signer);
        free(r->records[i].error);
    }
    free(r->records);
    free(r->marker);
}

/* The job queue, declared with the arguments every declaration must
 * repeat; args is what the caller frees. */
static qmf_value *
job_queue(struct bus_queue *q, struct bus_binding *b, const char *name, unsigned retention_s)
{
    qmf_value *args = qmf_map();

    qmf_map_set(args, "x-expires", qmf_i64((int64_t)retention_s * 1000));
    *b = (struct bus_binding){ BUS_EXCHANGE_DIRECT, name };
    *q = (struct bus_queue){
        .name = name, .durable = true, .queue_type = "classic",
        .bindings = b, .nbindings = 1, .arguments = args,
    };
    return args;
}

/* The jobs stream, which an administrator may have made (provisioned):
 * then only checked, since declaring it would need the configure
 * permission, which also allows deleting it. */
static qmf_value *
jobs_stream(const struct virtbus_console *c, struct bus_queue *q)
{
    qmf_value *args = bus_jobs_queue(q);

    q->passive = c->provisioned;
    return args;
}

static int
publish_confirmed(struct virtbus_console *c, const char *address, struct bus_message *m,
                  qmf_error *err)
{
    struct outcome *o = outcome_new();
    int rc;

    o->pending = 1;
    rc = bus_publish(c->bus, address, m, outcome_confirmed, o, err);
    bus_message_free(m);
    if (rc != 0) {
        free(o);
        return -1;
    }
    if (!outcome_wait(c, o, NULL)) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "the broker did not confirm %s", address);
        return -1;
    }
    return 0;
}

/* Several agents without a target: a broadcast that they alone act on. */
static qmf_value *
agents_target(const struct virtbus_agent_list *agents)
{
    const char **nodes = qmf_xcalloc(agents->n + 1, sizeof(*nodes));
    struct virtbus_target t = { .names = nodes };
    qmf_value *pred;
    qmf_error err;
    size_t i;

    for (i = 0; i < agents->n; i++)
        nodes[i] = agents->items[i].node;
    pred = virtbus_target_predicate(&t, &err);
    free(nodes);
    return pred;
}

/* The queues declared, on the console's connection, and waited for. */
static int
declare_waited(struct virtbus_console *c, const struct bus_queue *queues, size_t n,
               const char *what, qmf_error *err)
{
    struct outcome *o = outcome_new();
    qmf_error why;

    o->pending = 1;
    if (bus_declare(c->bus, queues, n, outcome_declared, o, err) != 0) {
        free(o);
        return -1;
    }
    qmf_error_clear(&why);
    if (!outcome_wait(c, o, &why)) {
        qmf_error_set(err, why.code ? why.code : QMF_ERR_TRANSPORT, "%s: %s", what,
                      why.code ? why.text : "the broker did not answer");
        return -1;
    }
    return 0;
}

/*
 * A job's queue and record, for the agents of `expected`: the queue
 * declared and the record published into it and into the jobs stream,
 * confirmed.
 */
static int
job_create(struct virtbus_console *c, const char *id, const char *class_name,
           const char *method, const struct virtbus_agent_list *expected,
           unsigned retention_s, const char *description, qmf_error *err)
{
    char *name = qmf_name_job_queue(id);
    char *queue_address = qmf_name_queue_address(name);
    struct bus_queue queues[2];
    struct bus_binding binding;
    qmf_value *qargs, *sargs, *record, *names;
    struct bus_message *m = NULL;
    size_t i;
    int rc = -1;

    qargs = job_queue(&queues[0], &binding, name, retention_s);
    sargs = jobs_stream(c, &queues[1]);
    record = qmf_map();
    qmf_map_set(record, "id", qmf_string(id));
    qmf_map_set(record, "created", qmf_i64(console_now_ms()));
    qmf_map_set(record, "description", qmf_string(description ? description : ""));
    qmf_map_set(record, "className", qmf_string(class_name ? class_name : ""));
    qmf_map_set(record, "methodName", qmf_string(method ? method : ""));
    qmf_map_set(record, "retention", qmf_u32(retention_s));
    names = qmf_map_set(record, "expected", qmf_list());
    for (i = 0; i < expected->n; i++)
        qmf_list_append(names, qmf_string(expected->items[i].name));

    /* The record first, in the job queue and in the jobs stream. */
    if (declare_waited(c, queues, 2, "creating the job queue", err) == 0 &&
        (m = console_job_record(c, record, id, err)) != NULL &&
        publish_confirmed(c, queue_address, bus_message_dup(m), err) == 0) {
        rc = publish_confirmed(c, QMF_NAME_JOBS_ADDRESS, m, err);
        m = NULL;       /* publish_confirmed took it */
    }
    bus_message_free(m);
    qmf_free(qargs);
    qmf_free(sargs);
    qmf_free(record);
    free(queue_address);
    free(name);
    return rc;
}

/* A request of job id: its answers go to the job's queue. */
static void
job_request(struct bus_message *m, const char *id)
{
    char *name = qmf_name_job_queue(id);

    free(m->correlation_id);
    m->correlation_id = qmf_xstrdup(id);
    free(m->reply_to);
    m->reply_to = qmf_name_exchange_address(BUS_EXCHANGE_DIRECT, name);
    free(name);
    /* Whoever fetches the answers later may check the agents' credentials
     * (a command asked again for a job had said it would not). */
    if (m->headers != NULL)
        qmf_free(qmf_map_take(m->headers, TRUST_HDR_ANSWER_CREDENTIAL));
}

int
virtbus_job_submit(struct virtbus_console *c, const struct virtbus_agent_list *agents,
                   const char *class_name, const qmf_value *where, const char *method,
                   const qmf_value *args, const qmf_value *target, unsigned retention_s,
                   const char *description, char **job_id, qmf_error *err)
{
    char *id, *address;
    struct bus_message *m;
    int rc = -1;

    *job_id = NULL;
    if (console_check_writable(c, "a job", err) != 0)
        return -1;
    id = console_new_id();
    if (retention_s == 0)
        retention_s = JOB_RETENTION_S;
    if (job_create(c, id, class_name, method, agents, retention_s, description, err) != 0)
        goto out;

    m = console_where_request(class_name, where, method, args);
    if (target)
        qmf_map_set(m->body, "_target", qmf_dup(target));
    else if (agents->n > 1)
        qmf_map_set(m->body, "_target", agents_target(agents));
    job_request(m, id);
    console_stamp(c, m, JOB_REQUEST_TTL_MS);
    address = agents->n == 1 && target == NULL ? virtbus_agent_address(agents->items[0].name)
                                                : virtbus_broadcast_address("method");
    rc = console_sign(c, address, m, false, err);
    if (rc == 0)
        rc = publish_confirmed(c, address, m, err);
    else
        bus_message_free(m);
    free(address);
    if (rc == 0)
        *job_id = qmf_xstrdup(id);
out:
    free(id);
    return rc;
}

int
console_job_keep(struct virtbus_console *c, const struct bus_message *m,
                 char *const *addresses, size_t naddresses,
                 const struct virtbus_agent_list *expected, const char *description,
                 char **job_id, qmf_error *err)
{
    const qmf_value *body = m->body;
    const char *class_name = qmf_map_get_string(qmf_map_get(body, "_schema_id"), "_class_name");
    char *id = console_new_id();
    struct outcome *confirms;
    size_t i;
    int rc = -1;

    *job_id = NULL;
    if (job_create(c, id, class_name, qmf_map_get_string(body, "_method_name"), expected,
                   JOB_RETENTION_S, description, err) != 0)
        goto out;
    /* The same command (message-id, content, deadline) answers from the
     * agents' journals once it ran; only where the answer goes changes. */
    rc = 0;
    confirms = outcome_new();
    /* One more than the publishes until all are out: none can end it early. */
    confirms->pending = 1;
    for (i = 0; rc == 0 && i < naddresses; i++) {
        struct bus_message *again = bus_message_dup(m);

        job_request(again, id);
        confirms->pending++;
        if ((rc = console_sign(c, addresses[i], again, false, err)) == 0)
            rc = bus_publish(c->bus, addresses[i], again, outcome_confirmed, confirms, err);
        if (rc != 0)
            confirms->pending--;
        bus_message_free(again);
    }
    outcome_report(confirms, true, NULL);
    if (!outcome_wait(c, confirms, NULL) && rc == 0) {
        qmf_error_set(err, QMF_ERR_TRANSPORT, "the broker did not confirm the requests of "
                      "job %s", id);
        rc = -1;
    }
    if (rc == 0)
        *job_id = qmf_xstrdup(id);
out:
    free(id);
    return rc;
}

/* Fetching -------------------------------------------------------------------------- */

/* Every expected agent answered (others may have too). */
static bool
expected_answered(const struct pending *p, size_t nexpected)
{
    size_t i;

    for (i = 0; i < nexpected; i++)
        if (p->results.items[i].status == VIRTBUS_NO_REPLY)
            return false;
    return true;
}

/*
 * A queue gives each of its consumers a share: another console's marker
 * may come to us.  Ours is consumed; one whose console must have given up
 * is too, so that none piles up; any other goes back to the queue at once,
 * for its console (held, it would keep that one waiting, maybe for our
 * own marker held there).  A stream gives every reader everything.
 */
static void
reader_marker(struct reader *s, struct bus_delivery *d, const struct bus_message *m)
{
    bool ours = m->message_id && s->marker && strcmp(m->message_id, s->marker) == 0;

    if (ours)
        s->marker_seen = true;
    if (ours || s->ack_all || m->created_ms == 0 ||
        console_now_ms() - m->created_ms > JOB_BROKER_TIMEOUT_MS)
        bus_ack(d);
    else
        bus_reject(d, true);
}

static void
reader_receive(struct bus_delivery *d, const struct bus_message *m, void *opaque)
{
    struct reader *s = opaque;
    const char *opcode = bus_message_header(m, "qmf.opcode");

    if (opcode && strcmp(opcode, JOB_MARKER_OPCODE) == 0) {
        reader_marker(s, d, m);
        return;
    }
    if (opcode && strcmp(opcode, CONSOLE_JOB_RECORD_OPCODE) == 0 && m->body) {
        struct record_read *r;
        const char *id = qmf_map_get_string(m->body, "id");
        qmf_error why;

        s->records = qmf_xrealloc(s->records, (s->nrecords + 1) * sizeof(*s->records));
        r = &s->records[s->nrecords++];
        memset(r, 0, sizeof(*r));
        r->body = qmf_dup(m->body);
        if (console_job_record_check(s->c, m, id ? id : "", &r->auth, &r->signer, &why) != 0) {
            r->auth = VIRTBUS_RECORD_REFUSED;
            r->error = qmf_xstrdup(why.text);
        }
    } else if (s->pending != NULL) {
        /* Waiting: answers are taken as they come. */
        if (console_take_answer(s->c, s->pending, m) >= 0)
            s->complete = expected_answered(s->pending, s->nexpected);
    } else {
        s->messages = qmf_xrealloc(s->messages, (s->nmessages + 1) * sizeof(*s->messages));
        s->messages[s->nmessages++] = bus_message_dup(m);
    }
    /* Queues: left unacknowledged, given back at the end.
     * Streams: acknowledged (that only renews the credit). */
    if (s->ack_all) {
        bus_ack(d);
        return;
    }
    s->held = qmf_xrealloc(s->held, (s->nheld + 1) * sizeof(*s->held));
    s->held[s->nheld++] = d;
}

static int
read_to_marker(struct virtbus_console *c, struct reader *s, const char *queue, qmf_error *err)
{
    struct bus_message *m = bus_message_new();
    char *address = qmf_name_queue_address(queue);
    int rc;

    bus_message_set_header_string(m, "qmf.opcode", JOB_MARKER_OPCODE);
    m->message_id = qmf_xstrdup(s->marker);
    m->created_ms = console_now_ms();     /* how others know it is stale */
    m->body = qmf_map();
    rc = bus_publish(c->bus, address, m, NULL, NULL, err);
    bus_message_free(m);
    free(address);
    if (rc != 0)
        return -1;
    if (!console_run_until(c, &s->marker_seen, JOB_BROKER_TIMEOUT_MS)) {
        qmf_error_set(err, QMF_ERR_TIMEOUT, "%s did not answer within %d ms", queue,
                      JOB_BROKER_TIMEOUT_MS);
        return -1;
    }
    return 0;
}

static void
job_from_record(struct virtbus_job *j, const struct record_read *r)
{
    const qmf_value *record = r->body, *expected = qmf_map_get(record, "expected");
    const char *text;
    int64_t created = 0;
    size_t i;

    memset(j, 0, sizeof(*j));
    j->record_auth = r->auth;
    j->record_signer = r->signer ? qmf_xstrdup(r->signer) : NULL;
    j->record_error = r->error ? qmf_xstrdup(r->error) : NULL;
    j->id = qmf_xstrdup((text = qmf_map_get_string(record, "id")) ? text : "");
    text = qmf_map_get_string(record, "description");
    j->description = qmf_xstrdup(text ? text : "");
    qmf_get_int64(qmf_map_get(record, "created"), &created);
    j->created_ns = created * 1000000;
    for (i = 0; i < qmf_list_len(expected); i++) {
        const qmf_value *name = qmf_list_at(expected, i);

        if (name->kind != QMF_STRING)
            continue;
        virtbus_agent_list_add(&j->expected, &(struct virtbus_agent){
            .name = (char *)qmf_as_string(name),
            .node = (char *)qmf_name_agent_label(qmf_as_string(name)),
        });
    }
}

int
virtbus_job_fetch(struct virtbus_console *c, const char *job_id, bool wait,
                  unsigned timeout_ms, struct virtbus_job *out, qmf_error *err)
{
    char *name = qmf_name_job_queue(job_id);
    char *source = qmf_name_queue_address(name);
    struct bus_queue q = { .name = name, .passive = true };
    struct bus_subscription sub = {
        .source = source, .credit = 65535, .receive = reader_receive,
    };
    struct reader s = { 0 };
    struct pending p;
    size_t i;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    s.marker = console_new_id();
    if (reader_open(c, &s, &q, &sub, "opening the job", err) != 0) {
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT,
                      "no job %s (it expired, or never existed)", job_id);
        goto out;
    }
    if (read_to_marker(c, &s, name, err) != 0)
        goto out;
    if (s.nrecords == 0) {
        /* Or another console holds it: a queue hands each message to one
         * reader at a time. */
        qmf_error_set(err, QMF_ERR_MALFORMED, "no record of the job in its queue: "
                      "another console may be reading it");
        goto out;
    }
    /* Whoever may publish to the queue could have put one there first. */
    for (i = 0; i < s.nrecords; i++) {
        const char *id = qmf_map_get_string(s.records[i].body, "id");

        if (s.records[i].auth != VIRTBUS_RECORD_REFUSED && id && strcmp(id, job_id) == 0)
            break;
    }
    if (i == s.nrecords) {
        const char *id = qmf_map_get_string(s.records[0].body, "id");

        qmf_error_set(err, QMF_ERR_BAD_SIGNATURE, "the job's record is refused: %s",
                      s.records[0].error ? s.records[0].error :
                      id == NULL ? "it names no job" : "it is another job's");
        goto out;
    }
    job_from_record(out, &s.records[i]);
    console_pending_init(&p, &out->expected);
    /* The expected agents first; then any other that answered: a node
     * down when the job was sent, that ran it once back. */
    p.expect_known = false;
    s.nexpected = out->expected.n;
    for (i = 0; i < s.nmessages; i++)
        if (s.messages[i]->correlation_id && strcmp(s.messages[i]->correlation_id, job_id) == 0)
            /* Kept by the job's queue, checked as a live answer would be. */
            console_take_answer(c, &p, s.messages[i]);
    s.complete = expected_answered(&p, s.nexpected);
    if (wait && !s.complete) {
        s.pending = &p;
        console_run_until(c, &s.complete, timeout_ms);
    }
    out->complete = expected_answered(&p, s.nexpected);
    console_results_sort(&p.results);
    out->results = p.results;
    memset(&p.results, 0, sizeof(p.results));
    console_pending_clear(&p);
    rc = 0;
out:
    reader_close(&s);
    free(source);
    free(name);
    return rc;
}

static int
compare_jobs_newest_first(const void *a, const void *b)
{
    int64_t x = ((const struct virtbus_job *)a)->created_ns;
    int64_t y = ((const struct virtbus_job *)b)->created_ns;

    return (x < y) - (x > y);
}

int
virtbus_job_list(struct virtbus_console *c, struct virtbus_job **jobs, size_t *n,
                 qmf_error *err)
{
    struct bus_queue q;
    qmf_value *qargs = jobs_stream(c, &q), *offset = qmf_map();
    struct bus_subscription sub = {
        .source = QMF_NAME_JOBS_ADDRESS, .credit = 2000, .receive = reader_receive,
    };
    struct reader s = { 0 };
    size_t i;
    int rc = -1;

    *jobs = NULL;
    *n = 0;
    qmf_map_set(offset, "x-stream-offset", qmf_string("first"));
    sub.arguments = offset;
    s.marker = console_new_id();
    s.ack_all = true;
    if (reader_open(c, &s, &q, &sub, "reading the jobs stream", err) != 0 ||
        read_to_marker(c, &s, BUS_JOBS_QUEUE, err) != 0)
        goto out;
    *jobs = qmf_xcalloc(s.nrecords + 1, sizeof(**jobs));
    for (i = 0; i < s.nrecords; i++)
        job_from_record(&(*jobs)[i], &s.records[i]);
    *n = s.nrecords;
    qsort(*jobs, *n, sizeof(**jobs), compare_jobs_newest_first);
    rc = 0;
out:
    reader_close(&s);
    qmf_free(qargs);
    qmf_free(offset);
    return rc;
}

void
virtbus_job_clear(struct virtbus_job *j)
{
    free(j->id);
    free(j->description);
    free(j->record_signer);
    free(j->record_error);
    virtbus_agent_list_free(&j->expected);
    virtbus_results_free(&j->results);
    memset(j, 0, sizeof(*j));
}
