/*
 * Exactly-once effect, through the bus: a command delivered again (same
 * message-id, sender and content) is answered from the journal instead of
 * running again, while another command under a reused message-id runs; a
 * command a crash left begun is answered as interrupted and not run; an
 * outcome the broker never confirmed is published again at start; a
 * command interrupted in the console is kept as a job its agent answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "agent/agent_impl.h"
#include "agent/journal.h"
#include "tests/integration/harness.h"

#define WEB1 "domain:10000000-0000-4000-8000-000000000001"
#define WEB2 "domain:10000000-0000-4000-8000-000000000002"

static const char *const watch[] = {
    "agent.ind.event.org_libvirt.commandResult.*.virtbus.agent.*", NULL,
};

/* A method request as the console sends it to the agent named agent. */
static struct bus_message *
command_to(const char *agent, const char *id, const char *object, const char *method)
{
    qmf_value *body = qmf_map(), *oid;
    struct bus_message *m;

    oid = qmf_map_set(body, "_object_id", qmf_map());
    qmf_map_set(oid, "_agent_name", qmf_string(agent));
    qmf_map_set(oid, "_object_name", qmf_string(object));
    qmf_map_set(body, "_method_name", qmf_string(method));
    m = fleet_request("_method_request", body);
    m->message_id = qmf_xstrdup(id);
    return m;
}

static struct bus_message *
command(struct test_fleet *f, const char *id, const char *object, const char *method)
{
    return command_to(agent_name(f->agents[0]), id, object, method);
}

static int64_t
an_hour_ago_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - 3600000;
}

static const char *
state_of(struct test_fleet *f, const char *name)
{
    static char state[32];
    qmf_value *list = fleet_query(f, 0, "Domain", NULL);

    snprintf(state, sizeof(state), "%s", fleet_state(fleet_find(list, name)));
    qmf_free(list);
    return state;
}

Test(journal_bus, a_repeated_command_is_answered_not_run_again, .timeout = 120)
{
    struct test_fleet f;
    struct virtbus_result r;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, watch);

    r = fleet_ask(&f, 0, command(&f, "cmd-destroy-1", WEB1, "destroy"));
    cr_assert_eq(r.status, VIRTBUS_OK, "%s", r.error.text);
    virtbus_result_clear(&r);
    cr_assert_str_eq(state_of(&f, "web1"), "shutoff");

    /* Run again, destroy would fail ("not running"): the journal answers. */
    r = fleet_ask(&f, 0, command(&f, "cmd-destroy-1", WEB1, "destroy"));
    cr_assert_eq(r.status, VIRTBUS_OK, "a repeat ran again: %#x %s", r.error.code,
                 r.error.text);
    virtbus_result_clear(&r);

    /* A new id is a new command: it does run (and fails). */
    r = fleet_ask(&f, 0, command(&f, "cmd-destroy-2", WEB1, "destroy"));
    cr_assert_eq(r.status, VIRTBUS_FAILED);
    cr_assert(r.error.code & QMF_ERR_LIBVIRT, "%#x %s", r.error.code, r.error.text);
    virtbus_result_clear(&r);

    /* Exactly one record of the first command's execution. */
    qmf_free(fleet_expect_watch(&f, 0, "commandResult", "methodName", "destroy",
                                "outcome", "ok", NULL));
    qmf_free(fleet_expect_watch(&f, 0, "commandResult", "methodName", "destroy",
                                "outcome", "error", NULL));
    fleet_fini(&f);
}

/*
 * A command interrupted while its agent still owes the answer (Ctrl-C in
 * the CLI) is kept as a job: sent again with the job's reply-to under the
 * same message-id, it is answered from the journal, and the answer is in
 * the job for any console to fetch.  A query interrupted leaves none.
 */
