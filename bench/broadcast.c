/*
 * bench/broadcast: broadcast round trips to a simulated fleet.  For each N
 * it starts virtbus-fleetsim with N agents (a child process, stopped by
 * pid) and prints the round trip of a broadcast with every reply in (p50,
 * p99), messages per second back to back and pipelined, and the CPU each
 * party spent per broadcast.  The same is then measured against N bare bus
 * consumers that answer at once (the floor the bus and the broker set,
 * without any agent work).  Last, it times whole `virtbus list` commands
 * against a smaller fleet, the way MCollective's `mco rpc` is timed.  A
 * benchmark that prints figures; it asserts nothing about time.
 *
 * Signatures (docs/SECURITY.md) are on by default, as agents ship: the
 * agents check every request and sign every answer, the console signs
 * every request.  --signatures picks another configuration (enum
 * sig_mode); --compare-signatures measures them side by side instead, in
 * rounds that interleave them, so that the machine's drift touches each
 * alike.
 * The trust material (an issuer, a caller, a key per agent) is made in
 * the work directory and removed at the end.
 *
 *   bench_broadcast [-N 10,100,500,1000] [-k 50] [-w 8] [--cli-nodes 50] [--cli-procs 1,2]
 *                   [--fleet-procs P] [--cli-runs 20] [--signatures MODE | --compare-signatures [--rounds R] [--modes LIST]]
 *                   [--broker-pid PID] BROKER_URL [-- FLEETSIM_FLAGS]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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

#include "bench/measure.h"
#include "bus/bus.h"
#include "controller/lib/virtbus_bus.h"
#include "core/codec.h"
#include "trust/credential.h"
#include "trust/key.h"
#include "trust/message.h"
#include "trust/seal.h"
#include "trust/store.h"

#define SIM_PREFIX "bench"
#define CLI_PREFIX "benchcli"     /* apart from the bigger fleets still in presence */
#define ECHO_PREFIX "echo"
#define ECHO_KEY "bench.echo"
#define REQUEST_TIMEOUT_MS 30000
#define STOP_WAIT_S 60
#define MAX_SIZES 16
/* Simulator processes one fleet may be split into (--fleet-procs): each
 * agent takes a few descriptors, and one process has at most its limit. */
#define MAX_FLEET_PROCS 64
#define ECHO_OPEN_BATCH 50        /* connections opened at a time */
#define QUERY_KEY "console.request.query"
#define ANSWER_CLOCK_SKEW_S 300   /* as the library allows */

/*
 * Who signs and who checks:
 *  off       agents with require_signatures = no and no key of their own,
 *            an unsigned console: no signature anywhere;
 *  on-alone  agents trust an issuer, check every request and sign every
 *            answer (fleetsim --trust), the console signs every request:
 *            as agents ship; and every simulated agent verifies each
 *            request itself (--verify-alone), N times over on one thread;
 *  on        the same, but the simulated agents share what they verified
 *            (the simulator's default): a broadcast is verified once, as
 *            a real fleet's hosts verify it at once, in parallel;
 *  answers   on, and the console also checks every answer's MAC
 *            (answer_issuer_keys; the CLI's agent_issuer_keys);
 *  sealed    on, and the agents seal every answer, as the CLI asks by
 *            default (seal_answers = yes).
 * Off to answers, the console asks for answers in the clear
 * (plain_answers; seal_answers = no): what they measure is signatures.
 */
enum sig_mode { SIG_OFF, SIG_ALONE, SIG_ON, SIG_ANSWERS, SIG_SEALED, NSIG_MODES };

static const char *const sig_mode_names[NSIG_MODES] = { "off", "on-alone", "on", "answers",
                                                        "sealed" };

/* The files of every mode, in one directory of the work directory. */
struct trust_files {
    char *dir;
    char *issuer_key, *issuer_pub;
    char *caller_key, *caller_cred;
    char *agents_off;               /* agent configuration of mode off */
    char *cli_conf[NSIG_MODES];     /* the CLI's configuration per mode */
    char *cli_home;                 /* an XDG_CONFIG_HOME with no key in it */
    /* Loaded, for the pipelined run's own signing and checking. */
    struct trust_key *caller;
    struct trust_sealer *sealer;    /* the caller's X25519 twin */
    char *credential;
    struct trust_store *answers;
    struct trust_checked *answer_credentials;   /* as the library keeps them */
};

struct bench_options {
    size_t sizes[MAX_SIZES];
    size_t nsizes;
    size_t cli_procs[MAX_SIZES];    /* simulator processes for the CLI timing */
    size_t ncli_procs;
    size_t fleet_procs;         /* simulator processes of the measured fleet */
    size_t broadcasts;          /* per measurement */
    size_t window;              /* pipelined broadcasts in flight */
    size_t cli_nodes;           /* 0: skip the CLI timing */
    size_t cli_runs;
    bool echo;                  /* also measure bare bus consumers */
    bool keeper;                /* presence again with a keeper (virtbus keeper) */
    unsigned keeper_window;     /* its presence_window (0: the default) */
    bool presence_only;         /* no broadcasts: presence alone */
    const char *url;
    const char *fleetsim;
    const char *cli;
    const char *self;           /* this program, for its echo mode */
    const char *workdir;
    const char *const *fleetsim_args;   /* extra flags, NULL-terminated */
    pid_t broker_pid;           /* for its CPU time; 0: unknown */
    struct event_base *base;    /* the consoles' loop, kept running while waiting */
    enum sig_mode mode;         /* of the fleets, consoles and CLI */
    bool compare;               /* --compare-signatures */
    size_t rounds;              /* of each mode, when comparing */
    /* The modes compared (--modes; off always): fewer modes, more rounds
     * in the same time. */
    enum sig_mode modes[NSIG_MODES];
    size_t nmodes;
    struct trust_files trust;
};

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
    va_list ap;

    fputs("bench_broadcast: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void
flag_cb(evutil_socket_t fd, short what, void *arg)
{
    *(bool *)arg = true;
}

/* Runs the loop until *flag or timeout_ms; returns *flag. */
static bool
run_until(struct event_base *base, const bool *flag, unsigned timeout_ms)
{
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    bool expired = false;
    struct event *timer = evtimer_new(base, flag_cb, &expired);

    evtimer_add(timer, &tv);
    while (!*flag && !expired)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(timer);
    return *flag;
}

/* The 1-minute load average, so that a reader can tell a busy machine. */
static void
loadavg(char *buf, size_t size)
{
    FILE *f = fopen("/proc/loadavg", "r");

    buf[0] = '\0';
    if (f != NULL) {
        if (fgets(buf, (int)size, f) == NULL)
            buf[0] = '\0';
        fclose(f);
    }
    buf[strcspn(buf, " ")] = '\0';
}

/*
 * Waits ms while the consoles' loop runs: a console left without its loop
 * for as long as a thousand agents take to start misses the broker's
 * heartbeats, and the broker drops it.
 */
static void
idle_ms(struct event_base *base, unsigned ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    if (base == NULL) {
        usleep(ms * 1000);
        return;
    }
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static void
raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* CPU accounting ------------------------------------------------------------- */

/* CPU time of a process (all its threads) in ms; 0 if unknown. */
static double
cpu_ms(pid_t pid)
{
    unsigned long utime = 0, stime = 0;
    char path[64], buf[1024], *p;
    FILE *f;
    size_t n;

    if (pid <= 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields 14 and 15, counted after the command name in parentheses. */
    if ((p = strrchr(buf, ')')) == NULL ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
               &utime, &stime) != 2)
        return 0;
    return (double)(utime + stime) * 1e3 / (double)sysconf(_SC_CLK_TCK);
}

/* Where the CPU went during a measurement: the fleet, this console and
 * the broker (if its pid is known).  Clock ticks are 10 ms: figures are
 * coarse unless a measurement has many broadcasts. */
struct cpu_use {
    pid_t fleet[MAX_FLEET_PROCS], broker;
    size_t nfleet;
    double fleet_ms, self_ms, broker_ms;
};

/* The fleet's processes together. */
static double
fleet_cpu_ms(const struct cpu_use *u)
{
    double ms = 0;
    size_t i;

    for (i = 0; i < u->nfleet; i++)
        ms += cpu_ms(u->fleet[i]);
    return ms;
}

static void
cpu_start(struct cpu_use *u)
{
    u->fleet_ms = -fleet_cpu_ms(u);
    u->self_ms = -cpu_ms(getpid());
    u->broker_ms = -cpu_ms(u->broker);
}

static void
cpu_stop(struct cpu_use *u, size_t per)
{
    u->fleet_ms = (u->fleet_ms + fleet_cpu_ms(u)) / (double)per;
    u->self_ms = (u->self_ms + cpu_ms(getpid())) / (double)per;
    u->broker_ms = u->broker ? (u->broker_ms + cpu_ms(u->broker)) / (double)per : 0;
}

/* This process's resident memory in KiB, field "VmRSS:" (now) or "VmHWM:"
 * (its peak since the last peak_reset); 0 if unknown. */
static long
self_kib(const char *field)
{
    char line[256];
    long kib = 0;
    FILE *f = fopen("/proc/self/status", "r");

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, field, strlen(field)) == 0) {
            kib = strtol(line + strlen(field), NULL, 10);
            break;
        }
    fclose(f);
    return kib;
}

/* Starts a new peak (Linux: "5" to clear_refs resets VmHWM). */
static void
peak_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");

    if (f != NULL) {
        fputs("5", f);
        fclose(f);
    }
}

/* Trust material ------------------------------------------------------------ */

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        die("%s: %s", path, strerror(errno));
}

/*
 * An issuer, a caller with an admin credential, and the configuration
 * files of every mode, made with the library calls behind `virtbus key new`
 * and `virtbus key issue`.  Each simulator issues its agents' keys into
 * DIR/agents (fleetsim --trust), once: later fleets reuse them.
 */
