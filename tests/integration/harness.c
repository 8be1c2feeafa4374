/* In-process fleets for integration tests (see harness.h). */
#include "tests/integration/harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <amqp_tcp_socket.h>
#include <criterion/criterion.h>
#include <event2/thread.h>

#include "agent/guard.h"
#include "drivers/driver.h"
#include "tests/testutil.h"

/* The state directory holds files only (journals and their locks). */
static void
remove_tree(const char *dir)
{
    DIR *dp = opendir(dir);
    struct dirent *de;

    if (dp == NULL)
        return;
    while ((de = readdir(dp)) != NULL) {
        char *path;

        if (de->d_name[0] == '.' && (de->d_name[1] == '\0' ||
                                     (de->d_name[1] == '.' && de->d_name[2] == '\0')))
            continue;
        path = qmf_xasprintf("%s/%s", dir, de->d_name);
        remove(path);
        free(path);
    }
    closedir(dp);
    rmdir(dir);
}

/* Trust ------------------------------------------------------------------------- */

void
test_trust_init(struct test_trust *t)
{
    qmf_error err;

    memset(t, 0, sizeof(*t));
    snprintf(t->dir, sizeof(t->dir), "/tmp/virtbus-trust-XXXXXX");
    cr_assert_not_null(mkdtemp(t->dir));
    t->issuer = trust_key_generate(&err);
    cr_assert_not_null(t->issuer, "%s", err.text);
    t->issuer_pub = qmf_xasprintf("%s/issuer.pub", t->dir);
    cr_assert(trust_key_save_public(t->issuer, t->issuer_pub, &err) == 0, "%s", err.text);
    t->issuers[0] = t->issuer_pub;
    test_trust_issue(t, "tests", TRUST_ROLE_ADMIN, &t->console_key, &t->console_cred);
    {
        struct trust_key *k = trust_key_load(t->console_key, &err);

        cr_assert_not_null(k, "%s", err.text);
        snprintf(t->console_key_id, sizeof(t->console_key_id), "%s", trust_key_id(k));
        trust_key_free(k);
    }
    {
        FILE *out;

        t->cli_config = qmf_xasprintf("%s/virtbus.conf", t->dir);
        out = fopen(t->cli_config, "w");
        cr_assert_not_null(out);
        fprintf(out, "key_file = \"%s\"\nagent_issuer_keys = [ \"%s\" ]\n", t->console_key,
                t->issuer_pub);
        fclose(out);
    }
}

void
test_trust_issue(struct test_trust *t, const char *name, unsigned roles, char **key_path,
                 char **cred_path)
{
    struct trust_credential fields = { 0 };
    qmf_error err;
    char *kp = qmf_xasprintf("%s/%s.key", t->dir, name);
    char *cp = qmf_xasprintf("%s/%s.cred", t->dir, name), *text;
    unsigned copy = 1;

    /* Two agents of one node (identity tests) each get a key. */
    while (access(kp, F_OK) == 0) {
        free(kp);
        free(cp);
        copy++;
        kp = qmf_xasprintf("%s/%s-%u.key", t->dir, name, copy);
        cp = qmf_xasprintf("%s/%s-%u.cred", t->dir, name, copy);
    }

    fields.name = (char *)name;
    fields.roles = roles;
    fields.not_before = (int64_t)time(NULL) - 3600;
    fields.not_after = (int64_t)time(NULL) + 86400;
    text = trust_credential_issue_new_key(t->issuer, &fields, kp, cp, &err);
    cr_assert_not_null(text, "%s", err.text);
    free(text);
    free(fields.serial);
    if (key_path)
        *key_path = kp;
    else
        free(kp);
    if (cred_path)
        *cred_path = cp;
    else
        free(cp);
}

void
test_trust_fini(struct test_trust *t)
{
    trust_key_free(t->issuer);
    free(t->issuer_pub);
    free(t->console_key);
    free(t->console_cred);
    free(t->cli_config);
    remove_tree(t->dir);
}

/* Fleets ------------------------------------------------------------------------ */

void
fleet_init(struct test_fleet *f)
{
    qmf_error err;

    memset(f, 0, sizeof(*f));
    cr_assert(evthread_use_pthreads() == 0);
    f->base = event_base_new();
    cr_assert(f->base != NULL);
    cr_assert(drv_event_loop_install(f->base, &err) == 0, "%s", err.text);
    f->schema = schema_load_builtin(&err);
    cr_assert(f->schema != NULL, "%s", err.text);
    f->wq = workq_new(f->base, 4, &err);
    cr_assert(f->wq != NULL, "%s", err.text);
    f->bus_threads = bus_threads_new();
    snprintf(f->state_dir, sizeof(f->state_dir), "/tmp/virtbus-state-XXXXXX");
    cr_assert_not_null(mkdtemp(f->state_dir));
    /* The agents and the console speak the transport the test runs on
     * (VIRTBUS_TEST_TRANSPORT): the same cases hold on AMQP 1.0. */
    f->url = test_bus_url();
    test_trust_init(&f->trust);
}

