/*
 * virtbus-faults: the fault tests of docs/RELIABILITY.md.  It starts a
 * private broker of its own (tests/harness/broker.sh), agents as separate
 * virtbusd processes (so that they can be SIGKILLed), each with its own
 * journal and its own private libvirtd (whose state outlives the agent, so
 * that effects are counted from outside), injects faults, and counts what
 * became of every command:
 *
 *   1. a stream of commands across agents while the broker restarts and
 *      agents are SIGKILLed: executed once each, nothing lost;
 *   2. commands queued while an agent is stopped, some expiring there: the
 *      live ones run in order, the expired ones are reported expired;
 *   3. the libvirtd restarted during a stream: refusals while it is gone,
 *      success and a fresh inventory after the agent reconnects;
 *   4. a command that crashes the agent: dead-lettered after the delivery
 *      limit, and the agent serves again;
 *   5. SIGTERM while commands run: they finish, their outcomes arrive, the
 *      agent exits 0, and the commands still queued run after a restart;
 *      a command that never ends does not hold it past stop_timeout; a
 *      command longer than the broker's consumer_timeout is acked early;
 *   6. the controller (virtbus) broadcasting while the broker restarts:
 *      every node's outcome reported, each command run once.
 *
 * With --cluster the broker is a 3-node RabbitMQ cluster
 * (tests/harness/cluster.sh) and agents, console and controller are given
 * its three URLs; a "broker restart" of scenarios 1 and 6 becomes a
 * SIGKILL of one node, in turn the node an agent is connected to and the
 * node that leads its command queue (a quorum queue), restarted after the
 * agents are back.  It prints how long the agents took to come back.
 *
 *   virtbus-faults [--short] [-s 1,2,...] [-n COMMANDS] [-a AGENTS] [-w WINDOW]
 *                  [-r RESTARTS] [-k KILLS] [-d DIR] [--transport amqp091|amqp10]
 *                  [--keep] [-v]
 *
 * With --transport amqp10 the agents, the console and the controller speak
 * AMQP 1.0 to the same broker (its rabbitmq_amqp1_0 plugin).
 *
 * Every scenario prints its figures (sent, executed, executed twice, lost,
 * interrupted, time to recover) and its checks; the exit status is 0 only
 * if every check held.  Every wait is for a state (an answer, a record, a
 * process gone, a line in an agent's log), with a bound; the only pauses
 * are part of a fault (how long a libvirtd stays down, a command runs),
 * never a guess at when something is done.  Only processes this program
 * started are stopped, by pid.
 *
 * The fleet signs, as one is deployed (docs/SECURITY.md): an issuer made
 * for the run, a key and credential per agent, and an admin caller whose
 * key signs every request this program and the CLI of scenario 6 send.
 */
/* nftw(3) */
#define _XOPEN_SOURCE 700

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
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
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "bench/measure.h"
#include "bus/bus.h"
#include "schema/qmf/codec.h"
#include "schema/qmf/error.h"
#include "schema/qmf/value.h"
#include "trust/credential.h"
#include "trust/key.h"
#include "trust/message.h"

#define REPLY_QUEUE "virtbus.faults.replies"
#define EVENT_QUEUE "virtbus.faults.events"
#define DEAD_LETTERS "virtbus.dead-letters"    /* the agents' (agent/agent_impl.h) */
#define CMD_PREFIX "vf-"          /* message-ids and correlation-ids of commands */
#define QUERY_PREFIX "vq-"
#define LIBVIRTD "/usr/sbin/libvirtd"
#define TICK_MS 100
#define LONG_TTL_MS (30u * 60 * 1000)
/*
 * Bounds, not delays: every wait ends as soon as what it waits for holds,
 * so a passing run never waits them out.  They are generous so that a
 * busy machine (a parallel build, other tests) cannot exceed them.
 */
#define READY_WAIT_S 120.0        /* an agent's start; more after a broker restart */
#define STOP_TIMEOUT_S 60         /* the agents' default (packaging/virtbusd.conf) */
#define EXIT_WAIT_S (STOP_TIMEOUT_S + 30.0)
#define ANSWER_WAIT_S 90.0        /* a few commands taken, under way or answered */
#define BROKER_WAIT_S 480.0       /* broker.sh start or restart: its own bounds */
#define DELIVERY_LIMIT 5          /* the agents' default (packaging/virtbusd.conf) */
/* The private broker's consumer_timeout: short, so that a command can
 * outlast it here; long enough that no prefetched command waits that long. */
#define CONSUMER_TIMEOUT_MS 15000
#define CONSUMER_TIMEOUT_MS_TEXT "15000"
#define ACK_LONG_AFTER_S 900      /* the agents' default (packaging/virtbusd.conf) */
/* A stream with no answer for this long is stuck: what is missing is lost.
 * It covers an agent's reconnect backoff after a broker restart (30 s)
 * with room for a busy machine; only a failing run waits that long. */
#define STALL_S 120.0
/*
 * --cluster: an outstanding command with no answer for this long after the
 * stream stood still is asked again (same message-id), as the controller
 * does (docs/CLUSTER.md): RabbitMQ 3.10 was seen to drop answers published
 * into a quorum queue while it elected a leader, and confirm them.  The
 * agent answers a command it ran from its journal.
 */
#define REASK_S 5.0

struct faults;

struct options {
    unsigned scenarios;             /* bit i: scenario i */
    size_t commands, agents, window;
    size_t dup_every;               /* scenario 1: every Nth command sent twice; 0: none */
    unsigned restarts, kills;
    unsigned pace_s;                /* scenario 1: send the stream over this long; 0: at once */
    unsigned queued, short_ttl_ms;  /* scenario 2 */
    unsigned seed;
    const char *dir;
    const char *virtbusd, *broker_sh, *virtbus, *cluster_sh;
    const char *virtbusd_failpoints;   /* for an agent with failpoints */
    const char *scheme;             /* of every URL: "amqp" (0-9-1) or "amqp10" */
    bool keep, verbose, is_short, cluster;
};

/* A process this program started. */
struct child {
    const char *what;
    pid_t pid;                      /* 0: none running */
    int status;                     /* its wait status, once exited */
    double t_exit;
    unsigned exits;
};

struct libvirtd {
    char *dir, *uri, *socket;
    struct child proc;
    /* Ours: keeps the test driver's state alive while agents come and go
     * (it lives as long as one connection does), and counts effects. */
    virConnectPtr conn;
};

struct cmd;

/* A virtbusd process and the stream of commands it is sent. */
struct agent_proc {
    char *node, *name, *address, *conf, *log, *state_dir;
    const char *failpoints;
    struct libvirtd lvd;
    struct child proc;
    unsigned spawns;
    double t_spawn;
    /* Restarted, as systemd would, if it dies when nobody stopped it: a
     * crash the scenario fails on (unless it crashes on purpose). */
    bool supervised, may_crash;
    size_t crashes;
    unsigned crashes_not_abort;
    unsigned stop_timeout;          /* its configuration's, in s */
    unsigned ack_long_after;        /* its ack_long_commands_after, in s */
    /* What it said on the bus. */
    unsigned started, stopping, drv_down, drv_up, interrupted_records, heartbeats;
    double t_started, t_stopping, t_drv_down, t_drv_up, t_heartbeat;
    /* Its commands, in sending order; [lo, next) have been sent. */
    struct cmd **cmds;
    size_t ncmds, cap, lo, next, outstanding, window, answered;
    /* When each answer arrived, for the recovery times. */
    double *answer_t;
    size_t nanswer_t, answer_cap;
};

enum cmd_state { CMD_UNSENT, CMD_SENDING, CMD_CONFIRMED };

struct cmd {
    struct faults *f;
    char *id;                       /* message-id = correlation-id (= domain name) */
    struct agent_proc *agent;
    char *object, *method;
    qmf_value *args;
    uint64_t ttl_ms;
    int64_t created_ms;             /* set at its first send (or before, to backdate) */
    enum cmd_state state;
    unsigned publishes, confirm_failures;
    bool twice;                     /* published twice on purpose */
    double t_sent, t_answer;
    /* The answers (replies in our durable reply queue). */
    unsigned answers;
    bool ok, conflicting;
    uint32_t code;
    char *text;
    qmf_value *out;
    size_t answer_seq;
    /* Its commandResult records. */
    unsigned events;
    char *outcome;
    uint32_t event_code;
    size_t event_seq;
    bool dead_lettered;
    char *dead_reason;
    bool effect;                    /* found in the libvirtd afterwards */
};

struct query {
    char *id;
    qmf_value *results;
    bool done, failed;
};

/* An injected fault of scenario 1 and how long the stream took to recover. */
struct fault {
    bool broker;
    /* --cluster: the node SIGKILLed, why (the node of `agent`, or the
     * leader of its queue), and when every agent that was connected to
     * it served again from another (t_rejoined; 0: none was). */
    unsigned node;
    bool leader;
    size_t moved;
    double t_rejoined;
    struct agent_proc *agent;
    pid_t pid;
    double t_begin, t_stopped, t_back;
};

struct faults {
    struct options opt;
    struct event_base *base;
    struct event *tick_ev, *chld_ev, *int_ev, *term_ev;
    bool interrupted;
    double t0;
    uint64_t prng;
    char *dir, *broker_dir, *url;      /* --cluster: the nodes' URLs, space-separated */
    unsigned cluster_base;          /* --cluster: node N's AMQP port is base + N - 1 */
    unsigned cluster_faults;        /* --cluster: node kills so far (they alternate) */
    double failover_worst;          /* --cluster: the longest time until every agent was back */
    /* Scenario 1's pace (paced_n: while it runs): an agent's command k of
     * n is not sent before paced_from + pace_s * k / n. */
    double paced_from;
    size_t paced_n;
    struct child broker_cmd;        /* broker.sh, while it runs */
    bool broker_running;
    struct bus_conn *bus;
    /* The console's connect and goodbye threads: joined before OpenSSL's
     * cleanup at exit. */
    struct bus_threads *bus_threads;
    bool bus_up;
    unsigned bus_ups;
    /* --transport amqp10: the dead letters, read over 0-9-1 (console_open). */
    struct bus_conn *dead_bus;
    bool dead_bus_up;
    struct cmd **cmds;
    size_t ncmds, cmds_cap, answered, answer_seq, event_seq;
    struct query **queries;
    size_t nqueries;
    struct child **children;
    size_t nchildren;
    struct agent_proc **agents;
    size_t nagents;
    size_t stray_replies, other_dead_letters;
    /* Trust for the run: the issuer's public key file, the caller every
     * request is signed as, and a configuration for the CLI that does
     * the same. */
    struct trust_key *issuer, *caller;
    char *trust_dir, *issuer_pub, *caller_credential, *cli_conf;
    /* The scenario running. */
    const char *scenario;
    unsigned checks_failed, scenarios_failed, scenarios_run;
};

