/*
 * A hundred agents on the real broker, each on its own libvirt test
 * driver, driven through the client library: presence without a wait,
 * every targeting form, a broadcast that only the targeted agents act on,
 * a batch window that is never exceeded, a fire-and-forget job fetched by
 * a console started after it ran, and stopped agents reported as no reply,
 * then as down.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "controller/lib/expr.h"
#include "tests/integration/harness.h"

#define AGENTS 100

static const char *const tiers[] = { "web", "db", "batch" };

static void
label(struct agent_config *cfg, size_t i)
{
    char rack[16];

    snprintf(rack, sizeof(rack), "rack%zu", i % 10);
    qmf_map_set(cfg->labels, "tier", qmf_string(tiers[i % 3]));
    qmf_map_set(cfg->labels, "rack", qmf_string(rack));
}

static bool
mine(const struct test_fleet *f, const char *node, size_t *index)
{
    size_t i;

    for (i = 0; i < f->n; i++)
        if (strcmp(f->nodes[i], node) == 0) {
            if (index)
                *index = i;
            return true;
        }
    return false;
}

/* The agents of ours a list holds, as a bitmap by fleet index. */
static size_t
ours(const struct test_fleet *f, const struct virtbus_agent_list *l, bool *set)
{
    size_t i, idx, n = 0;

    memset(set, 0, sizeof(bool) * f->n);
    for (i = 0; i < l->n; i++)
        if (mine(f, l->items[i].node, &idx)) {
            set[idx] = true;
            n++;
        }
    return n;
}

static struct virtbus_agent_list
presence(struct test_fleet *f)
{
    struct virtbus_agent_list l;
    qmf_error err;

    cr_assert(virtbus_presence(f->console, &l, &err) == 0, "%s", err.text);
    return l;
}

/* Selects with a target and checks the set against want(i) for our agents. */
static void
expect_selection(struct test_fleet *f, const struct virtbus_agent_list *all,
                 const struct virtbus_target *t, bool (*want)(struct test_fleet *f, size_t i),
                 const char *what)
{
    struct virtbus_agent_list up, down;
    bool set[FLEET_MAX];
    qmf_value *pred;
    qmf_error err;
    size_t i;

    pred = virtbus_target_predicate(t, &err);
    cr_assert_not_null(pred, "%s: %s", what, err.text);
    virtbus_select(all, pred, &up, &down);
    ours(f, &up, set);
    for (i = 0; i < f->n; i++)
        cr_expect_eq(set[i], want(f, i), "%s: %s is %sselected", what, f->nodes[i],
                     set[i] ? "" : "not ");
    virtbus_agent_list_free(&up);
    virtbus_agent_list_free(&down);
    qmf_free(pred);
}

static bool want_3_and_7(struct test_fleet *f, size_t i) { return i == 3 || i == 7; }
static bool want_web(struct test_fleet *f, size_t i) { return i % 3 == 0; }
static bool want_web_rack0(struct test_fleet *f, size_t i) { return i % 3 == 0 && i % 10 == 0; }
static bool want_rack3_or_5(struct test_fleet *f, size_t i) { return i % 10 == 3 || i % 10 == 5; }
static bool want_all(struct test_fleet *f, size_t i) { return true; }

static char glob_pattern[64];

static bool
want_glob(struct test_fleet *f, size_t i)
{
    return fnmatch(glob_pattern, f->nodes[i], 0) == 0;
}

static qmf_value *
parse_where(const char *text)
{
    qmf_error err;
    qmf_value *w = virtbus_expr_compile(text, NULL, &err);

    cr_assert_not_null(w, "%s: %s", text, err.text);
    return w;
}

struct window {
    size_t batch, max_in_flight, sent;
};

static void
track_window(void *opaque, size_t sent, size_t answered, size_t failed, size_t expected)
{
    struct window *w = opaque;

    if (sent - answered > w->max_in_flight)
        w->max_in_flight = sent - answered;
    w->sent = sent;
}

static size_t
count_state(struct test_fleet *f, const struct virtbus_results *res, const char *domain,
            const char *state, bool (*want)(struct test_fleet *f, size_t i), bool expect_in)
{
    size_t i, idx, n = 0;

    for (i = 0; i < res->n; i++) {
        const qmf_value *d;

        cr_assert_eq(res->items[i].status, VIRTBUS_OK, "%s: %s", res->items[i].node,
                     res->items[i].error.text);
        cr_assert(mine(f, res->items[i].node, &idx));
        d = fleet_find(res->items[i].value, domain);
        cr_assert_not_null(d);
        if (strcmp(fleet_state(d), state) == 0) {
            n++;
            cr_expect_eq(want(f, idx), expect_in, "%s: %s is %s", res->items[i].node,
                         domain, state);
        }
    }
    return n;
}

