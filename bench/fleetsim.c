/*
 * virtbus-fleetsim: a simulated fleet.  One process runs N agents on one
 * libevent loop, each with its own broker connection and its own libvirt
 * test-driver connection (and so its own domains), so that the controller
 * can be tested and measured against hundreds of nodes on one machine.
 *
 *   virtbus-fleetsim [-n N] [-b URL] [--prefix NAME] [--fixture FILE] ...
 *
 * Agents are started in paced batches (a connect storm of a thousand TCP
 * and AMQP handshakes would only make the broker slower); once every agent
 * serves, one line is printed and the ready file written.  After that it
 * keeps counting: when agents stop serving (a broker restart) and all
 * serve again, one more line says how long the fleet took to be whole,
 * and the again file is written (bench/run-storm.sh reads it).  SIGTERM
 * and SIGINT stop every agent gracefully.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/log.h"
#include "agent/workq.h"
#include "bench/measure.h"
#include "bus/bus.h"
#include "drivers/driver.h"
#include "schema/schema.h"
#include "tests/harness/support.h"
#include "trust/credential.h"
#include "trust/key.h"
#include "trust/verified.h"

#define DEFAULT_AGENTS 100
#define DEFAULT_PREFIX "sim"
#define DEFAULT_START_RATE 50       /* agents per START_TICK_MS */
#define START_TICK_MS 100
#define READY_POLL_MS 50
#define PROGRESS_EVERY_S 10         /* while not all serve */
#define STOP_GRACE_S 30
/* How long exit waits for the agents' connection threads (goodbyes,
 * connect attempts), which run at once, each within 2 s when the broker
 * answers; a thousand of them on two CPUs take longer. */
#define BUS_THREADS_WAIT_MS 10000
/* Descriptors besides one socket per agent: the loop, workers, libvirt,
 * connect threads in flight, stdio. */
#define SPARE_FDS 64
#define MAX_AGENTS 100000
#define TEMPLATE_MAX (1024 * 1024)

enum label_scheme { LABELS_STANDARD, LABELS_NONE };

struct sim_options {
    size_t nagents;
    size_t first;               /* the first agent's number */
    const char *broker;
    const char *prefix;
    const char *fixture;
    const char *config;
    const char *ready_file;
    const char *again_file;
    const char *queue_type;
    enum label_scheme labels;
    const char **extra_labels;      /* "key=value", every agent */
    size_t nextra_labels;
    unsigned heartbeat_s;           /* 0: the agent default */
    unsigned stats_s;               /* 0: the agent default */
    unsigned workers;
    unsigned start_rate;
    enum log_level level;
    const char *state_dir;          /* NULL: a scratch directory */
    /* Trust: DIR holds issuer.key and issuer.pub; every agent trusts the
     * issuer and signs with a key and credential of its own, made in
     * DIR/agents when missing.  NULL: as the configuration says. */
    const char *trust_dir;
    /* Each agent verifies every request itself, as on a host of its own,
     * instead of the agents sharing what they verified. */
    bool verify_alone;
};

struct sim {
    struct sim_options opt;
    struct log_ctx log;
    struct event_base *base;
    struct schema *schema;
    struct workq *wq;
    /* Request signatures any agent verified: a broadcast reaches all of
     * them, and a real fleet verifies it on every host at once, in
     * parallel, not N times over on one thread.  NULL with --verify-alone. */
    struct trust_verified *verified;
    /* Every agent's broker connection threads, waited for at exit. */
    struct bus_threads *bus_threads;
    struct agent **agents;
    char *fixture_dir;          /* per-agent fixture copies, or NULL */
    char *scratch_state_dir;    /* the agents' journals, removed at exit */
    size_t started;
    size_t stopped;
    bool stopping;
    bool grace_expired;
    double t_start;             /* monotonic s, first agent started */
    double t_last_progress;
    long rss_base_kib;          /* before any agent existed */
    /* After the first time every agent served: the last outage's course,
     * monotonic s (0: not yet), and the fewest serving during it. */
    bool whole;
    unsigned outages;
    double t_lost, t_half, t_nine_tenths;
    size_t fewest;
    struct event *start_ev;
    struct event *poll_ev;
    struct event *grace_ev;
    struct event *sigterm_ev;
    struct event *sigint_ev;
};

