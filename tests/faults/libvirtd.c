/*
 * Scenario 3: the libvirtd restarted during a stream: refusals while it
 * is gone, success and a fresh inventory after the agent reconnects.
 */
/* POSIX.1-2008 with XSI: kill(2), mkfifo(3), nftw(3), strsignal(3). */
#define _XOPEN_SOURCE 700

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/faults/faults.h"

static bool
driver_down_seen(struct faults *f, void *arg)
{
    return ((struct agent_proc *)arg)->drv_down > 0;
}

static bool
driver_up_seen(struct faults *f, void *arg)
{
    return ((struct agent_proc *)arg)->drv_up > 0;
}

int
scenario_libvirtd(struct faults *f)
{
    struct agent_proc *ap = agent_new(f, "faults-s3", NULL);
    size_t per_phase = 100, i, before = 0, down = 0, lv_err = 0, other = 0, after_ok = 0;
    size_t after_effect = 0, first = f->ncmds;
    struct cmd_range a, b;
    struct answered_at_least goal = { 0, per_phase / 2 };
    double t_kill, t_restart;
    struct query *q;
    qmf_value *names = NULL;
    bool fresh = true;
    size_t stale = 0, missing = 0, stray, lost = 0;
    bool reconnected;

    printf("scenario 3: libvirtd killed and restarted during a stream of %zu commands\n",
           2 * per_phase);
    if (agent_start(f, ap) != 0) {
        check(f, false, "the agent starts");
        goto out;
    }
    for (i = 0; i < per_phase; i++)
        cmd_define(f, ap, LONG_TTL_MS);
    a.v = &f->cmds[first];
    a.n = per_phase;
    goal.base = f->answered;
    stream(f, ap, 4);
    run_while_moving(f, answered_at_least, &goal, STALL_S);
    t_kill = bench_now_s();
    say(f, "fault: SIGKILL the libvirtd (pid %d) mid-stream", (int)ap->lvd.proc.pid);
    libvirtd_kill(f, &ap->lvd);
    run_while_moving(f, range_answered, &a, STALL_S);
    check(f, run_until(f, driver_down_seen, ap, READY_WAIT_S), "driverDisconnected published");
    /* Down for a while: the agent keeps trying meanwhile. */
    run_for(f, 1.0);
    t_restart = bench_now_s();
    if (libvirtd_start(f, &ap->lvd) != 0) {
        check(f, false, "the libvirtd starts again");
        goto out;
    }
    reconnected = run_until(f, driver_up_seen, ap, READY_WAIT_S);
    check(f, reconnected, "driverReconnected published %.2f s after the libvirtd was back",
          reconnected ? ap->t_drv_up - t_restart : -1.0);
    for (i = 0; i < per_phase; i++)
        cmd_define(f, ap, LONG_TTL_MS);
    b.v = &f->cmds[first + per_phase];
    b.n = per_phase;
    stream(f, ap, 4);
    run_while_moving(f, range_answered, &b, STALL_S);

    for (i = 0; i < per_phase; i++) {
        struct cmd *c = a.v[i];

        if (c->answers == 0)
            continue;
        if (c->ok)
            before++;
        else if (c->code == QMF_ERR_DRIVER_DOWN)
            down++;
        else if (c->code & QMF_ERR_LIBVIRT)
            lv_err++;
        else
            other++;
    }
    if (find_effects(f, &ap, 1, &stray) != 0)
        check(f, false, "the libvirtd can be asked what exists");
    for (i = 0; i < per_phase; i++) {
        after_ok += b.v[i]->answers > 0 && b.v[i]->ok;
        after_effect += b.v[i]->effect;
    }
    for (i = 0; i < per_phase; i++)
        lost += (a.v[i]->answers == 0) + (b.v[i]->answers == 0);
    printf("  figures: sent %zu; before the kill: ok %zu; during the outage: refused "
           "with error 10 (driver down) %zu, failed with a libvirt error %zu (in flight "
           "at the kill), other %zu; after the reconnect: ok %zu, executed %zu; "
           "lost %zu\n", 2 * per_phase, before, down, lv_err, other, after_ok, after_effect,
           lost);
    printf("  time: libvirtd down %.2f s; driverDisconnected %.2f s after the kill, "
           "driverReconnected %.2f s after the restart\n", t_restart - t_kill,
           ap->t_drv_down - t_kill, ap->t_drv_up - t_restart);
    check(f, before + down + lv_err + other == per_phase,
          "every command sent around the outage was answered (%zu of %zu)",
          before + down + lv_err + other, per_phase);
    check(f, down > 0, "commands during the outage refused with error 10: %zu", down);
    check(f, other == 0, "no other errors: %zu", other);
    check(f, after_ok == per_phase && after_effect == per_phase,
          "every command after the reconnect succeeded (%zu ok, %zu effects, of %zu)",
          after_ok, after_effect, per_phase);
    /* The agent's inventory is the new daemon's: its domains exactly. */
    q = query_send(f, ap, "Domain");
    if (!check(f, run_until(f, query_done, q, READY_WAIT_S) && !q->failed,
               "a Domain query answered"))
        goto out;
    names = libvirtd_domains(f, &ap->lvd);
    for (i = 0; names && i < qmf_list_len(q->results); i++) {
        const qmf_value *data = qmf_list_at(q->results, i);
        const char *name = qmf_map_get_string(qmf_map_get(data, "_values"), "name");
        const qmf_value *st = qmf_map_get(data, "_stale");

        if (name == NULL || qmf_map_get(names, name) == NULL)
            stale++;
        if (st && st->kind == QMF_BOOL && qmf_as_bool(st))
            fresh = false;
    }
    if (names)
        missing = qmf_map_len(names) > qmf_list_len(q->results) - stale ?
                  qmf_map_len(names) - (qmf_list_len(q->results) - stale) : 0;
    check(f, names != NULL && stale == 0 && missing == 0 && fresh,
          "the inventory is fresh: %zu domains as the new libvirtd has them "
          "(%zu gone ones still listed, %zu missing)", qmf_list_len(q->results), stale,
          missing);
    check_no_crashes(f, &ap, 1);
out:
    qmf_free(names);
    agents_teardown(f, &ap, 1);
    return 0;
}
