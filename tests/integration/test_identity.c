/*
 * One agent per node name.  A second agent started with a node name that
 * another serves refuses to serve, naming the first (host, pid, start
 * time); an agent that lost the broker and comes back to find its node
 * served by another refuses too; and consoles flag a node whose
 * heartbeats come from two processes at once.  Everything on the real
 * broker and libvirt test driver.
 */
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "bus/bus.h"
#include "core/codec.h"
#include "tests/integration/harness.h"
#include "tests/testutil.h"

/* The node agent 0 serves, and a state directory of its own for the
 * second agent (two agents of one node on one disk would share a journal). */
static char *shared_node;
static char second_state[64];

static void
same_node(struct agent_config *cfg, size_t index)
{
    free(cfg->node);
    cfg->node = qmf_xstrdup(shared_node);
    free(cfg->state_dir);
    cfg->state_dir = qmf_xstrdup(second_state);
}

static void
second_state_dir(void)
{
    snprintf(second_state, sizeof(second_state), "/tmp/virtbus-state2-XXXXXX");
    cr_assert_not_null(mkdtemp(second_state));
}

static void
remove_second_state_dir(void)
{
    char *cmd = qmf_xasprintf("rm -rf '%s'", second_state);

    cr_assert_eq(system(cmd), 0);
    free(cmd);
}

struct watch_two {
    struct agent *a, *b;
    bool b_was_ready;
};

/* Until b has failed; whether it ever served meanwhile. */
static bool
b_failed(void *arg)
{
    struct watch_two *w = arg;

    w->b_was_ready |= agent_is_ready(w->b);
    return agent_failure(w->b) != NULL;
}

static bool
ready(void *arg)
{
    return agent_is_ready(arg);
}

/* The agents answering a locate for one node: their instance ids. */
static qmf_value *
instances_answering(struct test_fleet *f, const char *node)
{
    struct virtbus_agent_list found;
    qmf_value *ids = qmf_list();
    qmf_error err;
    size_t i;

    cr_assert(virtbus_locate(f->console, NULL, 3000, &found, &err) == 0, "%s", err.text);
    for (i = 0; i < found.n; i++)
        if (strcmp(found.items[i].node, node) == 0)
            qmf_list_append(ids, qmf_dup(qmf_map_get(found.items[i].attrs, "_instance_id")));
    virtbus_agent_list_free(&found);
    return ids;
}

static void
expect_only(struct test_fleet *f, const char *node, const struct agent *server)
{
    qmf_value *ids = instances_answering(f, node);

    cr_assert_eq(qmf_list_len(ids), 1, "%zu agents answer for node %s", qmf_list_len(ids),
                 node);
    cr_assert_str_eq(qmf_as_string(qmf_list_at(ids, 0)), agent_instance_id(server));
    qmf_free(ids);
}

/* A node's latest heartbeat values, from presence. */
static qmf_value *
heartbeat_of(struct test_fleet *f, const char *node)
{
    struct virtbus_console_options o = { .url = f->url, .presence = true };
    struct virtbus_agent_list l;
    struct virtbus_console *c;
    qmf_value *v = NULL;
    qmf_error err;
    size_t i;

    c = virtbus_console_open(f->base, &o, &err);
    cr_assert_not_null(c, "%s", err.text);
    cr_assert(virtbus_presence(c, &l, &err) == 0, "%s", err.text);
    for (i = 0; i < l.n; i++)
        if (strcmp(l.items[i].node, node) == 0)
            v = qmf_dup(l.items[i].attrs);
    virtbus_agent_list_free(&l);
    virtbus_console_close(c);
    cr_assert_not_null(v, "no heartbeat of %s", node);
    return v;
}

static void
assert_names(const char *text, const qmf_value *hb)
{
    int64_t epoch = 0, epoch_s = 0;
    uint64_t pid = 0;
    time_t t;
    struct tm tm;
    char started[40], *want;

    /* QMFv2's _epoch is a uint32 (seconds of the start); _start_time the ns. */
    cr_assert(qmf_get_int64(qmf_map_get(hb, "_start_time"), &epoch));
    cr_assert(qmf_get_int64(qmf_map_get(hb, "_epoch"), &epoch_s));
    cr_assert_eq(epoch_s, epoch / 1000000000);
    cr_assert(qmf_get_uint64(qmf_map_get(hb, "_pid"), &pid));
    t = (time_t)(epoch / 1000000000);
    gmtime_r(&t, &tm);
    strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", &tm);
    want = qmf_xasprintf("host %s, pid %llu, started %s (instance %s)",
                         qmf_map_get_string(hb, "_host"), (unsigned long long)pid, started,
                         qmf_map_get_string(hb, "_instance_id"));
    cr_assert(strstr(text, want) != NULL, "the error does not name the other instance as "
              "'%s': %s", want, text);
    free(want);
}