Test(fleet, hundred_agents, .timeout = 600)
{
    struct virtbus_console_options co;
    struct virtbus_agent_list all, web, down, everyone;
    struct virtbus_results res;
    struct virtbus_target t;
    struct test_fleet f;
    struct window w = { 0 };
    struct virtbus_send_opts o = { .timeout_ms = FLEET_REPLY_MS };
    struct virtbus_job job;
    const char *names[3], *labels[3];
    char prefix_glob[64], *job_id;
    qmf_value *where, *pred;
    bool set[FLEET_MAX];
    qmf_error err;
    size_t i, n;

    fleet_init(&f);
    for (i = 0; i < AGENTS; i++)
        fleet_add_agent(&f, "node1.xml", label);
    fleet_wait_ready(&f);
    fleet_console_options(&f, &co);
    co.presence = true;
    f.console = virtbus_console_open(f.base, &co, &err);
    cr_assert_not_null(f.console, "%s", err.text);

    /* Presence: every agent, up, at once (no quiet period to sit out). */
    all = presence(&f);
    cr_assert_eq(ours(&f, &all, set), AGENTS, "presence lists every agent");
    for (i = 0; i < all.n; i++)
        if (mine(&f, all.items[i].node, NULL))
            cr_expect(all.items[i].up, "%s is up", all.items[i].node);

    /* Every targeting form selects exactly the right agents. */
    names[0] = f.nodes[3];
    names[1] = f.nodes[7];
    names[2] = NULL;
    t = (struct virtbus_target){ .names = names };
    expect_selection(&f, &all, &t, want_3_and_7, "-n two names");
    snprintf(glob_pattern, sizeof(glob_pattern), "%.*s1*",
             (int)(strrchr(f.nodes[0], '-') - f.nodes[0] + 1), f.nodes[0]);
    names[0] = glob_pattern;
    names[1] = NULL;
    t = (struct virtbus_target){ .names = names };
    expect_selection(&f, &all, &t, want_glob, "-n glob");
    labels[0] = "tier=web";
    labels[1] = NULL;
    t = (struct virtbus_target){ .labels = labels };
    expect_selection(&f, &all, &t, want_web, "-l tier=web");
    labels[1] = "rack=rack0";
    labels[2] = NULL;
    t = (struct virtbus_target){ .labels = labels };
    expect_selection(&f, &all, &t, want_web_rack0, "-l tier=web -l rack=rack0");
    where = parse_where("labels.rack == \"rack3\" or labels.rack == \"rack5\"");
    t = (struct virtbus_target){ .predicate = where };
    expect_selection(&f, &all, &t, want_rack3_or_5, "--if");
    qmf_free(where);
    t = (struct virtbus_target){ .all = true };
    expect_selection(&f, &all, &t, want_all, "--all");
    t = (struct virtbus_target){ 0 };
    cr_assert_null(virtbus_target_predicate(&t, &err), "no target, no --all: refused");

    /* A broadcast to the web tier (and only our agents): only they act. */
    snprintf(prefix_glob, sizeof(prefix_glob), "%.*s*",
             (int)(strrchr(f.nodes[0], '-') - f.nodes[0] + 1), f.nodes[0]);
    names[0] = prefix_glob;
    names[1] = NULL;
    labels[0] = "tier=web";
    labels[1] = NULL;
    t = (struct virtbus_target){ .names = names, .labels = labels };
    pred = virtbus_target_predicate(&t, &err);
    cr_assert_not_null(pred, "%s", err.text);
    virtbus_select(&all, pred, &web, &down);
    cr_assert_eq(web.n, (AGENTS + 2) / 3);
    o.target = pred;
    where = parse_where("name == \"web1\"");
    cr_assert(virtbus_call_where(f.console, &web, "Domain", where, "destroy", NULL, &o,
                                 &res, &err) == 0, "%s", err.text);
    cr_assert_eq(res.n, web.n);
    for (i = 0; i < res.n; i++) {
        const qmf_value *item;

        cr_assert_eq(res.items[i].status, VIRTBUS_OK, "%s: %s", res.items[i].node,
                     res.items[i].error.text);
        cr_assert_eq(qmf_list_len(res.items[i].value), 1, "one web1 per agent");
        item = qmf_list_at(res.items[i].value, 0);
        cr_assert_not_null(qmf_map_get(item, "_arguments"), "%s: web1 destroy failed",
                           res.items[i].node);
    }
    virtbus_results_free(&res);

    /* Everyone answers a query; web1 is off exactly on the web tier. */
    t = (struct virtbus_target){ .names = names };
    qmf_free(pred);
    pred = virtbus_target_predicate(&t, &err);
    virtbus_agent_list_free(&down);
    virtbus_select(&all, pred, &everyone, &down);
    cr_assert_eq(everyone.n, AGENTS);
    o.target = pred;
    cr_assert(virtbus_query_agents(f.console, &everyone, "OBJECT", "Domain", where, &o,
                                   &res, &err) == 0, "%s", err.text);
    cr_assert_eq(res.n, AGENTS);
    n = count_state(&f, &res, "web1", "shutoff", want_web, true);
    cr_assert_eq(n, web.n, "web1 is shut off on the web agents only");
    virtbus_results_free(&res);

    /* A batch of 5: never more than 5 asked and unanswered. */
    o.target = NULL;
    o.batch = 5;
    o.progress = track_window;
    o.opaque = &w;
    cr_assert(virtbus_call_where(f.console, &web, "Domain", where, "create", NULL, &o,
                                 &res, &err) == 0, "%s", err.text);
    cr_assert_eq(w.sent, web.n);
    cr_assert_leq(w.max_in_flight, 5, "the window was exceeded: %zu", w.max_in_flight);
    cr_assert_geq(w.max_in_flight, 1);
    for (i = 0; i < res.n; i++)
        cr_assert_eq(res.items[i].status, VIRTBUS_OK, "%s", res.items[i].error.text);
    virtbus_results_free(&res);
    o.batch = 0;
    o.progress = NULL;

    /* A fire-and-forget job, fetched by a console opened afterwards. */
    cr_assert(virtbus_job_submit(f.console, &web, "Domain", where, "destroy", NULL, NULL,
                                 3600, "web1 off on the web tier", &job_id, &err) == 0,
              "%s", err.text);
    virtbus_console_close(f.console);
    f.console = virtbus_console_open(f.base, &co, &err);
    cr_assert_not_null(f.console, "%s", err.text);
    cr_assert(virtbus_job_fetch(f.console, job_id, true, FLEET_WAIT_MS, &job, &err) == 0,
              "%s", err.text);
    cr_assert(job.complete, "the job's results are all there");
    cr_assert_eq(job.results.n, web.n);
    for (i = 0; i < job.results.n; i++)
        cr_assert_eq(job.results.items[i].status, VIRTBUS_OK, "%s: %s",
                     job.results.items[i].node, job.results.items[i].error.text);
    virtbus_job_clear(&job);
    /* The web agents only: a broadcast without a target would reach all. */
    o.target = NULL;
    cr_assert(virtbus_query_agents(f.console, &everyone, "OBJECT", "Domain", where, &o,
                                   &res, &err) == 0, "%s", err.text);
    n = count_state(&f, &res, "web1", "shutoff", want_web, true);
    cr_assert_eq(n, web.n, "web1 is off on the web agents only");
    virtbus_results_free(&res);
    /* Fetching is repeatable, and the job is listed. */
    cr_assert(virtbus_job_fetch(f.console, job_id, false, 0, &job, &err) == 0, "%s", err.text);
    cr_assert(job.complete);
    virtbus_job_clear(&job);
    {
        struct virtbus_job *jobs;
        size_t njobs;
        bool listed = false;

        cr_assert(virtbus_job_list(f.console, &jobs, &njobs, &err) == 0, "%s", err.text);
        for (i = 0; i < njobs; i++) {
            listed |= strcmp(jobs[i].id, job_id) == 0;
            virtbus_job_clear(&jobs[i]);
        }
        free(jobs);
        cr_assert(listed, "job list shows the job");
    }
    free(job_id);

    /* Stopped agents: no reply at once, down after the heartbeat window. */
    {
        size_t stopped = 0;

        for (i = 0; i < 3; i++)
            agent_stop(f.agents[i], NULL, NULL);
        for (i = 0; i < 200 && stopped < 3; i++) {
            size_t k;

            event_base_loop(f.base, EVLOOP_ONCE);
            for (stopped = 0, k = 0; k < 3; k++)
                stopped += !agent_is_ready(f.agents[k]);
        }
        o.timeout_ms = 3000;
        cr_assert(virtbus_query_agents(f.console, &everyone, "OBJECT", "Node", NULL, &o,
                                       &res, &err) == 0, "%s", err.text);
        for (i = 0; i < res.n; i++) {
            size_t idx;

            cr_assert(mine(&f, res.items[i].node, &idx));
            cr_expect_eq(res.items[i].status, idx < 3 ? VIRTBUS_NO_REPLY : VIRTBUS_OK,
                         "%s", res.items[i].node);
        }
        virtbus_results_free(&res);
    }
    {
        struct virtbus_agent_list now, up;
        size_t tries;
        bool down_set[FLEET_MAX];

        /* Presence turns them down once 3 heartbeats are missed. */
        for (tries = 0; tries < 40; tries++) {
            virtbus_agent_list_free(&all);
            all = presence(&f);
            virtbus_select(&all, pred, &up, &now);
            n = ours(&f, &now, down_set);
            virtbus_agent_list_free(&up);
            virtbus_agent_list_free(&now);
            if (n == 3)
                break;
            usleep(500 * 1000);
        }
        cr_assert_eq(n, 3, "three agents are down");
        for (i = 0; i < f.n; i++)
            cr_expect_eq(down_set[i], i < 3, "%s", f.nodes[i]);
    }

    qmf_free(where);
    qmf_free(pred);
    virtbus_agent_list_free(&all);
    virtbus_agent_list_free(&web);
    virtbus_agent_list_free(&everyone);
    virtbus_agent_list_free(&down);
    fleet_fini(&f);
}
