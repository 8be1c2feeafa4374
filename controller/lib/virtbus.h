/*
 * libvirtbus: the client ("console" in QMF terms) that the virtbus CLI is a
 * thin layer over.  It finds agents, queries their inventories, calls
 * methods and watches events, over one broker connection on the caller's
 * libevent loop.
 *
 * The calls below are synchronous for the caller: each runs the loop until
 * its answer is complete or its timeout passes, so other events of the same
 * loop keep being served meanwhile.
 */
#ifndef VIRTBUS_H
#define VIRTBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "core/error.h"
#include "core/value.h"
#include "schema/schema.h"
#include "virtbus_version.h"

/* The version of the library a program runs with. */
const char *virtbus_version(void);

struct virtbus_console;

/* How a console authenticates to the broker. */
enum virtbus_sasl {
    VIRTBUS_SASL_PLAIN,             /* the URL's user and password */
    VIRTBUS_SASL_EXTERNAL,          /* the client certificate (amqps) */
};

/*
 * Transport security for amqps:// (docs/TRANSPORTS.md, "TLS and SASL
 * EXTERNAL").  The broker's certificate is always verified, against ca
 * (NULL: the system's CAs), and so is its host name unless
 * no_verify_hostname.  cert and key (PEM; key NULL: in cert's file) are
 * the client's, for SASL EXTERNAL.
 */
struct virtbus_tls {
    const char *ca;
    const char *cert;
    const char *key;
    bool no_verify_hostname;
};

struct virtbus_console_options {
    const char *url;                /* broker URL */
    /* amqps: CA, client certificate and key, host name checks (copied);
     * SASL EXTERNAL logs in by the client certificate.  With EXTERNAL, the
     * URL's user (amqps://alice@host/), if any, is the broker user that
     * requests carry as user-id; the broker checks it. */
    struct virtbus_tls tls;
    enum virtbus_sasl sasl;
    /* The broker's administrator made the exchanges and the shared streams
     * (virtbus broker-setup): they are only checked, not declared, so that
     * the broker account needs no configure permission on them. */
    bool provisioned;
    /* The broker account may only broadcast queries (a reader's, from
     * virtbus broker-setup): requests for one agent go by broadcast too,
     * their _target choosing, and methods and jobs are refused here with
     * QMF_ERR_UNAUTHORIZED rather than by the broker. */
    bool read_only;
    unsigned connect_timeout_ms;    /* 0: 5000 */
    /* Topic bindings for a watch queue (e.g. "agent.ind.event.#"), NULL-
     * terminated; NULL: no watch queue. */
    const char *const *watch_keys;
    /* Read the presence stream (needed by virtbus_presence), keeping the
     * heartbeats of the last presence_window_s seconds (0: 20); it must
     * cover three of the agents' heartbeat intervals. */
    bool presence;
    unsigned presence_window_s;
    /* A file in which presence is kept between consoles (e.g. successive
     * CLI commands), so that the next one reads only the heartbeats it has
     * not seen; NULL: none.  A missing, stale or bad file is ignored. */
    const char *presence_cache;
    /* A cache saved less than this many ms ago is taken as it is and the
     * stream is not read at all (0: always read).  Presence is stale by up
     * to a heartbeat interval anyway; a second more saves a loop of short
     * commands the broker's costliest work (a stream reader per command).
     * The cache is not taken if it misses, or has down, a node of
     * presence_nodes (NULL-terminated node names, or NULL): a node named
     * at once after its start is found.  One found by a pattern may be
     * missed for presence_reuse_ms after its start. */
    unsigned presence_reuse_ms;
    const char *const *presence_nodes;
    /*
     * With presence, the fleet's memory too (docs/PROTOCOL.md §7.6): every
     * node ever seen and not forgotten, so that virtbus_presence() lists a
     * node that went silent long ago as down.  fleet_cache is a file that
     * keeps it between consoles (NULL: none; the first console reads the
     * whole stream, the next ones only what is new); nodes not seen for
     * fleet_retention_s seconds are left out (0: none ever is).
     */
    bool fleet;
    const char *fleet_cache;
    unsigned fleet_retention_s;
    /* A fleet cache saved less than this many ms ago is taken as it is and
     * the stream is not read (0: always read).  The memory changes slowly
     * (presence covers what just happened); what is lost is a forget by
     * another console, seen up to this much later. */
    unsigned fleet_reuse_ms;
    /*
     * Who signs the requests (docs/SECURITY.md §3): a private key (a PEM
     * file) and the credential an issuer signed for it (NULL: agents must
     * trust the bare key).  key_file NULL: requests go unsigned, which
     * agents refuse unless configured not to (require_signatures = no).
     * Queries to agents that said they hold the credential name it by its
     * id instead of carrying it (about 1.2 KB less per agent asked); one
     * that answers it does not hold it is asked again with it, within the
     * same call.
     */
    const char *key_file;
    const char *credential_file;
    /*
     * A console that signs asks agents to seal their answers to it, so
     * that only it can read them, and to authenticate them to it with a
     * MAC (docs/SECURITY.md §3); true: it asks for the MAC only (answers
     * travel in the clear).
     */
    bool plain_answers;
    /*
     * Check every answer: signed by the agent it comes from, whose
     * credential (role agent, name = its node) one of these issuers signed
     * (PEM public keys, NULL-terminated).  An answer that fails is the
     * agent's failure (QMF_ERR_BAD_SIGNATURE).  NULL: answers are taken
     * as they come.
     */
    const char *const *answer_issuer_keys;
    /* Read presence from the heartbeats only, never from a keeper's
     * summaries (docs/PROTOCOL.md §7.3.1): a keeper's own console, or one
     * that must see a node within its first second. */
    bool presence_no_summaries;
};

