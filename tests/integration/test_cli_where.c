/*
 * The virtbus CLI acting on a --where selection when one targeted node is
 * up but silent: one broadcast, one timeout.  The CLI binary runs against
 * an in-process fleet whose second agent has stopped reading (its
 * heartbeats go on, so presence says up); a queue bound to every console
 * request counts what the CLI sends.  A name lookup before the method
 * would be a second request, and a second timeout waited out for the
 * silent node.
 */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "agent/agent_impl.h"
#include "core/codec.h"
#include "tests/integration/harness.h"
#include "tests/testutil.h"

extern char **environ;

/* Console requests seen on the broker, by opcode. */
struct tap {
    struct bus_conn *bus;
    bool up;
    size_t queries, methods, others;
};

static void
tap_up(struct bus_conn *c, void *opaque)
{
    ((struct tap *)opaque)->up = true;
}

static const struct bus_handlers tap_handlers = { .up = tap_up };

static void
tap_receive(struct bus_delivery *d, const struct bus_message *m, void *opaque)
{
    struct tap *t = opaque;
    const char *opcode = bus_message_header(m, "qmf.opcode");

    if (opcode && strcmp(opcode, "_query_request") == 0)
        t->queries++;
    else if (opcode && strcmp(opcode, "_method_request") == 0)
        t->methods++;
    else
        t->others++;
    bus_ack(d);
}

static bool
tap_is_up(void *arg)
{
    return ((struct tap *)arg)->up;
}

static void
tap_open(struct test_fleet *f, struct tap *t)
{
    struct bus_binding binding = { BUS_EXCHANGE_TOPIC, "console.request.#" };
    struct bus_queue q = { .exclusive = true, .auto_delete = true,
                           .bindings = &binding, .nbindings = 1 };
    struct bus_subscription sub = { .source = "#0", .no_ack = true,
                                    .receive = tap_receive, .opaque = t };
    struct bus_options o = { .url = f->url, .name = "test tap", .queues = &q, .nqueues = 1,
                             .subs = &sub, .nsubs = 1 };
    qmf_error err;

    memset(t, 0, sizeof(*t));
    cr_assert(bus_open(&t->bus, f->base, &o, &tap_handlers, t, &err) == 0, "%s", err.text);
    cr_assert(fleet_run_until(f, tap_is_up, t, FLEET_WAIT_MS), "the tap did not connect");
}

/* The CLI as a child process, its stdout in a file. */
struct child {
    pid_t pid;
    int status;
    bool exited;
};

static void
child_poll(evutil_socket_t fd, short what, void *arg)
{
    struct child *c = arg;

    if (!c->exited && waitpid(c->pid, &c->status, WNOHANG) == c->pid)
        c->exited = true;
}

static bool
child_exited(void *arg)
{
    return ((struct child *)arg)->exited;
}

/* Runs virtbus with argv (NULL-terminated, without the program) while the
 * fleet's loop serves the agents; returns its exit status. */
