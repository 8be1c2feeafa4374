/* Unit tests for QMF _where predicates: every operator, kinds, errors. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/codec.h"
#include "core/where.h"

static const uint8_t sample_uuid[16] = {
    0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1,
    0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8,
};

/* A Domain's _values with the wire kinds an agent publishes. */
static qmf_value *
domain_values(void)
{
    qmf_value *v = qmf_map(), *labels;

    qmf_map_set(v, "name", qmf_string("web-10"));
    qmf_map_set(v, "state", qmf_string("running"));
    qmf_map_set(v, "memory", qmf_u64(4194304));
    qmf_map_set(v, "id", qmf_i32(10));
    qmf_map_set(v, "numVcpus", qmf_u32(9));
    qmf_map_set(v, "cpuTime", qmf_u64(UINT64_MAX));
    qmf_map_set(v, "neg", qmf_i64(-5));
    qmf_map_set(v, "load", qmf_double(0.75));
    qmf_map_set(v, "nan", qmf_double(NAN));
    qmf_map_set(v, "big", qmf_i64(INT64_C(9007199254740993)));
    qmf_map_set(v, "active", qmf_bool(true));
    qmf_map_set(v, "uuid", qmf_uuid(sample_uuid));
    qmf_map_set(v, "dotted.key", qmf_string("exact"));
    labels = qmf_map_set(v, "labels", qmf_map());
    qmf_map_set(labels, "tier", qmf_string("gold"));
    qmf_map_set(labels, "rack.row", qmf_string("r1"));
    return v;
}

static qmf_value *
parse(const char *json)
{
    qmf_error err;
    qmf_value *v = qmf_from_json(json, strlen(json), &err);

    cr_assert_not_null(v, "test predicate %s: %s", json, err.text);
    return v;
}

static qmf_where *
compile_ok(const char *json)
{
    qmf_value *expr = parse(json);
    qmf_error err;
    qmf_where *w = qmf_where_compile(expr, &err);

    cr_assert_not_null(w, "%s did not compile: %s", json, err.text);
    qmf_free(expr);
    return w;
}

/* Evaluates the predicate (JSON text) against a fresh domain_values(). */
static bool
matches(const char *json)
{
    qmf_value *values = domain_values();
    qmf_where *w = compile_ok(json);
    bool r = qmf_where_eval(w, values);

    qmf_where_free(w);
    qmf_free(values);
    return r;
}

#define assert_match(json) cr_assert(matches(json), "%s should match", json)
#define assert_no_match(json) cr_assert_not(matches(json), "%s should not match", json)

static void
assert_compile_error_v(const qmf_value *expr, const char *want)
{
    qmf_error err;
    qmf_where *w = qmf_where_compile(expr, &err);

    cr_assert_null(w, "compiled, expected: %s", want);
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    cr_assert_str_eq(err.text, want);
}

static void
assert_compile_error(const char *json, const char *want)
{
    qmf_value *expr = parse(json);

    assert_compile_error_v(expr, want);
    qmf_free(expr);
}

Test(qmf_where, constants)
{
    assert_match("[\"true\"]");
    assert_no_match("[\"false\"]");
}

Test(qmf_where, string_equality)
{
    assert_match("[\"eq\", \"state\", [\"quote\", \"running\"]]");
    assert_no_match("[\"eq\", \"state\", [\"quote\", \"runnin\"]]");
    assert_no_match("[\"eq\", \"state\", [\"quote\", \"running \"]]");
    assert_match("[\"ne\", \"state\", [\"quote\", \"shutoff\"]]");
    assert_no_match("[\"ne\", \"state\", [\"quote\", \"running\"]]");
    assert_match("[\"eq\", [\"quote\", \"running\"], \"state\"]");
    /* A bare string is a field, so this compares state with a missing field. */
    assert_no_match("[\"eq\", \"state\", \"running\"]");
}

Test(qmf_where, string_order_is_bytewise)
{
    assert_match("[\"lt\", \"name\", [\"quote\", \"web-2\"]]");
    assert_match("[\"gt\", \"name\", [\"quote\", \"web-1\"]]");
    assert_match("[\"le\", \"name\", [\"quote\", \"web-10\"]]");
    assert_match("[\"ge\", \"name\", [\"quote\", \"web-10\"]]");
    assert_match("[\"gt\", \"name\", [\"quote\", \"web\"]]");     /* prefix first */
    assert_no_match("[\"gt\", [\"quote\", \"10\"], [\"quote\", \"9\"]]");
}