/* Connects (running the loop until connected or timed out).  The
 * connection is made on a worker thread, which wakes the loop through a
 * descriptor of its own: base need not be made thread-safe
 * (evthread_use_pthreads() is not needed, and does no harm). */
struct virtbus_console *virtbus_console_open(struct event_base *base,
                                             const struct virtbus_console_options *o,
                                             qmf_error *err);
void virtbus_console_close(struct virtbus_console *c);
/* The same, saying goodbye to the broker before returning (blocking, up
 * to timeout_ms, 0: 2 s), then waiting as long again at most for the
 * background threads of the console's other connections: for a program
 * about to exit, which would otherwise leave the broker to log an abrupt
 * close, and those threads' TLS state behind. */
void virtbus_console_close_wait(struct virtbus_console *c, unsigned timeout_ms);
/* The built-in schema (NULL only if it cannot be loaded, which a test of
 * the build catches). */
const struct schema *virtbus_console_schema(struct virtbus_console *c);

/* An agent, as presence (its heartbeats) or a locate knows it. */
struct virtbus_agent {
    char *name;          /* "virtbus:agent:<node>" */
    char *node;
    qmf_value *attrs;    /* its attributes (map) */
    int64_t last_seen_ns;     /* wall clock of its last heartbeat; 0 if unknown */
    uint32_t interval_s;      /* its heartbeat interval; 0 if unknown */
    bool up;                  /* heard from within 3 heartbeat intervals */
    /* Known from the fleet's memory only: down, last heard of before the
     * presence window. */
    bool remembered;
    /* The instances (processes) whose heartbeats the presence window holds,
     * a list of {"instance_id", "host", "pid", "started_ns", "last_seen_ns"};
     * NULL if none.  clash: two of them were alive at the same time, i.e.
     * two agents run with one node name. */
    qmf_value *instances;
    bool clash;
};

struct virtbus_agent_list {
    struct virtbus_agent *items;
    size_t n;
};

/*
 * Finds live agents matching target (an agent predicate; NULL: all).  The
 * answer is complete when no new agent answered for a short quiet period
 * after the last one, or at timeout_ms.  Sorted by node name.
 */
