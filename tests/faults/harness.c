/*
 * The fault tests' harness: the loop, processes started and stopped by
 * pid, the private broker, libvirtds and agents, the console that sends
 * commands and counts their answers and records, the faults themselves
 * (SIGKILLs, broker restarts, cluster node kills), and the checks.
 */
/* POSIX.1-2008 with XSI: kill(2), mkfifo(3), nftw(3), strsignal(3). */
#define _XOPEN_SOURCE 700

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <libvirt/virterror.h>

#include "core/codec.h"
#include "trust/credential.h"
#include "trust/key.h"
#include "trust/message.h"
#include "tests/faults/faults.h"

/* Time and output ---------------------------------------------------------- */

int64_t
wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void __attribute__((format(printf, 2, 3)))
say(const struct faults *f, const char *fmt, ...)
{
    va_list ap;

    printf("[%7.2fs] ", bench_now_s() - f->t0);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

void __attribute__((format(printf, 2, 3)))
debug(const struct faults *f, const char *fmt, ...)
{
    va_list ap;

    if (!f->opt.verbose)
        return;
    printf("[%7.2fs]   ", bench_now_s() - f->t0);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* One check of a scenario: printed either way, counted when it fails. */
bool __attribute__((format(printf, 3, 4)))
check(struct faults *f, bool ok, const char *fmt, ...)
{
    va_list ap;

    printf("    %s ", ok ? "ok  " : "FAIL");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    if (!ok)
        f->checks_failed++;
    return ok;
}

/* xorshift64*: fault timing, reproducible with --seed. */
static uint64_t
prng_next(struct faults *f)
{
    f->prng ^= f->prng >> 12;
    f->prng ^= f->prng << 25;
    f->prng ^= f->prng >> 27;
    return f->prng * 2685821657736338717ULL;
}

/* The loop ------------------------------------------------------------------ */

static void pump_all(struct faults *f);

static void supervise(struct faults *f);

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct faults *f = arg;

    reap_children(f);
    supervise(f);
    /* Commands whose publish failed go again once the broker is back. */
    pump_all(f);
}

static void
sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
    reap_children(arg);
    supervise(arg);
}

static void
interrupt_cb(evutil_socket_t sig, short what, void *arg)
{
    struct faults *f = arg;

    say(f, "interrupted by %s: cleaning up", strsignal((int)sig));
    f->interrupted = true;
}


/* Runs the loop until cond holds or timeout_s passed; returns cond. */
bool
run_until(struct faults *f, cond_fn cond, void *arg, double timeout_s)
{
    double end = bench_now_s() + timeout_s;

    while (!cond(f, arg)) {
        if (f->interrupted || bench_now_s() >= end)
            return cond(f, arg);
        event_base_loop(f->base, EVLOOP_ONCE);
    }
    return true;
}

/* Runs the loop until cond holds, or until *progress (a count of what
 * came: answers, records, restarts) stood still for idle_s: work is
 * waited for as long as it moves, however slowly a busy machine does it. */
bool
run_while_moving_on(struct faults *f, cond_fn cond, void *arg, const size_t *progress,
                    double idle_s)
{
    size_t seen = *progress;
    double t_moved = bench_now_s();

    while (!cond(f, arg)) {
        if (*progress != seen) {
            seen = *progress;
            t_moved = bench_now_s();
        }
        if (f->interrupted || bench_now_s() - t_moved >= idle_s)
            return cond(f, arg);
        event_base_loop(f->base, EVLOOP_ONCE);
    }
    return true;
}

/* ... for as long as commands are answered. */
bool
run_while_moving(struct faults *f, cond_fn cond, void *arg, double idle_s)
{
    return run_while_moving_on(f, cond, arg, &f->answered, idle_s);
}

/* ... for as long as commandResult records come. */
bool
run_while_recording(struct faults *f, cond_fn cond, void *arg)
{
    return run_while_moving_on(f, cond, arg, &f->event_seq, STALL_S);
}

static bool
never(struct faults *f, void *arg)
{
    return false;
}

/* Serves the loop for a while: a pause, never a check. */
void
run_for(struct faults *f, double seconds)
{
    run_until(f, never, NULL, seconds);
}

/* Processes ----------------------------------------------------------------- */

extern char **environ;

/* environ with extra "KEY=VALUE" entries replacing or adding to it. */
static char **
make_env(const char *const *extra)
{
    size_t n = 0, m = 0, i, j, k = 0;
    char **env;

    while (environ[n])
        n++;
    while (extra && extra[m])
        m++;
    env = qmf_xcalloc(n + m + 1, sizeof(*env));
    for (i = 0; i < n; i++) {
        bool replaced = false;

        for (j = 0; j < m; j++) {
            size_t klen = strcspn(extra[j], "=");

            if (strncmp(environ[i], extra[j], klen + 1) == 0)
                replaced = true;
        }
        if (!replaced)
            env[k++] = qmf_xstrdup(environ[i]);
    }
    for (j = 0; j < m; j++)
        env[k++] = qmf_xstrdup(extra[j]);
    return env;
}

static void
free_strv(char **v)
{
    size_t i;

    for (i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static void
child_register(struct faults *f, struct child *c)
{
    size_t i;

    for (i = 0; i < f->nchildren; i++)
        if (f->children[i] == c)
            return;
    f->children = qmf_xrealloc(f->children, (f->nchildren + 1) * sizeof(*f->children));
    f->children[f->nchildren++] = c;
}

static void
child_unregister(struct faults *f, struct child *c)
{
    size_t i;

    for (i = 0; i < f->nchildren; i++) {
        if (f->children[i] == c) {
            f->children[i] = f->children[--f->nchildren];
            return;
        }
    }
}

/*
 * Starts argv[0] with its output appended to log_path.  A child that
 * must not outlive this program (agents, libvirtds) gets SIGKILL when it
 * dies; broker.sh does not, since it must finish what it started.  No
 * core dumps: the poison scenario crashes agents on purpose.
 */
int
spawn(struct faults *f, struct child *c, char *const argv[], const char *const *extra_env,
      const char *log_path, bool die_with_us)
{
    char **env = make_env(extra_env);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    pid_t pid;

    if (fd < 0) {
        say(f, "cannot open %s: %s", log_path, strerror(errno));
        free_strv(env);
        return -1;
    }
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        struct rlimit no_core = { 0, 0 };
        int null = open("/dev/null", O_RDONLY);

        if (die_with_us)
            prctl(PR_SET_PDEATHSIG, SIGKILL);
        setrlimit(RLIMIT_CORE, &no_core);
        signal(SIGPIPE, SIG_DFL);
        if (null >= 0)
            dup2(null, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execve(argv[0], argv, env);
        _exit(127);
    }
    close(fd);
    free_strv(env);
    if (pid < 0) {
        say(f, "fork: %s", strerror(errno));
        return -1;
    }
    c->pid = pid;
    c->status = 0;
    child_register(f, c);
    return 0;
}

void
reap_children(struct faults *f)
{
    size_t i;

    for (i = 0; i < f->nchildren; i++) {
        struct child *c = f->children[i];
        int status;

        if (c->pid > 0 && waitpid(c->pid, &status, WNOHANG) == c->pid) {
            c->pid = 0;
            c->status = status;
            c->t_exit = bench_now_s();
            c->exits++;
        }
    }
}

bool
child_gone(struct faults *f, void *arg)
{
    return ((struct child *)arg)->pid == 0;
}

void
describe_status(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exit %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by %s", strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "status %#x", status);
}

/* Sends sig (0: none, it was sent already) and waits, bounded; SIGKILL if
 * it does not go. */
bool
child_stop(struct faults *f, struct child *c, int sig, double wait_s)
{
    if (c->pid == 0)
        return true;
    if (sig != 0)
        kill(c->pid, sig);
    if (run_until(f, child_gone, c, wait_s))
        return true;
    say(f, "%s (pid %d) did not exit within %.0f s of %s: SIGKILL", c->what, (int)c->pid,
        wait_s, strsignal(sig ? sig : SIGTERM));
    kill(c->pid, SIGKILL);
    run_until(f, child_gone, c, 10);
    return false;
}

/* Runs a command to its end, serving the loop meanwhile. */
static int
run_command(struct faults *f, struct child *c, char *const argv[], const char *log_path,
            double wait_s)
{
    char how[64];

    if (spawn(f, c, argv, NULL, log_path, false) != 0)
        return -1;
    if (!run_until(f, child_gone, c, wait_s)) {
        say(f, "%s did not finish within %.0f s", c->what, wait_s);
        kill(c->pid, SIGKILL);
        run_until(f, child_gone, c, 10);
        return -1;
    }
    if (!WIFEXITED(c->status) || WEXITSTATUS(c->status) != 0) {
        describe_status(c->status, how, sizeof(how));
        say(f, "%s failed (%s); see %s", c->what, how, log_path);
        return -1;
    }
    return 0;
}

static int
write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    int rc;

    if (fp == NULL)
        return -1;
    fputs(text, fp);
    rc = fclose(fp);
    return rc == 0 ? 0 : -1;
}

static int
remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    remove(path);
    return 0;
}