Test(journal_bus, an_interrupted_command_is_kept_as_a_job, .timeout = 120)
{
    struct test_fleet f;
    struct virtbus_result r;
    struct virtbus_results res;
    struct virtbus_agent_list one;
    struct virtbus_job job;
    qmf_value *oid;
    qmf_error err;
    char *id;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, watch);
    fleet_agent_list(&f, 0, 1, &one);
    oid = fleet_object_id(&f, 0, WEB1);

    /* Interrupted before the loop ever ran: the agent had not answered. */
    virtbus_console_describe(f.console, "Domain.destroy web1");
    virtbus_console_interrupt(f.console, true);
    cr_assert(virtbus_call(f.console, agent_name(f.agents[0]), oid, "destroy", NULL,
                           FLEET_REPLY_MS, &r, &err) == 0, "%s", err.text);
    virtbus_result_clear(&r);
    cr_assert_not_null(virtbus_console_interrupted_job(f.console, &err), "%s", err.text);
    id = qmf_xstrdup(virtbus_console_interrupted_job(f.console, NULL));
    virtbus_console_interrupt(f.console, false);

    cr_assert(virtbus_job_fetch(f.console, id, true, FLEET_WAIT_MS, &job, &err) == 0,
              "%s", err.text);
    cr_assert(job.complete, "the agent's answer is in the job");
    cr_assert_str_eq(job.description, "Domain.destroy web1");
    cr_assert_eq(job.results.n, 1);
    /* Run twice, destroy would fail ("not running"). */
    cr_assert_eq(job.results.items[0].status, VIRTBUS_OK, "%#x %s",
                 job.results.items[0].error.code, job.results.items[0].error.text);
    virtbus_job_clear(&job);
    cr_assert_str_eq(state_of(&f, "web1"), "shutoff");
    qmf_free(fleet_expect_watch(&f, 0, "commandResult", "methodName", "destroy",
                                "outcome", "ok", NULL));

    /* A read changes nothing: no job. */
    virtbus_console_interrupt(f.console, true);
    cr_assert(virtbus_query(f.console, &one, "OBJECT", "Domain", NULL, FLEET_REPLY_MS, &res,
                            &err) == 0, "%s", err.text);
    virtbus_results_free(&res);
    cr_assert_null(virtbus_console_interrupted_job(f.console, &err));
    cr_assert_eq(err.code, QMF_OK, "%s", err.text);
    virtbus_console_interrupt(f.console, false);

    free(id);
    qmf_free(oid);
    virtbus_agent_list_free(&one);
    fleet_fini(&f);
}

/*
 * A command taken in time and asked again past its deadline (a console
 * re-sending after a long broker outage) is answered with what it did,
 * not "expired", which would say it never ran.  One never taken is.
 */
Test(journal_bus, a_repeat_past_its_deadline_is_answered_from_the_journal, .timeout = 120)
{
    struct test_fleet f;
    struct virtbus_result r;
    struct bus_message *m;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, watch);

    r = fleet_ask(&f, 0, command(&f, "cmd-late-1", WEB1, "destroy"));
    cr_assert_eq(r.status, VIRTBUS_OK, "%s", r.error.text);
    virtbus_result_clear(&r);

    /* The same command, created an hour ago with a one-minute TTL. */
    m = command(&f, "cmd-late-1", WEB1, "destroy");
    m->ttl_ms = 60000;
    m->created_ms = an_hour_ago_ms();
    r = fleet_ask(&f, 0, m);
    cr_assert_eq(r.status, VIRTBUS_OK, "a repeat past its deadline: %#x %s", r.error.code,
                 r.error.text);
    virtbus_result_clear(&r);

    /* A new command that late is refused, and recorded so. */
    m = command(&f, "cmd-late-2", WEB2, "destroy");
    m->ttl_ms = 60000;
    m->created_ms = an_hour_ago_ms();
    r = fleet_ask(&f, 0, m);
    cr_assert_eq(r.status, VIRTBUS_FAILED);
    cr_assert_eq(r.error.code, QMF_ERR_EXPIRED, "%#x %s", r.error.code, r.error.text);
    virtbus_result_clear(&r);
    cr_assert_str_eq(state_of(&f, "web2"), "running");
    qmf_free(fleet_expect_watch(&f, 0, "commandResult", "methodName", "destroy",
                                "outcome", "expired", NULL));
    fleet_fini(&f);
}