static int
run_cli(struct test_fleet *f, const char *const *args, const char *out_path)
{
    const char *bin_dir = getenv("VIRTBUS_BIN_DIR");
    char *program, *broker = qmf_xasprintf("VIRTBUS_BROKER=%s", f->url);
    char *config = qmf_xasprintf("VIRTBUS_CONFIG=%s", f->trust.cli_config);
    const char *argv[16];
    char *envp[64];
    posix_spawn_file_actions_t fa;
    struct timeval tick = { 0, 20000 };
    struct child c = { 0 };
    struct event *poll_ev;
    size_t i, n = 0;

    cr_assert_not_null(bin_dir, "run through ctest");
    program = qmf_xasprintf("%s/controller/virtbus", bin_dir);
    argv[n++] = program;
    for (i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    n = 0;
    for (i = 0; environ[i] && n < 60; i++)
        if (strncmp(environ[i], "VIRTBUS_BROKER=", 15) != 0 &&
            strncmp(environ[i], "VIRTBUS_CONFIG=", 15) != 0)
            envp[n++] = environ[i];
    envp[n++] = broker;
    envp[n++] = config;
    envp[n] = NULL;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path, O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    cr_assert_eq(posix_spawn(&c.pid, program, &fa, NULL, (char *const *)argv, envp), 0);
    posix_spawn_file_actions_destroy(&fa);
    poll_ev = event_new(f->base, -1, EV_PERSIST, child_poll, &c);
    event_add(poll_ev, &tick);
    /* A bound against a hang only: the CLI's own timeout is far shorter. */
    if (!fleet_run_until(f, child_exited, &c, FLEET_WAIT_MS)) {
        kill(c.pid, SIGKILL);
        waitpid(c.pid, &c.status, 0);
        cr_assert_fail("virtbus did not end within %d ms", FLEET_WAIT_MS);
    }
    event_free(poll_ev);
    free(program);
    free(broker);
    free(config);
    cr_assert(WIFEXITED(c.status), "virtbus died: status %#x", c.status);
    return WEXITSTATUS(c.status);
}

static char *
read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = qmf_xcalloc(1, 1 << 16);
    size_t n;

    cr_assert_not_null(f, "%s", path);
    n = fread(text, 1, (1 << 16) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* The outcome of node for object (NULL: the node as a whole). */
static const qmf_value *
outcome_of(const qmf_value *doc, const char *node, const char *object)
{
    const qmf_value *results = qmf_map_get(doc, "results");
    size_t i;

    for (i = 0; i < qmf_list_len(results); i++) {
        const qmf_value *r = qmf_list_at(results, i);
        const char *o = qmf_map_get_string(r, "object");

        if (strcmp(qmf_map_get_string(r, "node"), node) == 0 &&
            (object ? o && strcmp(o, object) == 0 : o == NULL))
            return r;
    }
    return NULL;
}

Test(cli_where, a_silent_node_costs_one_timeout, .timeout = 180)
{
    struct test_fleet f;
    struct tap tap;
    char out_path[] = "/tmp/virtbus-cli-where-XXXXXX", *targets, *text;
    const qmf_value *ok, *silent;
    qmf_value *doc;
    qmf_error err;
    int fd, rc;

    fleet_init(&f);
    fleet_add_agent(&f, "node1.xml", NULL);
    fleet_add_agent(&f, "node3.xml", NULL);
    fleet_wait_ready(&f);
    tap_open(&f, &tap);
    /* It reads nothing more, and goes on sending heartbeats. */
    cr_assert_eq(bus_pause(f.agents[1]->bus), 0);

    fd = mkstemp(out_path);
    cr_assert(fd >= 0);
    close(fd);
    targets = qmf_xasprintf("%s,%s", f.nodes[0], f.nodes[1]);
    rc = run_cli(&f, (const char *const[]){ "--json", "--timeout", "2", "-n", targets,
                                           "suspend", "--where",
                                           "name == \"web2\" or name == \"cache1\"", NULL },
                 out_path);
    text = read_all(out_path);
    cr_assert_eq(rc, 3, "exit %d: %s", rc, text);
    doc = qmf_from_json(text, strlen(text), &err);
    cr_assert_not_null(doc, "%s: %s", err.text, text);
    ok = outcome_of(doc, f.nodes[0], "web2");
    cr_assert_not_null(ok, "%s", text);
    cr_assert_str_eq(qmf_map_get_string(ok, "status"), "ok");
    silent = outcome_of(doc, f.nodes[1], NULL);
    cr_assert_not_null(silent, "%s", text);
    cr_assert_str_eq(qmf_map_get_string(silent, "status"), "no-reply");

    /* One request, so one wait: no query went out before the method. */
    cr_assert_eq(tap.methods, 1, "%zu method requests", tap.methods);
    cr_assert_eq(tap.queries, 0, "%zu queries before the method", tap.queries);

    qmf_free(doc);
    free(text);
    free(targets);
    unlink(out_path);
    bus_close(tap.bus);
    fleet_fini(&f);
}
