/*
 * The agent's insides, shared by its files: agent.c (lifecycle and
 * publishing), dispatch.c (requests), methods.c (method table), events.c
 * (hypervisor events) and heartbeat.c.  Everything here runs on the loop
 * thread unless a comment says otherwise.
 */
#ifndef AGENT_IMPL_H
#define AGENT_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/agent.h"
#include "agent/inventory.h"
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

struct agent {
    struct agent_env env;
    struct agent_config cfg;
    struct log_ctx log;
    enum agent_state state;

    char *name;             /* "virtbus:agent:<node>" */
    char *key_name;         /* "virtbus.agent.<node, escaped>" for routing keys */
    char *queue;            /* "virtbus.agent.<node>": the command queue */
    char *heartbeat_key;
    int64_t epoch_ns;       /* start time: tells restarts apart */

    /* Hypervisor.  dconn is set and cleared on the loop thread while no job
     * that uses it is queued or running (workers only read it). */
    const struct drv_backend *drv;
    struct drv_conn *dconn;
    bool driver_up;
    struct event *driver_retry_ev;
    unsigned driver_backoff_ms;

    /* Broker. */
    struct bus_conn *bus;
    bool bus_up;
    bool started_event_sent;

    struct inventory inv;
    struct event *heartbeat_ev;
    struct event *stats_ev;

    unsigned jobs_in_flight;    /* worker jobs holding a pointer to us */
    void (*stopped_cb)(struct agent *a, void *opaque);
    void *stopped_opaque;
};

/* Time, in ns since the epoch (wall clock) and monotonic. */
int64_t agent_now_ns(void);
int64_t agent_mono_ns(void);

/* The "<agent>/<object>" key that orders worker jobs per object. */
char *agent_job_key(const struct agent *a, const char *object_name);
/* Bookkeeping around every worker job, so that stop waits for them. */
void agent_job_begin(struct agent *a);
void agent_job_end(struct agent *a);

/* Agent attributes: locate responses, heartbeats and _target predicates. */
qmf_value *agent_attributes(const struct agent *a);

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
    bus_confirm_cb confirm;
    void *opaque;
};
int agent_publish(struct agent *a, const struct agent_publish *p,
                  qmf_value *body);
/* Replies to a request's reply-to (nothing if it has none); body consumed. */
int agent_reply(struct agent *a, const struct bus_message *req,
                const char *opcode, const char *content, bool partial,
                qmf_value *body, bus_confirm_cb confirm, void *opaque);
int agent_reply_exception(struct agent *a, const struct bus_message *req,
                          const qmf_error *err, bus_confirm_cb confirm,
                          void *opaque);
/* Publishes an event of the schema's event class `event`; values consumed. */
int agent_publish_event(struct agent *a, const char *event, qmf_value *values,
                        bus_confirm_cb confirm, void *opaque);
/* Pushes changed objects (a list of data maps, consumed) as a
 * _data_indication, one message per class. */
void agent_push_objects(struct agent *a, qmf_value *data_list);

/* dispatch.c */
void agent_on_request(struct bus_delivery *d, const struct bus_message *m,
                      void *opaque);

/* methods.c: the worker-side implementation of a method, or NULL. */
struct method_call {
    struct agent *a;
    const struct schema_class *cls;
    const struct schema_method *method;
    const char *object_name;     /* "domain:<uuid>", "node", ... */
    const char *object_key;      /* the part after the colon, or "" */
    qmf_value *args;             /* checked and coerced */
    qmf_value *out;              /* output arguments (a map) */
};
typedef int (*method_fn)(struct method_call *call, qmf_error *err);
method_fn agent_find_method(const char *class_name, const char *method_name);

/* events.c */
extern const struct drv_events agent_driver_events;
/* Schedules a refresh of one object and a push of what changed. */
void agent_refresh_object(struct agent *a, const char *object_name);

/* heartbeat.c */
void agent_heartbeat_start(struct agent *a);
void agent_heartbeat_stop(struct agent *a);
void agent_heartbeat_send(struct agent *a);

/* agent.c: a fresh property map of one object, from the hypervisor
 * (worker thread); QMF_ERR_UNKNOWN_OBJECT if it no longer exists. */
int agent_fetch_object(struct agent *a, const char *object_name,
                       qmf_value **values, qmf_error *err);
/* Loop thread: stores what agent_fetch_object found (values consumed; NULL
 * and gone=false: nothing known) and pushes it if it changed. */
void agent_apply_object(struct agent *a, const char *object_name,
                        qmf_value *values, bool gone);

/* agent.c: (re)loads the whole inventory from the hypervisor. */
void agent_load_inventory(struct agent *a, void (*done)(struct agent *a, bool ok));

#endif
