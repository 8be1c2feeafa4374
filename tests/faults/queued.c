/*
 * Scenario 2: commands queued while their agent is stopped, some
 * expiring there: the live ones run in order, the expired ones are
 * reported expired.
 */
/* POSIX.1-2008 with XSI: kill(2), mkfifo(3), nftw(3), strsignal(3). */
#define _XOPEN_SOURCE 700

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/faults/faults.h"

/* Answered, or dropped by the broker into the dead letters. */
static bool
range_settled(struct faults *f, void *arg)
{
    struct cmd_range *r = arg;
    size_t i;

    for (i = 0; i < r->n; i++)
        if (r->v[i]->answers == 0 && !r->v[i]->dead_lettered)
            return false;
    return true;
}

/* The TTLs meant to run out (all but LONG_TTL_MS) did, by the wall clock,
 * which agents compare them with. */
static bool
deadlines_passed(struct faults *f, void *arg)
{
    struct cmd_range *r = arg;
    int64_t now = wall_ms();
    size_t i;

    for (i = 0; i < r->n; i++)
        if (r->v[i]->ttl_ms < LONG_TTL_MS &&
            r->v[i]->created_ms + (int64_t)r->v[i]->ttl_ms >= now)
            return false;
    return true;
}

static bool
reported_expired(const struct cmd *c)
{
    return c->answers > 0 && !c->ok && c->code == QMF_ERR_EXPIRED && c->outcome &&
           strcmp(c->outcome, "expired") == 0;
}

/*
 * Three kinds of commands, interleaved: live ones (a long TTL), short-lived
 * ones whose TTL runs out while they wait in the queue, and late ones,
 * created (by their console's clock) longer ago than their TTL: the broker,
 * which counts a TTL from its own enqueue time, hands them over, and only
 * the agent can tell they are past their deadline (as for a command a
 * console sends again after a broker outage, or a console clock behind).
 */
enum { Q_LIVE, Q_SHORT, Q_LATE };
#define LATE_TTL_MS 60000
#define LATE_AGE_MS 120000

