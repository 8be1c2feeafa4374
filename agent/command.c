/*
 * Commands: method requests run at most once, with outcomes that are not
 * lost.  For each object a command acts on, the journal records BEGIN
 * before the effect and END with the outcome after it (both fsync'd, on
 * the worker); the request is acked once every outcome is durable; the
 * reply and the commandResult events are published with confirms, and
 * outcomes whose messages the broker did not confirm stay in the journal
 * (the spool) and are published again, in order, when the broker is back.
 *
 * A command delivered again (a redelivery, a console asking again) is not
 * run again: an outcome on record is answered from the journal; a command
 * that began but never ended (the agent died while it ran) is answered as
 * interrupted, its effect unknown, and is never repeated behind the
 * operator's back.  Requests without a message-id cannot be recognised
 * and are run at least once, as before journals.
 *
 * "Again" means the same command: the same message-id, sender and content
 * (agent_command_digest).  A console that reuses message-ids (Qpid's sends
 * "qmf2" every time) is thus never answered with another command's outcome.
 */
#include "agent/agent_impl.h"
#include "agent/clock.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "agent/journal.h"
#include "core/digest.h"
#include "core/text.h"
#include "core/where.h"

struct command;

/* One object a command acts on. */
struct command_object {
    struct command *cmd;
    char *name;
    char *label;                  /* its name property for people, or NULL */
    enum { CMD_RUN, CMD_REPLAY, CMD_INTERRUPTED } mode;
    struct method_call call;
    int rc;
    qmf_error err;
    bool refused;                 /* by a check before anything ran */
    int64_t started_ns, duration_ns;
    qmf_value *fresh;             /* the object after the method */
    bool gone;
    qmf_value *created_values;
    qmf_value *outcome;           /* what the journal holds */
    bool durable;                 /* END is on disk (or no journal) */
    /* END queued (journal_end_queued): durable once the journal is on
     * disk up to end_pos, which a sync job waits for off the object. */
    bool end_queued;
    uint64_t end_pos;
    /* BEGIN or END is on disk: whatever happens now, the journal gives
     * this object an outcome.  Set by a worker, read on the loop. */
    atomic_bool on_record;
    unsigned confirms_pending;    /* its reply and event */
    bool confirms_failed;
};

struct command {
    struct agent *a;
    struct agent_conf *conf;      /* what workers read of the configuration */
    struct bus_delivery *delivery;
    struct bus_message *req;      /* reply-to, correlation-id, user, id */
    struct agent_caller caller;   /* who sent it (credential not kept) */
    uint8_t digest[JOURNAL_DIGEST_LEN];     /* with the id, what the journal knows it by */
    const struct schema_class *cls;
    const struct schema_method *sm;
    const struct agent_method *impl;
    struct hostpath_set *paths;   /* allowed_paths when it arrived (a reference) */
    bool group;                   /* selected by _where: answered as _results */
    bool journaled;
    struct command_object *objs;
    size_t n, remaining;
    unsigned refs;                /* objects still waiting for confirms, + 1 */
    struct event *long_ev;        /* acks a long-running command early */
};

static void command_unref(struct command *cmd);
static void publish_event(struct command *cmd, struct command_object *o);

/* Identity ---------------------------------------------------------------------- */

/*
 * Who sent a request, as far as it truthfully says: the key that signed it,
 * else the user-id RabbitMQ checked against the connection's user, or
 * nobody.  Tagged, so that no user name can pass for a key.
 */
static void
update_sender(EVP_MD_CTX *ctx, const struct bus_message *m, const struct agent_caller *c)
{
    if (c != NULL && c->is_signed) {
        qmf_digest_update_string(ctx, "key");
        qmf_digest_update_string(ctx, c->key_id);
    } else {
        qmf_digest_update_string(ctx, "user");
        qmf_digest_update_string(ctx, m->user_id != NULL ? m->user_id : "");
    }
}

void
agent_command_digest(const struct bus_message *m, const struct agent_caller *caller,
                     uint8_t digest[JOURNAL_DIGEST_LEN])
{
    /* Everything in a method request that decides what it does; the
     * correlation-id and reply-to only decide where the answer goes. */
    static const char *const fields[] = {
        "_object_id", "_schema_id", "_where", "_method_name", "_arguments", "_target",
    };
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    size_t i;

    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        abort();    /* only out of memory: SHA-256 is always there */
    qmf_digest_update_string(ctx, "virtbus command 1");
    update_sender(ctx, m, caller);
    qmf_digest_update_string(ctx, bus_message_header(m, "qmf.opcode"));
    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        qmf_digest_update_string(ctx, fields[i]);
        qmf_digest_update(ctx, m->body != NULL ? qmf_map_get(m->body, fields[i]) : NULL);
    }
    if (EVP_DigestFinal_ex(ctx, digest, &len) != 1 || len != JOURNAL_DIGEST_LEN)
        abort();
    EVP_MD_CTX_free(ctx);
}

/* Outcomes ---------------------------------------------------------------------- */

/* A text from the request, fit for an sstr of a commandResult. */
static qmf_value *
request_text(const char *s)
{
    char *clipped = qmf_text_clip(s ? s : "", s ? strlen(s) : 0, AGENT_SSTR_MAX);
    qmf_value *v = qmf_string(clipped);

    free(clipped);
    return v;
}

