/*
 * virtbusd: the per-node agent.  main() parses flags, reads the
 * configuration, detaches (or tells systemd), sets up the event loop and
 * hands over to one agent.
 */
#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef VIRTBUS_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include <event2/event.h>
#include <event2/thread.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/log.h"
#include "agent/workq.h"
#include "bus/bus.h"
#include "drivers/driver.h"
#include "schema/schema.h"
#include "virtbus_version.h"
#ifdef VIRTBUS_FAILPOINTS
#include "tests/harness/failpoints.h"
#endif

#define DEFAULT_CONFIG AGENT_CONFIG_PATH
/* Another virtbusd serves this node (sysexits.h EX_CONFIG: two agents
 * were given one node name).  Documented in README.md; a service manager
 * should not restart on it. */
#define EXIT_NODE_IN_USE 78
/* How long exit waits for the broker connections' background threads:
 * above a goodbye's own bound (2 s), under a connect attempt's against a
 * broker that does not answer (15 s), which is given up on. */
#define BUS_THREADS_WAIT_MS 3000
/* The first attempt to reach the broker or the hypervisor failed while
 * someone waited for the start (sysexits.h EX_UNAVAILABLE). */
#define EXIT_START_FAILED 69

struct daemon_state {
    struct event_base *base;
    unsigned stop_timeout;      /* s running commands get at SIGTERM */
    struct agent *agent;
    struct workq *wq;           /* the agent's workers */
    struct log_ctx log;
    const char *config_path;
    const struct agent_config *overrides;
    struct event *grace_ev;
    bool abandoned;             /* exited with commands still running */
    bool refused;               /* another instance serves the node */
    /*
     * Someone waits for the start's outcome: the parent of a detaching
     * daemon (start_fd, its pipe) or systemd (Type=notify).  Then a first
     * attempt that fails ends the process instead of retrying, so that a
     * wrong password or port fails the start where the operator looks.
     */
    bool start_awaited;
    int start_fd;               /* to the waiting parent, or -1 */
    bool start_told;            /* the parent has its verdict */
    bool start_failed;
    struct event *watchdog_ev;  /* systemd keep-alives, or NULL */
    int pidfile_fd;             /* held (locked) while we run, or -1 */
    char *pidfile;              /* absolute: the daemon works in / */
};

static void stopped_cb(struct agent *a, void *opaque);

/* path made absolute against the working directory (malloc'd). */
static char *
absolute_path(const char *path)
{
    char cwd[4096];

    if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
        return qmf_xstrdup(path);
    return qmf_xasprintf("%s/%s", cwd, path);
}

static void __attribute__((noreturn))
usage(FILE *f, int status)
{
    fprintf(f,
        "usage: virtbusd [-fv] [-c FILE] [-b URL]... [-u URI] [-n NODE] [-s DIR] [-p FILE]\n"
        "  -c, --config FILE     configuration file (default " DEFAULT_CONFIG ")\n"
        "  -b, --broker URL      broker URL, e.g. amqp://user:pass@host:5672/;\n"
        "                        again for each node of a cluster\n"
        "  -u, --uri URI         libvirt URI, e.g. qemu:///system or test:///default\n"
        "  -n, --node NAME       node name (default: the host name)\n"
        "  -s, --state-dir DIR   journal and spool directory\n"
        "  -f, --foreground      stay in the foreground and log to stderr\n"
        "  -p, --pidfile FILE    write the process id to FILE (locked while running)\n"
        "  -v, --verbose         log debug messages\n"
        "  -V, --version         print the version and exit\n"
        "  -h, --help            print this help and exit\n"
        "See virtbusd(8) and virtbusd.conf(5).\n");
    exit(status);
}

static void
replace(char **slot, const char *value)
{
    free(*slot);
    *slot = qmf_xstrdup(value);
}

