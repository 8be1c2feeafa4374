/*
 * The console's insides, shared by its files: console.c (connection,
 * watch, send), request.c (requests and their answers), presence.c
 * (who is alive, targeting), summary.c (presence from a keeper's
 * summaries, and the keeper) and jobs.c (fire-and-forget jobs).
 */
#ifndef VIRTBUS_CONSOLE_IMPL_H
#define VIRTBUS_CONSOLE_IMPL_H

#include <sys/types.h>

#include "controller/lib/virtbus.h"
#include "controller/lib/virtbus_bus.h"
#include "core/dict.h"
#include "trust/key.h"
#include "trust/seal.h"
#include "trust/store.h"

/* An agent is present while heartbeats keep coming; the presence window
 * is how far back a console reads them, and so who it can report down. */
#define PRESENCE_WINDOW_S 20
#define PRESENCE_MISSED 3        /* intervals without a heartbeat: down */
#define PRESENCE_MARKER_OPCODE "_console_presence_marker"
/* How long a cache's "no keeper was found" holds before a console looks
 * for a keeper's summary again. */
#define PRESENCE_KEEPER_RECHECK_MS 60000
/* Instances of one agent told apart; more than two is already a clash. */
#define PRESENCE_MAX_INSTANCES 4

/* One process heartbeating as an agent. */
struct presence_instance {
    char *id;                /* _instance_id, or the start time of an older agent */
    char *host;
    uint32_t pid;
    int64_t started_ms, last_ms;
};

/* What presence knows of one agent. */
struct presence_entry {
    char *name;
    /* Its newest heartbeat's values; NULL while they are still attrs_json,
     * as a cache gave them (console_presence_attrs decodes them). */
    qmf_value *attrs;
    char *attrs_json;
    char *node;              /* the values' "node", NULL if none */
    bool stopping;           /* the values' "_stopping" */
    int64_t last_seen_ms;
    uint32_t interval_s;
    struct presence_instance inst[PRESENCE_MAX_INSTANCES];
    size_t ninst;
    bool followed_up;        /* up, as last told to virtbus_presence_follow */
    /* When its heartbeat said something new (besides the time): what a
     * keeper's summary must repeat (summary.c). */
    int64_t changed_ms;
};

struct presence_keeper;

/*
 * A broker's answer waited for on the loop: a consumer started, a declare
 * done, a publish confirmed.  The callbacks may come after the wait gave
 * up (or again, for a consumer, at each reconnect): a wait lives as long
 * as what it waits for can still answer (its console, or a reader that
 * cancels its consumer first), never on the stack.
 */
struct console_wait {
    bool done, ok;
    qmf_error err;
};

/* One synchronous request (or batch of them) and its answers. */
struct pending {
    char *correlation_id;
    bool expect_known;               /* results pre-filled, one per agent */
    struct qmf_dict *index;          /* agent name -> result index + 1 */
    struct virtbus_results results;
    size_t results_cap;              /* items allocated */
    size_t sent;                     /* agents asked so far */
    size_t answered, failed;         /* complete results */
    bool checking;                   /* answers are checked (verified) */
    bool done;
    struct event *timeout_ev;
    struct event *quiet_ev;          /* unknown set: done when quiet */
    /* Batches: targeted sends, at most `window` unanswered at a time. */
    const struct virtbus_send_opts *opts;
    size_t next_to_send, in_flight, window;
    int64_t *deadline_ms;            /* per result, while in flight */
    bool *in_flight_flags;
    struct event *batch_ev;          /* sends the next, and expires */
    int64_t next_send_ms;
    /* The request as first sent: what a batch sends each agent, and what
     * an agent is sent again. */
    const struct bus_message *request;
    /* Agents sent the credential whole after they answered that they did
     * not hold it (QMF_ERR_CREDENTIAL_UNKNOWN): once each.  NULL: none. */
    struct qmf_dict *sent_whole;
    bool named_by_id;                /* some agent was sent the credential's id */
};