qmf_value *
agent_command_result(const struct agent_caller *caller, const struct bus_message *m,
                     const char *class_name, const char *object_name,
                     const char *method_name, const char *outcome, const qmf_error *err,
                     int64_t duration_ns)
{
    qmf_value *v = qmf_map();

    qmf_map_set(v, "requester", request_text(agent_requester(caller, m)));
    qmf_map_set(v, "requesterKey", qmf_string(caller != NULL ? caller->key_id : ""));
    qmf_map_set(v, "correlationId", request_text(m->correlation_id));
    qmf_map_set(v, "opcode", qmf_string("_method_request"));
    qmf_map_set(v, "className", request_text(class_name));
    qmf_map_set(v, "objectName", request_text(object_name));
    qmf_map_set(v, "methodName", request_text(method_name));
    qmf_map_set(v, "outcome", qmf_string(outcome));
    qmf_map_set(v, "errorCode", qmf_u32(err ? err->code : 0));
    qmf_map_set(v, "errorText", qmf_string(err ? err->text : ""));
    qmf_map_set(v, "durationNs", qmf_i64(duration_ns));
    return v;
}

static qmf_value *
command_result_values(const struct command *cmd, const struct command_object *o,
                      const char *outcome, const qmf_error *err)
{
    return agent_command_result(&cmd->caller, cmd->req, cmd->cls->name, o->name,
                                cmd->sm->name, outcome, err, o->duration_ns);
}

/*
 * The outcome the journal keeps: the answer (a reply for one object, an
 * item of _results for a group), the commandResult, and where answers go,
 * so that the spool can publish them again without the request.
 */
static qmf_value *
make_outcome(struct command *cmd, struct command_object *o, qmf_value *out_args)
{
    const struct bus_message *m = cmd->req;
    qmf_value *outcome = qmf_map(), *answer, *v;
    bool ok = o->rc == 0;

    if (cmd->group) {
        answer = qmf_map_set(outcome, "item", qmf_map());
        qmf_map_set(answer, "_object_id", agent_object_ref(cmd->a, o->name));
        if (o->label != NULL)
            qmf_map_set(answer, "_name", qmf_string(o->label));
        if (ok) {
            qmf_map_set(answer, "_arguments", out_args ? out_args : qmf_map());
            out_args = NULL;
        } else {
            v = qmf_map_set(answer, "_values", qmf_map());
            qmf_map_set(v, "error_code", qmf_u32(o->err.code));
            qmf_map_set(v, "error_text", qmf_string(o->err.text));
        }
    } else {
        answer = qmf_map_set(outcome, "reply", qmf_map());
        qmf_map_set(answer, "opcode", qmf_string(ok ? "_method_response" : "_exception"));
        v = qmf_map_set(answer, "body", qmf_map());
        if (ok) {
            qmf_map_set(v, "_arguments", out_args ? out_args : qmf_map());
            out_args = NULL;
        } else {
            qmf_value *values = qmf_map_set(v, "_values", qmf_map());

            qmf_map_set(values, "error_code", qmf_u32(o->err.code));
            qmf_map_set(values, "error_text", qmf_string(o->err.text));
        }
    }
    qmf_free(out_args);
    qmf_map_set(outcome, "event",
                command_result_values(cmd, o, ok ? "ok" : o->refused ? "rejected" : "error",
                                      ok ? NULL : &o->err));
    qmf_map_set(outcome, "group", qmf_bool(cmd->group));
    qmf_map_set(outcome, "reply_to", qmf_string(m->reply_to ? m->reply_to : ""));
    qmf_map_set(outcome, "correlation_id",
                qmf_string(m->correlation_id ? m->correlation_id : ""));
    qmf_map_set(outcome, "durable", qmf_bool(m->durable));
    /* An answer published again after a restart keeps the request's form. */
    if (m->encoding == BUS_ENCODING_AMQP)
        qmf_map_set(outcome, "encoding", qmf_string("amqp"));
    if (m->amqp10)
        qmf_map_set(outcome, "amqp10", qmf_bool(true));
    /* For the spool's age bound. */
    qmf_map_set(outcome, "recorded", qmf_i64(clock_wall_ns()));
    return outcome;
}

/* Worker side ------------------------------------------------------------------- */

/*
 * What the journal knows of this command on this object: its outcome (it
 * is answered, not run), or its BEGIN alone (an earlier run died in it).
 * Asked when a worker takes the object, behind every command before it on
 * that object (another copy of this one, sent again or redelivered, may
 * have run first), and never on the loop: the journal's lock is the
 * workers', and the loop must not wait for it on every command.
 */