struct agent *
fleet_add_agent(struct test_fleet *f, const char *fixture,
                void (*cfg_edit)(struct agent_config *cfg, size_t index))
{
    char *uri = test_fixture_uri(fixture);
    struct agent *a = fleet_add_agent_uri(f, uri, cfg_edit);

    free(uri);
    return a;
}

struct agent *
fleet_add_agent_uri(struct test_fleet *f, const char *uri,
                    void (*cfg_edit)(struct agent_config *cfg, size_t index))
{
    struct agent_env env = { .base = f->base, .wq = f->wq, .schema = f->schema,
                             .bus_threads = f->bus_threads };
    struct agent_config cfg;
    struct agent *a;
    qmf_error err;

    cr_assert(f->n < FLEET_MAX);
    agent_config_defaults(&cfg);
    free(cfg.node);
    cfg.node = test_unique_name("node");
    free(cfg.broker);
    cfg.broker = qmf_xstrdup(f->url);
    free(cfg.uri);
    cfg.uri = qmf_xstrdup(uri);
    free(cfg.queue_type);
    cfg.queue_type = qmf_xstrdup("classic");
    cfg.heartbeat_interval = 1;
    free(cfg.state_dir);
    cfg.state_dir = qmf_xstrdup(f->state_dir);
    /* Signed both ways: the agent trusts the fleet's issuer and signs
     * what it sends with a key of its own, named for its node (which the
     * test may have changed). */
    qmf_list_append(cfg.issuer_keys, qmf_string(f->trust.issuer_pub));
    free(cfg.key);
    free(cfg.credential);
    cfg.key = cfg.credential = NULL;
    if (cfg_edit)
        cfg_edit(&cfg, f->n);
    if (cfg.key == NULL)
        test_trust_issue(&f->trust, cfg.node, TRUST_ROLE_AGENT, &cfg.key, &cfg.credential);
    a = agent_new(&env, &cfg, &err);
    cr_assert(a != NULL, "%s", err.text);
    f->nodes[f->n] = qmf_xstrdup(cfg.node);
    f->configs[f->n] = qmf_xcalloc(1, sizeof(cfg));
    *f->configs[f->n] = cfg;
    f->agents[f->n++] = a;
    cr_assert(agent_start(a) == 0);
    return a;
}

static void
flag_cb(evutil_socket_t fd, short what, void *arg)
{
    *(bool *)arg = true;
}

bool
fleet_run_until(struct test_fleet *f, bool (*cond)(void *arg), void *arg,
                unsigned timeout_ms)
{
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    bool expired = false;
    struct event *timer = evtimer_new(f->base, flag_cb, &expired);

    evtimer_add(timer, &tv);
    while (!cond(arg) && !expired)
        event_base_loop(f->base, EVLOOP_ONCE);
    event_free(timer);
    return cond(arg);
}

static bool
all_ready(void *arg)
{
    struct test_fleet *f = arg;
    size_t i;

    for (i = 0; i < f->n; i++)
        if (!agent_is_ready(f->agents[i]))
            return false;
    return true;
}

void
fleet_wait_ready(struct test_fleet *f)
{
    cr_assert(fleet_run_until(f, all_ready, f, FLEET_WAIT_MS),
              "agents did not become ready within %d ms", FLEET_WAIT_MS);
}

void
fleet_console_options(const struct test_fleet *f, struct virtbus_console_options *o)
{
    memset(o, 0, sizeof(*o));
    o->url = f->url;
    o->key_file = f->trust.console_key;
    o->credential_file = f->trust.console_cred;
    o->answer_issuer_keys = f->trust.issuers;
}

void
fleet_console_caller(const struct test_fleet *f, struct agent_caller *out)
{
    memset(out, 0, sizeof(*out));
    out->is_signed = true;
    snprintf(out->name, sizeof(out->name), "tests");
    snprintf(out->key_id, sizeof(out->key_id), "%s", f->trust.console_key_id);
    out->roles = TRUST_ROLE_ADMIN;
}

void
fleet_open_console(struct test_fleet *f, const char *const *watch_keys)
{
    struct virtbus_console_options o;
    qmf_error err;

    fleet_console_options(f, &o);
    o.watch_keys = watch_keys;
    f->console = virtbus_console_open(f->base, &o, &err);
    cr_assert(f->console != NULL, "%s", err.text);
}

