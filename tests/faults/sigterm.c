/*
 * Scenario 5: SIGTERM while commands run: they finish, their outcomes
 * arrive, the agent exits 0 and what was still queued runs after a
 * restart; and a command that never ends does not hold the agent past
 * stop_timeout.
 */
/* POSIX.1-2008 with XSI: kill(2), mkfifo(3), nftw(3), strsignal(3). */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/faults/faults.h"

#define SLOW_SAVES 3

static void scenario_stop_timeout(struct faults *f);

int
scenario_sigterm(struct faults *f)
{
    struct agent_proc *ap = agent_new(f, "faults-s5", NULL);
    char *fifos[SLOW_SAVES] = { NULL }, *objects[SLOW_SAVES] = { NULL };
    struct cmd *saves[SLOW_SAVES], *behind[SLOW_SAVES], *after[10];
    struct cmd_range r_saves = { saves, SLOW_SAVES }, r_behind = { behind, SLOW_SAVES };
    struct cmd_range r_after = { after, 10 };
    struct fifo_wait fw;
    size_t i, before_exit = 0, after_ok = 0, after_early = 0, after_effect = 0, stray;
    double t_term, t_exit = 0, t_restart;
    qmf_value *doms = NULL;
    struct log_wait stopping = { ap->log, "command(s) still running" };
    bool took_term, alive_after_term, drained = true, exited0;
    unsigned failed_before = f->checks_failed;
    char how[64];

    printf("scenario 5: SIGTERM while %d commands run (Domain.save into FIFOs nobody reads "
           "yet), %d queued behind them, 10 sent after\n", SLOW_SAVES, SLOW_SAVES);
    if (libvirtd_start(f, &ap->lvd) != 0) {
        check(f, false, "the libvirtd starts");
        goto out;
    }
    /* Running guests to save, there before the agent starts. */
    for (i = 0; i < SLOW_SAVES; i++) {
        char *xml = qmf_xasprintf("<domain type='test'><name>slow-%zu</name>"
                                  "<memory unit='KiB'>8192</memory>"
                                  "<os><type>hvm</type></os></domain>", i);
        virDomainPtr dom = virDomainDefineXML(ap->lvd.conn, xml);

        free(xml);
        if (dom == NULL || virDomainCreate(dom) != 0) {
            check(f, false, "guest slow-%zu defined and started: %s", i, libvirt_error());
            if (dom)
                virDomainFree(dom);
            goto out;
        }
        virDomainFree(dom);
        fifos[i] = qmf_xasprintf("%s/slow-%zu.fifo", ap->lvd.dir, i);
        unlink(fifos[i]);
        if (mkfifo(fifos[i], 0600) != 0) {
            check(f, false, "mkfifo %s: %s", fifos[i], strerror(errno));
            goto out;
        }
    }
    for (i = 0; i < SLOW_SAVES; i++) {
        char name[32];

        snprintf(name, sizeof(name), "slow-%zu", i);
        objects[i] = domain_object_name(f, &ap->lvd, name);
        if (objects[i] == NULL)
            goto out;
    }
    if (agent_spawn(f, ap) != 0 || !agent_wait_ready(f, ap)) {
        check(f, false, "the agent starts");
        goto out;
    }
    for (i = 0; i < SLOW_SAVES; i++) {
        qmf_value *args = qmf_map();

        qmf_map_set(args, "filename", qmf_string(fifos[i]));
        saves[i] = cmd_new(f, ap, objects[i], "save", args, LONG_TTL_MS);
    }
    /* Ordered per object: these wait in the agent for the saves. */
    for (i = 0; i < SLOW_SAVES; i++)
        behind[i] = cmd_new(f, ap, objects[i], "getXMLDesc", NULL, LONG_TTL_MS);
    stream(f, ap, 2 * SLOW_SAVES);
    fw.pid = ap->lvd.proc.pid;
    fw.n = SLOW_SAVES;
    if (!check(f, run_until(f, fifos_blocked, &fw, ANSWER_WAIT_S),
               "%d saves running (blocked writing their FIFOs)", SLOW_SAVES))
        goto out;
    t_term = bench_now_s();
    say(f, "SIGTERM %s (pid %d) with %d commands running", ap->node, (int)ap->proc.pid,
        SLOW_SAVES);
    ap->supervised = false;
    kill(ap->proc.pid, SIGTERM);
    /*
     * It must wait for them: once it has taken the signal (it says so,
     * and from then on leaves every delivery in the queue), it is still
     * there.  What is sent after that must wait for the next start.
     */
    took_term = run_until(f, log_has, &stopping, READY_WAIT_S);
    reap_children(f);
    alive_after_term = took_term && ap->proc.pid != 0;
    for (i = 0; i < 10; i++)
        after[i] = cmd_define(f, ap, LONG_TTL_MS);
    stream(f, ap, 2 * SLOW_SAVES + 10);
    run_until(f, range_confirmed, &r_after, ANSWER_WAIT_S);
    say(f, "releasing the saves");
    for (i = 0; i < SLOW_SAVES; i++)
        drained &= drain_fifo(fifos[i]);
    run_until(f, child_gone, &ap->proc, STOP_TIMEOUT_S + EXIT_WAIT_S);
    if (ap->proc.pid == 0)
        t_exit = ap->proc.t_exit;
    exited0 = ap->proc.pid == 0 && WIFEXITED(ap->proc.status) &&
              WEXITSTATUS(ap->proc.status) == 0;
    describe_status(ap->proc.status, how, sizeof(how));
    /* What it answered before it was gone (confirmed by the broker before
     * it exited, so on its way to us). */
    run_until(f, range_answered, &r_behind, ANSWER_WAIT_S);
    for (i = 0; i < SLOW_SAVES; i++)
        before_exit += saves[i]->answers > 0 && saves[i]->ok && behind[i]->answers > 0 &&
                       behind[i]->ok;
    for (i = 0; i < 10; i++)
        after_early += after[i]->answers > 0;
    check(f, alive_after_term, "still running after it took SIGTERM (\"%s\" in its log), "
          "while its commands run", stopping.text);
    check(f, drained, "the saves wrote their images");
    check(f, exited0, "exited 0 (%s) %.2f s after SIGTERM, within stop_timeout (%d s)",
          ap->proc.pid == 0 ? how : "still running", t_exit - t_term, STOP_TIMEOUT_S);
    check(f, ap->stopping > 0, "agentStopping published");
    check(f, before_exit == SLOW_SAVES,
          "the running commands and those queued behind them finished and were answered "
          "(%zu of %d)", before_exit, SLOW_SAVES);
    check(f, after_early == 0, "commands sent after SIGTERM waited in the queue "
          "(%zu answered before the restart)", after_early);
    if (f->checks_failed > failed_before)
        show_log_tail(ap->log, 40);
    if (ap->proc.pid != 0)
        child_stop(f, &ap->proc, SIGKILL, 10);
    t_restart = bench_now_s();
    if (agent_spawn(f, ap) != 0 || !agent_wait_ready(f, ap)) {
        check(f, false, "the agent starts again");
        goto out;
    }
    run_while_moving(f, range_answered, &r_after, ANSWER_WAIT_S);
    if (find_effects(f, &ap, 1, &stray) != 0)
        check(f, false, "the libvirtd can be asked what exists");
    for (i = 0; i < 10; i++) {
        after_ok += after[i]->answers > 0 && after[i]->ok;
        after_effect += after[i]->effect;
    }
    doms = libvirtd_domains(f, &ap->lvd);
    printf("  figures: sent %d, executed %zu, executed twice 0, lost %zu; stop took "
           "%.2f s; the queued ones ran %.2f s after the restart\n",
           2 * SLOW_SAVES + 10, 2 * SLOW_SAVES - (SLOW_SAVES - before_exit) + after_effect,
           (SLOW_SAVES - before_exit) * 2 + (10 - after_ok), t_exit - t_term,
           bench_now_s() - t_restart);
    check(f, after_ok == 10 && after_effect == 10,
          "after the restart the queued commands ran once each (%zu ok, %zu effects)",
          after_ok, after_effect);
    (void)r_saves;
    {
        const qmf_value *test = doms ? qmf_map_get(doms, "test") : NULL;

        check(f, test && test->kind == QMF_BOOL && qmf_as_bool(test),
              "the guest \"test\" still runs: stopping the agent touched no guest");
    }
    check_no_crashes(f, &ap, 1);
out:
    qmf_free(doms);
    for (i = 0; i < SLOW_SAVES; i++) {
        if (fifos[i])
            unlink(fifos[i]);
        free(fifos[i]);
        free(objects[i]);
    }
    agents_teardown(f, &ap, 1);
    if (!f->interrupted)
        scenario_stop_timeout(f);
    if (!f->interrupted)
        scenario_long_command(f, true);
    if (!f->interrupted)
        scenario_long_command(f, false);
    if (!f->interrupted)
        scenario_long_command_killed(f);
    return 0;
}

