/*
 * The fault tests' shared harness (tests/faults/harness.c): the run's
 * state, the private broker, agents spawned and stopped by pid, their
 * libvirtds, the console that sends commands and counts answers, and
 * the checks that each scenario (a file of its own) prints.
 */
#ifndef TESTS_FAULTS_FAULTS_H
#define TESTS_FAULTS_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>
#include <libvirt/libvirt.h>

#include "bench/measure.h"
#include "bus/bus.h"
#include "core/error.h"
#include "core/value.h"

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
#define LEADER_WAIT_S 30.0        /* --cluster: a queue leader to be named */
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

/* What a wait waits for: a condition of the run, and its argument. */
typedef bool (*cond_fn)(struct faults *f, void *arg);

/* The arguments of the conditions that more than one scenario waits for. */
struct cmd_range {
    struct cmd **v;
    size_t n;
};

struct log_wait {
    const char *path, *text;
};

struct answered_at_least {
    size_t base, n;
};

struct fifo_wait {
    pid_t pid;
    unsigned n;
};

/* Time and output ----------------------------------------------------------- */
int64_t wall_ms(void);
void __attribute__((format(printf, 2, 3))) say(const struct faults *f, const char *fmt, ...);
void __attribute__((format(printf, 2, 3))) debug(const struct faults *f, const char *fmt, ...);
bool __attribute__((format(printf, 3, 4))) check(struct faults *f, bool ok, const char *fmt, ...);

/* The loop ------------------------------------------------------------------ */
bool run_until(struct faults *f, cond_fn cond, void *arg, double timeout_s);
bool run_while_moving_on(struct faults *f, cond_fn cond, void *arg, const size_t *progress,
                         double idle_s);
bool run_while_moving(struct faults *f, cond_fn cond, void *arg, double idle_s);
bool run_while_recording(struct faults *f, cond_fn cond, void *arg);
void run_for(struct faults *f, double seconds);

/* Processes ----------------------------------------------------------------- */
int spawn(struct faults *f, struct child *c, char *const argv[], const char *const *extra_env,
          const char *log_path, bool die_with_us);
void reap_children(struct faults *f);
bool child_gone(struct faults *f, void *arg);
void describe_status(int status, char *buf, size_t len);
bool child_stop(struct faults *f, struct child *c, int sig, double wait_s);

/* Private libvirtds --------------------------------------------------------- */
const char *libvirt_error(void);
int libvirtd_start(struct faults *f, struct libvirtd *d);
void libvirtd_kill(struct faults *f, struct libvirtd *d);
qmf_value *libvirtd_domains(struct faults *f, struct libvirtd *d);

/* Agents -------------------------------------------------------------------- */
struct agent_proc *agent_new(struct faults *f, const char *node, const char *failpoints);
int agent_spawn(struct faults *f, struct agent_proc *ap);
bool agent_wait_ready(struct faults *f, struct agent_proc *ap);
int agent_start(struct faults *f, struct agent_proc *ap);
bool agent_term(struct faults *f, struct agent_proc *ap, double wait_s);
void agents_teardown(struct faults *f, struct agent_proc **v, size_t n);
void check_no_crashes(struct faults *f, struct agent_proc **v, size_t n);

/* Commands ------------------------------------------------------------------ */
struct cmd *cmd_new(struct faults *f, struct agent_proc *ap, const char *object,
                    const char *method, qmf_value *args, uint64_t ttl_ms);
struct cmd *cmd_define(struct faults *f, struct agent_proc *ap, uint64_t ttl_ms);
void pump_agent(struct faults *f, struct agent_proc *ap);
struct query *query_send(struct faults *f, struct agent_proc *ap, const char *class_name);
bool query_done(struct faults *f, void *arg);

/* Waiting for answers ------------------------------------------------------- */
bool range_answered(struct faults *f, void *arg);
bool range_confirmed(struct faults *f, void *arg);
bool range_recorded(struct faults *f, void *arg);
void stream(struct faults *f, struct agent_proc *ap, size_t window);
bool is_interrupted(const struct cmd *c);
bool is_repeat(const struct cmd *c);
int find_effects(struct faults *f, struct agent_proc **v, size_t n, size_t *stray);
bool file_contains(const char *path, const char *needle);
void show_log_tail(const char *path, size_t n);
bool log_has(struct faults *f, void *arg);

/* Faults -------------------------------------------------------------------- */
bool answered_at_least(struct faults *f, void *arg);
double first_answer_after(const struct agent_proc *ap, double t);
bool kill_agent(struct faults *f, struct fault *ft, struct agent_proc *ap);
bool restart_broker(struct faults *f, struct fault *ft);
bool kill_cluster_node(struct faults *f, struct fault *ft, struct agent_proc **v, size_t n,
                       struct agent_proc *ap);

/* Blocked commands ---------------------------------------------------------- */
char *domain_object_name(struct faults *f, struct libvirtd *d, const char *name);
unsigned fifo_waiters(pid_t pid);
bool fifos_blocked(struct faults *f, void *arg);
bool drain_fifo(const char *path);
bool start_blocked_save(struct faults *f, struct agent_proc *ap, const char *fifo_name,
                        char **fifo, char **object, struct cmd **save);
void print_file(const char *path);

/* The run ------------------------------------------------------------------- */
int faults_setup(struct faults *f);
void faults_teardown(struct faults *f, bool keep);

/* The scenarios (one file each) -------------------------------------------- */

int scenario_stream(struct faults *f);
int scenario_queued(struct faults *f);
int scenario_libvirtd(struct faults *f);
int scenario_poison(struct faults *f);
int scenario_sigterm(struct faults *f);
void scenario_long_command(struct faults *f, bool early_ack);
void scenario_long_command_killed(struct faults *f);
int scenario_controller(struct faults *f);

#endif