void
fleet_agent_list(const struct test_fleet *f, size_t first, size_t count,
                 struct virtbus_agent_list *out)
{
    size_t i;

    out->items = qmf_xcalloc(count, sizeof(*out->items));
    out->n = count;
    for (i = 0; i < count; i++) {
        out->items[i].name = qmf_xstrdup(agent_name(f->agents[first + i]));
        out->items[i].node = qmf_xstrdup(f->nodes[first + i]);
        out->items[i].attrs = qmf_map();
    }
}

static void
stopped_cb(struct agent *a, void *opaque)
{
    (*(size_t *)opaque)++;
}

static bool
all_stopped(void *arg)
{
    size_t *counts = arg;

    return counts[0] == counts[1];
}

void
fleet_fini(struct test_fleet *f)
{
    size_t counts[2] = { 0, f->n }, i;

    for (i = 0; i < f->n; i++)
        agent_stop(f->agents[i], stopped_cb, &counts[0]);
    cr_assert(fleet_run_until(f, all_stopped, counts, FLEET_WAIT_MS),
              "agents did not stop within %d ms", FLEET_WAIT_MS);
    virtbus_console_close(f->console);
    qmf_free(f->seen);
    workq_free(f->wq);
    for (i = 0; i < f->n; i++) {
        agent_free(f->agents[i]);
        free(f->nodes[i]);
        agent_config_free(f->configs[i]);
        free(f->configs[i]);
    }
    /* The agents' goodbyes went to threads; the test process exits next. */
    bus_threads_free(f->bus_threads, FLEET_WAIT_MS);
    schema_free(f->schema);
    free(f->url);
    event_base_free(f->base);
    remove_tree(f->state_dir);
    test_trust_fini(&f->trust);
}

qmf_value *
fleet_query(struct test_fleet *f, size_t agent, const char *class_name,
            const qmf_value *where)
{
    struct virtbus_agent_list one;
    struct virtbus_results res;
    qmf_value *list;
    qmf_error err;

    fleet_agent_list(f, agent, 1, &one);
    cr_assert(virtbus_query(f->console, &one, "OBJECT", class_name, where,
                            FLEET_REPLY_MS, &res, &err) == 0, "%s", err.text);
    virtbus_agent_list_free(&one);
    cr_assert_eq(res.n, 1);
    cr_assert_eq(res.items[0].status, VIRTBUS_OK, "query failed: %s",
                 res.items[0].error.text);
    list = res.items[0].value;
    res.items[0].value = NULL;
    virtbus_results_free(&res);
    return list;
}

const qmf_value *
fleet_find(const qmf_value *results, const char *name)
{
    size_t i;

    for (i = 0; i < qmf_list_len(results); i++) {
        const qmf_value *data = qmf_list_at(results, i);
        const char *n = qmf_map_get_string(qmf_map_get(data, "_values"), "name");

        if (n && strcmp(n, name) == 0)
            return data;
    }
    return NULL;
}

qmf_value *
fleet_object_id(const struct test_fleet *f, size_t agent, const char *name)
{
    qmf_value *id = qmf_map();

    qmf_map_set(id, "_agent_name", qmf_string(agent_name(f->agents[agent])));
    qmf_map_set(id, "_object_name", qmf_string(name));
    return id;
}

struct bus_message *
fleet_request(const char *opcode, qmf_value *body)
{
    struct bus_message *m = bus_message_new();

    if (opcode)
        bus_message_set_header_string(m, "qmf.opcode", opcode);
    bus_message_set_header_string(m, "method", "request");
    m->body = body;
    return m;
}

struct virtbus_result
fleet_ask(struct test_fleet *f, size_t agent, struct bus_message *m)
{
    struct virtbus_agent_list one;
    struct virtbus_results res;
    struct virtbus_result r;
    char *address = virtbus_agent_address(agent_name(f->agents[agent]));
    qmf_error err;

    fleet_agent_list(f, agent, 1, &one);
    cr_assert(virtbus_request_message(f->console, address, m, &one, FLEET_REPLY_MS,
                                      &res, &err) == 0, "%s", err.text);
    free(address);
    virtbus_agent_list_free(&one);
    cr_assert_eq(res.n, 1);
    r = res.items[0];
    free(res.items);
    return r;
}

