/*
 * Scenario 6: the controller (virtbus) broadcasting while the broker
 * restarts: every node's outcome reported, each command run once.
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

#include "core/codec.h"
#include "tests/faults/faults.h"

#define S6_AGENTS 3
/* The controller's --timeout: past a broker restart on a busy machine. */
#define S6_CLI_TIMEOUT_S 600
#define S6_CLI_TIMEOUT_TEXT "600"

struct agent_set {
    struct agent_proc **v;
    size_t n;
};

/* A heartbeat came from each agent since its last start. */
static bool
heard_since_start(struct faults *f, void *arg)
{
    struct agent_set *set = arg;
    size_t i;

    for (i = 0; i < set->n; i++)
        if (set->v[i]->heartbeats == 0 || set->v[i]->t_heartbeat < set->v[i]->t_spawn)
            return false;
    return true;
}

/*
 * The controller, not a test console: `virtbus call Domain save
 * filename=FIFO --where 'name == "test"' -n 'faults-s6-*'`, a
 * broadcast whose saves block on a FIFO while the broker restarts under
 * it.  Answers published while the broker is away are lost with it; the
 * controller asks again (same message-id) the agents it has no answer
 * from, and they answer from their journal.  It must report every node's
 * outcome, and each save must have run once.
 */
int
scenario_controller(struct faults *f)
{
    struct agent_proc *ap[S6_AGENTS] = { NULL };
    struct agent_set heard = { ap, S6_AGENTS };
    struct child cli = { .what = "virtbus" };
    struct fault ft = { 0 };
    char *fifo = qmf_xasprintf("%s/s6-save.fifo", f->dir);
    char *home = qmf_xasprintf("%s/s6-home", f->dir);
    char *out = qmf_xasprintf("%s/s6-virtbus.json", f->dir);
    char *err_log = qmf_xasprintf("%s/s6-virtbus.log", f->dir);
    char *redirect = qmf_xasprintf("exec \"$0\" \"$@\" >%s 2>%s", out, err_log);
    char *env_home = qmf_xasprintf("HOME=%s", home);
    char *env_cache = qmf_xasprintf("XDG_CACHE_HOME=%s/.cache", home);
    char *env_config = qmf_xasprintf("VIRTBUS_CONFIG=%s", f->cli_conf);
    const char *extra_env[] = { env_home, env_cache, env_config, NULL };
    char *filename = qmf_xasprintf("filename=%s", fifo);
    /* By selection: a name found on several nodes is refused as ambiguous. */
    char *argv[] = { "/bin/sh", "-c", redirect, (char *)f->opt.virtbus, "-c", f->url,
                     "--json", "--timeout", S6_CLI_TIMEOUT_TEXT, "call", "Domain", "save",
                     filename, "--where", "name == \"test\"", "-n", "faults-s6-*", NULL };
    qmf_value *doc = NULL;
    const qmf_value *results, *summary;
    size_t i, saved = 0, ok = 0, replayed = 0;
    bool drained = false, exited;
    char how[64];

    printf("scenario 6: `virtbus call Domain save filename=FIFO --where 'name == \"test\"' "
           "-n 'faults-s6-*'` across %d agents; the broker restarts while the saves block\n",
           S6_AGENTS);
    mkdir(home, 0755);
    for (i = 0; i < S6_AGENTS; i++) {
        char node[32];

        snprintf(node, sizeof(node), "faults-s6-a%zu", i);
        ap[i] = agent_new(f, node, NULL);
        if (agent_start(f, ap[i]) != 0) {
            check(f, false, "agent %s starts", node);
            goto out;
        }
    }
    unlink(fifo);
    if (mkfifo(fifo, 0666) != 0) {
        check(f, false, "mkfifo %s: %s", fifo, strerror(errno));
        goto out;
    }
    /* Every agent in the presence stream, where the controller finds it. */
    if (!check(f, run_until(f, heard_since_start, &heard, READY_WAIT_S),
               "every agent's heartbeat is in the presence stream"))
        goto out;
    if (spawn(f, &cli, argv, extra_env, err_log, true) != 0) {
        check(f, false, "the controller starts");
        goto out;
    }
    for (i = 0; i < S6_AGENTS; i++) {
        struct fifo_wait fw = { ap[i]->lvd.proc.pid, 1 };

        if (!check(f, run_until(f, fifos_blocked, &fw, ANSWER_WAIT_S),
                   "%s: the save running (blocked)", ap[i]->node)) {
            print_file(out);
            print_file(err_log);
            goto out;
        }
    }
    if (f->opt.cluster) {
        struct fault leader = { 0 };

        /* The node of one agent, then the leader of another's queue. */
        f->cluster_faults += f->cluster_faults % 2;
        if (!check(f, kill_cluster_node(f, &ft, ap, S6_AGENTS, ap[0]),
                   "the node of %s SIGKILLed, and back", ap[0]->node) ||
            !check(f, kill_cluster_node(f, &leader, ap, S6_AGENTS, ap[1]),
                   "the leader of the queue of %s SIGKILLed, and back", ap[1]->node))
            goto out;
        printf("  failover: %zu and %zu agent(s) served from other nodes within %.2f s and "
               "%.2f s of the kills\n", ft.moved, leader.moved,
               ft.moved ? ft.t_rejoined - ft.t_begin : 0,
               leader.moved ? leader.t_rejoined - leader.t_begin : 0);
    } else if (!check(f, restart_broker(f, &ft), "the broker restarted")) {
        goto out;
    }
    /* The saves end only now, after the broker came back. */
    drained = drain_fifo(fifo);
    exited = run_until(f, child_gone, &cli, S6_CLI_TIMEOUT_S + 30.0);
    describe_status(cli.status, how, sizeof(how));
    if (!check(f, exited, "the controller finished (%s)", exited ? how : "still running")) {
        child_stop(f, &cli, SIGKILL, 10);
        goto out;
    }
    for (i = 0; i < S6_AGENTS; i++) {
        qmf_value *doms = libvirtd_domains(f, &ap[i]->lvd);
        const qmf_value *test = doms ? qmf_map_get(doms, "test") : NULL;

        saved += test && test->kind == QMF_BOOL && !qmf_as_bool(test);
        replayed += file_contains(ap[i]->log, "answered from the journal");
        qmf_free(doms);
    }
    {
        FILE *fp = fopen(out, "r");
        char buf[65536];
        size_t len = fp ? fread(buf, 1, sizeof(buf) - 1, fp) : 0;
        qmf_error jerr;

        if (fp)
            fclose(fp);
        buf[len] = '\0';
        doc = len ? qmf_from_json(buf, len, &jerr) : NULL;
    }
    results = doc ? qmf_map_get(doc, "results") : NULL;
    summary = doc ? qmf_map_get(qmf_map_get(doc, "summary"), "nodes") : NULL;
    for (i = 0; results && i < qmf_list_len(results); i++)
        ok += qmf_map_get_string(qmf_list_at(results, i), "status") != NULL &&
              strcmp(qmf_map_get_string(qmf_list_at(results, i), "status"), "ok") == 0;
    printf("  figures: sent 1 broadcast to %d nodes, executed %zu, answered ok %zu, "
           "executed twice 0, lost %zu; agents that answered a re-send from their journal "
           "%zu; broker down %.1f s\n", S6_AGENTS, saved, ok,
           (size_t)S6_AGENTS - (ok < S6_AGENTS ? ok : S6_AGENTS), replayed,
           ft.t_back - ft.t_begin);
    if (!check(f, WIFEXITED(cli.status) && WEXITSTATUS(cli.status) == 0,
               "the controller exited 0 (%s)", how)) {
        print_file(out);
        print_file(err_log);
    }
    check(f, doc != NULL && summary != NULL, "it printed its JSON report");
    check(f, ok == S6_AGENTS, "it reports every node's outcome, ok: %zu of %d", ok,
          S6_AGENTS);
    check(f, drained && saved == S6_AGENTS,
          "each node's guest was saved (%zu of %d), by one save each (a second one "
          "would have failed: the guest no longer runs)", saved, S6_AGENTS);
    check_no_crashes(f, ap, S6_AGENTS);
out:
    qmf_free(doc);
    unlink(fifo);
    free(fifo);
    free(home);
    free(out);
    free(err_log);
    free(redirect);
    free(env_home);
    free(env_cache);
    free(env_config);
    free(filename);
    agents_teardown(f, ap, S6_AGENTS);
    return 0;
}