struct virtbus_console {
    struct event_base *base;
    struct schema *schema;
    struct bus_conn *bus;
    /* The background threads of all the console's connections: waited
     * for by virtbus_console_close_wait, before the process exits. */
    struct bus_threads *bus_threads;
    char *url;
    struct bus_tls tls;      /* its strings owned */
    enum bus_sasl sasl;
    bool provisioned;        /* exchanges and shared streams: only checked */
    bool read_only;          /* broadcast queries only */
    char *reply_to;
    char *user;              /* the broker user, sent as user_id; NULL: unknown */
    struct trust_key *sign_key;         /* NULL: requests go unsigned */
    char *sign_credential;              /* NULL: the bare key */
    struct trust_store *answer_store;   /* NULL: answers are not checked */
    struct trust_checked *answer_credentials;  /* agents' credentials checked */
    struct trust_sealer *sealer;        /* X25519 twin of sign_key; NULL: not signing */
    /* Agents that said they hold sign_credential (virtbus.credential-held):
     * queries to them name it by id (virtbus.credential-id).  Values
     * unused. */
    struct qmf_dict *credential_held;
    char credential_id[TRUST_CREDENTIAL_ID_LEN + 1];
    bool plain_answers;                 /* agents are asked not to seal answers */
    bool up;
    bool lost;
    qmf_error last_error;
    /* virtbus_console_interrupt(): waits end at once, until cleared. */
    bool interrupted;
    /* The job an interrupted method request left (NULL: none, and
     * interrupt_job_err says why if one was tried), and the description
     * its record gets (virtbus_console_describe; NULL: Class.method). */
    char *interrupt_job;
    qmf_error interrupt_job_err;
    char *description;
    /* Told when the connection is lost and when it is back (watch). */
    virtbus_connection_fn connection_fn;
    void *connection_opaque;
    /* The broker refused something this console sent, for want of a
     * permission, and closed the connection for it: asking again would
     * only be refused again.  Cleared by each request. */
    qmf_error refused;
    uint64_t seq;
    char id[37];
    struct pending *current;
    /* Job waits that gave up before the broker answered (jobs.c): their
     * reports may still come; whatever is left goes with the console. */
    struct outcome *abandoned;

    /* Watch. */
    bool has_watch;
    virtbus_watch_fn watch_fn;
    void *watch_opaque;
    bool watching;
    /* Watch messages that arrived while no virtbus_watch() ran (during a
     * call, say): kept for the next one, so that none is missed. */
    struct bus_message **backlog;
    size_t backlog_len, backlog_dropped;

    /* Presence: heartbeats read from the stream, by agent name. */
    bool has_presence;
    struct qmf_dict *presence;       /* agent name -> struct presence_entry */
    char *presence_marker;           /* our marker's message id */
    bool presence_complete;          /* the marker came back */
    uint64_t presence_delivered;     /* messages read from the stream */
    unsigned presence_window_s;
    int64_t presence_offset;         /* the last stream offset read, or -1 */
    char *presence_cache;            /* file to resume from next time, or NULL */
    int64_t presence_saved_ms;       /* when the loaded cache was saved */
    bool presence_reused;            /* the cache is the answer; no stream */
    unsigned presence_reuse_ms;      /* the option: this console's own reuse */
    bool presence_cache_whole;       /* the loaded cache has its agents */
    /* Read since the cache was saved: it is saved at the close, after the
     * command's work (megabytes at 10,000 agents). */
    bool presence_unsaved;
    int64_t presence_read_ms;        /* when the last read began */
    /* Presence from a keeper's summaries (summary.c), unless told not to;
     * then the heartbeats are read only if no fresh summary is found. */
    bool summaries;
    bool heartbeats_subscribed;      /* the presence stream is read */
    struct bus_sub *presence_sub;    /* when subscribed late, its reader */
    struct console_wait presence_sub_wait;
    bool presence_from_summary;      /* what virtbus_presence() last told */
    bool presence_keeper_seen;       /* the loaded cache came from a summary */
    int64_t keeper_checked_ms;       /* when a console last looked for one */
    int64_t summary_as_of_ns;        /* of the summary presence came from */
    char **presence_named;           /* presence_nodes, NULL-terminated, or NULL */
    struct presence_keeper *keeper;  /* virtbus_presence_keep() */
    /* Presence changes followed (virtbus_presence_follow). */
    virtbus_presence_fn follow_fn;
    void *follow_opaque;
    struct event *follow_ev;         /* finds agents gone silent */

    /* The fleet's memory (fleet.c). */
    bool has_fleet;
    struct qmf_dict *fleet;          /* agent name -> struct fleet_entry */
    qmf_value *fleet_forgotten;      /* agent name -> ms it was last forgotten */
    char *fleet_marker;
    bool fleet_complete;
    int64_t fleet_offset;            /* the last stream offset read, or -1 */
    char *fleet_last;                /* what lies there, to know the stream again */
    bool fleet_resumed;              /* read from a cache's offset... */
    bool fleet_checked;              /* ...and found the same stream there */
    bool fleet_stale;                /* the stream is not the one of the cache */
    bool fleet_reused;               /* the cache is the answer; no stream */
    char *fleet_cache;
    int64_t fleet_saved_ms;
    struct console_wait forget_wait; /* a forget record's confirm */
    uint64_t fleet_delivered;        /* records read from the stream */
    unsigned fleet_retention_s;
};

/* console.c */
int64_t console_now_ms(void);
char *console_new_id(void);           /* a random UUID string */
/* Sets what every request carries: ttl and creation time unless set, the
 * user, persistence for commands. */
