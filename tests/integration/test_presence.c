/*
 * Presence across consoles: a console saves what it read of the presence
 * stream, and the next one resumes from there instead of re-reading the
 * window; a stale or foreign cache is ignored.  An agent that stops says
 * so in a last heartbeat, and is down at once.  The fleet's memory keeps
 * a node presence has lost, resumes from its cache unless the stream is
 * another, and forgets a node for every console.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "controller/ctl.h"
#include "controller/lib/cache_file.h"
#include "core/codec.h"
#include "tests/integration/harness.h"
#include "tests/testutil.h"

/* A console reading presence, with a cache file (or NULL) taken as it is
 * when saved less than reuse_ms ago and it has every node of nodes up. */
static struct virtbus_console *
open_console_reusing(struct test_fleet *f, const char *cache, unsigned reuse_ms,
                     const char *const *nodes)
{
    struct virtbus_console_options o = {
        .url = f->url, .presence = true, .presence_cache = cache,
        .presence_reuse_ms = reuse_ms, .presence_nodes = nodes,
    };
    struct virtbus_console *c;
    qmf_error err;

    c = virtbus_console_open(f->base, &o, &err);
    cr_assert_not_null(c, "%s", err.text);
    return c;
}

static struct virtbus_console *
open_console(struct test_fleet *f, const char *cache)
{
    return open_console_reusing(f, cache, 0, NULL);
}

static bool
lists(struct virtbus_console *c, const char *node)
{
    struct virtbus_agent_list l;
    qmf_error err;
    bool found;

    cr_assert(virtbus_presence(c, &l, &err) == 0, "%s", err.text);
    found = ctl_nodes_find(&l, node) != NULL;
    virtbus_agent_list_free(&l);
    return found;
}

/* One agent up, and path (a fresh temporary name) a cache that a first
 * console saved after reading presence. */
static void
start_with_cache(struct test_fleet *f, char *path)
{
    struct virtbus_console *c;
    int fd;

    fleet_init(f);
    fleet_add_agent(f, "node1.xml", NULL);
    fleet_wait_ready(f);
    fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    unlink(path);
    c = open_console(f, path);
    cr_assert(lists(c, f->nodes[0]));
    virtbus_console_close(c);
}

/*
 * A cache file (JSON lines: the header, then a line per agent) as one map:
 * the header's keys, and "agents" {name: values} and "instances" for
 * presence's lines, "nodes" {name: {"values", "recorded"}} and "forgotten"
 * {name: at} for the fleet's.  write_cache() writes such a map back.
 */
static qmf_value *
read_cache(const char *path)
{
    struct cache_file_reader r;
    qmf_value *doc = cache_file_open(&r, path), *line;

    cr_assert_not_null(doc, "no cache of this format written at %s", path);
    /* Presence's header says whether its agents' lines follow. */
    qmf_free(qmf_map_take(doc, "agents"));
    while (cache_file_next(&r, &line)) {
        const char *agent = qmf_map_get_string(line, "agent");
        const char *forgotten = qmf_map_get_string(line, "forgotten");

        cr_assert_not_null(line, "a line of %s is not JSON", path);
        if (forgotten != NULL) {
            if (qmf_map_get(doc, "forgotten") == NULL)
                qmf_map_set(doc, "forgotten", qmf_map());
            qmf_map_set(qmf_map_get(doc, "forgotten"), forgotten,
                        qmf_map_take(line, "at"));
        } else if (qmf_map_get(line, "recorded") != NULL) {
            qmf_value *n;

            if (qmf_map_get(doc, "nodes") == NULL)
                qmf_map_set(doc, "nodes", qmf_map());
            n = qmf_map_set(qmf_map_get(doc, "nodes"), agent, qmf_map());
            qmf_map_set(n, "values", qmf_map_take(line, "values"));
            qmf_map_set(n, "recorded", qmf_map_take(line, "recorded"));
        } else {
            cr_assert_not_null(agent);
            if (qmf_map_get(doc, "agents") == NULL)
                qmf_map_set(doc, "agents", qmf_map());
            qmf_map_set(qmf_map_get(doc, "agents"), agent, qmf_map_take(line, "values"));
            if (qmf_map_get(line, "instances") != NULL) {
                if (qmf_map_get(doc, "instances") == NULL)
                    qmf_map_set(doc, "instances", qmf_map());
                qmf_map_set(qmf_map_get(doc, "instances"), agent,
                            qmf_map_take(line, "instances"));
            }
        }
        qmf_free(line);
    }
    /* The tests add to these: present even when empty. */
    if (qmf_map_get(doc, "last") != NULL && qmf_map_get(doc, "nodes") == NULL)
        qmf_map_set(doc, "nodes", qmf_map());
    if (qmf_map_get(doc, "last") == NULL && qmf_map_get(doc, "agents") == NULL)
        qmf_map_set(doc, "agents", qmf_map());
    cache_file_close(&r);
    return doc;
}