static void
object_consult_journal(struct command_object *o)
{
    struct command *cmd = o->cmd;
    struct agent *a = cmd->a;
    qmf_value *recorded = NULL, *item;

    switch (journal_lookup(a->journal, cmd->req->message_id, o->name, cmd->digest, &recorded,
                           NULL, NULL)) {
    case JOURNAL_DONE:
        o->mode = CMD_REPLAY;
        o->outcome = recorded;
        o->durable = true;
        atomic_store(&o->on_record, true);
        /* An outcome recorded at recovery does not know its object id. */
        item = qmf_map_get(recorded, "item");
        if (cmd->group && item != NULL &&
            qmf_map_get_string(qmf_map_get(item, "_object_id"), "_object_name") == NULL)
            qmf_map_set(item, "_object_id", agent_object_ref(a, o->name));
        if (cmd->group && item != NULL && o->label != NULL && !qmf_map_get(item, "_name"))
            qmf_map_set(item, "_name", qmf_string(o->label));
        return;
    case JOURNAL_BEGUN:
        /* Begun by an earlier run that never ended: never repeated. */
        o->mode = CMD_INTERRUPTED;
        atomic_store(&o->on_record, true);
        break;
    default:
        break;
    }
    qmf_free(recorded);
}

static void
set_interrupted(const struct command *cmd, struct command_object *o)
{
    qmf_error_set(&o->err, QMF_ERR_INTERRUPTED,
                  "interrupted: the agent stopped while %s.%s ran on %s; whether it "
                  "took effect is unknown, and it is not run again",
                  cmd->cls->name, cmd->sm->name, o->name);
    o->rc = -1;
}

/*
 * The outcome to record should the agent die while the object's method
 * runs, kept with its BEGIN: after an early ack (a long command) no
 * redelivery would say where the answer goes.
 */
static qmf_value *
prepared_interruption(struct command *cmd, const struct command_object *o)
{
    struct command_object copy = *o;

    set_interrupted(cmd, &copy);
    return make_outcome(cmd, &copy, NULL);
}

static void
object_work(void *arg)
{
    struct command_object *o = arg;
    struct command *cmd = o->cmd;
    struct agent *a = cmd->a;
    const char *id = cmd->req->message_id;
    qmf_error jerr, ferr;

    if (cmd->journaled) {
        /* The same command may have just ended, its END not yet on disk:
         * it is then DONE, not begun. */
        journal_settle(a->journal, id, o->name, cmd->digest);
        object_consult_journal(o);
        if (o->mode == CMD_REPLAY)
            return;
    }
    if (o->mode == CMD_INTERRUPTED) {
        set_interrupted(cmd, o);
    } else if (hostpath_check_args(cmd->paths, cmd->sm, o->call.args, &o->err) != 0) {
        /* Refused before its BEGIN: the journal records it as refused
         * (an END alone), never as begun. */
        o->rc = -1;
        o->refused = true;
    } else {
        qmf_value *prepared = cmd->journaled ? prepared_interruption(cmd, o) : NULL;
        int begun = cmd->journaled ? journal_begin(a->journal, id, o->name, cmd->digest,
                                                   prepared, &jerr)
                                   : 0;

        qmf_free(prepared);
        if (begun != 0) {
            /* Without BEGIN on disk the effect could happen twice: not
             * run, and answered so (not durable: the request goes back). */
            o->rc = -1;
            qmf_error_set(&o->err, QMF_ERR_INTERNAL, "not run: %s", jerr.text);
            o->outcome = make_outcome(cmd, o, o->call.out);
            o->call.out = NULL;
            return;
        }
        atomic_store(&o->on_record, cmd->journaled);
        o->started_ns = clock_mono_ns();
        o->rc = agent_run_method(cmd->impl, &o->call, &o->err);
        o->duration_ns = clock_mono_ns() - o->started_ns;
        /* What changes nothing leaves the object as the inventory has it:
         * no second round of libvirt calls to read it again. */
        if (!cmd->sm->readonly &&
            agent_fetch_object(a, &cmd->conf->cfg, o->name, &o->fresh, &ferr) != 0)
            o->gone = ferr.code == QMF_ERR_UNKNOWN_OBJECT;
        if (o->call.created != NULL &&
            agent_fetch_object(a, &cmd->conf->cfg, o->call.created, &o->created_values,
                               &ferr) != 0)
            o->created_values = NULL;
    }
    /* make_outcome takes the output arguments, and drops them on failure. */
    o->outcome = make_outcome(cmd, o, o->call.out);
    o->call.out = NULL;
    /*
     * The END is only queued: the object is free for its next command at
     * once, whose BEGIN's fsync writes this END too, and many commands'
     * records share each fsync.  Nothing is acked or answered before the
     * END is on disk (object_done waits for it).
     */
    if (!cmd->journaled)
        o->durable = true;
    else if (journal_end_queued(a->journal, id, o->name, cmd->digest, o->outcome,
                                &o->end_pos, &jerr) == 0)
        o->end_queued = true;
    else
        qmf_error_set(&o->err, QMF_ERR_INTERNAL, "outcome not recorded: %s", jerr.text);
}

/* The journal's strand of an agent's jobs: one waiter at a time, which
 * every END queued before its fsync shares. */
#define JOURNAL_SYNC_STRAND "journal:sync"

static void
object_sync_work(void *arg)
{
    struct command_object *o = arg;
    qmf_error jerr;

    if (journal_sync(o->cmd->a->journal, o->end_pos, &jerr) == 0)
        o->durable = true;
    else
        qmf_error_set(&o->err, QMF_ERR_INTERNAL, "outcome not recorded: %s", jerr.text);
}