static void
trust_make(const char *workdir, struct trust_files *t)
{
    struct trust_credential fields = { 0 };
    const char *issuers[2];
    struct trust_store_config sc = { .issuer_keys = issuers };
    struct trust_key *issuer;
    qmf_error err;
    char *text;

    t->dir = qmf_xasprintf("%s/bench_broadcast-trust-XXXXXX", workdir);
    if (mkdtemp(t->dir) == NULL)
        die("%s: %s", t->dir, strerror(errno));
    t->issuer_key = qmf_xasprintf("%s/issuer.key", t->dir);
    t->issuer_pub = qmf_xasprintf("%s/issuer.pub", t->dir);
    t->caller_key = qmf_xasprintf("%s/caller.key", t->dir);
    t->caller_cred = qmf_xasprintf("%s/caller.cred", t->dir);
    if ((issuer = trust_key_generate(&err)) == NULL ||
        trust_key_save_private(issuer, t->issuer_key, &err) != 0 ||
        trust_key_save_public(issuer, t->issuer_pub, &err) != 0 ||
        (t->caller = trust_key_generate(&err)) == NULL ||
        trust_key_save_private(t->caller, t->caller_key, &err) != 0 ||
        (t->sealer = trust_sealer_new(t->caller, 4096, &err)) == NULL)
        die("trust material: %s", err.text);
    fields.name = "bench";
    memcpy(fields.key, trust_key_raw(t->caller), TRUST_KEY_LEN);
    fields.roles = TRUST_ROLE_ADMIN;
    fields.not_before = (int64_t)time(NULL) - 3600;
    fields.not_after = (int64_t)time(NULL) + 7 * 86400;
    if ((t->credential = trust_credential_issue(issuer, &fields, &err)) == NULL)
        die("credential: %s", err.text);
    free(fields.serial);
    trust_key_free(issuer);
    text = qmf_xasprintf("%s\n", t->credential);
    write_file(t->caller_cred, text);
    free(text);

    /* No key of their own either: an agent would sign with one it found. */
    t->agents_off = qmf_xasprintf("%s/agents-off.conf", t->dir);
    write_file(t->agents_off, "require_signatures = no\nkey = \"\"\ncredential = \"\"\n");
    /* The CLI signs with the key it finds under XDG_CONFIG_HOME unless
     * key_file says otherwise: mode off points it at an empty home. */
    t->cli_home = qmf_xasprintf("%s/cli-home", t->dir);
    if (mkdir(t->cli_home, 0700) != 0)
        die("%s: %s", t->cli_home, strerror(errno));
    t->cli_conf[SIG_OFF] = qmf_xasprintf("%s/cli-off.conf", t->dir);
    write_file(t->cli_conf[SIG_OFF], "# unsigned: no key_file, and none in XDG_CONFIG_HOME\n");
    t->cli_conf[SIG_ON] = qmf_xasprintf("%s/cli-on.conf", t->dir);
    text = qmf_xasprintf("key_file = \"%s\"\nseal_answers = no\n", t->caller_key);
    write_file(t->cli_conf[SIG_ON], text);
    free(text);
    t->cli_conf[SIG_ALONE] = qmf_xstrdup(t->cli_conf[SIG_ON]);
    t->cli_conf[SIG_SEALED] = qmf_xasprintf("%s/cli-sealed.conf", t->dir);
    text = qmf_xasprintf("key_file = \"%s\"\n", t->caller_key);
    write_file(t->cli_conf[SIG_SEALED], text);
    free(text);
    t->cli_conf[SIG_ANSWERS] = qmf_xasprintf("%s/cli-answers.conf", t->dir);
    text = qmf_xasprintf("key_file = \"%s\"\nseal_answers = no\n"
                         "agent_issuer_keys = [ \"%s\" ]\n", t->caller_key, t->issuer_pub);
    write_file(t->cli_conf[SIG_ANSWERS], text);
    free(text);

    issuers[0] = t->issuer_pub;
    issuers[1] = NULL;
    if (trust_store_load(&sc, &t->answers, &err) != 0)
        die("trust store: %s", err.text);
    t->answer_credentials = trust_checked_new(t->answers, 4096);
}

/* Removes what trust_make and the simulators made: files only, one level
 * of subdirectories. */
static void
remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        char *path;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        path = qmf_xasprintf("%s/%s", dir, de->d_name);
        if (unlink(path) != 0 && errno == EISDIR)
            remove_tree(path);
        free(path);
    }
    closedir(d);
    if (rmdir(dir) != 0)
        fprintf(stderr, "bench_broadcast: cannot remove %s: %s\n", dir, strerror(errno));
}

static void
trust_free(struct trust_files *t)
{
    enum sig_mode m;

    if (t->dir == NULL)
        return;
    remove_tree(t->dir);
    free(t->dir);
    free(t->issuer_key);
    free(t->issuer_pub);
    free(t->caller_key);
    free(t->caller_cred);
    free(t->agents_off);
    for (m = 0; m < NSIG_MODES; m++)
        free(t->cli_conf[m]);
    free(t->cli_home);
    trust_key_free(t->caller);
    trust_sealer_free(t->sealer);
    free(t->credential);
    trust_store_free(t->answers);
    trust_checked_free(t->answer_credentials);
    memset(t, 0, sizeof(*t));
}

/* A console of the library in mode m. */
static struct virtbus_console *
console_open(const struct bench_options *o, struct event_base *base, enum sig_mode m,
             bool presence)
{
    const char *issuers[] = { o->trust.issuer_pub, NULL };
    struct virtbus_console_options co = { .url = o->url, .presence = presence };
    struct virtbus_console *c;
    qmf_error err;

    if (m != SIG_OFF) {
        co.key_file = o->trust.caller_key;
        co.credential_file = o->trust.caller_cred;
        co.plain_answers = m != SIG_SEALED;
    }
    if (m == SIG_ANSWERS)
        co.answer_issuer_keys = issuers;
    if ((c = virtbus_console_open(base, &co, &err)) == NULL)
        die("console: %s", err.text);
    return c;
}

/* The CLI's configuration of mode m, for the commands run from now on. */
static void
cli_use_mode(const struct bench_options *o, enum sig_mode m)
{
    setenv("VIRTBUS_CONFIG", o->trust.cli_conf[m], 1);
    setenv("XDG_CONFIG_HOME", o->trust.cli_home, 1);
}

/* Fleets: the simulator, or bare consumers --------------------------------- */

enum fleet_kind { FLEET_SIM, FLEET_ECHO };

struct fleet {
    pid_t pid;
    size_t n;
    double start_s;             /* from the ready file */
    long rss_kib;               /* the whole process */
    long rss_base_kib;          /* before its agents existed */
    struct virtbus_agent_list agents;
};