Test(identity, a_second_agent_of_a_node_refuses_and_names_the_first, .timeout = 120)
{
    struct test_fleet f;
    struct watch_two w;
    qmf_value *hb;
    const qmf_error *why;
    int i;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);
    shared_node = f.nodes[0];
    second_state_dir();

    /* A clone of the first: same node name, another fixture. */
    w = (struct watch_two){ f.agents[0], fleet_add_agent(&f, "node2.xml", same_node), false };
    cr_assert(fleet_run_until(&f, b_failed, &w, FLEET_WAIT_MS),
              "the second agent of node %s did not refuse to serve", shared_node);
    why = agent_failure(w.b);
    cr_assert_eq(why->code, QMF_ERR_LOCKED, "%s", why->text);
    cr_assert_not(w.b_was_ready, "the second agent served for a while");
    hb = heartbeat_of(&f, shared_node);
    cr_assert_str_eq(qmf_map_get_string(hb, "_instance_id"), agent_instance_id(f.agents[0]));
    assert_names(why->text, hb);
    qmf_free(hb);

    /* Commands and broadcasts reach the first only. */
    expect_only(&f, shared_node, f.agents[0]);
    for (i = 0; i < 5; i++)
        qmf_free(fleet_call_ok(&f, 0, "node", "getCapabilities", NULL));
    cr_assert(agent_is_ready(f.agents[0]));
    cr_assert_not(agent_is_ready(w.b));

    fleet_fini(&f);
    remove_second_state_dir();
}

/* A TCP relay to the broker, in a child process: killing it cuts an
 * agent off the broker while the others keep theirs. */
struct relay {
    int port;
    pid_t pid;
};

