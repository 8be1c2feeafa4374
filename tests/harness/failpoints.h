/*
 * Fault injection for the fault tests (tests/faults/), built only into
 * their copy of virtbusd (virtbusd-failpoints), never into the shipped one.
 */
#ifndef TESTS_HARNESS_FAILPOINTS_H
#define TESTS_HARNESS_FAILPOINTS_H

#include "agent/agent.h"

/*
 * points: a comma-separated list, e.g. "crash-on-method=Domain.reboot",
 * which makes the agent abort when a request for that method arrives
 * (before it is journaled), as a poison command would.  NULL or "": none.
 * Borrowed: it must outlive the agents of env.
 */
void failpoints_install(struct agent_env *env, const char *points);

#endif
