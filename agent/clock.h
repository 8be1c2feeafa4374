/*
 * The clocks the agent reads: the wall clock for what leaves the process
 * (timestamps on the wire, in the journal and the audit trail) and a
 * monotonic one for durations, which a wall clock set back would spoil.
 * Any thread.
 */
#ifndef AGENT_CLOCK_H
#define AGENT_CLOCK_H

#include <stdint.h>

/* Nanoseconds since the epoch. */
int64_t clock_wall_ns(void);
/* Nanoseconds since an arbitrary start: only differences mean anything. */
int64_t clock_mono_ns(void);

#endif
