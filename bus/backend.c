/*
 * What the bus backends share in their connections' lives: detached helper
 * threads, the jittered reconnect backoff, and patience with a slow broker.
 */
#include "bus/backend.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

int
bus_thread_start(void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_t tid;
    sigset_t all, old;
    int rc;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&tid, &attr, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return rc;
}

uint64_t
bus_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool
bus_fd_ready(int fd, short events)
{
    struct pollfd p = { .fd = fd, .events = events };

    /* A socket in error or hung up still reads (what is left, then the
     * error or the end, which the read reports), but a write to it fails,
     * although Linux reports it writable. */
    short broken = POLLNVAL | ((events & POLLOUT) ? POLLERR | POLLHUP : 0);

    return fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & events) && !(p.revents & broken);
}

/* xorshift64* */
static uint64_t
prng_next(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

void
bus_backoff_init(struct bus_backoff *b, const char *url, const void *owner,
                 uint32_t min_ms, uint32_t max_ms, size_t nurls)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    const char *p;

    for (p = url; *p != '\0'; p++)
        h = (h ^ (unsigned char)*p) * UINT64_C(0x100000001b3);
    h ^= (uint64_t)time(NULL) ^ bus_now_ns() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)owner;
    b->prng = h ? h : 1;
    b->min_ms = min_ms;
    b->max_ms = max_ms < min_ms ? min_ms : max_ms;
    b->attempt = 0;
    b->nurls = nurls ? nurls : 1;
    b->url = (size_t)(prng_next(&b->prng) % b->nurls);
}

size_t
bus_backoff_next_url(struct bus_backoff *b)
{
    b->url = (b->url + 1) % b->nurls;
    return b->url;
}

uint64_t
bus_backoff_next_ms(struct bus_backoff *b)
{
    uint64_t cap = b->min_ms, lo = b->min_ms;
    unsigned i;

    for (i = 0; i < b->attempt / b->nurls && cap < b->max_ms; i++)
        cap *= 2;
    if (cap > b->max_ms)
        cap = b->max_ms;
    b->attempt++;
    return lo + prng_next(&b->prng) % (cap - lo + 1);
}

uint64_t
bus_backoff_next_far_ms(struct bus_backoff *b)
{
    uint64_t lo = b->max_ms / 2 > b->min_ms ? b->max_ms / 2 : b->min_ms;

    b->attempt++;
    return lo + prng_next(&b->prng) % (b->max_ms - lo + 1);
}

static void
arm(struct event *retry, uint64_t delay)
{
    struct timeval tv;

    tv.tv_sec = (time_t)(delay / 1000);
    tv.tv_usec = (suseconds_t)(delay % 1000) * 1000;
    evtimer_add(retry, &tv);
}

void
bus_backoff_arm(struct bus_backoff *b, struct event *retry)
{
    arm(retry, bus_backoff_next_ms(b));
}

void
bus_backoff_arm_far(struct bus_backoff *b, struct event *retry)
{
    arm(retry, bus_backoff_next_far_ms(b));
}

unsigned
bus_patience_timeout_s(const struct bus_patience *p, unsigned base_s, unsigned max_s)
{
    unsigned t = base_s, i;

    for (i = 0; i < p->slow && t < max_s; i++)
        t *= 2;
    return t < max_s ? t : max_s;
}

void
bus_patience_failed(struct bus_patience *p, unsigned timeout_s, uint64_t elapsed_ns,
                    uint64_t now_ns)
{
    p->last_slow = elapsed_ns >= (uint64_t)timeout_s * 1000000000u;
    if (!p->last_slow)
        return;
    p->slow++;
    p->own_lock_until_ns = now_ns + (uint64_t)BUS_PATIENCE_OWN_LOCK_S * 1000000000u;
}

bool
bus_patience_last_slow(const struct bus_patience *p)
{
    return p->last_slow;
}

bool
bus_patience_own_lock(const struct bus_patience *p, uint64_t now_ns)
{
    return p->own_lock_until_ns != 0 && now_ns < p->own_lock_until_ns;
}