Test(qmf_where, numbers_compare_as_numbers_across_kinds)
{
    /* uint64 field against int and double literals. */
    assert_match("[\"eq\", \"memory\", 4194304]");
    assert_match("[\"eq\", \"memory\", 4194304.0]");
    assert_match("[\"gt\", \"memory\", 4194303]");
    assert_match("[\"lt\", \"memory\", 4194304.5]");
    assert_match("[\"gt\", \"memory\", 4194303.5]");
    assert_match("[\"le\", \"memory\", 4194304]");
    assert_match("[\"ge\", \"memory\", 4194304]");
    assert_no_match("[\"lt\", \"memory\", 4194304]");
    assert_no_match("[\"gt\", \"memory\", 4194304]");
    assert_match("[\"ne\", \"memory\", 1]");
    /* 10 > 9 as numbers, though "10" < "9" as strings; int32 vs uint32. */
    assert_match("[\"gt\", \"id\", 9]");
    assert_match("[\"gt\", \"id\", \"numVcpus\"]");
    assert_match("[\"eq\", \"numVcpus\", \"numVcpus\"]");
    /* Signed against unsigned at the extremes. */
    assert_match("[\"gt\", \"cpuTime\", -1]");
    assert_match("[\"gt\", \"cpuTime\", 9223372036854775807]");
    assert_match("[\"eq\", \"cpuTime\", 18446744073709551615]");
    assert_match("[\"lt\", \"neg\", 0]");
    assert_match("[\"lt\", \"neg\", 18446744073709551615]");
    assert_match("[\"lt\", \"neg\", -4.5]");
    assert_match("[\"gt\", \"neg\", -5.5]");
    assert_match("[\"eq\", \"neg\", -5.0]");
    assert_match("[\"lt\", \"load\", 1]");
    assert_match("[\"gt\", \"load\", 0]");
    assert_match("[\"eq\", \"load\", 0.75]");
}

Test(qmf_where, integer_double_comparison_is_exact)
{
    /* Converting to double would make these equal. */
    assert_match("[\"lt\", \"cpuTime\", 18446744073709551616.0]");
    assert_no_match("[\"eq\", \"cpuTime\", 18446744073709551616.0]");
    assert_match("[\"gt\", \"big\", 9007199254740992.0]");
    assert_no_match("[\"eq\", \"big\", 9007199254740992.0]");
    assert_match("[\"gt\", \"neg\", -1e300]");
    assert_match("[\"lt\", \"cpuTime\", 1e300]");
}

Test(qmf_where, nan_is_unequal_to_everything)
{
    assert_no_match("[\"eq\", \"nan\", \"nan\"]");
    assert_match("[\"ne\", \"nan\", 1]");
    assert_match("[\"ne\", \"nan\", 1.5]");
    assert_no_match("[\"lt\", \"nan\", 1]");
    assert_no_match("[\"ge\", \"nan\", 1]");
}

Test(qmf_where, incompatible_kinds_are_false_not_errors)
{
    assert_no_match("[\"eq\", \"name\", 5]");
    assert_no_match("[\"ne\", \"name\", 5]");
    assert_no_match("[\"lt\", \"memory\", [\"quote\", \"5\"]]");
    assert_no_match("[\"eq\", \"active\", 1]");
    assert_no_match("[\"ne\", \"active\", 1]");
    assert_no_match("[\"eq\", \"labels\", [\"quote\", \"gold\"]]");
}

Test(qmf_where, booleans_are_eq_and_ne_only)
{
    assert_match("[\"eq\", \"active\", true]");
    assert_no_match("[\"eq\", \"active\", false]");
    assert_match("[\"ne\", \"active\", false]");
    assert_no_match("[\"ne\", \"active\", true]");
    assert_no_match("[\"lt\", \"active\", true]");
    assert_no_match("[\"gt\", \"active\", false]");
}