/* Trust ---------------------------------------------------------------------- */

/*
 * A key pair and a credential for name, signed by the run's issuer, as
 * <trust_dir>/<name>.key and .cred; kept when they exist (an agent started
 * again is the same node).  The credential's text is returned when
 * credential_text is given.
 */
static int
trust_issue(struct faults *f, const char *name, unsigned roles, char **credential_text)
{
    struct trust_credential fields = { 0 };
    char *key_path = qmf_xasprintf("%s/%s.key", f->trust_dir, name);
    char *cred_path = qmf_xasprintf("%s/%s.cred", f->trust_dir, name);
    char *text = NULL;
    qmf_error err;
    int rc = -1;

    if (access(cred_path, F_OK) == 0 && credential_text == NULL) {
        rc = 0;
        goto out;
    }
    fields.name = (char *)name;
    fields.roles = roles;
    fields.not_before = (int64_t)time(NULL) - 3600;
    fields.not_after = (int64_t)time(NULL) + 7 * 86400;
    if ((text = trust_credential_issue_new_key(f->issuer, &fields, key_path, cred_path,
                                               &err)) == NULL)
        goto fail;
    if (credential_text) {
        *credential_text = text;
        text = NULL;
    }
    rc = 0;
    goto out;
fail:
    say(f, "cannot make the key and credential of %s: %s", name, err.text);
out:
    free(fields.serial);
    free(text);
    free(key_path);
    free(cred_path);
    return rc;
}

/* The run's issuer, and the admin caller whose key signs every request. */
static int
trust_setup(struct faults *f)
{
    char *caller_key = NULL, *text = NULL;
    qmf_error err;
    int rc = -1;

    f->trust_dir = qmf_xasprintf("%s/trust", f->dir);
    f->issuer_pub = qmf_xasprintf("%s/issuer.pub", f->trust_dir);
    f->cli_conf = qmf_xasprintf("%s/virtbus.conf", f->trust_dir);
    caller_key = qmf_xasprintf("%s/faults.key", f->trust_dir);
    if (mkdir(f->trust_dir, 0755) != 0 && errno != EEXIST) {
        say(f, "cannot create %s: %s", f->trust_dir, strerror(errno));
        goto out;
    }
    if ((f->issuer = trust_key_generate(&err)) == NULL ||
        trust_key_save_public(f->issuer, f->issuer_pub, &err) != 0) {
        say(f, "cannot make the issuer: %s", err.text);
        goto out;
    }
    if (trust_issue(f, "faults", TRUST_ROLE_ADMIN, &f->caller_credential) != 0)
        goto out;
    if ((f->caller = trust_key_load(caller_key, &err)) == NULL) {
        say(f, "cannot load %s: %s", caller_key, err.text);
        goto out;
    }
    text = qmf_xasprintf("key_file = \"%s\"\nagent_issuer_keys = [ \"%s\" ]\n", caller_key,
                         f->issuer_pub);
    if (write_file(f->cli_conf, text) != 0) {
        say(f, "cannot write %s", f->cli_conf);
        goto out;
    }
    rc = 0;
out:
    free(caller_key);
    free(text);
    return rc;
}

/* Signs a request for the agent at address (its routing key is signed). */
static int
trust_sign_request(struct faults *f, struct bus_message *m, const struct agent_proc *ap,
                   qmf_error *err)
{
    return trust_message_sign(m, TRUST_REQUEST, ap->name, f->caller, f->caller_credential, err);
}

static void
trust_teardown(struct faults *f)
{
    trust_key_free(f->issuer);
    trust_key_free(f->caller);
    free(f->caller_credential);
    free(f->trust_dir);
    free(f->issuer_pub);
    free(f->cli_conf);
}

/* The broker ------------------------------------------------------------------ */

/* broker.sh VERB DIR, or with --cluster cluster.sh VERB DIR [NODE]. */
static int
broker_run_node(struct faults *f, const char *verb, unsigned node)
{
    char *log = qmf_xasprintf("%s/broker-sh.log", f->dir);
    char node_text[16];
    char *argv[] = { (char *)(f->opt.cluster ? f->opt.cluster_sh : f->opt.broker_sh),
                     (char *)verb, f->broker_dir, node ? node_text : NULL, NULL };
    int rc;

    snprintf(node_text, sizeof(node_text), "%u", node);
    f->broker_cmd.what = f->opt.cluster ? "cluster.sh" : "broker.sh";
    rc = run_command(f, &f->broker_cmd, argv, log, BROKER_WAIT_S);
    child_unregister(f, &f->broker_cmd);
    free(log);
    return rc;
}

static int
broker_run(struct faults *f, const char *verb)
{
    return broker_run_node(f, verb, 0);
}

static int
broker_start(struct faults *f)
{
    char *port_path = qmf_xasprintf("%s/%s", f->broker_dir, f->opt.cluster ? "base" : "port");
    char port[32] = "";
    FILE *fp;

    f->broker_running = true;      /* whatever happens, stop it at the end */
    if (broker_run(f, "start") != 0) {
        free(port_path);
        return -1;
    }
    fp = fopen(port_path, "r");
    if (fp == NULL || fgets(port, sizeof(port), fp) == NULL) {
        say(f, "no port in %s", port_path);
        if (fp)
            fclose(fp);
        free(port_path);
        return -1;
    }
    fclose(fp);
    port[strcspn(port, "\n")] = '\0';
    if (f->opt.cluster) {
        f->cluster_base = (unsigned)strtoul(port, NULL, 10);
        f->url = qmf_xasprintf("%s://guest:guest@127.0.0.1:%u/ %s://guest:guest@127.0.0.1:%u/ "
                               "%s://guest:guest@127.0.0.1:%u/", f->opt.scheme, f->cluster_base,
                               f->opt.scheme, f->cluster_base + 1, f->opt.scheme,
                               f->cluster_base + 2);
    } else {
        /* RabbitMQ's AMQP 1.0 plugin listens on the 0-9-1 port. */
        f->url = qmf_xasprintf("%s://guest:guest@127.0.0.1:%s/", f->opt.scheme, port);
    }
    free(port_path);
    return 0;
}

/* Private libvirtds ------------------------------------------------------------ */

static void
quiet_libvirt(void *opaque, virErrorPtr err)
{
}

const char *
libvirt_error(void)
{
    virErrorPtr e = virGetLastError();

    return e && e->message ? e->message : "unknown libvirt error";
}

/* It takes connections, or it died.  Its socket is there a moment before
 * it listens (a connection is refused meanwhile): so it is tried. */
static bool
libvirtd_accepts(struct faults *f, void *arg)
{
    struct libvirtd *d = arg;

    if (d->conn == NULL && d->proc.pid != 0 && access(d->socket, F_OK) == 0)
        d->conn = virConnectOpen(d->uri);
    return d->conn != NULL || d->proc.pid == 0;
}

/* Starts (or starts again, on the same socket) a libvirtd with only its
 * test driver, and connects to it. */
int
libvirtd_start(struct faults *f, struct libvirtd *d)
{
    char *conf = qmf_xasprintf("%s/libvirtd.conf", d->dir);
    char *drivers = qmf_xasprintf("%s/drivers", d->dir);
    char *pidfile = qmf_xasprintf("%s/libvirtd.pid", d->dir);
    char *log = qmf_xasprintf("%s/libvirtd.log", d->dir);
    char *text, *env_driver = qmf_xasprintf("LIBVIRT_DRIVER_DIR=%s", drivers);
    /* An empty driver directory keeps the QEMU driver out; a pid file of
     * its own lets several run beside the system's. */
    char *argv[] = { LIBVIRTD, "-f", conf, "-p", pidfile, NULL };
    const char *env[] = { env_driver, NULL };
    int rc = -1;

    mkdir(d->dir, 0755);
    mkdir(drivers, 0755);
    unlink(d->socket);
    text = qmf_xasprintf("unix_sock_dir = \"%s\"\nauth_unix_rw = \"none\"\n"
                         "auth_unix_ro = \"none\"\n", d->dir);
    if (write_file(conf, text) != 0) {
        say(f, "cannot write %s", conf);
        goto out;
    }
    d->proc.what = "libvirtd";
    if (spawn(f, &d->proc, argv, env, log, true) != 0)
        goto out;
    if (!run_until(f, libvirtd_accepts, d, READY_WAIT_S) || d->conn == NULL) {
        say(f, "cannot connect to %s (%s): %s; see %s", d->uri,
            d->proc.pid == 0 ? "libvirtd exited" : "libvirtd still starting",
            libvirt_error(), log);
        goto out;
    }
    rc = 0;
out:
    free(text);
    free(conf);
    free(drivers);
    free(pidfile);
    free(log);
    free(env_driver);
    return rc;
}