Test(journal_bus, a_repeated_group_command_is_answered_from_the_journal, .timeout = 120)
{
    struct virtbus_agent_list one;
    struct virtbus_results res;
    struct test_fleet f;
    qmf_value *body, *where;
    struct bus_message *m;
    char *address;
    qmf_error err;
    int round;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);
    fleet_agent_list(&f, 0, 1, &one);
    address = virtbus_agent_address(agent_name(f.agents[0]));
    for (round = 0; round < 2; round++) {
        body = qmf_map();
        qmf_map_set(qmf_map_set(body, "_schema_id", qmf_map()), "_class_name",
                    qmf_string("Domain"));
        where = qmf_map_set(body, "_where", qmf_list());
        qmf_list_append(where, qmf_string("eq"));
        qmf_list_append(where, qmf_string("state"));
        qmf_list_append(qmf_list_append(where, qmf_list()), qmf_string("quote"));
        qmf_list_append(qmf_list_at(where, 2), qmf_string("running"));
        qmf_map_set(body, "_method_name", qmf_string("suspend"));
        m = fleet_request("_method_request", body);
        m->message_id = qmf_xstrdup("cmd-suspend-running");
        cr_assert(virtbus_request_message(f.console, address, m, &one, FLEET_REPLY_MS,
                                          &res, &err) == 0, "%s", err.text);
        cr_assert_eq(res.items[0].status, VIRTBUS_OK, "%s", res.items[0].error.text);
        /* Both running domains, both times: the second answer is the
         * recorded one (run again, nothing would be running any more). */
        cr_assert_eq(qmf_list_len(res.items[0].value), 2, "round %d", round);
        cr_assert_not_null(qmf_map_get(qmf_list_at(res.items[0].value, 0), "_arguments"));
        cr_assert_not_null(qmf_map_get(qmf_list_at(res.items[0].value, 1), "_arguments"));
        virtbus_results_free(&res);
    }
    cr_assert_str_eq(state_of(&f, "web1"), "paused");
    free(address);
    virtbus_agent_list_free(&one);
    fleet_fini(&f);
}

/*
 * Qpid's Python console sends message-id "qmf2" on every request.  Each of
 * its commands must run: a destroy, a start (create), and the destroy
 * again, whose earlier outcome another command has since superseded.
 */
Test(journal_bus, a_reused_message_id_with_other_content_runs, .timeout = 120)
{
    static const char *const steps[][2] = {
        { "destroy", "shutoff" }, { "create", "running" }, { "destroy", "shutoff" },
    };
    struct test_fleet f;
    struct virtbus_result r;
    size_t i;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, watch);
    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        r = fleet_ask(&f, 0, command(&f, "qmf2", WEB1, steps[i][0]));
        cr_assert_eq(r.status, VIRTBUS_OK, "%s as qmf2: %#x %s", steps[i][0], r.error.code,
                     r.error.text);
        virtbus_result_clear(&r);
        cr_assert_str_eq(state_of(&f, "web1"), steps[i][1], "step %zu: %s did not run", i,
                         steps[i][0]);
        qmf_free(fleet_expect_watch(&f, 0, "commandResult", "methodName", steps[i][0],
                                    "outcome", "ok", NULL));
    }
    /* Yet the same command sent again at once is a repeat: answered. */
    r = fleet_ask(&f, 0, command(&f, "qmf2", WEB1, "destroy"));
    cr_assert_eq(r.status, VIRTBUS_OK, "a repeat ran again: %#x %s", r.error.code,
                 r.error.text);
    virtbus_result_clear(&r);
    fleet_fini(&f);
}

/* The commandResult values an outcome on record carries. */
static qmf_value *
recorded_event(const char *correlation_id, const char *object, const char *method)
{
    qmf_value *event = qmf_map();

    qmf_map_set(event, "requester", qmf_string("guest"));
    qmf_map_set(event, "correlationId", qmf_string(correlation_id));
    qmf_map_set(event, "opcode", qmf_string("_method_request"));
    qmf_map_set(event, "className", qmf_string("Domain"));
    qmf_map_set(event, "objectName", qmf_string(object));
    qmf_map_set(event, "methodName", qmf_string(method));
    qmf_map_set(event, "outcome", qmf_string("ok"));
    qmf_map_set(event, "errorCode", qmf_u32(0));
    qmf_map_set(event, "errorText", qmf_string(""));
    qmf_map_set(event, "durationNs", qmf_i64(1));
    return event;
}