int virtbus_locate(struct virtbus_console *c, const qmf_value *target,
                   unsigned timeout_ms, struct virtbus_agent_list *out,
                   qmf_error *err);
void virtbus_agent_list_free(struct virtbus_agent_list *l);
/* Appends a deep copy of a. */
void virtbus_agent_list_add(struct virtbus_agent_list *l, const struct virtbus_agent *a);

/*
 * Presence: every agent heard from within the presence window (a stream
 * of heartbeats the broker keeps), up or down, sorted by node, without a
 * wait window: the console reads the stream up to a marker it wrote
 * itself, so it knows when it has read everything.  Cost: the heartbeats
 * of the window, O(agents x window / interval).  Or, where a keeper runs
 * (virtbus_presence_keep) and unless presence_no_summaries, its newest
 * summary: O(agents) in a few messages, as of at most a second or so ago
 * (docs/PROTOCOL.md §7.3.1).
 */
int virtbus_presence(struct virtbus_console *c, struct virtbus_agent_list *out,
                     qmf_error *err);
/*
 * The same agents, by name, node and state only: attrs and instances NULL
 * (attrs given only to an agent whose values name no node, which is then
 * matched on them).
 * The values of agents a cache gave are then not even decoded, which for
 * thousands of agents is most of what virtbus_presence() costs.  What a
 * command addressed by node names needs (virtbus_select() matches such
 * agents on their node name alone: virtbus_target_on_nodes()).
 */
int virtbus_presence_nodes(struct virtbus_console *c, struct virtbus_agent_list *out,
                           qmf_error *err);
/* Whether the last virtbus_presence() was told by a keeper's summary. */
bool virtbus_presence_from_summary(struct virtbus_console *c);

/*
 * Keeping presence for other consoles: after reading the whole window,
 * the console writes a summary of it every interval_ms (0: 1000) on its
 * loop, a full one every full_every_s (0: 60) and deltas against it in
 * between, for as long as the loop runs.  The console must read the
 * heartbeats (presence on, presence_no_summaries, no presence_reuse_ms).
 * keep_stop writes a last record that sends readers back to the
 * heartbeats at once; close the console after it.
 */
struct virtbus_keeper_options {
    unsigned interval_ms;
    unsigned full_every_s;
    unsigned part_agents;           /* agents per message of a full summary (0: 1000) */
};
struct virtbus_keeper_stats {
    unsigned long full, delta;      /* summaries written */
    unsigned long records;          /* messages written (parts count one each) */
    size_t agents;                  /* in the last full summary */
    size_t delta_agents;            /* in the last delta */
};
int virtbus_presence_keep(struct virtbus_console *c, const struct virtbus_keeper_options *o,
                          qmf_error *err);
int virtbus_presence_keep_stop(struct virtbus_console *c, qmf_error *err);
void virtbus_keeper_stats(struct virtbus_console *c, struct virtbus_keeper_stats *out);

/*
 * Following presence: after virtbus_presence(), fn is called on the loop
 * thread whenever an agent's state changes: it stops heartbeating for 3
 * intervals (SILENT), sends its stopping heartbeat (STOPPED), heartbeats
 * again (BACK), or heartbeats for the first time (NEW).  Calls happen while
 * the loop runs (virtbus_watch, say).  fn NULL stops following.
 */
enum virtbus_presence_change {
    VIRTBUS_NODE_SILENT, VIRTBUS_NODE_STOPPED, VIRTBUS_NODE_BACK, VIRTBUS_NODE_NEW,
};
typedef void (*virtbus_presence_fn)(const struct virtbus_agent *a,
                                    enum virtbus_presence_change what, void *opaque);
int virtbus_presence_follow(struct virtbus_console *c, virtbus_presence_fn fn, void *opaque,
                            qmf_error *err);