void
libvirtd_kill(struct faults *f, struct libvirtd *d)
{
    if (d->conn) {
        virConnectClose(d->conn);
        d->conn = NULL;
    }
    child_stop(f, &d->proc, SIGKILL, 10);
}

/* Names of the domains of a libvirtd (defined and running), as a map of
 * name -> active (bool); NULL if it cannot be asked. */
qmf_value *
libvirtd_domains(struct faults *f, struct libvirtd *d)
{
    virDomainPtr *doms = NULL;
    qmf_value *names;
    int n, i;

    if (d->conn == NULL || (n = virConnectListAllDomains(d->conn, &doms, 0)) < 0) {
        say(f, "cannot list the domains of %s: %s", d->uri, libvirt_error());
        return NULL;
    }
    names = qmf_map();
    for (i = 0; i < n; i++) {
        const char *name = virDomainGetName(doms[i]);

        if (name)
            qmf_map_set(names, name, qmf_bool(virDomainIsActive(doms[i]) == 1));
        virDomainFree(doms[i]);
    }
    free(doms);
    return names;
}

/* Agents --------------------------------------------------------------------- */

struct agent_proc *
agent_new(struct faults *f, const char *node, const char *failpoints)
{
    struct agent_proc *ap = qmf_xcalloc(1, sizeof(*ap));
    char *adir = qmf_xasprintf("%s/%s", f->dir, node);

    mkdir(adir, 0755);
    ap->node = qmf_xstrdup(node);
    ap->name = qmf_xasprintf("virtbus:agent:%s", node);
    ap->address = qmf_name_exchange_address(BUS_EXCHANGE_DIRECT, ap->name);
    ap->conf = qmf_xasprintf("%s/virtbusd.conf", adir);
    ap->log = qmf_xasprintf("%s/virtbusd.log", adir);
    ap->state_dir = qmf_xasprintf("%s/state", adir);
    ap->failpoints = failpoints;
    ap->lvd.dir = qmf_xasprintf("%s/libvirtd", adir);
    ap->lvd.socket = qmf_xasprintf("%s/libvirt-sock", ap->lvd.dir);
    ap->lvd.uri = qmf_xasprintf("test+unix:///default?socket=%s", ap->lvd.socket);
    ap->proc.what = ap->node;
    ap->window = 1;
    ap->stop_timeout = STOP_TIMEOUT_S;
    ap->ack_long_after = ACK_LONG_AFTER_S;
    free(adir);
    f->agents = qmf_xrealloc(f->agents, (f->nagents + 1) * sizeof(*f->agents));
    f->agents[f->nagents++] = ap;
    return ap;
}

static void
agent_free(struct agent_proc *ap)
{
    free(ap->node);
    free(ap->name);
    free(ap->address);
    free(ap->conf);
    free(ap->log);
    free(ap->state_dir);
    free(ap->lvd.dir);
    free(ap->lvd.socket);
    free(ap->lvd.uri);
    free(ap->cmds);
    free(ap->answer_t);
    free(ap);
}

static struct agent_proc *
agent_by_name(struct faults *f, const char *name)
{
    size_t i;

    for (i = 0; name && i < f->nagents; i++)
        if (strcmp(f->agents[i]->name, name) == 0)
            return f->agents[i];
    return NULL;
}

/* broker = [ "url", ... ]: the configuration's form of a list of URLs. */
static char *
broker_list_text(const char *urls)
{
    size_t n, i;
    char **v = bus_url_split(urls, &n), *text = qmf_xstrdup("["), *more;

    for (i = 0; i < n; i++) {
        more = qmf_xasprintf("%s%s \"%s\"", text, i ? "," : "", v[i]);
        free(text);
        text = more;
    }
    more = qmf_xasprintf("%s ]", text);
    free(text);
    bus_url_list_free(v, n);
    return more;
}

/* Its configuration file: everything at the shipped defaults (quorum
 * queue, delivery limit, prefetch, workers) unless said here. */
static int
agent_write_conf(struct faults *f, struct agent_proc *ap)
{
    char *brokers = broker_list_text(f->url);
    char *text = qmf_xasprintf(
        "node = \"%s\"\n"
        "broker = %s\n"
        "uri = \"%s\"\n"
        "state_dir = \"%s\"\n"
        "queue_type = \"quorum\"\n"
        "delivery_limit = %d\n"
        "stop_timeout = %u\n"
        "ack_long_commands_after = %u\n"
        "heartbeat_interval = 2\n"
        "log_level = \"%s\"\n"
        /* The slow saves write into FIFOs in there. */
        "allowed_paths = [ \"%s\" ]\n"
        "issuer_keys = [ \"%s\" ]\n"
        "key = \"%s/%s.key\"\n"
        "credential = \"%s/%s.cred\"\n",
        ap->node, brokers, ap->lvd.uri, ap->state_dir, DELIVERY_LIMIT, ap->stop_timeout,
        ap->ack_long_after, f->opt.verbose ? "debug" : "info", f->dir, f->issuer_pub,
        f->trust_dir, ap->node, f->trust_dir, ap->node);
    int rc = trust_issue(f, ap->node, TRUST_ROLE_AGENT, NULL) != 0 ? -1
                                                                  : write_file(ap->conf, text);

    if (rc != 0)
        say(f, "cannot write %s", ap->conf);
    free(text);
    free(brokers);
    return rc;
}

int
agent_spawn(struct faults *f, struct agent_proc *ap)
{
    /* The shipped program, but where a fault is injected. */
    char *argv[] = { (char *)(ap->failpoints ? f->opt.virtbusd_failpoints : f->opt.virtbusd),
                     "-f", "-c", ap->conf, NULL };
    char *fp = ap->failpoints ? qmf_xasprintf("VIRTBUS_FAILPOINTS=%s", ap->failpoints) : NULL;
    const char *env[] = { fp, NULL };
    int rc;

    if (ap->spawns == 0 && agent_write_conf(f, ap) != 0) {
        free(fp);
        return -1;
    }
    rc = spawn(f, &ap->proc, argv, env, ap->log, true);
    free(fp);
    if (rc == 0) {
        ap->supervised = true;
        ap->spawns++;
        ap->t_spawn = bench_now_s();
        debug(f, "started %s (pid %d)", ap->node, (int)ap->proc.pid);
    }
    return rc;
}

static void
supervise(struct faults *f)
{
    size_t i;
    char how[64];

    for (i = 0; i < f->nagents; i++) {
        struct agent_proc *ap = f->agents[i];

        if (!ap->supervised || ap->proc.pid != 0)
            continue;
        ap->crashes++;
        if (!WIFSIGNALED(ap->proc.status) || WTERMSIG(ap->proc.status) != SIGABRT)
            ap->crashes_not_abort++;
        describe_status(ap->proc.status, how, sizeof(how));
        if (ap->may_crash)
            debug(f, "%s crashed (%s): restarting it", ap->node, how);
        else
            say(f, "%s died on its own (%s): restarting it; see %s", ap->node, how, ap->log);
        agent_spawn(f, ap);
    }
}

/* Serving: it said agentStarted since its last start (or it died). */
static bool
agent_ready(struct faults *f, void *arg)
{
    struct agent_proc *ap = arg;

    return ap->started >= ap->spawns || ap->proc.pid == 0;
}

bool
agent_wait_ready(struct faults *f, struct agent_proc *ap)
{
    char how[64];

    if (run_until(f, agent_ready, ap, READY_WAIT_S) && ap->proc.pid != 0)
        return true;
    if (ap->proc.pid == 0) {
        describe_status(ap->proc.status, how, sizeof(how));
        say(f, "%s died while starting (%s); see %s", ap->node, how, ap->log);
    } else {
        say(f, "%s did not start serving within %.0f s; see %s", ap->node, READY_WAIT_S,
            ap->log);
    }
    return false;
}

/* Its libvirtd, then the agent, serving. */
int
agent_start(struct faults *f, struct agent_proc *ap)
{
    if (libvirtd_start(f, &ap->lvd) != 0 || agent_spawn(f, ap) != 0)
        return -1;
    return agent_wait_ready(f, ap) ? 0 : -1;
}

/* Waits for an agent sent SIGTERM (sig 0: already sent); true if it
 * exited 0 in time, as systemd expects of it. */