static void __attribute__((noreturn))
usage(FILE *f, int status)
{
    fprintf(f,
        "usage: virtbus-fleetsim [-n N] [-b URL] [--prefix NAME] [--first K] [--fixture FILE]\n"
        "                        [--labels standard|none] [--label KEY=VALUE]...\n"
        "                        [--heartbeat S] [--stats-interval S]\n"
        "                        [--queue-type classic|quorum] [--workers N]\n"
        "                        [--start-rate N] [--ready-file FILE] [--again-file FILE]\n"
        "                        [-c FILE]\n"
        "                        [--state-dir DIR] [--trust DIR] [--verify-alone]\n"
        "                        [-v | --quiet]\n"
        "  -n, --agents N          agents to run (default %d)\n"
        "  -b, --broker URL        broker URL, amqp:// or amqp10:// (default $VIRTBUS_BROKER or\n"
        "                          the agent default)\n"
        "  -p, --prefix NAME       node names NAME-0001, NAME-0002, ... (default " DEFAULT_PREFIX ")\n"
        "      --first K           number the agents from K (default 1): simulators that\n"
        "                          share a prefix, one per CPU, make one fleet\n"
        "  -f, --fixture FILE      libvirt test-driver node XML; @SERIAL@ and @NODE@ in it\n"
        "                          are replaced per agent (default sim.xml)\n"
        "  -l, --labels SCHEME     standard: rack=rack<i%%10>, tier=web|db|batch by i%%3,\n"
        "                          sim=1 (i: the node's number); none: no labels\n"
        "  -L, --label KEY=VALUE   one more label on every agent\n"
        "      --heartbeat S       agent heartbeat interval\n"
        "      --stats-interval S  agent statistics reload interval\n"
        "  -q, --queue-type TYPE   command queues: classic (default) or quorum\n"
        "  -w, --workers N         worker threads shared by all agents (default 4)\n"
        "  -r, --start-rate N      agents started per %d ms (default %d)\n"
        "  -R, --ready-file FILE   written once every agent serves, removed at exit\n"
        "      --again-file FILE   written each time every agent serves again after some\n"
        "                          stopped (a broker restart): when the first stopped,\n"
        "                          when half, nine tenths and all served again (epoch\n"
        "                          seconds); removed at exit\n"
        "  -c, --config FILE       agent configuration applied to every agent first\n"
        "  -D, --state-dir DIR     the agents' journals (default: a scratch directory,\n"
        "                          removed at exit)\n"
        "  -T, --trust DIR         DIR/issuer.{key,pub} (virtbus key new --out DIR/issuer):\n"
        "                          agents trust that issuer and sign with keys of their\n"
        "                          own, issued into DIR/agents when missing\n"
        "      --verify-alone      every agent verifies each request's signature\n"
        "                          itself, as hosts do, N times over on one thread\n"
        "                          (default: the agents share what they verified, so\n"
        "                          that a broadcast is verified once, as a fleet's\n"
        "                          hosts do it, at once)\n"
        "  -v, --verbose           agent info messages (twice: debug)\n"
        "      --quiet             agent errors only, not the warnings every agent of a\n"
        "                          fleet may give alike (e.g. require_signatures = no)\n",
        DEFAULT_AGENTS, START_TICK_MS, DEFAULT_START_RATE);
    exit(status);
}