/* Time and output ---------------------------------------------------------- */

static int64_t
wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void __attribute__((format(printf, 2, 3)))
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

static void __attribute__((format(printf, 2, 3)))
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
static bool __attribute__((format(printf, 3, 4)))
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

static void reap_children(struct faults *f);
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

typedef bool (*cond_fn)(struct faults *f, void *arg);

/* Runs the loop until cond holds or timeout_s passed; returns cond. */
static bool
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
static bool
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
static bool
run_while_moving(struct faults *f, cond_fn cond, void *arg, double idle_s)
{
    return run_while_moving_on(f, cond, arg, &f->answered, idle_s);
}

/* ... for as long as commandResult records come. */
static bool
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
static void
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
static int
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

static void
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

static bool
child_gone(struct faults *f, void *arg)
{
    return ((struct child *)arg)->pid == 0;
}

static void
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
static bool
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

static const char *
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
static int
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

static void
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
static qmf_value *
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

static struct agent_proc *
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

static int
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

static bool
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
static int
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

static bool
agent_term(struct faults *f, struct agent_proc *ap, double wait_s)
{
    return agent_term_wait(f, ap, SIGTERM, wait_s);
}

/* The scenario's end: agents stopped (each must exit 0), their libvirtds
 * too.  SIGTERM goes to all first, so that they stop side by side. */
static void
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

static void
check_no_crashes(struct faults *f, struct agent_proc **v, size_t n)
{
    size_t crashes = 0, i;

    for (i = 0; i < n; i++)
        crashes += v[i]->crashes;
    check(f, crashes == 0, "no agent died on its own: %zu crash(es)", crashes);
}

/* Commands -------------------------------------------------------------------- */

static struct cmd *
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
static struct cmd *
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
static void
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
    if (!(partial && partial->kind == QMF_BOOL && partial->u.b))
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
                debug(f, "  header %s", m->headers->u.map.items[i].key);
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
static struct query *
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

static bool
query_done(struct faults *f, void *arg)
{
    return ((struct query *)arg)->done;
}

/* Waiting for answers ------------------------------------------------------- */

struct cmd_range {
    struct cmd **v;
    size_t n;
};

static bool
range_answered(struct faults *f, void *arg)
{
    struct cmd_range *r = arg;
    size_t i;

    for (i = 0; i < r->n; i++)
        if (r->v[i]->answers == 0)
            return false;
    return true;
}

static bool
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
static bool
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
static void
stream(struct faults *f, struct agent_proc *ap, size_t window)
{
    ap->window = window;
    pump_agent(f, ap);
}

static bool
is_interrupted(const struct cmd *c)
{
    return c->answers > 0 && !c->ok && c->code == QMF_ERR_INTERRUPTED;
}

/* A second execution of a define fails: "domain '...' already exists". */
static bool
is_repeat(const struct cmd *c)
{
    return c->answers > 0 && !c->ok && c->text && strstr(c->text, "already exists");
}

/* Marks the effects found on the agents' libvirtds; returns the number of
 * domains named like commands that no command of this set made. */
