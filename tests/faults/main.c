/*
 * virtbus-faults: the fault tests of docs/RELIABILITY.md, its command line
 * and its run; each scenario is a file of tests/faults/ (named below), and
 * all share harness.c.  It starts a private broker of its own
 * (tests/harness/broker.sh), agents as separate virtbusd processes (so
 * that they can be SIGKILLed), each with its own journal and its own
 * private libvirtd (whose state outlives the agent, so that effects are
 * counted from outside), injects faults, and counts what became of every
 * command:
 *
 *   1. stream.c: a stream of commands across agents while the broker
 *      restarts and agents are SIGKILLed: executed once each, nothing lost;
 *   2. queued.c: commands queued while an agent is stopped, some expiring
 *      there: the live ones run in order, the expired ones are reported
 *      expired;
 *   3. libvirtd.c: the libvirtd restarted during a stream: refusals while
 *      it is gone, success and a fresh inventory after the agent
 *      reconnects;
 *   4. poison.c: a command that crashes the agent: dead-lettered after the
 *      delivery limit, and the agent serves again;
 *   5. sigterm.c: SIGTERM while commands run: they finish, their outcomes
 *      arrive, the agent exits 0, and the commands still queued run after
 *      a restart; a command that never ends does not hold it past
 *      stop_timeout; long_command.c: a command longer than the broker's
 *      consumer_timeout is acked early;
 *   6. controller.c: the controller (virtbus) broadcasting while the
 *      broker restarts: every node's outcome reported, each command run
 *      once.
 *
 * With --cluster the broker is a 3-node RabbitMQ cluster
 * (tests/harness/cluster.sh) and agents, console and controller are given
 * its three URLs; a "broker restart" of scenarios 1 and 6 becomes a
 * SIGKILL of one node, in turn the node an agent is connected to and the
 * node that leads its command queue (a quorum queue), restarted after the
 * agents are back.  It prints how long the agents took to come back.
 *
 *   virtbus-faults [--short] [-s 1,2,...] [-n COMMANDS] [-a AGENTS] [-w WINDOW]
 *                  [-r RESTARTS] [-k KILLS] [-d DIR] [--transport amqp091|amqp10]
 *                  [--keep] [-v]
 *
 * With --transport amqp10 the agents, the console and the controller speak
 * AMQP 1.0 to the same broker (its rabbitmq_amqp1_0 plugin).
 *
 * Every scenario prints its figures (sent, executed, executed twice, lost,
 * interrupted, time to recover) and its checks; the exit status is 0 only
 * if every check held.  Every wait is for a state (an answer, a record, a
 * process gone, a line in an agent's log), with a bound; the only pauses
 * are part of a fault (how long a libvirtd stays down, a command runs),
 * never a guess at when something is done.  Only processes this program
 * started are stopped, by pid.
 *
 * The fleet signs, as one is deployed (docs/SECURITY.md): an issuer made
 * for the run, a key and credential per agent, and an admin caller whose
 * key signs every request this program and the CLI of scenario 6 send.
 */
/* POSIX.1-2008 with XSI: kill(2), mkfifo(3), nftw(3), strsignal(3). */
#define _XOPEN_SOURCE 700

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/faults/faults.h"

static const struct {
    unsigned number;
    const char *name;
    int (*run)(struct faults *f);
} scenarios[] = {
    { 1, "stream under faults", scenario_stream },
    { 2, "queued while stopped", scenario_queued },
    { 3, "libvirtd restart", scenario_libvirtd },
    { 4, "poison", scenario_poison },
    { 5, "SIGTERM while commands run", scenario_sigterm },
    { 6, "controller across a broker restart", scenario_controller },
};