void console_stamp(struct virtbus_console *c, struct bus_message *m, unsigned ttl_ms);
/* The broker, TLS and login of this console, for another connection of it;
 * the rest of bo is left as it is. */
void console_bus_options(const struct virtbus_console *c, struct bus_options *bo);
/* An event callback that sets the bool arg points to. */
void console_flag_cb(evutil_socket_t fd, short what, void *arg);
/* Runs the loop until *flag or timeout_ms; false on timeout or a lost broker. */
bool console_run_until(struct virtbus_console *c, const bool *flag, unsigned timeout_ms);
/* A queue the administrator makes where the topology is provisioned:
 * there it is only checked (a passive declare, no bindings). */
void console_shared_queue(const struct virtbus_console *c, struct bus_queue *q);
/* The same for reading a stream to a marker: however long it takes, as
 * long as *counter (messages read) keeps growing; false once nothing came
 * for idle_ms (10,000 agents' records take seconds to read). */
bool console_run_while_coming(struct virtbus_console *c, const bool *flag,
                              const uint64_t *counter, unsigned idle_ms);
/* bus_done_cb and bus_confirm_cb for a struct console_wait (opaque); then
 * wait_for runs the loop until it is done or timeout_ms passed: 0 if it
 * went well, else -1 and err says "what: why". */
void console_wait_done(struct bus_conn *conn, const qmf_error *err, void *opaque);
void console_wait_confirmed(bool ok, void *opaque);
int console_wait_for(struct virtbus_console *c, struct console_wait *w, unsigned timeout_ms,
                     const char *what, qmf_error *err);

/* Refuses (QMF_ERR_UNAUTHORIZED) what a read-only console may not send:
 * 0 if it may. */
int console_check_writable(const struct virtbus_console *c, const char *what,
                           qmf_error *err);

/* request.c: the reply queue's receiver, and the answer bookkeeping that
 * jobs share: init with the expected agents (NULL: any), absorb answers
 * (the result index once complete, else -1), sort, clear. */
void console_on_reply(struct bus_delivery *d, const struct bus_message *m, void *opaque);
void console_pending_init(struct pending *p, const struct virtbus_agent_list *expect);
/* forged (or NULL): m failed the answer check, and stands for this error. */
ssize_t console_absorb(struct pending *p, const struct bus_message *m, const qmf_value *body,
                       const qmf_error *forged);
/* Signs a request for its address, if the console has a key: last, once
 * the request is complete.  by_id: the credential is named by its id
 * (console_credential_by_id says when it may be). */
int console_sign(struct virtbus_console *c, const char *address, struct bus_message *m,
                 bool by_id, qmf_error *err);
/*
 * Whether m, about to go to agent (NULL: to every agent the current
 * request expects), may name this console's credential by id: a query
 * (asked again at no cost by an agent that does not hold it), to agents
 * that each answered one signed with it before.
 */
bool console_credential_by_id(struct virtbus_console *c, const struct bus_message *m,
                              const char *agent);
/* console_sign (by id where console_credential_by_id allows it, for agent
 * as there), then publishes it; m stays the caller's. */
int console_publish_request(struct virtbus_console *c, const char *address,
                            const char *agent, struct bus_message *m, qmf_error *err);
/* Clocks (ours and the agents') may differ this much from a credential's
 * validity period. */
#define CONSOLE_ANSWER_SKEW_S 300
/* Whether an answer passes the answer check (true when there is none);
 * err says why not. */
bool console_answer_ok(struct virtbus_console *c, const struct bus_message *m, qmf_error *err);
/*
 * The body of a checked answer to read: m->body, or (*opened, the
 * caller's to free) the plain body of a sealed one.  false, with *err
 * saying why, for a sealed answer this console cannot open, or whose
 * plain body does not decode.
 */
bool console_answer_open(struct virtbus_console *c, const struct bus_message *m,
                         qmf_value **opened, qmf_error *err);
/*
 * One answer to p, live or kept by a job's queue: checked
 * (console_answer_ok), opened if sealed, then absorbed.  Returns what
 * console_absorb does.
 */
ssize_t console_take_answer(struct virtbus_console *c, struct pending *p,
                            const struct bus_message *m);
void console_results_sort(struct virtbus_results *r);
void console_pending_clear(struct pending *p);
/* A _method_request on the objects of a class that where selects (§7.4). */
struct bus_message *console_where_request(const char *class_name, const qmf_value *where,
                                          const char *method, const qmf_value *args);

/* job_record.c: a job's record as published (signed for job_id if the
 * console signs; NULL, err set, if signing failed), and how far a record
 * read back can be believed: -1 (err says why) for a signature that does
 * not match, or, on a console that checks answers, for a record unsigned
 * or not from a trusted issuer's caller.  signer: the caller's name
 * (VERIFIED), or NULL; the caller frees it. */