/*
 * The bound: a command that never finishes (a save into a FIFO nobody
 * reads) does not hold the agent past stop_timeout.  It began and never
 * ended, so after the restart its redelivery is answered interrupted,
 * and not run again.
 */
static void
scenario_stop_timeout(struct faults *f)
{
    struct agent_proc *ap = agent_new(f, "faults-s5b", NULL);
    struct cmd *save;
    struct cmd_range one = { &save, 1 };
    char *fifo = NULL, *object = NULL, how[64];
    qmf_value *doms = NULL;
    const qmf_value *test;
    double t_term;
    bool gone, exited0, still_running, drained;

    ap->stop_timeout = 3;
    printf("  then: SIGTERM while a command runs that never finishes (stop_timeout %u s)\n",
           ap->stop_timeout);
    if (!start_blocked_save(f, ap, "stuck.fifo", &fifo, &object, &save))
        goto out;
    ap->supervised = false;
    t_term = bench_now_s();
    kill(ap->proc.pid, SIGTERM);
    /* Not timed: an agent that waited for the command would never exit. */
    gone = run_until(f, child_gone, &ap->proc, ap->stop_timeout + EXIT_WAIT_S);
    exited0 = gone && WIFEXITED(ap->proc.status) && WEXITSTATUS(ap->proc.status) == 0;
    still_running = fifo_waiters(ap->lvd.proc.pid) >= 1;
    describe_status(ap->proc.status, how, sizeof(how));
    check(f, exited0 && still_running,
          "it exited (%s) %.2f s after SIGTERM, the command still running (%s)",
          gone ? how : "still running", gone ? ap->proc.t_exit - t_term :
          bench_now_s() - t_term, still_running ? "yes" : "no");
    if (!gone)
        child_stop(f, &ap->proc, SIGKILL, 10);
    /* The save goes on in libvirtd without its agent: let it finish. */
    drained = drain_fifo(fifo);
    if (agent_spawn(f, ap) != 0 || !agent_wait_ready(f, ap)) {
        check(f, false, "the agent starts again");
        goto out;
    }
    run_until(f, range_answered, &one, ANSWER_WAIT_S);
    doms = libvirtd_domains(f, &ap->lvd);
    test = doms ? qmf_map_get(doms, "test") : NULL;
    printf("  figures: sent 1, interrupted 1 (effect happened: %s), answered %u time(s)\n",
           drained && test && test->kind == QMF_BOOL && !qmf_as_bool(test) ? "yes, the guest is "
           "saved" : "no", save->answers);
    check(f, is_interrupted(save),
          "after the restart it is answered interrupted (15), not run again%s%s",
          save->answers && !is_interrupted(save) ? ": " : "",
          save->answers && !is_interrupted(save) ? save->text : "");
    check_no_crashes(f, &ap, 1);
out:
    qmf_free(doms);
    if (fifo)
        unlink(fifo);
    free(fifo);
    free(object);
    agents_teardown(f, &ap, 1);
}