/* Resident set size of this process, in KiB; -1 if unknown. */
static long
rss_kib(void)
{
    long pages_total, pages_resident;
    FILE *f = fopen("/proc/self/statm", "r");
    int n;

    if (f == NULL)
        return -1;
    n = fscanf(f, "%ld %ld", &pages_total, &pages_resident);
    fclose(f);
    if (n != 2)
        return -1;
    return pages_resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int
parse_count(const char *flag, const char *s, unsigned long min, unsigned long max,
            unsigned long *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max) {
        fprintf(stderr, "virtbus-fleetsim: %s: expected an integer in %lu..%lu, got '%s'\n",
                flag, min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* A thousand sockets need more than the usual soft limit of 1024.  An
 * agent on AMQP 1.0 holds two: its 1.0 connection and the 0-9-1 one that
 * keeps its node lock (docs/TRANSPORTS.md, "Locks").  While a connection
 * is being made, its attempt holds one more, the eventfd that wakes the
 * loop (bus/backend.c): after a broker restart every agent's at once. */
static void
raise_fd_limit(struct sim *s)
{
    const char *url = s->opt.broker ? s->opt.broker : "";
    size_t per_agent = (strncmp(url, "amqp10:", 7) == 0 || strncmp(url, "amqps10:", 8) == 0
                        ? 2 : 1) + 1;
    struct rlimit rl;
    size_t need = per_agent * s->opt.nagents + SPARE_FDS;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        log_warn(&s->log, "getrlimit");
        return;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            log_warn(&s->log, "cannot raise the open-file limit");
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
        log_warnx(&s->log, "the open-file limit (%llu) is below the %zu that %zu agents "
                  "need; raise the hard limit (ulimit -Hn)",
                  (unsigned long long)rl.rlim_cur, need, s->opt.nagents);
}

/* Labels --------------------------------------------------------------- */

static void
set_labels(const struct sim_options *o, size_t number, qmf_value *labels)
{
    static const char *const tiers[] = { "web", "db", "batch" };
    size_t i;

    if (o->labels == LABELS_STANDARD) {
        qmf_map_set(labels, "rack", qmf_stringf("rack%zu", number % 10));
        qmf_map_set(labels, "tier", qmf_string(tiers[number % 3]));
        qmf_map_set(labels, "sim", qmf_string("1"));
    }
    for (i = 0; i < o->nextra_labels; i++) {
        const char *kv = o->extra_labels[i], *eq = strchr(kv, '=');
        char *key = qmf_xstrndup(kv, (size_t)(eq - kv));

        qmf_map_set(labels, key, qmf_string(eq + 1));
        free(key);
    }
}

/* Fixtures ------------------------------------------------------------- */

static char *
read_file(const char *path, size_t max, qmf_error *err)
{
    FILE *f = fopen(path, "r");
    char *buf;
    size_t len;

    if (f == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: %s", path, strerror(errno));
        return NULL;
    }
    buf = qmf_xmalloc(max + 1);
    len = fread(buf, 1, max + 1, f);
    if (ferror(f) || len > max) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: %s", path,
                      ferror(f) ? "read error" : "too large for a fixture");
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* Writes text with every `token` replaced by `value`. */
static void
fput_replaced(FILE *f, const char *text, const char *const *tokens,
              const char *const *values, size_t ntokens)
{
    const char *p = text;

    while (*p) {
        const char *at = strchr(p, '@');
        size_t i;

        if (at == NULL) {
            fputs(p, f);
            return;
        }
        fwrite(p, 1, (size_t)(at - p), f);
        for (i = 0; i < ntokens; i++)
            if (strncmp(at, tokens[i], strlen(tokens[i])) == 0)
                break;
        if (i < ntokens) {
            fputs(values[i], f);
            p = at + strlen(tokens[i]);
        } else {
            fputc('@', f);
            p = at + 1;
        }
    }
}

static char *
node_name(const struct sim_options *o, size_t number)
{
    return qmf_xasprintf("%s-%04zu", o->prefix, number);
}

/* tmpfs if there is one: a thousand files on a disk file system cost more
 * CPU in the kernel than the agents' own start. */
static const char *
scratch_base(void)
{
    if (getenv("TMPDIR") && getenv("TMPDIR")[0])
        return getenv("TMPDIR");
    if (access("/dev/shm", W_OK | X_OK) == 0)
        return "/dev/shm";
    return "/tmp";
}

/*
 * The libvirt URI of every agent.  A fixture with @SERIAL@ or @NODE@ is a
 * template: each agent gets a copy of its own, so that every simulated
 * domain has its own UUID and a UUID names exactly one node.
 */
static char **
prepare_fixtures(struct sim *s, qmf_error *err)
{
    static const char *const tokens[] = { "@SERIAL@", "@NODE@" };
    char **uris, *text, *abs;
    const char *tmp;
    size_t i, j;

    if ((abs = realpath(s->opt.fixture, NULL)) == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "fixture %s: %s", s->opt.fixture,
                      strerror(errno));
        return NULL;
    }
    if ((text = read_file(abs, TEMPLATE_MAX, err)) == NULL) {
        free(abs);
        return NULL;
    }
    uris = qmf_xcalloc(s->opt.nagents, sizeof(*uris));
    if (strstr(text, tokens[0]) == NULL && strstr(text, tokens[1]) == NULL) {
        for (i = 0; i < s->opt.nagents; i++)
            uris[i] = qmf_xasprintf("test://%s", abs);
        free(text);
        free(abs);
        return uris;
    }
    free(abs);
    tmp = scratch_base();
    s->fixture_dir = qmf_xasprintf("%s/virtbus-fleetsim-XXXXXX", tmp);
    if (mkdtemp(s->fixture_dir) == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: %s", s->fixture_dir, strerror(errno));
        free(s->fixture_dir);
        s->fixture_dir = NULL;
        free(text);
        free(uris);
        return NULL;
    }
    for (i = 0; i < s->opt.nagents; i++) {
        char *node = node_name(&s->opt, s->opt.first + i);
        char *serial = qmf_xasprintf("%012zu", s->opt.first + i);
        char *path = qmf_xasprintf("%s/%s.xml", s->fixture_dir, node);
        const char *values[] = { serial, node };
        FILE *f = fopen(path, "w");
        bool ok = f != NULL;

        if (f != NULL) {
            fput_replaced(f, text, tokens, values, 2);
            ok = !ferror(f);
            ok = fclose(f) == 0 && ok;
        }
        if (!ok)
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: %s", path, strerror(errno));
        uris[i] = qmf_xasprintf("test://%s", path);
        free(node);
        free(serial);
        free(path);
        if (!ok) {
            for (j = 0; j <= i; j++)
                free(uris[j]);
            free(uris);
            free(text);
            return NULL;
        }
    }
    free(text);
    return uris;
}

static void
remove_fixtures(struct sim *s)
{
    size_t i;

    if (s->fixture_dir == NULL)
        return;
    for (i = 0; i < s->opt.nagents; i++) {
        char *node = node_name(&s->opt, s->opt.first + i);
        char *path = qmf_xasprintf("%s/%s.xml", s->fixture_dir, node);

        unlink(path);
        free(path);
        free(node);
    }
    if (rmdir(s->fixture_dir) != 0)
        log_warn(&s->log, "cannot remove %s", s->fixture_dir);
    free(s->fixture_dir);
    s->fixture_dir = NULL;
}

/*
 * Simulated agents keep journals like real ones, but in a scratch directory
 * (tmpfs when there is one) unless told otherwise, never in the system's
 * /var/lib/virtbus: the simulator measures the bus, and a thousand agents'
 * fsyncs on one disk would measure that disk (bench/journal measures the
 * journal).
 */
static int
make_scratch_state(struct sim *s, struct agent_config *cfg, qmf_error *err)
{
    struct agent_config defaults;
    bool configured;

    if (s->opt.state_dir != NULL) {
        free(cfg->state_dir);
        cfg->state_dir = qmf_xstrdup(s->opt.state_dir);
        return 0;
    }
    /* A state_dir from the -c file is the user's choice too. */
    agent_config_defaults(&defaults);
    configured = strcmp(cfg->state_dir, defaults.state_dir) != 0;
    agent_config_free(&defaults);
    if (configured)
        return 0;
    s->scratch_state_dir = qmf_xasprintf("%s/virtbus-fleetsim-journals-XXXXXX", scratch_base());
    if (mkdtemp(s->scratch_state_dir) == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: %s", s->scratch_state_dir,
                      strerror(errno));
        free(s->scratch_state_dir);
        s->scratch_state_dir = NULL;
        return -1;
    }
    free(cfg->state_dir);
    cfg->state_dir = qmf_xstrdup(s->scratch_state_dir);
    return 0;
}

static void
remove_scratch_state(struct sim *s)
{
    DIR *d;
    struct dirent *de;

    if (s->scratch_state_dir == NULL)
        return;
    if ((d = opendir(s->scratch_state_dir)) != NULL) {
        while ((de = readdir(d)) != NULL) {
            char *path;

            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            path = qmf_xasprintf("%s/%s", s->scratch_state_dir, de->d_name);
            unlink(path);
            free(path);
        }
        closedir(d);
    }
    if (rmdir(s->scratch_state_dir) != 0)
        log_warn(&s->log, "cannot remove %s", s->scratch_state_dir);
    free(s->scratch_state_dir);
    s->scratch_state_dir = NULL;
}

/* Trust ----------------------------------------------------------------- */

/*
 * The agent's key and credential in the trust directory, issued now if
 * they are missing (a simulator restarted on the same directory reuses
 * them): what an operator does once per host, done for every agent.
 */
static int
agent_trust(const struct sim *s, struct agent_config *cfg, qmf_error *err)
{
    char *issuer_path = qmf_xasprintf("%s/issuer.key", s->opt.trust_dir);
    char *dir = qmf_xasprintf("%s/agents", s->opt.trust_dir);
    struct trust_credential fields = { 0 };
    struct trust_key *issuer = NULL;
    char *text = NULL;
    int rc = -1;

    free(cfg->key);
    free(cfg->credential);
    cfg->key = qmf_xasprintf("%s/%s.key", dir, cfg->node);
    cfg->credential = qmf_xasprintf("%s/%s.cred", dir, cfg->node);
    if (access(cfg->credential, F_OK) == 0) {
        rc = 0;
        goto out;
    }
    if ((mkdir(dir, 0700) != 0 && errno != EEXIST) ||
        (issuer = trust_key_load(issuer_path, err)) == NULL) {
        if (err->text[0] == '\0')
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: %s", dir, strerror(errno));
        goto out;
    }
    unlink(cfg->key);
    fields.name = cfg->node;
    fields.roles = TRUST_ROLE_AGENT;
    fields.not_before = (int64_t)time(NULL) - 3600;
    fields.not_after = (int64_t)time(NULL) + 365 * 86400;
    if ((text = trust_credential_issue_new_key(issuer, &fields, cfg->key, cfg->credential,
                                               err)) == NULL)
        goto out;
    rc = 0;
out:
    free(text);
    free(fields.serial);
    trust_key_free(issuer);
    free(issuer_path);
    free(dir);
    return rc;
}

/* Agents ---------------------------------------------------------------- */

static int
create_agents(struct sim *s, const struct agent_config *base_cfg, char **uris,
              qmf_error *err)
{
    struct agent_env env = { .base = s->base, .wq = s->wq, .schema = s->schema,
                             .verified = s->verified, .bus_threads = s->bus_threads };
    size_t i;

    s->agents = qmf_xcalloc(s->opt.nagents, sizeof(*s->agents));
    for (i = 0; i < s->opt.nagents; i++) {
        struct agent_config cfg;

        agent_config_copy(&cfg, base_cfg);
        free(cfg.node);
        cfg.node = node_name(&s->opt, s->opt.first + i);
        free(cfg.uri);
        cfg.uri = qmf_xstrdup(uris[i]);
        set_labels(&s->opt, s->opt.first + i, cfg.labels);
        if (s->opt.trust_dir != NULL && agent_trust(s, &cfg, err) != 0) {
            agent_config_free(&cfg);
            return -1;
        }
        s->agents[i] = agent_new(&env, &cfg, err);
        agent_config_free(&cfg);
        if (s->agents[i] == NULL)
            return -1;
    }
    return 0;
}

/* path, written with fmt's text and renamed into place, so that a waiter
 * never reads half a file; nothing if path is NULL. */
static void __attribute__((format(printf, 3, 4)))
write_status_file(struct sim *s, const char *path, const char *fmt, ...)
{
    char *tmp;
    va_list ap;
    FILE *f;

    if (path == NULL)
        return;
    tmp = qmf_xasprintf("%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL) {
        log_warn(&s->log, "%s", tmp);
        free(tmp);
        return;
    }
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        log_warn(&s->log, "%s", path);
    free(tmp);
}

static void
write_ready_file(struct sim *s, double secs, long rss)
{
    char *broker = bus_url_redact(s->opt.broker);

    write_status_file(s, s->opt.ready_file, "pid=%ld\nagents=%zu\nprefix=%s\nbroker=%s\n"
                      "seconds=%.3f\nrss_kib=%ld\nrss_base_kib=%ld\n", (long)getpid(),
                      s->opt.nagents, s->opt.prefix, broker, secs, rss, s->rss_base_kib);
    free(broker);
}

static size_t
count_ready(const struct sim *s)
{
    size_t i, n = 0;

    for (i = 0; i < s->started; i++)
        n += agent_is_ready(s->agents[i]);
    return n;
}

/* A monotonic time as epoch seconds, for a reader in another process. */
static double
epoch_of(double mono)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9 - (bench_now_s() - mono);
}