#define CONSOLE_JOB_RECORD_OPCODE "_virtbus_job"
struct bus_message *console_job_record(struct virtbus_console *c, const qmf_value *record,
                                       const char *job_id, qmf_error *err);
int console_job_record_check(struct virtbus_console *c, const struct bus_message *m,
                             const char *job_id, enum virtbus_record_auth *auth,
                             char **signer, qmf_error *err);
/* jobs.c: the answers of request m, interrupted, kept as a job for the
 * agents of `expected`: the job's queue and record made, m sent again to
 * each of addresses with the job's reply-to (signed again).  *job_id is
 * the caller's to free. */
int console_job_keep(struct virtbus_console *c, const struct bus_message *m,
                     char *const *addresses, size_t naddresses,
                     const struct virtbus_agent_list *expected, const char *description,
                     char **job_id, qmf_error *err);

/* presence.c: the presence stream's receiver; the options for it. */
void console_on_presence(struct bus_delivery *d, const struct bus_message *m, void *opaque);
void console_presence_init(struct virtbus_console *c);
void console_presence_free(struct virtbus_console *c);
/* Loads a presence cache: true if it is fresh enough to resume from
 * c->presence_offset.  Its agents are then known already, unless it was
 * told by a keeper's summary and is older than c->presence_reuse_ms (a
 * summary will be read instead). */
bool console_presence_load(struct virtbus_console *c, const char *path);
/* The entry's values, decoded from the cache's text the first time. */
const qmf_value *console_presence_attrs(struct presence_entry *e);
/* Whether presence has every one of nodes (NULL-terminated, or NULL) up. */
bool console_presence_has_up(struct virtbus_console *c, const char *const *nodes);
/* Writes a presence marker with message id id, into the presence stream
 * and the summaries' (PROTOCOL.md §7.3, §7.3.1). */
int console_presence_marker_send(struct virtbus_console *c, const char *id, qmf_error *err);
/* A heartbeat's values for agent, as if read from the stream; takes values. */
void console_presence_heard(struct virtbus_console *c, const char *agent, qmf_value *values);
/* Up: a heartbeat within PRESENCE_MISSED intervals, and not the last one. */
bool console_presence_entry_up(const struct presence_entry *e, int64_t now_ms);
/* The instances of e other than its latest heartbeat, as heartbeat values
 * (a list), or NULL if it has one only. */
qmf_value *console_presence_instances(const struct presence_entry *e);
/* Subscribes to the presence stream from offset (an x-stream-offset,
 * taken) and waits until the broker started it. */
int console_presence_subscribe(struct virtbus_console *c, qmf_value *offset, qmf_error *err);
/* Where reading the heartbeats starts: after what the loaded cache knew,
 * else the window's start (an x-stream-offset). */
qmf_value *console_presence_start(const struct virtbus_console *c);

/* summary.c: presence from the newest fresh summary of a keeper.  1: read
 * (presence is the keeper's); 0: none fresh, read the heartbeats; -1:
 * error. */
int console_summary_read(struct virtbus_console *c, qmf_error *err);
void console_summary_free(struct virtbus_console *c);
/* A marker came back in the presence stream: a keeper's, it writes its
 * next record. */
void console_keeper_marker(struct virtbus_console *c, const char *message_id);

/* fleet.c: the fleet's memory.  init loads the cache and returns the
 * stream offset to subscribe from (a map of consumer arguments, caller
 * frees); on_fleet receives the stream; read publishes a marker and reads
 * up to it (then carries old memories forward and saves the cache); add
 * lists the agents it remembers that presence does not know (down). */
qmf_value *console_fleet_init(struct virtbus_console *c, const char *cache,
                              unsigned retention_s, bool *fresh, unsigned fresh_ms);
void console_on_fleet(struct bus_delivery *d, const struct bus_message *m, void *opaque);
int console_fleet_read(struct virtbus_console *c, qmf_error *err);
/* with_attrs false: the agents without their values (virtbus_presence_nodes). */
void console_fleet_add_remembered(struct virtbus_console *c, struct virtbus_agent_list *out,
                                  int64_t now_ms, bool with_attrs);
/* Presence found an agent down: its last heartbeat goes to the memory
 * (and the stream) unless the memory knows a later one, or has no need
 * of it (console_fleet_note_wanted, which needs no values). */
bool console_fleet_note_wanted(const struct virtbus_console *c, const char *agent,
                               int64_t last_ms);
void console_fleet_note_down(struct virtbus_console *c, const char *agent,
                             const qmf_value *values);
/* Whether the fleet's memory forgot an agent after last_seen_ms. */
bool console_fleet_forgot(const struct virtbus_console *c, const char *agent,
                          int64_t last_seen_ms);
void console_fleet_free(struct virtbus_console *c);
/* jobs.c: frees the waits given up on; after the bus is closed. */
void console_jobs_free(struct virtbus_console *c);

#endif
