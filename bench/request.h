/*
 * The method requests benchmarks send to one agent: built here once, so
 * that every benchmark's load is the same message an application sends.
 */
#ifndef VIRTBUS_BENCH_REQUEST_H
#define VIRTBUS_BENCH_REQUEST_H

#include <stdint.h>

#include "bus/bus.h"

/*
 * A _method_request for method on object_name (e.g. "domain:<uuid>") of
 * agent (its "virtbus:agent:<node>" name), with no reply-to: a
 * fire-and-forget command once sent with virtbus_send().  args (a map, or
 * NULL for none) and message_id are consumed.  The caller owns the message.
 */
struct bus_message *bench_method_request(const char *agent, const char *object_name,
                                         const char *method, qmf_value *args,
                                         char *message_id, uint64_t ttl_ms);

#endif