static void __attribute__((noreturn))
usage(FILE *fp, int status)
{
    fprintf(fp,
        "usage: virtbus-faults [--short] [-s LIST] [-n COMMANDS] [-a AGENTS] [-w WINDOW]\n"
        "                      [--twice N] [-r RESTARTS] [-k KILLS] [--seed N] [-d DIR]\n"
        "                      [--transport amqp091|amqp10] [--keep] [-v]\n"
        "  --short              the CI run: scenario 1 with 1000 commands across 4 agents,\n"
        "                       1 broker restart and 2 kills; the others as always\n"
        "  -s, --scenarios LIST which scenarios, e.g. 1,3 (default: 1,2,3,4,5,6)\n"
        "  -n, --commands N     scenario 1: commands (default 10000)\n"
        "  -a, --agents N       scenario 1: agents (default 10)\n"
        "  -w, --window N       scenario 1: outstanding commands per agent (default 16)\n"
        "      --twice N        scenario 1: every Nth command sent twice at once, as a\n"
        "                       console asking again does (default 50; 0: none)\n"
        "  -r, --restarts N     scenario 1: broker restarts (default 3)\n"
        "  -k, --kills N        scenario 1: agent SIGKILLs (default 5)\n"
        "      --seed N         fault timing (default: from the clock)\n"
        "      --transport T    the agents', the console's and the controller's: amqp091\n"
        "                       (default) or amqp10 (RabbitMQ's AMQP 1.0 plugin)\n"
        "  -d, --dir DIR        work directory (default: a new /tmp/virtbus-faults-*)\n"
        "      --keep           keep the work directory (logs, journals) even on success\n"
        "      --virtbusd PATH  the agent program (default: this build's)\n"
        "      --virtbusd-failpoints PATH  the same with failpoints, for scenario 4's\n"
        "                       poison command (default: this build's)\n"
        "      --broker-sh PATH tests/harness/broker.sh\n"
        "      --cluster        a 3-node RabbitMQ cluster instead of one broker; its\n"
        "                       node SIGKILLs (the node of an agent, the leader of its\n"
        "                       queue) replace the broker restarts; scenarios 1 and 6\n"
        "      --cluster-sh PATH tests/harness/cluster.sh\n"
        "      --pace S         scenario 1: send the stream over S seconds (default 0;\n"
        "                       with --cluster 90, so that every kill lands in it)\n"
        "  -v, --verbose        progress and agents' debug logs\n");
    exit(status);
}

static size_t
parse_size(const char *s, const char *flag, size_t min, size_t max)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "virtbus-faults: %s: expected %zu..%zu, got \"%s\"\n", flag, min,
                max, s);
        exit(2);
    }
    return (size_t)v;
}

