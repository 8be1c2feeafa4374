/*
 * virtbusd: the per-node agent.  main() parses flags, reads the
 * configuration, sets up the event loop and hands over to one agent.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/log.h"
#include "agent/workq.h"
#include "bus/bus.h"
#include "drivers/driver.h"
#include "schema/schema.h"

#define DEFAULT_CONFIG "/etc/virtbus/virtbusd.conf"
/* Another virtbusd serves this node (sysexits.h EX_CONFIG: two agents
 * were given one node name).  Documented in README.md; a service manager
 * should not restart on it. */
#define EXIT_NODE_IN_USE 78
/* How long exit waits for the broker connections' background threads:
 * above a goodbye's own bound (2 s), under a connect attempt's against a
 * broker that does not answer (15 s), which is given up on. */
#define BUS_THREADS_WAIT_MS 3000

struct daemon_state {
    struct event_base *base;
    unsigned stop_timeout;      /* s running commands get at SIGTERM */
    struct agent *agent;
    struct log_ctx log;
    const char *config_path;
    const struct agent_config *overrides;
    struct event *grace_ev;
    bool abandoned;             /* exited with commands still running */
    bool refused;               /* another instance serves the node */
};

static void __attribute__((noreturn))
usage(FILE *f, int status)
{
    fprintf(f,
        "usage: virtbusd [-f] [-c FILE] [-b URL] [-u URI] [-n NODE] [-s DIR] [-v]\n"
        "  -c, --config FILE     configuration file (default " DEFAULT_CONFIG ")\n"
        "  -b, --broker URL      broker URL, e.g. amqp://user:pass@host:5672/\n"
        "  -u, --uri URI         libvirt URI, e.g. qemu:///system or test:///default\n"
        "  -n, --node NAME       node name (default: the host name)\n"
        "  -s, --state-dir DIR   journal and spool directory\n"
        "  -f, --foreground      stay in the foreground and log to stderr\n"
        "  -v, --verbose         log debug messages\n"
        "  -V, --version         print the version and exit\n");
    exit(status);
}

static void
replace(char **slot, const char *value)
{
    free(*slot);
    *slot = qmf_xstrdup(value);
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
    ds->refused = true;
    event_base_loopexit(ds->base, NULL);
}

static void
grace_expired_cb(evutil_socket_t fd, short what, void *arg)
{
    struct daemon_state *ds = arg;

    if (agent_jobs_running(ds->agent) > 0)
        log_warnx(&ds->log, "%u job(s) still running after %u s; exiting anyway",
                  agent_jobs_running(ds->agent), ds->stop_timeout);
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

    /* Parse into a copy: a bad file leaves the running configuration be. */
    if (read_config(&cfg, ds->config_path, false, ds->overrides, &err) != 0 ||
        agent_reconfigure(ds->agent, &cfg, &err) != 0)
        log_warnx(&ds->log, "reload refused, keeping the old configuration: %s", err.text);
    else {
        ds->log.level = cfg.log_level;
        ds->stop_timeout = cfg.stop_timeout;
    }
    agent_config_free(&cfg);
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
    bool foreground = false;
    qmf_error err;
    int ch;

    while ((ch = getopt_long(argc, argv, "c:b:u:n:s:fvVh", options, NULL)) != -1) {
        switch (ch) {
        case 'c': config_path = optarg; break;
        case 'b': over.broker = optarg; break;
        case 'u': over.uri = optarg; break;
        case 'n': over.node = optarg; break;
        case 's': over.state_dir = optarg; break;
        case 'f': foreground = true; break;
        case 'v': over.log_level = LOG_LEVEL_DEBUG; break;
        case 'V': printf("virtbusd %s\n", VIRTBUS_VERSION_STRING); return 0;
        case 'h': usage(stdout, 0);
        default:  usage(stderr, 2);
        }
    }
    if (optind != argc)
        usage(stderr, 2);

    log_init(&ds.log, "virtbusd", over.log_level, false);
    ds.config_path = config_path ? config_path : DEFAULT_CONFIG;
    ds.overrides = &over;
    if (read_config(&cfg, ds.config_path, config_path != NULL, &over, &err) != 0)
        fatalx(&ds.log, "%s", err.text);
    ds.log.level = cfg.log_level;
    ds.stop_timeout = cfg.stop_timeout;

    /* Fork before any thread exists. */
    if (!foreground) {
        if (daemon(0, 0) != 0)
            fatalx(&ds.log, "daemon: %s", strerror(errno));
        ds.log.use_syslog = true;
    }
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
    bus_threads = bus_threads_new();

    env = (struct agent_env){
        .base = ds.base, .wq = wq, .schema = schema, .use_syslog = !foreground,
        /* Fault injection for the reliability tests (docs/RELIABILITY.md). */
        .failpoints = getenv("VIRTBUS_FAILPOINTS"),
        .failed = failed_cb, .failed_opaque = &ds,
        .bus_threads = bus_threads,
    };
    ds.agent = agent_new(&env, &cfg, &err);
    if (ds.agent == NULL)
        fatalx(&ds.log, "%s", err.text);

    sigterm_ev = evsignal_new(ds.base, SIGTERM, sigterm_cb, &ds);
    sigint_ev = evsignal_new(ds.base, SIGINT, sigterm_cb, &ds);
    sighup_ev = evsignal_new(ds.base, SIGHUP, sighup_cb, &ds);
    event_add(sigterm_ev, NULL);
    event_add(sigint_ev, NULL);
    event_add(sighup_ev, NULL);

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
        fflush(NULL);
        _exit(0);
    }

    event_free(sigterm_ev);
    event_free(sigint_ev);
    event_free(sighup_ev);
    if (ds.grace_ev)
        event_free(ds.grace_ev);
    workq_free(wq);
    agent_free(ds.agent);
    /* Last: the goodbye agent_free left to a thread, and any connect
     * attempt, still use OpenSSL, which exit() cleans up under them. */
    if (!bus_threads_free(bus_threads, BUS_THREADS_WAIT_MS))
        log_warnx(&ds.log, "exiting with a broker connection's thread still at work");
    schema_free(schema);
    agent_config_free(&cfg);
    event_base_free(ds.base);
    return ds.refused ? EXIT_NODE_IN_USE : 0;
}
