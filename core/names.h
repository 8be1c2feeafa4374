/*
 * The protocol's names (docs/PROTOCOL.md §1.1, §2, §3.3, §7.3, §7.5):
 * agent names, queue names, routing keys and addresses, built and read in
 * one place, so that the agent and the consoles cannot drift apart.
 *
 * It lives in the core library because the bus, the agent, libvirtbus and
 * the CLI all link it, and it needs nothing but allocation.  Builders
 * return malloc'd strings (the caller frees; O(length), never NULL for
 * valid arguments); parsers allocate nothing unless they say so.  Nothing
 * here checks that a name is short enough for the broker except where a
 * parser says so.
 */
#ifndef QMF_NAMES_H
#define QMF_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* The QMF exchanges (§2.1). */
#define QMF_NAME_EXCHANGE_DIRECT "qmf.default.direct"
#define QMF_NAME_EXCHANGE_TOPIC  "qmf.default.topic"

/* AMQP 0-9-1 short strings (queue names, routing keys) hold this many
 * bytes at most; no agent name longer can be a direct routing key. */
#define QMF_NAME_MAX 255

/* Agent names are QMFv2's vendor:product:instance; virtbus's are
 * "virtbus:agent:<node>" (§1.1). */
#define QMF_NAME_AGENT_PREFIX "virtbus:agent:"
/* The agent's key name, "virtbus.agent.<escaped node>", ends every
 * indication key. */
#define QMF_NAME_AGENT_KEY_PREFIX "virtbus.agent."

/* Broadcast kinds (§2.3): console.request.<kind>. */
#define QMF_NAME_BROADCAST_PREFIX "console.request."
#define QMF_NAME_KIND_LOCATE "agent_locate"
#define QMF_NAME_KIND_QUERY  "query"
#define QMF_NAME_KIND_READ   "read"
#define QMF_NAME_KIND_METHOD "method"
/* Methods that change nothing (§7.8): bound to agents' query queues only. */
#define QMF_NAME_READ_METHOD_KEY QMF_NAME_BROADCAST_PREFIX QMF_NAME_KIND_READ
/* Python qmf2's locates go to every agent by this key, and to one by this
 * key followed by "." and the agent name. */
#define QMF_NAME_QPID_LOCATE_KEY "console.ind.locate"
/* What earlier agents bound to their command queues (every broadcast). */
#define QMF_NAME_OLD_BROADCASTS_KEY "console.#"

/* Qpid's consoles listen on direct-console.<id> of the topic exchange. */
#define QMF_NAME_TOPIC_REPLY_PREFIX "direct-console."

/* Where quorum queues put a command that kept killing its agent (agents'
 * command queues dead-letter to the direct exchange with this key). */
#define QMF_NAME_DEAD_LETTERS "virtbus.dead-letters"
/* Every queue of virtbus's own starts so (a reply may not go to one,
 * §3.3, but for a job's). */
#define QMF_NAME_QUEUE_PREFIX "virtbus."

/* Presence (§7.3): the stream, what binds heartbeats to it, and the key of
 * consoles' markers. */
#define QMF_NAME_PRESENCE_QUEUE "virtbus.presence"
#define QMF_NAME_PRESENCE_KEY "agent.ind.heartbeat.#"
#define QMF_NAME_PRESENCE_MARKER_KEY "virtbus.presence.marker"
/* A presence keeper's summaries (§7.3.1): their stream, and the key they
 * must come by (not the stream's name, which the default exchange uses). */
#define QMF_NAME_SUMMARY_QUEUE "virtbus.presence.summaries"
#define QMF_NAME_SUMMARY_KEY "virtbus.presence.summary"
/* The fleet's memory (§7.6) and its consoles' markers. */
#define QMF_NAME_FLEET_QUEUE "virtbus.fleet"
#define QMF_NAME_FLEET_MARKER_KEY "virtbus.fleet.marker"
/* Jobs (§7.5): the stream of records, and each job's queue (which is also
 * its key on the direct exchange). */
#define QMF_NAME_JOBS_QUEUE "virtbus.jobs"
#define QMF_NAME_JOB_PREFIX "virtbus.job."

