/*
 * A bare AMQP 1.0 client on qpid-proton's proactor, with no virtbus code:
 * the floor that bench_transports holds the 1.0 bus against.  It writes
 * QMFv2 requests as docs/PROTOCOL.md says (application-properties, a JSON
 * data section, the properties), sends them to an address, and counts the
 * answers that come back to a reply queue of its own; or it watches an
 * exchange address and stamps every message as it arrives.
 *
 * One client belongs to one thread at a time: its proactor runs only
 * inside its calls.  The watch runs on a thread of its own.
 */
#ifndef VIRTBUS_BENCH_BARE10_H
#define VIRTBUS_BENCH_BARE10_H

#include <stdbool.h>
#include <stddef.h>

struct bench_bare;

/*
 * Connects to an amqp10:// URL (user, password, host, port; the vhost
 * "/") and attaches a receiver to source, pre-settled (no acks, as a
 * console reads its answers): "/queue/Q" (the broker declares Q, a
 * classic queue) or "/exchange/X/key" (a queue the broker binds).
 * Returns NULL with err filled after timeout_ms without the link up.
 * The caller owns the client; bench_bare_close() frees it.
 */
struct bench_bare *bench_bare_open(const char *url, const char *source, unsigned timeout_ms,
                                   char *err, size_t errlen);
void bench_bare_close(struct bench_bare *b);

/*
 * One request: opcode, a JSON body and the reply-to "/queue/<reply_queue>"
 * (the source of bench_bare_open), sent pre-settled to address (the
 * sender of each address is made once and kept); durable with a
 * ttl_ms, as PROTOCOL.md §3.1 wants commands, or a query with header.ttl.
 * Then collects answers with its correlation-id until `expect` agents
 * have sent their last message (no `partial`), or timeout_ms.  Returns the
 * number of agents done; *exceptions counts the `_exception` answers.
 */
size_t bench_bare_request(struct bench_bare *b, const char *address, const char *opcode,
                          const char *json_body, bool command, const char *reply_queue,
                          size_t expect, unsigned timeout_ms, size_t *exceptions);

/*
 * Watching: from now on, a thread of its own stamps (bench_now_ms) every
 * message that arrives, up to max of them.  bench_bare_watch_count() is
 * how many came so far (any thread); bench_bare_watch_stop() ends the
 * thread and gives the stamps (owned by the client).
 */
int bench_bare_watch_start(struct bench_bare *b, size_t max);
size_t bench_bare_watch_count(struct bench_bare *b);
const double *bench_bare_watch_stop(struct bench_bare *b, size_t *n);

#endif
