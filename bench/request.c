/*
 * Fire-and-forget method requests for the benchmarks (request.h).
 */
#include "bench/request.h"

#include "core/value.h"

struct bus_message *
bench_method_request(const char *agent, const char *object_name, const char *method,
                     qmf_value *args, char *message_id, uint64_t ttl_ms)
{
    struct bus_message *m = bus_message_new();
    qmf_value *body = qmf_map(), *oid;

    bus_message_set_header_string(m, "qmf.opcode", "_method_request");
    bus_message_set_header_string(m, "method", "request");
    oid = qmf_map_set(body, "_object_id", qmf_map());
    qmf_map_set(oid, "_agent_name", qmf_string(agent));
    qmf_map_set(oid, "_object_name", qmf_string(object_name));
    qmf_map_set(body, "_method_name", qmf_string(method));
    qmf_map_set(body, "_arguments", args ? args : qmf_map());
    m->body = body;
    m->message_id = message_id;
    m->ttl_ms = ttl_ms;
    return m;
}
