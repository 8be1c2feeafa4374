/*
 * libvirtbus at the bus level: for the virtbus CLI, the tests and the
 * tools, which link the static library (vbclient) and speak bus.h.  Not
 * installed, and none of it is exported by the shared library, whose
 * users see only virtbus.h (controller/lib/libvirtbus.map).
 */
#ifndef VIRTBUS_BUS_H
#define VIRTBUS_BUS_H

#include "bus/bus.h"
#include "controller/lib/virtbus.h"

/* A watched message is a bus message: virtbus.h keeps the type opaque.
 * The conversions cost nothing. */
static inline const struct bus_message *
virtbus_message_bus(const struct virtbus_message *m)
{
    return (const struct bus_message *)(const void *)m;
}

static inline const struct virtbus_message *
virtbus_message_of_bus(const struct bus_message *m)
{
    return (const struct virtbus_message *)(const void *)m;
}

/* The same as virtbus_request() with a prepared message (consumed), for
 * tools and tests that send what the calls of virtbus.h would not: its
 * correlation-id and reply-to are set here, and its ttl and creation time
 * unless already set. */
int virtbus_request_message(struct virtbus_console *c, const char *address,
                            struct bus_message *m,
                            const struct virtbus_agent_list *expect,
                            unsigned timeout_ms, struct virtbus_results *out,
                            qmf_error *err);

/* Publishes a message (consumed) without waiting for any answer: a
 * fire-and-forget request when it has no reply-to.  Its ttl and creation
 * time are set unless already set, and the console's user as user_id. */
int virtbus_send(struct virtbus_console *c, const char *address,
                 struct bus_message *m, qmf_error *err);

#endif