qmf_value *
fleet_call_ok(struct test_fleet *f, size_t agent, const char *object_name,
              const char *method, const qmf_value *args)
{
    qmf_value *id = fleet_object_id(f, agent, object_name), *out;
    struct virtbus_result r;
    qmf_error err;

    cr_assert(virtbus_call(f->console, agent_name(f->agents[agent]), id, method, args,
                           FLEET_REPLY_MS, &r, &err) == 0, "%s", err.text);
    qmf_free(id);
    cr_assert_eq(r.status, VIRTBUS_OK, "%s on %s failed: %#x %s", method, object_name,
                 r.error.code, r.error.text);
    out = r.value;
    r.value = NULL;
    virtbus_result_clear(&r);
    return out;
}

const char *
fleet_state(const qmf_value *data)
{
    return qmf_map_get_string(qmf_map_get(data, "_values"), "state");
}

/* Watching --------------------------------------------------------------- */

/*
 * Every watch message's items are kept in f->seen (agent name, item) until
 * an expectation takes them, so that expecting A then B works whichever of
 * the two arrived first.
 */
#define WATCH_MAX_PAIRS 4

struct watch_expect {
    struct test_fleet *f;
    const char *agent;
    const char *class_name;
    const char *fields[WATCH_MAX_PAIRS], *values[WATCH_MAX_PAIRS];
    size_t npairs;
    qmf_value *found;
};

static bool
item_matches(const struct watch_expect *w, const char *agent, const qmf_value *item)
{
    const qmf_value *values = qmf_map_get(item, "_values");
    const char *cls = qmf_map_get_string(qmf_map_get(item, "_schema_id"), "_class_name");
    size_t j;

    if (strcmp(agent, w->agent) != 0 || cls == NULL || strcmp(cls, w->class_name) != 0)
        return false;
    for (j = 0; j < w->npairs; j++) {
        const char *v = qmf_map_get_string(values, w->fields[j]);

        if (v == NULL || strcmp(v, w->values[j]) != 0)
            return false;
    }
    return true;
}

/* Takes the first kept item that matches, if any. */
static bool
take_seen(struct watch_expect *w)
{
    qmf_value *seen = w->f->seen;
    size_t i;

    for (i = 0; i < qmf_list_len(seen); i++) {
        qmf_value *entry = qmf_list_at(seen, i);

        if (!item_matches(w, qmf_map_get_string(entry, "agent"), qmf_map_get(entry, "item")))
            continue;
        w->found = qmf_map_take(entry, "item");
        qmf_free(qmf_list_remove(seen, i));
        return true;
    }
    return false;
}

static void
watch_fn(const struct virtbus_message *watched, void *opaque)
{
    const struct bus_message *m = virtbus_message_bus(watched);
    struct watch_expect *w = opaque;
    const char *agent = bus_message_header(m, "qmf.agent");
    size_t i;

    if (agent == NULL || m->body == NULL || m->body->kind != QMF_LIST)
        return;
    for (i = 0; i < qmf_list_len(m->body); i++) {
        qmf_value *entry = qmf_list_append(w->f->seen, qmf_map());

        qmf_map_set(entry, "agent", qmf_string(agent));
        qmf_map_set(entry, "item", qmf_dup(qmf_list_at(m->body, i)));
    }
    if (w->found == NULL && take_seen(w))
        virtbus_watch_stop(w->f->console);
}

static void
watch_timeout(evutil_socket_t fd, short what, void *arg)
{
    virtbus_watch_stop(arg);
}

qmf_value *
fleet_expect_watch(struct test_fleet *f, size_t agent, const char *class_name, ...)
{
    struct watch_expect w = { .f = f, .agent = agent_name(f->agents[agent]),
                              .class_name = class_name };
    struct timeval tv = { FLEET_WAIT_MS / 1000, 0 };
    struct event *timer;
    const char *field;
    qmf_error err;
    va_list ap;

    va_start(ap, class_name);
    while ((field = va_arg(ap, const char *)) != NULL) {
        cr_assert(w.npairs < WATCH_MAX_PAIRS);
        w.fields[w.npairs] = field;
        w.values[w.npairs++] = va_arg(ap, const char *);
    }
    va_end(ap);
    if (f->seen == NULL)
        f->seen = qmf_list();
    if (take_seen(&w))
        return w.found;
    timer = evtimer_new(f->base, watch_timeout, f->console);
    evtimer_add(timer, &tv);
    cr_assert(virtbus_watch(f->console, watch_fn, &w, &err) == 0, "%s", err.text);
    event_free(timer);
    cr_assert(w.found != NULL, "no %s%s%s arrived from %s within %d ms", class_name,
              w.npairs ? " with " : "", w.npairs ? w.fields[0] : "", w.agent, FLEET_WAIT_MS);
    return w.found;
}