/* A journal as a crash would leave it: a command begun, never ended; and
 * an outcome recorded but never confirmed by the broker. */
static char *journal_node;
/* The key the fleet's console signs with: the sender of its commands. */
static struct agent_caller journal_caller;

static void
prepare_journal(struct agent_config *cfg, size_t index)
{
    char *path = qmf_xasprintf("%s/%s.journal", cfg->state_dir, cfg->node);
    struct journal *j;
    qmf_value *outcome;
    qmf_error err;
    size_t dropped;

    char *agent = qmf_xasprintf("virtbus:agent:%s", cfg->node);
    /* The command the test sends later, as it will reach the agent:
     * signed by the console's key. */
    struct bus_message *crashed = command_to(agent, "cmd-crashed", WEB2, "destroy");
    uint8_t digest[JOURNAL_DIGEST_LEN];

    agent_command_digest(crashed, &journal_caller, digest);
    bus_message_free(crashed);
    free(agent);
    cr_assert(journal_open(&j, path, NULL, &dropped, &err) == 0, "%s", err.text);
    cr_assert(journal_begin(j, "cmd-crashed", WEB2, digest, NULL, &err) == 0, "%s", err.text);
    cr_assert(journal_begin(j, "cmd-unconfirmed", WEB1, NULL, NULL, &err) == 0, "%s", err.text);
    outcome = qmf_map();
    qmf_map_set(outcome, "event", recorded_event("unconfirmed-1", WEB1, "reboot"));
    qmf_map_set(outcome, "group", qmf_bool(false));
    qmf_map_set(outcome, "reply_to", qmf_string(""));
    qmf_map_set(outcome, "correlation_id", qmf_string("unconfirmed-1"));
    qmf_map_set(outcome, "durable", qmf_bool(true));
    cr_assert(journal_end(j, "cmd-unconfirmed", WEB1, NULL, outcome, &err) == 0, "%s", err.text);
    qmf_free(outcome);
    journal_close(j);
    free(path);
    journal_node = qmf_xstrdup(cfg->node);
}

Test(journal_bus, crash_leftovers_are_answered_and_spooled, .timeout = 120)
{
    struct test_fleet f;
    struct virtbus_result r;

    fleet_init(&f);
    fleet_open_console(&f, watch);
    fleet_console_caller(&f, &journal_caller);
    fleet_add_agent(&f, "node1.xml", prepare_journal);
    fleet_wait_ready(&f);

    /* The unconfirmed outcome is published again at start. */
    qmf_free(fleet_expect_watch(&f, 0, "commandResult", "correlationId", "unconfirmed-1",
                                "methodName", "reboot", NULL));
    /* The crashed command is recorded as interrupted... */
    qmf_free(fleet_expect_watch(&f, 0, "commandResult", "objectName", WEB2,
                                "outcome", "error", NULL));
    /* ...and when it comes again it is answered so, not run. */
    r = fleet_ask(&f, 0, command(&f, "cmd-crashed", WEB2, "destroy"));
    cr_assert_eq(r.status, VIRTBUS_FAILED);
    cr_assert_eq(r.error.code, QMF_ERR_INTERRUPTED, "%#x %s", r.error.code, r.error.text);
    virtbus_result_clear(&r);
    cr_assert_str_eq(state_of(&f, "web2"), "running", "an interrupted command ran again");
    free(journal_node);
    fleet_fini(&f);
}

/*
 * A command refused by a check before it runs (a host path outside
 * allowed_paths, here the default empty list) is recorded as refused: an
 * outcome without a BEGIN, so the journal never says it may have run, and
 * a repeat gets the same refusal from the record.
 */