static void
parse_options(struct options *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "short", no_argument, NULL, 'S' },
        { "scenarios", required_argument, NULL, 's' },
        { "commands", required_argument, NULL, 'n' },
        { "agents", required_argument, NULL, 'a' },
        { "window", required_argument, NULL, 'w' },
        { "twice", required_argument, NULL, 'T' },
        { "restarts", required_argument, NULL, 'r' },
        { "kills", required_argument, NULL, 'k' },
        { "seed", required_argument, NULL, 'E' },
        { "dir", required_argument, NULL, 'd' },
        { "keep", no_argument, NULL, 'K' },
        { "virtbusd", required_argument, NULL, 'V' },
        { "virtbusd-failpoints", required_argument, NULL, 'F' },
        { "broker-sh", required_argument, NULL, 'B' },
        { "cluster", no_argument, NULL, 'C' },
        { "pace", required_argument, NULL, 'P' },
        { "cluster-sh", required_argument, NULL, 'L' },
        { "transport", required_argument, NULL, 'X' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    bool set_n = false, set_a = false, set_r = false, set_k = false;
    int ch;

    *o = (struct options){
        .scenarios = 0x7e, .commands = 10000, .agents = 10, .window = 16, .dup_every = 50,
        .restarts = 3, .kills = 5, .queued = 100, .short_ttl_ms = 1500,
        .seed = (unsigned)time(NULL) ^ (unsigned)getpid(),
        .virtbusd = VIRTBUS_VIRTBUSD_PATH, .broker_sh = VIRTBUS_BROKER_SH,
        .virtbusd_failpoints = VIRTBUS_VIRTBUSD_FAILPOINTS_PATH,
        .virtbus = VIRTBUS_CLI_PATH, .cluster_sh = VIRTBUS_CLUSTER_SH, .scheme = "amqp",
    };
    bool set_s = false, set_p = false;
    while ((ch = getopt_long(argc, argv, "s:n:a:w:r:k:d:vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'S': o->is_short = true; break;
        case 's': {
            char *copy = qmf_xstrdup(optarg), *tok, *save = NULL;

            o->scenarios = 0;
            set_s = true;
            for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
                o->scenarios |= 1u << parse_size(tok, "--scenarios", 1, 6);
            free(copy);
            break;
        }
        case 'n': o->commands = parse_size(optarg, "--commands", 1, 1000000); set_n = true; break;
        case 'a': o->agents = parse_size(optarg, "--agents", 1, 100); set_a = true; break;
        case 'w': o->window = parse_size(optarg, "--window", 1, 1000); break;
        case 'T': o->dup_every = parse_size(optarg, "--twice", 0, 1000000); break;
        case 'r': o->restarts = (unsigned)parse_size(optarg, "--restarts", 0, 100); set_r = true; break;
        case 'k': o->kills = (unsigned)parse_size(optarg, "--kills", 0, 100); set_k = true; break;
        case 'E': o->seed = (unsigned)parse_size(optarg, "--seed", 0, UINT32_MAX); break;
        case 'd': o->dir = optarg; break;
        case 'K': o->keep = true; break;
        case 'V': o->virtbusd = optarg; break;
        case 'F': o->virtbusd_failpoints = optarg; break;
        case 'B': o->broker_sh = optarg; break;
        case 'C': o->cluster = true; break;
        case 'P': o->pace_s = (unsigned)parse_size(optarg, "--pace", 0, 86400); set_p = true; break;
        case 'L': o->cluster_sh = optarg; break;
        case 'X':
            if (strcmp(optarg, "amqp091") == 0) {
                o->scheme = "amqp";
            } else if (strcmp(optarg, "amqp10") == 0) {
                o->scheme = "amqp10";
            } else {
                fprintf(stderr, "virtbus-faults: --transport: expected amqp091 or amqp10, "
                        "got \"%s\"\n", optarg);
                exit(2);
            }
            break;
        case 'v': o->verbose = true; break;
        case 'h': usage(stdout, 0);
        default: usage(stderr, 2);
        }
    }
    if (optind != argc)
        usage(stderr, 2);
    if (o->is_short) {
        if (!set_n)
            o->commands = 1000;
        if (!set_a)
            o->agents = 4;
        if (!set_r)
            o->restarts = o->cluster ? 2 : 1;
        if (!set_k)
            o->kills = o->cluster ? 0 : 2;
    }
    if (o->cluster) {
        /* A node's restart takes 15 to 30 s here: spread the stream so
         * that the kills, a third and two thirds through, land in it. */
        if (!set_p)
            o->pace_s = 90;
        /* The others need broker.sh's settings (consumer_timeout). */
        if (!set_s)
            o->scenarios = (1u << 1) | (1u << 6);
        if (o->scenarios & ~((1u << 1) | (1u << 6))) {
            fprintf(stderr, "virtbus-faults: --cluster runs scenarios 1 and 6 only\n");
            exit(2);
        }
    }
}


int
main(int argc, char **argv)
{
    struct faults f = { 0 };
    size_t i;
    int status;

    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    parse_options(&f.opt, argc, argv);
    f.t0 = bench_now_s();
    f.prng = ((uint64_t)f.opt.seed << 1) | 1;
    if (faults_setup(&f) != 0) {
        say(&f, "setup failed");
        faults_teardown(&f, true);
        return 2;
    }
    for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]) && !f.interrupted; i++) {
        unsigned before = f.checks_failed;
        double t = bench_now_s();

        if (!(f.opt.scenarios & (1u << scenarios[i].number)))
            continue;
        f.scenario = scenarios[i].name;
        scenarios[i].run(&f);
        f.scenarios_run++;
        if (f.checks_failed > before)
            f.scenarios_failed++;
        printf("  scenario %u: %s in %.1f s\n", scenarios[i].number,
               f.checks_failed > before ? "FAIL" : "PASS", bench_now_s() - t);
        fflush(stdout);
    }
    status = f.interrupted ? 2 : f.checks_failed ? 1 : 0;
    say(&f, "%s: %u scenario(s) run, %u failed, %u check(s) failed",
        status == 0 ? "PASS" : "FAIL", f.scenarios_run, f.scenarios_failed, f.checks_failed);
    faults_teardown(&f, f.opt.keep || status != 0);
    return status;
}