/* Publishing, confirms and delivery -------------------------------------------- */

static void
command_free(struct command *cmd)
{
    size_t i;

    for (i = 0; i < cmd->n; i++) {
        struct command_object *o = &cmd->objs[i];

        free(o->name);
        free(o->label);
        qmf_free(o->call.args);
        qmf_free(o->call.out);
        free(o->call.created);
        qmf_free(o->fresh);
        qmf_free(o->created_values);
        qmf_free(o->outcome);
    }
    free(cmd->objs);
    agent_conf_unref(cmd->conf);
    hostpath_set_unref(cmd->paths);
    bus_message_free(cmd->req);
    if (cmd->long_ev != NULL)
        event_free(cmd->long_ev);
    free(cmd);
}

/* The last reference: without a journal the request is acked only now,
 * once its answer is confirmed (at least once, as before journals). */
static void
command_unref(struct command *cmd)
{
    if (--cmd->refs > 0)
        return;
    if (cmd->delivery != NULL)
        bus_ack(cmd->delivery);
    command_free(cmd);
}

static void
object_confirmed(bool ok, void *opaque)
{
    struct command_object *o = opaque;
    struct command *cmd = o->cmd;

    if (!ok)
        o->confirms_failed = true;
    if (--o->confirms_pending > 0)
        return;
    /* Its answer and its record are with the broker: no need to spool. */
    if (!o->confirms_failed && cmd->journaled && o->durable)
        journal_delivered(cmd->a->journal, cmd->req->message_id, o->name, cmd->digest);
    command_unref(cmd);
}

/* A group's answer is one confirm for every object in it. */
static void
group_answer_confirmed(bool ok, void *opaque)
{
    struct command *cmd = opaque;
    size_t i;

    cmd->refs++;            /* object_confirmed may drop the others */
    for (i = 0; i < cmd->n; i++)
        object_confirmed(ok, &cmd->objs[i]);
    command_unref(cmd);
}

/* The answer to the request: one reply, or the group's _results in
 * batches, the last of which carries every object's confirm. */
static void
publish_answer(struct command *cmd)
{
    struct agent *a = cmd->a;
    size_t i = 0;

    if (!cmd->group) {
        struct command_object *o = &cmd->objs[0];
        const qmf_value *reply = qmf_map_get(o->outcome, "reply");

        agent_reply(a, cmd->req, qmf_map_get_string(reply, "opcode"), NULL, false,
                    qmf_dup(qmf_map_get(reply, "body")), object_confirmed, o);
        return;
    }
    do {
        qmf_value *body = qmf_map(), *items = qmf_map_set(body, "_results", qmf_list());
        size_t end = i + AGENT_ANSWER_BATCH < cmd->n ? i + AGENT_ANSWER_BATCH : cmd->n;
        bool last = end >= cmd->n;

        for (; i < end; i++)
            qmf_list_append(items, qmf_dup(qmf_map_get(cmd->objs[i].outcome, "item")));
        agent_reply(a, cmd->req, "_method_response", NULL, !last, body,
                    last && cmd->n > 0 ? group_answer_confirmed : NULL,
                    last && cmd->n > 0 ? cmd : NULL);
    } while (i < cmd->n);
}

/* Every object has its outcome: ack (they are durable), answer, record. */
static void
command_finish(struct command *cmd)
{
    bool durable = true;
    size_t i;

    for (i = 0; i < cmd->n; i++) {
        struct command_object *o = &cmd->objs[i];

        durable &= o->durable;
        /* Count every confirm first: a failed publish confirms at once. */
        o->confirms_pending = 1 + (o->mode != CMD_REPLAY);
        cmd->refs++;
    }
    if (cmd->long_ev != NULL)
        event_del(cmd->long_ev);
    if (cmd->journaled && cmd->delivery != NULL) {
        /* The outcomes are on disk: the request may go.  If one is not
         * (the journal failed), leave it to the broker to deliver again. */
        if (durable)
            bus_ack(cmd->delivery);
        else
            bus_reject(cmd->delivery, true);
        cmd->delivery = NULL;
    }
    for (i = 0; i < cmd->n; i++)
        if (cmd->objs[i].mode != CMD_REPLAY)
            publish_event(cmd, &cmd->objs[i]);
    publish_answer(cmd);
    command_unref(cmd);
}

static void
publish_event(struct command *cmd, struct command_object *o)
{
    const qmf_value *event = qmf_map_get(o->outcome, "event");

    agent_count_command(cmd->a, event);
    agent_publish_event(cmd->a, "commandResult", event ? qmf_dup(event) : qmf_map(),
                        object_confirmed, o);
}

/* Loop side ---------------------------------------------------------------- */

/* The object has its outcome; the command finishes with its last one. */
static void
object_finished(struct command_object *o)
{
    struct command *cmd = o->cmd;

    if (--cmd->remaining == 0)
        command_finish(cmd);
}

static void
object_synced(void *arg)
{
    struct command_object *o = arg;
    struct agent *a = o->cmd->a;

    a->journal_waits--;
    object_finished(o);
    jobs_end(&a->jobs);
}