/*
 * Retires a node from the fleet's memory, for every console: a record in
 * the stream (docs/PROTOCOL.md §7.6), confirmed by the broker before this
 * returns.  The node is listed again only if it heartbeats again.  The
 * console must have been opened with presence and fleet.
 */
int virtbus_fleet_forget(struct virtbus_console *c, const char *node, qmf_error *err);

/*
 * Targeting.  A command is for the agents matching every given criterion:
 * node names or globs (names), labels "key=value" (labels), and an agent
 * predicate (predicate, QMF _where over the agent attributes, e.g. from
 * virtbus_expr_compile).  With nothing given it is for no agent unless
 * `all` is set, so that a forgotten flag never reaches the whole fleet.
 */
struct virtbus_target {
    const char *const *names;     /* NULL-terminated, or NULL */
    const char *const *labels;    /* NULL-terminated, or NULL */
    const qmf_value *predicate;   /* or NULL */
    bool all;
};

/* The agent predicate for a target (sent as _target, evaluated locally on
 * presence); NULL with an error for an empty target without `all`. */
qmf_value *virtbus_target_predicate(const struct virtbus_target *t, qmf_error *err);
/* Whether a target name is a shell glob (many nodes) rather than a node. */
bool virtbus_target_is_pattern(const char *name);

/* Whether a predicate looks at nothing but "node" (names, globs, --all):
 * then virtbus_presence_nodes() lists enough to select with it. */
bool virtbus_target_on_nodes(const qmf_value *predicate);
/* The agents of a presence list matching a predicate (NULL: all), split
 * into those up and those down; lists are deep copies (an agent without
 * attrs gets an empty map).  An agent without attrs
 * (virtbus_presence_nodes) is matched on its node name alone: a predicate
 * on anything else selects none of them. */
void virtbus_select(const struct virtbus_agent_list *presence, const qmf_value *predicate,
                    struct virtbus_agent_list *up, struct virtbus_agent_list *down);

enum virtbus_status { VIRTBUS_OK, VIRTBUS_FAILED, VIRTBUS_NO_REPLY };

/* One agent's answer to a request. */
struct virtbus_result {
    char *agent;
    char *node;
    enum virtbus_status status;
    qmf_error error;          /* FAILED: the agent's _exception */
    qmf_value *value;         /* OK: query results (list) or output arguments (map) */
    /* Every message of the answer was checked: signed by this agent
     * (answer_issuer_keys).  false when answers are not checked. */
    bool verified;
};

struct virtbus_results {
    struct virtbus_result *items;
    size_t n;
};
void virtbus_results_free(struct virtbus_results *r);

/*
 * A query of every agent in `agents` with one broadcast; `what` is OBJECT,
 * OBJECT_ID, SCHEMA or SCHEMA_ID; class_name and where may be NULL.  Every
 * agent gets a result, VIRTBUS_NO_REPLY if it did not answer in time.
 */
int virtbus_query(struct virtbus_console *c, const struct virtbus_agent_list *agents,
                  const char *what, const char *class_name, const qmf_value *where,
                  unsigned timeout_ms, struct virtbus_results *out, qmf_error *err);

/* How a request to many agents is sent and followed. */
struct virtbus_send_opts {
    const qmf_value *target;      /* sent as _target; may be NULL */
    unsigned timeout_ms;
    /* 0: one broadcast to all.  Else a sliding window of this many agents:
     * targeted requests, the next one sent as each answer arrives. */
    unsigned batch;
    unsigned batch_sleep_ms;      /* pause between sends in a batch */
    /* Called as requests go out and answers arrive (on the loop thread),
     * e.g. for progress: sent counts agents asked so far (all of them at
     * once without a batch), answered those done (no-reply included). */
    void (*progress)(void *opaque, size_t sent, size_t answered, size_t failed,
                     size_t expected);
    void *opaque;
    /* Queries: only these properties in each object's _values (names,
     * NULL-terminated; NULL: all).  Less to encode, carry and decode. */
    const char *const *properties;
};