void
bus_patience_reset(struct bus_patience *p)
{
    p->slow = 0;
    p->last_slow = false;
    p->own_lock_until_ns = 0;
}

void **
bus_configs_new(const struct bus_options *opts,
                void *(*make)(const struct bus_options *opts, qmf_error *err),
                void (*unref)(void *cfg), size_t *n, qmf_error *err)
{
    struct bus_options one = *opts;
    char **urls;
    void **cfgs;
    size_t nurls, i;

    urls = bus_url_split(opts->url, &nurls);
    if (nurls == 0) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "no broker URL");
        return NULL;
    }
    cfgs = qmf_xcalloc(nurls, sizeof(*cfgs));
    for (i = 0; i < nurls; i++) {
        one.url = urls[i];
        cfgs[i] = make(&one, err);
        if (cfgs[i] == NULL) {
            bus_configs_free(cfgs, i, unref);
            cfgs = NULL;
            break;
        }
    }
    bus_url_list_free(urls, nurls);
    *n = cfgs != NULL ? nurls : 0;
    return cfgs;
}

void
bus_configs_free(void **cfgs, size_t n, void (*unref)(void *cfg))
{
    size_t i;

    for (i = 0; i < n; i++)
        unref(cfgs[i]);
    free(cfgs);
}

/*
 * The thread never calls libevent: it writes to wake_fd, which the loop
 * watches, and the loop activates `done` itself.  event_active() from
 * another thread needs evthread_use_pthreads() in the whole process; a
 * library cannot count on its caller's having made that call, and without
 * it the loop slept on until its next timer (a console's open waited out
 * its timeout) and the two threads raced on the loop's queues.
 */
struct bus_job {
    pthread_mutex_t lock;
    int refs;
    bool cancelled;            /* the connection no longer wants the result */
    bool over;
    struct event *done;
    int wake_fd;               /* an eventfd, written once, under lock */
    struct event *ev_wake;     /* the loop's: wake_fd written, so activate done */
    const struct bus_job_ops *ops;
    void *arg;
    struct bus_threads *threads;
    void *result;
    qmf_error err;
};

/* On the loop thread, once the thread writes no more (cancelled, or never
 * started): what only the loop touches. */
static void
job_unwatch(struct event *ev_wake, int wake_fd)
{
    if (ev_wake != NULL)
        event_free(ev_wake);
    if (wake_fd >= 0)
        close(wake_fd);
}

/* Once, on the loop thread: the result is in.  Not read from wake_fd: the
 * event fires once, and the descriptor goes with the job. */
static void
on_job_wake(evutil_socket_t fd, short what, void *arg)
{
    struct bus_job *job = arg;

    (void)fd;
    (void)what;
    event_active(job->done, 0, 0);
}

static void
job_free(struct bus_job *job)
{
    job->ops->release(job->arg);
    pthread_mutex_destroy(&job->lock);
    free(job);
}

static void *
job_main(void *p)
{
    struct bus_job *job = p;
    struct bus_threads *threads = job->threads;
    const struct bus_job_ops *ops = job->ops;
    void *arg = job->arg, *result;
    qmf_error err;
    bool last;

    qmf_error_clear(&err);
    result = ops->run(arg, &err);
    /* What TLS left in this thread's OpenSSL state (its error queue, its
     * random generators) would go when the thread ends; a process that
     * exits on this attempt's news need not wait for that. */
    OPENSSL_thread_stop();
    pthread_mutex_lock(&job->lock);
    job->over = true;
    if (!job->cancelled) {
        job->result = result;
        job->err = err;
        result = NULL;
        /* An eventfd's counter cannot overflow from one write: this cannot
         * fail while the loop holds the descriptor, which it closes only
         * after cancelling. */
        if (eventfd_write(job->wake_fd, 1) != 0)
            abort();
    }
    last = --job->refs == 0;
    pthread_mutex_unlock(&job->lock);
    /* Nobody wants the result (the connection let go first, so this is
     * the last reference); this thread may block. */
    if (result != NULL) {
        ops->discard(arg, result);
        OPENSSL_thread_stop();
    }
    if (last)
        job_free(job);
    bus_threads_leave(threads);
    return NULL;
}

