/*
 * The agent's insides, shared by its files: agent.c (lifecycle, broker),
 * hypervisor.c (the libvirt connection), objects.c (classes and
 * inventory loading), publish.c, dispatch.c (requests), methods.c (the
 * method table), events.c (hypervisor events) and heartbeat.c.  Worker
 * jobs are submitted and counted by jobs.c, the clocks read by clock.c.
 *
 * Threading: everything here runs on the loop thread, and struct agent
 * belongs to it, unless a comment says otherwise.  A worker job (see
 * jobs_submit) reads only what its job struct owns, the configuration
 * snapshot it took when it was submitted (struct agent_conf, config.h),
 * and the fields of struct agent marked "workers may read" below.
 */
#ifndef AGENT_IMPL_H
#define AGENT_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/agent.h"
#include "agent/guard.h"
#include "agent/hostpath.h"
#include "agent/inventory.h"
#include "agent/jobs.h"
#include "agent/journal.h"
#include "agent/log.h"
#include "bus/bus.h"
#include "drivers/driver.h"

enum agent_state {
    AGENT_NEW,
    AGENT_STARTING,     /* opening the hypervisor, loading the inventory */
    AGENT_RUNNING,
    AGENT_STOPPING,     /* finishing running commands */
    AGENT_STOPPED,
};

/* Answers (query results, a group's _results) go out in messages of at
 * most this many objects. */
#define AGENT_ANSWER_BATCH 100

/* The schema's sstr bound: texts copied from requests into events. */
#define AGENT_SSTR_MAX 255

/* The keys of the topic exchange that replies may go to: where Qpid's
 * consoles listen ("qmf.default.topic/direct-console.<id>"). */
#define AGENT_TOPIC_REPLY_PREFIX QMF_NAME_TOPIC_REPLY_PREFIX

/* Where commands go that the broker gave up on (delivery_limit). */
#define AGENT_DEAD_LETTERS BUS_DEAD_LETTERS

enum agent_driver_state {
    AGENT_DRIVER_DOWN,        /* no connection; maybe a retry pending */
    AGENT_DRIVER_CONNECTING,  /* an open job runs */
    AGENT_DRIVER_LOADING,     /* connected, first inventory loading */
    AGENT_DRIVER_UP,
    AGENT_DRIVER_LOST,        /* lost; closed once no job uses it */
    AGENT_DRIVER_CLOSING,     /* a close job runs */
};

struct agent {
    /* Workers may read env (never changed after agent_new). */
    struct agent_env env;
    /* The configuration in force, replaced whole by agent_reconfigure.
     * cfg is conf->cfg by value (strings and labels belong to conf), for
     * the loop thread's convenience; neither is for workers, which read
     * their job's own reference to a snapshot instead. */
    struct agent_conf *conf;
    struct agent_config cfg;
    /* Any thread may log through it: its level is atomic. */
    struct log_ctx log;
    enum agent_state state;

    /* Workers may read the four names (never changed after agent_new). */
    char *name;             /* "virtbus:agent:<node>" */
    char *key_name;         /* "virtbus.agent.<node, escaped>" for routing keys */
    char *queue;            /* "virtbus.agent.<node>": the command queue */
    char *heartbeat_key;
    int64_t epoch_ns;       /* start time: tells restarts apart */

    /* Identity (identity.c).  The lock queue is the node's lock and its
     * broadcast-query queue: a named exclusive queue, which the broker
     * lets one connection have at a time. */
    char *lock_queue;       /* "virtbus.lock.<node>" */
    char instance_id[37];   /* random per agent: tells two agents of a node apart */
    char *host;             /* where this instance runs (gethostname) */
    struct bus_conn *probe; /* reads heartbeats while another holds the lock */
    struct event *probe_ev; /* ends the probe */
    int64_t probe_start_ns;
    qmf_error failure;      /* code set: another instance serves the node */
    unsigned heartbeats_to_fleet; /* until the next record in the fleet's memory */
    /* Method requests acted on since the start, by commandResult outcome
     * (agent_command_outcomes), for the heartbeat's _commands. */
    uint64_t commands[4];

