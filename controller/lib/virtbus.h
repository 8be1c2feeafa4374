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

#include "bus/bus.h"
#include "schema/qmf/error.h"
#include "schema/qmf/value.h"
#include "schema/schema.h"

struct virtbus_console;

struct virtbus_console_options {
    const char *url;                /* broker URL */
    unsigned connect_timeout_ms;    /* 0: 5000 */
    /* Topic bindings for a watch queue (e.g. "agent.ind.event.#"), NULL-
     * terminated; NULL: no watch queue. */
    const char *const *watch_keys;
};

/* Connects (running the loop until connected or timed out). */
struct virtbus_console *virtbus_console_open(struct event_base *base,
                                             const struct virtbus_console_options *o,
                                             qmf_error *err);
void virtbus_console_close(struct virtbus_console *c);
const struct schema *virtbus_console_schema(const struct virtbus_console *c);

/* An agent, as it answered a locate. */
struct virtbus_agent {
    char *name;          /* "virtbus:agent:<node>" */
    char *node;
    qmf_value *attrs;    /* its attributes (map) */
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

enum virtbus_status { VIRTBUS_OK, VIRTBUS_FAILED, VIRTBUS_NO_REPLY };

/* One agent's answer to a request. */
struct virtbus_result {
    char *agent;
    char *node;
    enum virtbus_status status;
    qmf_error error;          /* FAILED: the agent's _exception */
    qmf_value *value;         /* OK: query results (list) or output arguments (map) */
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
typedef void (*virtbus_watch_fn)(const struct bus_message *m, void *opaque);
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

/* The same with a prepared message (consumed), for tools and tests that
 * send what the calls above would not: its correlation-id and reply-to
 * are set here, and its ttl and creation time unless already set. */
int virtbus_request_message(struct virtbus_console *c, const char *address,
                            struct bus_message *m,
                            const struct virtbus_agent_list *expect,
                            unsigned timeout_ms, struct virtbus_results *out,
                            qmf_error *err);

/* Publishes a message (consumed) without waiting for any answer: a
 * fire-and-forget request when it has no reply-to.  Its ttl and creation
 * time are set unless already set, and the console's user as user_id. */
int virtbus_send(struct virtbus_console *c, const char *address,
                 struct bus_message *m, qmf_error *err);

/* The reply-to address of this console. */
const char *virtbus_console_reply_to(const struct virtbus_console *c);

/* Address helpers. */
char *virtbus_agent_address(const char *agent_name);   /* direct exchange */
char *virtbus_broadcast_address(const char *kind);     /* topic, console.request.<kind> */

#endif