struct bus_job *
bus_job_start(const struct bus_job_ops *ops, void *arg, struct event *done,
              struct bus_threads *threads, qmf_error *err)
{
    struct bus_job *job = calloc(1, sizeof(*job));
    int rc;

    if (job == NULL)
        abort();
    pthread_mutex_init(&job->lock, NULL);
    job->refs = 2;
    job->done = done;
    job->ops = ops;
    job->arg = arg;
    job->threads = threads;
    job->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (job->wake_fd >= 0)
        job->ev_wake = event_new(event_get_base(done), job->wake_fd, EV_READ, on_job_wake, job);
    if (job->ev_wake == NULL || event_add(job->ev_wake, NULL) != 0) {
        rc = errno;
        job_unwatch(job->ev_wake, job->wake_fd);
        job_free(job);
        qmf_error_set(err, QMF_ERR_INTERNAL, "cannot watch a connect thread: %s",
                      strerror(rc));
        return NULL;
    }
    bus_threads_enter(threads);
    rc = bus_thread_start(job_main, job);
    if (rc != 0) {
        bus_threads_leave(threads);
        job_unwatch(job->ev_wake, job->wake_fd);
        job_free(job);
        qmf_error_set(err, QMF_ERR_INTERNAL, "cannot start a connect thread: %s",
                      strerror(rc));
        return NULL;
    }
    return job;
}

void *
bus_job_detach(struct bus_job *job, qmf_error *err)
{
    struct event *ev_wake;
    void *result;
    int wake_fd;
    bool last;

    pthread_mutex_lock(&job->lock);
    job->cancelled = true;
    job->done = NULL;
    result = job->result;
    job->result = NULL;
    if (job->over)
        *err = job->err;
    else
        qmf_error_clear(err);
    ev_wake = job->ev_wake;
    wake_fd = job->wake_fd;
    last = --job->refs == 0;
    pthread_mutex_unlock(&job->lock);
    /* Cancelled under the lock: the thread writes no more, and may free
     * the job from now on. */
    job_unwatch(ev_wake, wake_fd);
    if (last)
        job_free(job);
    return result;
}

int
bus_source_parse(const char *source, size_t nqueues, char **queue, size_t *index,
                 qmf_error *err)
{
    size_t prefix = strlen(QMF_NAME_QUEUE_ADDRESS_PREFIX);

    *queue = NULL;
    if (source[0] == '#') {
        char *end;
        unsigned long i = strtoul(source + 1, &end, 10);

        if (end == source + 1 || *end != '\0' || i >= nqueues) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                          "subscription source '%s' names no declared queue", source);
            return -1;
        }
        *index = i;
        return 0;
    }
    if (strncmp(source, QMF_NAME_QUEUE_ADDRESS_PREFIX, prefix) == 0 && source[prefix] != '\0') {
        *queue = qmf_xstrdup(source + prefix);
        return 0;
    }
    qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                  "subscription source '%s' is not \"/queue/Q\" or \"#<i>\"", source);
    return -1;
}

void
bus_strings_free(char **v, size_t n)
{
    size_t i;

    if (v == NULL)
        return;
    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void
bus_held_add(struct bus_held *d, const struct bus_driver *driver, void *conn,
             struct bus_held **list, uint64_t generation, struct bus_message *m)
{
    d->base.driver = driver;
    d->conn = conn;
    d->list = list;
    d->generation = generation;
    d->msg = m;
    d->prev = NULL;
    d->next = *list;
    if (*list)
        (*list)->prev = d;
    *list = d;
}

void
bus_held_drop(struct bus_held *d)
{
    if (d->conn != NULL) {
        if (d->prev)
            d->prev->next = d->next;
        else
            *d->list = d->next;
        if (d->next)
            d->next->prev = d->prev;
    }
    bus_message_free(d->msg);
    d->msg = NULL;
}

void
bus_held_orphan(struct bus_held **list)
{
    struct bus_held *d;

    for (d = *list; d != NULL; d = d->next)
        d->conn = NULL;
    *list = NULL;
}