/* Each -b adds a broker to the list (bus.h: separated by spaces). */
static void
add_broker(char **list, const char *url)
{
    char *more;

    if (*list == NULL) {
        *list = qmf_xstrdup(url);
        return;
    }
    more = qmf_xasprintf("%s %s", *list, url);
    free(*list);
    *list = more;
}

/* Command-line values win over the file; they are re-applied on reload. */
static void
apply_overrides(struct agent_config *cfg, const struct agent_config *over)
{
    if (over->broker)
        replace(&cfg->broker, over->broker);
    if (over->uri)
        replace(&cfg->uri, over->uri);
    if (over->node)
        replace(&cfg->node, over->node);
    if (over->state_dir)
        replace(&cfg->state_dir, over->state_dir);
    if (over->log_level == LOG_LEVEL_DEBUG)
        cfg->log_level = LOG_LEVEL_DEBUG;
}

static int
read_config(struct agent_config *cfg, const char *path, bool must_exist,
            const struct agent_config *over, qmf_error *err)
{
    agent_config_defaults(cfg);
    if (path && (must_exist || access(path, F_OK) == 0) &&
        agent_config_load(cfg, path, err) != 0)
        return -1;
    apply_overrides(cfg, over);
    return 0;
}

/* systemd's notification socket; nothing without systemd or libsystemd. */
static void
notify(const char *state)
{
#ifdef VIRTBUS_HAVE_SYSTEMD
    sd_notify(0, state);
#else
    (void)state;
#endif
}

static bool
notify_awaited(void)
{
    return getenv("NOTIFY_SOCKET") != NULL;
}

/*
 * Tells the waiting parent how the start went: one byte, the exit status
 * it should exit with, then the reason.  After a success the parent exits
 * and the daemon lets go of the terminal; after a failure the pipe stays
 * open until this process ends, so that the parent exits after it (and
 * after its pid file is gone).
 */
static void
tell_parent(struct daemon_state *ds, int status, const char *why)
{
    unsigned char code = (unsigned char)status;
    int devnull;

    if (ds->start_fd < 0 || ds->start_told)
        return;
    ds->start_told = true;
    if (write(ds->start_fd, &code, 1) == 1 && why != NULL)
        (void)!write(ds->start_fd, why, strlen(why));
    if (status != 0)
        return;
    close(ds->start_fd);
    ds->start_fd = -1;
    /* Detached from here on: the terminal may go away. */
    devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
        if (devnull > STDERR_FILENO)
            close(devnull);
    }
    ds->log.use_syslog = true;
}

/*
 * Detaches as daemon(3) does, except that the parent waits until the
 * child's agent has reached libvirt and the broker (or failed to) and
 * exits with the child's verdict, printing its reason on stderr.  Returns
 * in the child only.
 */