Test(journal_bus, a_refused_command_is_recorded_never_begun, .timeout = 120)
{
    struct test_fleet f;
    struct virtbus_result r;
    struct bus_message *m, *as_received;
    uint8_t digest[JOURNAL_DIGEST_LEN];
    qmf_value *recorded = NULL;
    unsigned attempts = 99;
    char *agent;
    int round;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, watch);
    agent = qmf_xstrdup(agent_name(f.agents[0]));
    for (round = 0; round < 2; round++) {
        m = command_to(agent, "cmd-save-1", WEB1, "save");
        qmf_map_set(qmf_map_set(m->body, "_arguments", qmf_map()), "filename",
                    qmf_string("/tmp/virtbus-web1.save"));
        if (round == 0) {
            /* The digest the agent computes: the sender is the console's key. */
            struct agent_caller console;

            as_received = command_to(agent, "cmd-save-1", WEB1, "save");
            qmf_map_set(qmf_map_set(as_received->body, "_arguments", qmf_map()), "filename",
                        qmf_string("/tmp/virtbus-web1.save"));
            fleet_console_caller(&f, &console);
            agent_command_digest(as_received, &console, digest);
            bus_message_free(as_received);
        }
        r = fleet_ask(&f, 0, m);
        cr_assert_eq(r.status, VIRTBUS_FAILED, "round %d: saved", round);
        cr_assert_eq(r.error.code, QMF_ERR_UNAUTHORIZED, "%#x %s", r.error.code, r.error.text);
        cr_assert_str_eq(r.error.text, "Domain.save: argument 'filename': the path is not "
                         "under allowed_paths");
        virtbus_result_clear(&r);
    }
    cr_assert_eq(journal_lookup(f.agents[0]->journal, "cmd-save-1", WEB1, digest, &recorded,
                                &attempts, NULL), JOURNAL_DONE);
    cr_expect_eq(attempts, 0, "the refused command has %u BEGIN records", attempts);
    cr_expect_str_eq(qmf_map_get_string(qmf_map_get(recorded, "event"), "outcome"), "rejected");
    qmf_free(recorded);
    /* Watchers learn of it as refused. */
    qmf_free(fleet_expect_watch(&f, 0, "commandResult", "methodName", "save",
                                "outcome", "rejected", NULL));
    cr_assert_str_eq(state_of(&f, "web1"), "running");
    free(agent);
    fleet_fini(&f);
}

/*
 * The probe filled the journal with 12 outcomes of 3 MB whose replies
 * could not be delivered (reply-to a missing exchange): every command was
 * then refused with error 11, and a restart did not help.  Such outcomes
 * (here as such a journal holds them: recorded by a version that did not
 * date them) are given one last try at the flush and then no longer pin
 * the journal.
 */
#define PINNED_OUTCOMES 12
#define PINNED_SIZE (3 * 1024 * 1024)

static void
prepare_full_journal(struct agent_config *cfg, size_t index)
{
    char *path = qmf_xasprintf("%s/%s.journal", cfg->state_dir, cfg->node);
    char *xml = qmf_xmalloc(PINNED_SIZE + 1);
    struct journal *j;
    qmf_error err;
    size_t dropped;
    int i;

    memset(xml, 'x', PINNED_SIZE);
    xml[PINNED_SIZE] = '\0';
    cr_assert(journal_open(&j, path, NULL, &dropped, &err) == 0, "%s", err.text);
    for (i = 0; i < PINNED_OUTCOMES; i++) {
        qmf_value *outcome = qmf_map(), *reply;
        char id[32];

        snprintf(id, sizeof(id), "pinned-%d", i);
        reply = qmf_map_set(outcome, "reply", qmf_map());
        qmf_map_set(reply, "opcode", qmf_string("_method_response"));
        qmf_map_set(qmf_map_set(qmf_map_set(reply, "body", qmf_map()), "_arguments",
                                qmf_map()), "description", qmf_string(xml));
        qmf_map_set(outcome, "event", recorded_event(id, WEB1, "getXMLDesc"));
        qmf_map_set(outcome, "group", qmf_bool(false));
        qmf_map_set(outcome, "reply_to", qmf_string("/exchange/virtbus.no.such.exchange/x"));
        qmf_map_set(outcome, "correlation_id", qmf_string(id));
        qmf_map_set(outcome, "durable", qmf_bool(false));
        cr_assert(journal_end(j, id, WEB1, NULL, outcome, &err) == 0, "%s", err.text);
        qmf_free(outcome);
    }
    /* Full: a new command would not be begun. */
    cr_assert_neq(journal_begin(j, "probe", WEB1, NULL, NULL, &err), 0);
    journal_close(j);
    free(xml);
    free(path);
}