/* Once its END is on disk, if it has one queued: waited for on a worker
 * of the journal's strand, unless an fsync already covered it and no
 * earlier outcome waits there (outcomes are answered in the order their
 * objects' jobs ended). */
static void
object_settle(struct command_object *o)
{
    struct agent *a = o->cmd->a;

    if (o->end_queued && !o->durable) {
        if (a->journal_waits == 0 && journal_synced(a->journal, o->end_pos)) {
            o->durable = true;
        } else if (jobs_submit(&a->jobs, JOURNAL_SYNC_STRAND, object_sync_work,
                               object_synced, o) == 0) {
            a->journal_waits++;
            return;
        } else {
            /* Not known to be on disk: the request goes back (command_finish). */
            qmf_error_set(&o->err, QMF_ERR_INTERNAL,
                          "outcome not recorded: cannot wait for the journal");
        }
    }
    object_finished(o);
}

static void
object_done(void *arg)
{
    struct command_object *o = arg;
    struct command *cmd = o->cmd;
    struct agent *a = cmd->a;

    if (o->mode == CMD_RUN) {
        agent_apply_object(a, o->name, o->fresh, o->gone);
        o->fresh = NULL;
        if (o->created_values != NULL) {
            agent_apply_object(a, o->call.created, o->created_values, false);
            o->created_values = NULL;
        }
        if (o->call.reload_class != NULL)
            agent_load_inventory(a, o->call.reload_class, false, NULL);
    }
    if (o->mode == CMD_REPLAY) {
        log_info(&a->log, "%s.%s on %s: %s ran already; answered from the journal",
                 cmd->cls->name, cmd->sm->name, o->name, cmd->req->message_id);
    } else {
        char *action = qmf_xasprintf("%s.%s", cmd->cls->name, cmd->sm->name);
        const char *outcome = o->rc == 0 ? "ok" : o->refused ? "rejected" : "error";

        log_info(&a->log, "%s on %s for %s: %s%s%s", action, o->name, cmd->caller.name,
                 outcome, o->rc ? ": " : "", o->rc ? o->err.text : "");
        agent_audit(a, &cmd->caller, cmd->req, action, o->name, outcome,
                    o->rc == 0 ? NULL : &o->err);
        free(action);
    }
    object_settle(o);
    jobs_end(&a->jobs);
}

/*
 * RabbitMQ closes the channel of a consumer that holds a delivery past its
 * consumer_timeout, and a migrate can run longer.  Once every object's
 * BEGIN is on disk the journal answers for the command whatever happens
 * (its END, or "interrupted" at the next start, as a redelivery would be
 * answered), so the delivery can go before the command ends.
 */
static void
long_command_cb(evutil_socket_t fd, short what, void *arg)
{
    struct command *cmd = arg;
    struct timeval again = { 1, 0 };
    size_t i;

    for (i = 0; i < cmd->n; i++)
        if (!atomic_load(&cmd->objs[i].on_record)) {
            /* Still waiting behind another command on its object. */
            event_add(cmd->long_ev, &again);
            return;
        }
    log_info(&cmd->a->log, "%s.%s (%s) still running after %u s: acked now, its start "
             "being in the journal", cmd->cls->name, cmd->sm->name, cmd->req->message_id,
             cmd->a->cfg.ack_long_commands_after);
    bus_ack(cmd->delivery);
    cmd->delivery = NULL;
}

static void
command_start(struct agent *a, struct bus_delivery *d, const struct bus_message *m,
              const struct agent_caller *caller, const struct schema_class *cls,
              const struct schema_method *sm, const struct agent_method *impl,
              const qmf_value *args, const char *const *names, size_t n, bool group)
{
    struct command *cmd = qmf_xcalloc(1, sizeof(*cmd));
    const char *id = m->message_id;
    size_t i;

    cmd->a = a;
    cmd->conf = agent_conf_ref(a->conf);
    cmd->delivery = d;
    cmd->req = bus_message_new();
    cmd->req->reply_to = m->reply_to ? qmf_xstrdup(m->reply_to) : NULL;
    cmd->req->correlation_id = m->correlation_id ? qmf_xstrdup(m->correlation_id) : NULL;
    cmd->req->user_id = m->user_id ? qmf_xstrdup(m->user_id) : NULL;
    cmd->req->message_id = id ? qmf_xstrdup(id) : NULL;
    cmd->req->durable = m->durable;
    /* The answer goes in the request's encoding and envelope. */
    cmd->req->encoding = m->encoding;
    cmd->req->amqp10 = m->amqp10;
    cmd->caller = *caller;
    cmd->caller.credential = NULL;
    agent_command_digest(m, caller, cmd->digest);
    cmd->cls = cls;
    cmd->sm = sm;
    cmd->impl = impl;
    cmd->paths = hostpath_set_ref(a->paths);
    cmd->group = group;
    /* What changes nothing is run again when asked again, as a query is
     * answered again: there is no effect to keep from happening twice. */
    cmd->journaled = a->journal != NULL && id != NULL && id[0] != '\0' && !sm->readonly;
    cmd->objs = qmf_xcalloc(n ? n : 1, sizeof(*cmd->objs));
    cmd->n = n;
    cmd->refs = 1;
    for (i = 0; i < n; i++) {
        struct command_object *o = &cmd->objs[i];
        const struct inv_object *known = inv_get(&a->inv, names[i]);
        const char *label = known ? qmf_map_get_string(known->values, "name") : NULL;
        const char *colon;

        o->cmd = cmd;
        o->name = qmf_xstrdup(names[i]);
        /* Taken now, on the loop: the method may remove the object. */
        o->label = label ? qmf_xstrdup(label) : NULL;
        colon = strchr(o->name, ':');     /* the key points into our copy */
        o->mode = CMD_RUN;
        o->call = (struct method_call){
            .a = a, .cls = cls, .method = sm,
            .object_name = o->name,
            .object_key = colon ? colon + 1 : "",
            .args = args ? qmf_dup(args) : NULL,
            .out = qmf_map(),
        };
    }
    if (cmd->journaled && d != NULL && n > 0 && a->cfg.ack_long_commands_after > 0) {
        struct timeval tv = { a->cfg.ack_long_commands_after, 0 };

        cmd->long_ev = evtimer_new(a->env.base, long_command_cb, cmd);
        event_add(cmd->long_ev, &tv);
    }
    /* Count every job before the first one can finish. */
    cmd->remaining = n;
    for (i = 0; i < n; i++) {
        struct command_object *o = &cmd->objs[i];

        if (jobs_submit(&a->jobs, o->name, object_work, object_done, o) != 0) {
            o->rc = -1;
            qmf_error_set(&o->err, QMF_ERR_INTERNAL, "cannot queue the method");
            o->outcome = make_outcome(cmd, o, NULL);
            cmd->remaining--;
        }
    }
    if (cmd->remaining == 0)
        command_finish(cmd);
}