static int
find_effects(struct faults *f, struct agent_proc **v, size_t n, size_t *stray)
{
    size_t i, j;

    *stray = 0;
    for (i = 0; i < n; i++) {
        qmf_value *names = libvirtd_domains(f, &v[i]->lvd);

        if (names == NULL)
            return -1;
        for (j = 0; j < qmf_map_len(names); j++) {
            const char *name = names->u.map.items[j].key;
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
static bool
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

struct log_wait {
    const char *path, *text;
};

/* The last n (at most 64) lines of an agent's log, for a check that
 * failed on something only the log explains. */
static void
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
static bool
log_has(struct faults *f, void *arg)
{
    struct log_wait *w = arg;

    return file_contains(w->path, w->text);
}

/* Scenario 1: a stream under faults ------------------------------------------- */

struct answered_at_least {
    size_t base, n;
};

static bool
answered_at_least(struct faults *f, void *arg)
{
    struct answered_at_least *a = arg;

    return f->answered - a->base >= a->n;
}

/* First answer from ap at or after t; < 0 if none. */
static double
first_answer_after(const struct agent_proc *ap, double t)
{
    size_t i;

    for (i = 0; i < ap->nanswer_t; i++)
        if (ap->answer_t[i] >= t)
            return ap->answer_t[i];
    return -1;
}

static bool
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

static bool
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
static bool
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
    ft->node = ft->leader ? queue_leader_node(f, ap, 1 + f->cluster_faults % 3)
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

/* --cluster: every confirmed command of v still unanswered is sent again
 * (same message-id); how many. */
static size_t
reask_unanswered(struct faults *f, struct agent_proc **v, size_t n)
{
    size_t i, j, count = 0;

    for (i = 0; i < n; i++) {
        for (j = v[i]->lo; j < v[i]->next; j++) {
            struct cmd *c = v[i]->cmds[j];

            if (c->answers == 0 && !c->dead_lettered && c->state == CMD_CONFIRMED) {
                c->state = CMD_UNSENT;
                count++;
            }
        }
        pump_agent(f, v[i]);
    }
    return count;
}

/*
 * Runs the stream until cond holds or it stood still STALL_S.  With
 * --cluster, a stream that stood still REASK_S asks its unanswered
 * commands again first (*reasked counts them).
 */
static bool
stream_wait(struct faults *f, cond_fn cond, void *arg, struct agent_proc **v, size_t n,
            size_t *reasked)
{
    size_t seen = f->answered;
    double t_moved = bench_now_s();

    if (!f->opt.cluster)
        return run_while_moving(f, cond, arg, STALL_S);
    while (!run_while_moving(f, cond, arg, REASK_S)) {
        if (f->answered != seen) {
            seen = f->answered;
            t_moved = bench_now_s();
        }
        if (f->interrupted || bench_now_s() - t_moved >= STALL_S)
            return false;
        *reasked += reask_unanswered(f, v, n);
    }
    return true;
}

/* The latest first answer after t among v: when every agent answered again. */
static double
all_answering_after(struct agent_proc **v, size_t n, double t, size_t *waiting)
{
    double last = t, a;
    size_t i;

    *waiting = 0;
    for (i = 0; i < n; i++) {
        if ((a = first_answer_after(v[i], t)) < 0)
            (*waiting)++;
        else if (a > last)
            last = a;
    }
    return last;
}

static void
print_recovery(struct faults *f, const struct fault *ft, size_t index, struct agent_proc **v,
               size_t n)
{
    size_t i;

    if (ft->node != 0) {
        size_t waiting;
        double all = all_answering_after(v, n, ft->t_begin, &waiting) - ft->t_begin;
        double rejoin = ft->moved ? ft->t_rejoined - ft->t_begin : 0;

        printf("    fault %zu: t=%.1fs SIGKILL cluster node %u (%s %s): %zu agent(s) "
               "reconnected to other nodes within %.2f s; every agent answering within "
               "%.2f s of the kill%s\n", index, ft->t_begin - f->t0, ft->node,
               ft->leader ? "leader of the queue of" : "connected to", ft->agent->node,
               ft->moved, rejoin, all, waiting ? " (some streams were done)" : "");
        if (all > f->failover_worst)
            f->failover_worst = all;
        if (rejoin > f->failover_worst)
            f->failover_worst = rejoin;
        return;
    }

    if (!ft->broker) {
        double t = first_answer_after(ft->agent, ft->t_back);

        if (t < 0)
            printf("    fault %zu: t=%.1fs SIGKILL %s: no answer since (its stream was done)\n",
                   index, ft->t_begin - f->t0, ft->agent->node);
        else
            printf("    fault %zu: t=%.1fs SIGKILL %s: recovered in %.2f s "
                   "(first answer after the kill)\n",
                   index, ft->t_begin - f->t0, ft->agent->node, t - ft->t_begin);
        return;
    }
    {
        double worst = 0, first = -1;
        size_t waiting = 0;

        for (i = 0; i < n; i++) {
            double t = first_answer_after(v[i], ft->t_back);

            if (t < 0) {
                waiting++;
                continue;
            }
            if (t - ft->t_back > worst)
                worst = t - ft->t_back;
            if (first < 0 || t - ft->t_back < first)
                first = t - ft->t_back;
        }
        printf("    fault %zu: t=%.1fs broker restart: down %.1f s; after it was back, "
               "first answer in %.2f s, every agent answering in %.2f s%s\n",
               index, ft->t_begin - f->t0, ft->t_back - ft->t_begin, first < 0 ? 0 : first,
               worst, waiting ? " (some streams were done)" : "");
    }
}

static int
scenario_stream(struct faults *f)
{
    size_t A = f->opt.agents, N = f->opt.commands, W = f->opt.window;
    size_t nfaults = f->opt.restarts + f->opt.kills, i, j, kills = 0, restarts = 0;
    struct agent_proc **v = qmf_xcalloc(A, sizeof(*v));
    struct fault *faults = qmf_xcalloc(nfaults + 1, sizeof(*faults));
    struct cmd_range all;
    size_t executed = 0, twice = 0, lost = 0, interrupted = 0, int_effect = 0, errors = 0;
    size_t phantom = 0, conflicting = 0, stray = 0, answered_again = 0, resent = 0;
    size_t no_record = 0, dead = 0, int_records = 0, first_cmd = f->ncmds, dup_sent = 0;
    size_t reasked = 0;
    struct answered_at_least goal = { f->answered, 0 };
    double t_start, t_sent_all = 0, t_done;
    bool setup_ok = true;

    printf("scenario 1: stream under faults: %zu commands across %zu agents, window %zu, "
           "%u broker restart(s), %u agent kill(s), every %zuth command sent twice\n", N, A,
           W, f->opt.restarts, f->opt.kills, f->opt.dup_every);
    for (i = 0; i < A && setup_ok; i++) {
        char node[64];

        snprintf(node, sizeof(node), "faults-s1-a%02zu", i);
        v[i] = agent_new(f, node, NULL);
        setup_ok = agent_start(f, v[i]) == 0;
    }
    if (!setup_ok) {
        check(f, false, "%zu agents start", A);
        goto out;
    }
    for (i = 0; i < N; i++) {
        struct cmd *c = cmd_define(f, v[i % A], LONG_TTL_MS);

        c->twice = f->opt.dup_every && i % f->opt.dup_every == f->opt.dup_every - 1;
    }
    all.v = &f->cmds[first_cmd];
    all.n = N;
    t_start = bench_now_s();
    if (f->opt.pace_s > 0) {
        f->paced_from = t_start;
        f->paced_n = N;
    }
    say(f, "stream of %zu commands started%s", N, f->opt.pace_s ? ", paced" : "");
    for (i = 0; i < A; i++)
        stream(f, v[i], W);

    /*
     * Faults at evenly spaced points of the stream, broker restarts and
     * kills interleaved; kills go round the agents.
     */
    for (j = 0; j < nfaults && !f->interrupted; j++) {
        bool broker = restarts < f->opt.restarts &&
                      (kills >= f->opt.kills ||
                       (restarts + 1) * (f->opt.kills + 1) <= (kills + 1) * (f->opt.restarts + 1));

        goal.n = N * (j + 1) / (nfaults + 1);
        if (!stream_wait(f, answered_at_least, &goal, v, A, &reasked)) {
            say(f, "the stream stalled at %zu answers", f->answered - goal.base);
            break;
        }
        if (broker && f->opt.cluster) {
            kill_cluster_node(f, &faults[j], v, A, v[restarts % A]);
            restarts++;
        } else if (broker) {
            restart_broker(f, &faults[j]);
            restarts++;
        } else {
            kill_agent(f, &faults[j], v[kills % A]);
            kills++;
        }
    }
    stream_wait(f, range_answered, &all, v, A, &reasked);
    t_done = bench_now_s();
    for (i = 0; i < N; i++)
        if (all.v[i]->t_sent > t_sent_all)
            t_sent_all = all.v[i]->t_sent;
    say(f, "stream done: %zu of %zu commands answered in %.1f s", f->answered - goal.base, N,
        t_done - t_start);
    f->paced_n = 0;
    run_while_recording(f, range_recorded, &all);

    if (find_effects(f, v, A, &stray) != 0)
        check(f, false, "the libvirtds can be asked what exists");
    for (i = 0; i < N; i++) {
        struct cmd *c = all.v[i];

        executed += c->effect;
        resent += c->publishes > (c->twice ? 2u : 1u);
        dup_sent += c->twice;
        answered_again += c->answers > 1;
        conflicting += c->conflicting;
        dead += c->dead_lettered;
        if (c->answers == 0) {
            lost++;
            debug(f, "lost: %s on %s (published %u time(s), %s, effect %s%s%s)", c->id,
                  c->agent->node, c->publishes, c->state == CMD_CONFIRMED ? "confirmed" :
                  "unconfirmed", c->effect ? "yes" : "no",
                  c->dead_lettered ? ", dead-lettered: " : "",
                  c->dead_lettered ? c->dead_reason : "");
        } else if (is_interrupted(c)) {
            interrupted++;
            int_effect += c->effect;
        } else if (is_repeat(c)) {
            twice++;
        } else if (!c->ok) {
            errors++;
            debug(f, "error: %s on %s: %u %s", c->id, c->agent->node, c->code, c->text);
        } else if (!c->effect) {
            phantom++;
        }
        if (c->answers > 0 && c->events == 0 && !is_interrupted(c))
            no_record++;
    }
    for (i = 0; i < A; i++)
        int_records += v[i]->interrupted_records;

    printf("  figures: sent %zu, executed %zu, executed twice %zu, lost %zu, "
           "interrupted %zu (effect happened: %zu, did not: %zu)\n",
           N, executed, twice, lost, interrupted, int_effect, interrupted - int_effect);
    printf("  also: sent twice on purpose %zu, re-sent by the console after a failed "
           "confirm %zu (same message-id), answered more than once %zu (journal replays, "
           "spool flushes), other errors %zu, dead-lettered %zu\n", dup_sent, resent,
           answered_again, errors, dead);
    printf("  time: %.1f s for the stream (%.0f commands/s), last send at %.1f s\n",
           t_done - t_start, N / (t_done - t_start), t_sent_all - t_start);
    for (j = 0; j < nfaults; j++)
        if (faults[j].t_begin > 0)
            print_recovery(f, &faults[j], j + 1, v, A);
    if (f->opt.cluster)
        printf("  asked again after %.0f s without an answer (same message-id, as the "
               "controller does): %zu command(s)\n", REASK_S, reasked);
    if (f->opt.cluster)
        printf("  failover: every agent back (serving from another node, and answering) "
               "within %.2f s of a node's SIGKILL, the longest of %zu\n", f->failover_worst,
               restarts);

    check(f, kills == f->opt.kills && restarts == f->opt.restarts,
          "%zu of %u kills and %zu of %u broker restarts done", kills, f->opt.kills,
          restarts, f->opt.restarts);
    check(f, twice == 0, "executed twice: %zu", twice);
    check(f, lost == 0, "lost (no answer, %.0f s after the last one): %zu", STALL_S, lost);
    check(f, errors == 0, "other errors: %zu", errors);
    check(f, phantom == 0, "answered ok without an effect: %zu", phantom);
    check(f, stray == 0, "effects no command of this stream made: %zu", stray);
    check(f, conflicting == 0, "answered twice, differently: %zu", conflicting);
    check(f, executed + (interrupted - int_effect) == N,
          "every command has exactly one effect or was reported interrupted "
          "(%zu + %zu of %zu)", executed, interrupted - int_effect, N);
    check(f, interrupted <= f->opt.kills * W,
          "interrupted %zu <= kills x window (%zu)", interrupted, f->opt.kills * W);
    check(f, no_record == 0, "answered commands without a commandResult record: %zu",
          no_record);
    check(f, int_records >= interrupted,
          "interrupted commands recorded at the agents' restarts: %zu (for %zu)",
          int_records, interrupted);
    check_no_crashes(f, v, A);
out:
    agents_teardown(f, v, A);
    free(v);
    free(faults);
    return 0;
}

/* Scenario 2: queued while stopped ------------------------------------------- */

/* Answered, or dropped by the broker into the dead letters. */
static bool
range_settled(struct faults *f, void *arg)
{
    struct cmd_range *r = arg;
    size_t i;

    for (i = 0; i < r->n; i++)
        if (r->v[i]->answers == 0 && !r->v[i]->dead_lettered)
            return false;
    return true;
}

/* The TTLs meant to run out (all but LONG_TTL_MS) did, by the wall clock,
 * which agents compare them with. */
static bool
deadlines_passed(struct faults *f, void *arg)
{
    struct cmd_range *r = arg;
    int64_t now = wall_ms();
    size_t i;

    for (i = 0; i < r->n; i++)
        if (r->v[i]->ttl_ms < LONG_TTL_MS &&
            r->v[i]->created_ms + (int64_t)r->v[i]->ttl_ms >= now)
            return false;
    return true;
}

static bool
reported_expired(const struct cmd *c)
{
    return c->answers > 0 && !c->ok && c->code == QMF_ERR_EXPIRED && c->outcome &&
           strcmp(c->outcome, "expired") == 0;
}

/*
 * Three kinds of commands, interleaved: live ones (a long TTL), short-lived
 * ones whose TTL runs out while they wait in the queue, and late ones,
 * created (by their console's clock) longer ago than their TTL: the broker,
 * which counts a TTL from its own enqueue time, hands them over, and only
 * the agent can tell they are past their deadline (as for a command a
 * console sends again after a broker outage, or a console clock behind).
 */
enum { Q_LIVE, Q_SHORT, Q_LATE };
#define LATE_TTL_MS 60000
#define LATE_AGE_MS 120000

static int
scenario_queued(struct faults *f)
{
    struct agent_proc *ap = agent_new(f, "faults-s2", NULL);
    size_t n = f->opt.queued, i, first = f->ncmds;
    size_t count[3] = { 0 }, live_ok = 0, live_effect = 0, ran = 0;
    size_t short_reported = 0, short_dropped = 0, late_reported = 0, late_dropped = 0;
    size_t unaccounted = 0, order_answers = 0, order_events = 0;
    size_t last_answer = 0, last_event = 0;
    struct cmd_range all;
    int *kind = qmf_xcalloc(n ? n : 1, sizeof(*kind));
    double t_term, t_restart;
    size_t stray;

    printf("scenario 2: %zu commands queued while the agent is stopped: every 4th with a "
           "%u ms TTL that runs out in the queue, every 4th sent %d s late for its %d s "
           "TTL\n", n, f->opt.short_ttl_ms, LATE_AGE_MS / 1000, LATE_TTL_MS / 1000);
    if (agent_start(f, ap) != 0) {
        check(f, false, "the agent starts");
        goto out;
    }
    t_term = bench_now_s();
    check(f, agent_term(f, ap, EXIT_WAIT_S), "SIGTERM: it exited 0 in %.1f s",
          bench_now_s() - t_term);
    for (i = 0; i < n; i++) {
        struct cmd *c;

        kind[i] = i % 4 == 1 ? Q_SHORT : i % 4 == 3 ? Q_LATE : Q_LIVE;
        c = cmd_define(f, ap, kind[i] == Q_SHORT ? f->opt.short_ttl_ms :
                              kind[i] == Q_LATE ? LATE_TTL_MS : LONG_TTL_MS);
        if (kind[i] == Q_LATE)
            c->created_ms = wall_ms() - LATE_AGE_MS;
        count[kind[i]]++;
    }
    all.v = &f->cmds[first];
    all.n = n;
    stream(f, ap, n);
    if (!check(f, run_until(f, range_confirmed, &all, ANSWER_WAIT_S),
               "the broker took all %zu commands (publisher confirms)", n))
        goto out;
    /* The short TTLs run out while it is down: past every deadline by the
     * clock the agent compares them with. */
    run_until(f, deadlines_passed, &all, f->opt.short_ttl_ms / 1000.0 + 60.0);
    t_restart = bench_now_s();
    if (agent_spawn(f, ap) != 0 || !agent_wait_ready(f, ap)) {
        check(f, false, "the agent starts again");
        goto out;
    }
    say(f, "agent back after %.1f s down", t_restart - t_term);
    run_while_moving(f, range_settled, &all, STALL_S);
    run_while_recording(f, range_recorded, &all);
    if (find_effects(f, &ap, 1, &stray) != 0)
        check(f, false, "the libvirtd can be asked what exists");
    for (i = 0; i < n; i++) {
        struct cmd *c = all.v[i];

        if (kind[i] == Q_LIVE) {
            live_ok += c->answers > 0 && c->ok;
            live_effect += c->effect;
            /* In order: each answer and record after the one before. */
            if (c->answers > 0) {
                order_answers += c->answer_seq < last_answer;
                last_answer = c->answer_seq;
            }
            if (c->events > 0) {
                order_events += c->event_seq < last_event;
                last_event = c->event_seq;
            }
            continue;
        }
        ran += c->effect || (c->answers > 0 && c->ok);
        if (kind[i] == Q_SHORT) {
            short_reported += reported_expired(c);
            short_dropped += !reported_expired(c) && c->dead_lettered &&
                             strcmp(c->dead_reason, "expired") == 0;
        } else {
            late_reported += reported_expired(c);
            late_dropped += !reported_expired(c) && c->dead_lettered;
        }
        unaccounted += !reported_expired(c) &&
                       !(c->dead_lettered && strcmp(c->dead_reason, "expired") == 0);
    }
    printf("  figures: sent %zu (%zu live, %zu short-lived, %zu late), executed %zu, "
           "executed twice 0, lost %zu\n", n, count[Q_LIVE], count[Q_SHORT], count[Q_LATE],
           live_effect, count[Q_LIVE] - live_ok + unaccounted);
    printf("  expired in the queue: answered expired by the agent %zu, dropped by the "
           "broker %zu (dead-lettered, reason expired); late: answered expired by the "
           "agent %zu, dropped by the broker %zu; ran anyway %zu\n", short_reported,
           short_dropped, late_reported, late_dropped, ran);
    check(f, live_ok == count[Q_LIVE] && live_effect == count[Q_LIVE],
          "the %zu live commands ran once each after the restart (%zu ok, %zu effects)",
          count[Q_LIVE], live_ok, live_effect);
    check(f, order_answers == 0 && order_events == 0,
          "in the order sent (answers out of order: %zu, records out of order: %zu)",
          order_answers, order_events);
    check(f, ran == 0, "no expired command ran: %zu did", ran);
    check(f, late_reported == count[Q_LATE],
          "the late commands were answered with error 7 and recorded as commandResult "
          "\"expired\": %zu of %zu", late_reported, count[Q_LATE]);
    check(f, unaccounted == 0,
          "every expired command is on record: answered expired, or dead-lettered by "
          "the broker with reason \"expired\" (%zu neither)", unaccounted);
    /* Commands carry their TTL for the agent only (PROTOCOL.md §9.1), so
     * that what expires in the queue is answered and recorded too. */
    check(f, short_reported == count[Q_SHORT],
          "the commands that expired in the queue were answered with error 7 and "
          "recorded as commandResult \"expired\": %zu of %zu", short_reported,
          count[Q_SHORT]);
    check(f, stray == 0, "no other effect: %zu", stray);
    check_no_crashes(f, &ap, 1);
out:
    free(kind);
    agents_teardown(f, &ap, 1);
    return 0;
}

/* Scenario 3: libvirtd restarted during a stream -------------------------------- */

static bool
driver_down_seen(struct faults *f, void *arg)
{
    return ((struct agent_proc *)arg)->drv_down > 0;
}

static bool
driver_up_seen(struct faults *f, void *arg)
{
    return ((struct agent_proc *)arg)->drv_up > 0;
}

static int
scenario_libvirtd(struct faults *f)
{
    struct agent_proc *ap = agent_new(f, "faults-s3", NULL);
    size_t per_phase = 100, i, before = 0, down = 0, lv_err = 0, other = 0, after_ok = 0;
    size_t after_effect = 0, first = f->ncmds;
    struct cmd_range a, b;
    struct answered_at_least goal = { 0, per_phase / 2 };
    double t_kill, t_restart;
    struct query *q;
    qmf_value *names = NULL;
    bool fresh = true;
    size_t stale = 0, missing = 0, stray, lost = 0;
    bool reconnected;

    printf("scenario 3: libvirtd killed and restarted during a stream of %zu commands\n",
           2 * per_phase);
    if (agent_start(f, ap) != 0) {
        check(f, false, "the agent starts");
        goto out;
    }
    for (i = 0; i < per_phase; i++)
        cmd_define(f, ap, LONG_TTL_MS);
    a.v = &f->cmds[first];
    a.n = per_phase;
    goal.base = f->answered;
    stream(f, ap, 4);
    run_while_moving(f, answered_at_least, &goal, STALL_S);
    t_kill = bench_now_s();
    say(f, "fault: SIGKILL the libvirtd (pid %d) mid-stream", (int)ap->lvd.proc.pid);
    libvirtd_kill(f, &ap->lvd);
    run_while_moving(f, range_answered, &a, STALL_S);
    check(f, run_until(f, driver_down_seen, ap, READY_WAIT_S), "driverDisconnected published");
    /* Down for a while: the agent keeps trying meanwhile. */
    run_for(f, 1.0);
    t_restart = bench_now_s();
    if (libvirtd_start(f, &ap->lvd) != 0) {
        check(f, false, "the libvirtd starts again");
        goto out;
    }
    reconnected = run_until(f, driver_up_seen, ap, READY_WAIT_S);
    check(f, reconnected, "driverReconnected published %.2f s after the libvirtd was back",
          reconnected ? ap->t_drv_up - t_restart : -1.0);
    for (i = 0; i < per_phase; i++)
        cmd_define(f, ap, LONG_TTL_MS);
    b.v = &f->cmds[first + per_phase];
    b.n = per_phase;
    stream(f, ap, 4);
    run_while_moving(f, range_answered, &b, STALL_S);

    for (i = 0; i < per_phase; i++) {
        struct cmd *c = a.v[i];

        if (c->answers == 0)
            continue;
        if (c->ok)
            before++;
        else if (c->code == QMF_ERR_DRIVER_DOWN)
            down++;
        else if (c->code & QMF_ERR_LIBVIRT)
            lv_err++;
        else
            other++;
    }
    if (find_effects(f, &ap, 1, &stray) != 0)
        check(f, false, "the libvirtd can be asked what exists");
    for (i = 0; i < per_phase; i++) {
        after_ok += b.v[i]->answers > 0 && b.v[i]->ok;
        after_effect += b.v[i]->effect;
    }
    for (i = 0; i < per_phase; i++)
        lost += (a.v[i]->answers == 0) + (b.v[i]->answers == 0);
    printf("  figures: sent %zu; before the kill: ok %zu; during the outage: refused "
           "with error 10 (driver down) %zu, failed with a libvirt error %zu (in flight "
           "at the kill), other %zu; after the reconnect: ok %zu, executed %zu; "
           "lost %zu\n", 2 * per_phase, before, down, lv_err, other, after_ok, after_effect,
           lost);
    printf("  time: libvirtd down %.2f s; driverDisconnected %.2f s after the kill, "
           "driverReconnected %.2f s after the restart\n", t_restart - t_kill,
           ap->t_drv_down - t_kill, ap->t_drv_up - t_restart);
    check(f, before + down + lv_err + other == per_phase,
          "every command sent around the outage was answered (%zu of %zu)",
          before + down + lv_err + other, per_phase);
    check(f, down > 0, "commands during the outage refused with error 10: %zu", down);
    check(f, other == 0, "no other errors: %zu", other);
    check(f, after_ok == per_phase && after_effect == per_phase,
          "every command after the reconnect succeeded (%zu ok, %zu effects, of %zu)",
          after_ok, after_effect, per_phase);
    /* The agent's inventory is the new daemon's: its domains exactly. */
    q = query_send(f, ap, "Domain");
    if (!check(f, run_until(f, query_done, q, READY_WAIT_S) && !q->failed,
               "a Domain query answered"))
        goto out;
    names = libvirtd_domains(f, &ap->lvd);
    for (i = 0; names && i < qmf_list_len(q->results); i++) {
        const qmf_value *data = qmf_list_at(q->results, i);
        const char *name = qmf_map_get_string(qmf_map_get(data, "_values"), "name");
        const qmf_value *st = qmf_map_get(data, "_stale");

        if (name == NULL || qmf_map_get(names, name) == NULL)
            stale++;
        if (st && st->kind == QMF_BOOL && st->u.b)
            fresh = false;
    }
    if (names)
        missing = qmf_map_len(names) > qmf_list_len(q->results) - stale ?
                  qmf_map_len(names) - (qmf_list_len(q->results) - stale) : 0;
    check(f, names != NULL && stale == 0 && missing == 0 && fresh,
          "the inventory is fresh: %zu domains as the new libvirtd has them "
          "(%zu gone ones still listed, %zu missing)", qmf_list_len(q->results), stale,
          missing);
    check_no_crashes(f, &ap, 1);
out:
    qmf_free(names);
    agents_teardown(f, &ap, 1);
    return 0;
}

/* Scenario 4: poison ------------------------------------------------------------ */

/* A runaway: far more crashes than the delivery limit allows. */
#define POISON_MAX_CRASHES (4 * DELIVERY_LIMIT)

struct poison_wait {
    struct agent_proc *ap;
    struct cmd *c;
};

/*
 * The command's fate is known: answered, or dead-lettered.  The agent is
 * restarted after every crash meanwhile (supervise), so this holds
 * whatever the order in which the crash and the dead letter are seen.
 */
static bool
poison_settled(struct faults *f, void *arg)
{
    struct poison_wait *w = arg;

    return w->c->dead_lettered || w->c->answers > 0 || w->ap->crashes > POISON_MAX_CRASHES;
}

static char *
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

/*
 * The broker dead-letters the poison command when the agent's connection
 * closes after its last crash: the dead letter can come before or after
 * that crash is seen here.  So the agent is restarted after every crash,
 * as systemd would, for the whole scenario, and the scenario waits for
 * states only: the dead letter, then the normal command's answer (from
 * whichever start of the agent takes it).  Each wait lasts as long as the
 * agent keeps being restarted, and READY_WAIT_S past the last restart.
 */
static int
scenario_poison(struct faults *f)
{
    struct agent_proc *ap = agent_new(f, "faults-s4", "crash-on-method=Domain.reboot");
    struct poison_wait w = { ap, NULL };
    struct cmd *poison, *normal;
    char *object = NULL;
    double t0, t_dead;

    printf("scenario 4: a poison command (Domain.reboot crashes the agent: "
           "VIRTBUS_FAILPOINTS=%s), delivery_limit %d\n", ap->failpoints, DELIVERY_LIMIT);
    ap->may_crash = true;
    if (agent_start(f, ap) != 0 || (object = domain_object_name(f, &ap->lvd, "test")) == NULL) {
        check(f, false, "the agent starts");
        goto out;
    }
    poison = w.c = cmd_new(f, ap, object, "reboot", NULL, LONG_TTL_MS);
    t0 = bench_now_s();
    stream(f, ap, 1);
    run_while_moving_on(f, poison_settled, &w, &ap->crashes, READY_WAIT_S);
    t_dead = bench_now_s();
    say(f, "poison command %s after %.1f s", poison->dead_lettered ? "dead-lettered" :
        "NOT dead-lettered", t_dead - t0);
    check(f, poison->dead_lettered, "the poison command was dead-lettered into %s",
          DEAD_LETTERS);
    check(f, poison->answers == 0, "it was never answered (never ran): %u answer(s)",
          poison->answers);
    if (!poison->dead_lettered)
        goto out;
    /* Sent only now: queued behind the poison command, it would have been
     * delivered with it, and dead-lettered with it. */
    normal = w.c = cmd_define(f, ap, LONG_TTL_MS);
    stream(f, ap, 1);
    run_while_moving_on(f, poison_settled, &w, &ap->crashes, READY_WAIT_S);
    /* The agent that answered was started after every crash before it, so
     * all of them are counted by now. */
    printf("  figures: sent 1, executed 0, deliveries until dead-lettered %zu (each one "
           "crashed the agent%s), delivery_limit %d, dead letter reason %s; a normal "
           "command answered %.1f s after the dead letter\n", ap->crashes,
           ap->crashes_not_abort ? ", not always by SIGABRT" : "", DELIVERY_LIMIT,
           poison->dead_reason, normal->answers > 0 ? normal->t_answer - t_dead : -1.0);
    check(f, strcmp(poison->dead_reason, "delivery_limit") == 0,
          "dead-lettered for its delivery limit (reason %s)", poison->dead_reason);
    check(f, ap->crashes >= 1 && ap->crashes <= DELIVERY_LIMIT + 1,
          "it was delivered %zu time(s), bounded by the delivery limit (%d)", ap->crashes,
          DELIVERY_LIMIT);
    check(f, normal->answers > 0 && normal->ok, "the agent serves again: a normal command "
          "then succeeds%s%s", normal->answers > 0 && !normal->ok ? ": " : "",
          normal->answers > 0 && !normal->ok ? normal->text : normal->answers > 0 ? "" :
          " (no answer)");
out:
    free(object);
    agents_teardown(f, &ap, 1);
    return 0;
}

/* Scenario 5: SIGTERM while commands run -------------------------------------- */

/* Threads of a process blocked opening a FIFO that nobody reads: /proc
 * lists its threads, and wchan says where each one sleeps. */
static unsigned
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

struct fifo_wait {
    pid_t pid;
    unsigned n;
};

static bool
fifos_blocked(struct faults *f, void *arg)
{
    struct fifo_wait *w = arg;

    return fifo_waiters(w->pid) >= w->n;
}

/* Reads a FIFO to its end, so that the save writing it finishes. */
static bool
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

#define SLOW_SAVES 3

static void scenario_stop_timeout(struct faults *f);
static void scenario_long_command(struct faults *f, bool early_ack);
static void scenario_long_command_killed(struct faults *f);

static int
scenario_sigterm(struct faults *f)
{
    struct agent_proc *ap = agent_new(f, "faults-s5", NULL);
    char *fifos[SLOW_SAVES] = { NULL }, *objects[SLOW_SAVES] = { NULL };
    struct cmd *saves[SLOW_SAVES], *behind[SLOW_SAVES], *after[10];
    struct cmd_range r_saves = { saves, SLOW_SAVES }, r_behind = { behind, SLOW_SAVES };
    struct cmd_range r_after = { after, 10 };
    struct fifo_wait fw;
    size_t i, before_exit = 0, after_ok = 0, after_early = 0, after_effect = 0, stray;
    double t_term, t_exit = 0, t_restart;
    qmf_value *doms = NULL;
    struct log_wait stopping = { ap->log, "command(s) still running" };
    bool took_term, alive_after_term, drained = true, exited0;
    unsigned failed_before = f->checks_failed;
    char how[64];

    printf("scenario 5: SIGTERM while %d commands run (Domain.save into FIFOs nobody reads "
           "yet), %d queued behind them, 10 sent after\n", SLOW_SAVES, SLOW_SAVES);
    if (libvirtd_start(f, &ap->lvd) != 0) {
        check(f, false, "the libvirtd starts");
        goto out;
    }
    /* Running guests to save, there before the agent starts. */
    for (i = 0; i < SLOW_SAVES; i++) {
        char *xml = qmf_xasprintf("<domain type='test'><name>slow-%zu</name>"
                                  "<memory unit='KiB'>8192</memory>"
                                  "<os><type>hvm</type></os></domain>", i);
        virDomainPtr dom = virDomainDefineXML(ap->lvd.conn, xml);

        free(xml);
        if (dom == NULL || virDomainCreate(dom) != 0) {
            check(f, false, "guest slow-%zu defined and started: %s", i, libvirt_error());
            if (dom)
                virDomainFree(dom);
            goto out;
        }
        virDomainFree(dom);
        fifos[i] = qmf_xasprintf("%s/slow-%zu.fifo", ap->lvd.dir, i);
        unlink(fifos[i]);
        if (mkfifo(fifos[i], 0600) != 0) {
            check(f, false, "mkfifo %s: %s", fifos[i], strerror(errno));
            goto out;
        }
    }
    for (i = 0; i < SLOW_SAVES; i++) {
        char name[32];

        snprintf(name, sizeof(name), "slow-%zu", i);
        objects[i] = domain_object_name(f, &ap->lvd, name);
        if (objects[i] == NULL)
            goto out;
    }
    if (agent_spawn(f, ap) != 0 || !agent_wait_ready(f, ap)) {
        check(f, false, "the agent starts");
        goto out;
    }
    for (i = 0; i < SLOW_SAVES; i++) {
        qmf_value *args = qmf_map();

        qmf_map_set(args, "filename", qmf_string(fifos[i]));
        saves[i] = cmd_new(f, ap, objects[i], "save", args, LONG_TTL_MS);
    }
    /* Ordered per object: these wait in the agent for the saves. */
    for (i = 0; i < SLOW_SAVES; i++)
        behind[i] = cmd_new(f, ap, objects[i], "getXMLDesc", NULL, LONG_TTL_MS);
    stream(f, ap, 2 * SLOW_SAVES);
    fw.pid = ap->lvd.proc.pid;
    fw.n = SLOW_SAVES;
    if (!check(f, run_until(f, fifos_blocked, &fw, ANSWER_WAIT_S),
               "%d saves running (blocked writing their FIFOs)", SLOW_SAVES))
        goto out;
    t_term = bench_now_s();
    say(f, "SIGTERM %s (pid %d) with %d commands running", ap->node, (int)ap->proc.pid,
        SLOW_SAVES);
    ap->supervised = false;
    kill(ap->proc.pid, SIGTERM);
    /*
     * It must wait for them: once it has taken the signal (it says so,
     * and from then on leaves every delivery in the queue), it is still
     * there.  What is sent after that must wait for the next start.
     */
    took_term = run_until(f, log_has, &stopping, READY_WAIT_S);
    reap_children(f);
    alive_after_term = took_term && ap->proc.pid != 0;
    for (i = 0; i < 10; i++)
        after[i] = cmd_define(f, ap, LONG_TTL_MS);
    stream(f, ap, 2 * SLOW_SAVES + 10);
    run_until(f, range_confirmed, &r_after, ANSWER_WAIT_S);
    say(f, "releasing the saves");
    for (i = 0; i < SLOW_SAVES; i++)
        drained &= drain_fifo(fifos[i]);
    run_until(f, child_gone, &ap->proc, STOP_TIMEOUT_S + EXIT_WAIT_S);
    if (ap->proc.pid == 0)
        t_exit = ap->proc.t_exit;
    exited0 = ap->proc.pid == 0 && WIFEXITED(ap->proc.status) &&
              WEXITSTATUS(ap->proc.status) == 0;
    describe_status(ap->proc.status, how, sizeof(how));
    /* What it answered before it was gone (confirmed by the broker before
     * it exited, so on its way to us). */
    run_until(f, range_answered, &r_behind, ANSWER_WAIT_S);
    for (i = 0; i < SLOW_SAVES; i++)
        before_exit += saves[i]->answers > 0 && saves[i]->ok && behind[i]->answers > 0 &&
                       behind[i]->ok;
    for (i = 0; i < 10; i++)
        after_early += after[i]->answers > 0;
    check(f, alive_after_term, "still running after it took SIGTERM (\"%s\" in its log), "
          "while its commands run", stopping.text);
    check(f, drained, "the saves wrote their images");
    check(f, exited0, "exited 0 (%s) %.2f s after SIGTERM, within stop_timeout (%d s)",
          ap->proc.pid == 0 ? how : "still running", t_exit - t_term, STOP_TIMEOUT_S);
    check(f, ap->stopping > 0, "agentStopping published");
    check(f, before_exit == SLOW_SAVES,
          "the running commands and those queued behind them finished and were answered "
          "(%zu of %d)", before_exit, SLOW_SAVES);
    check(f, after_early == 0, "commands sent after SIGTERM waited in the queue "
          "(%zu answered before the restart)", after_early);
    if (f->checks_failed > failed_before)
        show_log_tail(ap->log, 40);
    if (ap->proc.pid != 0)
        child_stop(f, &ap->proc, SIGKILL, 10);
    t_restart = bench_now_s();
    if (agent_spawn(f, ap) != 0 || !agent_wait_ready(f, ap)) {
        check(f, false, "the agent starts again");
        goto out;
    }
    run_while_moving(f, range_answered, &r_after, ANSWER_WAIT_S);
    if (find_effects(f, &ap, 1, &stray) != 0)
        check(f, false, "the libvirtd can be asked what exists");
    for (i = 0; i < 10; i++) {
        after_ok += after[i]->answers > 0 && after[i]->ok;
        after_effect += after[i]->effect;
    }
    doms = libvirtd_domains(f, &ap->lvd);
    printf("  figures: sent %d, executed %zu, executed twice 0, lost %zu; stop took "
           "%.2f s; the queued ones ran %.2f s after the restart\n",
           2 * SLOW_SAVES + 10, 2 * SLOW_SAVES - (SLOW_SAVES - before_exit) + after_effect,
           (SLOW_SAVES - before_exit) * 2 + (10 - after_ok), t_exit - t_term,
           bench_now_s() - t_restart);
    check(f, after_ok == 10 && after_effect == 10,
          "after the restart the queued commands ran once each (%zu ok, %zu effects)",
          after_ok, after_effect);
    (void)r_saves;
    {
        const qmf_value *test = doms ? qmf_map_get(doms, "test") : NULL;

        check(f, test && test->kind == QMF_BOOL && test->u.b,
              "the guest \"test\" still runs: stopping the agent touched no guest");
    }
    check_no_crashes(f, &ap, 1);
out:
    qmf_free(doms);
    for (i = 0; i < SLOW_SAVES; i++) {
        if (fifos[i])
            unlink(fifos[i]);
        free(fifos[i]);
        free(objects[i]);
    }
    agents_teardown(f, &ap, 1);
    if (!f->interrupted)
        scenario_stop_timeout(f);
    if (!f->interrupted)
        scenario_long_command(f, true);
    if (!f->interrupted)
        scenario_long_command(f, false);
    if (!f->interrupted)
        scenario_long_command_killed(f);
    return 0;
}

/*
 * The guest "test" of a fresh agent saved into a FIFO nobody reads yet: a
 * command that runs until drain_fifo(*fifo).  false (a failed check said
 * why) if it could not be set up; *fifo and *object are the caller's to
 * free either way.
 */
static bool
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

/*
 * The bound: a command that never finishes (a save into a FIFO nobody
 * reads) does not hold the agent past stop_timeout.  It began and never
 * ended, so after the restart its redelivery is answered interrupted,
 * and not run again.
 */
static void
scenario_stop_timeout(struct faults *f)
{
    struct agent_proc *ap = agent_new(f, "faults-s5b", NULL);
    struct cmd *save;
    struct cmd_range one = { &save, 1 };
    char *fifo = NULL, *object = NULL, how[64];
    qmf_value *doms = NULL;
    const qmf_value *test;
    double t_term;
    bool gone, exited0, still_running, drained;

    ap->stop_timeout = 3;
    printf("  then: SIGTERM while a command runs that never finishes (stop_timeout %u s)\n",
           ap->stop_timeout);
    if (!start_blocked_save(f, ap, "stuck.fifo", &fifo, &object, &save))
        goto out;
    ap->supervised = false;
    t_term = bench_now_s();
    kill(ap->proc.pid, SIGTERM);
    /* Not timed: an agent that waited for the command would never exit. */
    gone = run_until(f, child_gone, &ap->proc, ap->stop_timeout + EXIT_WAIT_S);
    exited0 = gone && WIFEXITED(ap->proc.status) && WEXITSTATUS(ap->proc.status) == 0;
    still_running = fifo_waiters(ap->lvd.proc.pid) >= 1;
    describe_status(ap->proc.status, how, sizeof(how));
    check(f, exited0 && still_running,
          "it exited (%s) %.2f s after SIGTERM, the command still running (%s)",
          gone ? how : "still running", gone ? ap->proc.t_exit - t_term :
          bench_now_s() - t_term, still_running ? "yes" : "no");
    if (!gone)
        child_stop(f, &ap->proc, SIGKILL, 10);
    /* The save goes on in libvirtd without its agent: let it finish. */
    drained = drain_fifo(fifo);
    if (agent_spawn(f, ap) != 0 || !agent_wait_ready(f, ap)) {
        check(f, false, "the agent starts again");
        goto out;
    }
    run_until(f, range_answered, &one, ANSWER_WAIT_S);
    doms = libvirtd_domains(f, &ap->lvd);
    test = doms ? qmf_map_get(doms, "test") : NULL;
    printf("  figures: sent 1, interrupted 1 (effect happened: %s), answered %u time(s)\n",
           drained && test && test->kind == QMF_BOOL && !test->u.b ? "yes, the guest is "
           "saved" : "no", save->answers);
    check(f, is_interrupted(save),
          "after the restart it is answered interrupted (15), not run again%s%s",
          save->answers && !is_interrupted(save) ? ": " : "",
          save->answers && !is_interrupted(save) ? save->text : "");
    check_no_crashes(f, &ap, 1);
out:
    qmf_free(doms);
    if (fifo)
        unlink(fifo);
    free(fifo);
    free(object);
    agents_teardown(f, &ap, 1);
}

/* For a failed check: what a program said. */
static void
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

/*
 * A command that runs longer than the broker's consumer_timeout (a migrate
 * can): the agent acks it once it has run ack_long_commands_after, so the
 * broker neither closes the agent's channel nor delivers it again.  The
 * control, early_ack false (ack_long_commands_after = 0: hold the delivery
 * to the end), shows that this broker does enforce its timeout, so that
 * the first half could fail.
 */
static void
scenario_long_command(struct faults *f, bool early_ack)
{
    struct agent_proc *ap = agent_new(f, early_ack ? "faults-s5c" : "faults-s5d", NULL);
    struct cmd *save;
    struct cmd_range one = { &save, 1 };
    struct query *q;
    char *fifo = NULL, *object = NULL;
    const char *timed_out = "acknowledgement on channel";
    struct log_wait closed = { ap->log, timed_out }, acked = { ap->log, "acked now" };
    /* The broker checks its timeout once a second (tests/harness/broker.sh). */
    double hold = CONSUMER_TIMEOUT_MS / 1000.0 + 5.0, t_run;
    bool broker_closed, acked_early, drained;

    ap->ack_long_after = early_ack ? 2 : 0;
    printf("  then: a command running %.0f s, longer than the broker's consumer_timeout "
           "(%.0f s), ack_long_commands_after %u s%s\n", hold, CONSUMER_TIMEOUT_MS / 1000.0,
           ap->ack_long_after, early_ack ? "" : " (the control: held to the end)");
    if (!start_blocked_save(f, ap, "long.fifo", &fifo, &object, &save))
        goto out;
    t_run = bench_now_s();
    if (early_ack) {
        /*
         * Acked while it runs (a state); then it runs on past the broker's
         * timeout, which would have closed the channel by then had the
         * ack not reached it.  A busy broker may check late, which can
         * only let this pass, never fail it; the control shows the check.
         */
        run_until(f, log_has, &acked, ANSWER_WAIT_S);
        if (bench_now_s() < t_run + hold)
            run_for(f, t_run + hold - bench_now_s());
    } else {
        /* The control: waited for until the broker closes the channel. */
        run_until(f, log_has, &closed, hold + READY_WAIT_S);
    }
    drained = drain_fifo(fifo);
    run_until(f, range_answered, &one, ANSWER_WAIT_S);
    /* Anything the broker did comes before a query answered after it. */
    q = query_send(f, ap, "Domain");
    run_until(f, query_done, q, ANSWER_WAIT_S);
    broker_closed = file_contains(ap->log, timed_out);
    acked_early = file_contains(ap->log, "acked now");
    printf("  figures: sent 1, executed %u, answered %u time(s), acked before the end: %s, "
           "channel closed by the broker: %s\n", drained ? 1u : 0u, save->answers,
           acked_early ? "yes" : "no", broker_closed ? "yes" : "no");
    if (early_ack) {
        check(f, acked_early, "acked after %u s, while it ran", ap->ack_long_after);
        check(f, !broker_closed, "the broker did not close the agent's channel "
              "(\"delivery %s ... timed out\" not in its log)", timed_out);
        check(f, drained && save->answers >= 1 && save->ok,
              "it ran to the end and was answered ok%s%s", save->ok ? "" : ": ",
              save->ok ? "" : save->text ? save->text : "no answer");
        check(f, save->answers == 1, "answered once (%u)", save->answers);
    } else {
        check(f, broker_closed, "the broker enforces its consumer_timeout: it closed the "
              "channel of an agent that held a delivery longer");
    }
    check(f, q->done && !q->failed, "the agent serves afterwards (a Domain query answered)");
    check_no_crashes(f, &ap, 1);
out:
    if (fifo)
        unlink(fifo);
    free(fifo);
    free(object);
    agents_teardown(f, &ap, 1);
}

#define S6_AGENTS 3
/* The controller's --timeout: past a broker restart on a busy machine. */
#define S6_CLI_TIMEOUT_S 600
#define S6_CLI_TIMEOUT_TEXT "600"

struct agent_set {
    struct agent_proc **v;
    size_t n;
};

/* A heartbeat came from each agent since its last start. */
static bool
heard_since_start(struct faults *f, void *arg)
{
    struct agent_set *set = arg;
    size_t i;

    for (i = 0; i < set->n; i++)
        if (set->v[i]->heartbeats == 0 || set->v[i]->t_heartbeat < set->v[i]->t_spawn)
            return false;
    return true;
}

/*
 * The controller, not a test console: `virtbus call Domain save
 * filename=FIFO --where 'name == "test"' -n 'faults-s6-*'`, a
 * broadcast whose saves block on a FIFO while the broker restarts under
 * it.  Answers published while the broker is away are lost with it; the
 * controller asks again (same message-id) the agents it has no answer
 * from, and they answer from their journal.  It must report every node's
 * outcome, and each save must have run once.
 */
static int
scenario_controller(struct faults *f)
{
    struct agent_proc *ap[S6_AGENTS] = { NULL };
    struct agent_set heard = { ap, S6_AGENTS };
    struct child cli = { .what = "virtbus" };
    struct fault ft = { 0 };
    char *fifo = qmf_xasprintf("%s/s6-save.fifo", f->dir);
    char *home = qmf_xasprintf("%s/s6-home", f->dir);
    char *out = qmf_xasprintf("%s/s6-virtbus.json", f->dir);
    char *err_log = qmf_xasprintf("%s/s6-virtbus.log", f->dir);
    char *redirect = qmf_xasprintf("exec \"$0\" \"$@\" >%s 2>%s", out, err_log);
    char *env_home = qmf_xasprintf("HOME=%s", home);
    char *env_cache = qmf_xasprintf("XDG_CACHE_HOME=%s/.cache", home);
    char *env_config = qmf_xasprintf("VIRTBUS_CONFIG=%s", f->cli_conf);
    const char *extra_env[] = { env_home, env_cache, env_config, NULL };
    char *filename = qmf_xasprintf("filename=%s", fifo);
    /* By selection: a name found on several nodes is refused as ambiguous. */
    char *argv[] = { "/bin/sh", "-c", redirect, (char *)f->opt.virtbus, "-c", f->url,
                     "--json", "--timeout", S6_CLI_TIMEOUT_TEXT, "call", "Domain", "save",
                     filename, "--where", "name == \"test\"", "-n", "faults-s6-*", NULL };
    qmf_value *doc = NULL;
    const qmf_value *results, *summary;
    size_t i, saved = 0, ok = 0, replayed = 0;
    bool drained = false, exited;
    char how[64];

    printf("scenario 6: `virtbus call Domain save filename=FIFO --where 'name == \"test\"' "
           "-n 'faults-s6-*'` across %d agents; the broker restarts while the saves block\n",
           S6_AGENTS);
    mkdir(home, 0755);
    for (i = 0; i < S6_AGENTS; i++) {
        char node[32];

        snprintf(node, sizeof(node), "faults-s6-a%zu", i);
        ap[i] = agent_new(f, node, NULL);
        if (agent_start(f, ap[i]) != 0) {
            check(f, false, "agent %s starts", node);
            goto out;
        }
    }
    unlink(fifo);
    if (mkfifo(fifo, 0666) != 0) {
        check(f, false, "mkfifo %s: %s", fifo, strerror(errno));
        goto out;
    }
    /* Every agent in the presence stream, where the controller finds it. */
    if (!check(f, run_until(f, heard_since_start, &heard, READY_WAIT_S),
               "every agent's heartbeat is in the presence stream"))
        goto out;
    if (spawn(f, &cli, argv, extra_env, err_log, true) != 0) {
        check(f, false, "the controller starts");
        goto out;
    }
    for (i = 0; i < S6_AGENTS; i++) {
        struct fifo_wait fw = { ap[i]->lvd.proc.pid, 1 };

        if (!check(f, run_until(f, fifos_blocked, &fw, ANSWER_WAIT_S),
                   "%s: the save running (blocked)", ap[i]->node)) {
            print_file(out);
            print_file(err_log);
            goto out;
        }
    }
    if (f->opt.cluster) {
        struct fault leader = { 0 };

        /* The node of one agent, then the leader of another's queue. */
        f->cluster_faults += f->cluster_faults % 2;
        if (!check(f, kill_cluster_node(f, &ft, ap, S6_AGENTS, ap[0]),
                   "the node of %s SIGKILLed, and back", ap[0]->node) ||
            !check(f, kill_cluster_node(f, &leader, ap, S6_AGENTS, ap[1]),
                   "the leader of the queue of %s SIGKILLed, and back", ap[1]->node))
            goto out;
        printf("  failover: %zu and %zu agent(s) served from other nodes within %.2f s and "
               "%.2f s of the kills\n", ft.moved, leader.moved,
               ft.moved ? ft.t_rejoined - ft.t_begin : 0,
               leader.moved ? leader.t_rejoined - leader.t_begin : 0);
    } else if (!check(f, restart_broker(f, &ft), "the broker restarted")) {
        goto out;
    }
    /* The saves end only now, after the broker came back. */
    drained = drain_fifo(fifo);
    exited = run_until(f, child_gone, &cli, S6_CLI_TIMEOUT_S + 30.0);
    describe_status(cli.status, how, sizeof(how));
    if (!check(f, exited, "the controller finished (%s)", exited ? how : "still running")) {
        child_stop(f, &cli, SIGKILL, 10);
        goto out;
    }
    for (i = 0; i < S6_AGENTS; i++) {
        qmf_value *doms = libvirtd_domains(f, &ap[i]->lvd);
        const qmf_value *test = doms ? qmf_map_get(doms, "test") : NULL;

        saved += test && test->kind == QMF_BOOL && !test->u.b;
        replayed += file_contains(ap[i]->log, "answered from the journal");
        qmf_free(doms);
    }
    {
        FILE *fp = fopen(out, "r");
        char buf[65536];
        size_t len = fp ? fread(buf, 1, sizeof(buf) - 1, fp) : 0;
        qmf_error jerr;

        if (fp)
            fclose(fp);
        buf[len] = '\0';
        doc = len ? qmf_from_json(buf, len, &jerr) : NULL;
    }
    results = doc ? qmf_map_get(doc, "results") : NULL;
    summary = doc ? qmf_map_get(qmf_map_get(doc, "summary"), "nodes") : NULL;
    for (i = 0; results && i < qmf_list_len(results); i++)
        ok += qmf_map_get_string(qmf_list_at(results, i), "status") != NULL &&
              strcmp(qmf_map_get_string(qmf_list_at(results, i), "status"), "ok") == 0;
    printf("  figures: sent 1 broadcast to %d nodes, executed %zu, answered ok %zu, "
           "executed twice 0, lost %zu; agents that answered a re-send from their journal "
           "%zu; broker down %.1f s\n", S6_AGENTS, saved, ok,
           (size_t)S6_AGENTS - (ok < S6_AGENTS ? ok : S6_AGENTS), replayed,
           ft.t_back - ft.t_begin);
    if (!check(f, WIFEXITED(cli.status) && WEXITSTATUS(cli.status) == 0,
               "the controller exited 0 (%s)", how)) {
        print_file(out);
        print_file(err_log);
    }
    check(f, doc != NULL && summary != NULL, "it printed its JSON report");
    check(f, ok == S6_AGENTS, "it reports every node's outcome, ok: %zu of %d", ok,
          S6_AGENTS);
    check(f, drained && saved == S6_AGENTS,
          "each node's guest was saved (%zu of %d), by one save each (a second one "
          "would have failed: the guest no longer runs)", saved, S6_AGENTS);
    check_no_crashes(f, ap, S6_AGENTS);
out:
    qmf_free(doc);
    unlink(fifo);
    free(fifo);
    free(home);
    free(out);
    free(err_log);
    free(redirect);
    free(env_home);
    free(env_cache);
    free(env_config);
    free(filename);
    agents_teardown(f, ap, S6_AGENTS);
    return 0;
}

/*
 * A long command acked early, then the agent SIGKILLed while it runs: no
 * redelivery will come, so the answer ("interrupted") must reach the asker
 * from what the journal kept with the command's BEGIN.
 */
static void
scenario_long_command_killed(struct faults *f)
{
    struct agent_proc *ap = agent_new(f, "faults-s5e", NULL);
    struct cmd *save;
    struct cmd_range one = { &save, 1 };
    char *fifo = NULL, *object = NULL;
    struct log_wait acked = { ap->log, "acked now" };

    ap->ack_long_after = 1;
    printf("  then: a command acked early (ack_long_commands_after 1 s), and the agent "
           "SIGKILLed while it runs\n");
    if (!start_blocked_save(f, ap, "killed.fifo", &fifo, &object, &save))
        goto out;
    if (!check(f, run_until(f, log_has, &acked, ANSWER_WAIT_S), "acked while it runs"))
        goto out;
    ap->supervised = false;
    kill(ap->proc.pid, SIGKILL);
    run_until(f, child_gone, &ap->proc, EXIT_WAIT_S);
    drain_fifo(fifo);
    if (agent_spawn(f, ap) != 0 || !agent_wait_ready(f, ap)) {
        check(f, false, "the agent starts again");
        goto out;
    }
    run_until(f, range_answered, &one, ANSWER_WAIT_S);
    printf("  figures: sent 1, answered %u time(s)%s%s\n", save->answers,
           save->answers ? ": " : "", save->answers ? (save->text ? save->text : "ok") : "");
    check(f, is_interrupted(save),
          "after the restart the asker is answered interrupted (15), though no "
          "redelivery came");
    check(f, save->events > 0, "and its commandResult is on record");
    check_no_crashes(f, &ap, 1);
out:
    if (fifo)
        unlink(fifo);
    free(fifo);
    free(object);
    agents_teardown(f, &ap, 1);
}

/* Main ------------------------------------------------------------------------ */

static const struct {
    unsigned number;
    const char *name;
    int (*run)(struct faults *f);
} scenarios[] = {
    { 1, "stream under faults", scenario_stream },
    { 2, "queued while stopped", scenario_queued },
    { 3, "libvirtd restart", scenario_libvirtd },
    { 4, "poison", scenario_poison },
    { 5, "SIGTERM while commands run", scenario_sigterm },
    { 6, "controller across a broker restart", scenario_controller },
};

static void __attribute__((noreturn))
usage(FILE *fp, int status)
{
    fprintf(fp,
        "usage: virtbus-faults [--short] [-s LIST] [-n COMMANDS] [-a AGENTS] [-w WINDOW]\n"
        "                      [--twice N] [-r RESTARTS] [-k KILLS] [--seed N] [-d DIR]\n"
        "                      [--transport amqp091|amqp10] [--keep] [-v]\n"
        "  --short              the CI run: scenario 1 with 1000 commands across 4 agents,\n"
        "                       1 broker restart and 2 kills; the others as always\n"
        "  -s, --scenarios LIST which scenarios, e.g. 1,3 (default: 1,2,3,4,5,6)\n"
        "  -n, --commands N     scenario 1: commands (default 10000)\n"
        "  -a, --agents N       scenario 1: agents (default 10)\n"
        "  -w, --window N       scenario 1: outstanding commands per agent (default 16)\n"
        "      --twice N        scenario 1: every Nth command sent twice at once, as a\n"
        "                       console asking again does (default 50; 0: none)\n"
        "  -r, --restarts N     scenario 1: broker restarts (default 3)\n"
        "  -k, --kills N        scenario 1: agent SIGKILLs (default 5)\n"
        "      --seed N         fault timing (default: from the clock)\n"
        "      --transport T    the agents', the console's and the controller's: amqp091\n"
        "                       (default) or amqp10 (RabbitMQ's AMQP 1.0 plugin)\n"
        "  -d, --dir DIR        work directory (default: a new /tmp/virtbus-faults-*)\n"
        "      --keep           keep the work directory (logs, journals) even on success\n"
        "      --virtbusd PATH  the agent program (default: this build's)\n"
        "      --virtbusd-failpoints PATH  the same with failpoints, for scenario 4's\n"
        "                       poison command (default: this build's)\n"
        "      --broker-sh PATH tests/harness/broker.sh\n"
        "      --cluster        a 3-node RabbitMQ cluster instead of one broker; its\n"
        "                       node SIGKILLs (the node of an agent, the leader of its\n"
        "                       queue) replace the broker restarts; scenarios 1 and 6\n"
        "      --cluster-sh PATH tests/harness/cluster.sh\n"
        "      --pace S         scenario 1: send the stream over S seconds (default 0;\n"
        "                       with --cluster 90, so that every kill lands in it)\n"
        "  -v, --verbose        progress and agents' debug logs\n");
    exit(status);
}

static size_t
parse_size(const char *s, const char *flag, size_t min, size_t max)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "virtbus-faults: %s: expected %zu..%zu, got \"%s\"\n", flag, min,
                max, s);
        exit(2);
    }
    return (size_t)v;
}

