/*
 * Scenario 5, its long commands: one longer than the broker's
 * consumer_timeout is acked early (and, as the control, is not without
 * that), and one acked early whose agent is SIGKILLed is answered
 * interrupted from the journal.
 */
/* POSIX.1-2008 with XSI: kill(2), mkfifo(3), nftw(3), strsignal(3). */
#define _XOPEN_SOURCE 700

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/faults/faults.h"

/*
 * A command that runs longer than the broker's consumer_timeout (a migrate
 * can): the agent acks it once it has run ack_long_commands_after, so the
 * broker neither closes the agent's channel nor delivers it again.  The
 * control, early_ack false (ack_long_commands_after = 0: hold the delivery
 * to the end), shows that this broker does enforce its timeout, so that
 * the first half could fail.
 */
void
scenario_long_command(struct faults *f, bool early_ack)
{
    struct agent_proc *ap = agent_new(f, early_ack ? "faults-s5c" : "faults-s5d", NULL);
    struct cmd *save;
    struct cmd_range one = { &save, 1 };
    struct query *q;
    char *fifo = NULL, *object = NULL;
    const char *timed_out = "acknowledgement on channel";
    struct log_wait closed = { ap->log, timed_out }, acked = { ap->log, "acked now" };
    /* The broker checks its timeout once a second (tests/harness/broker.sh). */
    double hold = CONSUMER_TIMEOUT_MS / 1000.0 + 5.0, t_run;
    bool broker_closed, acked_early, drained;

    ap->ack_long_after = early_ack ? 2 : 0;
    printf("  then: a command running %.0f s, longer than the broker's consumer_timeout "
           "(%.0f s), ack_long_commands_after %u s%s\n", hold, CONSUMER_TIMEOUT_MS / 1000.0,
           ap->ack_long_after, early_ack ? "" : " (the control: held to the end)");
    if (!start_blocked_save(f, ap, "long.fifo", &fifo, &object, &save))
        goto out;
    t_run = bench_now_s();
    if (early_ack) {
        /*
         * Acked while it runs (a state); then it runs on past the broker's
         * timeout, which would have closed the channel by then had the
         * ack not reached it.  A busy broker may check late, which can
         * only let this pass, never fail it; the control shows the check.
         */
        run_until(f, log_has, &acked, ANSWER_WAIT_S);
        if (bench_now_s() < t_run + hold)
            run_for(f, t_run + hold - bench_now_s());
    } else {
        /* The control: waited for until the broker closes the channel. */
        run_until(f, log_has, &closed, hold + READY_WAIT_S);
    }
    drained = drain_fifo(fifo);
    run_until(f, range_answered, &one, ANSWER_WAIT_S);
    /* Anything the broker did comes before a query answered after it. */
    q = query_send(f, ap, "Domain");
    run_until(f, query_done, q, ANSWER_WAIT_S);
    broker_closed = file_contains(ap->log, timed_out);
    acked_early = file_contains(ap->log, "acked now");
    printf("  figures: sent 1, executed %u, answered %u time(s), acked before the end: %s, "
           "channel closed by the broker: %s\n", drained ? 1u : 0u, save->answers,
           acked_early ? "yes" : "no", broker_closed ? "yes" : "no");
    if (early_ack) {
        check(f, acked_early, "acked after %u s, while it ran", ap->ack_long_after);
        check(f, !broker_closed, "the broker did not close the agent's channel "
              "(\"delivery %s ... timed out\" not in its log)", timed_out);
        check(f, drained && save->answers >= 1 && save->ok,
              "it ran to the end and was answered ok%s%s", save->ok ? "" : ": ",
              save->ok ? "" : save->text ? save->text : "no answer");
        check(f, save->answers == 1, "answered once (%u)", save->answers);
    } else {
        check(f, broker_closed, "the broker enforces its consumer_timeout: it closed the "
              "channel of an agent that held a delivery longer");
    }
    check(f, q->done && !q->failed, "the agent serves afterwards (a Domain query answered)");
    check_no_crashes(f, &ap, 1);
out:
    if (fifo)
        unlink(fifo);
    free(fifo);
    free(object);
    agents_teardown(f, &ap, 1);
}

/*
 * A long command acked early, then the agent SIGKILLed while it runs: no
 * redelivery will come, so the answer ("interrupted") must reach the asker
 * from what the journal kept with the command's BEGIN.
 */
void
scenario_long_command_killed(struct faults *f)
{
    struct agent_proc *ap = agent_new(f, "faults-s5e", NULL);
    struct cmd *save;
    struct cmd_range one = { &save, 1 };
    char *fifo = NULL, *object = NULL;
    struct log_wait acked = { ap->log, "acked now" };

    ap->ack_long_after = 1;
    printf("  then: a command acked early (ack_long_commands_after 1 s), and the agent "
           "SIGKILLed while it runs\n");
    if (!start_blocked_save(f, ap, "killed.fifo", &fifo, &object, &save))
        goto out;
    if (!check(f, run_until(f, log_has, &acked, ANSWER_WAIT_S), "acked while it runs"))
        goto out;
    ap->supervised = false;
    kill(ap->proc.pid, SIGKILL);
    run_until(f, child_gone, &ap->proc, EXIT_WAIT_S);
    drain_fifo(fifo);
    if (agent_spawn(f, ap) != 0 || !agent_wait_ready(f, ap)) {
        check(f, false, "the agent starts again");
        goto out;
    }
    run_until(f, range_answered, &one, ANSWER_WAIT_S);
    printf("  figures: sent 1, answered %u time(s)%s%s\n", save->answers,
           save->answers ? ": " : "", save->answers ? (save->text ? save->text : "ok") : "");
    check(f, is_interrupted(save),
          "after the restart the asker is answered interrupted (15), though no "
          "redelivery came");
    check(f, save->events > 0, "and its commandResult is on record");
    check_no_crashes(f, &ap, 1);
out:
    if (fifo)
        unlink(fifo);
    free(fifo);
    free(object);
    agents_teardown(f, &ap, 1);
}