void
agent_command_one(struct agent *a, struct bus_delivery *d, const struct bus_message *m,
                  const struct agent_caller *caller, const struct schema_class *cls,
                  const struct schema_method *sm, const struct agent_method *impl,
                  const qmf_value *args, const char *object_name)
{
    command_start(a, d, m, caller, cls, sm, impl, args, &object_name, 1, false);
}

/* Selections ------------------------------------------------------------------- *
 *
 * A command on the objects a _where selects must act, when it comes again,
 * on the same objects: by then the selection may match others (after
 * "suspend where state == running", nothing is running).  So the selection
 * is recorded under the object "" before any object is acted on, and a
 * repeat acts on the recorded one. */

struct selection_job {
    struct agent *a;
    struct bus_delivery *delivery;
    const struct bus_message *m;    /* the delivery's: valid until it is settled */
    struct agent_caller caller;     /* credential not kept */
    const struct schema_class *cls;
    const struct schema_method *sm;
    const struct agent_method *impl;
    qmf_value *args;
    qmf_value *names;               /* list of object names */
    uint8_t digest[JOURNAL_DIGEST_LEN];
    bool recorded;
    qmf_error err;
};

static void
selection_work(void *arg)
{
    struct selection_job *job = arg;
    qmf_value *record = qmf_map();

    qmf_map_set(record, "objects", qmf_dup(job->names));
    job->recorded = journal_end(job->a->journal, job->m->message_id, "", job->digest,
                                record, &job->err) == 0;
    qmf_free(record);
}

static void
start_names(struct agent *a, struct bus_delivery *d, const struct bus_message *m,
            const struct agent_caller *caller, const struct schema_class *cls,
            const struct schema_method *sm, const struct agent_method *impl,
            const qmf_value *args, const qmf_value *names)
{
    size_t n = qmf_list_len(names), i;
    const char **v = qmf_xcalloc(n + 1, sizeof(*v));

    for (i = 0; i < n; i++)
        v[i] = qmf_as_string(qmf_list_at(names, i));
    command_start(a, d, m, caller, cls, sm, impl, args, v, n, true);
    free(v);
}

static void
selection_done(void *arg)
{
    struct selection_job *job = arg;
    struct agent *a = job->a;

    if (job->recorded) {
        /* Not an outcome anyone waits for: nothing to publish. */
        journal_delivered(a->journal, job->m->message_id, "", job->digest);
        start_names(a, job->delivery, job->m, &job->caller, job->cls, job->sm, job->impl,
                    job->args, job->names);
    } else {
        log_warnx(&a->log, "command %s: %s; leaving it to the broker", job->m->message_id,
                  job->err.text);
        bus_reject(job->delivery, true);
    }
    qmf_free(job->args);
    qmf_free(job->names);
    free(job);
    jobs_end(&a->jobs);
}

static void
collect_name(const struct inv_object *o, void *opaque)
{
    qmf_list_append(opaque, qmf_string(o->name));
}