/*
 * A query of the agents in `agents` (e.g. from virtbus_select), as
 * virtbus_query, with targeting, batching and progress.
 */
int virtbus_query_agents(struct virtbus_console *c, const struct virtbus_agent_list *agents,
                         const char *what, const char *class_name, const qmf_value *where,
                         const struct virtbus_send_opts *o, struct virtbus_results *out,
                         qmf_error *err);

/*
 * A method on every object of class_name matching where (NULL: every
 * object of the class) on each agent of `agents`.  Each agent's result
 * value is the list of per-object results of docs/PROTOCOL.md §7.4:
 * {_object_id, _name, _arguments} or {_object_id, _name, _values:
 * {error_code, error_text}}, _name (the object's name) when it has one.
 */
int virtbus_call_where(struct virtbus_console *c, const struct virtbus_agent_list *agents,
                       const char *class_name, const qmf_value *where, const char *method,
                       const qmf_value *args, const struct virtbus_send_opts *o,
                       struct virtbus_results *out, qmf_error *err);

/*
 * Fire-and-forget jobs.  The requests go out with the replies routed to a
 * durable queue of the job's own (kept `retention_s` after its last use),
 * and the job is recorded on the broker, so that its results can be
 * fetched later by any console, even one started after the agents
 * finished.  The job id is a UUID string.
 *
 * With a target, the request is a broadcast that every agent matching it
 * receives, the down ones when they come back (within a day); without,
 * only the agents of `agents` act on it (it goes straight to one, or is
 * broadcast with a target naming them).
 */
/* Who wrote a job's record, as far as this console can tell (a record
 * names the job's nodes; docs/SECURITY.md, "Job records"). */
enum virtbus_record_auth {
    VIRTBUS_RECORD_UNSIGNED,    /* by a console that does not sign */
    VIRTBUS_RECORD_UNCHECKED,   /* signed; this console checks no signers */
    VIRTBUS_RECORD_OWN,         /* signed with this console's own key */
    VIRTBUS_RECORD_VERIFIED,    /* by a caller of a trusted issuer (answer_issuer_keys) */
    VIRTBUS_RECORD_REFUSED,     /* a bad signature, or not signed as this console
                                 * requires: record_error says why; listed only */
};
const char *virtbus_record_auth_name(enum virtbus_record_auth a);   /* "own", ... */

struct virtbus_job {
    char *id;
    int64_t created_ns;
    char *description;              /* e.g. "Domain.shutdown where ... on 12 nodes" */
    enum virtbus_record_auth record_auth;
    char *record_signer;            /* VERIFIED: the caller's name; else NULL */
    char *record_error;             /* REFUSED: why; else NULL */
    struct virtbus_agent_list expected;
    /* One per expected agent (NO_REPLY until in), and one per agent that
     * answered unexpected: one down when the job was sent, back since. */
    struct virtbus_results results;
    bool complete;                  /* every expected agent answered */
};
int virtbus_job_submit(struct virtbus_console *c, const struct virtbus_agent_list *agents,
                       const char *class_name, const qmf_value *where, const char *method,
                       const qmf_value *args, const qmf_value *target,
                       unsigned retention_s, const char *description, char **job_id,
                       qmf_error *err);
/* The job's results so far; with wait, waits (up to timeout_ms) until it
 * is complete.  Non-destructive: any number of fetches see the same. */
int virtbus_job_fetch(struct virtbus_console *c, const char *job_id, bool wait,
                      unsigned timeout_ms, struct virtbus_job *out, qmf_error *err);
/* Recent jobs (within the retention), newest first; results not fetched. */
int virtbus_job_list(struct virtbus_console *c, struct virtbus_job **jobs, size_t *n,
                     qmf_error *err);
void virtbus_job_clear(struct virtbus_job *j);

/* A method call on one object of one agent.  args may be NULL. */
int virtbus_call(struct virtbus_console *c, const char *agent,
                 const qmf_value *object_id, const char *method,
                 const qmf_value *args, unsigned timeout_ms,
                 struct virtbus_result *out, qmf_error *err);
