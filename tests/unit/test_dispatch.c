/*
 * Tests of the agent's checks on what a request says about itself
 * (agent/dispatch.c, agent/publish.c, agent/command.c): its deadline, its
 * reply address, and what of it a commandResult may carry.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "agent/agent_impl.h"
#include "core/text.h"

#define NOW INT64_C(1700000000000)

static bool
expired(int64_t created, uint64_t ttl, uint64_t *late)
{
    return agent_request_expired(created, ttl, NOW, late);
}

Test(dispatch, expiry_is_plain_arithmetic_in_range)
{
    uint64_t late = 0;

    cr_assert_not(expired(NOW - 1000, 5000, &late));
    cr_assert(expired(NOW - 6000, 5000, &late));
    cr_assert_eq(late, 1000);
    cr_assert_not(expired(NOW - 5000, 5000, &late), "the deadline itself is in time");
    cr_assert_not(expired(0, 5000, &late), "no creation time: never");
    cr_assert_not(expired(NOW - 6000, 0, &late), "no ttl: never");
}

/* The probe's values: the sanitizer build aborted on the signed overflow,
 * and the release build took created = INT64_MIN for "not expired". */
Test(dispatch, expiry_never_overflows)
{
    uint64_t late = 0;

    cr_assert_not(expired(INT64_MAX, 1, &late), "a deadline past the end of time never comes");
    cr_assert(expired(INT64_MIN, 1, &late), "created at the start of time has expired");
    cr_assert_eq(late, (uint64_t)NOW - ((uint64_t)INT64_MIN + 1));
    cr_assert(expired(INT64_MIN, UINT64_MAX / 4, &late), "a huge ttl from the distant past");
    cr_assert_not(expired(NOW, (uint64_t)INT64_MAX, &late));
    cr_assert_not(expired(NOW, UINT64_MAX, &late));
    cr_assert_not(expired(-1, UINT64_MAX, &late));
    cr_assert(expired(INT64_MIN, (uint64_t)INT64_MAX, &late), "ends at -1 ms");
    cr_assert_eq(agent_request_expired(INT64_MIN, 1, INT64_MAX, &late), true);
    cr_assert_eq(late, UINT64_MAX - 1, "the largest lateness fits");
}

static bool
allowed(const char *address)
{
    qmf_error err;
    bool ok = agent_reply_address_allowed(address, &err);

    if (!ok)
        cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    return ok;
}

/* Replies go to reply addresses, never to other agents' keys (PROTOCOL §3.3). */
Test(dispatch, reply_addresses)
{
    cr_assert(allowed("/queue/amq.rabbitmq.reply-to.g1h2AA5yZXBseQ=="));
    cr_assert(allowed("/queue/my-console-replies"));
    cr_assert(allowed("/queue/amq.gen-JzTY20BRgKO-HjmUJj0wLg"));
    cr_assert(allowed("/exchange/qmf.default.direct/virtbus.job.1234"));
    cr_assert(allowed("/exchange/qmf.default.direct/virtbus.console.5f2a"));
    cr_assert(allowed("/queue/virtbus.job.1234"));
    cr_assert(allowed("reply-key-of-a-qmfv2-console"));
    /* The probe's reply-to: an event under another agent's key. */
    cr_assert_not(allowed("/exchange/qmf.default.topic/agent.ind.event.org_libvirt."
                          "commandResult.info.virtbus.agent.victim"));
    cr_assert_not(allowed("/exchange/qmf.default.topic/console.request.method"));
    cr_assert_not(allowed("/exchange/qmf.default.direct/virtbus:agent:victim"));
    cr_assert_not(allowed("virtbus:agent:victim"));
    cr_assert_not(allowed("/exchange/qmf.default.direct/virtbus.dead-letters"));
    cr_assert_not(allowed("/queue/virtbus.agent.victim"));
    cr_assert_not(allowed("/queue/virtbus.presence"));
    cr_assert_not(allowed("/queue/virtbus.jobs"));
    cr_assert_not(allowed("/exchange/no.such.exchange/x"));
    cr_assert_not(allowed("/exchange/amq.topic/x"));
    cr_assert_not(allowed("/topic/x"));
    cr_assert_not(allowed("/queue/"));
}

/* Qpid's consoles write reply-to as exchange/subject (issue 12, finding 5):
 * read as such, and held to the same rule (issue 11): never an agent's
 * key, never a broadcast. */
Test(dispatch, qpid_reply_addresses)
{
    cr_assert(allowed("qmf.default.topic/direct-console.8e4a2c5d-1b2f-4b1a-9c3e-2f0f2f0f2f0f"));
    cr_assert(allowed("qmf.default.direct/my-console"));
    cr_assert(allowed("qmf.default.topic/direct-console.x; {node: {type: topic}}"));
    cr_assert(allowed("/exchange/qmf.default.topic/direct-console.abc"));
    cr_assert_not(allowed("/exchange/qmf.default.topic/direct-console."));
    cr_assert_not(allowed("qmf.default.topic/agent.ind.heartbeat.virtbus.agent.victim"));
    cr_assert_not(allowed("qmf.default.topic/console.request.method"));
    cr_assert_not(allowed("qmf.default.topic/virtbus.presence.marker"));
    cr_assert_not(allowed("qmf.default.direct/virtbus:agent:victim"));
    cr_assert_not(allowed("amq.topic/direct-console.abc"));
    cr_assert_not(allowed("no.such.exchange/x"));
    cr_assert_not(allowed("/direct-console.abc"));
    cr_assert_not(allowed("; {node: {type: topic}}"));
}

/* A commandResult carried a 1 MB objectName; the schema says sstr. */
Test(dispatch, command_results_carry_bounded_valid_texts)
{
    struct bus_message *m = bus_message_new();
    size_t big = 1024 * 1024;
    char *huge = malloc(big + 1);
    qmf_value *v;
    qmf_error err;
    const char *keys[] = { "requester", "correlationId", "className", "objectName",
                           "methodName" };
    size_t i;

    memset(huge, 'x', big);
    huge[big] = '\0';
    huge[10] = '\xff';
    m->correlation_id = qmf_xstrdup("corr-\xc3");
    m->user_id = qmf_xstrdup("alice");
    qmf_error_set(&err, QMF_ERR_UNKNOWN_OBJECT, "no object '%.200s'", huge);
    v = agent_command_result(NULL, m, huge, huge, "getXMLDesc", "rejected", &err, 0);
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const qmf_value *s = qmf_map_get(v, keys[i]);

        cr_assert_not_null(s, "%s", keys[i]);
        cr_assert_leq(qmf_bytes_len(s), AGENT_SSTR_MAX, "%s of %zu bytes", keys[i], qmf_bytes_len(s));
        cr_assert(qmf_utf8_valid(qmf_as_bytes(s), qmf_bytes_len(s)), "%s is not UTF-8", keys[i]);
    }
    cr_assert_str_eq(qmf_map_get_string(v, "correlationId"), "corr-?");
    cr_assert_eq(strlen(qmf_map_get_string(v, "objectName")), AGENT_SSTR_MAX);
    cr_assert(qmf_utf8_valid(qmf_map_get_string(v, "errorText"),
                             strlen(qmf_map_get_string(v, "errorText"))));
    qmf_free(v);
    free(huge);
    bus_message_free(m);
}