static bool
nothing_undelivered(void *arg)
{
    struct agent *a = arg;
    struct journal_stats st;

    if (a->journal == NULL)
        return false;
    journal_get_stats(a->journal, &st);
    return st.undelivered == 0;
}

Test(journal_bus, undeliverable_outcomes_do_not_hold_the_journal_full, .timeout = 180)
{
    struct test_fleet f;
    struct virtbus_result r;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", prepare_full_journal);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);
    cr_assert(fleet_run_until(&f, nothing_undelivered, f.agents[0], FLEET_WAIT_MS),
              "the undeliverable outcomes still pin the journal");
    /* A command that changes something: one that changes nothing would
     * not need the journal (PROTOCOL.md §7.8). */
    r = fleet_ask(&f, 0, command(&f, "cmd-after-full", WEB1, "suspend"));
    cr_assert_eq(r.status, VIRTBUS_OK, "%#x %s", r.error.code, r.error.text);
    virtbus_result_clear(&r);
    fleet_fini(&f);
}

static void
journal_counts(struct test_fleet *f, size_t *entries, unsigned long *fsyncs)
{
    struct journal_stats st;

    cr_assert_not_null(f->agents[0]->journal, "the agent keeps no journal");
    journal_get_stats(f->agents[0]->journal, &st);
    *entries = st.entries;
    *fsyncs = st.fsyncs;
}

/*
 * A method that changes nothing (PROTOCOL.md §7.8) is neither begun nor
 * ended in the journal, whichever way it comes: targeted, by the command
 * queue, or broadcast by the query queue; asked again it runs again and
 * answers the same.  A command that changes things still is journaled.
 */
Test(journal_bus, read_only_methods_leave_no_record, .timeout = 120)
{
    struct virtbus_agent_list one;
    struct virtbus_results res;
    struct virtbus_result r;
    struct test_fleet f;
    struct bus_message *m;
    unsigned long fsyncs0, fsyncs1;
    size_t entries0, entries1;
    char *address;
    qmf_error err;
    int i;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);
    journal_counts(&f, &entries0, &fsyncs0);

    for (i = 0; i < 2; i++) {
        r = fleet_ask(&f, 0, command(&f, "cmd-read-1", WEB1, "getXMLDesc"));
        cr_assert_eq(r.status, VIRTBUS_OK, "%#x %s", r.error.code, r.error.text);
        cr_assert_not_null(strstr(qmf_map_get_string(r.value, "description"), "<domain"));
        virtbus_result_clear(&r);
    }
    m = command(&f, "cmd-read-2", "node", "getCapabilities");
    address = virtbus_broadcast_address("read");
    fleet_agent_list(&f, 0, 1, &one);
    cr_assert_eq(virtbus_request_message(f.console, address, m, &one, FLEET_REPLY_MS, &res,
                                         &err), 0, "%s", err.text);
    cr_assert_eq(res.n, 1);
    cr_assert_eq(res.items[0].status, VIRTBUS_OK, "%s", res.items[0].error.text);
    cr_assert_not_null(strstr(qmf_map_get_string(res.items[0].value, "capabilities"),
                              "<capabilities"));
    virtbus_results_free(&res);
    virtbus_agent_list_free(&one);
    free(address);
    journal_counts(&f, &entries1, &fsyncs1);
    cr_assert_eq(entries1, entries0, "%zu journal entries for read-only methods",
                 entries1 - entries0);
    cr_assert_eq(fsyncs1, fsyncs0, "%lu fsyncs for read-only methods", fsyncs1 - fsyncs0);

    /* What the counts would show otherwise. */
    r = fleet_ask(&f, 0, command(&f, "cmd-write-1", WEB1, "suspend"));
    cr_assert_eq(r.status, VIRTBUS_OK, "%#x %s", r.error.code, r.error.text);
    virtbus_result_clear(&r);
    journal_counts(&f, &entries1, &fsyncs1);
    cr_assert_eq(entries1, entries0 + 1);
    cr_assert_geq(fsyncs1, fsyncs0 + 1);
    fleet_fini(&f);
}

