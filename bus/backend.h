/*
 * Private to the bus backends: what each transport's connection life needs
 * alike, so that both behave the same (docs/TRANSPORTS.md, "Reconnect and
 * close"): detached helper threads, and the jittered backoff between
 * connect attempts.
 */
#ifndef BUS_BACKEND_H
#define BUS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "bus/bus.h"

/*
 * Starts fn(arg) on a detached thread that blocks every signal (signals
 * are the loop thread's business): 0, or the pthread_create error.
 */
int bus_thread_start(void *(*fn)(void *), void *arg);

/*
 * The delay before the next connect attempt: full jitter, uniform in
 * [min, min(max, min * 2^round)], where a round is one attempt at each of
 * the nurls brokers of the list: a cluster's other nodes are tried at
 * once, and only a cluster that is all gone makes the backoff grow.  The
 * jitter comes from a xorshift PRNG of the connection's own (no global
 * rand state), seeded from time, pid, the connection's address and its
 * URL.
 */
struct bus_backoff {
    uint64_t prng;
    uint32_t min_ms, max_ms;
    unsigned attempt;           /* failed attempts since the last success */
    size_t nurls;               /* brokers in the list, >= 1 */
    size_t url;                 /* the one to try next */
};

/* url: the list as given; the first broker to try is picked at random. */
void bus_backoff_init(struct bus_backoff *b, const char *url, const void *owner,
                      uint32_t min_ms, uint32_t max_ms, size_t nurls);
/* The next delay, counting one more failed attempt. */
uint64_t bus_backoff_next_ms(struct bus_backoff *b);
/* The broker of the list to try at the next attempt, after a loss or a
 * failure: the next one in turn. */
size_t bus_backoff_next_url(struct bus_backoff *b);

/*
 * How long a connect attempt waits for a broker that answers slowly, and
 * what a slow failure leaves behind.  An attempt that failed after at
 * least its whole timeout found the broker behind, not gone: the next one
 * waits twice as long (up to max_s), since one given up costs the broker
 * the same work and serves nobody.  And the broker may yet complete the
 * attempt we gave up on, exclusive queues and all, and close it only when
 * it reaches our goodbye, minutes later when thousands of clients
 * reconnect at once: for OWN_LOCK_S after such an attempt, an exclusive
 * queue refused as locked is taken for one held by our own abandoned
 * connection, a reason to retry, not news that another process holds it.
 * Were it another's after all, nothing is lost meanwhile but the news:
 * the lock keeps this connection out either way.
 */
#define BUS_PATIENCE_OWN_LOCK_S 600
struct bus_patience {
    unsigned slow;              /* slow failures since the last success */
    bool last_slow;             /* the last failure was slow */
    uint64_t own_lock_until_ns; /* monotonic; 0: none abandoned */
};

/* The bound of the next attempt: base_s doubled per slow failure, at
 * most max_s (a backend may scale it for some steps, as 0-9-1 does for
 * the set-up's RPCs). */
unsigned bus_patience_timeout_s(const struct bus_patience *p, unsigned base_s,
                                unsigned max_s);
/* An attempt with that bound failed after elapsed_ns, at now_ns. */
void bus_patience_failed(struct bus_patience *p, unsigned timeout_s, uint64_t elapsed_ns,
                         uint64_t now_ns);
/* Whether the last attempt failed slowly. */
bool bus_patience_last_slow(const struct bus_patience *p);
/* Whether a lock refused at now_ns may be our own abandoned attempt's. */
bool bus_patience_own_lock(const struct bus_patience *p, uint64_t now_ns);
/* The broker took a connection: patience starts over. */
void bus_patience_reset(struct bus_patience *p);

/*
 * One configuration per broker of opts->url's list, made by make(opts
 * with url one of them): an array of *n, or NULL with *err set (what was
 * made is let go with unref).  Free with bus_configs_free.
 */
void **bus_configs_new(const struct bus_options *opts,
                       void *(*make)(const struct bus_options *opts, qmf_error *err),
                       void (*unref)(void *cfg), size_t *n, qmf_error *err);
void bus_configs_free(void **cfgs, size_t n, void (*unref)(void *cfg));

/* Monotonic time. */
uint64_t bus_now_ns(void);
/* Whether fd is ready now for events (POLLIN or POLLOUT), without waiting;
 * a socket in error or hung up is not ready for POLLOUT. */
bool bus_fd_ready(int fd, short events);
/* Arms the retry timer with the next delay of b. */
void bus_backoff_arm(struct bus_backoff *b, struct event *retry);
/* The same, with a delay uniform in [max / 2, max], whatever the round:
 * for a broker known to be too busy for what comes sooner. */
uint64_t bus_backoff_next_far_ms(struct bus_backoff *b);
void bus_backoff_arm_far(struct bus_backoff *b, struct event *retry);

/*
 * One connect attempt, run on a thread of its own and shared by the
 * connection and the thread: whoever lets go last frees it, so that a
 * connection can be closed while its thread still waits on the network.
 */
struct bus_job;
struct bus_job_ops {
    /* On the thread: the blocking part.  A result of the backend's
     * (malloc'd), or NULL with *err set. */
    void *(*run)(void *arg, qmf_error *err);
    /* On the thread: a result nobody took, the connection being closed
     * meanwhile.  Ends and frees it, and may block (a polite close). */
    void (*discard)(void *arg, void *result);
    /* The job is over: lets go of arg. */
    void (*release)(void *arg);
};

/* Starts the thread; `done` (an event of the loop's) is activated on the
 * loop thread when the result is ready: the thread only writes to an
 * eventfd that the loop watches, so the loop need not be thread-safe.  On
 * failure, arg was released. */
struct bus_job *bus_job_start(const struct bus_job_ops *ops, void *arg, struct event *done,
                              struct bus_threads *threads, qmf_error *err);
/* Takes the job from the connection, on the loop thread: its result, or
 * NULL (with *err the reason when the attempt failed, clear when it is
 * not over and the thread is left to discard what it finds). */
void *bus_job_detach(struct bus_job *job, qmf_error *err);

/*
 * A delivery handed out and not yet settled.  Each backend's delivery
 * starts with this, and its connection keeps the list, so that closing the
 * connection can tell them all that it is gone.
 */
struct bus_held {
    struct bus_delivery_base base;
    void *conn;                 /* its connection; NULL once that is closed */
    struct bus_held **list;     /* the connection's list of them */
    uint64_t generation;        /* the broker connection it came on */
    struct bus_message *msg;
    struct bus_held *prev, *next;
};

void bus_held_add(struct bus_held *d, const struct bus_driver *driver, void *conn,
                  struct bus_held **list, uint64_t generation, struct bus_message *m);
/* Takes d off its connection's list (if that is still open) and frees its
 * message; the caller frees d. */
void bus_held_drop(struct bus_held *d);
/* The connection closes: its deliveries only free when settled. */
void bus_held_orphan(struct bus_held **list);

/* A subscription's source: "/queue/Q" (*queue malloc'd) or "#<i>" of
 * nqueues (*index); 0, or -1 with QMF_ERR_INVALID_ARGS. */
int bus_source_parse(const char *source, size_t nqueues, char **queue, size_t *index,
                     qmf_error *err);

/* Frees n strings and their array. */
void bus_strings_free(char **v, size_t n);

#endif