static bool
agent_term_wait(struct faults *f, struct agent_proc *ap, int sig, double wait_s)
{
    char how[64];

    ap->supervised = false;
    if (!child_stop(f, &ap->proc, sig, wait_s))
        return false;
    if (WIFEXITED(ap->proc.status) && WEXITSTATUS(ap->proc.status) == 0)
        return true;
    describe_status(ap->proc.status, how, sizeof(how));
    say(f, "%s: %s after SIGTERM; see %s", ap->node, how, ap->log);
    return false;
}

bool
agent_term(struct faults *f, struct agent_proc *ap, double wait_s)
{
    return agent_term_wait(f, ap, SIGTERM, wait_s);
}

/* The scenario's end: agents stopped (each must exit 0), their libvirtds
 * too.  SIGTERM goes to all first, so that they stop side by side. */
void
agents_teardown(struct faults *f, struct agent_proc **v, size_t n)
{
    bool *running = qmf_xcalloc(n ? n : 1, sizeof(*running));
    size_t i, nrunning = 0, clean = 0;

    for (i = 0; i < n; i++) {
        v[i]->supervised = false;
        running[i] = v[i]->proc.pid != 0;
        if (running[i]) {
            kill(v[i]->proc.pid, SIGTERM);
            nrunning++;
        }
    }
    for (i = 0; i < n; i++) {
        if (running[i])
            clean += agent_term_wait(f, v[i], 0, EXIT_WAIT_S);
        libvirtd_kill(f, &v[i]->lvd);
        child_unregister(f, &v[i]->proc);
        child_unregister(f, &v[i]->lvd.proc);
    }
    if (nrunning > 0)
        check(f, clean == nrunning, "at the end, SIGTERM: every agent exited 0 (%zu of %zu)",
              clean, nrunning);
    free(running);
}

void
check_no_crashes(struct faults *f, struct agent_proc **v, size_t n)
{
    size_t crashes = 0, i;

    for (i = 0; i < n; i++)
        crashes += v[i]->crashes;
    check(f, crashes == 0, "no agent died on its own: %zu crash(es)", crashes);
}

/* Commands -------------------------------------------------------------------- */

struct cmd *
cmd_new(struct faults *f, struct agent_proc *ap, const char *object, const char *method,
        qmf_value *args, uint64_t ttl_ms)
{
    struct cmd *c = qmf_xcalloc(1, sizeof(*c));

    c->f = f;
    c->id = qmf_xasprintf(CMD_PREFIX "%zu", f->ncmds);
    c->agent = ap;
    c->object = qmf_xstrdup(object);
    c->method = qmf_xstrdup(method);
    c->args = args ? args : qmf_map();
    c->ttl_ms = ttl_ms;
    if (f->ncmds == f->cmds_cap) {
        f->cmds_cap = f->cmds_cap ? f->cmds_cap * 2 : 1024;
        f->cmds = qmf_xrealloc(f->cmds, f->cmds_cap * sizeof(*f->cmds));
    }
    f->cmds[f->ncmds++] = c;
    if (ap->ncmds == ap->cap) {
        ap->cap = ap->cap ? ap->cap * 2 : 64;
        ap->cmds = qmf_xrealloc(ap->cmds, ap->cap * sizeof(*ap->cmds));
    }
    ap->cmds[ap->ncmds++] = c;
    return c;
}

static void
cmd_free(struct cmd *c)
{
    free(c->id);
    free(c->object);
    free(c->method);
    qmf_free(c->args);
    free(c->text);
    qmf_free(c->out);
    free(c->outcome);
    free(c->dead_reason);
    free(c);
}

/* A domain named after the command, defined on the agent's node: the
 * effect counted afterwards.  Defining a second time fails ("already
 * exists with uuid"), since the XML has no UUID: a repeat shows. */
struct cmd *
cmd_define(struct faults *f, struct agent_proc *ap, uint64_t ttl_ms)
{
    struct cmd *c = cmd_new(f, ap, "node", "domainDefineXML", qmf_map(), ttl_ms);

    qmf_map_set(c->args, "xmlDesc",
                qmf_stringf("<domain type='test'><name>%s</name>"
                            "<memory unit='KiB'>8192</memory>"
                            "<os><type>hvm</type></os></domain>", c->id));
    return c;
}

static struct cmd *
cmd_by_id(struct faults *f, const char *id)
{
    char *end;
    unsigned long long n;

    if (id == NULL || strncmp(id, CMD_PREFIX, strlen(CMD_PREFIX)) != 0)
        return NULL;
    n = strtoull(id + strlen(CMD_PREFIX), &end, 10);
    if (*end != '\0' || n >= f->ncmds || strcmp(f->cmds[n]->id, id) != 0)
        return NULL;
    return f->cmds[n];
}

static void
cmd_confirmed(bool ok, void *opaque)
{
    struct cmd *c = opaque;

    if (ok) {
        c->state = CMD_CONFIRMED;
        return;
    }
    /* The broker may or may not have it: send it again, same message-id. */
    c->state = CMD_UNSENT;
    c->confirm_failures++;
}

static void
cmd_publish(struct faults *f, struct cmd *c)
{
    struct bus_message *m = bus_message_new();
    qmf_value *body = qmf_map(), *oid;
    qmf_error err;

    bus_message_set_header_string(m, "qmf.opcode", "_method_request");
    bus_message_set_header_string(m, "method", "request");
    m->message_id = qmf_xstrdup(c->id);
    m->correlation_id = qmf_xstrdup(c->id);
    m->reply_to = qmf_name_exchange_address(BUS_EXCHANGE_DIRECT, REPLY_QUEUE);
    m->durable = true;
    m->receiver_expires = true;     /* as the console sends commands */
    m->ttl_ms = c->ttl_ms;
    /* A re-send is the same command: same id, same deadline. */
    if (c->publishes == 0)
        c->t_sent = bench_now_s();
    if (c->created_ms == 0)
        c->created_ms = wall_ms();
    m->created_ms = c->created_ms;
    oid = qmf_map_set(body, "_object_id", qmf_map());
    qmf_map_set(oid, "_agent_name", qmf_string(c->agent->name));
    qmf_map_set(oid, "_object_name", qmf_string(c->object));
    qmf_map_set(body, "_method_name", qmf_string(c->method));
    qmf_map_set(body, "_arguments", qmf_dup(c->args));
    m->body = body;
    c->publishes++;
    c->state = CMD_SENDING;
    if (trust_sign_request(f, m, c->agent, &err) != 0 ||
        bus_publish(f->bus, c->agent->address, m, cmd_confirmed, c, &err) != 0)
        c->state = CMD_UNSENT;
    bus_message_free(m);
}

/* Keeps an agent's window of outstanding commands full, and sends again
 * what the broker did not confirm. */
void
pump_agent(struct faults *f, struct agent_proc *ap)
{
    size_t i;

    if (!f->bus_up)
        return;
    while (ap->lo < ap->next &&
           (ap->cmds[ap->lo]->answers > 0 || ap->cmds[ap->lo]->dead_lettered))
        ap->lo++;
    for (i = ap->lo; i < ap->next; i++) {
        struct cmd *c = ap->cmds[i];

        if (c->answers == 0 && !c->dead_lettered && c->state == CMD_UNSENT)
            cmd_publish(f, c);
    }
    while (ap->next < ap->ncmds && ap->outstanding < ap->window) {
        struct cmd *c;

        /* Each agent's share at the same pace, so that none starves. */
        if (f->paced_n > 0 &&
            bench_now_s() < f->paced_from + (double)f->opt.pace_s * ap->next / ap->ncmds)
            break;
        c = ap->cmds[ap->next++];
        ap->outstanding++;
        cmd_publish(f, c);
        /* Sent twice at once, as a console asking again would: both copies
         * reach the agent before either has run. */
        if (c->twice)
            cmd_publish(f, c);
    }
}

static void
pump_all(struct faults *f)
{
    size_t i;

    for (i = 0; i < f->nagents; i++)
        pump_agent(f, f->agents[i]);
}

static void
record_answer_time(struct agent_proc *ap, double t)
{
    if (ap->nanswer_t == ap->answer_cap) {
        ap->answer_cap = ap->answer_cap ? ap->answer_cap * 2 : 256;
        ap->answer_t = qmf_xrealloc(ap->answer_t, ap->answer_cap * sizeof(*ap->answer_t));
    }
    ap->answer_t[ap->nanswer_t++] = t;
}