static void
detach(struct daemon_state *ds)
{
    int fds[2], n, status;
    unsigned char code;
    char why[1024];
    size_t len = 0;
    pid_t pid;

    if (pipe(fds) != 0)
        fatalx(&ds->log, "pipe: %s", strerror(errno));
    pid = fork();
    if (pid < 0)
        fatalx(&ds->log, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        fcntl(fds[1], F_SETFD, FD_CLOEXEC);
        ds->start_fd = fds[1];
        if (setsid() < 0 || chdir("/") != 0)
            fatalx(&ds->log, "detaching: %s", strerror(errno));
        return;
    }
    close(fds[1]);
    do
        n = (int)read(fds[0], &code, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1) {
        /* Its own error, if any, went to stderr before it died. */
        fprintf(stderr, "virtbusd: the daemon (pid %ld) ended before it was ready\n",
                (long)pid);
        _exit(1);
    }
    while (len < sizeof(why) - 1) {
        n = (int)read(fds[0], why + len, sizeof(why) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    why[len] = '\0';
    status = code;
    if (status != 0)
        fprintf(stderr, "virtbusd: cannot start: %s\n", len ? why : "unknown reason");
    _exit(status);
}

/*
 * The pid file, locked for as long as we run so that a second virtbusd
 * given the same file neither overwrites nor removes it.
 */
static void
pidfile_write(struct daemon_state *ds)
{
    char buf[32];
    int fd, len;

    fd = open(ds->pidfile, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        fatalx(&ds->log, "pid file %s: %s", ds->pidfile, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        fatalx(&ds->log, "pid file %s: %s", ds->pidfile, errno == EWOULDBLOCK ?
               "another running virtbusd holds it" : strerror(errno));
    len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || write(fd, buf, (size_t)len) != len)
        fatalx(&ds->log, "pid file %s: %s", ds->pidfile, strerror(errno));
    ds->pidfile_fd = fd;
}

static void
pidfile_remove(struct daemon_state *ds)
{
    if (ds->pidfile_fd < 0)
        return;
    unlink(ds->pidfile);
    close(ds->pidfile_fd);
    ds->pidfile_fd = -1;
}

static void
watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
    /* From the loop itself: a loop that hangs stops the keep-alives. */
    notify("WATCHDOG=1");
}

/* Keep-alives at half of WatchdogSec, when systemd asks for them. */
static void
watchdog_start(struct daemon_state *ds)
{
#ifdef VIRTBUS_HAVE_SYSTEMD
    uint64_t usec;
    struct timeval tv;

    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return;
    usec /= 2;
    tv.tv_sec = (time_t)(usec / 1000000);
    tv.tv_usec = (suseconds_t)(usec % 1000000);
    ds->watchdog_ev = event_new(ds->base, -1, EV_PERSIST, watchdog_cb, ds);
    event_add(ds->watchdog_ev, &tv);
    notify("WATCHDOG=1");
#else
    (void)ds;
#endif
}

static void
stop_after_failed_start(evutil_socket_t fd, short what, void *arg)
{
    struct daemon_state *ds = arg;

    agent_stop(ds->agent, stopped_cb, ds);
}

/* The agent's first start is over (agent_env.started). */
static void
started_cb(struct agent *a, const qmf_error *why, void *opaque)
{
    struct daemon_state *ds = opaque;
    char *status;

    if (why == NULL) {
        tell_parent(ds, 0, NULL);
        log_info(&ds->log, "ready: the hypervisor and the broker are up");
        notify("READY=1\nSTATUS=serving");
        return;
    }
    if (!ds->start_awaited)
        return;             /* nobody waits: keep retrying, as later on */
    ds->start_failed = true;
    /* A waiting parent prints it; the agent logged it already. */
    if (ds->start_fd < 0)
        log_warnx(&ds->log, "cannot start: %s", why->text);
    tell_parent(ds, EXIT_START_FAILED, why->text);
    status = qmf_xasprintf("STATUS=cannot start: %s", why->text);
    notify(status);
    free(status);
    /* Not from inside the agent's own callback. */
    event_base_once(ds->base, -1, EV_TIMEOUT, stop_after_failed_start, ds, NULL);
}

static void
stopped_cb(struct agent *a, void *opaque)
{
    struct daemon_state *ds = opaque;

    event_base_loopexit(ds->base, NULL);
}

static void
failed_cb(struct agent *a, void *opaque)
{
    struct daemon_state *ds = opaque;

    log_warnx(&ds->log, "%s; exiting with status %d", agent_failure(a)->text,
              EXIT_NODE_IN_USE);
    tell_parent(ds, EXIT_NODE_IN_USE, agent_failure(a)->text);
    ds->refused = true;
    event_base_loopexit(ds->base, NULL);
}

static void
grace_expired_cb(evutil_socket_t fd, short what, void *arg)
{
    struct daemon_state *ds = arg;
    struct workq_stats workers;

    /* Which jobs hold the exit up: those in a worker are inside a libvirt
     * call; those queued wait for a worker (or for one on the same object). */
    workq_get_stats(ds->wq, &workers);
    if (agent_jobs_running(ds->agent) > 0)
        log_warnx(&ds->log, "%u job(s) still running after %u s (%u in a worker, %u queued); "
                  "exiting anyway", agent_jobs_running(ds->agent), ds->stop_timeout,
                  workers.running, workers.queued);
    else
        log_warnx(&ds->log, "still stopping after %u s (the broker did not confirm the "
                  "goodbye); exiting anyway", ds->stop_timeout);
    ds->abandoned = true;
    event_base_loopexit(ds->base, NULL);
}

static void
sigterm_cb(evutil_socket_t sig, short what, void *arg)
{
    struct daemon_state *ds = arg;
    struct timeval grace = { ds->stop_timeout, 0 };

    if (ds->grace_ev != NULL) {
        log_warnx(&ds->log, "second %s: exiting now", strsignal((int)sig));
        ds->abandoned = true;
        event_base_loopexit(ds->base, NULL);
        return;
    }
    log_info(&ds->log, "%s: stopping", strsignal((int)sig));
    notify("STOPPING=1");
    ds->grace_ev = evtimer_new(ds->base, grace_expired_cb, ds);
    event_add(ds->grace_ev, &grace);
    agent_stop(ds->agent, stopped_cb, ds);
}

static void
sighup_cb(evutil_socket_t sig, short what, void *arg)
{
    struct daemon_state *ds = arg;
    struct agent_config cfg;
    qmf_error err;

    notify("RELOADING=1");
    /* Parse into a copy: a bad file leaves the running configuration be. */
    if (read_config(&cfg, ds->config_path, false, ds->overrides, &err) != 0 ||
        agent_reconfigure(ds->agent, &cfg, &err) != 0)
        log_warnx(&ds->log, "reload refused, keeping the old configuration: %s", err.text);
    else {
        ds->log.level = cfg.log_level;
        ds->stop_timeout = cfg.stop_timeout;
    }
    agent_config_free(&cfg);
    notify("READY=1");
}

int
main(int argc, char **argv)
{
    static const struct option options[] = {
        { "config", required_argument, NULL, 'c' },
        { "broker", required_argument, NULL, 'b' },
        { "uri", required_argument, NULL, 'u' },
        { "node", required_argument, NULL, 'n' },
        { "state-dir", required_argument, NULL, 's' },
        { "foreground", no_argument, NULL, 'f' },
        { "pidfile", required_argument, NULL, 'p' },
        { "verbose", no_argument, NULL, 'v' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct agent_config over = { .log_level = LOG_LEVEL_INFO }, cfg;
    struct daemon_state ds = { 0 };
    struct event *sigterm_ev, *sigint_ev, *sighup_ev;
    struct agent_env env;
    struct schema *schema;
    struct workq *wq;
    struct bus_threads *bus_threads;
    const char *config_path = NULL;
    char *brokers = NULL;
    bool foreground = false;
    qmf_error err;
    int ch;

    while ((ch = getopt_long(argc, argv, "c:b:u:n:s:fp:vVh", options, NULL)) != -1) {
        switch (ch) {
        case 'c': config_path = optarg; break;
        case 'b': add_broker(&brokers, optarg); over.broker = brokers; break;
        case 'u': over.uri = optarg; break;
        case 'n': over.node = optarg; break;
        case 's': over.state_dir = optarg; break;
        case 'f': foreground = true; break;
        case 'p': ds.pidfile = absolute_path(optarg); break;
        case 'v': over.log_level = LOG_LEVEL_DEBUG; break;
        case 'V': printf("virtbusd %s\n", VIRTBUS_VERSION); return 0;
        case 'h': usage(stdout, 0);
        default:  usage(stderr, 2);
        }
    }
    if (optind != argc)
        usage(stderr, 2);

    log_init(&ds.log, "virtbusd", over.log_level, false);
    ds.start_fd = -1;
    ds.pidfile_fd = -1;
    ds.config_path = config_path ? config_path : DEFAULT_CONFIG;
    ds.overrides = &over;
    if (read_config(&cfg, ds.config_path, config_path != NULL, &over, &err) != 0)
        fatalx(&ds.log, "%s", err.text);
    ds.log.level = cfg.log_level;
    ds.stop_timeout = cfg.stop_timeout;

    /* Fork before any thread exists.  Until the start is over, errors
     * still reach the terminal (tell_parent detaches). */
    if (!foreground)
        detach(&ds);
    ds.start_awaited = !foreground || notify_awaited();
    if (ds.pidfile)
        pidfile_write(&ds);
    signal(SIGPIPE, SIG_IGN);

    if (evthread_use_pthreads() != 0)
        fatalx(&ds.log, "libevent has no pthreads support");
    ds.base = event_base_new();
    if (ds.base == NULL)
        fatalx(&ds.log, "cannot create the event loop");
    if (drv_event_loop_install(ds.base, &err) != 0)
        fatalx(&ds.log, "%s", err.text);
    schema = schema_load_builtin(&err);
    if (schema == NULL)
        fatalx(&ds.log, "schema: %s", err.text);
    wq = workq_new(ds.base, cfg.workers, &err);
    if (wq == NULL)
        fatalx(&ds.log, "workers: %s", err.text);
    ds.wq = wq;
    bus_threads = bus_threads_new();

    env = (struct agent_env){
        .base = ds.base, .wq = wq, .schema = schema, .use_syslog = !foreground,
        .failed = failed_cb, .failed_opaque = &ds,
        .started = started_cb, .started_opaque = &ds,
        .bus_threads = bus_threads,
    };
#ifdef VIRTBUS_FAILPOINTS
    /* The fault tests' build of this program only (docs/RELIABILITY.md). */
    failpoints_install(&env, getenv("VIRTBUS_FAILPOINTS"));
#endif
    ds.agent = agent_new(&env, &cfg, &err);
    if (ds.agent == NULL)
        fatalx(&ds.log, "%s", err.text);

    sigterm_ev = evsignal_new(ds.base, SIGTERM, sigterm_cb, &ds);
    sigint_ev = evsignal_new(ds.base, SIGINT, sigterm_cb, &ds);
    sighup_ev = evsignal_new(ds.base, SIGHUP, sighup_cb, &ds);
    event_add(sigterm_ev, NULL);
    event_add(sigint_ev, NULL);
    event_add(sighup_ev, NULL);

    watchdog_start(&ds);
    agent_start(ds.agent);
    event_base_dispatch(ds.base);

    if (ds.abandoned) {
        /*
         * A worker blocked in libvirt cannot be cancelled, and freeing
         * would wait for it.  Its BEGIN is on disk without an outcome, so
         * the next start answers it "interrupted" and never re-runs it.
         */
        if (agent_jobs_running(ds.agent) > 0)
            log_warnx(&ds.log, "abandoning the running command(s); "
                      "the next start reports them interrupted");
        pidfile_remove(&ds);
        fflush(NULL);
        _exit(0);
    }

    event_free(sigterm_ev);
    event_free(sigint_ev);
    event_free(sighup_ev);
    if (ds.grace_ev)
        event_free(ds.grace_ev);
    if (ds.watchdog_ev)
        event_free(ds.watchdog_ev);
    workq_free(wq);
    agent_free(ds.agent);
    /* Last: the goodbye agent_free left to a thread, and any connect
     * attempt, still use OpenSSL, which exit() cleans up under them. */
    if (!bus_threads_free(bus_threads, BUS_THREADS_WAIT_MS))
        log_warnx(&ds.log, "exiting with a broker connection's thread still at work");
    schema_free(schema);
    agent_config_free(&cfg);
    event_base_free(ds.base);
    pidfile_remove(&ds);
    free(ds.pidfile);
    free(brokers);
    if (ds.refused)
        return EXIT_NODE_IN_USE;
    return ds.start_failed ? EXIT_START_FAILED : 0;
}