int
scenario_queued(struct faults *f)
{
    struct agent_proc *ap = agent_new(f, "faults-s2", NULL);
    size_t n = f->opt.queued, i, first = f->ncmds;
    size_t count[3] = { 0 }, live_ok = 0, live_effect = 0, ran = 0;
    size_t short_reported = 0, short_dropped = 0, late_reported = 0, late_dropped = 0;
    size_t unaccounted = 0, order_answers = 0, order_events = 0;
    size_t last_answer = 0, last_event = 0;
    struct cmd_range all;
    int *kind = qmf_xcalloc(n ? n : 1, sizeof(*kind));
    double t_term, t_restart;
    size_t stray;

    printf("scenario 2: %zu commands queued while the agent is stopped: every 4th with a "
           "%u ms TTL that runs out in the queue, every 4th sent %d s late for its %d s "
           "TTL\n", n, f->opt.short_ttl_ms, LATE_AGE_MS / 1000, LATE_TTL_MS / 1000);
    if (agent_start(f, ap) != 0) {
        check(f, false, "the agent starts");
        goto out;
    }
    t_term = bench_now_s();
    check(f, agent_term(f, ap, EXIT_WAIT_S), "SIGTERM: it exited 0 in %.1f s",
          bench_now_s() - t_term);
    for (i = 0; i < n; i++) {
        struct cmd *c;

        kind[i] = i % 4 == 1 ? Q_SHORT : i % 4 == 3 ? Q_LATE : Q_LIVE;
        c = cmd_define(f, ap, kind[i] == Q_SHORT ? f->opt.short_ttl_ms :
                              kind[i] == Q_LATE ? LATE_TTL_MS : LONG_TTL_MS);
        if (kind[i] == Q_LATE)
            c->created_ms = wall_ms() - LATE_AGE_MS;
        count[kind[i]]++;
    }
    all.v = &f->cmds[first];
    all.n = n;
    stream(f, ap, n);
    if (!check(f, run_until(f, range_confirmed, &all, ANSWER_WAIT_S),
               "the broker took all %zu commands (publisher confirms)", n))
        goto out;
    /* The short TTLs run out while it is down: past every deadline by the
     * clock the agent compares them with. */
    run_until(f, deadlines_passed, &all, f->opt.short_ttl_ms / 1000.0 + 60.0);
    t_restart = bench_now_s();
    if (agent_spawn(f, ap) != 0 || !agent_wait_ready(f, ap)) {
        check(f, false, "the agent starts again");
        goto out;
    }
    say(f, "agent back after %.1f s down", t_restart - t_term);
    run_while_moving(f, range_settled, &all, STALL_S);
    run_while_recording(f, range_recorded, &all);
    if (find_effects(f, &ap, 1, &stray) != 0)
        check(f, false, "the libvirtd can be asked what exists");
    for (i = 0; i < n; i++) {
        struct cmd *c = all.v[i];

        if (kind[i] == Q_LIVE) {
            live_ok += c->answers > 0 && c->ok;
            live_effect += c->effect;
            /* In order: each answer and record after the one before. */
            if (c->answers > 0) {
                order_answers += c->answer_seq < last_answer;
                last_answer = c->answer_seq;
            }
            if (c->events > 0) {
                order_events += c->event_seq < last_event;
                last_event = c->event_seq;
            }
            continue;
        }
        ran += c->effect || (c->answers > 0 && c->ok);
        if (kind[i] == Q_SHORT) {
            short_reported += reported_expired(c);
            short_dropped += !reported_expired(c) && c->dead_lettered &&
                             strcmp(c->dead_reason, "expired") == 0;
        } else {
            late_reported += reported_expired(c);
            late_dropped += !reported_expired(c) && c->dead_lettered;
        }
        unaccounted += !reported_expired(c) &&
                       !(c->dead_lettered && strcmp(c->dead_reason, "expired") == 0);
    }
    printf("  figures: sent %zu (%zu live, %zu short-lived, %zu late), executed %zu, "
           "executed twice 0, lost %zu\n", n, count[Q_LIVE], count[Q_SHORT], count[Q_LATE],
           live_effect, count[Q_LIVE] - live_ok + unaccounted);
    printf("  expired in the queue: answered expired by the agent %zu, dropped by the "
           "broker %zu (dead-lettered, reason expired); late: answered expired by the "
           "agent %zu, dropped by the broker %zu; ran anyway %zu\n", short_reported,
           short_dropped, late_reported, late_dropped, ran);
    check(f, live_ok == count[Q_LIVE] && live_effect == count[Q_LIVE],
          "the %zu live commands ran once each after the restart (%zu ok, %zu effects)",
          count[Q_LIVE], live_ok, live_effect);
    check(f, order_answers == 0 && order_events == 0,
          "in the order sent (answers out of order: %zu, records out of order: %zu)",
          order_answers, order_events);
    check(f, ran == 0, "no expired command ran: %zu did", ran);
    check(f, late_reported == count[Q_LATE],
          "the late commands were answered with error 7 and recorded as commandResult "
          "\"expired\": %zu of %zu", late_reported, count[Q_LATE]);
    check(f, unaccounted == 0,
          "every expired command is on record: answered expired, or dead-lettered by "
          "the broker with reason \"expired\" (%zu neither)", unaccounted);
    /* Commands carry their TTL for the agent only (PROTOCOL.md §9.1), so
     * that what expires in the queue is answered and recorded too. */
    check(f, short_reported == count[Q_SHORT],
          "the commands that expired in the queue were answered with error 7 and "
          "recorded as commandResult \"expired\": %zu of %zu", short_reported,
          count[Q_SHORT]);
    check(f, stray == 0, "no other effect: %zu", stray);
    check_no_crashes(f, &ap, 1);
out:
    free(kind);
    agents_teardown(f, &ap, 1);
    return 0;
}
