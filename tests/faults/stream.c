/*
 * Scenario 1: a stream of commands across agents while the broker
 * restarts (with --cluster: while cluster nodes are SIGKILLed) and agents
 * are SIGKILLed; every command runs once and none is lost.
 */
/* POSIX.1-2008 with XSI: kill(2), mkfifo(3), nftw(3), strsignal(3). */
#define _XOPEN_SOURCE 700

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/faults/faults.h"

/*
 * --cluster: an outstanding command with no answer for this long after the
 * stream stood still is asked again (same message-id), as the controller
 * does (docs/CLUSTER.md): RabbitMQ 3.10 was seen to drop answers published
 * into a quorum queue while it elected a leader, and confirm them.  The
 * agent answers a command it ran from its journal.
 */
#define REASK_S 5.0

/* --cluster: every confirmed command of v still unanswered is sent again
 * (same message-id); how many. */
static size_t
reask_unanswered(struct faults *f, struct agent_proc **v, size_t n)
{
    size_t i, j, count = 0;

    for (i = 0; i < n; i++) {
        for (j = v[i]->lo; j < v[i]->next; j++) {
            struct cmd *c = v[i]->cmds[j];

            if (c->answers == 0 && !c->dead_lettered && c->state == CMD_CONFIRMED) {
                c->state = CMD_UNSENT;
                count++;
            }
        }
        pump_agent(f, v[i]);
    }
    return count;
}

/*
 * Runs the stream until cond holds or it stood still STALL_S.  With
 * --cluster, a stream that stood still REASK_S asks its unanswered
 * commands again first (*reasked counts them).
 */
static bool
stream_wait(struct faults *f, cond_fn cond, void *arg, struct agent_proc **v, size_t n,
            size_t *reasked)
{
    size_t seen = f->answered;
    double t_moved = bench_now_s();

    if (!f->opt.cluster)
        return run_while_moving(f, cond, arg, STALL_S);
    while (!run_while_moving(f, cond, arg, REASK_S)) {
        if (f->answered != seen) {
            seen = f->answered;
            t_moved = bench_now_s();
        }
        if (f->interrupted || bench_now_s() - t_moved >= STALL_S)
            return false;
        *reasked += reask_unanswered(f, v, n);
    }
    return true;
}

/* The latest first answer after t among v: when every agent answered again. */
static double
all_answering_after(struct agent_proc **v, size_t n, double t, size_t *waiting)
{
    double last = t, a;
    size_t i;

    *waiting = 0;
    for (i = 0; i < n; i++) {
        if ((a = first_answer_after(v[i], t)) < 0)
            (*waiting)++;
        else if (a > last)
            last = a;
    }
    return last;
}

static void
print_recovery(struct faults *f, const struct fault *ft, size_t index, struct agent_proc **v,
               size_t n)
{
    size_t i;

    if (ft->node != 0) {
        size_t waiting;
        double all = all_answering_after(v, n, ft->t_begin, &waiting) - ft->t_begin;
        double rejoin = ft->moved ? ft->t_rejoined - ft->t_begin : 0;

        printf("    fault %zu: t=%.1fs SIGKILL cluster node %u (%s %s): %zu agent(s) "
               "reconnected to other nodes within %.2f s; every agent answering within "
               "%.2f s of the kill%s\n", index, ft->t_begin - f->t0, ft->node,
               ft->leader ? "leader of the queue of" : "connected to", ft->agent->node,
               ft->moved, rejoin, all, waiting ? " (some streams were done)" : "");
        if (all > f->failover_worst)
            f->failover_worst = all;
        if (rejoin > f->failover_worst)
            f->failover_worst = rejoin;
        return;
    }

    if (!ft->broker) {
        double t = first_answer_after(ft->agent, ft->t_back);

        if (t < 0)
            printf("    fault %zu: t=%.1fs SIGKILL %s: no answer since (its stream was done)\n",
                   index, ft->t_begin - f->t0, ft->agent->node);
        else
            printf("    fault %zu: t=%.1fs SIGKILL %s: recovered in %.2f s "
                   "(first answer after the kill)\n",
                   index, ft->t_begin - f->t0, ft->agent->node, t - ft->t_begin);
        return;
    }
    {
        double worst = 0, first = -1;
        size_t waiting = 0;

        for (i = 0; i < n; i++) {
            double t = first_answer_after(v[i], ft->t_back);

            if (t < 0) {
                waiting++;
                continue;
            }
            if (t - ft->t_back > worst)
                worst = t - ft->t_back;
            if (first < 0 || t - ft->t_back < first)
                first = t - ft->t_back;
        }
        printf("    fault %zu: t=%.1fs broker restart: down %.1f s; after it was back, "
               "first answer in %.2f s, every agent answering in %.2f s%s\n",
               index, ft->t_begin - f->t0, ft->t_back - ft->t_begin, first < 0 ? 0 : first,
               worst, waiting ? " (some streams were done)" : "");
    }
}