/* A line {what: name, k1: v1, k2: v2}, without the keys whose value is NULL. */
static void
put_line(struct cache_file_writer *w, const char *what, const char *name, const char *k1,
         const qmf_value *v1, const char *k2, const qmf_value *v2)
{
    qmf_value *line = qmf_map();

    qmf_map_set(line, what, qmf_string(name));
    if (v1 != NULL)
        qmf_map_set(line, k1, qmf_dup(v1));
    if (v2 != NULL)
        qmf_map_set(line, k2, qmf_dup(v2));
    cache_file_put(w, line);
    qmf_free(line);
}

static void
write_cache(const char *path, const qmf_value *doc)
{
    static const char *const lines[] = { "agents", "instances", "nodes", "forgotten" };
    qmf_value *head = qmf_map();
    struct cache_file_writer w;
    const qmf_value *m;
    size_t i, j;

    for (i = 0; i < qmf_map_len(doc); i++) {
        const struct qmf_pair *p = qmf_map_at(doc, i);
        bool of_lines = false;

        for (j = 0; j < sizeof(lines) / sizeof(lines[0]); j++)
            of_lines |= strcmp(p->key, lines[j]) == 0;
        if (!of_lines)
            qmf_map_set(head, p->key, qmf_dup(p->value));
    }
    if (qmf_map_get(doc, "agents") != NULL)
        qmf_map_set(head, "agents", qmf_bool(true));
    cr_assert(cache_file_begin(&w, path, head));
    m = qmf_map_get(doc, "agents");
    for (i = 0; i < qmf_map_len(m); i++)
        put_line(&w, "agent", qmf_map_at(m, i)->key, "values", qmf_map_at(m, i)->value,
                 "instances", qmf_map_get(qmf_map_get(doc, "instances"), qmf_map_at(m, i)->key));
    m = qmf_map_get(doc, "nodes");
    for (i = 0; i < qmf_map_len(m); i++)
        put_line(&w, "agent", qmf_map_at(m, i)->key,
                 "values", qmf_map_get(qmf_map_at(m, i)->value, "values"),
                 "recorded", qmf_map_get(qmf_map_at(m, i)->value, "recorded"));
    m = qmf_map_get(doc, "forgotten");
    for (i = 0; i < qmf_map_len(m); i++)
        put_line(&w, "forgotten", qmf_map_at(m, i)->key, "at", qmf_map_at(m, i)->value, NULL,
                 NULL);
    cache_file_commit(&w);
    qmf_free(head);
}

/* 1: listed up, 0: listed down, -1: not listed. */
static int
up_state(struct virtbus_console *c, const char *node)
{
    const struct virtbus_agent *a;
    struct virtbus_agent_list l;
    qmf_error err;
    int state;

    cr_assert(virtbus_presence(c, &l, &err) == 0, "%s", err.text);
    state = (a = ctl_nodes_find(&l, node)) == NULL ? -1 : a->up;
    virtbus_agent_list_free(&l);
    return state;
}