void virtbus_result_clear(struct virtbus_result *r);

/*
 * Calls fn for every message arriving on the watch queue until
 * virtbus_watch_stop() is called (from fn or another callback of the loop)
 * or the loop is broken.  The watch queue is bound from
 * virtbus_console_open() on; what arrived since (up to 10000 messages) is
 * handed over first, so no event is missed between calls.
 */
/*
 * Interrupts the console's waits (on the loop thread, e.g. from a SIGINT
 * evsignal): a request returns at once, the agents still owed an answer
 * as NO_REPLY "interrupted before it answered"; a job fetch that waits
 * returns what came so far.  Until cleared (on false), every wait ends
 * at once.  What was sent is not taken back.
 */
void virtbus_console_interrupt(struct virtbus_console *c, bool on);
bool virtbus_console_interrupted(const struct virtbus_console *c);

/*
 * A method request that changes something and is interrupted while some
 * agents still owe an answer leaves a job (docs/PROTOCOL.md §7.5): the
 * agents asked are asked again for the same command (its message-id, so
 * that their journals answer it instead of running it twice) with the
 * job's queue as reply-to, and any console reads every answer there
 * later, those still to come too (virtbus_job_fetch).  This is the job's
 * id, or NULL: no request interrupted so, or the job could not be made
 * (then err, if not NULL, says why; else it is cleared).  Owned by the
 * console; valid until its next request.  Queries leave no job.
 */
const char *virtbus_console_interrupted_job(const struct virtbus_console *c, qmf_error *err);
/* The description recorded with the job an interrupted request leaves,
 * for the requests from now on (copied; NULL: "Class.method"). */
void virtbus_console_describe(struct virtbus_console *c, const char *description);

/*
 * Called on the loop thread when the console's broker connection goes
 * down (up false, why: the reason if known; again on each failed attempt
 * to reconnect) and when it is back (up true, why NULL).  The connection
 * reconnects by itself, and the watch queue is bound again; what was
 * published while it was down is not seen.  fn NULL stops it.
 */
typedef void (*virtbus_connection_fn)(bool up, const qmf_error *why, void *opaque);
void virtbus_console_on_connection(struct virtbus_console *c, virtbus_connection_fn fn,
                                   void *opaque);
/*
 * A message as a watch hands it over, valid during the callback only.
 * Its QMF application properties are headers (qmf.agent, qmf.content,
 * ...; NULL when absent or not a string), its subject the routing key it
 * was published with, its body the decoded body (NULL if it could not be
 * decoded).
 */
struct virtbus_message;
const char *virtbus_message_header(const struct virtbus_message *m, const char *name);
const char *virtbus_message_subject(const struct virtbus_message *m);
const qmf_value *virtbus_message_body(const struct virtbus_message *m);

typedef void (*virtbus_watch_fn)(const struct virtbus_message *m, void *opaque);
int virtbus_watch(struct virtbus_console *c, virtbus_watch_fn fn, void *opaque,
                  qmf_error *err);
void virtbus_watch_stop(struct virtbus_console *c);

/* Sends a raw request to an address and collects replies like the calls
 * above (for tests and tools): replies from `expect` agents, or any
 * agents until a quiet period if expect is NULL. */
int virtbus_request(struct virtbus_console *c, const char *address,
                    const char *opcode, qmf_value *body,
                    const struct virtbus_agent_list *expect, unsigned timeout_ms,
                    struct virtbus_results *out, qmf_error *err);

/* The reply-to address of this console. */
const char *virtbus_console_reply_to(const struct virtbus_console *c);

/* Address helpers. */
char *virtbus_agent_name(const char *node);            /* "virtbus:agent:<node>" */
char *virtbus_agent_address(const char *agent_name);   /* direct exchange */
char *virtbus_broadcast_address(const char *kind);     /* topic, console.request.<kind> */

#endif