int
scenario_stream(struct faults *f)
{
    size_t A = f->opt.agents, N = f->opt.commands, W = f->opt.window;
    size_t nfaults = f->opt.restarts + f->opt.kills, i, j, kills = 0, restarts = 0;
    struct agent_proc **v = qmf_xcalloc(A, sizeof(*v));
    struct fault *faults = qmf_xcalloc(nfaults + 1, sizeof(*faults));
    struct cmd_range all;
    size_t executed = 0, twice = 0, lost = 0, interrupted = 0, int_effect = 0, errors = 0;
    size_t phantom = 0, conflicting = 0, stray = 0, answered_again = 0, resent = 0;
    size_t no_record = 0, dead = 0, int_records = 0, first_cmd = f->ncmds, dup_sent = 0;
    size_t reasked = 0;
    struct answered_at_least goal = { f->answered, 0 };
    double t_start, t_sent_all = 0, t_done;
    bool setup_ok = true;

    printf("scenario 1: stream under faults: %zu commands across %zu agents, window %zu, "
           "%u broker restart(s), %u agent kill(s), every %zuth command sent twice\n", N, A,
           W, f->opt.restarts, f->opt.kills, f->opt.dup_every);
    for (i = 0; i < A && setup_ok; i++) {
        char node[64];

        snprintf(node, sizeof(node), "faults-s1-a%02zu", i);
        v[i] = agent_new(f, node, NULL);
        setup_ok = agent_start(f, v[i]) == 0;
    }
    if (!setup_ok) {
        check(f, false, "%zu agents start", A);
        goto out;
    }
    for (i = 0; i < N; i++) {
        struct cmd *c = cmd_define(f, v[i % A], LONG_TTL_MS);

        c->twice = f->opt.dup_every && i % f->opt.dup_every == f->opt.dup_every - 1;
    }
    all.v = &f->cmds[first_cmd];
    all.n = N;
    t_start = bench_now_s();
    if (f->opt.pace_s > 0) {
        f->paced_from = t_start;
        f->paced_n = N;
    }
    say(f, "stream of %zu commands started%s", N, f->opt.pace_s ? ", paced" : "");
    for (i = 0; i < A; i++)
        stream(f, v[i], W);

    /*
     * Faults at evenly spaced points of the stream, broker restarts and
     * kills interleaved; kills go round the agents.
     */
    for (j = 0; j < nfaults && !f->interrupted; j++) {
        bool broker = restarts < f->opt.restarts &&
                      (kills >= f->opt.kills ||
                       (restarts + 1) * (f->opt.kills + 1) <= (kills + 1) * (f->opt.restarts + 1));

        goal.n = N * (j + 1) / (nfaults + 1);
        if (!stream_wait(f, answered_at_least, &goal, v, A, &reasked)) {
            say(f, "the stream stalled at %zu answers", f->answered - goal.base);
            break;
        }
        if (broker && f->opt.cluster) {
            kill_cluster_node(f, &faults[j], v, A, v[restarts % A]);
            restarts++;
        } else if (broker) {
            restart_broker(f, &faults[j]);
            restarts++;
        } else {
            kill_agent(f, &faults[j], v[kills % A]);
            kills++;
        }
    }
    stream_wait(f, range_answered, &all, v, A, &reasked);
    t_done = bench_now_s();
    for (i = 0; i < N; i++)
        if (all.v[i]->t_sent > t_sent_all)
            t_sent_all = all.v[i]->t_sent;
    say(f, "stream done: %zu of %zu commands answered in %.1f s", f->answered - goal.base, N,
        t_done - t_start);
    f->paced_n = 0;
    run_while_recording(f, range_recorded, &all);

    if (find_effects(f, v, A, &stray) != 0)
        check(f, false, "the libvirtds can be asked what exists");
    for (i = 0; i < N; i++) {
        struct cmd *c = all.v[i];

        executed += c->effect;
        resent += c->publishes > (c->twice ? 2u : 1u);
        dup_sent += c->twice;
        answered_again += c->answers > 1;
        conflicting += c->conflicting;
        dead += c->dead_lettered;
        if (c->answers == 0) {
            lost++;
            debug(f, "lost: %s on %s (published %u time(s), %s, effect %s%s%s)", c->id,
                  c->agent->node, c->publishes, c->state == CMD_CONFIRMED ? "confirmed" :
                  "unconfirmed", c->effect ? "yes" : "no",
                  c->dead_lettered ? ", dead-lettered: " : "",
                  c->dead_lettered ? c->dead_reason : "");
        } else if (is_interrupted(c)) {
            interrupted++;
            int_effect += c->effect;
        } else if (is_repeat(c)) {
            twice++;
        } else if (!c->ok) {
            errors++;
            debug(f, "error: %s on %s: %u %s", c->id, c->agent->node, c->code, c->text);
        } else if (!c->effect) {
            phantom++;
        }
        if (c->answers > 0 && c->events == 0 && !is_interrupted(c))
            no_record++;
    }
    for (i = 0; i < A; i++)
        int_records += v[i]->interrupted_records;

    printf("  figures: sent %zu, executed %zu, executed twice %zu, lost %zu, "
           "interrupted %zu (effect happened: %zu, did not: %zu)\n",
           N, executed, twice, lost, interrupted, int_effect, interrupted - int_effect);
    printf("  also: sent twice on purpose %zu, re-sent by the console after a failed "
           "confirm %zu (same message-id), answered more than once %zu (journal replays, "
           "spool flushes), other errors %zu, dead-lettered %zu\n", dup_sent, resent,
           answered_again, errors, dead);
    printf("  time: %.1f s for the stream (%.0f commands/s), last send at %.1f s\n",
           t_done - t_start, N / (t_done - t_start), t_sent_all - t_start);
    for (j = 0; j < nfaults; j++)
        if (faults[j].t_begin > 0)
            print_recovery(f, &faults[j], j + 1, v, A);
    if (f->opt.cluster)
        printf("  asked again after %.0f s without an answer (same message-id, as the "
               "controller does): %zu command(s)\n", REASK_S, reasked);
    if (f->opt.cluster)
        printf("  failover: every agent back (serving from another node, and answering) "
               "within %.2f s of a node's SIGKILL, the longest of %zu\n", f->failover_worst,
               restarts);

    check(f, kills == f->opt.kills && restarts == f->opt.restarts,
          "%zu of %u kills and %zu of %u broker restarts done", kills, f->opt.kills,
          restarts, f->opt.restarts);
    check(f, twice == 0, "executed twice: %zu", twice);
    check(f, lost == 0, "lost (no answer, %.0f s after the last one): %zu", STALL_S, lost);
    check(f, errors == 0, "other errors: %zu", errors);
    check(f, phantom == 0, "answered ok without an effect: %zu", phantom);
    check(f, stray == 0, "effects no command of this stream made: %zu", stray);
    check(f, conflicting == 0, "answered twice, differently: %zu", conflicting);
    check(f, executed + (interrupted - int_effect) == N,
          "every command has exactly one effect or was reported interrupted "
          "(%zu + %zu of %zu)", executed, interrupted - int_effect, N);
    check(f, interrupted <= f->opt.kills * W,
          "interrupted %zu <= kills x window (%zu)", interrupted, f->opt.kills * W);
    /*
     * --cluster: RabbitMQ 3.10.8 was seen to confirm commandResult events
     * and never route them while a killed node rejoined (docs/CLUSTER.md,
     * "Known problems").  Events are for monitors, not the controller's
     * outcome, which the checks above hold to; so a cluster run reports
     * the missing ones and does not fail on them.
     */
    if (f->opt.cluster)
        printf("  commandResult events missing for answered commands: %zu%s\n", no_record,
               no_record ? " (not a failure on a cluster: docs/CLUSTER.md, \"Known problems\")"
                         : "");
    else
        check(f, no_record == 0, "answered commands without a commandResult record: %zu",
              no_record);
    check(f, int_records >= interrupted,
          "interrupted commands recorded at the agents' restarts: %zu (for %zu)",
          int_records, interrupted);
    check_no_crashes(f, v, A);
out:
    agents_teardown(f, v, A);
    free(v);
    free(faults);
    return 0;
}
