/*
 * Reloading under load: the configuration is replaced over and over (as
 * SIGHUP does) from the moment the agent starts, while its workers open
 * the journal and the hypervisor, refresh the inventory and run methods
 * that fetch the Node (whose labels come from the configuration).  Every
 * answer must carry one of the configured label sets, whole, and every
 * method must succeed; once the reloads stop, the last set is what the
 * Node shows.  Under ThreadSanitizer (or AddressSanitizer) a worker that
 * reads configuration a reload frees or replaces fails the test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "tests/integration/harness.h"

#define NODE "node"
#define WEB1 "domain:10000000-0000-4000-8000-000000000001"
#define WEB2 "domain:10000000-0000-4000-8000-000000000002"

#define LABEL_SETS 3
#define LABELS_PER_SET 24        /* a bigger map: a longer window to copy it */
#define RELOADS 2000             /* iterations of the reload loop */
#define RELOAD_EVERY_US 250
#define MIN_ROUNDS 10            /* rounds of methods and queries, at least... */
#define MAX_ROUNDS 400           /* ...and at most */
#define SENT_PER_ROUND 4         /* methods not waited for, per round */

struct reloader {
    struct agent *a;
    struct agent_config sets[LABEL_SETS];
    struct event *ev;
    unsigned done;
    char failure[640];        /* room for a whole qmf_error text */
};

/* Label set k: every value says k, so that a torn or mixed map shows. */
static qmf_value *
label_set(unsigned k)
{
    qmf_value *labels = qmf_map();
    unsigned i;

    qmf_map_set(labels, "tier", qmf_stringf("tier-%u", k));
    for (i = 0; i < LABELS_PER_SET; i++) {
        char key[16];

        snprintf(key, sizeof(key), "l%02u", i);
        qmf_map_set(labels, key, qmf_stringf("set-%u-value-%02u", k, i));
    }
    return labels;
}

static void
reload_cb(evutil_socket_t fd, short what, void *arg)
{
    struct reloader *r = arg;
    qmf_error err;

    if (r->done >= RELOADS || r->failure[0] != '\0') {
        event_del(r->ev);
        return;
    }
    if (agent_reconfigure(r->a, &r->sets[r->done % LABEL_SETS], &err) != 0) {
        snprintf(r->failure, sizeof(r->failure), "reload %u refused: %s", r->done,
                 err.text);
        return;
    }
    r->done++;
}

/* Every reloadable key changes from one set to the next, except the
 * intervals, which stay short so that statistics reloads keep running. */
static void
reloader_init(struct reloader *r, struct test_fleet *f, size_t agent)
{
    static const enum log_level levels[LABEL_SETS] = {
        LOG_LEVEL_WARN, LOG_LEVEL_ERROR, LOG_LEVEL_WARN,
    };
    struct timeval tv = { 0, RELOAD_EVERY_US };
    unsigned k;

    memset(r, 0, sizeof(*r));
    r->a = f->agents[agent];
    for (k = 0; k < LABEL_SETS; k++) {
        struct agent_config *c = &r->sets[k];

        agent_config_copy(c, f->configs[agent]);
        qmf_free(c->labels);
        c->labels = label_set(k);
        c->log_level = levels[k];
        c->stop_timeout = 30 + k;
        c->ack_long_commands_after = 600 + k;
        c->delivery_limit = 3 + k;
    }
    r->ev = event_new(f->base, -1, EV_PERSIST, reload_cb, r);
    event_add(r->ev, &tv);
}

static void
reloader_fini(struct reloader *r)
{
    unsigned k;

    event_free(r->ev);
    for (k = 0; k < LABEL_SETS; k++)
        agent_config_free(&r->sets[k]);
}

/* Which set the labels are, or -1 if none of them. */
static int
which_set(const struct reloader *r, const qmf_value *labels)
{
    unsigned k;

    for (k = 0; k < LABEL_SETS; k++)
        if (qmf_equal(labels, r->sets[k].labels))
            return (int)k;
    return -1;
}