Test(qmf_where, uuids_equal_their_text)
{
    assert_match("[\"eq\", \"uuid\", [\"quote\", \"6ba7b810-9dad-11d1-80b4-00c04fd430c8\"]]");
    assert_match("[\"eq\", \"uuid\", [\"quote\", \"6BA7B810-9DAD-11D1-80B4-00C04FD430C8\"]]");
    assert_match("[\"ne\", \"uuid\", [\"quote\", \"6ba7b810-9dad-11d1-80b4-00c04fd430c9\"]]");
    assert_match("[\"lt\", \"uuid\", [\"quote\", \"6ba7b810-9dad-11d1-80b4-00c04fd430c9\"]]");
    assert_match("[\"eq\", [\"quote\", \"6ba7b810-9dad-11d1-80b4-00c04fd430c8\"], \"uuid\"]");
    assert_no_match("[\"eq\", \"uuid\", [\"quote\", \"6ba7b810\"]]");
    assert_match("[\"ne\", \"uuid\", [\"quote\", \"6ba7b810\"]]");
}

Test(qmf_where, maps_compare_whole)
{
    assert_match("[\"eq\", \"labels\", [\"quote\", {\"rack.row\": \"r1\", \"tier\": \"gold\"}]]");
    assert_match("[\"ne\", \"labels\", [\"quote\", {\"tier\": \"gold\"}]]");
    assert_no_match("[\"lt\", \"labels\", [\"quote\", {\"tier\": \"gold\"}]]");
}

Test(qmf_where, regular_expressions)
{
    assert_match("[\"re_match\", \"name\", [\"quote\", \"^web-[0-9]+$\"]]");
    assert_match("[\"re_match\", \"name\", \"^web\"]");          /* bare pattern */
    assert_no_match("[\"re_match\", \"name\", \"^db\"]");
    assert_no_match("[\"re_match\", \"name\", \"^web-1$\"]");
    assert_match("[\"re_match\", \"labels.tier\", \"^(gold|silver)$\"]");
    assert_no_match("[\"re_match\", \"memory\", \"4\"]");        /* not a string */
    assert_no_match("[\"re_match\", \"missing\", \".*\"]");
}

Test(qmf_where, regex_sees_the_whole_string)
{
    qmf_value *values = qmf_map();
    qmf_where *w = compile_ok("[\"re_match\", \"s\", \"tail$\"]");

    qmf_map_set(values, "s", qmf_stringn("head\0tail", 9));
    cr_assert(qmf_where_eval(w, values), "an embedded NUL does not end the string");
    qmf_where_free(w);
    qmf_free(values);
}

Test(qmf_where, exists)
{
    assert_match("[\"exists\", \"name\"]");
    assert_no_match("[\"exists\", \"nope\"]");
    assert_match("[\"exists\", \"labels.tier\"]");
    assert_no_match("[\"exists\", \"labels.color\"]");
}

Test(qmf_where, missing_fields_make_comparisons_false)
{
    assert_no_match("[\"eq\", \"nope\", 1]");
    assert_no_match("[\"ne\", \"nope\", 1]");
    assert_no_match("[\"lt\", \"nope\", 1]");
    assert_no_match("[\"ge\", 1, \"nope\"]");
}

Test(qmf_where, dotted_fields_descend_into_maps)
{
    assert_match("[\"eq\", \"labels.tier\", [\"quote\", \"gold\"]]");
    assert_match("[\"eq\", \"labels.rack.row\", [\"quote\", \"r1\"]]");
    assert_match("[\"eq\", \"dotted.key\", [\"quote\", \"exact\"]]");
    assert_no_match("[\"exists\", \"labels.tier.x\"]");
    assert_no_match("[\"exists\", \"name.x\"]");
    assert_no_match("[\"exists\", \"labels.\"]");
}

Test(qmf_where, logic_nests)
{
    assert_match("[\"and\", [\"eq\", \"state\", [\"quote\", \"running\"]],"
                 " [\"or\", [\"lt\", \"memory\", 1],"
                 "          [\"not\", [\"re_match\", \"name\", \"^db\"]]]]");
    assert_no_match("[\"and\", [\"true\"], [\"false\"]]");
    assert_match("[\"or\", [\"false\"], [\"true\"]]");
    assert_no_match("[\"or\", [\"false\"], [\"false\"]]");
    assert_match("[\"not\", [\"false\"]]");
    assert_no_match("[\"not\", [\"not\", [\"false\"]]]");
    assert_match("[\"and\"]");
    assert_no_match("[\"or\"]");
}