/* The last outage, once every agent serves again. */
static void
write_again_file(struct sim *s, double t_whole)
{
    write_status_file(s, s->opt.again_file, "pid=%ld\nagents=%zu\noutages=%u\nfewest=%zu\n"
                      "lost_at=%.3f\nhalf_at=%.3f\nnine_tenths_at=%.3f\nwhole_at=%.3f\n",
                      (long)getpid(), s->opt.nagents, s->outages, s->fewest,
                      epoch_of(s->t_lost), epoch_of(s->t_half), epoch_of(s->t_nine_tenths),
                      epoch_of(t_whole));
}

/* After the first readiness: follows an outage (some agents not serving)
 * until every agent serves again. */
static void
follow_outage(struct sim *s, size_t ready, double t)
{
    size_t n = s->opt.nagents;

    if (s->whole) {
        if (ready == n)
            return;
        s->whole = false;
        s->outages++;
        s->t_lost = t;
        s->t_half = s->t_nine_tenths = 0;
        s->fewest = ready;
        return;
    }
    if (ready < s->fewest)
        s->fewest = ready;
    /* Counted once the fleet fell below them, so that "half back" means
     * back, not "not lost yet". */
    if (s->fewest < n / 2 && s->t_half == 0 && ready >= n / 2)
        s->t_half = t;
    if (s->fewest < n - n / 10 && s->t_nine_tenths == 0 && ready >= n - n / 10)
        s->t_nine_tenths = t;
    if (ready < n)
        return;
    if (s->t_half == 0)
        s->t_half = t;
    if (s->t_nine_tenths == 0)
        s->t_nine_tenths = t;
    s->whole = true;
    printf("fleetsim: all %zu agents serving again %.2f s after the first stopped "
           "(half after %.2f s, nine tenths after %.2f s; fewest serving %zu)\n", n,
           t - s->t_lost, s->t_half - s->t_lost, s->t_nine_tenths - s->t_lost, s->fewest);
    fflush(stdout);
    write_again_file(s, t);
}