static void
parse_options(struct options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "short", no_argument, NULL, 'S' },
        { "scenarios", required_argument, NULL, 's' },
        { "commands", required_argument, NULL, 'n' },
        { "agents", required_argument, NULL, 'a' },
        { "window", required_argument, NULL, 'w' },
        { "twice", required_argument, NULL, 'T' },
        { "restarts", required_argument, NULL, 'r' },
        { "kills", required_argument, NULL, 'k' },
        { "seed", required_argument, NULL, 'E' },
        { "dir", required_argument, NULL, 'd' },
        { "keep", no_argument, NULL, 'K' },
        { "virtbusd", required_argument, NULL, 'V' },
        { "virtbusd-failpoints", required_argument, NULL, 'F' },
        { "broker-sh", required_argument, NULL, 'B' },
        { "cluster", no_argument, NULL, 'C' },
        { "pace", required_argument, NULL, 'P' },
        { "cluster-sh", required_argument, NULL, 'L' },
        { "transport", required_argument, NULL, 'X' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    bool set_n = false, set_a = false, set_r = false, set_k = false;
    int ch;

    *o = (struct options){
        .scenarios = 0x7e, .commands = 10000, .agents = 10, .window = 16, .dup_every = 50,
        .restarts = 3, .kills = 5, .queued = 100, .short_ttl_ms = 1500,
        .seed = (unsigned)time(NULL) ^ (unsigned)getpid(),
        .virtbusd = VIRTBUS_VIRTBUSD_PATH, .broker_sh = VIRTBUS_BROKER_SH,
        .virtbusd_failpoints = VIRTBUS_VIRTBUSD_FAILPOINTS_PATH,
        .virtbus = VIRTBUS_CLI_PATH, .cluster_sh = VIRTBUS_CLUSTER_SH, .scheme = "amqp",
    };
    bool set_s = false, set_p = false;
    while ((ch = getopt_long(argc, argv, "s:n:a:w:r:k:d:vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'S': o->is_short = true; break;
        case 's': {
            char *copy = qmf_xstrdup(optarg), *tok, *save = NULL;

            o->scenarios = 0;
            set_s = true;
            for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
                o->scenarios |= 1u << parse_size(tok, "--scenarios", 1, 6);
            free(copy);
            break;
        }
        case 'n': o->commands = parse_size(optarg, "--commands", 1, 1000000); set_n = true; break;
        case 'a': o->agents = parse_size(optarg, "--agents", 1, 100); set_a = true; break;
        case 'w': o->window = parse_size(optarg, "--window", 1, 1000); break;
        case 'T': o->dup_every = parse_size(optarg, "--twice", 0, 1000000); break;
        case 'r': o->restarts = (unsigned)parse_size(optarg, "--restarts", 0, 100); set_r = true; break;
        case 'k': o->kills = (unsigned)parse_size(optarg, "--kills", 0, 100); set_k = true; break;
        case 'E': o->seed = (unsigned)parse_size(optarg, "--seed", 0, UINT32_MAX); break;
        case 'd': o->dir = optarg; break;
        case 'K': o->keep = true; break;
        case 'V': o->virtbusd = optarg; break;
        case 'F': o->virtbusd_failpoints = optarg; break;
        case 'B': o->broker_sh = optarg; break;
        case 'C': o->cluster = true; break;
        case 'P': o->pace_s = (unsigned)parse_size(optarg, "--pace", 0, 86400); set_p = true; break;
        case 'L': o->cluster_sh = optarg; break;
        case 'X':
            if (strcmp(optarg, "amqp091") == 0) {
                o->scheme = "amqp";
            } else if (strcmp(optarg, "amqp10") == 0) {
                o->scheme = "amqp10";
            } else {
                fprintf(stderr, "virtbus-faults: --transport: expected amqp091 or amqp10, "
                        "got \"%s\"\n", optarg);
                exit(2);
            }
            break;
        case 'v': o->verbose = true; break;
        case 'h': usage(stdout, 0);
        default: usage(stderr, 2);
        }
    }
    if (optind != argc)
        usage(stderr, 2);
    if (o->is_short) {
        if (!set_n)
            o->commands = 1000;
        if (!set_a)
            o->agents = 4;
        if (!set_r)
            o->restarts = o->cluster ? 2 : 1;
        if (!set_k)
            o->kills = o->cluster ? 0 : 2;
    }
    if (o->cluster) {
        /* A node's restart takes 15 to 30 s here: spread the stream so
         * that the kills, a third and two thirds through, land in it. */
        if (!set_p)
            o->pace_s = 90;
        /* The others need broker.sh's settings (consumer_timeout). */
        if (!set_s)
            o->scenarios = (1u << 1) | (1u << 6);
        if (o->scenarios & ~((1u << 1) | (1u << 6))) {
            fprintf(stderr, "virtbus-faults: --cluster runs scenarios 1 and 6 only\n");
            exit(2);
        }
    }
}

static int
setup(struct faults *f)
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

static void
teardown(struct faults *f, bool keep)
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

int
main(int argc, char **argv)
{
    struct faults f = { 0 };
    size_t i;
    int status;

    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    parse_options(&f.opt, argc, argv);
    f.t0 = bench_now_s();
    f.prng = ((uint64_t)f.opt.seed << 1) | 1;
    if (setup(&f) != 0) {
        say(&f, "setup failed");
        teardown(&f, true);
        return 2;
    }
    for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]) && !f.interrupted; i++) {
        unsigned before = f.checks_failed;
        double t = bench_now_s();

        if (!(f.opt.scenarios & (1u << scenarios[i].number)))
            continue;
        f.scenario = scenarios[i].name;
        scenarios[i].run(&f);
        f.scenarios_run++;
        if (f.checks_failed > before)
            f.scenarios_failed++;
        printf("  scenario %u: %s in %.1f s\n", scenarios[i].number,
               f.checks_failed > before ? "FAIL" : "PASS", bench_now_s() - t);
        fflush(stdout);
    }
    status = f.interrupted ? 2 : f.checks_failed ? 1 : 0;
    say(&f, "%s: %u scenario(s) run, %u failed, %u check(s) failed",
        status == 0 ? "PASS" : "FAIL", f.scenarios_run, f.scenarios_failed, f.checks_failed);
    teardown(&f, f.opt.keep || status != 0);
    return status;
}