Test(qmf_where, compile_once_evaluate_many)
{
    qmf_where *w = compile_ok("[\"and\", [\"re_match\", \"name\", \"^web-\"],"
                              " [\"ge\", \"memory\", 1048576]]");
    qmf_value *a = domain_values(), *b = domain_values();

    qmf_map_set(b, "memory", qmf_u64(1024));
    cr_assert(qmf_where_eval(w, a));
    cr_assert_not(qmf_where_eval(w, b));
    cr_assert(qmf_where_eval(w, a), "evaluation has no side effects");
    cr_assert_not(qmf_where_eval(w, NULL), "no values, no fields");
    qmf_where_free(w);
    qmf_free(a);
    qmf_free(b);
}

Test(qmf_where, amqp_typed_literals)
{
    /* From AMQP a literal may arrive with any width, or as a uuid. */
    qmf_value *expr = qmf_list(), *values = domain_values();
    qmf_error err;
    qmf_where *w;

    qmf_list_append(expr, qmf_string("eq"));
    qmf_list_append(expr, qmf_string("uuid"));
    qmf_list_append(expr, qmf_uuid(sample_uuid));
    w = qmf_where_compile(expr, &err);
    cr_assert_not_null(w, "%s", err.text);
    cr_assert(qmf_where_eval(w, values));
    qmf_where_free(w);
    qmf_free(expr);

    expr = qmf_list();
    qmf_list_append(expr, qmf_string("gt"));
    qmf_list_append(expr, qmf_string("numVcpus"));
    qmf_list_append(expr, qmf_uint(QMF_UINT8, 8));
    w = qmf_where_compile(expr, &err);
    cr_assert(qmf_where_eval(w, values));
    qmf_where_free(w);
    qmf_free(expr);
    qmf_free(values);
}

Test(qmf_where, compile_errors_say_what_and_where)
{
    assert_compile_error_v(NULL,
        "invalid _where at $: expected a predicate list, got nothing");
    assert_compile_error("\"eq\"",
        "invalid _where at $: expected a predicate list, got string");
    assert_compile_error("[]", "invalid _where at $: empty predicate list");
    assert_compile_error("[\"bogus\", 1]",
        "invalid _where at $[0]: unknown operator 'bogus'");
    assert_compile_error("[5]",
        "invalid _where at $[0]: operator must be a string, got int64");
    assert_compile_error("[\"and\", [\"eq\", \"a\"]]",
        "invalid _where at $[1]: 'eq' takes 2 operands, got 1");
    assert_compile_error("[\"and\", [\"true\"], [\"or\", [\"frob\"]]]",
        "invalid _where at $[2][1][0]: unknown operator 'frob'");
    assert_compile_error("[\"not\"]",
        "invalid _where at $: 'not' takes 1 operand, got 0");
    assert_compile_error("[\"true\", 1]",
        "invalid _where at $: 'true' takes 0 operands, got 1");
    assert_compile_error("[\"exists\", \"a\", \"b\"]",
        "invalid _where at $: 'exists' takes 1 operand, got 2");
    assert_compile_error("[\"and\", \"name\"]",
        "invalid _where at $[1]: expected a predicate list, got string");
    assert_compile_error("[\"eq\", \"a\", [\"b\"]]",
        "invalid _where at $[2]: an operand is a field name, a number, a bool "
        "or [\"quote\", value], not a list");
    assert_compile_error("[\"eq\", {}, 1]",
        "invalid _where at $[1]: an operand is a field name, a number, a bool "
        "or [\"quote\", value], not a map");
    assert_compile_error("[\"eq\", \"a\", [\"quote\"]]",
        "invalid _where at $[2]: 'quote' takes 1 operand, got 0");
    assert_compile_error("[\"exists\", 5]",
        "invalid _where at $[1]: exists needs a field name, not int64");
    assert_compile_error("[\"re_match\", \"name\", 5]",
        "invalid _where at $[2]: re_match needs a pattern string, not int64");
    assert_compile_error("[\"re_match\", \"name\", [\"x\", 1]]",
        "invalid _where at $[2]: re_match needs a pattern string, not a list");
    assert_compile_error("[\"or\", [\"not\", [\"re_match\", \"name\", [\"quote\", 7]]]]",
        "invalid _where at $[1][1][2]: re_match needs a pattern string, not int64");
}

