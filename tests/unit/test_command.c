/*
 * Tests of command identity (agent/command.c, docs/PROTOCOL.md §9.3): what
 * the digest that tells commands apart covers, and what it leaves out.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "agent/agent_impl.h"

static struct bus_message *
request(void)
{
    struct bus_message *m = bus_message_new();
    qmf_value *oid, *args;

    bus_message_set_header_string(m, "qmf.opcode", "_method_request");
    m->body = qmf_map();
    oid = qmf_map_set(m->body, "_object_id", qmf_map());
    qmf_map_set(oid, "_agent_name", qmf_string("virtbus:agent:node1"));
    qmf_map_set(oid, "_object_name", qmf_string("domain:1"));
    qmf_map_set(m->body, "_method_name", qmf_string("setMemory"));
    args = qmf_map_set(m->body, "_arguments", qmf_map());
    qmf_map_set(args, "memory", qmf_u64(1024));
    m->message_id = qmf_xstrdup("qmf2");
    m->user_id = qmf_xstrdup("alice");
    return m;
}

static const struct agent_caller unsigned_caller = { .name = "unsigned" };

static bool
same_as_base(void (*change)(struct bus_message *m))
{
    struct bus_message *a = request(), *b = request();
    uint8_t da[JOURNAL_DIGEST_LEN], db[JOURNAL_DIGEST_LEN];

    change(b);
    agent_command_digest(a, &unsigned_caller, da);
    agent_command_digest(b, &unsigned_caller, db);
    bus_message_free(a);
    bus_message_free(b);
    return memcmp(da, db, sizeof(da)) == 0;
}

static void change_nothing(struct bus_message *m) { (void)m; }
static void change_sender(struct bus_message *m) { free(m->user_id); m->user_id = NULL; }
static void change_other_sender(struct bus_message *m)
{
    free(m->user_id);
    m->user_id = qmf_xstrdup("bob");
}
static void change_method(struct bus_message *m)
{
    qmf_map_set(m->body, "_method_name", qmf_string("setMaxMemory"));
}
static void change_object(struct bus_message *m)
{
    qmf_map_set(qmf_map_get(m->body, "_object_id"), "_object_name", qmf_string("domain:2"));
}
static void change_argument(struct bus_message *m)
{
    qmf_map_set(qmf_map_get(m->body, "_arguments"), "memory", qmf_u64(2048));
}
static void add_argument(struct bus_message *m)
{
    qmf_map_set(qmf_map_get(m->body, "_arguments"), "flags", qmf_u32(0));
}
static void add_target(struct bus_message *m)
{
    qmf_value *t = qmf_map_set(m->body, "_target", qmf_list());

    qmf_list_append(t, qmf_string("true"));
}
static void add_where(struct bus_message *m)
{
    qmf_value *w = qmf_map_set(m->body, "_where", qmf_list());

    qmf_list_append(w, qmf_string("true"));
}
static void add_class(struct bus_message *m)
{
    qmf_map_set(qmf_map_set(m->body, "_schema_id", qmf_map()), "_class_name",
                qmf_string("Domain"));
}
static void change_opcode(struct bus_message *m)
{
    bus_message_set_header_string(m, "qmf.opcode", "_query_request");
}
/* Where the answer goes, and how it is matched, decide no effect. */
static void change_routing(struct bus_message *m)
{
    m->correlation_id = qmf_xstrdup("another-correlation");
    m->reply_to = qmf_xstrdup("/queue/elsewhere");
    m->ttl_ms = 5000;
    m->created_ms = 1;
}
/* Neither does the encoding: an integer of another width, keys reordered. */
static void change_encoding(struct bus_message *m)
{
    qmf_value *args = qmf_map_take(m->body, "_arguments");
    qmf_value *method = qmf_map_take(m->body, "_method_name");

    qmf_map_set(args, "memory", qmf_i64(1024));
    qmf_map_set(m->body, "_arguments", args);
    qmf_map_set(m->body, "_method_name", method);
}

Test(command, the_digest_covers_sender_and_everything_that_decides_the_effect)
{
    cr_assert(same_as_base(change_nothing));
    cr_assert_not(same_as_base(change_sender), "the sender");
    cr_assert_not(same_as_base(change_other_sender), "another sender");
    cr_assert_not(same_as_base(change_method), "the method");
    cr_assert_not(same_as_base(change_object), "the object");
    cr_assert_not(same_as_base(change_argument), "an argument's value");
    cr_assert_not(same_as_base(add_argument), "one more argument");
    cr_assert_not(same_as_base(add_target), "_target");
    cr_assert_not(same_as_base(add_where), "_where");
    cr_assert_not(same_as_base(add_class), "_schema_id");
    cr_assert_not(same_as_base(change_opcode), "the opcode");
}

/* Signed, the sender is the key: the broker user no longer counts, and a
 * user named like a key id is not that key. */
Test(command, a_signed_request_is_the_signing_key_s)
{
    struct agent_caller k1 = { .is_signed = true, .name = "alice",
                               .key_id = "0123456789abcdef0123456789abcdef" };
    struct agent_caller k2 = { .is_signed = true, .name = "alice",
                               .key_id = "fedcba9876543210fedcba9876543210" };
    struct bus_message *m = request(), *u = request();
    uint8_t d1[JOURNAL_DIGEST_LEN], d1b[JOURNAL_DIGEST_LEN], d2[JOURNAL_DIGEST_LEN];
    uint8_t du[JOURNAL_DIGEST_LEN];

    agent_command_digest(m, &k1, d1);
    change_other_sender(m);
    agent_command_digest(m, &k1, d1b);
    agent_command_digest(m, &k2, d2);
    free(u->user_id);
    u->user_id = qmf_xstrdup(k1.key_id);
    agent_command_digest(u, &unsigned_caller, du);
    cr_assert_eq(memcmp(d1, d1b, sizeof(d1)), 0, "the broker user does not count");
    cr_assert_neq(memcmp(d1, d2, sizeof(d1)), 0, "another key is another sender");
    cr_assert_neq(memcmp(d1, du, sizeof(d1)), 0, "a user named like the key is not it");
    bus_message_free(m);
    bus_message_free(u);
}

Test(command, the_digest_leaves_out_routing_and_encoding)
{
    cr_assert(same_as_base(change_routing), "correlation-id, reply-to, ttl and created");
    cr_assert(same_as_base(change_encoding), "integer width and key order");
}