int
agent_command_where(struct agent *a, struct bus_delivery *d, const struct bus_message *m,
                    const struct agent_caller *caller, const struct schema_class *cls,
                    const struct schema_method *sm, const struct agent_method *impl,
                    const qmf_value *args, const qmf_where *where, qmf_error *err)
{
    const char *id = m->message_id;
    uint8_t digest[JOURNAL_DIGEST_LEN];
    struct selection_job *job;
    qmf_value *names, *record = NULL;

    if (a->journal == NULL || id == NULL || id[0] == '\0' || sm->readonly) {
        names = qmf_list();
        if (inv_select(&a->inv, cls, where, collect_name, names, err) != 0) {
            qmf_free(names);
            return -1;
        }
        start_names(a, d, m, caller, cls, sm, impl, args, names);
        qmf_free(names);
        return 0;
    }
    agent_command_digest(m, caller, digest);
    if (journal_lookup(a->journal, id, "", digest, &record, NULL, NULL) == JOURNAL_DONE) {
        start_names(a, d, m, caller, cls, sm, impl, args, qmf_map_get(record, "objects"));
        qmf_free(record);
        return 0;
    }
    qmf_free(record);
    names = qmf_list();
    if (inv_select(&a->inv, cls, where, collect_name, names, err) != 0) {
        qmf_free(names);
        return -1;
    }
    job = qmf_xcalloc(1, sizeof(*job));
    job->a = a;
    job->delivery = d;
    job->m = m;
    job->caller = *caller;
    job->caller.credential = NULL;
    job->cls = cls;
    job->sm = sm;
    job->impl = impl;
    job->args = args ? qmf_dup(args) : NULL;
    job->names = names;
    memcpy(job->digest, digest, sizeof(job->digest));
    /* Keyed by the command: its objects' jobs start only once it is done. */
    if (jobs_submit(&a->jobs, id, selection_work, selection_done, job) != 0) {
        bus_reject(d, true);
        qmf_free(job->args);
        qmf_free(job->names);
        free(job);
    }
    return 0;
}

/* The spool --------------------------------------------------------------------- */

/*
 * The spool's bound (docs/RELIABILITY.md): an outcome still undelivered
 * this long after it was recorded gets one more try at the next flush and
 * is then unpinned whatever the broker says.  It stays in the journal,
 * which still answers a repeat of its command; what is lost is only the
 * unsolicited re-publication.  Without the bound, outcomes the broker
 * refuses for good would hold the journal until it refuses every command
 * (error 11), across restarts.
 */
#define SPOOL_MAX_AGE_NS (3600 * INT64_C(1000000000))

/* One outcome published again: delivered once both messages are confirmed. */
struct spooled {
    struct agent *a;
    char *id, *object;
    uint8_t digest[JOURNAL_DIGEST_LEN];
    bool has_digest;
    unsigned pending;
    bool failed;
    bool last_try;          /* past the age bound: unpinned either way */
};

static void
spooled_confirmed(bool ok, void *opaque)
{
    struct spooled *sp = opaque;

    if (!ok)
        sp->failed = true;
    if (--sp->pending > 0)
        return;
    if (sp->failed && sp->last_try)
        log_warnx(&sp->a->log, "outcome of command %.100s on %.200s not delivered within "
                  "%d s of its recording: no longer spooled (the journal keeps it for a "
                  "repeat)", sp->id, sp->object[0] ? sp->object : "(request)",
                  (int)(SPOOL_MAX_AGE_NS / 1000000000));
    if ((!sp->failed || sp->last_try) && sp->a->journal != NULL)
        journal_delivered(sp->a->journal, sp->id, sp->object,
                          sp->has_digest ? sp->digest : NULL);
    free(sp->id);
    free(sp->object);
    free(sp);
}

struct spool_ctx {
    struct agent *a;
    qmf_value *entries;       /* [{id, object, digest (if any), outcome}], oldest first */
};

static void
collect_undelivered(const char *id, const char *object, const uint8_t *digest,
                    qmf_value *outcome, void *opaque)
{
    struct spool_ctx *ctx = opaque;
    qmf_value *e = qmf_list_append(ctx->entries, qmf_map());

    qmf_map_set(e, "id", qmf_string(id));
    qmf_map_set(e, "object", qmf_string(object));
    if (digest != NULL)
        qmf_map_set(e, "digest", qmf_binary(digest, JOURNAL_DIGEST_LEN));
    qmf_map_set(e, "outcome", outcome);
}

/* The digest of a collected entry, or NULL. */
static const uint8_t *
entry_digest(const qmf_value *e)
{
    const qmf_value *d = qmf_map_get(e, "digest");

    return d != NULL && d->kind == QMF_BINARY && qmf_bytes_len(d) == JOURNAL_DIGEST_LEN ?
        (const uint8_t *)qmf_as_string(d) : NULL;
}

/* Two collected entries of one command (on different objects). */
static bool
same_command(const qmf_value *e, const qmf_value *f)
{
    return strcmp(qmf_map_get_string(e, "id"), qmf_map_get_string(f, "id")) == 0 &&
        qmf_equal(qmf_map_get(e, "digest"), qmf_map_get(f, "digest"));
}