Test(qmf_where, bad_regex_is_a_compile_error)
{
    qmf_value *expr = parse("[\"and\", [\"re_match\", \"name\", [\"quote\", \"(web\"]]]");
    qmf_error err;
    static const char want[] =
        "invalid _where at $[1][2]: re_match '(web': bad regular expression at offset 4: ";

    cr_assert_null(qmf_where_compile(expr, &err));
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    cr_assert(strncmp(err.text, want, sizeof(want) - 1) == 0 &&
              strlen(err.text) > sizeof(want) - 1, "%s", err.text);
    qmf_free(expr);
}

/* depth "not"s around ["true"], built directly: JSON would refuse it. */
static qmf_value *
nested_nots(int depth)
{
    qmf_value *top = qmf_list(), *cur = top;
    int i;

    for (i = 0; i < depth; i++) {
        qmf_list_append(cur, qmf_string("not"));
        cur = qmf_list_append(cur, qmf_list());
    }
    qmf_list_append(cur, qmf_string("true"));
    return top;
}

Test(qmf_where, nesting_is_bounded)
{
    qmf_value *ok = nested_nots(63), *deep = nested_nots(64);
    qmf_error err;
    qmf_where *w = qmf_where_compile(ok, &err);

    cr_assert_not_null(w, "%s", err.text);
    cr_assert_not(qmf_where_eval(w, NULL), "63 nots of true");
    cr_assert_null(qmf_where_compile(deep, &err));
    cr_assert(strstr(err.text, ": nested deeper than 64 levels") != NULL, "%s",
              err.text);
    qmf_where_free(w);
    qmf_free(ok);
    qmf_free(deep);
}

Test(qmf_where, in_a_list)
{
    assert_match("[\"in\", \"state\", [\"quote\", [\"shutoff\", \"running\"]]]");
    assert_no_match("[\"in\", \"state\", [\"quote\", [\"shutoff\", \"paused\"]]]");
    assert_no_match("[\"in\", \"state\", [\"quote\", []]]");
    /* eq's rules: numbers across kinds, no string equals a number. */
    assert_match("[\"in\", \"numVcpus\", [\"quote\", [1, 9.0, \"2\"]]]");
    assert_no_match("[\"in\", \"numVcpus\", [\"quote\", [\"9\"]]]");
    assert_no_match("[\"in\", \"missing\", [\"quote\", [\"running\"]]]");
    assert_compile_error("[\"in\", \"state\", [\"quote\", \"running\"]]",
        "invalid _where at $[2]: in needs a quoted list of values, [\"quote\", [...]]");
    assert_compile_error("[\"in\", \"state\", \"running\"]",
        "invalid _where at $[2]: in needs a quoted list of values, [\"quote\", [...]]");
}

/* Regexes on untrusted input ------------------------------------------------ */

/* The probe's crasher: glibc's regexec overflowed its stack on it and the
 * agent died with SIGSEGV.  Backreferences are refused at compile time. */
Test(qmf_where, backreferences_are_refused)
{
    assert_compile_error("[\"re_match\", \"name\", \"(|)(\\\\1\\\\1)*\"]",
                         "invalid _where at $[2]: re_match '(|)(\\1\\1)*': bad regular "
                         "expression: backreferences are not supported");
    assert_compile_error("[\"re_match\", \"name\", \"(?<n>a)\\\\k<n>\"]",
                         "invalid _where at $[2]: re_match '(?<n>a)\\k<n>': bad regular "
                         "expression: backreferences are not supported");
    assert_compile_error("[\"re_match\", \"name\", \"(?P<n>a)(?P=n)\"]",
                         "invalid _where at $[2]: re_match '(?P<n>a)(?P=n)': bad regular "
                         "expression: backreferences are not supported");
}

/* A match that reaches PCRE2's limit is an error, and "not" of it is the
 * same error: it must never turn into a selection. */