static void
fleet_exec(const struct bench_options *o, enum fleet_kind kind, enum sig_mode mode,
           const char *prefix, const char *count, const char *first, const char *ready,
           const char *body_file)
{
    const char *argv[64];
    size_t argc = 0, j;
    int devnull = open("/dev/null", O_WRONLY);

    /* Never outlive the benchmark, whatever happens to it. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (devnull >= 0)
        dup2(devnull, STDOUT_FILENO);
    if (kind == FLEET_SIM) {
        argv[argc++] = o->fleetsim;
        argv[argc++] = "-n";
        argv[argc++] = count;
        argv[argc++] = "-b";
        argv[argc++] = o->url;
        argv[argc++] = "--prefix";
        argv[argc++] = prefix;
        argv[argc++] = "--first";
        argv[argc++] = first;
        argv[argc++] = "--ready-file";
        argv[argc++] = ready;
        /* Before the user's flags: a -c of theirs replaces mode off's.
         * Every agent of mode off warns that it accepts unsigned requests. */
        argv[argc++] = mode == SIG_OFF ? "--config" : "--trust";
        argv[argc++] = mode == SIG_OFF ? o->trust.agents_off : o->trust.dir;
        if (mode == SIG_OFF)
            argv[argc++] = "--quiet";
        if (mode == SIG_ALONE)
            argv[argc++] = "--verify-alone";
        for (j = 0; o->fleetsim_args && o->fleetsim_args[j] && argc < 63; j++)
            argv[argc++] = o->fleetsim_args[j];
    } else {
        argv[argc++] = o->self;
        argv[argc++] = "--echo-serve";
        argv[argc++] = count;
        argv[argc++] = "--ready-file";
        argv[argc++] = ready;
        argv[argc++] = "--echo-body";
        argv[argc++] = body_file;
        argv[argc++] = o->url;
    }
    argv[argc] = NULL;
    execv(argv[0], (char *const *)argv);
    fprintf(stderr, "bench_broadcast: %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Starts n agents numbered from first (simulated) or n echo consumers. */
static void
fleet_start_from(const struct bench_options *o, enum fleet_kind kind, enum sig_mode mode,
                 const char *prefix, size_t first, size_t n, const char *body_file,
                 struct fleet *f)
{
    const char *what = kind == FLEET_SIM ? "virtbus-fleetsim" : "echo consumers";
    char *ready = qmf_xasprintf("%s/bench_broadcast-%ld.ready", o->workdir, (long)getpid());
    char count[32], first_text[32], line[256];
    double deadline;
    int status;
    size_t i;
    FILE *rf;

    memset(f, 0, sizeof(*f));
    f->n = n;
    unlink(ready);
    snprintf(count, sizeof(count), "%zu", n);
    snprintf(first_text, sizeof(first_text), "%zu", first);
    fflush(stdout);
    f->pid = fork();
    if (f->pid < 0)
        die("fork: %s", strerror(errno));
    if (f->pid == 0)
        fleet_exec(o, kind, mode, prefix, count, first_text, ready, body_file);
    /* Bounded: a fleet that cannot connect shows up as an error, not a hang.
     * Generous: on a 2-CPU machine loaded to 13, 1000 agents took more
     * than 160 s. */
    deadline = bench_now_ms() + 60000 + 300.0 * (double)n;
    while (access(ready, R_OK) != 0) {
        if (waitpid(f->pid, &status, WNOHANG) == f->pid)
            die("%s (%zu) exited (status %#x) before it was ready", what, n, status);
        if (bench_now_ms() > deadline) {
            kill(f->pid, SIGKILL);
            waitpid(f->pid, NULL, 0);
            die("%s (%zu) were not ready in time", what, n);
        }
        idle_ms(o->base, 20);
    }
    if ((rf = fopen(ready, "r")) != NULL) {
        while (fgets(line, sizeof(line), rf)) {
            sscanf(line, "seconds=%lf", &f->start_s);
            sscanf(line, "rss_kib=%ld", &f->rss_kib);
            sscanf(line, "rss_base_kib=%ld", &f->rss_base_kib);
        }
        fclose(rf);
    }
    free(ready);
    f->agents.items = qmf_xcalloc(n, sizeof(*f->agents.items));
    f->agents.n = n;
    for (i = 0; i < n; i++) {
        f->agents.items[i].node = qmf_xasprintf("%s-%04zu", prefix, first + i);
        f->agents.items[i].name = qmf_xasprintf("virtbus:agent:%s", f->agents.items[i].node);
        f->agents.items[i].attrs = qmf_map();
    }
}

static void
fleet_start(const struct bench_options *o, enum fleet_kind kind, enum sig_mode mode,
            const char *prefix, size_t n, const char *body_file, struct fleet *f)
{
    fleet_start_from(o, kind, mode, prefix, 1, n, body_file, f);
}

static void
fleet_stop(const struct bench_options *o, struct fleet *f)
{
    double deadline = bench_now_ms() + STOP_WAIT_S * 1000.0;
    int status = 0;

    kill(f->pid, SIGTERM);
    while (waitpid(f->pid, &status, WNOHANG) == 0) {
        if (bench_now_ms() > deadline) {
            fprintf(stderr, "bench_broadcast: child %ld did not stop; killing it\n",
                    (long)f->pid);
            kill(f->pid, SIGKILL);
            waitpid(f->pid, &status, 0);
            break;
        }
        idle_ms(o->base, 20);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "bench_broadcast: child %ld ended with status %#x\n",
                (long)f->pid, status);
    virtbus_agent_list_free(&f->agents);
}

/* Echo mode: bare consumers ------------------------------------------------- */

/*
 * N bus connections, each with its own queue bound to ECHO_KEY, that answer
 * every request at once with a fixed body (a real agent's Node answer), in
 * the agents' pattern: publish the reply (confirm mode), then ack the
 * request.  What is left of a broadcast's cost is the bus and the broker.
 */
struct echo_node {
    struct echo_fleet *fleet;
    struct bus_conn *bus;
    char *name;
    bool up;
};

struct echo_fleet {
    struct event_base *base;
    struct echo_node *nodes;
    size_t n, up;
    char *body;
    size_t body_len;
};

static void
echo_receive(struct bus_delivery *d, const struct bus_message *m, void *opaque)
{
    struct echo_node *node = opaque;
    struct bus_message *r;
    qmf_error err;

    if (m->reply_to != NULL) {
        r = bus_message_new();
        bus_message_set_header_string(r, "qmf.opcode", "_query_response");
        bus_message_set_header_string(r, "method", "response");
        bus_message_set_header_string(r, "qmf.content", "_data");
        bus_message_set_header_string(r, "qmf.agent", node->name);
        bus_message_set_header_string(r, "app-id", "qmf2");
        r->correlation_id = m->correlation_id ? qmf_xstrdup(m->correlation_id) : NULL;
        r->raw_body = qmf_xmalloc(node->fleet->body_len);
        memcpy(r->raw_body, node->fleet->body, node->fleet->body_len);
        r->raw_len = node->fleet->body_len;
        if (bus_publish(node->bus, m->reply_to, r, NULL, NULL, &err) != 0)
            fprintf(stderr, "bench_broadcast: echo %s: %s\n", node->name, err.text);
        bus_message_free(r);
    }
    bus_ack(d);
}

static void
echo_up(struct bus_conn *c, void *opaque)
{
    struct echo_node *node = opaque;

    if (!node->up) {
        node->up = true;
        node->fleet->up++;
    }
}

static void
echo_down(struct bus_conn *c, const qmf_error *why, void *opaque)
{
    struct echo_node *node = opaque;

    if (node->up) {
        node->up = false;
        node->fleet->up--;
    }
    fprintf(stderr, "bench_broadcast: echo %s: %s\n", node->name, why ? why->text : "closed");
}

static const struct bus_handlers echo_handlers = { .up = echo_up, .down = echo_down };

static void
echo_stop_cb(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopexit(arg, NULL);
}

static bool
echo_all_up(const struct echo_fleet *e, size_t opened)
{
    return e->up >= opened;
}

static int
echo_serve(const char *url, size_t n, const char *ready, const char *body_file)
{
    struct bus_binding binding = { BUS_EXCHANGE_TOPIC, ECHO_KEY };
    struct bus_queue queue = { .exclusive = true, .auto_delete = true,
                               .bindings = &binding, .nbindings = 1 };
    struct echo_fleet e = { 0 };
    struct event *sigterm_ev;
    double t0 = bench_now_ms();
    size_t i, opened = 0;
    qmf_error err;
    FILE *f;
    char *tmp;

    raise_fd_limit();
    evthread_use_pthreads();
    e.base = event_base_new();
    if ((f = fopen(body_file, "r")) == NULL)
        die("%s: %s", body_file, strerror(errno));
    e.body = qmf_xmalloc(1 << 20);
    e.body_len = fread(e.body, 1, 1 << 20, f);
    fclose(f);
    e.n = n;
    e.nodes = qmf_xcalloc(n, sizeof(*e.nodes));
    sigterm_ev = evsignal_new(e.base, SIGTERM, echo_stop_cb, e.base);
    event_add(sigterm_ev, NULL);
    /* Paced like the simulator: a connect storm only slows the broker. */
    while (opened < n) {
        size_t batch_end = opened + ECHO_OPEN_BATCH < n ? opened + ECHO_OPEN_BATCH : n;
        double deadline = bench_now_ms() + 30000;

        for (; opened < batch_end; opened++) {
            struct echo_node *node = &e.nodes[opened];
            struct bus_subscription sub = { .source = "#0", .credit = 64,
                                            .receive = echo_receive, .opaque = node };
            struct bus_options bo = { .url = url, .name = "bench_broadcast echo",
                                      .reconnect = true, .queues = &queue, .nqueues = 1,
                                      .subs = &sub, .nsubs = 1 };

            node->fleet = &e;
            node->name = qmf_xasprintf("virtbus:agent:" ECHO_PREFIX "-%04zu", opened + 1);
            if (bus_open(&node->bus, e.base, &bo, &echo_handlers, node, &err) != 0)
                die("echo connection: %s", err.text);
        }
        while (!echo_all_up(&e, opened) && bench_now_ms() < deadline)
            event_base_loop(e.base, EVLOOP_ONCE);
        if (!echo_all_up(&e, opened))
            die("echo: %zu of %zu connections up after 30 s", e.up, opened);
    }
    tmp = qmf_xasprintf("%s.tmp", ready);
    if ((f = fopen(tmp, "w")) != NULL) {
        fprintf(f, "pid=%ld\nagents=%zu\nseconds=%.3f\n", (long)getpid(), n,
                (bench_now_ms() - t0) / 1e3);
        fclose(f);
        rename(tmp, ready);
    }
    free(tmp);
    event_base_dispatch(e.base);
    for (i = 0; i < n; i++) {
        bus_close(e.nodes[i].bus);
        free(e.nodes[i].name);
    }
    unlink(ready);
    event_free(sigterm_ev);
    event_base_free(e.base);
    free(e.nodes);
    free(e.body);
    return 0;
}

/* Back-to-back broadcasts through the library ------------------------------ */

struct latency {
    double p50, p99;
    double msgs_per_s;          /* (requests + replies) / elapsed */
    struct cpu_use cpu;         /* per broadcast */
    long rss_kib, peak_kib;     /* this console's, before and at most during */
    size_t not_ok;              /* results other than OK, over all broadcasts */
    char first_error[160];
};

/* One broadcast: fills out as virtbus_query does. */
typedef int (*broadcast_fn)(struct virtbus_console *c, const struct virtbus_agent_list *agents,
                            struct virtbus_results *out, qmf_error *err);

static void
count_results(const struct virtbus_results *res, struct latency *l)
{
    size_t i;

    for (i = 0; i < res->n; i++) {
        if (res->items[i].status == VIRTBUS_OK)
            continue;
        if (l->not_ok++ == 0)
            snprintf(l->first_error, sizeof(l->first_error), "%.40s: %.110s",
                     res->items[i].node,
                     res->items[i].status == VIRTBUS_NO_REPLY ? "no reply"
                                                              : res->items[i].error.text);
    }
}

/* keep: NULL, or room for the k samples (ms), in the order taken. */
static void
measure(struct virtbus_console *c, const struct virtbus_agent_list *agents,
        broadcast_fn fn, size_t k, const struct cpu_use *pids, struct latency *l, double *keep)
{
    double *samples = qmf_xcalloc(k, sizeof(double)), t0, t;
    struct virtbus_results res;
    qmf_error err;
    size_t i;

    memset(l, 0, sizeof(*l));
    l->cpu = *pids;
    l->rss_kib = self_kib("VmRSS:");
    peak_reset();
    cpu_start(&l->cpu);
    t0 = bench_now_ms();
    for (i = 0; i < k; i++) {
        t = bench_now_ms();
        if (fn(c, agents, &res, &err) != 0)
            die("broadcast: %s", err.text);
        samples[i] = bench_now_ms() - t;
        count_results(&res, l);
        virtbus_results_free(&res);
    }
    l->msgs_per_s = (double)(k * (1 + agents->n)) / ((bench_now_ms() - t0) / 1e3);
    cpu_stop(&l->cpu, k);
    l->peak_kib = self_kib("VmHWM:");
    if (keep != NULL)
        memcpy(keep, samples, k * sizeof(*samples));
    l->p50 = bench_quantile(samples, k, 0.50);
    l->p99 = bench_quantile(samples, k, 0.99);
    free(samples);
}

static int
query_node(struct virtbus_console *c, const struct virtbus_agent_list *agents,
           struct virtbus_results *out, qmf_error *err)
{
    return virtbus_query(c, agents, "OBJECT", "Node", NULL, REQUEST_TIMEOUT_MS, out, err);
}

static int
query_domain(struct virtbus_console *c, const struct virtbus_agent_list *agents,
             struct virtbus_results *out, qmf_error *err)
{
    return virtbus_query(c, agents, "OBJECT", "Domain", NULL, REQUEST_TIMEOUT_MS, out, err);
}

/* Domain.getXMLDesc of web1 on every agent: a method broadcast that runs a
 * libvirt call on the worker threads and changes nothing.  A per-object
 * failure inside an agent's answer turns its result into FAILED here. */
static int
method_getxml(struct virtbus_console *c, const struct virtbus_agent_list *agents,
              struct virtbus_results *out, qmf_error *err)
{
    struct virtbus_send_opts so = { .timeout_ms = REQUEST_TIMEOUT_MS };
    qmf_value *where = qmf_list(), *quote;
    size_t i;
    int rc;

    qmf_list_append(where, qmf_string("eq"));
    qmf_list_append(where, qmf_string("name"));
    quote = qmf_list_append(where, qmf_list());
    qmf_list_append(quote, qmf_string("quote"));
    qmf_list_append(quote, qmf_string("web1"));
    rc = virtbus_call_where(c, agents, "Domain", where, "getXMLDesc", NULL, &so, out, err);
    qmf_free(where);
    for (i = 0; rc == 0 && i < out->n; i++) {
        struct virtbus_result *r = &out->items[i];

        if (r->status == VIRTBUS_OK &&
            (qmf_list_len(r->value) != 1 ||
             qmf_map_get(qmf_list_at(r->value, 0), "_arguments") == NULL)) {
            r->status = VIRTBUS_FAILED;
            qmf_error_set(&r->error, QMF_ERR_INTERNAL, "no getXMLDesc result for web1");
        }
    }
    return rc;
}

static int
query_echo(struct virtbus_console *c, const struct virtbus_agent_list *agents,
           struct virtbus_results *out, qmf_error *err)
{
    char *address = qmf_name_exchange_address(BUS_EXCHANGE_TOPIC, ECHO_KEY);
    qmf_value *body = qmf_map(), *sid;
    int rc;

    qmf_map_set(body, "_what", qmf_string("OBJECT"));
    sid = qmf_map_set(body, "_schema_id", qmf_map());
    qmf_map_set(sid, "_class_name", qmf_string("Node"));
    rc = virtbus_request(c, address, "_query_request", body, agents, REQUEST_TIMEOUT_MS,
                         out, err);
    free(address);
    return rc;
}

/* Pipelined broadcasts on a raw bus connection ------------------------------ */

/*
 * The library has one request in flight per console, so back-to-back
 * broadcasts leave the fleet idle between them.  Here `window` broadcasts
 * are in flight at once, to see what the fleet and the broker can carry.
 */
struct pipeline {
    struct bus_conn *bus;
    bool up, lost;
    char *reply_to;
    const char *address;
    const char *agent_prefix;   /* replies from other agents are ignored */
    size_t n;                   /* agents per broadcast */
    size_t total, sent, complete;
    size_t *replies;            /* final replies per broadcast */
    size_t messages;            /* reply messages, partial batches included */
    size_t exceptions;
    size_t unverified;          /* answers whose signature did not check */
    enum sig_mode mode;
    const struct trust_files *trust;
    bool done;
};

static void
pipeline_send(struct pipeline *p)
{
    struct bus_message *m = bus_message_new();
    qmf_value *sid;
    qmf_error err;

    bus_message_set_header_string(m, "qmf.opcode", "_query_request");
    bus_message_set_header_string(m, "method", "request");
    bus_message_set_header_string(m, "app-id", "qmf2");
    m->correlation_id = qmf_xasprintf("%zu", p->sent);
    m->message_id = qmf_xasprintf("bench-%ld-%zu", (long)getpid(), p->sent);
    m->reply_to = qmf_xstrdup(p->reply_to);
    m->ttl_ms = REQUEST_TIMEOUT_MS;
    m->created_ms = (int64_t)time(NULL) * 1000;
    m->body = qmf_map();
    qmf_map_set(m->body, "_what", qmf_string("OBJECT"));
    sid = qmf_map_set(m->body, "_schema_id", qmf_map());
    qmf_map_set(sid, "_class_name", qmf_string("Node"));
    /* As the library signs (console_sign): answers authenticated to us,
     * for the routing key. */
    if (p->mode != SIG_OFF) {
        bus_message_set_header_string(m, TRUST_HDR_REPLY_KEY,
                                      trust_sealer_public(p->trust->sealer));
        if (p->mode != SIG_SEALED)
            bus_message_set_header_string(m, TRUST_HDR_SEAL, "no");
    }
    if (p->mode != SIG_OFF &&
        trust_message_sign(m, TRUST_REQUEST, QUERY_KEY, p->trust->caller, p->trust->credential,
                           &err) != 0)
        die("pipelined signing: %s", err.text);
    if (bus_publish(p->bus, p->address, m, NULL, NULL, &err) != 0)
        die("pipelined publish: %s", err.text);
    bus_message_free(m);
    p->sent++;
}

static void
pipeline_receive(struct bus_delivery *d, const struct bus_message *m, void *opaque)
{
    struct pipeline *p = opaque;
    const char *agent = bus_message_header(m, "qmf.agent");
    const char *opcode = bus_message_header(m, "qmf.opcode");
    unsigned long i;
    char *end;

    if (agent && strncmp(agent, p->agent_prefix, strlen(p->agent_prefix)) == 0 &&
        m->correlation_id && (i = strtoul(m->correlation_id, &end, 10), *end == '\0') &&
        i < p->sent) {
        p->messages++;
        if (opcode && strcmp(opcode, "_exception") == 0)
            p->exceptions++;
        if (p->mode == SIG_ANSWERS) {
            qmf_error err;

            if (trust_store_check_answer(p->trust->answers, p->trust->answer_credentials,
                                         p->trust->sealer, m,
                                         (int64_t)time(NULL), ANSWER_CLOCK_SKEW_S,
                                         &err) != 0)
                p->unverified++;
        }
        if (p->mode == SIG_SEALED && trust_body_is_sealed(m->body)) {
            char *plain, *type;
            size_t len;
            qmf_error err;

            /* Opened as the library opens them, so that the figure counts it. */
            if (trust_unseal(p->trust->sealer, m->body, &plain, &len, &type, &err) != 0)
                p->unverified++;
            free(plain);
            free(type);
        }
        if (!bus_message_header(m, "partial") && ++p->replies[i] == p->n) {
            if (++p->complete == p->total)
                p->done = true;
            else if (p->sent < p->total)
                pipeline_send(p);
        }
    }
    bus_ack(d);
}

static void
pipeline_up(struct bus_conn *c, void *opaque)
{
    ((struct pipeline *)opaque)->up = true;
}

static void
pipeline_down(struct bus_conn *c, const qmf_error *why, void *opaque)
{
    struct pipeline *p = opaque;

    p->lost = true;
    p->done = true;
    fprintf(stderr, "bench_broadcast: pipelined connection lost: %s\n",
            why ? why->text : "closed");
}

static const struct bus_handlers pipeline_handlers = {
    .up = pipeline_up,
    .down = pipeline_down,
};

/* Messages per second, requests and replies; 0 if it did not complete.
 * The echo consumers neither check nor sign: they run in mode off. */
static double
measure_pipelined(struct event_base *base, const struct bench_options *o, enum fleet_kind kind,
                  enum sig_mode mode, size_t n, size_t total, size_t window)
{
    struct pipeline p = { .n = n, .total = total, .mode = mode, .trust = &o->trust };
    const char *url = o->url;
    char *key = qmf_xasprintf("virtbus.bench.%ld", (long)getpid());
    char *address = kind == FLEET_SIM ? virtbus_broadcast_address("query")
                                      : qmf_name_exchange_address(BUS_EXCHANGE_TOPIC, ECHO_KEY);
    struct bus_binding binding = { BUS_EXCHANGE_DIRECT, key };
    struct bus_queue queue = { .exclusive = true, .auto_delete = true,
                               .bindings = &binding, .nbindings = 1 };
    struct bus_subscription sub = { .source = "#0", .credit = 5000, .no_ack = true,
                                    .receive = pipeline_receive, .opaque = &p };
    struct bus_options bo = { .url = url, .name = "bench_broadcast pipeline",
                              .queues = &queue, .nqueues = 1, .subs = &sub, .nsubs = 1 };
    double t0, elapsed, rate = 0;
    qmf_error err;
    size_t i;

    p.reply_to = qmf_name_exchange_address(BUS_EXCHANGE_DIRECT, key);
    p.address = address;
    p.agent_prefix = kind == FLEET_SIM ? "virtbus:agent:" SIM_PREFIX "-"
                                       : "virtbus:agent:" ECHO_PREFIX "-";
    p.replies = qmf_xcalloc(total, sizeof(size_t));
    if (bus_open(&p.bus, base, &bo, &pipeline_handlers, &p, &err) != 0)
        die("pipelined connection: %s", err.text);
    if (!run_until(base, &p.up, 10000))
        die("pipelined connection: not up within 10 s");
    t0 = bench_now_ms();
    for (i = 0; i < window && i < total; i++)
        pipeline_send(&p);
    run_until(base, &p.done, REQUEST_TIMEOUT_MS + 1000 * (unsigned)total / 10);
    elapsed = bench_now_ms() - t0;
    if (p.complete == total && !p.lost)
        rate = (double)(p.sent + p.messages) / (elapsed / 1e3);
    else
        fprintf(stderr, "bench_broadcast: pipelined run: %zu of %zu broadcasts complete\n",
                p.complete, total);
    if (p.exceptions)
        fprintf(stderr, "bench_broadcast: pipelined run: %zu exceptions\n", p.exceptions);
    if (p.unverified)
        fprintf(stderr, "bench_broadcast: pipelined run: %zu answers not verified\n",
                p.unverified);
    bus_close(p.bus);
    free(p.replies);
    free(p.reply_to);
    free(address);
    free(key);
    return rate;
}

/* Presence reads ------------------------------------------------------------- */

/*
 * How long virtbus_presence() takes for a fresh console (the start of
 * every CLI command) with this fleet in the window; p50 of `runs`.  Its
 * cost follows the heartbeats in the window, not only the agents.  With
 * a cache file, the console's opening counts too (it loads the cache),
 * and the first run only leaves one; a cache saved less than reuse_ms
 * before is taken as it is (presence_reuse_ms).  *summaries counts the
 * runs told by a keeper's summary.  *close_p50 (if not NULL): the close,
 * which saves the cache.  by_node: as a command to nodes by name does,
 * virtbus_presence_nodes() (the agents' values not read) instead of
 * virtbus_presence().
 */
static double
measure_presence_from(struct event_base *base, const char *url, const char *prefix,
                      size_t runs, const char *cache, unsigned reuse_ms, bool with_open,
                      bool by_node, size_t *up_seen, size_t *summaries, double *close_p50,
                      qmf_error *failed)
{
    size_t warmups = cache ? 1 : 0;
    struct virtbus_console_options co = {
        .url = url, .presence = true, .presence_cache = cache, .presence_reuse_ms = reuse_ms,
    };
    double *samples = qmf_xcalloc(runs, sizeof(double)), t, p50;
    double *closes = qmf_xcalloc(runs, sizeof(double));
    char *glob = qmf_xasprintf("%s-*", prefix);
    const char *names[] = { glob, NULL };
    const struct virtbus_target target = { .names = names };
    qmf_value *predicate;
    qmf_error err;
    size_t i;

    if ((predicate = virtbus_target_predicate(&target, &err)) == NULL)
        die("target: %s", err.text);
    if (summaries)
        *summaries = 0;
    /* With a cache: one read first, to leave it there. */
    for (i = 0; i < runs + warmups; i++) {
        struct virtbus_agent_list found = { 0 }, up = { 0 }, down = { 0 };
        struct virtbus_console *c;

        t = bench_now_ms();
        if ((c = virtbus_console_open(base, &co, &err)) == NULL && failed == NULL)
            die("console: %s", err.text);
        if (!with_open)
            t = bench_now_ms();
        if (c != NULL && (by_node ? virtbus_presence_nodes(c, &found, &err)
                                  : virtbus_presence(c, &found, &err)) != 0) {
            if (failed == NULL)
                die("presence: %s", err.text);
            virtbus_console_close(c);
            c = NULL;
        }
        /* What was measured before still counts: the caller says what failed. */
        if (c == NULL) {
            virtbus_agent_list_free(&found);
            *failed = err;
            p50 = -1;
            goto out;
        }
        if (i >= warmups)
            samples[i - warmups] = bench_now_ms() - t;
        if (summaries && i >= warmups)
            *summaries += virtbus_presence_from_summary(c);
        virtbus_select(&found, predicate, &up, &down);
        *up_seen = up.n;
        t = bench_now_ms();
        virtbus_console_close(c);
        if (i >= warmups)
            closes[i - warmups] = bench_now_ms() - t;
        virtbus_agent_list_free(&found);
        virtbus_agent_list_free(&up);
        virtbus_agent_list_free(&down);
    }
    p50 = bench_quantile(samples, runs, 0.5);
    if (close_p50)
        *close_p50 = bench_quantile(closes, runs, 0.5);
out:
    free(closes);
    qmf_free(predicate);
    free(glob);
    free(samples);
    return p50;
}


/* A failed read is -1 and *failed, not the end of the run: at 10,000
 * agents the broker may not answer it, and the broadcasts measured before
 * are worth printing. */
static double
measure_presence(struct event_base *base, const char *url, const char *prefix,
                 size_t runs, size_t *up_seen, qmf_error *failed)
{
    return measure_presence_from(base, url, prefix, runs, NULL, 0, false, false, up_seen, NULL,
                                 NULL, failed);
}

/*
 * `virtbus keeper` as a child process, with a configuration of its own:
 * presence_window from --keeper-window (written to conf), else none.  The
 * environment is set for the child in the parent (a child of a threaded
 * process may only exec), then put back.
 */
static pid_t
keeper_start(const struct bench_options *o, const char *conf)
{
    const char *argv[] = { o->cli, "-q", "-c", o->url, "keeper", NULL };
    const char *was = getenv("VIRTBUS_CONFIG");
    char *saved = was ? qmf_xstrdup(was) : NULL;
    pid_t pid;

    if (o->keeper_window) {
        char *text = qmf_xasprintf("presence_window = %u\n", o->keeper_window);

        write_file(conf, text);
        free(text);
    }
    setenv("VIRTBUS_CONFIG", o->keeper_window ? conf : "/dev/null", 1);
    pid = fork();
    if (pid == 0) {
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (saved)
        setenv("VIRTBUS_CONFIG", saved, 1);
    else
        unsetenv("VIRTBUS_CONFIG");
    free(saved);
    if (pid < 0)
        die("fork: %s", strerror(errno));
    return pid;
}

/*
 * Presence with a keeper: fresh consoles read its summaries.  Prints the
 * read with and without a cache (opening the console included: it loads
 * the cache) and the keeper's CPU a second.  As a command to nodes by
 * name reads it (virtbus_presence_nodes), and, for the cache taken as it
 * is, with every agent's values too (virtbus_presence).
 */
static void
measure_keeper(const struct bench_options *o, struct event_base *base, size_t n, size_t runs)
{
    char *cache = qmf_xasprintf("%s/bench_broadcast-%ld.presence", o->workdir, (long)getpid());
    char *conf = qmf_xasprintf("%s/bench_broadcast-%ld.keeper.conf", o->workdir, (long)getpid());
    size_t up = 0, told = 0, reused_told = 0, reused_up = 0, waited;
    double cold, warm, saving, saving_close, reused, reused_all, cpu0, t0, cpu_per_s, ready_ms;
    pid_t pid = keeper_start(o, conf);

    /* Until a fresh console takes its summary, with every agent up: each
     * try that does not is said, with what it found. */
    t0 = bench_now_ms();
    for (waited = 0; waited < 30 && (told == 0 || up != n); waited++) {
        double ms = measure_presence_from(base, o->url, SIM_PREFIX, 1, NULL, 0, false, false, &up,
                                          &told, NULL, NULL);

        if (told == 0 || up != n) {
            printf("        keeper: at %.1f s, a read of %.0f ms %s, %zu agents up\n",
                   (bench_now_ms() - t0) / 1000.0, ms,
                   told ? "from a summary" : "from the heartbeats", up);
            fflush(stdout);
            idle_ms(base, 500);
        }
    }
    ready_ms = bench_now_ms() - t0;
    if (told == 0 || up != n) {
        printf("        keeper: no summary with all %zu agents after %.0f ms\n", n, ready_ms);
        goto out;
    }
    cpu0 = cpu_ms(pid);
    t0 = bench_now_ms();
    idle_ms(base, 5000);
    cpu_per_s = (cpu_ms(pid) - cpu0) / ((bench_now_ms() - t0) / 1000.0);
    cold = measure_presence_from(base, o->url, SIM_PREFIX, runs, NULL, 0, true, true, &up,
                                 &told, NULL, NULL);
    unlink(cache);
    warm = measure_presence_from(base, o->url, SIM_PREFIX, runs, cache, 0, true, true, &up,
                                 &told, NULL, NULL);
    /* A console that reuses caches (presence_reuse_ms, the CLI's 2 s)
     * saves the agents too, at its close; one that takes none here (1 ms)
     * shows that cost: a command whose cache is older than its reuse. */
    saving = measure_presence_from(base, o->url, SIM_PREFIX, runs, cache, 1, true, true,
                                   &reused_up, &reused_told, &saving_close, NULL);
    /* ...and one that takes it as it is: a cache a minute old counts. */
    reused = measure_presence_from(base, o->url, SIM_PREFIX, runs, cache, 60000, true, true,
                                   &reused_up, &reused_told, NULL, NULL);
    reused_all = measure_presence_from(base, o->url, SIM_PREFIX, runs, cache, 60000, true,
                                       false, &reused_up, &reused_told, NULL, NULL);
    printf("        keeper: open + presence (by node) p50 %.1f ms fresh, %.1f ms with the cache"
           " of the last (%zu of %zu runs told by a summary, %zu agents up); with caches saved"
           " whole %.1f ms, and %.1f ms to close (the save); %.1f ms taking the cache as it"
           " is (%zu agents up), %.1f ms with every agent's values; keeper %.0f ms CPU a"
           " second; first summary taken %.0f ms after its start\n", cold, warm, told, runs,
           up, saving, saving_close, reused, reused_up, reused_all, cpu_per_s, ready_ms);
    fflush(stdout);
out:
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    unlink(cache);
    unlink(conf);
    free(conf);
    free(cache);
}

/* One fleet size ------------------------------------------------------------- */

struct row {
    struct latency node, dom, meth;
    double piped;
    double presence_ms;         /* < 0: not measured */
    size_t presence_up;
    bool has_dom, has_meth;
};

static void
print_row(const char *label, size_t n, const struct row *r, const struct fleet *f,
          const char *load_before, const char *load_after)
{
    char dom[32] = "      -       -", meth[32] = "      -       -", pres[32] = "       -";

    if (r->presence_ms >= 0)
        snprintf(pres, sizeof(pres), "%8.1f", r->presence_ms);
    if (r->has_dom)
        snprintf(dom, sizeof(dom), "%7.2f %7.2f", r->dom.p50, r->dom.p99);
    if (r->has_meth)
        snprintf(meth, sizeof(meth), "%7.2f %7.2f", r->meth.p50, r->meth.p99);
    printf("%-5s %5zu | %7.2f %7.2f | %s | %s | %8.0f %9.0f | %6.2f %6.2f %6.2f | %s"
           " | %6.2f %7.0f | %s..%s\n",
           label, n, r->node.p50, r->node.p99, dom, meth, r->node.msgs_per_s, r->piped,
           r->node.cpu.fleet_ms, r->node.cpu.self_ms, r->node.cpu.broker_ms, pres, f->start_s,
           f->rss_kib ? (double)(f->rss_kib - f->rss_base_kib) / (double)n : 0.0,
           load_before, load_after);
    if (r->presence_ms >= 0 && r->presence_up != n)
        printf("        presence: %zu of %zu agents up\n", r->presence_up, n);
    if (r->node.not_ok)
        printf("        query: %zu results not OK, first %s\n", r->node.not_ok,
               r->node.first_error);
    if (r->has_dom && r->dom.not_ok)
        printf("        query Domain: %zu results not OK, first %s\n", r->dom.not_ok,
               r->dom.first_error);
    if (r->has_meth && r->meth.not_ok)
        printf("        method: %zu results not OK, first %s\n", r->meth.not_ok,
               r->meth.first_error);
    fflush(stdout);
}

/* Writes one agent's Node answer, the body the echo consumers send. */
static char *
save_node_answer(const struct bench_options *o, const struct virtbus_results *res)
{
    char *path = qmf_xasprintf("%s/bench_broadcast-%ld.body", o->workdir, (long)getpid());
    char *json;
    size_t len;
    FILE *f;

    if (res->n == 0 || res->items[0].status != VIRTBUS_OK)
        die("no Node answer to copy for the echo consumers");
    json = qmf_to_json(res->items[0].value, &len);
    if ((f = fopen(path, "w")) == NULL || fwrite(json, 1, len, f) != len || fclose(f) != 0)
        die("%s: %s", path, strerror(errno));
    free(json);
    return path;
}

/* consoles: one per mode; the agents get o->mode's, the echo consumers,
 * which neither check nor sign, mode off's. */
static void
bench_size(const struct bench_options *o, struct event_base *base,
           struct virtbus_console *const *consoles, size_t n)
{
    struct virtbus_console *console = consoles[o->mode];
    struct cpu_use pids = { .broker = o->broker_pid };
    struct virtbus_results warm;
    struct virtbus_agent_list all = { 0 };
    char before[32], after[32], *body_file;
    struct fleet f, parts[MAX_FLEET_PROCS];
    struct row r = { .has_dom = true, .has_meth = true };
    size_t presence_runs = o->broadcasts / 5 ? o->broadcasts / 5 : 1;
    size_t procs = o->fleet_procs < n ? o->fleet_procs : n, first = 1, k;
    qmf_error err, presence_err;

    loadavg(before, sizeof(before));
    /* The agents in procs simulator processes, numbered on across them;
     * all is a view of their lists (the fleets own the entries). */
    all.items = qmf_xcalloc(n, sizeof(*all.items));
    for (k = 0; k < procs; k++) {
        size_t part = n / procs + (k < n % procs);

        fleet_start_from(o, FLEET_SIM, o->mode, SIM_PREFIX, first, part, NULL, &parts[k]);
        memcpy(all.items + all.n, parts[k].agents.items, part * sizeof(*all.items));
        all.n += part;
        first += part;
        pids.fleet[pids.nfleet++] = parts[k].pid;
    }
    /* Warm-up: connections, caches, the agents' first inventory pushes. */
    if (query_node(console, &all, &warm, &err) != 0)
        die("warm-up: %s", err.text);
    body_file = save_node_answer(o, &warm);
    virtbus_results_free(&warm);
    if (o->presence_only) {
        /* A window's worth of heartbeats, as a fleet that has run a while
         * has: a fleet just started has fewer, and reads faster. */
        idle_ms(base, 21000);
        r.has_dom = r.has_meth = false;
    } else {
        measure(console, &all, query_node, o->broadcasts, &pids, &r.node, NULL);
        measure(console, &all, query_domain, o->broadcasts, &pids, &r.dom, NULL);
        measure(console, &all, method_getxml, o->broadcasts, &pids, &r.meth, NULL);
        /* The pipelined run starts a fleet of its own, in one process. */
        r.piped = procs == 1 ? measure_pipelined(base, o, FLEET_SIM, o->mode, n,
                                                 o->broadcasts, o->window)
                             : 0;
    }
    qmf_error_clear(&presence_err);
    r.presence_ms = measure_presence(base, o->url, SIM_PREFIX, presence_runs, &r.presence_up,
                                     &presence_err);
    loadavg(after, sizeof(after));
    /* Start time: the slowest part; memory: all parts together. */
    f = parts[0];
    for (k = 1; k < procs; k++) {
        if (parts[k].start_s > f.start_s)
            f.start_s = parts[k].start_s;
        f.rss_kib += parts[k].rss_kib;
        f.rss_base_kib += parts[k].rss_base_kib;
    }
    print_row("agent", n, &r, &f, before, after);
    if (r.presence_ms < 0 && presence_err.code != 0)
        printf("        presence: not measured: %s\n", presence_err.text);
    if (!o->presence_only && r.node.rss_kib > 0 && r.node.peak_kib >= r.node.rss_kib)
        printf("        console memory: %.1f MiB before the Node queries, at most %.1f MiB "
               "during them: %.1f MiB for a broadcast's %zu answers\n",
               r.node.rss_kib / 1024.0, r.node.peak_kib / 1024.0,
               (r.node.peak_kib - r.node.rss_kib) / 1024.0, n);
    if (procs > 1)
        printf("        the agents in %zu simulator processes; no pipelined run\n", procs);
    if (o->keeper)
        measure_keeper(o, base, n, presence_runs);
    free(all.items);
    for (k = 0; k < procs; k++)
        fleet_stop(o, &parts[k]);

    if (o->echo) {
        memset(&r, 0, sizeof(r));
        r.presence_ms = -1;
        loadavg(before, sizeof(before));
        fleet_start(o, FLEET_ECHO, SIG_OFF, ECHO_PREFIX, n, body_file, &f);
        pids.fleet[0] = f.pid;
        pids.nfleet = 1;
        console = consoles[SIG_OFF];
        if (query_echo(console, &f.agents, &warm, &err) != 0)
            die("echo warm-up: %s", err.text);
        virtbus_results_free(&warm);
        measure(console, &f.agents, query_echo, o->broadcasts, &pids, &r.node, NULL);
        r.piped = measure_pipelined(base, o, FLEET_ECHO, SIG_OFF, n, o->broadcasts, o->window);
        loadavg(after, sizeof(after));
        print_row("echo", n, &r, &f, before, after);
        fleet_stop(o, &f);
    }
    unlink(body_file);
    free(body_file);
}

/* The whole CLI command ------------------------------------------------------ */

/* Runs argv with stdout to a pipe; returns the exit status and counts the
 * output lines. */
static int
run_command(const char *const *argv, size_t *lines)
{
    int fds[2], status;
    char buf[65536];
    ssize_t got, i;
    pid_t pid;

    if (pipe(fds) != 0)
        die("pipe: %s", strerror(errno));
    pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    *lines = 0;
    while ((got = read(fds[0], buf, sizeof(buf))) > 0 || (got < 0 && errno == EINTR))
        for (i = 0; i < got; i++)
            *lines += buf[i] == '\n';
    close(fds[0]);
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void
time_command(const char *what, const char *const *argv, size_t runs, size_t expect_lines)
{
    double *samples = qmf_xcalloc(runs, sizeof(double)), t;
    size_t i, lines = 0, bad = 0;
    int rc = 0;

    for (i = 0; i < runs; i++) {
        t = bench_now_ms();
        rc = run_command(argv, &lines);
        samples[i] = bench_now_ms() - t;
        bad += rc != 0 || (expect_lines && lines != expect_lines);
    }
    printf("  %-52s p50 %7.1f ms  p99 %7.1f ms", what, bench_quantile(samples, runs, 0.5),
           bench_quantile(samples, runs, 0.99));
    if (bad)
        printf("  (%zu of %zu runs: exit %d, %zu lines, expected %zu)", bad, runs, rc,
               lines, expect_lines);
    printf("\n");
    free(samples);
}

/* The phases of a short-lived client: open, presence, query, close. */
enum { PHASE_OPEN, PHASE_PRESENCE, PHASE_QUERY, PHASE_CLOSE, NPHASES };

static void
time_library(const char *what, const struct bench_options *o, struct event_base *base,
             const struct virtbus_agent_list *agents, bool presence, size_t runs)
{
    static const char *const names[] = { CLI_PREFIX "-*", NULL };
    static const char *const phase_names[NPHASES] = { "open", "presence", "query", "close" };
    const struct virtbus_target target = { .names = names };
    double *samples = qmf_xcalloc(runs, sizeof(double)), t;
    double *phases[NPHASES];
    size_t i, j, bad = 0, seen = 0;
    char first_error[200] = "";
    qmf_value *predicate;
    qmf_error err;

    for (j = 0; j < NPHASES; j++)
        phases[j] = qmf_xcalloc(runs, sizeof(double));
    if ((predicate = virtbus_target_predicate(&target, &err)) == NULL)
        die("target: %s", err.text);
    for (i = 0; i < runs; i++) {
        struct virtbus_agent_list found = { 0 }, up = { 0 }, down = { 0 };
        const struct virtbus_agent_list *ask = agents;
        struct virtbus_results res = { 0 };
        struct virtbus_console *c;
        double t0 = bench_now_ms();

        c = console_open(o, base, o->mode, presence);
        phases[PHASE_OPEN][i] = (t = bench_now_ms()) - t0;
        if (presence) {
            if (virtbus_presence(c, &found, &err) != 0)
                die("presence: %s", err.text);
            virtbus_select(&found, predicate, &up, &down);
            ask = &up;
            seen = up.n;
        }
        phases[PHASE_PRESENCE][i] = bench_now_ms() - t;
        t = bench_now_ms();
        if (query_domain(c, ask, &res, &err) != 0)
            die("query: %s", err.text);
        phases[PHASE_QUERY][i] = bench_now_ms() - t;
        t = bench_now_ms();
        virtbus_console_close(c);
        phases[PHASE_CLOSE][i] = bench_now_ms() - t;
        samples[i] = bench_now_ms() - t0;
        for (j = 0; j < res.n; j++)
            if (res.items[j].status != VIRTBUS_OK && bad++ == 0)
                snprintf(first_error, sizeof(first_error), "%.40s: %.150s",
                         res.items[j].node, res.items[j].error.text);
        virtbus_results_free(&res);
        virtbus_agent_list_free(&found);
        virtbus_agent_list_free(&up);
        virtbus_agent_list_free(&down);
    }
    qmf_free(predicate);
    printf("  %-52s p50 %7.1f ms  p99 %7.1f ms", what, bench_quantile(samples, runs, 0.5),
           bench_quantile(samples, runs, 0.99));
    if (presence)
        printf("  (%zu agents up)", seen);
    if (bad)
        printf("  (%zu results not OK, first %s)", bad, first_error);
    printf("\n    p50 by phase:");
    for (j = 0; j < NPHASES; j++) {
        if (j != PHASE_PRESENCE || presence)
            printf(" %s %.1f ms", phase_names[j], bench_quantile(phases[j], runs, 0.5));
        free(phases[j]);
    }
    printf("\n");
    free(samples);
}

/* Untimed runs first: a fleet in service has answered before, and the
 * presence cache is what a loop of commands finds. */
#define CLI_WARMUP_RUNS 5

/*
 * The whole-command timing, with the fleet in one simulator process and in
 * as many as o->cli_procs asks (one per CPU is closest to separate hosts,
 * which answer in parallel; mco's reference ran one daemon per node).
 */
static void
bench_cli(const struct bench_options *o, struct event_base *base)
{
    const char *list_argv[] = { o->cli, "-c", o->url, "list", "-n", CLI_PREFIX "-*", NULL };
    const char *names_argv[] = { o->cli, "-c", o->url, "list", "-n", NULL, NULL };
    const char *help_argv[] = { o->cli, "help", NULL };
    /* Issue 13: a method that changes nothing costs about what a query does. */
    const char *all_list_argv[] = { o->cli, "-c", o->url, "--all", "list", NULL };
    const char *all_call_argv[] = { o->cli, "-c", o->url, "--all", "call", "Node",
                                    "getCapabilities", NULL };
    struct fleet f[MAX_SIZES];
    size_t i, k, procs, lines = 0;
    char what[100], *names = qmf_xstrdup(""), *more;

    /* mco's reference names its nodes: -n with all fifty names. */
    for (k = 1; k <= o->cli_nodes; k++) {
        more = qmf_xasprintf("%s%s" CLI_PREFIX "-%04zu", names, k > 1 ? "," : "", k);
        free(names);
        names = more;
    }
    names_argv[5] = names;

    cli_use_mode(o, o->mode);
    printf("\nWhole commands against %zu agents, %zu runs each, signatures %s "
           "(mco rpc to 50 nodes: 300 ms):\n", o->cli_nodes, o->cli_runs,
           sig_mode_names[o->mode]);
    for (i = 0; i < o->ncli_procs; i++) {
        size_t first = 1;

        procs = o->cli_procs[i] < o->cli_nodes ? o->cli_procs[i] : o->cli_nodes;
        for (k = 0; k < procs; k++) {
            size_t n = o->cli_nodes / procs + (k < o->cli_nodes % procs);

            fleet_start_from(o, FLEET_SIM, o->mode, CLI_PREFIX, first, n, NULL, &f[k]);
            first += n;
        }
        for (k = 0; k < CLI_WARMUP_RUNS; k++)
            run_command(list_argv, &lines);
        snprintf(what, sizeof(what), "virtbus list -n '" CLI_PREFIX "-*' (%zu process%s)",
                 procs, procs == 1 ? "" : "es");
        /* A header line and three domains per agent (sim.xml). */
        time_command(what, list_argv, o->cli_runs, 1 + 3 * o->cli_nodes);
        snprintf(what, sizeof(what), "virtbus list -n %s-0001,...,%04zu (%zu process%s)",
                 CLI_PREFIX, o->cli_nodes, procs, procs == 1 ? "" : "es");
        time_command(what, names_argv, o->cli_runs, 1 + 3 * o->cli_nodes);
        snprintf(what, sizeof(what), "virtbus --all list (%zu process%s)", procs,
                 procs == 1 ? "" : "es");
        time_command(what, all_list_argv, o->cli_runs, 0);
        snprintf(what, sizeof(what), "virtbus --all call Node getCapabilities (%zu process%s)",
                 procs, procs == 1 ? "" : "es");
        time_command(what, all_call_argv, o->cli_runs, 0);
        if (i == 0) {
            time_command("virtbus help (process start-up, no broker)", help_argv,
                         o->cli_runs, 0);
            if (procs == 1) {
                time_library("library: open + query Domain (agents known) + close", o, base,
                             &f[0].agents, false, o->cli_runs);
                time_library("library: open + presence + query Domain + close", o, base,
                             &f[0].agents, true, o->cli_runs);
            }
        }
        for (k = 0; k < procs; k++)
            fleet_stop(o, &f[k]);
    }
    free(names);
}

/* Signatures on and off --------------------------------------------------------- */

#define MAX_ROUNDS 32
#define WARMUP_BROADCASTS 3

/* One configuration at one N, over every round. */
struct compare_cell {
    double *node, *dom;             /* every sample of every round, ms */
    size_t nsamples;                /* per kind */
    double round_p50[MAX_ROUNDS];   /* query Node, per round */
    double fleet_ms, self_ms, broker_ms;    /* CPU per Node query, summed */
    size_t not_ok;
    char first_error[160];
    char load_first[32], load_last[32];
};

static double
median_of(const double *v, size_t n)
{
    double *copy = qmf_xcalloc(n ? n : 1, sizeof(double)), m;

    memcpy(copy, v, n * sizeof(double));
    m = bench_quantile(copy, n, 0.5);
    free(copy);
    return m;
}

/* One fleet in mode m: warm it up, take K of each query, stop it. */
static void
compare_once(const struct bench_options *o, struct virtbus_console *c, enum sig_mode m,
             size_t n, size_t round, struct compare_cell *cell)
{
    struct cpu_use pids = { .broker = o->broker_pid };
    struct virtbus_results warm;
    struct latency node, dom;
    struct fleet f;
    qmf_error err;
    size_t i, k = o->broadcasts;

    loadavg(round == 0 ? cell->load_first : cell->load_last, sizeof(cell->load_first));
    fleet_start(o, FLEET_SIM, m, SIM_PREFIX, n, NULL, &f);
    pids.fleet[0] = f.pid;
    pids.nfleet = 1;
    /* Connections, caches (the agents' checked credentials), inventories. */
    for (i = 0; i < WARMUP_BROADCASTS; i++) {
        if (query_node(c, &f.agents, &warm, &err) != 0)
            die("warm-up: %s", err.text);
        virtbus_results_free(&warm);
    }
    measure(c, &f.agents, query_node, k, &pids, &node, cell->node + cell->nsamples);
    measure(c, &f.agents, query_domain, k, &pids, &dom, cell->dom + cell->nsamples);
    cell->nsamples += k;
    cell->round_p50[round] = node.p50;
    cell->fleet_ms += node.cpu.fleet_ms;
    cell->self_ms += node.cpu.self_ms;
    cell->broker_ms += node.cpu.broker_ms;
    if (node.not_ok + dom.not_ok > 0 && cell->not_ok == 0)
        snprintf(cell->first_error, sizeof(cell->first_error), "%s",
                 node.not_ok ? node.first_error : dom.first_error);
    cell->not_ok += node.not_ok + dom.not_ok;
    loadavg(cell->load_last, sizeof(cell->load_last));
    fleet_stop(o, &f);
}

static void
compare_print(const struct bench_options *o, size_t n, struct compare_cell *cells)
{
    double base_node = bench_quantile(cells[SIG_OFF].node, cells[SIG_OFF].nsamples, 0.5);
    double base_dom = bench_quantile(cells[SIG_OFF].dom, cells[SIG_OFF].nsamples, 0.5);
    double rounds = (double)o->rounds;
    enum sig_mode m;
    size_t r;

    printf("\nN = %zu: %zu rounds of each configuration in turn (the order rotates), "
           "%zu broadcasts of each query per round\n", n, o->rounds, o->broadcasts);
    printf("%-8s | %-46s | %-23s | %-20s | %s\n", "", "query Node", "query Domain",
           "CPU ms / Node query", "load");
    printf("%-8s | %7s %7s %7s %7s %15s | %7s %7s %7s | %6s %6s %6s | %s\n", "signing",
           "p50", "p99", "vs off", "rounds", "per-round p50", "p50", "p99", "vs off", "fleet",
           "cons", "broker", "1 min");
    for (m = 0; m < NSIG_MODES; m++) {
        struct compare_cell *c = &cells[m];

        if (c->nsamples == 0)
            continue;
        double node50 = bench_quantile(c->node, c->nsamples, 0.5);
        double node99 = bench_quantile(c->node, c->nsamples, 0.99);
        double dom50 = bench_quantile(c->dom, c->nsamples, 0.5);
        double dom99 = bench_quantile(c->dom, c->nsamples, 0.99);
        double ratios[MAX_ROUNDS], lo = c->round_p50[0], hi = c->round_p50[0];
        char vs_node[16] = "-", vs_dom[16] = "-", vs_rounds[16] = "-", spread[32];

        for (r = 0; r < o->rounds; r++) {
            ratios[r] = c->round_p50[r] / cells[SIG_OFF].round_p50[r];
            lo = c->round_p50[r] < lo ? c->round_p50[r] : lo;
            hi = c->round_p50[r] > hi ? c->round_p50[r] : hi;
        }
        if (m != SIG_OFF) {
            snprintf(vs_node, sizeof(vs_node), "%+.1f%%", (node50 / base_node - 1) * 100);
            snprintf(vs_dom, sizeof(vs_dom), "%+.1f%%", (dom50 / base_dom - 1) * 100);
            snprintf(vs_rounds, sizeof(vs_rounds), "%+.1f%%",
                     (median_of(ratios, o->rounds) - 1) * 100);
        }
        snprintf(spread, sizeof(spread), "%.2f..%.2f", lo, hi);
        printf("%-8s | %7.2f %7.2f %7s %7s %15s | %7.2f %7.2f %7s | %6.2f %6.2f %6.2f | "
               "%s..%s\n", sig_mode_names[m], node50, node99, vs_node, vs_rounds, spread,
               dom50, dom99, vs_dom, c->fleet_ms / rounds, c->self_ms / rounds,
               c->broker_ms / rounds, c->load_first, c->load_last);
        if (c->not_ok)
            printf("         %zu results not OK, first %s\n", c->not_ok, c->first_error);
    }
    /* What the CPU figures say per agent and per answer (coarse: clock
     * ticks are 10 ms). */
    printf("CPU per agent and Node query, fleet:");
    for (m = 0; m < NSIG_MODES; m++)
        if (cells[m].nsamples > 0)
            printf("%s %s %.0f µs", m > 0 ? "," : "", sig_mode_names[m],
                   cells[m].fleet_ms / rounds / (double)n * 1e3);
    printf("\n                         console:");
    for (m = 0; m < NSIG_MODES; m++)
        if (cells[m].nsamples > 0)
            printf("%s %s %.0f µs", m > 0 ? "," : "", sig_mode_names[m],
                   cells[m].self_ms / rounds / (double)n * 1e3);
    printf("\n");
    fflush(stdout);
}

/*
 * The broadcast round trip with signatures off, on, and on with answers
 * checked, side by side.  Each round runs a fresh fleet of each in turn,
 * the order rotating from round to round, so that the machine's drift
 * (other work, the broker's growth) falls on each configuration alike;
 * p50 and p99 are over every broadcast of every round; "rounds" is the
 * median over rounds of each round's p50 against that round's off.
 */
static void
bench_compare(const struct bench_options *o, struct virtbus_console *const *consoles)
{
    size_t i, r, j;
    enum sig_mode m;

    printf("\nSignatures: the round trip of one broadcast with every reply in, ms.  vs off: "
           "p50 against off's;\nrounds: the median of each round's p50 against that round's "
           "off.  CPU: ms per Node query\nbroadcast in the fleet process, this console and "
           "the broker%s, averaged over rounds.\n", o->broker_pid ? "" : " (no --broker-pid: 0)");
    printf("off: agents with require_signatures = no and no key, an unsigned console.\n"
           "on-alone: agents trust an issuer, check every request and authenticate every "
           "answer\n  (a MAC for the console); the console signs; each simulated agent "
           "verifies every\n  request itself, N times over on one thread.\n"
           "on: the same, the simulated agents sharing the signatures they verified, so "
           "that a\n  broadcast is verified once, as a fleet's hosts verify it at once "
           "(the simulator's default).\n"
           "answers: on, and the console checks every answer (answer_issuer_keys).\n"
           "sealed: on, and the agents seal every answer (seal_answers = yes, as shipped).\n");
    for (i = 0; i < o->nsizes; i++) {
        struct compare_cell cells[NSIG_MODES];

        memset(cells, 0, sizeof(cells));
        for (m = 0; m < NSIG_MODES; m++) {
            cells[m].node = qmf_xcalloc(o->rounds * o->broadcasts, sizeof(double));
            cells[m].dom = qmf_xcalloc(o->rounds * o->broadcasts, sizeof(double));
        }
        for (r = 0; r < o->rounds; r++)
            for (j = 0; j < o->nmodes; j++) {
                m = o->modes[(r + j) % o->nmodes];
                compare_once(o, consoles[m], m, o->sizes[i], r, &cells[m]);
            }
        compare_print(o, o->sizes[i], cells);
        for (m = 0; m < NSIG_MODES; m++) {
            free(cells[m].node);
            free(cells[m].dom);
        }
    }
}

/* main ----------------------------------------------------------------------- */

static void __attribute__((noreturn))
usage(FILE *f, int status)
{
    fprintf(f,
        "usage: bench_broadcast [-N 10,100,500,1000] [-k BROADCASTS] [-w WINDOW] [--no-echo]\n"
        "                       [--cli-nodes N] [--cli-runs R] [--cli-procs 1,2]\n"
        "                       [--fleet-procs P]\n"
        "                       [--signatures off|on-alone|on|answers|sealed]\n"
        "                       [--compare-signatures [--rounds R] [--modes LIST]]\n"
        "                       [--broker-pid PID]\n"
        "                       [--keeper [--keeper-window S]] [--presence-only]\n"
        "                       [--fleetsim PATH] [--cli PATH] [--workdir DIR]\n"
        "                       BROKER_URL [-- FLEETSIM_FLAGS...]\n"
        "  -N LIST           fleet sizes (default 10,100,500,1000)\n"
        "  -k BROADCASTS     broadcasts per figure (default 50)\n"
        "  -w WINDOW         broadcasts in flight in the pipelined run (default 8)\n"
        "  --no-echo         skip the bare-consumer baseline\n"
        "  --keeper          presence again with a keeper (virtbus keeper) running\n"
        "  --keeper-window S the keeper's presence_window (for agents' --heartbeat > 6)\n"
        "  --presence-only   no broadcasts, presence alone (and the echo baseline)\n"
        "  --cli-nodes N     fleet size for the whole-command timing (default 50; 0: skip)\n"
        "  --cli-runs R      runs of each command (default 20)\n"
        "  --cli-procs LIST  simulator processes the CLI's fleet is split into (default 1,2)\n"
        "  --fleet-procs P   simulator processes the measured fleet is split into (default 1;\n"
        "                    more than one skips the pipelined run)\n"
        "  --signatures MODE off: agents accept unsigned requests and sign nothing, the\n"
        "                    console signs nothing; on: agents check requests and\n"
        "                    authenticate answers, the console and the CLI sign;\n"
        "                    on-alone: on, every simulated agent verifying each request\n"
        "                    itself (fleetsim --verify-alone); answers: on, and the\n"
        "                    console and the CLI check every answer; sealed (default):\n"
        "                    on, and answers sealed, as shipped\n"
        "  --compare-signatures  instead of the figures above: the round trip of each\n"
        "                    mode side by side, for each N of -N, in interleaved rounds\n"
        "  --rounds R        rounds of each mode when comparing (default 4)\n"
        "  --modes LIST      the modes compared, e.g. off,on (default: all; off always)\n"
        "  --broker-pid PID  the broker's pid, to report its CPU time per broadcast\n"
        "  --fleetsim PATH, --cli PATH   the programs to run (default: this build's)\n"
        "  --workdir DIR     where the trust material and scratch files go ($TMPDIR)\n"
        "  FLEETSIM_FLAGS    passed to every virtbus-fleetsim, e.g. --queue-type quorum\n");
    exit(status);
}

/* "10,100,500" into out[] (at most MAX_SIZES numbers, 1..100000). */
static void
parse_list(const char *s, size_t *out, size_t *n)
{
    char *copy = qmf_xstrdup(s), *tok, *save = NULL, *end;

    *n = 0;
    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        unsigned long v = strtoul(tok, &end, 10);

        if (*end != '\0' || v == 0 || v > 100000 || *n == MAX_SIZES)
            usage(stderr, 2);
        out[(*n)++] = v;
    }
    free(copy);
    if (*n == 0)
        usage(stderr, 2);
}

/* "off,on" -> { SIG_OFF, SIG_ON }: off first, whether named or not. */
static int
parse_modes(const char *list, enum sig_mode *modes, size_t *n)
{
    char *copy = qmf_xstrdup(list), *save = NULL, *name;
    enum sig_mode m;
    size_t k;

    modes[0] = SIG_OFF;
    *n = 1;
    for (name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        for (m = 0; m < NSIG_MODES && strcmp(name, sig_mode_names[m]) != 0; m++)
            ;
        if (m == NSIG_MODES) {
            free(copy);
            return -1;
        }
        for (k = 0; k < *n && modes[k] != m; k++)
            ;
        if (k == *n)
            modes[(*n)++] = m;
    }
    free(copy);
    return 0;
}

static int
compare_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;

    return (x > y) - (x < y);
}

static size_t
parse_size_arg(const char *s, size_t min)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);

    if (*end != '\0' || s[0] == '-' || v < min || v > 10000000)
        usage(stderr, 2);
    return v;
}

