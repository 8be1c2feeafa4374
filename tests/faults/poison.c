/*
 * Scenario 4: a command that crashes the agent is dead-lettered after
 * the delivery limit, and the agent serves again.
 */
/* POSIX.1-2008 with XSI: kill(2), mkfifo(3), nftw(3), strsignal(3). */
#define _XOPEN_SOURCE 700

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/faults/faults.h"

/* A runaway: far more crashes than the delivery limit allows. */
#define POISON_MAX_CRASHES (4 * DELIVERY_LIMIT)

struct poison_wait {
    struct agent_proc *ap;
    struct cmd *c;
};

/*
 * The command's fate is known: answered, or dead-lettered.  The agent is
 * restarted after every crash meanwhile (supervise), so this holds
 * whatever the order in which the crash and the dead letter are seen.
 */
static bool
poison_settled(struct faults *f, void *arg)
{
    struct poison_wait *w = arg;

    return w->c->dead_lettered || w->c->answers > 0 || w->ap->crashes > POISON_MAX_CRASHES;
}

/*
 * The broker dead-letters the poison command when the agent's connection
 * closes after its last crash: the dead letter can come before or after
 * that crash is seen here.  So the agent is restarted after every crash,
 * as systemd would, for the whole scenario, and the scenario waits for
 * states only: the dead letter, then the normal command's answer (from
 * whichever start of the agent takes it).  Each wait lasts as long as the
 * agent keeps being restarted, and READY_WAIT_S past the last restart.
 */
int
scenario_poison(struct faults *f)
{
    struct agent_proc *ap = agent_new(f, "faults-s4", "crash-on-method=Domain.reboot");
    struct poison_wait w = { ap, NULL };
    struct cmd *poison, *normal;
    char *object = NULL;
    double t0, t_dead;

    printf("scenario 4: a poison command (Domain.reboot crashes the agent: "
           "VIRTBUS_FAILPOINTS=%s), delivery_limit %d\n", ap->failpoints, DELIVERY_LIMIT);
    ap->may_crash = true;
    if (agent_start(f, ap) != 0 || (object = domain_object_name(f, &ap->lvd, "test")) == NULL) {
        check(f, false, "the agent starts");
        goto out;
    }
    poison = w.c = cmd_new(f, ap, object, "reboot", NULL, LONG_TTL_MS);
    t0 = bench_now_s();
    stream(f, ap, 1);
    run_while_moving_on(f, poison_settled, &w, &ap->crashes, READY_WAIT_S);
    t_dead = bench_now_s();
    say(f, "poison command %s after %.1f s", poison->dead_lettered ? "dead-lettered" :
        "NOT dead-lettered", t_dead - t0);
    check(f, poison->dead_lettered, "the poison command was dead-lettered into %s",
          DEAD_LETTERS);
    check(f, poison->answers == 0, "it was never answered (never ran): %u answer(s)",
          poison->answers);
    if (!poison->dead_lettered)
        goto out;
    /* Sent only now: queued behind the poison command, it would have been
     * delivered with it, and dead-lettered with it. */
    normal = w.c = cmd_define(f, ap, LONG_TTL_MS);
    stream(f, ap, 1);
    run_while_moving_on(f, poison_settled, &w, &ap->crashes, READY_WAIT_S);
    /* The agent that answered was started after every crash before it, so
     * all of them are counted by now. */
    printf("  figures: sent 1, executed 0, deliveries until dead-lettered %zu (each one "
           "crashed the agent%s), delivery_limit %d, dead letter reason %s; a normal "
           "command answered %.1f s after the dead letter\n", ap->crashes,
           ap->crashes_not_abort ? ", not always by SIGABRT" : "", DELIVERY_LIMIT,
           poison->dead_reason, normal->answers > 0 ? normal->t_answer - t_dead : -1.0);
    check(f, strcmp(poison->dead_reason, "delivery_limit") == 0,
          "dead-lettered for its delivery limit (reason %s)", poison->dead_reason);
    check(f, ap->crashes >= 1 && ap->crashes <= DELIVERY_LIMIT + 1,
          "it was delivered %zu time(s), bounded by the delivery limit (%d)", ap->crashes,
          DELIVERY_LIMIT);
    check(f, normal->answers > 0 && normal->ok, "the agent serves again: a normal command "
          "then succeeds%s%s", normal->answers > 0 && !normal->ok ? ": " : "",
          normal->answers > 0 && !normal->ok ? normal->text : normal->answers > 0 ? "" :
          " (no answer)");
out:
    free(object);
    agents_teardown(f, &ap, 1);
    return 0;
}