/* O(N) per poll, 20 times a second: negligible next to the handshakes it
 * waits for, and to the heartbeats it keeps watching after. */
static void
poll_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sim *s = arg;
    size_t ready = count_ready(s);
    double t = bench_now_s();
    long rss;

    if (s->whole || s->outages > 0) {
        follow_outage(s, ready, t);
        return;
    }
    if (ready < s->opt.nagents) {
        if (t - s->t_last_progress >= PROGRESS_EVERY_S) {
            s->t_last_progress = t;
            log_warnx(&s->log, "%zu of %zu agents serving after %.0f s (%zu started)",
                      ready, s->opt.nagents, t - s->t_start, s->started);
        }
        return;
    }
    s->whole = true;
    rss = rss_kib();
    printf("fleetsim: %zu agents ready in %.2f s, RSS %.1f MiB (%.0f KiB per agent)\n",
           s->opt.nagents, t - s->t_start, rss / 1024.0,
           (double)(rss - s->rss_base_kib) / (double)s->opt.nagents);
    fflush(stdout);
    write_ready_file(s, t - s->t_start, rss);
}

static void
start_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sim *s = arg;
    size_t batch = 0;

    while (s->started < s->opt.nagents && batch++ < s->opt.start_rate)
        agent_start(s->agents[s->started++]);
    if (s->started == s->opt.nagents)
        event_del(s->start_ev);
}