Test(qmf_where, a_match_over_its_limit_is_an_error_not_a_false)
{
    qmf_value *values = qmf_map();
    qmf_where *w = compile_ok("[\"re_match\", \"s\", \"^(a|aa)+$\"]");
    qmf_where *nw = compile_ok("[\"not\", [\"re_match\", \"s\", \"^(a|aa)+$\"]]");
    qmf_where *ow = compile_ok("[\"or\", [\"true\"], [\"re_match\", \"s\", \"^(a|aa)+$\"]]");
    qmf_error err;
    char subject[64];

    memset(subject, 'a', 60);
    subject[60] = 'b';
    qmf_map_set(values, "s", qmf_stringn(subject, 61));
    cr_assert_eq(qmf_where_test(w, values, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    cr_assert(strstr(err.text, "match limit (100000 steps)") != NULL, "%s", err.text);
    cr_assert_eq(qmf_where_test(nw, values, &err), -1, "not of an error is an error");
    cr_assert_not(qmf_where_eval(nw, values), "and no match where only a bool is asked");
    cr_assert_eq(qmf_where_test(ow, values, &err), 1, "or stops at its first true operand");
    /* The same pattern on a short subject is an ordinary answer. */
    qmf_map_set(values, "s", qmf_string("aaab"));
    cr_assert_eq(qmf_where_test(w, values, &err), 0);
    cr_assert_eq(qmf_where_test(nw, values, &err), 1);
    qmf_where_free(w);
    qmf_where_free(nw);
    qmf_where_free(ow);
    qmf_free(values);
}

/* a{1,32767} took glibc 8.4 GB; PCRE2 compiles it into one bounded repeat. */
Test(qmf_where, large_counted_repeats_stay_small)
{
    assert_match("[\"re_match\", \"name\", \"^[a-z]{1,32767}-1\"]");
    assert_no_match("[\"re_match\", \"name\", \"a{1,32767}\"]");
}

Test(qmf_where, regex_limits_are_named)
{
    char pattern[1100], *json;
    qmf_value *expr;
    qmf_error err;
    int i;

    memset(pattern, 'x', 1025);
    pattern[1025] = '\0';
    json = qmf_xasprintf("[\"re_match\", \"name\", \"%s\"]", pattern);
    expr = parse(json);
    cr_assert_null(qmf_where_compile(expr, &err));
    cr_assert(strstr(err.text, "regular expression of 1025 bytes is over the limit of 1024"),
              "%s", err.text);
    qmf_free(expr);
    free(json);

    /* At most 16 regexes in one predicate. */
    expr = qmf_list();
    qmf_list_append(expr, qmf_string("or"));
    for (i = 0; i < 17; i++) {
        qmf_value *m = qmf_list_append(expr, qmf_list());

        qmf_list_append(m, qmf_string("re_match"));
        qmf_list_append(m, qmf_string("name"));
        qmf_list_append(m, qmf_string("^web"));
    }
    cr_assert_null(qmf_where_compile(expr, &err));
    cr_assert_str_eq(err.text, "invalid _where at $[17][2]: more than 16 re_match operators");
    qmf_free(expr);

    /* Not text: a pattern with invalid UTF-8. */
    expr = qmf_list();
    qmf_list_append(expr, qmf_string("re_match"));
    qmf_list_append(expr, qmf_string("name"));
    qmf_list_append(expr, qmf_stringn("\xff", 1));
    cr_assert_null(qmf_where_compile(expr, &err));
    cr_assert(strstr(err.text, "not valid UTF-8") != NULL, "%s", err.text);
    qmf_free(expr);
}

/* PCRE2's dialect: what POSIX ERE lacked works, and nothing in the subject
 * breaks matching (an invalid sequence only fails to match). */
Test(qmf_where, pcre2_dialect)
{
    qmf_value *values = qmf_map();
    qmf_where *w = compile_ok("[\"re_match\", \"s\", \"^\\\\w+-\\\\d+$\"]");

    qmf_map_set(values, "s", qmf_string("web-10"));
    cr_assert(qmf_where_eval(w, values));
    qmf_map_set(values, "s", qmf_stringn("web\xff-10", 7));
    cr_assert_not(qmf_where_eval(w, values));
    qmf_where_free(w);
    qmf_free(values);
}