/* The request fields an outcome was answered with. */
static struct bus_message *
recorded_request(const qmf_value *outcome)
{
    struct bus_message *m = bus_message_new();
    const char *reply_to = qmf_map_get_string(outcome, "reply_to");
    const char *correlation = qmf_map_get_string(outcome, "correlation_id");
    const qmf_value *durable = qmf_map_get(outcome, "durable");

    if (reply_to && reply_to[0])
        m->reply_to = qmf_xstrdup(reply_to);
    if (correlation && correlation[0])
        m->correlation_id = qmf_xstrdup(correlation);
    m->durable = durable && durable->kind == QMF_BOOL && qmf_as_bool(durable);
    if (qmf_map_get_string(outcome, "encoding") != NULL &&
        bus_encoding_from_name(qmf_map_get_string(outcome, "encoding"), &m->encoding) != 0)
        m->encoding = BUS_ENCODING_JSON;
    m->amqp10 = qmf_map_get(outcome, "amqp10") != NULL;
    return m;
}

/* A group's spooled items, confirmed together by their one answer. */
struct spooled_group {
    struct spooled **items;
    size_t n;
};

static void
spooled_group_confirmed(bool ok, void *opaque)
{
    struct spooled_group *g = opaque;
    size_t i;

    for (i = 0; i < g->n; i++)
        spooled_confirmed(ok, g->items[i]);
    free(g->items);
    free(g);
}

/* Whether an outcome is past the spool's age bound.  One recorded before
 * outcomes carried their time counts as past it. */
static bool
outcome_too_old(const qmf_value *outcome)
{
    int64_t recorded;

    if (!qmf_get_int64(qmf_map_get(outcome, "recorded"), &recorded))
        return true;
    return recorded < clock_wall_ns() - SPOOL_MAX_AGE_NS;
}

static struct spooled *
spooled_new(struct agent *a, const qmf_value *entry)
{
    struct spooled *sp = qmf_xcalloc(1, sizeof(*sp));
    const uint8_t *digest = entry_digest(entry);

    sp->a = a;
    sp->last_try = outcome_too_old(qmf_map_get(entry, "outcome"));
    sp->id = qmf_xstrdup(qmf_map_get_string(entry, "id"));
    sp->object = qmf_xstrdup(qmf_map_get_string(entry, "object"));
    if (digest != NULL) {
        memcpy(sp->digest, digest, JOURNAL_DIGEST_LEN);
        sp->has_digest = true;
    }
    sp->pending = 2;        /* its commandResult and its answer */
    return sp;
}

static void
spool_publish_event(struct agent *a, const qmf_value *outcome, struct spooled *sp)
{
    const qmf_value *event = qmf_map_get(outcome, "event");

    agent_publish_event(a, "commandResult", event ? qmf_dup(event) : qmf_map(),
                        spooled_confirmed, sp);
}

/*
 * Publishes again, oldest first, every outcome the broker has not
 * confirmed (after a reconnect, or at start).  The items of one group
 * command go out together, as one answer.
 */
void
agent_command_flush_spool(struct agent *a)
{
    struct spool_ctx ctx = { a, qmf_list() };
    size_t n, i, j;

    if (a->journal == NULL)
        return;
    n = journal_undelivered(a->journal, collect_undelivered, &ctx);
    if (n > 0)
        log_info(&a->log, "publishing %zu outcome(s) the broker has not confirmed", n);
    for (i = 0; i < qmf_list_len(ctx.entries); i++) {
        qmf_value *e = qmf_list_at(ctx.entries, i), *outcome, *body, *items;
        const qmf_value *group;
        struct spooled_group *g;
        struct bus_message *req;
        const char *id;

        if (e->kind != QMF_MAP)
            continue;       /* already sent with an earlier item of its group */
        id = qmf_map_get_string(e, "id");
        outcome = qmf_map_get(e, "outcome");
        if (qmf_map_get(outcome, "objects") != NULL) {
            /* A selection record: nothing to publish. */
            journal_delivered(a->journal, id, "", entry_digest(e));
            continue;
        }
        group = qmf_map_get(outcome, "group");
        req = recorded_request(outcome);
        if (!(group && group->kind == QMF_BOOL && qmf_as_bool(group))) {
            const qmf_value *reply = qmf_map_get(outcome, "reply");
            struct spooled *sp = spooled_new(a, e);

            spool_publish_event(a, outcome, sp);
            agent_reply(a, req, qmf_map_get_string(reply, "opcode"), NULL, false,
                        qmf_dup(qmf_map_get(reply, "body")), spooled_confirmed, sp);
            bus_message_free(req);
            continue;
        }
        body = qmf_map();
        items = qmf_map_set(body, "_results", qmf_list());
        g = qmf_xcalloc(1, sizeof(*g));
        for (j = i; j < qmf_list_len(ctx.entries); j++) {
            qmf_value *f = qmf_list_at(ctx.entries, j), *fo;
            struct spooled *sp;

            if (f->kind != QMF_MAP || !same_command(e, f))
                continue;
            fo = qmf_map_get(f, "outcome");
            sp = spooled_new(a, f);
            g->items = qmf_xrealloc(g->items, (g->n + 1) * sizeof(*g->items));
            g->items[g->n++] = sp;
            qmf_list_append(items, qmf_dup(qmf_map_get(fo, "item")));
            spool_publish_event(a, fo, sp);
            if (j > i)
                qmf_free(qmf_list_replace(ctx.entries, j, qmf_void()));
        }
        agent_reply(a, req, "_method_response", NULL, false, body, spooled_group_confirmed, g);
        bus_message_free(req);
    }
    qmf_free(ctx.entries);
}