/* Stopping -------------------------------------------------------------- */

static void
agent_stopped_cb(struct agent *a, void *opaque)
{
    struct sim *s = opaque;

    if (++s->stopped == s->opt.nagents)
        event_base_loopexit(s->base, NULL);
}

static void
grace_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sim *s = arg;

    log_warnx(&s->log, "%zu of %zu agents still stopping after %d s; exiting anyway",
              s->opt.nagents - s->stopped, s->opt.nagents, STOP_GRACE_S);
    s->grace_expired = true;
    event_base_loopexit(s->base, NULL);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct sim *s = arg;
    struct timeval grace = { STOP_GRACE_S, 0 };
    size_t i;

    if (s->stopping) {
        log_warnx(&s->log, "second %s: exiting now", strsignal((int)sig));
        s->grace_expired = true;
        event_base_loopexit(s->base, NULL);
        return;
    }
    log_info(&s->log, "%s: stopping %zu agents", strsignal((int)sig), s->opt.nagents);
    s->stopping = true;
    event_del(s->start_ev);
    event_del(s->poll_ev);
    s->grace_ev = evtimer_new(s->base, grace_cb, s);
    event_add(s->grace_ev, &grace);
    /* Agents never started count as stopped at once. */
    for (i = 0; i < s->opt.nagents; i++)
        agent_stop(s->agents[i], agent_stopped_cb, s);
}

/* main ----------------------------------------------------------------- */