int
main(int argc, char **argv)
{
    static const struct option options[] = {
        { "sizes", required_argument, NULL, 'N' },
        { "broadcasts", required_argument, NULL, 'k' },
        { "window", required_argument, NULL, 'w' },
        { "no-echo", no_argument, NULL, 'E' },
        { "keeper", no_argument, NULL, 'K' },
        { "keeper-window", required_argument, NULL, 'W' },
        { "presence-only", no_argument, NULL, 'O' },
        { "cli-nodes", required_argument, NULL, 'C' },
        { "cli-runs", required_argument, NULL, 'R' },
        { "cli-procs", required_argument, NULL, 'p' },
        { "fleet-procs", required_argument, NULL, 'Q' },
        { "broker-pid", required_argument, NULL, 'P' },
        { "fleetsim", required_argument, NULL, 'F' },
        { "cli", required_argument, NULL, 'V' },
        { "workdir", required_argument, NULL, 'D' },
        { "signatures", required_argument, NULL, 'G' },
        { "compare-signatures", no_argument, NULL, 'X' },
        { "rounds", required_argument, NULL, 'r' },
        { "modes", required_argument, NULL, 'M' },
        /* Internal: this program as the echo consumers' process. */
        { "echo-serve", required_argument, NULL, 'S' },
        { "echo-body", required_argument, NULL, 'B' },
        { "ready-file", required_argument, NULL, 'Y' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct bench_options o = {
        .broadcasts = 50, .window = 8, .cli_nodes = 50, .cli_runs = 20, .echo = true,
        .fleet_procs = 1,
        .fleetsim = VIRTBUS_FLEETSIM_PATH, .cli = VIRTBUS_CLI_PATH, .mode = SIG_SEALED,
        .rounds = NSIG_MODES,
    };
    const char *echo_body = NULL, *ready = NULL;
    struct virtbus_console *consoles[NSIG_MODES];
    struct event_base *base;
    size_t echo_serve_n = 0, i;
    enum sig_mode m;
    char *shown;
    int ch;

    parse_list("10,100,500,1000", o.sizes, &o.nsizes);
    parse_list("1,2", o.cli_procs, &o.ncli_procs);
    while ((ch = getopt_long(argc, argv, "N:k:w:h", options, NULL)) != -1) {
        switch (ch) {
        case 'N': parse_list(optarg, o.sizes, &o.nsizes); break;
        case 'p': parse_list(optarg, o.cli_procs, &o.ncli_procs); break;
        case 'Q':
            o.fleet_procs = parse_size_arg(optarg, 1);
            if (o.fleet_procs > MAX_FLEET_PROCS)
                usage(stderr, 2);
            break;
        case 'k': o.broadcasts = parse_size_arg(optarg, 1); break;
        case 'w': o.window = parse_size_arg(optarg, 1); break;
        case 'E': o.echo = false; break;
        case 'K': o.keeper = true; break;
        case 'W': o.keeper = true; o.keeper_window = (unsigned)parse_size_arg(optarg, 5); break;
        case 'O': o.presence_only = true; break;
        case 'C': o.cli_nodes = parse_size_arg(optarg, 0); break;
        case 'R': o.cli_runs = parse_size_arg(optarg, 1); break;
        case 'P': o.broker_pid = (pid_t)parse_size_arg(optarg, 1); break;
        case 'F': o.fleetsim = optarg; break;
        case 'V': o.cli = optarg; break;
        case 'D': o.workdir = optarg; break;
        case 'G':
            for (m = 0; m < NSIG_MODES && strcmp(optarg, sig_mode_names[m]) != 0; m++)
                ;
            if (m == NSIG_MODES)
                usage(stderr, 2);
            o.mode = m;
            break;
        case 'X': o.compare = true; break;
        case 'M':
            if (parse_modes(optarg, o.modes, &o.nmodes) != 0)
                usage(stderr, 2);
            break;
        case 'r':
            o.rounds = parse_size_arg(optarg, 1);
            if (o.rounds > MAX_ROUNDS)
                usage(stderr, 2);
            break;
        case 'S': echo_serve_n = parse_size_arg(optarg, 1); break;
        case 'B': echo_body = optarg; break;
        case 'Y': ready = optarg; break;
        case 'h': usage(stdout, 0);
        default:  usage(stderr, 2);
        }
    }
    if (optind >= argc)
        usage(stderr, 2);
    if (o.nmodes == 0)
        for (m = 0; m < NSIG_MODES; m++)
            o.modes[o.nmodes++] = m;
    o.url = argv[optind++];
    signal(SIGPIPE, SIG_IGN);
    if (echo_serve_n > 0) {
        if (ready == NULL || echo_body == NULL)
            usage(stderr, 2);
        return echo_serve(o.url, echo_serve_n, ready, echo_body);
    }
    if (optind < argc && strcmp(argv[optind], "--") == 0)
        optind++;
    o.fleetsim_args = (const char *const *)&argv[optind];
    o.self = "/proc/self/exe";
    if (o.workdir == NULL)
        o.workdir = getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR") : "/tmp";
    /* Ascending: the agents' durable queues of a larger run would otherwise
     * linger, bound to the broadcast key, and swell the smaller runs. */
    qsort(o.sizes, o.nsizes, sizeof(size_t), compare_size);

    trust_make(o.workdir, &o.trust);

    evthread_use_pthreads();
    if ((base = event_base_new()) == NULL)
        die("cannot create the event loop");
    o.base = base;
    /* First, while presence holds no heartbeats of the bigger fleets. */
    if (o.cli_nodes > 0 && !o.compare)
        bench_cli(&o, base);
    for (m = 0; m < NSIG_MODES; m++)
        consoles[m] = console_open(&o, base, m, false);

    shown = bus_url_redact(o.url);
    printf("\nbench/broadcast: broker %s, %zu broadcasts per figure, pipelined window %zu\n",
           shown, o.broadcasts, o.window);
    free(shown);
    if (o.compare) {
        bench_compare(&o, consoles);
        goto out;
    }
    printf("Signatures %s: %s.\n", sig_mode_names[o.mode],
           o.mode == SIG_OFF ? "agents accept unsigned requests and sign nothing" :
           o.mode == SIG_ALONE ? "as on, each simulated agent verifying on its own" :
           o.mode == SIG_ON ? "agents check every request and authenticate every answer; "
                              "the console signs its requests" :
           o.mode == SIG_SEALED ? "as on, and agents seal every answer (as shipped)" :
           "as on, and the console checks every answer");
    printf("Round trip of one broadcast with every reply in, ms.  msg/s: (requests + replies)"
           " / s.\nCPU: ms per query broadcast in the fleet process, this console and the"
           " broker%s.\nagent: virtbus-fleetsim; echo: bare bus consumers answering at once.\n",
           o.broker_pid ? "" : " (no --broker-pid: 0)");
    printf("%11s | %-15s | %-15s | %-15s | %-18s | %-20s | %-8s | %-14s | %s\n", "",
           "query Node", "query Domain", "method (1 each)", "msg/s, query Node",
           "CPU ms / broadcast", "presence", "fleet start", "load");
    printf("%-5s %5s | %7s %7s | %7s %7s | %7s %7s | %8s %9s | %6s %6s %6s | %8s | %6s %7s"
           " | %s\n", "", "N", "p50", "p99", "p50", "p99", "p50", "p99", "b2b", "pipelined",
           "fleet", "cons", "broker", "p50 ms", "s", "KiB/agt", "1 min");
    for (i = 0; i < o.nsizes; i++)
        bench_size(&o, base, consoles, o.sizes[i]);
out:
    for (m = 0; m < NSIG_MODES; m++)
        virtbus_console_close(consoles[m]);
    event_base_free(base);
    trust_free(&o.trust);
    return 0;
}