/* Addresses (§3.3). */
#define QMF_NAME_EXCHANGE_ADDRESS_PREFIX "/exchange/"
#define QMF_NAME_QUEUE_ADDRESS_PREFIX "/queue/"
/* RabbitMQ's direct reply-to as a console puts it in its requests (§2.2). */
#define QMF_NAME_DIRECT_REPLY_TO "/queue/amq.rabbitmq.reply-to"
/* The shared streams' addresses, and those of consoles' markers. */
#define QMF_NAME_PRESENCE_ADDRESS QMF_NAME_QUEUE_ADDRESS_PREFIX QMF_NAME_PRESENCE_QUEUE
#define QMF_NAME_FLEET_ADDRESS QMF_NAME_QUEUE_ADDRESS_PREFIX QMF_NAME_FLEET_QUEUE
#define QMF_NAME_JOBS_ADDRESS QMF_NAME_QUEUE_ADDRESS_PREFIX QMF_NAME_JOBS_QUEUE
#define QMF_NAME_SUMMARY_ADDRESS QMF_NAME_QUEUE_ADDRESS_PREFIX QMF_NAME_SUMMARY_QUEUE
#define QMF_NAME_SUMMARY_KEY_ADDRESS \
    QMF_NAME_EXCHANGE_ADDRESS_PREFIX QMF_NAME_EXCHANGE_TOPIC "/" QMF_NAME_SUMMARY_KEY
#define QMF_NAME_PRESENCE_MARKER_ADDRESS \
    QMF_NAME_EXCHANGE_ADDRESS_PREFIX QMF_NAME_EXCHANGE_TOPIC "/" QMF_NAME_PRESENCE_MARKER_KEY
#define QMF_NAME_FLEET_MARKER_ADDRESS \
    QMF_NAME_EXCHANGE_ADDRESS_PREFIX QMF_NAME_EXCHANGE_TOPIC "/" QMF_NAME_FLEET_MARKER_KEY

/* The routing-key form of a name (§1.1): '.', '#' and '*' become '_'.
 * NULL for NULL. */
char *qmf_name_key_escape(const char *name);

/* The characters a name may hold where it becomes part of a queue name or
 * a routing key: letters, digits, '.', '_' and '-'. */
bool qmf_name_char_ok(char c);

/* Whether s is a node name as the agent's configuration allows it: 1 to
 * QMF_NAME_MAX bytes of qmf_name_char_ok. */
bool qmf_name_node_ok(const char *s);

/* "virtbus:agent:<node>", the node as it is. */
char *qmf_name_agent(const char *node);
/* "virtbus.agent.<escaped node>"; node NULL: the one-word wildcard "*". */
char *qmf_name_agent_key(const char *node);
/* The agent's command queue, "virtbus.agent.<node>" (not escaped). */
char *qmf_name_command_queue(const char *node);
/* The agent's broadcast-query queue and lock, "virtbus.lock.<node>". */
char *qmf_name_lock_queue(const char *node);
/* A job's queue and key, "virtbus.job.<id>". */
char *qmf_name_job_queue(const char *job_id);

/* "console.request.<kind>" (QMF_NAME_KIND_*). */
char *qmf_name_broadcast_key(const char *kind);
/* "console.ind.locate.<agent name>". */
char *qmf_name_qpid_locate_key(const char *agent_name);

/*
 * Indication keys (§2.3).  A NULL argument is the one-word wildcard "*"
 * (for bindings); the node is escaped, the rest must need no escaping
 * (class, event and severity names never do).
 */
char *qmf_name_heartbeat_key(const char *node);
char *qmf_name_data_key(const char *class_name, const char *node);
char *qmf_name_event_key(const char *event, const char *severity, const char *node);

/*
 * The node of a virtbus agent name: 0 and *node (pointing into name), or
 * -1 when name is NULL, longer than QMF_NAME_MAX, not
 * "virtbus:agent:<node>", or its node not qmf_name_node_ok().
 */
int qmf_name_agent_node(const char *name, const char **node);
/*
 * What to call an agent in output: its node for a virtbus agent name, the
 * instance (after the last ':') of another vendor:product:instance, else
 * the name itself.  Points into name; NULL for NULL.
 */
const char *qmf_name_agent_label(const char *name);
/*
 * Whether a routing key is one of the agent's own indication keys: it ends
 * with "." and the agent's key name (§2.3), which with least-privilege
 * accounts only that agent may publish under.  False for a name that
 * qmf_name_agent_node() refuses.
 */
bool qmf_name_key_is_agents(const char *key, const char *agent_name);

/* "/exchange/<exchange>/<key>" (key NULL: empty) and "/queue/<queue>". */
char *qmf_name_exchange_address(const char *exchange, const char *key);
char *qmf_name_queue_address(const char *queue);
/*
 * Reads an address (§3.3): "/exchange/X/key" -> X, key; "/queue/Q" -> "",
 * Q (the default exchange routes by queue name).  Qpid's "X/subject"
 * (options after ';' dropped) is read as "/exchange/X/subject", and a
 * bare string, without '/', as a routing key on the QMF direct exchange,
 * as QMFv2 reply-to was.  0 and both malloc'd, or -1 (both NULL) for
 * NULL, empty, another absolute form or a missing exchange or queue.
 */
int qmf_name_address_parse(const char *address, char **exchange, char **key);

#endif