static void
cmd_answered(struct faults *f, struct cmd *c, const struct bus_message *m)
{
    const char *opcode = bus_message_header(m, "qmf.opcode");
    bool ok = opcode != NULL && strcmp(opcode, "_method_response") == 0 && m->body != NULL;
    const qmf_value *values = m->body ? qmf_map_get(m->body, "_values") : NULL;
    const char *text = ok ? "" : qmf_map_get_string(values, "error_text");
    uint64_t code = 0;

    if (!ok && !qmf_get_uint64(qmf_map_get(values, "error_code"), &code))
        code = m->body ? QMF_ERR_MALFORMED : m->body_error.code;
    record_answer_time(c->agent, bench_now_s());
    if (++c->answers > 1) {
        /* Answered again (a redelivery, a spool flush): it must say the same. */
        if (ok != c->ok || code != c->code)
            c->conflicting = true;
        return;
    }
    c->ok = ok;
    c->code = (uint32_t)code;
    c->text = qmf_xstrdup(text ? text : (m->body ? "" : m->body_error.text));
    if (ok)
        c->out = qmf_dup(qmf_map_get(m->body, "_arguments"));
    c->t_answer = bench_now_s();
    c->answer_seq = ++f->answer_seq;
    f->answered++;
    c->agent->answered++;
    if (c->agent->outstanding > 0 && !c->dead_lettered)
        c->agent->outstanding--;
    pump_agent(f, c->agent);
}

static struct query *
query_by_id(struct faults *f, const char *id)
{
    size_t i;

    for (i = 0; id && i < f->nqueries; i++)
        if (strcmp(f->queries[i]->id, id) == 0)
            return f->queries[i];
    return NULL;
}

static void
query_answered(struct query *q, const struct bus_message *m)
{
    const char *opcode = bus_message_header(m, "qmf.opcode");
    const qmf_value *partial = qmf_map_get(m->headers, "partial");
    size_t i;

    if (q->done)
        return;
    if (opcode == NULL || strcmp(opcode, "_query_response") != 0 || m->body == NULL ||
        m->body->kind != QMF_LIST) {
        q->failed = q->done = true;
        return;
    }
    for (i = 0; i < qmf_list_len(m->body); i++)
        qmf_list_append(q->results, qmf_dup(qmf_list_at(m->body, i)));
    if (!(partial && partial->kind == QMF_BOOL && qmf_as_bool(partial)))
        q->done = true;
}

static void
on_reply(struct bus_delivery *d, const struct bus_message *m, void *opaque)
{
    struct faults *f = opaque;
    struct cmd *c = cmd_by_id(f, m->correlation_id);
    struct query *q;

    if (c != NULL)
        cmd_answered(f, c, m);
    else if ((q = query_by_id(f, m->correlation_id)) != NULL)
        query_answered(q, m);
    else
        f->stray_replies++;
    bus_ack(d);
}

static void
on_command_result(struct faults *f, struct agent_proc *ap, const qmf_value *values)
{
    struct cmd *c = cmd_by_id(f, qmf_map_get_string(values, "correlationId"));
    const char *outcome = qmf_map_get_string(values, "outcome");
    uint64_t code = 0;

    qmf_get_uint64(qmf_map_get(values, "errorCode"), &code);
    /* Recorded at start for a command a crash interrupted (with its
     * correlation-id when its BEGIN kept the answer prepared for this). */
    if (ap != NULL && code == QMF_ERR_INTERRUPTED)
        ap->interrupted_records++;
    if (c == NULL)
        return;
    if (c->events++ == 0) {
        c->outcome = qmf_xstrdup(outcome ? outcome : "");
        c->event_code = (uint32_t)code;
        c->event_seq = ++f->event_seq;
    }
}

static void
on_event(struct bus_delivery *d, const struct bus_message *m, void *opaque)
{
    struct faults *f = opaque;
    struct agent_proc *ap = agent_by_name(f, bus_message_header(m, "qmf.agent"));
    const char *opcode = bus_message_header(m, "qmf.opcode");
    double t = bench_now_s();
    size_t i;

    /* Routed to the presence stream as to us: in it for controllers. */
    if (ap != NULL && opcode != NULL && strcmp(opcode, "_agent_heartbeat_indication") == 0) {
        ap->heartbeats++;
        ap->t_heartbeat = t;
    }
    for (i = 0; m->body && m->body->kind == QMF_LIST && i < qmf_list_len(m->body); i++) {
        const qmf_value *item = qmf_list_at(m->body, i);
        const char *cls = qmf_map_get_string(qmf_map_get(item, "_schema_id"), "_class_name");
        const qmf_value *values = qmf_map_get(item, "_values");

        if (cls == NULL)
            continue;
        if (strcmp(cls, "commandResult") == 0) {
            on_command_result(f, ap, values);
        } else if (ap == NULL) {
            continue;
        } else if (strcmp(cls, "agentStarted") == 0) {
            ap->started++;
            ap->t_started = t;
        } else if (strcmp(cls, "agentStopping") == 0) {
            ap->stopping++;
            ap->t_stopping = t;
        } else if (strcmp(cls, "driverDisconnected") == 0) {
            ap->drv_down++;
            ap->t_drv_down = t;
        } else if (strcmp(cls, "driverReconnected") == 0) {
            ap->drv_up++;
            ap->t_drv_up = t;
        }
    }
    bus_ack(d);
}

static void
on_dead_letter(struct bus_delivery *d, const struct bus_message *m, void *opaque)
{
    struct faults *f = opaque;
    struct cmd *c = cmd_by_id(f, m->message_id);
    const char *reason = bus_message_header(m, "x-first-death-reason");

    if (c == NULL) {
        f->other_dead_letters++;
    } else if (!c->dead_lettered) {
        c->dead_lettered = true;
        c->dead_reason = qmf_xstrdup(reason ? reason : "?");
        debug(f, "dead letter %s (%s.%s on %s): %s", c->id, c->object, c->method,
              c->agent->node, c->dead_reason);
        if (f->opt.verbose) {
            size_t i;

            for (i = 0; i < qmf_map_len(m->headers); i++)
                debug(f, "  header %s", qmf_map_at(m->headers, i)->key);
        }
        /* Settled, if never answered: the window moves on. */
        if (c->answers == 0 && c->agent->outstanding > 0) {
            c->agent->outstanding--;
            pump_agent(f, c->agent);
        }
    }
    bus_ack(d);
}

/* The console: our own connection, with durable queues for answers. */

static void
console_up(struct bus_conn *c, void *opaque)
{
    struct faults *f = opaque;

    f->bus_up = true;
    if (f->bus_ups++ > 0)
        debug(f, "console connected again");
    pump_all(f);
}

static void
console_down(struct bus_conn *c, const qmf_error *why, void *opaque)
{
    struct faults *f = opaque;

    f->bus_up = false;
    debug(f, "console lost the broker: %s", why ? why->text : "closed");
}

static const struct bus_handlers console_handlers = { console_up, console_down };

static void
dead_bus_up(struct bus_conn *c, void *opaque)
{
    struct faults *f = opaque;

    f->dead_bus_up = true;
}

static void
dead_bus_down(struct bus_conn *c, const qmf_error *why, void *opaque)
{
    struct faults *f = opaque;

    f->dead_bus_up = false;
    debug(f, "the dead-letter reader lost the broker: %s", why ? why->text : "closed");
}

static const struct bus_handlers dead_bus_handlers = { dead_bus_up, dead_bus_down };

static bool
console_is_up(struct faults *f, void *arg)
{
    return f->bus_up && (f->dead_bus == NULL || f->dead_bus_up);
}