/* A private libvirtd ------------------------------------------------------- */

void
test_libvirtd_start(struct test_libvirtd *d)
{
    static const char bin[] = "/usr/sbin/libvirtd";
    char *conf, *drivers, *log, *socket;
    int i, status;
    FILE *f;

    cr_assert(access(bin, X_OK) == 0, "%s is missing: packaging/install-deps.sh installs it",
              bin);
    if (d->dir[0] == '\0') {
        snprintf(d->dir, sizeof(d->dir), "/tmp/virtbus-libvirtd-XXXXXX");
        cr_assert_not_null(mkdtemp(d->dir));
    }
    conf = qmf_xasprintf("%s/libvirtd.conf", d->dir);
    drivers = qmf_xasprintf("%s/drivers", d->dir);
    log = qmf_xasprintf("%s/libvirtd.log", d->dir);
    socket = qmf_xasprintf("%s/libvirt-sock", d->dir);
    mkdir(drivers, 0700);
    unlink(socket);
    f = fopen(conf, "w");
    cr_assert_not_null(f);
    fprintf(f, "unix_sock_dir = \"%s\"\nauth_unix_rw = \"none\"\nauth_unix_ro = \"none\"\n",
            d->dir);
    fclose(f);
    free(d->uri);
    d->uri = qmf_xasprintf("test+unix:///default?socket=%s", socket);
    free(d->socket);
    d->socket = qmf_xstrdup(socket);

    d->pid = fork();
    cr_assert_geq(d->pid, 0);
    if (d->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

        /* Dies with the test even when a failed assertion skips the kill. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* An empty driver directory keeps the QEMU driver (and its user)
         * out: only the built-in test driver remains. */
        setenv("LIBVIRT_DRIVER_DIR", drivers, 1);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(bin, "libvirtd", "-f", conf, (char *)NULL);
        _exit(127);
    }
    for (i = 0; i < FLEET_WAIT_MS / 50 && access(socket, F_OK) != 0; i++) {
        cr_assert_eq(waitpid(d->pid, &status, WNOHANG), 0, "libvirtd exited; see %s", log);
        usleep(50 * 1000);
    }
    cr_assert_eq(access(socket, F_OK), 0, "libvirtd did not listen; see %s", log);
    free(conf);
    free(drivers);
    free(log);
    free(socket);
}

void
test_libvirtd_kill(struct test_libvirtd *d)
{
    if (d->pid > 0) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
        d->pid = 0;
    }
}

void
test_libvirtd_stop(struct test_libvirtd *d)
{
    DIR *dp;
    struct dirent *de;

    test_libvirtd_kill(d);
    /* The directory holds files and one empty subdirectory. */
    if (d->dir[0] && (dp = opendir(d->dir)) != NULL) {
        while ((de = readdir(dp)) != NULL) {
            char *path;

            if (de->d_name[0] == '.')
                continue;
            path = qmf_xasprintf("%s/%s", d->dir, de->d_name);
            remove(path);
            free(path);
        }
        closedir(dp);
        rmdir(d->dir);
    }
    free(d->uri);
    d->uri = NULL;
    free(d->socket);
    d->socket = NULL;
}

amqp_connection_state_t
test_raw_connect(const char *url)
{
    /* An AMQP 1.0 URL of a test names the same broker and port. */
    char *buf = strncmp(url, "amqp10://", 9) == 0 ? qmf_xasprintf("amqp://%s", url + 9)
                                                   : qmf_xstrdup(url);
    struct amqp_connection_info info;
    amqp_connection_state_t amqp = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(amqp);
    amqp_rpc_reply_t r;

    cr_assert_eq(amqp_parse_url(buf, &info), AMQP_STATUS_OK);
    cr_assert_eq(amqp_socket_open(sock, info.host, info.port), AMQP_STATUS_OK);
    r = amqp_login(amqp, "/", 0, AMQP_DEFAULT_FRAME_SIZE, 0, AMQP_SASL_METHOD_PLAIN,
                   info.user, info.password);
    cr_assert_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
    cr_assert_not_null(amqp_channel_open(amqp, 1));
    free(buf);
    return amqp;
}

void
test_raw_close(amqp_connection_state_t amqp)
{
    amqp_channel_close(amqp, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(amqp, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(amqp);
}

uint32_t
test_raw_queue_depth(amqp_connection_state_t amqp, const char *queue)
{
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(amqp, 1, amqp_cstring_bytes(queue), 1, 0,
                                                     0, 0, amqp_empty_table);

    cr_assert_not_null(ok, "no queue %s", queue);
    return ok->message_count;
}