static const qmf_value *
node_labels(struct test_fleet *f, qmf_value **list)
{
    *list = fleet_query(f, 0, "Node", NULL);
    cr_assert_eq(qmf_list_len(*list), 1);
    return qmf_map_get(qmf_map_get(qmf_list_at(*list, 0), "_values"), "labels");
}

/* A method whose reply nobody waits for: it keeps the workers busy. */
static void
send_method(struct test_fleet *f, const char *object_name, const char *method,
            const qmf_value *args)
{
    qmf_value *body = qmf_map();
    struct bus_message *m;
    char *address = virtbus_agent_address(agent_name(f->agents[0]));
    qmf_error err;

    qmf_map_set(body, "_object_id", fleet_object_id(f, 0, object_name));
    qmf_map_set(body, "_method_name", qmf_string(method));
    qmf_map_set(body, "_arguments", args ? qmf_dup(args) : qmf_map());
    m = fleet_request("_method_request", body);
    cr_assert(virtbus_send(f->console, address, m, &err) == 0, "%s", err.text);
    free(address);
}

static void
expect_text(qmf_value *out, const char *arg, const char *part)
{
    const char *text = qmf_map_get_string(out, arg);

    cr_assert(text != NULL && strstr(text, part) != NULL, "%s: no %s in the answer", arg,
              part);
    qmf_free(out);
}

/* Labels from the start, so that every answer must carry one set. */
static void
labels_and_stats_every_second(struct agent_config *cfg, size_t index)
{
    qmf_free(cfg->labels);
    cfg->labels = label_set(0);
    cfg->stats_interval = 1;
}

static bool
reloads_done(void *arg)
{
    const struct reloader *r = arg;

    return r->done >= RELOADS || r->failure[0] != '\0';
}

Test(reload, reloads_while_workers_read_the_configuration, .timeout = 300)
{
    static const char *const sent[] = { NODE, WEB1, WEB2, NODE };
    struct test_fleet f;
    struct reloader r;
    qmf_value *list, *flags = qmf_map();
    const qmf_value *labels;
    unsigned rounds, i, tries;
    int seen;

    qmf_map_set(flags, "flags", qmf_u32(0));
    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", labels_and_stats_every_second);
    /* From the start: the journal and the hypervisor open on workers. */
    reloader_init(&r, &f, 0);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);

    for (rounds = 0; rounds < MAX_ROUNDS && (rounds < MIN_ROUNDS || !reloads_done(&r));
         rounds++) {
        for (i = 0; i < SENT_PER_ROUND; i++)
            send_method(&f, sent[i], i % 2 ? "getXMLDesc" : "getCapabilities",
                        i % 2 ? flags : NULL);
        /* Node methods fetch the Node (and its labels) afterwards. */
        expect_text(fleet_call_ok(&f, 0, NODE, "getCapabilities", NULL), "capabilities",
                    "<capabilities");
        expect_text(fleet_call_ok(&f, 0, WEB1, "getXMLDesc", flags), "description",
                    "<domain");
        labels = node_labels(&f, &list);
        seen = which_set(&r, labels);
        cr_assert(seen >= 0, "round %u: the Node's labels are none of the configured sets",
                  rounds);
        qmf_free(list);
        cr_assert(r.failure[0] == '\0', "%s", r.failure);
    }
    cr_assert(fleet_run_until(&f, reloads_done, &r, FLEET_WAIT_MS),
              "only %u of %d reloads ran", r.done, RELOADS);
    cr_assert(r.failure[0] == '\0', "%s", r.failure);
    cr_log_info("%u reloads during %u rounds of methods and queries", r.done, rounds);

    /* The last set reloaded is the one that stays. */
    seen = (int)((r.done - 1) % LABEL_SETS);
    for (tries = 0; tries < 100; tries++) {
        qmf_free(fleet_call_ok(&f, 0, NODE, "getCapabilities", NULL));
        labels = node_labels(&f, &list);
        i = which_set(&r, labels) == seen;
        qmf_free(list);
        if (i)
            break;
    }
    cr_assert(tries < 100, "the Node never showed the last labels reloaded");

    qmf_free(flags);
    reloader_fini(&r);
    fleet_fini(&f);
}