    /* Hypervisor.  Workers may read dconn: it is set and cleared on the
     * loop thread only while no job that uses it is queued or running (the
     * submit and the done of each job order them). */
    struct drv_conn *dconn;
    enum agent_driver_state driver_state;
    bool driver_up;          /* connected and inventory loaded */
    bool driver_was_up;      /* so a later success is a reconnect */
    struct event *driver_retry_ev;
    uint32_t driver_backoff_ms;
    uint64_t rng;            /* backoff jitter */

    /* Broker. */
    struct bus_conn *bus;
    bool bus_up;
    bool started_event_sent;
    bool start_reported;     /* env.started was called */

    /* inv.agent_name is a->name; the rest of inv is the loop's. */
    struct inventory inv;
    /* Changes made during this pass of the loop, pushed together at its end
     * (agent_push_soon): a burst of commands is a few pushes, not one each. */
    qmf_value *push_pending;
    struct event *push_ev;
    /* Trust material: who may ask what, and the agent's own key.  Loop
     * thread only; replaced as a whole on reload. */
    struct agent_guard *guard;
    /* NULL: commands run at least once.  Workers may read the pointer: it
     * is set before the first command and cleared after the last job. */
    struct journal *journal;
    /* allowed_paths, resolved; replaced on reload, while the commands that
     * started under the old one keep a reference (hostpath.h). */
    struct hostpath_set *paths;
    struct event *heartbeat_ev;
    struct event *stats_ev;

    struct jobs jobs;           /* worker jobs holding a pointer to us */
    /* Audit lines made while the last batch was being written (audit.c):
     * one append job at a time, each taking every line made meanwhile. */
    char *audit_pending;
    size_t audit_pending_len, audit_pending_cap;
    bool audit_writing;
    unsigned journal_waits;     /* outcomes waiting for their END's fsync (command.c) */
    bool saying_goodbye;        /* the stop has passed its point of no return */
    void (*stopped_cb)(struct agent *a, void *opaque);
    void *stopped_opaque;
};

/*
 * Publishing.  body is consumed.  opcode sets qmf.opcode and `method`;
 * content (may be NULL) sets qmf.content.  A confirm callback, if given,
 * is always called exactly once.
 */
struct agent_publish {
    const char *address;
    const char *opcode;
    const char *content;
    const char *correlation_id;
    bool partial;
    bool durable;           /* persistent: replies to persistent requests */
    bool unconfirmed;       /* may skip publisher confirms (bus_message) */
    /* Answers: the request's encoding and envelope (bus_message);
     * indications take the configuration's instead. */
    enum bus_encoding encoding;
    bool amqp10;
    /* Answers: the asker's X25519 key (its request's virtbus.reply-key),
     * or NULL; the answer is authenticated to it and, seal set, sealed
     * to it (trust/seal.h). */
    const char *reply_key;
    bool seal;
    /* Answers: the asker checks no credential (trust/seal.h,
     * virtbus.answer-credential). */
    bool key_only;
    /* Answers: the id of the credential its request carried whole and
     * that the agent now holds (virtbus.credential-held), or NULL. */
    const char *credential_held;
    bus_confirm_cb confirm;
    void *opaque;
};
int agent_publish(struct agent *a, const struct agent_publish *p,
                  qmf_value *body);
/*
 * Whether an address may receive replies (docs/PROTOCOL.md §3.3): a queue
 * (/queue/Q) other than virtbus's own (virtbus.*, job queues excepted), a
 * key on qmf.default.direct (/exchange/qmf.default.direct/K, Qpid's
 * "qmf.default.direct/K", or a bare K) that is not an agent's command key
 * (virtbus:agent:*) nor the dead-letter key, or a direct-console.* key of
 * qmf.default.topic (Qpid's consoles).  No other key of the topic
 * exchange, nor another exchange: the agent would publish under other
 * agents' indication keys, or a broadcast request.  false with error 4
 * saying why.
 */
bool agent_reply_address_allowed(const char *address, qmf_error *why);
/* Replies to a request's reply-to (nothing if it has none, or if it is not
 * a reply address); body consumed. */
int agent_reply(struct agent *a, const struct bus_message *req,
                const char *opcode, const char *content, bool partial,
                qmf_value *body, bus_confirm_cb confirm, void *opaque);
int agent_reply_exception(struct agent *a, const struct bus_message *req,
                          const qmf_error *err, bus_confirm_cb confirm,
                          void *opaque);