static const char *
default_fixture(void)
{
    static const char *const candidates[] = {
        VIRTBUS_SOURCE_DIR "/tests/fixtures/sim.xml",
        VIRTBUS_DATADIR "/sim.xml",
    };
    size_t i;

    for (i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
        if (access(candidates[i], R_OK) == 0)
            return candidates[i];
    return candidates[1];
}

static void
parse_options(int argc, char **argv, struct sim_options *o)
{
    static const struct option options[] = {
        { "agents", required_argument, NULL, 'n' },
        { "broker", required_argument, NULL, 'b' },
        { "prefix", required_argument, NULL, 'p' },
        { "first", required_argument, NULL, 'F' },
        { "fixture", required_argument, NULL, 'f' },
        { "labels", required_argument, NULL, 'l' },
        { "label", required_argument, NULL, 'L' },
        { "heartbeat", required_argument, NULL, 'H' },
        { "stats-interval", required_argument, NULL, 'S' },
        { "queue-type", required_argument, NULL, 'q' },
        { "workers", required_argument, NULL, 'w' },
        { "start-rate", required_argument, NULL, 'r' },
        { "ready-file", required_argument, NULL, 'R' },
        { "again-file", required_argument, NULL, 'G' },
        { "config", required_argument, NULL, 'c' },
        { "state-dir", required_argument, NULL, 'D' },
        { "trust", required_argument, NULL, 'T' },
        { "verbose", no_argument, NULL, 'v' },
        { "quiet", no_argument, NULL, 'Q' },
        { "verify-alone", no_argument, NULL, 'A' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    unsigned long v;
    int ch;

    *o = (struct sim_options){
        .nagents = DEFAULT_AGENTS,
        .broker = getenv("VIRTBUS_BROKER"),
        .prefix = DEFAULT_PREFIX,
        .first = 1,
        .queue_type = "classic",
        .labels = LABELS_STANDARD,
        .workers = 4,
        .start_rate = DEFAULT_START_RATE,
        .level = LOG_LEVEL_WARN,
    };
    o->extra_labels = qmf_xcalloc((size_t)argc, sizeof(*o->extra_labels));
    while ((ch = getopt_long(argc, argv, "n:b:p:F:f:l:L:q:w:r:R:c:D:T:vh", options, NULL)) != -1) {
        switch (ch) {
        case 'n':
            if (parse_count("--agents", optarg, 1, MAX_AGENTS, &v) != 0)
                usage(stderr, 2);
            o->nagents = v;
            break;
        case 'b': o->broker = optarg; break;
        case 'F':
            /* Several simulators can share one name space (one per core). */
            if (parse_count("--first", optarg, 1, MAX_AGENTS, &v) != 0)
                usage(stderr, 2);
            o->first = v;
            break;
        case 'p':
            if (optarg[0] == '\0' || strpbrk(optarg, "/ \t") != NULL) {
                fprintf(stderr, "virtbus-fleetsim: --prefix: a name without '/' or blanks\n");
                usage(stderr, 2);
            }
            o->prefix = optarg;
            break;
        case 'f': o->fixture = optarg; break;
        case 'l':
            if (strcmp(optarg, "standard") == 0)
                o->labels = LABELS_STANDARD;
            else if (strcmp(optarg, "none") == 0)
                o->labels = LABELS_NONE;
            else {
                fprintf(stderr, "virtbus-fleetsim: --labels: standard or none, not '%s'\n",
                        optarg);
                usage(stderr, 2);
            }
            break;
        case 'L':
            if (strchr(optarg, '=') == NULL || optarg[0] == '=') {
                fprintf(stderr, "virtbus-fleetsim: --label: expected KEY=VALUE, got '%s'\n",
                        optarg);
                usage(stderr, 2);
            }
            o->extra_labels[o->nextra_labels++] = optarg;
            break;
        case 'H':
            if (parse_count("--heartbeat", optarg, 1, 3600, &v) != 0)
                usage(stderr, 2);
            o->heartbeat_s = (unsigned)v;
            break;
        case 'S':
            if (parse_count("--stats-interval", optarg, 1, 86400, &v) != 0)
                usage(stderr, 2);
            o->stats_s = (unsigned)v;
            break;
        case 'q':
            if (strcmp(optarg, "classic") != 0 && strcmp(optarg, "quorum") != 0) {
                fprintf(stderr, "virtbus-fleetsim: --queue-type: classic or quorum, "
                        "not '%s'\n", optarg);
                usage(stderr, 2);
            }
            o->queue_type = optarg;
            break;
        case 'w':
            if (parse_count("--workers", optarg, 1, 256, &v) != 0)
                usage(stderr, 2);
            o->workers = (unsigned)v;
            break;
        case 'r':
            if (parse_count("--start-rate", optarg, 1, MAX_AGENTS, &v) != 0)
                usage(stderr, 2);
            o->start_rate = (unsigned)v;
            break;
        case 'R': o->ready_file = optarg; break;
        case 'G': o->again_file = optarg; break;
        case 'c': o->config = optarg; break;
        case 'D': o->state_dir = optarg; break;
        case 'T': o->trust_dir = optarg; break;
        case 'v':
            o->level = o->level <= LOG_LEVEL_WARN ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG;
            break;
        case 'Q': o->level = LOG_LEVEL_ERROR; break;
        case 'A': o->verify_alone = true; break;
        case 'h': usage(stdout, 0);
        default:  usage(stderr, 2);
        }
    }
    if (optind != argc)
        usage(stderr, 2);
    if (o->fixture == NULL)
        o->fixture = default_fixture();
}

/* The configuration every agent starts from: defaults, the file, flags. */
static int
base_config(const struct sim_options *o, struct agent_config *cfg, qmf_error *err)
{
    agent_config_defaults(cfg);
    if (o->config && agent_config_load(cfg, o->config, err) != 0) {
        agent_config_free(cfg);
        return -1;
    }
    if (o->broker) {
        free(cfg->broker);
        cfg->broker = qmf_xstrdup(o->broker);
    }
    free(cfg->queue_type);
    cfg->queue_type = qmf_xstrdup(o->queue_type);
    if (o->heartbeat_s)
        cfg->heartbeat_interval = o->heartbeat_s;
    if (o->stats_s)
        cfg->stats_interval = o->stats_s;
    cfg->log_level = o->level;
    if (o->trust_dir != NULL)
        qmf_list_append(cfg->issuer_keys, qmf_stringf("%s/issuer.pub", o->trust_dir));
    return 0;
}

int
main(int argc, char **argv)
{
    struct sim s = { 0 };
    struct agent_config cfg;
    struct timeval tick = { 0, START_TICK_MS * 1000 };
    struct timeval poll = { 0, READY_POLL_MS * 1000 };
    char **uris, *shown;
    qmf_error err;
    size_t i;
    int status = 0;

    parse_options(argc, argv, &s.opt);
    log_init(&s.log, "virtbus-fleetsim", s.opt.level, false);
    if (base_config(&s.opt, &cfg, &err) != 0)
        fatalx(&s.log, "%s", err.text);
    s.opt.broker = cfg.broker;
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(&s);

    if (evthread_use_pthreads() != 0)
        fatalx(&s.log, "libevent has no pthreads support");
    if ((s.base = event_base_new()) == NULL)
        fatalx(&s.log, "cannot create the event loop");
    if (drv_event_loop_install(s.base, &err) != 0)
        fatalx(&s.log, "%s", err.text);
    if ((s.schema = schema_load_builtin(&err)) == NULL)
        fatalx(&s.log, "schema: %s", err.text);
    if ((s.wq = workq_new(s.base, s.opt.workers, &err)) == NULL)
        fatalx(&s.log, "workers: %s", err.text);
    if (s.opt.ready_file)
        unlink(s.opt.ready_file);   /* a stale one would mislead a waiter */
    if (s.opt.again_file)
        unlink(s.opt.again_file);
    /* A slot per broadcast in flight at once is plenty. */
    if (!s.opt.verify_alone)
        s.verified = trust_verified_new(256);
    s.bus_threads = bus_threads_new();
    s.rss_base_kib = rss_kib();

    if (make_scratch_state(&s, &cfg, &err) != 0)
        fatalx(&s.log, "%s", err.text);
    if ((uris = prepare_fixtures(&s, &err)) == NULL) {
        remove_fixtures(&s);
        remove_scratch_state(&s);
        fatalx(&s.log, "%s", err.text);
    }
    if (create_agents(&s, &cfg, uris, &err) != 0) {
        remove_fixtures(&s);
        remove_scratch_state(&s);
        fatalx(&s.log, "%s", err.text);
    }
    for (i = 0; i < s.opt.nagents; i++)
        free(uris[i]);
    free(uris);
    shown = bus_url_redact(cfg.broker);
    log_info(&s.log, "%zu agents %s-%04d.. on %s, %s queues, %u per %d ms",
             s.opt.nagents, s.opt.prefix, 1, shown, s.opt.queue_type,
             s.opt.start_rate, START_TICK_MS);
    free(shown);

    s.sigterm_ev = evsignal_new(s.base, SIGTERM, signal_cb, &s);
    s.sigint_ev = evsignal_new(s.base, SIGINT, signal_cb, &s);
    event_add(s.sigterm_ev, NULL);
    event_add(s.sigint_ev, NULL);
    s.start_ev = event_new(s.base, -1, EV_PERSIST, start_cb, &s);
    s.poll_ev = event_new(s.base, -1, EV_PERSIST, poll_cb, &s);
    s.t_start = s.t_last_progress = bench_now_s();
    start_cb(-1, 0, &s);
    if (s.started < s.opt.nagents)
        event_add(s.start_ev, &tick);
    event_add(s.poll_ev, &poll);

    event_base_dispatch(s.base);

    if (s.grace_expired)
        status = 1;
    event_free(s.sigterm_ev);
    event_free(s.sigint_ev);
    event_free(s.start_ev);
    event_free(s.poll_ev);
    if (s.grace_ev)
        event_free(s.grace_ev);
    /* Before the agents: pending done callbacks still point at them. */
    workq_free(s.wq);
    for (i = 0; i < s.opt.nagents; i++)
        agent_free(s.agents[i]);
    free(s.agents);
    /* After the agents, whose goodbyes went to threads that use OpenSSL,
     * which exit() cleans up under them. */
    if (!bus_threads_free(s.bus_threads, BUS_THREADS_WAIT_MS))
        log_warnx(&s.log, "exiting with broker connection threads still at work");
    trust_verified_free(s.verified);
    if (s.opt.ready_file)
        unlink(s.opt.ready_file);
    if (s.opt.again_file)
        unlink(s.opt.again_file);
    remove_fixtures(&s);
    remove_scratch_state(&s);
    schema_free(s.schema);
    event_base_free(s.base);
    agent_config_free(&cfg);
    free(s.opt.extra_labels);
    log_info(&s.log, "stopped");
    return status;
}