static void
stopped_cb(struct agent *a, void *opaque)
{
    *(bool *)opaque = true;
}

static bool
flag_set(void *arg)
{
    return *(bool *)arg;
}

/* A heartbeat's values for an agent that does not exist. */
static qmf_value *
ghost(int64_t now_ns)
{
    qmf_value *v = qmf_map();

    qmf_map_set(v, "node", qmf_string("ghost"));
    qmf_map_set(v, "_timestamp", qmf_i64(now_ns));
    qmf_map_set(v, "_heartbeat_interval", qmf_u32(1));
    return v;
}

/* The heartbeat values of a node that does not exist, now. */
static qmf_value *
ghost_values(const char *node)
{
    struct timespec now;
    qmf_value *v;

    clock_gettime(CLOCK_REALTIME, &now);
    v = ghost((int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
    qmf_map_set(v, "node", qmf_string(node));
    return v;
}

Test(presence, cache_resumes_where_the_last_console_stopped, .timeout = 120)
{
    char path[] = "/tmp/virtbus-presence-XXXXXX";
    struct virtbus_console *c;
    struct test_fleet f;
    struct timespec now;
    qmf_value *doc;
    int64_t offset = -1, now_ns;

    /* The first console reads the window and saves where it stopped. */
    start_with_cache(&f, path);
    doc = read_cache(path);
    cr_assert(qmf_get_int64(qmf_map_get(doc, "offset"), &offset) && offset >= 0);
    cr_assert_not_null(qmf_map_get(qmf_map_get(doc, "agents"), agent_name(f.agents[0])));

    /* A fresh cache is used: an agent only the cache knows is listed... */
    clock_gettime(CLOCK_REALTIME, &now);
    now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    qmf_map_set(qmf_map_get(doc, "agents"), "virtbus:agent:ghost", ghost(now_ns));
    write_cache(path, doc);
    c = open_console(&f, path);
    cr_assert(lists(c, "ghost"), "the cache was not used");
    cr_assert(lists(c, f.nodes[0]), "new heartbeats are read after the cache");
    virtbus_console_close(c);

    /* ...a stale one is not. */
    qmf_map_set(doc, "saved", qmf_i64(1000));
    write_cache(path, doc);
    c = open_console(&f, path);
    cr_assert_not(lists(c, "ghost"), "a stale cache was used");
    cr_assert(lists(c, f.nodes[0]));
    virtbus_console_close(c);

    qmf_free(doc);
    unlink(path);
    fleet_fini(&f);
}

Test(presence, a_stopped_agent_is_down_at_once, .timeout = 120)
{
    struct virtbus_console *c;
    struct test_fleet f;
    bool stopped = false;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    c = open_console(&f, NULL);
    cr_assert_eq(up_state(c, f.nodes[0]), 1);
    virtbus_console_close(c);

    /* Well within 3 heartbeat intervals of its last heartbeat: only the
     * stopping one can tell a console that it is gone. */
    agent_stop(f.agents[0], stopped_cb, &stopped);
    cr_assert(fleet_run_until(&f, flag_set, &stopped, 30000), "the agent did not stop");
    c = open_console(&f, NULL);
    cr_assert_eq(up_state(c, f.nodes[0]), 0, "a stopped agent is listed up");
    virtbus_console_close(c);
    fleet_fini(&f);
}

Test(presence, a_recent_cache_is_taken_as_is_unless_it_misses_a_named_node, .timeout = 120)
{
    char path[] = "/tmp/virtbus-presence-XXXXXX";
    const char *named[2] = { NULL, NULL };
    struct virtbus_console *c;
    struct test_fleet f;

    start_with_cache(&f, path);

    /* An agent that starts after the cache was saved... */
    fleet_add_agent(&f, "node2.xml", NULL);
    fleet_wait_ready(&f);

    /* ...is not seen through a recent cache taken as it is (the stream is
     * not read)... */
    c = open_console_reusing(&f, path, 60000, NULL);
    cr_assert(lists(c, f.nodes[0]), "the cache was not used");
    cr_assert_not(lists(c, f.nodes[1]), "the stream was read");
    virtbus_console_close(c);

    /* ...but is when named: the cache lacks it, so the stream is read. */
    named[0] = f.nodes[1];
    c = open_console_reusing(&f, path, 60000, named);
    cr_assert(lists(c, f.nodes[1]), "a named node missing from the cache was not looked for");
    virtbus_console_close(c);

    unlink(path);
    fleet_fini(&f);
}

/* The agents' own lines (cache_file_split's shape) carry what listing by
 * node needs beside the values, so that a console taking the cache reads
 * no agent's values until something asks for them; either way the same
 * agents, and the values as they were. */
Test(presence, a_cache_lists_nodes_without_their_values_and_keeps_them, .timeout = 120)
{
    char path[] = "/tmp/virtbus-presence-XXXXXX";
    /* An agent's line of one process, as presence.c documents it. */
    static const char *const keys[] = { "agent", "node", "seen", "interval", "stopping",
                                        "id", "host", "pid", "started", "last" };
    struct cache_scalar scalars[sizeof(keys) / sizeof(keys[0])];
    struct virtbus_agent_list by_node, all, up, down;
    struct cache_file_reader r;
    struct virtbus_console *c;
    struct test_fleet f;
    const struct cache_scalar *agent;
    const struct virtbus_agent *mine;
    const char *line, *values, *names[2] = { NULL, NULL };
    const struct virtbus_target target = { .names = names };
    const struct virtbus_target labelled = { .labels = (const char *[]){ "rack=r1", NULL } };
    qmf_value *head, *doc, *again, *predicate;
    size_t len, values_len;
    int64_t seen;
    char *name;
    bool found = false;
    qmf_error err;

    /* The stream is every test's: the cache has other agents too. */
    start_with_cache(&f, path);
    names[0] = f.nodes[0];
    name = virtbus_agent_name(f.nodes[0]);
    cr_assert_not_null(head = cache_file_open(&r, path));
    while (cache_file_next_text(&r, &line, &len))
        if (cache_file_split(line, len, keys, sizeof(keys) / sizeof(keys[0]), scalars, &values,
                             &values_len) &&
            (agent = &scalars[0])->string &&
            agent->len == strlen(name) && memcmp(agent->text, name, agent->len) == 0) {
            found = true;
            cr_assert(scalars[1].string && scalars[1].len == strlen(f.nodes[0]) &&
                      memcmp(scalars[1].text, f.nodes[0], scalars[1].len) == 0, "%s", line);
            cr_assert(cache_scalar_i64(&scalars[2], &seen) && seen > 0, "%s", line);
        }
    cr_assert(found, "no line of scalars for %s", name);
    cache_file_close(&r);
    qmf_free(head);
    doc = read_cache(path);

    c = open_console_reusing(&f, path, 60000, NULL);
    cr_assert(virtbus_presence_nodes(c, &by_node, &err) == 0, "%s", err.text);
    cr_assert_not_null(mine = ctl_nodes_find(&by_node, f.nodes[0]));
    cr_assert(mine->up);
    cr_assert_null(mine->attrs);
    cr_assert_null(mine->instances);
    /* Selected by its node name as with its values... */
    predicate = virtbus_target_predicate(&target, &err);
    cr_assert(virtbus_target_on_nodes(predicate));
    virtbus_select(&by_node, predicate, &up, &down);
    cr_assert_eq(up.n, 1);
    cr_assert_str_eq(up.items[0].node, f.nodes[0]);
    virtbus_agent_list_free(&up);
    virtbus_agent_list_free(&down);
    qmf_free(predicate);
    /* ...never by what only values say: that needs virtbus_presence(). */
    predicate = virtbus_target_predicate(&labelled, &err);
    cr_assert_not(virtbus_target_on_nodes(predicate));
    virtbus_select(&by_node, predicate, &up, &down);
    cr_assert_eq(up.n + down.n, 0);
    virtbus_agent_list_free(&up);
    virtbus_agent_list_free(&down);
    qmf_free(predicate);
    /* The values, when asked for: as the cache has them. */
    cr_assert(virtbus_presence(c, &all, &err) == 0, "%s", err.text);
    cr_assert_eq(all.n, by_node.n);
    cr_assert_not_null(mine = ctl_nodes_find(&all, f.nodes[0]));
    cr_assert(qmf_equal(mine->attrs, qmf_map_get(qmf_map_get(doc, "agents"), name)));
    cr_assert_not_null(mine->instances);
    virtbus_agent_list_free(&by_node);
    virtbus_agent_list_free(&all);
    virtbus_console_close(c);

    /* A console that reads on from the cache saves it again, its agent
     * still there (its values as they came, unless a heartbeat since). */
    c = open_console(&f, path);
    cr_assert(virtbus_presence_nodes(c, &by_node, &err) == 0, "%s", err.text);
    virtbus_agent_list_free(&by_node);
    virtbus_console_close(c);
    again = read_cache(path);
    cr_assert_not_null(qmf_map_get(qmf_map_get(again, "agents"), name));

    free(name);
    qmf_free(again);
    qmf_free(doc);
    unlink(path);
    fleet_fini(&f);
}

/* A cache told by a keeper's summary has no offset to resume from: its
 * agents count only when it is taken as it is, else a summary (or, with
 * no keeper, the window) replaces them, and they are not even read. */
Test(presence, a_cache_from_a_summary_counts_only_when_taken_as_is, .timeout = 120)
{
    char path[] = "/tmp/virtbus-presence-XXXXXX";
    struct virtbus_console *c;
    struct test_fleet f;
    struct timespec now;
    qmf_value *doc;
    int64_t now_ns;

    start_with_cache(&f, path);
    doc = read_cache(path);
    clock_gettime(CLOCK_REALTIME, &now);
    now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    qmf_map_set(qmf_map_get(doc, "agents"), "virtbus:agent:ghost", ghost(now_ns));
    qmf_map_set(doc, "offset", qmf_i64(-1));
    qmf_map_set(doc, "keeper", qmf_bool(true));
    qmf_map_set(doc, "saved", qmf_i64(now_ns / 1000000 - 1000));
    write_cache(path, doc);

    c = open_console_reusing(&f, path, 60000, NULL);
    cr_assert(lists(c, "ghost"), "a recent cache was not taken as it is");
    virtbus_console_close(c);

    /* Older than reuse_ms: no keeper runs, so the window is read. */
    c = open_console_reusing(&f, path, 500, NULL);
    cr_assert_not(lists(c, "ghost"), "the agents of a summary's cache were used");
    cr_assert(lists(c, f.nodes[0]), "the window was not read");
    virtbus_console_close(c);

    /* A console that reuses none saves the header alone after a summary,
     * which no console then takes as it is, however recent. */
    qmf_free(qmf_map_take(doc, "agents"));
    clock_gettime(CLOCK_REALTIME, &now);
    qmf_map_set(doc, "saved", qmf_i64((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000));
    write_cache(path, doc);
    c = open_console_reusing(&f, path, 60000, NULL);
    cr_assert(lists(c, f.nodes[0]), "a cache without its agents was taken as it is");
    virtbus_console_close(c);

    qmf_free(doc);
    unlink(path);
    fleet_fini(&f);
}

/* A cache of more values than one JSON document may hold (QMF_MAX_VALUES):
 * when the cache was one document, one of about a thousand agents or more
 * was never read. */
Test(presence, a_cache_of_thousands_of_agents_is_read, .timeout = 120)
{
    char path[] = "/tmp/virtbus-presence-XXXXXX";
    struct virtbus_agent_list l;
    struct virtbus_console *c;
    struct test_fleet f;
    struct timespec now;
    qmf_value *doc, *agents;
    qmf_error err;
    size_t i, j, ghosts = 0, values = 0;

    start_with_cache(&f, path);
    doc = read_cache(path);
    agents = qmf_map_get(doc, "agents");
    clock_gettime(CLOCK_REALTIME, &now);
    for (i = 0; i < 3000; i++) {
        char node[32], name[64];
        qmf_value *v = ghost((int64_t)now.tv_sec * 1000000000 + now.tv_nsec);

        snprintf(node, sizeof(node), "ghost-%04zu", i);
        snprintf(name, sizeof(name), "virtbus:agent:%s", node);
        qmf_map_set(v, "node", qmf_string(node));
        /* A heartbeat's size: about 30 values. */
        for (j = 0; j < 25; j++) {
            char key[16];

            snprintf(key, sizeof(key), "fact%02zu", j);
            qmf_map_set(v, key, qmf_u32((uint32_t)j));
        }
        values += 2 + 2 * qmf_map_len(v);
        qmf_map_append(agents, name, v);
    }
    cr_assert_gt(values, QMF_MAX_VALUES);
    write_cache(path, doc);

    c = open_console_reusing(&f, path, 60000, NULL);
    cr_assert(virtbus_presence(c, &l, &err) == 0, "%s", err.text);
    for (i = 0; i < l.n; i++)
        ghosts += strncmp(l.items[i].node, "ghost-", 6) == 0;
    cr_assert_eq(ghosts, 3000, "%zu of 3000 agents read from the cache", ghosts);
    virtbus_agent_list_free(&l);
    virtbus_console_close(c);

    qmf_free(doc);
    unlink(path);
    fleet_fini(&f);
}

/* A console with presence and the fleet's memory, kept in cache (or NULL),
 * reading presence window_s back. */
static struct virtbus_console *
open_fleet_console(struct test_fleet *f, const char *cache, unsigned window_s)
{
    struct virtbus_console_options o = {
        .url = f->url, .presence = true, .presence_window_s = window_s,
        .fleet = true, .fleet_cache = cache,
    };
    struct virtbus_console *c;
    qmf_error err;

    c = virtbus_console_open(f->base, &o, &err);
    cr_assert_not_null(c, "%s", err.text);
    return c;
}

/* How a fleet console lists node: -1 not at all, 0 down, 1 up; *remembered
 * whether only the fleet's memory knows it. */
static int
memory_state(struct test_fleet *f, const char *cache, unsigned window_s, const char *node,
            bool *remembered)
{
    struct virtbus_console *c = open_fleet_console(f, cache, window_s);
    struct virtbus_agent_list l;
    qmf_error err;
    int state = -1;
    size_t i;

    cr_assert(virtbus_presence(c, &l, &err) == 0, "%s", err.text);
    for (i = 0; i < l.n; i++)
        if (strcmp(l.items[i].node, node) == 0) {
            state = l.items[i].up;
            if (remembered)
                *remembered = l.items[i].remembered;
        }
    virtbus_agent_list_free(&l);
    virtbus_console_close(c);
    return state;
}

struct remembered_wait {
    struct test_fleet *f;
    const char *node;
};

/* Until presence (a 1 s window) has lost the node and only the memory
 * knows it. */
static bool
only_remembered(void *arg)
{
    struct remembered_wait *w = arg;
    bool remembered = false;

    return memory_state(w->f, NULL, 1, w->node, &remembered) == 0 && remembered;
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
}

/* Until the node is only remembered: time alone makes it so, so the loop
 * is woken up to look again. */
static void
wait_only_remembered(struct test_fleet *f, const char *node)
{
    struct remembered_wait w = { f, node };
    struct timeval every = { 0, 200000 };
    struct event *ev = event_new(f->base, -1, EV_PERSIST, tick, NULL);

    event_add(ev, &every);
    cr_assert(fleet_run_until(f, only_remembered, &w, FLEET_WAIT_MS),
              "a stopped node is not remembered once out of the presence window");
    event_free(ev);
}

Test(presence, the_fleet_remembers_a_node_presence_lost_and_a_cache_of_another_stream_is_dropped,
     .timeout = 120)
{
    char path[] = "/tmp/virtbus-fleet-XXXXXX";
    char *ghost_node = test_unique_name("ghost"), *ghost_agent;
    struct test_fleet f;
    bool stopped = false;
    qmf_value *doc, *ghost;
    int fd;

    ghost_agent = virtbus_agent_name(ghost_node);

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    agent_stop(f.agents[0], stopped_cb, &stopped);
    cr_assert(fleet_run_until(&f, flag_set, &stopped, 30000), "the agent did not stop");

    /* Presence forgets it; the fleet does not. */
    wait_only_remembered(&f, f.nodes[0]);

    /* A cache: the next console resumes from it (a node only the cache
     * has is listed, so it was read)... */
    fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    unlink(path);
    cr_assert_eq(memory_state(&f, path, 1, f.nodes[0], NULL), 0);
    doc = read_cache(path);
    ghost = qmf_map_set(qmf_map_get(doc, "nodes"), ghost_agent, qmf_map());
    qmf_map_set(ghost, "values", ghost_values(ghost_node));
    /* Recorded just now: no console carries it into the stream. */
    qmf_map_set(ghost, "recorded", qmf_i64((int64_t)time(NULL) * 1000));
    write_cache(path, doc);
    cr_assert_eq(memory_state(&f, path, 1, ghost_node, NULL), 0,
                 "the fleet cache was not resumed from");

    /* ...unless the stream where it ended is not the one it read (a new
     * broker): then it reads everything again, and knows no ghost. */
    qmf_map_set(doc, "last", qmf_string("a record of another broker"));
    write_cache(path, doc);
    cr_assert_eq(memory_state(&f, path, 1, ghost_node, NULL), -1,
                 "a cache of another stream was taken");
    cr_assert_eq(memory_state(&f, path, 1, f.nodes[0], NULL), 0);

    /* A cache of the former format (one JSON document, its nodes inside)
     * is no cache: the stream is read again, and nothing is lost. */
    qmf_free(doc);
    doc = read_cache(path);
    qmf_free(qmf_map_take(doc, "format"));
    {
        char *text = qmf_to_json(doc, NULL);
        FILE *old = fopen(path, "w");

        cr_assert_not_null(old);
        fputs(text, old);
        fclose(old);
        free(text);
    }
    cr_assert_eq(memory_state(&f, path, 1, f.nodes[0], NULL), 0,
                 "a cache of the former format was taken, and the fleet's memory lost");

    qmf_free(doc);
    unlink(path);
    free(ghost_node);
    free(ghost_agent);
    fleet_fini(&f);
}

Test(presence, a_forgotten_node_is_gone_for_every_console_until_it_heartbeats_again,
     .timeout = 120)
{
    struct virtbus_console *c;
    struct test_fleet f;
    bool stopped = false;
    qmf_error err;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    agent_stop(f.agents[0], stopped_cb, &stopped);
    cr_assert(fleet_run_until(&f, flag_set, &stopped, 30000), "the agent did not stop");
    wait_only_remembered(&f, f.nodes[0]);

    c = open_fleet_console(&f, NULL, 1);
    cr_assert(virtbus_fleet_forget(c, f.nodes[0], &err) == 0, "%s", err.text);
    virtbus_console_close(c);
    cr_assert_eq(memory_state(&f, NULL, 1, f.nodes[0], NULL), -1,
                 "another console still knows a forgotten node");
    fleet_fini(&f);
}