/* The URLs with amqp10 (and amqps10) made 0-9-1's. */
static char *
urls_091(const char *urls)
{
    char *out = qmf_xmalloc(strlen(urls) + 1), *o = out;
    const char *p = urls;

    while (*p != '\0') {
        if ((strncmp(p, "amqp10://", 9) == 0 || strncmp(p, "amqps10://", 10) == 0) &&
            (p == urls || p[-1] == ' ')) {
            size_t n = p[4] == 's' ? 5 : 4;

            memcpy(o, p, n);
            o += n;
            p += n + 2;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

static int
console_open(struct faults *f)
{
    static const struct bus_binding reply_binding[] = {
        { BUS_EXCHANGE_DIRECT, REPLY_QUEUE },
    };
    static const struct bus_binding event_bindings[] = {
        { BUS_EXCHANGE_TOPIC, "agent.ind.event.org_libvirt.commandResult.#" },
        { BUS_EXCHANGE_TOPIC, "agent.ind.event.org_libvirt.agentStarted.#" },
        { BUS_EXCHANGE_TOPIC, "agent.ind.event.org_libvirt.agentStopping.#" },
        { BUS_EXCHANGE_TOPIC, "agent.ind.event.org_libvirt.driverDisconnected.#" },
        { BUS_EXCHANGE_TOPIC, "agent.ind.event.org_libvirt.driverReconnected.#" },
        { BUS_EXCHANGE_TOPIC, BUS_PRESENCE_KEY },
    };
    static const struct bus_binding dead_binding[] = {
        { BUS_EXCHANGE_DIRECT, DEAD_LETTERS },
    };
    /*
     * Durable quorum queues, so that what agents send while this console
     * reconnects, or while the broker restarts, is kept; the dead-letter
     * queue is declared as the agents declare it (of their queue_type),
     * but not leniently: this broker is new, and the console consumes it.
     */
    const struct bus_queue queues[] = {
        { .name = REPLY_QUEUE, .durable = true, .queue_type = "quorum",
          .bindings = reply_binding, .nbindings = 1 },
        { .name = EVENT_QUEUE, .durable = true, .queue_type = "quorum",
          .bindings = event_bindings,
          .nbindings = sizeof(event_bindings) / sizeof(event_bindings[0]) },
        { .name = DEAD_LETTERS, .durable = true, .queue_type = "quorum",
          .bindings = dead_binding, .nbindings = 1 },
    };
    char *sources[3];
    struct bus_subscription subs[3];
    struct bus_options o = { 0 };
    qmf_error err;
    size_t i;
    int rc;

    for (i = 0; i < 3; i++)
        sources[i] = qmf_name_queue_address(queues[i].name);
    subs[0] = (struct bus_subscription){ .source = sources[0], .credit = 1000,
                                         .receive = on_reply, .opaque = f };
    subs[1] = (struct bus_subscription){ .source = sources[1], .credit = 1000,
                                         .receive = on_event, .opaque = f };
    subs[2] = (struct bus_subscription){ .source = sources[2], .credit = 100,
                                         .receive = on_dead_letter, .opaque = f };
    o.url = f->url;
    o.name = "virtbus-faults";
    o.heartbeat_s = 5;
    o.reconnect = true;
    o.reconnect_min_ms = 100;
    o.reconnect_max_ms = 1000;
    if (f->bus_threads == NULL && (f->bus_threads = bus_threads_new()) == NULL) {
        say(f, "cannot open the console: out of memory");
        return -1;
    }
    o.threads = f->bus_threads;
    o.queues = queues;
    o.nqueues = 3;
    o.subs = subs;
    o.nsubs = 3;
    /*
     * Over AMQP 1.0 RabbitMQ 3.10's plugin gives a dead letter without the
     * headers the broker adds (x-first-death-reason): they are in the 0-9-1
     * headers table, of which a 1.0 receiver gets nothing (TRANSPORTS.md,
     * "AMQP 1.0 peers on 0-9-1").  So the dead letters, whose reason the
     * poison scenario checks, are read over 0-9-1; everything else of the
     * console stays on 1.0.
     */
    if (strcmp(f->opt.scheme, "amqp10") == 0) {
        struct bus_options dead = o;
        char *url = urls_091(f->url);

        dead.url = url;
        dead.name = "virtbus-faults (dead letters)";
        dead.queues = &queues[2];
        dead.nqueues = 1;
        dead.subs = &subs[2];
        dead.nsubs = 1;
        o.nqueues = 2;
        o.nsubs = 2;
        rc = bus_open(&f->dead_bus, f->base, &dead, &dead_bus_handlers, f, &err);
        free(url);
        if (rc != 0) {
            for (i = 0; i < 3; i++)
                free(sources[i]);
            say(f, "cannot open the dead-letter reader: %s", err.text);
            return -1;
        }
    }
    rc = bus_open(&f->bus, f->base, &o, &console_handlers, f, &err);
    for (i = 0; i < 3; i++)
        free(sources[i]);
    if (rc != 0) {
        say(f, "cannot open the console: %s", err.text);
        return -1;
    }
    if (!run_until(f, console_is_up, NULL, READY_WAIT_S)) {
        char *shown = bus_url_redact(f->url);

        say(f, "the console did not connect to %s", shown);
        free(shown);
        return -1;
    }
    return 0;
}

/* Sends a query of one class's objects to an agent. */
struct query *
query_send(struct faults *f, struct agent_proc *ap, const char *class_name)
{
    struct query *q = qmf_xcalloc(1, sizeof(*q));
    struct bus_message *m = bus_message_new();
    qmf_value *body = qmf_map(), *sid;
    qmf_error err;

    q->id = qmf_xasprintf(QUERY_PREFIX "%zu", f->nqueries);
    q->results = qmf_list();
    f->queries = qmf_xrealloc(f->queries, (f->nqueries + 1) * sizeof(*f->queries));
    f->queries[f->nqueries++] = q;
    bus_message_set_header_string(m, "qmf.opcode", "_query_request");
    bus_message_set_header_string(m, "method", "request");
    m->message_id = qmf_xstrdup(q->id);
    m->correlation_id = qmf_xstrdup(q->id);
    m->reply_to = qmf_name_exchange_address(BUS_EXCHANGE_DIRECT, REPLY_QUEUE);
    m->ttl_ms = 60000;
    m->created_ms = wall_ms();
    qmf_map_set(body, "_what", qmf_string("OBJECT"));
    sid = qmf_map_set(body, "_schema_id", qmf_map());
    qmf_map_set(sid, "_class_name", qmf_string(class_name));
    m->body = body;
    if (trust_sign_request(f, m, ap, &err) != 0 ||
        bus_publish(f->bus, ap->address, m, NULL, NULL, &err) != 0) {
        say(f, "cannot send a query to %s: %s", ap->node, err.text);
        q->failed = q->done = true;
    }
    bus_message_free(m);
    return q;
}

bool
query_done(struct faults *f, void *arg)
{
    return ((struct query *)arg)->done;
}

/* Waiting for answers ------------------------------------------------------- */

bool
range_answered(struct faults *f, void *arg)
{
    struct cmd_range *r = arg;
    size_t i;

    for (i = 0; i < r->n; i++)
        if (r->v[i]->answers == 0)
            return false;
    return true;
}

bool
range_confirmed(struct faults *f, void *arg)
{
    struct cmd_range *r = arg;
    size_t i;

    for (i = 0; i < r->n; i++)
        if (r->v[i]->state != CMD_CONFIRMED)
            return false;
    return true;
}

/* Every answered command has its commandResult too, but for those
 * interrupted (whose record names no correlation-id). */
bool
range_recorded(struct faults *f, void *arg)
{
    struct cmd_range *r = arg;
    size_t i;

    for (i = 0; i < r->n; i++) {
        struct cmd *c = r->v[i];

        if (c->answers > 0 && c->events == 0 && c->code != QMF_ERR_INTERRUPTED)
            return false;
    }
    return true;
}

/* Sends an agent's commands [from, to) with a window of `window`. */
void
stream(struct faults *f, struct agent_proc *ap, size_t window)
{
    ap->window = window;
    pump_agent(f, ap);
}

bool
is_interrupted(const struct cmd *c)
{
    return c->answers > 0 && !c->ok && c->code == QMF_ERR_INTERRUPTED;
}

/* A second execution of a define fails: "domain '...' already exists". */
bool
is_repeat(const struct cmd *c)
{
    return c->answers > 0 && !c->ok && c->text && strstr(c->text, "already exists");
}

/* Marks the effects found on the agents' libvirtds; returns the number of
 * domains named like commands that no command of this set made. */
int
find_effects(struct faults *f, struct agent_proc **v, size_t n, size_t *stray)
{
    size_t i, j;

    *stray = 0;
    for (i = 0; i < n; i++) {
        qmf_value *names = libvirtd_domains(f, &v[i]->lvd);

        if (names == NULL)
            return -1;
        for (j = 0; j < qmf_map_len(names); j++) {
            const char *name = qmf_map_at(names, j)->key;
            struct cmd *c = cmd_by_id(f, name);

            if (c != NULL && c->agent == v[i])
                c->effect = true;
            else if (strncmp(name, CMD_PREFIX, strlen(CMD_PREFIX)) == 0)
                (*stray)++;
        }
        qmf_free(names);
    }
    return 0;
}

/* Whether the file holds the text: agents' logs. */
bool
file_contains(const char *path, const char *needle)
{
    FILE *fp = fopen(path, "r");
    char line[4096];
    bool found = false;

    while (fp && !found && fgets(line, sizeof(line), fp))
        found = strstr(line, needle) != NULL;
    if (fp)
        fclose(fp);
    return found;
}

/* The last n (at most 64) lines of an agent's log, for a check that
 * failed on something only the log explains. */
void
show_log_tail(const char *path, size_t n)
{
    char ring[64][512];
    FILE *fp = fopen(path, "r");
    size_t count = 0, i;

    if (fp == NULL)
        return;
    n = n > 64 ? 64 : n;
    while (fgets(ring[count % n], sizeof(ring[0]), fp))
        count++;
    fclose(fp);
    printf("    --- the last %zu lines of %s\n", count < n ? count : n, path);
    for (i = count < n ? 0 : count - n; i < count; i++)
        printf("    | %s", ring[i % n]);
    fflush(stdout);
}

/* An agent said something in its log: a state it reports nowhere else. */
bool
log_has(struct faults *f, void *arg)
{
    struct log_wait *w = arg;

    return file_contains(w->path, w->text);
}

/* Faults --------------------------------------------------------------------- */


bool
answered_at_least(struct faults *f, void *arg)
{
    struct answered_at_least *a = arg;

    return f->answered - a->base >= a->n;
}

/* First answer from ap at or after t; < 0 if none. */
double
first_answer_after(const struct agent_proc *ap, double t)
{
    size_t i;

    for (i = 0; i < ap->nanswer_t; i++)
        if (ap->answer_t[i] >= t)
            return ap->answer_t[i];
    return -1;
}

bool
kill_agent(struct faults *f, struct fault *ft, struct agent_proc *ap)
{
    /* A random moment within a few commands, so that the kills land at
     * every stage of a command (before BEGIN, running, before the ack...). */
    run_for(f, (double)(prng_next(f) % 20) / 1000.0);
    ft->agent = ap;
    ft->pid = ap->proc.pid;
    ft->t_begin = bench_now_s();
    if (ap->proc.pid == 0) {
        say(f, "%s is not running", ap->node);
        return false;
    }
    ap->supervised = false;
    kill(ap->proc.pid, SIGKILL);
    if (!run_until(f, child_gone, &ap->proc, EXIT_WAIT_S)) {
        say(f, "%s survived SIGKILL", ap->node);
        return false;
    }
    ft->t_stopped = bench_now_s();
    /* Restarted at once, as systemd's Restart=on-failure would. */
    if (agent_spawn(f, ap) != 0)
        return false;
    ft->t_back = bench_now_s();
    say(f, "fault: SIGKILL %s (pid %d), restarted", ap->node, (int)ft->pid);
    return true;
}

bool
restart_broker(struct faults *f, struct fault *ft)
{
    ft->broker = true;
    ft->t_begin = bench_now_s();
    say(f, "fault: broker restart (stop by pid, start on the same port and data)");
    if (broker_run(f, "stop") != 0)
        return false;
    ft->t_stopped = bench_now_s();
    if (broker_run(f, "restart") != 0)
        return false;
    ft->t_back = bench_now_s();
    say(f, "broker back after %.1f s (stopped in %.1f s, started in %.1f s)",
        ft->t_back - ft->t_begin, ft->t_stopped - ft->t_begin, ft->t_back - ft->t_stopped);
    return true;
}

/* The broker the agent's log says it serves on last ("serving ...
 * (broker URL)"), and how many times it said so. */
static unsigned
agent_serving(const struct agent_proc *ap, unsigned *port)
{
    FILE *fp = fopen(ap->log, "r");
    char line[4096], *b;
    unsigned times = 0;

    *port = 0;
    while (fp && fgets(line, sizeof(line), fp)) {
        if (strstr(line, "] info: serving ") == NULL || (b = strstr(line, "(broker ")) == NULL)
            continue;
        times++;
        b = strrchr(b, ':');
        *port = b ? (unsigned)strtoul(b + 1, NULL, 10) : 0;
    }
    if (fp)
        fclose(fp);
    return times;
}

/* --cluster: the node (1..3) ap is connected to; 0 if unknown. */
static unsigned
agent_cluster_node(const struct faults *f, const struct agent_proc *ap)
{
    unsigned port;

    agent_serving(ap, &port);
    return port >= f->cluster_base && port < f->cluster_base + 3 ? port - f->cluster_base + 1
                                                                 : 0;
}

/* --cluster: the node (1..3) that leads ap's command queue, as node `ask`
 * says; 0 if unknown. */
static unsigned
queue_leader_node(struct faults *f, const struct agent_proc *ap, unsigned ask)
{
    char *out = qmf_xasprintf("%s/leaders.txt", f->dir);
    char *queue = qmf_xasprintf("virtbus.agent.%s\t", ap->node);
    char ask_text[16], line[512], *at;
    char *argv[] = { (char *)f->opt.cluster_sh, "ctl", f->broker_dir, ask_text, "list_queues",
                     "-q", "name", "leader", NULL };
    struct child c = { .what = "cluster.sh ctl" };
    unsigned node = 0;
    FILE *fp;

    snprintf(ask_text, sizeof(ask_text), "%u", ask);
    if (run_command(f, &c, argv, out, BROKER_WAIT_S) == 0 && (fp = fopen(out, "r")) != NULL) {
        while (node == 0 && fgets(line, sizeof(line), fp))
            if (strncmp(line, queue, strlen(queue)) == 0 && (at = strrchr(line, '-')) != NULL)
                node = (unsigned)strtoul(at + 1, NULL, 10);
        fclose(fp);
    }
    child_unregister(f, &c);
    free(queue);
    free(out);
    return node >= 1 && node <= 3 ? node : 0;
}

/*
 * --cluster: the node that leads ap's command queue, asking node `first`
 * and then the others, for up to LEADER_WAIT_S: a node that has just
 * rejoined may not answer yet, and right after a kill the queue may still
 * be electing its leader.  0 if none said.
 */
static unsigned
queue_leader(struct faults *f, const struct agent_proc *ap, unsigned first)
{
    double t_end = bench_now_s() + LEADER_WAIT_S;
    unsigned i, node;

    do {
        for (i = 0; i < 3; i++)
            if ((node = queue_leader_node(f, ap, 1 + (first - 1 + i) % 3)) != 0)
                return node;
        debug(f, "no node says which leads the queue of %s yet", ap->node);
        run_for(f, 0.5);
    } while (bench_now_s() < t_end);
    return 0;
}

struct rejoin_wait {
    struct agent_proc **v;
    size_t n;
    const bool *moved;
    const unsigned *times;
};

/* Every agent that was on the killed node serves again (from another). */
static bool
agents_rejoined(struct faults *f, void *arg)
{
    struct rejoin_wait *w = arg;
    unsigned port;
    size_t i;

    for (i = 0; i < w->n; i++)
        if (w->moved[i] && agent_serving(w->v[i], &port) <= w->times[i])
            return false;
    return true;
}

/*
 * --cluster's broker fault: SIGKILL one node of the three, in turn the one
 * ap is connected to and the one leading ap's queue; wait until every
 * agent that was on it serves from another; then start the node again
 * (it rejoins), so that the next fault finds three.
 */
bool
kill_cluster_node(struct faults *f, struct fault *ft, struct agent_proc **v, size_t n,
                  struct agent_proc *ap)
{
    bool *moved = qmf_xcalloc(n, sizeof(*moved));
    unsigned *times = qmf_xcalloc(n, sizeof(*times)), port;
    struct rejoin_wait w = { v, n, moved, times };
    char *pid_path = NULL, pid_text[32] = "";
    bool ok = false;
    pid_t pid = 0;
    FILE *fp;
    size_t i;

    ft->broker = true;
    ft->agent = ap;
    ft->leader = f->cluster_faults++ % 2 == 1;
    ft->node = ft->leader ? queue_leader(f, ap, 1 + f->cluster_faults % 3)
                          : agent_cluster_node(f, ap);
    if (ft->node == 0) {
        say(f, "cannot tell which node %s %s", ft->leader ? "leads the queue of" :
            "is connected to", ap->node);
        goto out;
    }
    pid_path = qmf_xasprintf("%s/n%u/broker.pid", f->broker_dir, ft->node);
    if ((fp = fopen(pid_path, "r")) != NULL) {
        if (fgets(pid_text, sizeof(pid_text), fp) != NULL)
            pid = (pid_t)strtol(pid_text, NULL, 10);
        fclose(fp);
    }
    if (pid <= 0) {
        say(f, "no pid in %s", pid_path);
        goto out;
    }
    for (i = 0; i < n; i++) {
        moved[i] = agent_cluster_node(f, v[i]) == ft->node;
        times[i] = agent_serving(v[i], &port);
        ft->moved += moved[i];
    }
    say(f, "fault: SIGKILL cluster node %u (pid %d), %s %s; %zu agent(s) connected to it",
        ft->node, (int)pid, ft->leader ? "the leader of the queue of" : "the node of",
        ap->node, ft->moved);
    ft->t_begin = bench_now_s();
    if (kill(pid, SIGKILL) != 0) {
        say(f, "kill %d: %s", (int)pid, strerror(errno));
        goto out;
    }
    ft->t_stopped = ft->t_begin;
    if (!run_until(f, agents_rejoined, &w, READY_WAIT_S)) {
        say(f, "the agents of node %u did not come back within %.0f s", ft->node, READY_WAIT_S);
        goto out;
    }
    ft->t_rejoined = bench_now_s();
    if (broker_run_node(f, "restart", ft->node) != 0)
        goto out;
    ft->t_back = bench_now_s();
    say(f, "node %u: its agents served from other nodes after %.2f s; it was back in the "
        "cluster after %.1f s", ft->node, ft->t_rejoined - ft->t_begin, ft->t_back - ft->t_begin);
    ok = true;
out:
    free(pid_path);
    free(moved);
    free(times);
    return ok;
}

/* Blocked commands ------------------------------------------------------------ */

char *
domain_object_name(struct faults *f, struct libvirtd *d, const char *name)
{
    virDomainPtr dom = virDomainLookupByName(d->conn, name);
    char uuid[VIR_UUID_STRING_BUFLEN];
    char *object = NULL;

    if (dom == NULL) {
        say(f, "no domain %s: %s", name, libvirt_error());
        return NULL;
    }
    if (virDomainGetUUIDString(dom, uuid) == 0)
        object = qmf_xasprintf("domain:%s", uuid);
    virDomainFree(dom);
    return object;
}

/* Threads of a process blocked opening a FIFO that nobody reads: /proc
 * lists its threads, and wchan says where each one sleeps. */
unsigned
fifo_waiters(pid_t pid)
{
    char *dir = qmf_xasprintf("/proc/%d/task", (int)pid), buf[128];
    DIR *dp = opendir(dir);
    struct dirent *de;
    unsigned n = 0;

    while (dp && (de = readdir(dp)) != NULL) {
        char *path;
        FILE *fp;

        if (de->d_name[0] == '.')
            continue;
        path = qmf_xasprintf("%s/%s/wchan", dir, de->d_name);
        fp = fopen(path, "r");
        if (fp && fgets(buf, sizeof(buf), fp) && strstr(buf, "wait_for_partner"))
            n++;
        if (fp)
            fclose(fp);
        free(path);
    }
    if (dp)
        closedir(dp);
    free(dir);
    return n;
}

bool
fifos_blocked(struct faults *f, void *arg)
{
    struct fifo_wait *w = arg;

    return fifo_waiters(w->pid) >= w->n;
}

/* Reads a FIFO to its end, so that the save writing it finishes. */
bool
drain_fifo(const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    char buf[65536];
    bool ok = false;

    if (fd < 0)
        return false;
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        ssize_t r;

        if (poll(&p, 1, 20000) <= 0)
            break;
        r = read(fd, buf, sizeof(buf));
        if (r == 0) {
            ok = true;
            break;
        }
        if (r < 0 && errno != EAGAIN && errno != EINTR)
            break;
    }
    close(fd);
    return ok;
}


/*
 * The guest "test" of a fresh agent saved into a FIFO nobody reads yet: a
 * command that runs until drain_fifo(*fifo).  false (a failed check said
 * why) if it could not be set up; *fifo and *object are the caller's to
 * free either way.
 */
bool
start_blocked_save(struct faults *f, struct agent_proc *ap, const char *fifo_name,
                   char **fifo, char **object, struct cmd **save)
{
    struct fifo_wait fw;
    qmf_value *args;

    *fifo = *object = NULL;
    if (libvirtd_start(f, &ap->lvd) != 0 ||
        (*object = domain_object_name(f, &ap->lvd, "test")) == NULL ||
        agent_spawn(f, ap) != 0 || !agent_wait_ready(f, ap)) {
        check(f, false, "the agent starts");
        return false;
    }
    *fifo = qmf_xasprintf("%s/%s", ap->lvd.dir, fifo_name);
    unlink(*fifo);
    if (mkfifo(*fifo, 0600) != 0) {
        check(f, false, "mkfifo %s: %s", *fifo, strerror(errno));
        return false;
    }
    args = qmf_map();
    qmf_map_set(args, "filename", qmf_string(*fifo));
    *save = cmd_new(f, ap, *object, "save", args, LONG_TTL_MS);
    stream(f, ap, 1);
    fw.pid = ap->lvd.proc.pid;
    fw.n = 1;
    return check(f, run_until(f, fifos_blocked, &fw, ANSWER_WAIT_S),
                 "a save running (blocked)");
}

/* For a failed check: what a program said. */
void
print_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    char line[4096];
    unsigned n = 0;

    printf("    --- %s\n", path);
    while (fp && n++ < 40 && fgets(line, sizeof(line), fp))
        printf("    %s", line);
    if (fp)
        fclose(fp);
}

/* The run ----------------------------------------------------------------------- */

int
faults_setup(struct faults *f)
{
    struct timeval tick = { 0, TICK_MS * 1000 };
    char *shown;

    if (access(f->opt.virtbusd, X_OK) != 0 || access(f->opt.virtbusd_failpoints, X_OK) != 0 ||
        access(f->opt.cluster ? f->opt.cluster_sh : f->opt.broker_sh, X_OK) != 0 ||
        access(LIBVIRTD, X_OK) != 0) {
        say(f, "missing %s, %s, %s or %s (packaging/install-deps.sh installs libvirtd)",
            f->opt.virtbusd, f->opt.virtbusd_failpoints,
            f->opt.cluster ? f->opt.cluster_sh : f->opt.broker_sh, LIBVIRTD);
        return -1;
    }
    if (f->opt.dir) {
        f->dir = qmf_xstrdup(f->opt.dir);
        if (mkdir(f->dir, 0755) != 0 && errno != EEXIST) {
            say(f, "cannot create %s: %s", f->dir, strerror(errno));
            return -1;
        }
    } else {
        f->dir = qmf_xstrdup("/tmp/virtbus-faults-XXXXXX");
        if (mkdtemp(f->dir) == NULL) {
            say(f, "mkdtemp: %s", strerror(errno));
            return -1;
        }
    }
    /* The broker runs as rabbitmq and must reach its directory. */
    chmod(f->dir, 0755);
    f->broker_dir = qmf_xasprintf("%s/broker", f->dir);
    if (evthread_use_pthreads() != 0 || (f->base = event_base_new()) == NULL) {
        say(f, "cannot create the event loop");
        return -1;
    }
    f->tick_ev = event_new(f->base, -1, EV_PERSIST, tick_cb, f);
    event_add(f->tick_ev, &tick);
    f->chld_ev = evsignal_new(f->base, SIGCHLD, sigchld_cb, f);
    f->int_ev = evsignal_new(f->base, SIGINT, interrupt_cb, f);
    f->term_ev = evsignal_new(f->base, SIGTERM, interrupt_cb, f);
    event_add(f->chld_ev, NULL);
    event_add(f->int_ev, NULL);
    event_add(f->term_ev, NULL);
    virSetErrorFunc(NULL, quiet_libvirt);
    if (virInitialize() != 0) {
        say(f, "cannot initialise libvirt");
        return -1;
    }
    say(f, "work directory %s, seed %u", f->dir, f->opt.seed);
    /* broker.sh reads it (scenario 5, a command longer than it). */
    setenv("VIRTBUS_BROKER_CONSUMER_TIMEOUT_MS", CONSUMER_TIMEOUT_MS_TEXT, 1);
    if (trust_setup(f) != 0 || broker_start(f) != 0)
        return -1;
    shown = bus_url_redact(f->url);
    say(f, "private broker at %s", shown);
    free(shown);
    return console_open(f);
}

void
faults_teardown(struct faults *f, bool keep)
{
    size_t i;

    for (i = 0; i < f->nagents; i++) {
        struct agent_proc *ap = f->agents[i];

        if (ap->proc.pid)
            child_stop(f, &ap->proc, SIGKILL, 10);
        if (ap->lvd.conn || ap->lvd.proc.pid)
            libvirtd_kill(f, &ap->lvd);
    }
    if (f->bus)
        bus_close_wait(f->bus, 2000);
    f->bus = NULL;
    if (f->dead_bus)
        bus_close_wait(f->dead_bus, 2000);
    f->dead_bus = NULL;
    if (f->bus_threads && !bus_threads_free(f->bus_threads, 2000))
        say(f, "the console's bus threads had not ended after 2 s");
    f->bus_threads = NULL;
    if (f->broker_running && broker_run(f, "stop") != 0)
        say(f, "could not stop the broker in %s", f->broker_dir);
    for (i = 0; i < f->ncmds; i++)
        cmd_free(f->cmds[i]);
    free(f->cmds);
    for (i = 0; i < f->nqueries; i++) {
        qmf_free(f->queries[i]->results);
        free(f->queries[i]->id);
        free(f->queries[i]);
    }
    free(f->queries);
    for (i = 0; i < f->nagents; i++)
        agent_free(f->agents[i]);
    free(f->agents);
    free(f->children);
    if (f->dir && !keep)
        nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    else if (f->dir)
        say(f, "kept %s (agents' logs and journals, the broker's data and log)", f->dir);
    if (f->tick_ev)
        event_free(f->tick_ev);
    if (f->chld_ev)
        event_free(f->chld_ev);
    if (f->int_ev)
        event_free(f->int_ev);
    if (f->term_ev)
        event_free(f->term_ev);
    if (f->base)
        event_base_free(f->base);
    trust_teardown(f);
    free(f->dir);
    free(f->broker_dir);
    free(f->url);
}