/* Publishes an event of the schema's event class `event`; values consumed. */
int agent_publish_event(struct agent *a, const char *event, qmf_value *values,
                        bus_confirm_cb confirm, void *opaque);
/* Pushes changed objects (a list of data maps, consumed) as
 * _data_indications, batched, one routing key per class. */
void agent_push_objects(struct agent *a, qmf_value *data_list);
/* The same once the callbacks already queued on the loop have run, with
 * every other change made meanwhile, in the order they were made. */
void agent_push_soon(struct agent *a, qmf_value *data_list);
/* Pushes every object: the snapshot consumers get at start and after a
 * reconnect. */
void agent_push_all(struct agent *a);

/* dispatch.c */
/* Whether a request created at created_ms with ttl_ms is past its deadline
 * at now_ms, and *late_ms by how much; overflow-safe for any values (both
 * come from the sender).  0 for either means "never expires". */
bool agent_request_expired(int64_t created_ms, uint64_t ttl_ms, int64_t now_ms,
                           uint64_t *late_ms);
/* A broadcast query or locate, from the agent's private queue: like
 * agent_on_request, but commands are refused there (they must reach the
 * durable queue to be kept while the agent is down). */
void agent_on_broadcast_query(struct bus_delivery *d, const struct bus_message *m,
                              void *opaque);
void agent_on_request(struct bus_delivery *d, const struct bus_message *m,
                      void *opaque);

/* methods.c: the worker-side implementation of a method, or NULL. */
struct method_call {
    struct agent *a;             /* of which methods read dconn only */
    const struct schema_class *cls;
    const struct schema_method *method;
    const char *object_name;     /* "domain:<uuid>", "node", ... */
    const char *object_key;      /* the part after the colon, or "" */
    qmf_value *args;             /* checked and coerced */
    qmf_value *out;              /* output arguments (a map) */
    /* Set by a method that creates an object (its name, malloc'd), so that
     * the agent fetches and pushes it once the method returns. */
    char *created;
    /* Set by a method whose effect reaches a whole class (e.g. "Volume"
     * after a pool is deleted): the class is reloaded afterwards. */
    const char *reload_class;
};
struct agent_method;
const struct agent_method *agent_find_method(const char *class_name,
                                             const char *method_name);
/* Runs the method on the worker thread: 0, or -1 with err set. */
int agent_run_method(const struct agent_method *m, struct method_call *call,
                     qmf_error *err);
/* The i-th entry of the method table (false past the end), so that a test
 * can hold the table against the schema. */
bool agent_method_entry(size_t i, const char **class_name, const char **method_name);

/* command.c: a method request, run at most once through the journal, on
 * one object, or on the objects where selects (answered as _results).
 * The delivery is settled by the command. */
void agent_command_one(struct agent *a, struct bus_delivery *d, const struct bus_message *m,
                       const struct agent_caller *caller, const struct schema_class *cls,
                       const struct schema_method *sm, const struct agent_method *impl,
                       const qmf_value *args, const char *object_name);
/* -1 with err set, the delivery untouched, if where cannot be evaluated
 * on some object (a regex limit): nothing has run. */
int agent_command_where(struct agent *a, struct bus_delivery *d, const struct bus_message *m,
                        const struct agent_caller *caller, const struct schema_class *cls,
                        const struct schema_method *sm, const struct agent_method *impl,
                        const qmf_value *args, const qmf_where *where, qmf_error *err);
/* Publishes again the outcomes the broker has not confirmed. */
void agent_command_flush_spool(struct agent *a);
/* What, with its message-id, makes a command itself (docs/PROTOCOL.md
 * §9.3): a digest of its sender and of everything in the request that
 * decides its effect.  The same id and digest is the same command sent
 * again; the same id and another digest, another command.  The sender is
 * the signing key of a signed request, else the user-id it carries. */
void agent_command_digest(const struct bus_message *m, const struct agent_caller *caller,
                          uint8_t digest[JOURNAL_DIGEST_LEN]);

/* Who a commandResult names as requester: the verified caller of a signed
 * request, else the user-id it carried (or ""). */
const char *agent_requester(const struct agent_caller *c, const struct bus_message *m);
/*
 * The values of a commandResult event for request m from caller (NULL:
 * not known).  Every text taken from the request (requester, correlation
 * id, class, object and method names) is cut to the schema's 255 bytes and
 * made valid UTF-8: a record must not carry what it records unbounded.
 * class_name NULL: "".
 */