static void __attribute__((noreturn))
relay_run(int listener, int broker_port)
{
    struct pollfd p[64];
    int peer[64], n = 1, i;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    p[0] = (struct pollfd){ .fd = listener, .events = POLLIN };
    for (;;) {
        if (poll(p, (nfds_t)n, -1) < 0)
            _exit(1);
        if ((p[0].revents & POLLIN) && n + 2 <= 64) {
            struct sockaddr_in to = { .sin_family = AF_INET,
                                      .sin_port = htons((uint16_t)broker_port),
                                      .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
            int in = accept(listener, NULL, NULL), out = socket(AF_INET, SOCK_STREAM, 0);

            if (in >= 0 && out >= 0 && connect(out, (struct sockaddr *)&to, sizeof(to)) == 0) {
                p[n] = (struct pollfd){ .fd = in, .events = POLLIN };
                peer[n++] = out;
                p[n] = (struct pollfd){ .fd = out, .events = POLLIN };
                peer[n++] = in;
            } else {
                close(in);
                close(out);
            }
        }
        for (i = 1; i < n; i++) {
            char buf[16384];
            ssize_t got;

            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            got = read(p[i].fd, buf, sizeof(buf));
            if (got <= 0 || write(peer[i], buf, (size_t)got) != got) {
                /* One side closed: close both; the slot pair stays dead. */
                shutdown(peer[i], SHUT_RDWR);
                p[i].fd = -p[i].fd - 1;
            }
        }
    }
}

static void
relay_start(struct relay *r, int broker_port)
{
    struct sockaddr_in at = { .sin_family = AF_INET, .sin_port = htons((uint16_t)r->port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(at);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    cr_assert_geq(fd, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    cr_assert_eq(bind(fd, (struct sockaddr *)&at, sizeof(at)), 0, "cannot bind the relay");
    cr_assert_eq(listen(fd, 16), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&at, &len), 0);
    r->port = ntohs(at.sin_port);
    r->pid = fork();
    cr_assert_geq(r->pid, 0);
    if (r->pid == 0)
        relay_run(fd, broker_port);
    close(fd);
}

static void
relay_kill(struct relay *r)
{
    kill(r->pid, SIGKILL);
    waitpid(r->pid, NULL, 0);
    r->pid = 0;
}

static int
url_port(const char *url)
{
    const char *colon = strrchr(url, ':');

    cr_assert_not_null(colon);
    return atoi(colon + 1);
}

static char *relayed_url;

static void
through_relay(struct agent_config *cfg, size_t index)
{
    free(cfg->broker);
    cfg->broker = qmf_xstrdup(relayed_url);
}

Test(identity, an_agent_back_from_an_outage_to_find_its_node_served_stops, .timeout = 120)
{
    struct relay r = { 0, 0 };
    struct test_fleet f;
    struct watch_two w;
    struct agent *first, *second;
    qmf_value *hb;

    fleet_init(&f);
    relay_start(&r, url_port(f.url));
    relayed_url = qmf_xasprintf("amqp://guest:guest@127.0.0.1:%d/", r.port);
    first = fleet_add_agent(&f, "node1.xml", through_relay);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);
    shared_node = f.nodes[0];
    second_state_dir();

    /* The first loses the broker; meanwhile another agent of its node
     * starts and serves. */
    relay_kill(&r);
    second = fleet_add_agent(&f, "node2.xml", same_node);
    cr_assert(fleet_run_until(&f, ready, second, FLEET_WAIT_MS),
              "the second agent did not take over the free node");

    /* The first comes back: it must not serve beside the second. */
    relay_start(&r, url_port(f.url));
    w = (struct watch_two){ second, first, false };
    cr_assert(fleet_run_until(&f, b_failed, &w, FLEET_WAIT_MS),
              "the first agent came back and did not refuse to serve");
    cr_assert_eq(agent_failure(first)->code, QMF_ERR_LOCKED);
    cr_assert_not(w.b_was_ready, "the first agent served beside the second");
    hb = heartbeat_of(&f, shared_node);
    cr_assert_str_eq(qmf_map_get_string(hb, "_instance_id"), agent_instance_id(second));
    assert_names(agent_failure(first)->text, hb);
    qmf_free(hb);
    expect_only(&f, shared_node, second);
    cr_assert(agent_is_ready(second));

    fleet_fini(&f);
    relay_kill(&r);
    free(relayed_url);
    remove_second_state_dir();
}

/* A heartbeat of node from a process that is not the agent (an older
 * agent without the lock, say), sent as agents send them. */
static void
forge_heartbeat(struct test_fleet *f, const char *node, const qmf_value *like)
{
    struct bus_message *m = bus_message_new();
    char *agent = virtbus_agent_name(node), *key = qmf_name_key_escape(node), *address;
    qmf_value *v = qmf_dup(like);
    struct timespec now;
    int64_t now_ns;
    qmf_error err;

    clock_gettime(CLOCK_REALTIME, &now);
    now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    qmf_map_set(v, "_instance_id", qmf_string("00000000-0000-4000-8000-00000000f0f0"));
    qmf_map_set(v, "_host", qmf_string("forged-host"));
    qmf_map_set(v, "_pid", qmf_u32(4242));
    /* _epoch stays the agent's: started with it, each heartbeated after
     * the other started, which a restart never does.  (The agent's last
     * heartbeat may be a while ago: the loop is ours, and waits for the
     * CLI.) */
    qmf_map_set(v, "_timestamp", qmf_i64(now_ns));
    bus_message_set_header_string(m, "qmf.opcode", "_agent_heartbeat_indication");
    bus_message_set_header_string(m, "method", "indication");
    bus_message_set_header_string(m, "qmf.agent", agent);
    m->body = qmf_map();
    qmf_map_set(m->body, "_values", v);
    address = qmf_xasprintf("/exchange/%s/agent.ind.heartbeat.virtbus.agent.%s",
                            BUS_EXCHANGE_TOPIC, key);
    cr_assert(virtbus_send(f->console, address, m, &err) == 0, "%s", err.text);
    free(address);
    free(agent);
    free(key);
}

/* Runs the CLI; its stdout, and its stderr in *err_text. */
static char *
run_cli(const struct test_fleet *f, const char *args, char **err_text, int *status)
{
    char errfile[] = "/tmp/virtbus-cli-err-XXXXXX", *cmd, *out = qmf_xstrdup("");
    char buf[4096];
    size_t n, len = 0;
    FILE *p;
    int fd = mkstemp(errfile);

    cr_assert_geq(fd, 0);
    close(fd);
    cmd = qmf_xasprintf("VIRTBUS_CONFIG=/dev/null VIRTBUS_BROKER='%s' '%s/controller/virtbus' %s "
                        "2>'%s'", f->url, getenv("VIRTBUS_BIN_DIR"), args, errfile);
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) {
        out = qmf_xrealloc(out, len + n + 1);
        memcpy(out + len, buf, n);
        len += n;
        out[len] = '\0';
    }
    *status = pclose(p);
    free(cmd);
    *err_text = qmf_xstrdup("");
    if ((p = fopen(errfile, "r")) != NULL) {
        len = fread(buf, 1, sizeof(buf) - 1, p);
        buf[len] = '\0';
        free(*err_text);
        *err_text = qmf_xstrdup(buf);
        fclose(p);
    }
    unlink(errfile);
    return out;
}

Test(identity, nodes_flags_heartbeats_from_two_instances, .timeout = 120)
{
    struct test_fleet f;
    qmf_value *hb, *doc;
    const qmf_value *node = NULL;
    char *out, *err_text, *args;
    qmf_error err;
    size_t i;
    int status;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    fleet_open_console(&f, NULL);
    hb = heartbeat_of(&f, f.nodes[0]);

    /* One instance: no clash. */
    args = qmf_xasprintf("--json nodes -n %s", f.nodes[0]);
    out = run_cli(&f, args, &err_text, &status);
    cr_assert_eq(status, 0, "%s", err_text);
    doc = qmf_from_json(out, strlen(out), &err);
    cr_assert_not_null(doc, "%s: %s", err.text, out);
    node = qmf_list_at(qmf_map_get(doc, "nodes"), 0);
    cr_assert_eq(qmf_as_bool(qmf_map_get(node, "clash")), false, "%s", out);
    qmf_free(doc);
    free(out);
    free(err_text);

    /* A second process heartbeats as the same node. */
    forge_heartbeat(&f, f.nodes[0], hb);
    out = run_cli(&f, args, &err_text, &status);
    cr_assert_eq(status, 0, "%s", err_text);
    doc = qmf_from_json(out, strlen(out), &err);
    cr_assert_not_null(doc, "%s: %s", err.text, out);
    node = qmf_list_at(qmf_map_get(doc, "nodes"), 0);
    cr_assert_not_null(qmf_map_get(node, "clash"), "%s", out);
    cr_assert(qmf_as_bool(qmf_map_get(node, "clash")), "two instances not flagged: %s", out);
    cr_assert_eq(qmf_list_len(qmf_map_get(node, "instances")), 2, "%s", out);
    for (i = 0; i < 2; i++) {
        const char *host = qmf_map_get_string(qmf_list_at(qmf_map_get(node, "instances"), i),
                                              "host");

        cr_assert(strcmp(host, "forged-host") == 0 ||
                  strcmp(host, qmf_map_get_string(hb, "_host")) == 0, "%s", out);
    }
    qmf_free(doc);
    free(out);
    free(err_text);
    free(args);

    /* The table says so, and stderr names both. */
    args = qmf_xasprintf("nodes -n %s", f.nodes[0]);
    out = run_cli(&f, args, &err_text, &status);
    cr_assert_eq(status, 0, "%s", err_text);
    cr_assert(strstr(out, " clash ") != NULL, "no clash status in:\n%s", out);
    cr_assert(strstr(err_text, "forged-host, pid 4242") != NULL, "%s", err_text);
    cr_assert(strstr(err_text, "heartbeats from 2 instances") != NULL, "%s", err_text);
    free(out);
    free(err_text);
    free(args);

    qmf_free(hb);
    fleet_fini(&f);
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

Test(identity, a_restart_is_not_a_clash, .timeout = 120)
{
    struct virtbus_console_options o = { .presence = true };
    struct virtbus_agent_list l;
    struct virtbus_console *c;
    struct test_fleet f;
    bool stopped = false, found = false;
    qmf_error err;
    size_t i;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_wait_ready(&f);
    shared_node = f.nodes[0];
    second_state_dir();
    agent_stop(f.agents[0], stopped_cb, &stopped);
    cr_assert(fleet_run_until(&f, flag_set, &stopped, FLEET_WAIT_MS));
    /* The same node again, as after a restart: both in the window. */
    fleet_add_agent(&f, "node1.xml", same_node);
    cr_assert(fleet_run_until(&f, ready, f.agents[1], FLEET_WAIT_MS));

    o.url = f.url;
    c = virtbus_console_open(f.base, &o, &err);
    cr_assert_not_null(c, "%s", err.text);
    cr_assert(virtbus_presence(c, &l, &err) == 0, "%s", err.text);
    for (i = 0; i < l.n; i++) {
        if (strcmp(l.items[i].node, shared_node) != 0)
            continue;
        found = true;
        cr_assert_eq(qmf_list_len(l.items[i].instances), 2, "both runs are in the window");
        cr_assert_not(l.items[i].clash, "a restart was taken for a clash");
        cr_assert(l.items[i].up);
    }
    cr_assert(found);
    virtbus_agent_list_free(&l);
    virtbus_console_close(c);
    fleet_fini(&f);
    remove_second_state_dir();
}