/* Method requests seen on their way to one agent: how persistent each was. */
struct request_tap {
    struct bus_conn *bus;
    bool up;
    size_t seen, durable;
    char durable_method[64];
};

static void
request_tap_up(struct bus_conn *c, void *opaque)
{
    (void)c;
    ((struct request_tap *)opaque)->up = true;
}

static const struct bus_handlers request_tap_handlers = { .up = request_tap_up };

static void
request_tap_receive(struct bus_delivery *d, const struct bus_message *m, void *opaque)
{
    struct request_tap *t = opaque;
    const char *method = m->body ? qmf_map_get_string(m->body, "_method_name") : NULL;

    t->seen++;
    if (m->durable) {
        t->durable++;
        snprintf(t->durable_method, sizeof(t->durable_method), "%s", method ? method : "?");
    }
    bus_ack(d);
}

static bool
request_tap_is_up(void *arg)
{
    return ((struct request_tap *)arg)->up;
}

static bool
request_tap_saw(void *arg)
{
    return ((struct request_tap *)arg)->seen > 0;
}

/*
 * A call by object id names no class (QMFv2's method request has none),
 * yet a method that changes nothing in every class that has it still
 * travels as a query does (PROTOCOL.md §7.8): not persistent.  A command
 * stays persistent.
 */
Test(journal_bus, a_read_only_call_by_object_id_travels_as_a_query, .timeout = 120)
{
    struct request_tap tap = { 0 };
    struct virtbus_result r;
    struct test_fleet f;
    qmf_value *oid;
    char *address, *exchange, *key;
    qmf_error err;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);

    /* A second queue bound as the agent's own, so it sees each request. */
    address = virtbus_agent_address(agent_name(f.agents[0]));
    cr_assert_eq(bus_address_parse(address, &exchange, &key), 0, "%s", address);
    {
        struct bus_binding binding = { exchange, key };
        struct bus_queue q = { .exclusive = true, .auto_delete = true,
                               .bindings = &binding, .nbindings = 1 };
        struct bus_subscription sub = { .source = "#0", .no_ack = true,
                                        .receive = request_tap_receive, .opaque = &tap };
        struct bus_options o = { .url = f.url, .name = "test request tap", .queues = &q,
                                 .nqueues = 1, .subs = &sub, .nsubs = 1 };

        cr_assert_eq(bus_open(&tap.bus, f.base, &o, &request_tap_handlers, &tap, &err), 0,
                     "%s", err.text);
        cr_assert(fleet_run_until(&f, request_tap_is_up, &tap, FLEET_WAIT_MS),
                  "the tap did not connect");
    }

    oid = fleet_object_id(&f, 0, WEB1);
    cr_assert_eq(virtbus_call(f.console, agent_name(f.agents[0]), oid, "getXMLDesc", NULL,
                              FLEET_REPLY_MS, &r, &err), 0, "%s", err.text);
    cr_assert_eq(r.status, VIRTBUS_OK, "%#x %s", r.error.code, r.error.text);
    virtbus_result_clear(&r);
    cr_assert(fleet_run_until(&f, request_tap_saw, &tap, FLEET_WAIT_MS), "no request seen");
    cr_assert_eq(tap.durable, 0, "getXMLDesc by object id went persistent");

    /* What the tap would show otherwise. */
    tap.seen = 0;
    cr_assert_eq(virtbus_call(f.console, agent_name(f.agents[0]), oid, "suspend", NULL,
                              FLEET_REPLY_MS, &r, &err), 0, "%s", err.text);
    cr_assert_eq(r.status, VIRTBUS_OK, "%#x %s", r.error.code, r.error.text);
    virtbus_result_clear(&r);
    cr_assert(fleet_run_until(&f, request_tap_saw, &tap, FLEET_WAIT_MS), "no command seen");
    cr_assert_eq(tap.durable, 1, "the command went persistent %zu times", tap.durable);
    cr_assert_str_eq(tap.durable_method, "suspend");

    qmf_free(oid);
    free(exchange);
    free(key);
    free(address);
    bus_close(tap.bus);
    fleet_fini(&f);
}