qmf_value *agent_command_result(const struct agent_caller *caller, const struct bus_message *m,
                                const char *class_name, const char *object_name,
                                const char *method_name, const char *outcome,
                                const qmf_error *err, int64_t duration_ns);

/* audit.c: one line of the audit trail (docs/SECURITY.md §8) for a
 * command run (outcome "ok" or "error") or a request refused ("rejected",
 * "expired"); c NULL when the sender is not known. */
void agent_audit(struct agent *a, const struct agent_caller *c, const struct bus_message *m,
                 const char *action, const char *object, const char *outcome,
                 const qmf_error *err);

/* state.c: the journal in the state directory, opened and closed on a
 * worker; done runs on the loop thread. */
void agent_state_open(struct agent *a, void (*done)(struct agent *a));
void agent_state_close(struct agent *a, void (*done)(struct agent *a));

/* events.c */
extern const struct drv_events agent_driver_events;

/* objects.c */
/* {_agent_name, _object_name} of one of this agent's objects.  Any thread:
 * it reads only the agent's name. */
qmf_value *agent_object_ref(const struct agent *a, const char *object_name);
/* "domain:<uuid>" from ("Domain", uuid); NULL for an unknown class. */
char *agent_object_name(const char *class_name, const char *key);
/* Schedules a refresh of one object and a push of what changed. */
void agent_refresh_object(struct agent *a, const char *object_name);
/* (Re)loads every class (only_class NULL) or one, on a worker; pushes what
 * changed, or everything with push_all. */
void agent_load_inventory(struct agent *a, const char *only_class, bool push_all,
                          void (*done)(struct agent *a, bool ok));

/* hypervisor.c */
void agent_hypervisor_start(struct agent *a);
void agent_driver_lost(struct agent *a, const char *reason);
/* Called when the last worker job ended. */
void agent_hypervisor_idle(struct agent *a);
/* Stop path: closes the connection off the loop, then calls done. */
void agent_hypervisor_close(struct agent *a, void (*done)(struct agent *a));
/* agent.c: the first connection attempt is over (either way). */
void agent_hypervisor_ready(struct agent *a);
/* agent.c: tells the host how the first start went (agent_env.started),
 * once: why NULL reports success, and only when agent_is_ready(). */
void agent_report_start(struct agent *a, const qmf_error *why);

/* identity.c */
void agent_identity_init(struct agent *a);
void agent_identity_free(struct agent *a);
/* The broker refused the node's lock: find out who has it (bus closed). */
void agent_identity_locked(struct agent *a, const qmf_error *why);
/* Stops looking for the holder (stopping). */
void agent_identity_end_probe(struct agent *a);
/* agent.c: (re)opens the broker connection; stops for good with why. */
void agent_open_bus(struct agent *a);
/* Fills the broker, TLS, login and the host's bus_threads of every
 * connection the agent opens, and says whether the administrator made the shared topology
 * (broker_topology = "provisioned"): its queues are then only checked. */
bool agent_bus_base(const struct agent *a, struct bus_options *opts);
void agent_fail(struct agent *a, const qmf_error *why);

/* heartbeat.c */
/* Agent attributes: heartbeats, locate responses and _target predicates. */
qmf_value *agent_attributes(const struct agent *a);
/* Counts a commandResult the agent publishes for the first time (not a
 * replay from the journal) in a->commands, by its outcome, for the
 * heartbeat's _commands. */
void agent_count_command(struct agent *a, const qmf_value *command_result);
void agent_heartbeat_start(struct agent *a);
void agent_heartbeat_stop(struct agent *a);
void agent_heartbeat_send(struct agent *a, bool last);

/* objects.c: a fresh property map of one object, from the hypervisor
 * (worker thread), completed from cfg (the job's snapshot: the Node's
 * labels); QMF_ERR_UNKNOWN_OBJECT if it no longer exists. */
int agent_fetch_object(struct agent *a, const struct agent_config *cfg,
                       const char *object_name, qmf_value **values, qmf_error *err);
/* Loop thread: stores what agent_fetch_object found (values consumed; NULL
 * and gone=false: nothing known) and pushes it if it changed. */
void agent_apply_object(struct agent *a, const char *object_name,
                        qmf_value *values, bool gone);


#endif
