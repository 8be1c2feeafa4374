/*
 * A slow command on one object delays nothing else: while Domain.save
 * blocks on a FIFO nobody reads, queries are answered, a command on
 * another domain runs, and heartbeats keep coming.  Then the FIFO is read,
 * the save finishes, and its commandResult arrives.
 *
 * No timing is asserted: the proof is ordering.  The save is known to be
 * running (the worker pool reports one running job and nothing else
 * submits work) and known not to have finished (its FIFO was never opened
 * for reading) while the other requests complete.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/integration/harness.h"

#define WEB1 "domain:10000000-0000-4000-8000-000000000001"
#define WEB2 "domain:10000000-0000-4000-8000-000000000002"

/* Where the save's FIFO goes: this test process's own directory. */
static char *
fifo_dir(void)
{
    return qmf_xasprintf("/tmp/virtbus-fifo-%ld", (long)getpid());
}

static void
quiet_agent_saving_in_fifo_dir(struct agent_config *cfg, size_t index)
{
    char *dir = fifo_dir();

    /* Nothing but the test may submit work while it watches the pool; the
     * save may write into the FIFO's directory. */
    cfg->stats_interval = 86400;
    qmf_list_append(cfg->allowed_paths, qmf_string(dir));
    free(dir);
}

struct pool_watch {
    struct workq *wq;
    unsigned running;
};

static bool
save_is_running(void *arg)
{
    struct pool_watch *w = arg;
    struct workq_stats st;

    workq_get_stats(w->wq, &st);
    return st.running == w->running;
}

struct heartbeat_count {
    struct test_fleet *f;
    const char *agent;
    int seen, want;
};

static void
count_heartbeats(const struct virtbus_message *watched, void *opaque)
{
    const struct bus_message *m = virtbus_message_bus(watched);
    struct heartbeat_count *h = opaque;
    const char *opcode = bus_message_header(m, "qmf.opcode");
    const char *agent = bus_message_header(m, "qmf.agent");

    if (opcode && agent && strcmp(opcode, "_agent_heartbeat_indication") == 0 &&
        strcmp(agent, h->agent) == 0 && ++h->seen >= h->want)
        virtbus_watch_stop(h->f->console);
}

static void
stop_watch(evutil_socket_t fd, short what, void *arg)
{
    virtbus_watch_stop(arg);
}

Test(concurrency, slow_save_delays_nothing_else, .timeout = 120)
{
    static const char *const watch[] = {
        "agent.ind.event.#", "agent.ind.heartbeat.#", NULL,
    };
    char *dir = fifo_dir(), *fifo, buf[4096];
    struct pool_watch pw;
    struct heartbeat_count hb;
    struct test_fleet f;
    struct bus_message *m;
    struct workq_stats st;
    struct timeval tv = { FLEET_WAIT_MS / 1000, 0 };
    struct event *timer;
    qmf_value *body, *args, *list, *result;
    qmf_error err;
    char *address;
    int fd;
    ssize_t n;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", quiet_agent_saving_in_fifo_dir);
    fleet_wait_ready(&f);
    fleet_open_console(&f, watch);
    cr_assert_eq(mkdir(dir, 0700), 0, "mkdir %s: %s", dir, strerror(errno));
    fifo = qmf_xasprintf("%s/web1.save", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0, "mkfifo: %s", strerror(errno));

    /* Fire-and-forget save of web1 into the FIFO: it blocks in open(). */
    body = qmf_map();
    qmf_map_set(body, "_object_id", fleet_object_id(&f, 0, WEB1));
    qmf_map_set(body, "_method_name", qmf_string("save"));
    args = qmf_map_set(body, "_arguments", qmf_map());
    qmf_map_set(args, "filename", qmf_string(fifo));
    m = fleet_request("_method_request", body);
    address = virtbus_agent_address(agent_name(f.agents[0]));
    cr_assert(virtbus_send(f.console, address, m, &err) == 0, "%s", err.text);
    free(address);
    pw = (struct pool_watch){ f.wq, 1 };
    cr_assert(fleet_run_until(&f, save_is_running, &pw, FLEET_WAIT_MS),
              "the save never started");

    /* A query is answered meanwhile... */
    list = fleet_query(&f, 0, "Domain", NULL);
    cr_assert_eq(qmf_list_len(list), 3);
    qmf_free(list);

    /* ...a command on another domain runs and replies... */
    qmf_free(fleet_call_ok(&f, 0, WEB2, "destroy", NULL));
    list = fleet_query(&f, 0, "Domain", NULL);
    cr_assert_str_eq(fleet_state(fleet_find(list, "web2")), "shutoff");
    cr_assert_str_eq(fleet_state(fleet_find(list, "web1")), "running",
                     "the save cannot have finished: nobody read its FIFO");
    qmf_free(list);

    /* ...and heartbeats keep coming. */
    hb = (struct heartbeat_count){ &f, agent_name(f.agents[0]), 0, 2 };
    timer = evtimer_new(f.base, stop_watch, f.console);
    evtimer_add(timer, &tv);
    cr_assert(virtbus_watch(f.console, count_heartbeats, &hb, &err) == 0);
    event_free(timer);
    cr_assert_geq(hb.seen, 2, "heartbeats stopped while the save ran");

    workq_get_stats(f.wq, &st);
    cr_assert_eq(st.running, 1, "the save is still the one running job");

    /* Now read the FIFO: the save writes its image and finishes. */
    fd = open(fifo, O_RDONLY | O_NONBLOCK);
    cr_assert_geq(fd, 0);
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        cr_assert_gt(poll(&p, 1, FLEET_WAIT_MS), 0, "the save stopped writing");
        n = read(fd, buf, sizeof(buf));
        if (n == 0)
            break;
        cr_assert(n > 0 || errno == EAGAIN, "read: %s", strerror(errno));
    }
    close(fd);
    result = fleet_expect_watch(&f, 0, "commandResult", "methodName", "save",
                                "objectName", WEB1, "outcome", "ok", NULL);
    qmf_free(result);
    list = fleet_query(&f, 0, "Domain", NULL);
    cr_assert_str_eq(fleet_state(fleet_find(list, "web1")), "shutoff",
                     "a saved domain is stopped");
    qmf_free(list);

    unlink(fifo);
    rmdir(dir);
    free(fifo);
    free(dir);
    fleet_fini(&f);
}
