/*
 * Unit tests for the --where/--if expression compiler: the QMF lists it
 * builds, its errors and their columns, and above all that what it builds
 * evaluates as the text says (compiled with qmf_where_compile() and run
 * against sample _values, as an agent would).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "controller/lib/expr.h"
#include "core/codec.h"
#include "core/where.h"
#include "schema/schema.h"

/* ---- Helpers ------------------------------------------------------------ */

static struct schema *
load_schema(void)
{
    qmf_error err;
    struct schema *s = schema_load_builtin(&err);

    cr_assert_not_null(s, "schema: %s", err.text);
    return s;
}

static const struct schema_class *
find_class(const struct schema *s, const char *name)
{
    const struct schema_class *c;

    if (name == NULL)
        return NULL;
    c = schema_find_class(s, name);
    cr_assert_not_null(c, "no class %s in the schema", name);
    return c;
}

/* text compiled against class_name (NULL: no class); fails the test on error. */
static qmf_value *
compile_ok(const char *text, const char *class_name)
{
    struct schema *s = load_schema();
    qmf_error err;
    qmf_value *v = virtbus_expr_compile(text, find_class(s, class_name), &err);

    cr_assert_not_null(v, "'%s' did not compile: %s", text, err.text);
    schema_free(s);
    return v;
}

static void
assert_compiles_to(const char *text, const char *class_name, const char *json)
{
    qmf_error err;
    qmf_value *got = compile_ok(text, class_name);
    qmf_value *want = qmf_from_json(json, strlen(json), &err);
    char *got_json = qmf_to_json(got, NULL);

    cr_assert_not_null(want, "bad expected JSON %s: %s", json, err.text);
    cr_assert(qmf_equal(got, want), "'%s' compiled to %s, expected %s",
              text, got_json, json);
    free(got_json);
    qmf_free(got);
    qmf_free(want);
}

#define assert_where(text, json) assert_compiles_to(text, NULL, json)

static void
assert_error(const char *text, const char *class_name, const char *want)
{
    struct schema *s = load_schema();
    qmf_error err;
    qmf_value *v = virtbus_expr_compile(text, find_class(s, class_name), &err);
    char *json = v != NULL ? qmf_to_json(v, NULL) : NULL;

    cr_assert_null(v, "'%s' compiled to %s; expected error: %s", text, json, want);
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS, "'%s': code %u", text, err.code);
    cr_assert_str_eq(err.text, want, "'%s'", text);
    schema_free(s);
}

#define assert_syntax_error(text, want) assert_error(text, NULL, want)

/* A Domain's _values as an agent publishes them. */
static qmf_value *
domain_values(const char *name)
{
    qmf_value *v = qmf_map();

    qmf_map_set(v, "uuid", qmf_string("10000000-0000-4000-8000-000000000001"));
    qmf_map_set(v, "name", qmf_string(name));
    qmf_map_set(v, "state", qmf_string("running"));
    qmf_map_set(v, "id", qmf_i32(3));
    qmf_map_set(v, "numVcpus", qmf_u32(4));
    qmf_map_set(v, "active", qmf_bool(true));
    qmf_map_set(v, "persistent", qmf_bool(false));
    qmf_map_set(v, "memory", qmf_u64(1048576));          /* 1 GiB in KiB */
    qmf_map_set(v, "maximumMemory", qmf_u64(2097152));
    qmf_map_set(v, "cpuTime", qmf_u64(UINT64_C(5000000000)));
    qmf_map_set(v, "osType", qmf_string("hvm"));
    return v;
}

/* A Node's _values; tier (if not NULL) and rack-row are its labels. */
static qmf_value *
node_values(const char *hypervisor, uint64_t memory_kib, const char *tier)
{
    qmf_value *v = qmf_map(), *labels;

    qmf_map_set(v, "hostname", qmf_string("node1"));
    qmf_map_set(v, "hypervisorType", qmf_string(hypervisor));
    qmf_map_set(v, "memory", qmf_u64(memory_kib));
    qmf_map_set(v, "cpus", qmf_u32(16));
    labels = qmf_map_set(v, "labels", qmf_map());
    if (tier != NULL)
        qmf_map_set(labels, "tier", qmf_string(tier));
    qmf_map_set(labels, "rack-row", qmf_string("r1"));
    return v;
}

static qmf_value *
pool_values(uint64_t capacity)
{
    qmf_value *v = qmf_map();

    qmf_map_set(v, "name", qmf_string("default"));
    qmf_map_set(v, "state", qmf_string("running"));
    qmf_map_set(v, "capacity", qmf_u64(capacity));
    return v;
}

/* Compiles text, then the QMF predicate as an agent would, then evaluates. */
static bool
eval_on(const char *text, const char *class_name, const qmf_value *values)
{
    qmf_value *pred = compile_ok(text, class_name);
    qmf_error err;
    qmf_where *w = qmf_where_compile(pred, &err);
    bool r;

    cr_assert_not_null(w, "'%s': the agent side refused it: %s", text, err.text);
    r = qmf_where_eval(w, values);
    qmf_where_free(w);
    qmf_free(pred);
    return r;
}

/* On a Domain named batch-01, with the class. */
static bool
on_domain(const char *text)
{
    qmf_value *v = domain_values("batch-01");
    bool r = eval_on(text, "Domain", v);

    qmf_free(v);
    return r;
}

#define assert_true_on_domain(text) cr_assert(on_domain(text), "'%s' should match", text)
#define assert_false_on_domain(text) cr_assert_not(on_domain(text), "'%s' should not match", text)

/* ---- Shapes: every operator and form ------------------------------------ */

Test(expr, comparison_operators)
{
    assert_where("state == \"running\"", "[\"eq\", \"state\", [\"quote\", \"running\"]]");
    assert_where("state = \"running\"", "[\"eq\", \"state\", [\"quote\", \"running\"]]");
    assert_where("state != \"running\"", "[\"ne\", \"state\", [\"quote\", \"running\"]]");
    assert_where("numVcpus < 4", "[\"lt\", \"numVcpus\", 4]");
    assert_where("numVcpus <= 4", "[\"le\", \"numVcpus\", 4]");
    assert_where("numVcpus > 4", "[\"gt\", \"numVcpus\", 4]");
    assert_where("numVcpus >= 4", "[\"ge\", \"numVcpus\", 4]");
    assert_where("name =~ \"^batch-\"", "[\"re_match\", \"name\", [\"quote\", \"^batch-\"]]");
    assert_where("name !~ \"^batch-\"",
                 "[\"not\", [\"re_match\", \"name\", [\"quote\", \"^batch-\"]]]");
    /* No spaces needed around operators. */
    assert_where("numVcpus>=4", "[\"ge\", \"numVcpus\", 4]");
    assert_where("state==\"x\"", "[\"eq\", \"state\", [\"quote\", \"x\"]]");
}

Test(expr, exists_and_constants)
{
    assert_where("exists labels.legacy", "[\"exists\", \"labels.legacy\"]");
    assert_where("exists(labels.legacy)", "[\"exists\", \"labels.legacy\"]");
    assert_where("EXISTS ( path )", "[\"exists\", \"path\"]");
    assert_where("true", "[\"true\"]");
    assert_where("false", "[\"false\"]");
    assert_where("TRUE", "[\"true\"]");
    assert_where("not false", "[\"not\", [\"false\"]]");
}

Test(expr, boolean_literals_as_values)
{
    assert_where("active == true", "[\"eq\", \"active\", true]");
    assert_where("active != False", "[\"ne\", \"active\", false]");
    assert_where("true == active", "[\"eq\", \"active\", true]");
}

Test(expr, logical_words_and_symbols)
{
    const char *want = "[\"and\", [\"eq\", \"a\", 1], [\"eq\", \"b\", 2]]";

    assert_where("a == 1 and b == 2", want);
    assert_where("a == 1 AND b == 2", want);
    assert_where("a == 1 And b == 2", want);
    assert_where("a == 1 && b == 2", want);
    assert_where("a == 1 or b == 2", "[\"or\", [\"eq\", \"a\", 1], [\"eq\", \"b\", 2]]");
    assert_where("a == 1 || b == 2", "[\"or\", [\"eq\", \"a\", 1], [\"eq\", \"b\", 2]]");
    assert_where("a == 1 OR b == 2", "[\"or\", [\"eq\", \"a\", 1], [\"eq\", \"b\", 2]]");
    assert_where("not a == 1", "[\"not\", [\"eq\", \"a\", 1]]");
    assert_where("NOT a == 1", "[\"not\", [\"eq\", \"a\", 1]]");
    assert_where("!a == 1", "[\"not\", [\"eq\", \"a\", 1]]");
    assert_where("! exists a", "[\"not\", [\"exists\", \"a\"]]");
    assert_where("not not a == 1", "[\"not\", [\"not\", [\"eq\", \"a\", 1]]]");
}

Test(expr, precedence)
{
    /* and binds tighter than or, on either side. */
    assert_where("a == 1 or b == 2 and c == 3",
                 "[\"or\", [\"eq\", \"a\", 1], [\"and\", [\"eq\", \"b\", 2], [\"eq\", \"c\", 3]]]");
    assert_where("a == 1 and b == 2 or c == 3",
                 "[\"or\", [\"and\", [\"eq\", \"a\", 1], [\"eq\", \"b\", 2]], [\"eq\", \"c\", 3]]");
    /* not binds tightest. */
    assert_where("not a == 1 and b == 2",
                 "[\"and\", [\"not\", [\"eq\", \"a\", 1]], [\"eq\", \"b\", 2]]");
    assert_where("not a == 1 or not b == 2",
                 "[\"or\", [\"not\", [\"eq\", \"a\", 1]], [\"not\", [\"eq\", \"b\", 2]]]");
}

Test(expr, parentheses)
{
    assert_where("(a == 1 or b == 2) and c == 3",
                 "[\"and\", [\"or\", [\"eq\", \"a\", 1], [\"eq\", \"b\", 2]], [\"eq\", \"c\", 3]]");
    assert_where("not (a == 1 and b == 2)",
                 "[\"not\", [\"and\", [\"eq\", \"a\", 1], [\"eq\", \"b\", 2]]]");
    assert_where("((a == 1))", "[\"eq\", \"a\", 1]");
    assert_where("not (labels.tier == \"db\" or exists labels.legacy)",
                 "[\"not\", [\"or\", [\"eq\", \"labels.tier\", [\"quote\", \"db\"]],"
                 " [\"exists\", \"labels.legacy\"]]]");
}

Test(expr, chains_are_flattened)
{
    assert_where("a == 1 and b == 2 and c == 3",
                 "[\"and\", [\"eq\", \"a\", 1], [\"eq\", \"b\", 2], [\"eq\", \"c\", 3]]");
    assert_where("(a == 1 and b == 2) and (c == 3 and d == 4)",
                 "[\"and\", [\"eq\", \"a\", 1], [\"eq\", \"b\", 2], [\"eq\", \"c\", 3],"
                 " [\"eq\", \"d\", 4]]");
    assert_where("a == 1 or (b == 2 or c == 3)",
                 "[\"or\", [\"eq\", \"a\", 1], [\"eq\", \"b\", 2], [\"eq\", \"c\", 3]]");
    /* Different operators are not merged. */
    assert_where("a == 1 and (b == 2 or c == 3)",
                 "[\"and\", [\"eq\", \"a\", 1], [\"or\", [\"eq\", \"b\", 2], [\"eq\", \"c\", 3]]]");
}

Test(expr, either_side_may_be_the_field)
{
    assert_where("5 < numVcpus", "[\"gt\", \"numVcpus\", 5]");
    assert_where("5 <= numVcpus", "[\"ge\", \"numVcpus\", 5]");
    assert_where("5 > numVcpus", "[\"lt\", \"numVcpus\", 5]");
    assert_where("5 >= numVcpus", "[\"le\", \"numVcpus\", 5]");
    assert_where("5 == numVcpus", "[\"eq\", \"numVcpus\", 5]");
    assert_where("5 != numVcpus", "[\"ne\", \"numVcpus\", 5]");
    assert_where("\"running\" == state", "[\"eq\", \"state\", [\"quote\", \"running\"]]");
    assert_where("64G < memory", "[\"gt\", \"memory\", 68719476736]");
    /* Two fields stay two fields. */
    assert_where("memory < maximumMemory", "[\"lt\", \"memory\", \"maximumMemory\"]");
}

Test(expr, field_names)
{
    assert_where("labels.tier == \"db\"", "[\"eq\", \"labels.tier\", [\"quote\", \"db\"]]");
    assert_where("labels.rack-row == \"r1\"", "[\"eq\", \"labels.rack-row\", [\"quote\", \"r1\"]]");
    assert_where("_object_name == \"x\"", "[\"eq\", \"_object_name\", [\"quote\", \"x\"]]");
    assert_where("a.b.c_9 == 1", "[\"eq\", \"a.b.c_9\", 1]");
    /* A keyword inside a dotted name is just part of the name. */
    assert_where("labels.not == 1", "[\"eq\", \"labels.not\", 1]");
    /* A minus right after a field starts no number: it belongs to the name. */
    assert_where("x-1 == 2", "[\"eq\", \"x-1\", 2]");
    assert_where("id>-1", "[\"gt\", \"id\", -1]");
}

Test(expr, strings_and_escapes)
{
    assert_where("name == 'web'", "[\"eq\", \"name\", [\"quote\", \"web\"]]");
    assert_where("name == 'say \"hi\"'", "[\"eq\", \"name\", [\"quote\", \"say \\\"hi\\\"\"]]");
    assert_where("name == \"it's\"", "[\"eq\", \"name\", [\"quote\", \"it's\"]]");
    assert_where("name == 'it\\'s'", "[\"eq\", \"name\", [\"quote\", \"it's\"]]");
    assert_where("name == \"a\\\"b\"", "[\"eq\", \"name\", [\"quote\", \"a\\\"b\"]]");
    assert_where("name == \"back\\\\slash\"", "[\"eq\", \"name\", [\"quote\", \"back\\\\slash\"]]");
    assert_where("name == \"t\\tn\\nr\\r\"", "[\"eq\", \"name\", [\"quote\", \"t\\tn\\nr\\r\"]]");
    /* Other backslashes stay, so regular expressions read as usual. */
    assert_where("name =~ \"^web\\.[0-9]+$\"",
                 "[\"re_match\", \"name\", [\"quote\", \"^web\\\\.[0-9]+$\"]]");
    assert_where("name == \"\"", "[\"eq\", \"name\", [\"quote\", \"\"]]");
    assert_where("name == \"h\xc3\xa9\"", "[\"eq\", \"name\", [\"quote\", \"h\xc3\xa9\"]]");
    /* Keywords and operators inside strings are text. */
    assert_where("name == \"a and b == (c)\"",
                 "[\"eq\", \"name\", [\"quote\", \"a and b == (c)\"]]");
}

Test(expr, numbers)
{
    assert_where("x == 0", "[\"eq\", \"x\", 0]");
    assert_where("x == 007", "[\"eq\", \"x\", 7]");
    assert_where("x == -42", "[\"eq\", \"x\", -42]");
    assert_where("x == 0.75", "[\"eq\", \"x\", 0.75]");
    assert_where("x == -2.5", "[\"eq\", \"x\", -2.5]");
    assert_where("x == 1.0", "[\"eq\", \"x\", 1.0]");
    assert_where("x == 9223372036854775807", "[\"eq\", \"x\", 9223372036854775807]");
    assert_where("x == 18446744073709551615", "[\"eq\", \"x\", 18446744073709551615]");
    assert_where("x == -9223372036854775808", "[\"eq\", \"x\", -9223372036854775808]");
}

Test(expr, number_kinds)
{
    qmf_value *v = compile_ok("x == 18446744073709551615 or x == -1 or x == 0.5", NULL);

    cr_assert_eq(qmf_list_at(qmf_list_at(v, 1), 2)->kind, QMF_UINT64);
    cr_assert_eq(qmf_list_at(qmf_list_at(v, 2), 2)->kind, QMF_INT64);
    cr_assert_eq(qmf_list_at(qmf_list_at(v, 3), 2)->kind, QMF_DOUBLE);
    qmf_free(v);
}

Test(expr, whitespace)
{
    assert_where("\t state\n==\r\n\"x\"  ", "[\"eq\", \"state\", [\"quote\", \"x\"]]");
}

/* ---- Size literals -------------------------------------------------------- */

Test(expr, sizes_without_a_class_are_bytes)
{
    assert_where("x > 64G", "[\"gt\", \"x\", 68719476736]");
    assert_where("x > 64g", "[\"gt\", \"x\", 68719476736]");
    assert_where("x > 64GiB", "[\"gt\", \"x\", 68719476736]");
    assert_where("x > 64gib", "[\"gt\", \"x\", 68719476736]");
    assert_where("x > 64GB", "[\"gt\", \"x\", 64000000000]");
    assert_where("x > 1K", "[\"gt\", \"x\", 1024]");
    assert_where("x > 1KiB", "[\"gt\", \"x\", 1024]");
    assert_where("x > 1KB", "[\"gt\", \"x\", 1000]");
    assert_where("x > 3M", "[\"gt\", \"x\", 3145728]");
    assert_where("x > 3MB", "[\"gt\", \"x\", 3000000]");
    assert_where("x > 2T", "[\"gt\", \"x\", 2199023255552]");
    assert_where("x > 2TB", "[\"gt\", \"x\", 2000000000000]");
    assert_where("x > 1P", "[\"gt\", \"x\", 1125899906842624]");
    assert_where("x > 1PB", "[\"gt\", \"x\", 1000000000000000]");
    assert_where("x > 512B", "[\"gt\", \"x\", 512]");
    assert_where("x > 1.5K", "[\"gt\", \"x\", 1536]");
    assert_where("x > 1.5G", "[\"gt\", \"x\", 1610612736]");
    assert_where("x > 0.5KB", "[\"gt\", \"x\", 500]");
    assert_where("x > 1.250000K", "[\"gt\", \"x\", 1280]");
    assert_where("x > 0K", "[\"gt\", \"x\", 0]");
    assert_where("x > 15P", "[\"gt\", \"x\", 16888498602639360]");
}

Test(expr, sizes_take_the_unit_of_the_field)
{
    /* Domain.memory and Node.memory are in KiB. */
    assert_compiles_to("memory > 64G", "Domain", "[\"gt\", \"memory\", 67108864]");
    assert_compiles_to("hypervisorType == \"QEMU\" and memory > 64G", "Node",
                       "[\"and\", [\"eq\", \"hypervisorType\", [\"quote\", \"QEMU\"]],"
                       " [\"gt\", \"memory\", 67108864]]");
    assert_compiles_to("64G < memory", "Node", "[\"gt\", \"memory\", 67108864]");
    assert_compiles_to("memory >= 1.5M", "Domain", "[\"ge\", \"memory\", 1536]");
    assert_compiles_to("memory > 2048KB", "Domain", "[\"gt\", \"memory\", 2000]");
}

Test(expr, sizes_take_the_unit_of_the_field_bytes)
{
    /* Pool.capacity and Volume.allocation are in bytes. */
    assert_compiles_to("capacity > 1G", "Pool", "[\"gt\", \"capacity\", 1073741824]");
    assert_compiles_to("allocation < 100MB", "Volume", "[\"lt\", \"allocation\", 100000000]");
    /* No unit: bytes too. */
    assert_compiles_to("numVcpus < 1K", "Domain", "[\"lt\", \"numVcpus\", 1024]");
    /* Inside a map nobody knows the unit: bytes. */
    assert_compiles_to("labels.disk > 1K", "Node", "[\"gt\", \"labels.disk\", 1024]");
    /* Plain numbers are already in the field's unit. */
    assert_compiles_to("memory > 1048576", "Domain", "[\"gt\", \"memory\", 1048576]");
}

/* ---- Errors with a class ------------------------------------------------ */

Test(expr, unknown_properties)
{
    assert_error("stat == \"running\"", "Domain", "column 1: unknown property 'stat' of Domain");
    assert_error("state == \"running\" and memry > 1G", "Domain",
                 "column 24: unknown property 'memry' of Domain");
    assert_error("exists stat", "Domain", "column 8: unknown property 'stat' of Domain");
    assert_error("labelz.tier == \"db\"", "Node", "column 1: unknown property 'labelz' of Node");
    assert_error("5 < numVcpu", "Domain", "column 5: unknown property 'numVcpu' of Domain");
    assert_error("name =~ \"^x\" or nme !~ \"y\"", "Domain",
                 "column 17: unknown property 'nme' of Domain");
    /* A forgotten pair of quotes reads as a field; the error says so. */
    assert_error("state == running", "Domain",
                 "column 10: unknown property 'running' of Domain "
                 "(a string value is written in quotes)");
}

Test(expr, dotted_names_need_a_map)
{
    assert_compiles_to("labels.tier == \"db\"", "Node",
                       "[\"eq\", \"labels.tier\", [\"quote\", \"db\"]]");
    assert_compiles_to("node._agent_name == \"a\"", "Domain",
                       "[\"eq\", \"node._agent_name\", [\"quote\", \"a\"]]");
    assert_compiles_to("exists labels.legacy", "Node", "[\"exists\", \"labels.legacy\"]");
    /* Domains have no labels. */
    assert_error("labels.tier == \"db\"", "Domain",
                 "column 1: unknown property 'labels' of Domain");
    assert_error("state.x == 1", "Domain",
                 "column 1: state is a string, not a map, so 'state.x' names nothing");
}

Test(expr, type_errors)
{
    assert_error("state == 5", "Domain", "column 10: state is a string, not a number");
    assert_error("5 == state", "Domain", "column 1: state is a string, not a number");
    assert_error("state == true", "Domain", "column 10: state is a string, not a bool");
    assert_error("memory == \"1G\"", "Domain", "column 11: memory is a number, not a string");
    assert_error("memory != false", "Domain", "column 11: memory is a number, not a bool");
    assert_error("active == \"yes\"", "Domain", "column 11: active is a bool, not a string");
    assert_error("active == 1", "Domain", "column 11: active is a bool, not a number");
    assert_error("labels == \"db\"", "Node",
                 "column 11: labels is a map; compare one of its keys, as in labels.KEY");
    assert_error("memory == state", "Domain",
                 "column 11: memory is a number, but state is a string");
    assert_error("active < persistent", "Domain", "column 8: only == and != compare bools");
    assert_error("memory =~ \"^1\"", "Domain",
                 "column 8: =~ matches strings only; memory is a number");
    assert_error("active !~ \"t\"", "Domain",
                 "column 8: !~ matches strings only; active is a bool");
    /* Same syntax, no class: nothing to check against. */
    assert_where("state == 5", "[\"eq\", \"state\", 5]");
    assert_where("memory =~ \"^1\"", "[\"re_match\", \"memory\", [\"quote\", \"^1\"]]");
}

Test(expr, size_errors)
{
    assert_error("state == 1G", "Domain", "column 10: state is a string, not a number");
    assert_error("memory > 1000B", "Domain",
                 "column 10: 1000 bytes is not a whole number of KiB (the unit of memory)");
    assert_error("memory > 1KB", "Domain",
                 "column 10: 1000 bytes is not a whole number of KiB (the unit of memory)");
    assert_error("cpuTime > 1G", "Domain", "column 11: cpuTime is in ns, not a size");
    assert_error("mhz > 1K", "Node", "column 7: mhz is in MHz, not a size");
}

/* ---- Syntax errors and their columns ------------------------------------ */

Test(expr, errors_point_at_the_column)
{
    assert_syntax_error("state ==", "column 9: expected a value after '==', found end of input");
    assert_syntax_error("numVcpus > 2 and state ==",
                        "column 26: expected a value after '==', found end of input");
    assert_syntax_error("state == and", "column 10: expected a value after '==', found 'and'");
    assert_syntax_error("x = = 1", "column 5: expected a value after '=', found '='");
    assert_syntax_error("name =~ \"abc", "column 9: unterminated string");
    assert_syntax_error("name == 'abc\\'", "column 9: unterminated string");
    assert_syntax_error("name == \"abc\\", "column 9: unterminated string");
    assert_syntax_error("", "column 1: empty expression");
    assert_syntax_error("   ", "column 4: empty expression");
    assert_syntax_error("state == \"a\" and",
                        "column 17: expected a predicate after 'and', found end of input");
    assert_syntax_error("state == \"a\" or or b == 1",
                        "column 17: expected a predicate after 'or', found 'or'");
    assert_syntax_error("not", "column 4: expected a predicate after 'not', found end of input");
    assert_syntax_error(")", "column 1: expected a predicate, found ')'");
    assert_syntax_error("== 1", "column 1: expected a predicate, found '=='");
    assert_syntax_error("(state == \"a\"",
                        "column 14: expected ')' to close the '(' at column 1, found end of input");
    assert_syntax_error("a == 1 and (b == 2 or (c == 3)",
                        "column 31: expected ')' to close the '(' at column 12, "
                        "found end of input");
    assert_syntax_error("state == \"a\")", "column 13: unexpected ')' with no '(' to close");
    assert_syntax_error("()", "column 2: expected a predicate after '(', found ')'");
    assert_syntax_error("state \"a\"",
                        "column 7: expected a comparison operator after 'state', found '\"a\"'");
    assert_syntax_error("active",
                        "column 7: expected a comparison operator after 'active', "
                        "found end of input");
    assert_syntax_error("5",
                        "column 2: expected a comparison operator after '5', found end of input");
    assert_syntax_error("state == \"a\" name == \"b\"",
                        "column 14: expected 'and', 'or' or the end after '\"a\"', found 'name'");
    assert_syntax_error("a == 1 b",
                        "column 8: expected 'and', 'or' or the end after '1', found 'b'");
    assert_syntax_error("a == 1 & b == 2", "column 8: unexpected '&'; did you mean '&&'?");
    assert_syntax_error("a == 1 | b == 2", "column 8: unexpected '|'; did you mean '||'?");
    assert_syntax_error("state == #", "column 10: unexpected character '#'");
    assert_syntax_error("a == 1 and b ~ 2", "column 14: unexpected character '~'");
    assert_syntax_error("a == -x", "column 6: unexpected character '-'");
    assert_syntax_error("a == \x01", "column 6: unexpected control character \\x01");
    assert_syntax_error("exists",
                        "column 7: expected a field name after 'exists', found end of input");
    assert_syntax_error("exists \"a\"",
                        "column 8: expected a field name after 'exists', found '\"a\"'");
    assert_syntax_error("exists (a",
                        "column 10: expected ')' to close the '(' at column 8, found end of input");
    assert_syntax_error("labels. == 1",
                        "column 1: field name 'labels.' has an empty part after a dot");
    assert_syntax_error("a..b == 1", "column 1: field name 'a..b' has an empty part after a dot");
}

Test(expr, columns_count_characters_not_bytes)
{
    /* é is two bytes; the caret must still land under the second one. */
    assert_syntax_error("x == \"\xc3\xa9\" or \xc3\xa9",
                        "column 13: unexpected character '\xc3\xa9'");
    assert_syntax_error("\xc3\xa9\xc3\xa9 == 1", "column 1: unexpected character '\xc3\xa9'");
}

Test(expr, value_errors)
{
    assert_syntax_error("\"a\" == \"b\"",
                        "column 1: both sides are values; a field name is written without quotes");
    assert_syntax_error("1 < 2",
                        "column 1: both sides are values; a field name is written without quotes");
    assert_syntax_error("\"^x\" =~ name", "column 1: =~ needs a field on its left");
    assert_syntax_error("name =~ 5", "column 9: =~ needs a pattern in quotes on its right");
    assert_syntax_error("name !~ other", "column 9: !~ needs a pattern in quotes on its right");
    assert_syntax_error("active < true", "column 8: only == and != compare bools");
    assert_syntax_error("false >= active", "column 7: only == and != compare bools");
}

Test(expr, bad_regular_expressions)
{
    qmf_error err;
    qmf_value *v = virtbus_expr_compile("state == \"a\" and name =~ \"web(\"", NULL, &err);

    cr_assert_null(v);
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    cr_assert(strncmp(err.text, "column 26: bad regular expression at offset 4: ", 47) == 0,
              "%s", err.text);
}

Test(expr, number_errors)
{
    assert_syntax_error("x == 1.2.3", "column 6: malformed number '1.2.3'");
    assert_syntax_error("x == 5.", "column 6: malformed number '5.'");
    assert_syntax_error("x == 1G5", "column 6: malformed number '1G5'");
    assert_syntax_error("x == 5_000", "column 6: malformed number '5_000'");
    assert_syntax_error("x == 18446744073709551616",
                        "column 6: number '18446744073709551616' is out of range");
    assert_syntax_error("x == -9223372036854775809",
                        "column 6: number '-9223372036854775809' is out of range");
    assert_syntax_error("x == 1.23456789012345678",
                        "column 6: number '1.23456789012345678' has more digits than "
                        "a double holds exactly");
    assert_syntax_error("x == 1Q",
                        "column 7: unknown size suffix 'Q' (K, M, G, T, P or KiB ... PiB "
                        "for 1024s, KB ... PB for 1000s)");
    assert_syntax_error("x == 5and y == 1",
                        "column 7: unknown size suffix 'and' (K, M, G, T, P or KiB ... PiB "
                        "for 1024s, KB ... PB for 1000s)");
    assert_syntax_error("x == -1G", "column 6: a size cannot be negative");
    assert_syntax_error("x == 1.3K", "column 6: size '1.3K' is not a whole number of bytes");
    assert_syntax_error("x == 0.1B", "column 6: size '0.1B' is not a whole number of bytes");
    assert_syntax_error("x == 16384P", "column 6: size '16384P' is out of range");
    assert_syntax_error("x == 0.00000000000000000001K",
                        "column 6: size '0.00000000000000000001K' has too many decimals");
}

Test(expr, long_tokens_are_cut_in_messages)
{
    assert_syntax_error("a == 1 bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                        "column 8: expected 'and', 'or' or the end after '1', "
                        "found 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'");
}

/* 60 levels of parentheses, each a list of its own (and, or, and, ...),
 * plus the comparison inside: the deepest predicate the parser takes. */
static char *
deepest_text(void)
{
    char *text = qmf_xcalloc(1, 2048);
    int i;

    for (i = 0; i < 60; i++)
        strcat(text, i % 2 ? "id == 3 or (" : "id == 3 and (");
    strcat(text, "id == 3 and id == 3");
    for (i = 0; i < 60; i++)
        strcat(text, ")");
    return text;
}

Test(expr, nesting_is_bounded_and_agents_accept_the_deepest)
{
    char *text = deepest_text(), *deeper;
    qmf_value *v, *values = domain_values("x");
    qmf_error err;
    qmf_where *w;

    v = virtbus_expr_compile(text, NULL, &err);
    cr_assert_not_null(v, "%s", err.text);
    w = qmf_where_compile(v, &err);
    cr_assert_not_null(w, "the agent refused the deepest expression: %s", err.text);
    cr_assert(qmf_where_eval(w, values));
    qmf_where_free(w);
    qmf_free(v);

    /* One more level, by a parenthesis or a not, is refused where it starts. */
    deeper = qmf_xasprintf("(%s)", text);
    cr_assert_null(virtbus_expr_compile(deeper, NULL, &err));
    cr_assert_str_eq(err.text, "column 751: nested deeper than 60 levels");
    free(deeper);
    deeper = qmf_xasprintf("%.750snot %s", text, text + 750);  /* at the innermost */
    cr_assert_null(virtbus_expr_compile(deeper, NULL, &err));
    cr_assert_str_eq(err.text, "column 751: nested deeper than 60 levels");
    free(deeper);

    /* 60 nots are fine too, and an even number of them cancel out. */
    free(text);
    text = qmf_xcalloc(1, 512);
    for (int i = 0; i < 60; i++)
        strcat(text, "not ");
    strcat(text, "id == 3");
    cr_assert(eval_on(text, NULL, values));
    free(text);
    qmf_free(values);
}

Test(expr, null_text_and_null_error)
{
    cr_assert_null(virtbus_expr_compile(NULL, NULL, NULL));
    cr_assert_null(virtbus_expr_compile("state ==", NULL, NULL));
}

/* ---- Error helpers ------------------------------------------------------ */

Test(expr, error_column)
{
    qmf_error err;

    cr_assert_null(virtbus_expr_compile("state == \"a\" and", NULL, &err));
    cr_assert_eq(virtbus_expr_error_column(&err), 17);
    qmf_error_set(&err, QMF_ERR_INVALID_ARGS, "something else");
    cr_assert_eq(virtbus_expr_error_column(&err), 0);
    qmf_error_set(&err, QMF_ERR_INVALID_ARGS, "column x: no");
    cr_assert_eq(virtbus_expr_error_column(&err), 0);
    cr_assert_eq(virtbus_expr_error_column(NULL), 0);
}

Test(expr, caret)
{
    char buf[128];

    cr_assert_eq(virtbus_expr_caret("state ==", 9, buf, sizeof(buf)), 23);
    cr_assert_str_eq(buf, "  state ==\n          ^\n");
    virtbus_expr_caret("stat == 1", 1, buf, sizeof(buf));
    cr_assert_str_eq(buf, "  stat == 1\n  ^\n");
    /* Tabs and newlines show as spaces; a multibyte character is one column. */
    virtbus_expr_caret("a\t\xc3\xa9\nb", 5, buf, sizeof(buf));
    cr_assert_str_eq(buf, "  a \xc3\xa9 b\n      ^\n");
    /* Columns past the end stop just after it; 0 is taken as 1. */
    virtbus_expr_caret("ab", 99, buf, sizeof(buf));
    cr_assert_str_eq(buf, "  ab\n    ^\n");
    virtbus_expr_caret("ab", 0, buf, sizeof(buf));
    cr_assert_str_eq(buf, "  ab\n  ^\n");
    /* Truncated like snprintf: NUL-terminated, the full length returned. */
    cr_assert_eq(virtbus_expr_caret("state ==", 9, buf, 6), 23);
    cr_assert_str_eq(buf, "  sta");
    cr_assert_eq(virtbus_expr_caret("state ==", 9, NULL, 0), 23);
}

/* ---- Semantics: what compiles evaluates as the text says ---------------- */

Test(expr, evaluates_the_examples)
{
    const char *batch_where = "state == \"running\" and name =~ \"^batch-\"";
    const char *not_db = "not (labels.tier == \"db\" or exists labels.legacy)";
    qmf_value *batch = domain_values("batch-01"), *web = domain_values("web-01");
    qmf_value *db = node_values("QEMU", 1048576, "db");
    qmf_value *front = node_values("QEMU", 1048576, "web");
    qmf_value *legacy = node_values("QEMU", 1048576, "web");

    cr_assert(eval_on(batch_where, "Domain", batch));
    cr_assert_not(eval_on(batch_where, "Domain", web));
    qmf_map_set(qmf_map_get(legacy, "labels"), "legacy", qmf_string("yes"));
    cr_assert_not(eval_on(not_db, "Node", db));
    cr_assert(eval_on(not_db, "Node", front));
    cr_assert_not(eval_on(not_db, "Node", legacy));
    qmf_free(batch);
    qmf_free(web);
    qmf_free(db);
    qmf_free(front);
    qmf_free(legacy);
}

Test(expr, evaluates_the_if_example_on_nodes)
{
    const char *text = "hypervisorType == \"QEMU\" and memory > 64G";
    qmf_value *big = node_values("QEMU", UINT64_C(134217728), NULL);  /* 128 GiB */
    qmf_value *exact = node_values("QEMU", UINT64_C(67108864), NULL); /* 64 GiB */
    qmf_value *xen = node_values("Xen", UINT64_C(134217728), NULL);

    cr_assert(eval_on(text, "Node", big));
    cr_assert_not(eval_on(text, "Node", exact));
    cr_assert(eval_on("memory >= 64G", "Node", exact));
    cr_assert(eval_on("memory == 64GiB", "Node", exact));
    cr_assert_not(eval_on(text, "Node", xen));
    cr_assert(eval_on("labels.rack-row == \"r1\"", "Node", xen));
    qmf_free(big);
    qmf_free(exact);
    qmf_free(xen);
}

Test(expr, evaluates_sizes_in_bytes_on_pools)
{
    qmf_value *pool = pool_values(UINT64_C(10737418240));        /* 10 GiB */

    cr_assert(eval_on("capacity > 5G", "Pool", pool));
    cr_assert(eval_on("capacity == 10G", "Pool", pool));
    cr_assert(eval_on("capacity > 10GB", "Pool", pool));          /* 10^10 < 10 GiB */
    cr_assert_not(eval_on("capacity > 11GB", "Pool", pool));
    cr_assert_not(eval_on("capacity < 10G", "Pool", pool));
    qmf_free(pool);
}

Test(expr, evaluates_memory_in_kib)
{
    assert_true_on_domain("memory > 512M");
    assert_true_on_domain("memory >= 1G");
    assert_true_on_domain("memory == 1G");
    assert_true_on_domain("memory == 1024M");
    assert_false_on_domain("memory > 1G");
    assert_true_on_domain("memory == 1048576");
    assert_true_on_domain("memory < maximumMemory");
    assert_true_on_domain("maximumMemory == 2G");
}

Test(expr, evaluates_every_operator)
{
    assert_true_on_domain("state == \"running\"");
    assert_false_on_domain("state == \"Running\"");
    assert_true_on_domain("state = 'running'");
    assert_true_on_domain("state != \"shutoff\"");
    assert_false_on_domain("state != \"running\"");
    assert_true_on_domain("numVcpus < 5");
    assert_false_on_domain("numVcpus < 4");
    assert_true_on_domain("numVcpus <= 4");
    assert_true_on_domain("numVcpus > 3");
    assert_false_on_domain("numVcpus > 4");
    assert_true_on_domain("numVcpus >= 4");
    assert_true_on_domain("numVcpus > 3.5");
    assert_false_on_domain("numVcpus > 4.5");
    assert_true_on_domain("id >= -1");
    assert_true_on_domain("name =~ \"^batch-[0-9]+$\"");
    assert_false_on_domain("name =~ \"^web\"");
    assert_true_on_domain("name !~ \"^web\"");
    assert_false_on_domain("name !~ \"batch\"");
    assert_true_on_domain("state =~ \"^(running|paused)$\"");
    assert_true_on_domain("active == true");
    assert_true_on_domain("active != false");
    assert_true_on_domain("persistent == false");
    assert_false_on_domain("active == false");
    assert_true_on_domain("exists osType");
    assert_false_on_domain("exists id and not exists name");
    assert_true_on_domain("uuid == \"10000000-0000-4000-8000-000000000001\"");
    assert_true_on_domain("true");
    assert_false_on_domain("false");
    assert_false_on_domain("not true");
}

Test(expr, evaluates_both_field_orders_alike)
{
    assert_true_on_domain("3 < numVcpus");
    assert_false_on_domain("5 < numVcpus");
    assert_true_on_domain("4 <= numVcpus");
    assert_true_on_domain("5 > numVcpus");
    assert_false_on_domain("4 > numVcpus");
    assert_true_on_domain("4 >= numVcpus");
    assert_true_on_domain("\"running\" == state");
    assert_true_on_domain("2G > memory");
    assert_true_on_domain("true == active");
}

Test(expr, evaluates_with_the_right_precedence)
{
    /* running or (x and nomatch): true; (running or x) and nomatch: false. */
    assert_true_on_domain("state == \"running\" or state == \"x\" and name == \"nomatch\"");
    assert_false_on_domain("(state == \"running\" or state == \"x\") and name == \"nomatch\"");
    /* (not running) or batch-01: true; not (running or batch-01): false. */
    assert_true_on_domain("not state == \"running\" or name == \"batch-01\"");
    assert_false_on_domain("not (state == \"running\" or name == \"batch-01\")");
    assert_true_on_domain("! state == \"x\" && name == \"batch-01\"");
    assert_true_on_domain("not not state == \"running\"");
}

Test(expr, evaluates_escaped_strings)
{
    qmf_value *v = domain_values("it's \"q\"\\x");

    cr_assert(eval_on("name == 'it\\'s \"q\"\\\\x'", "Domain", v));
    cr_assert(eval_on("name == \"it's \\\"q\\\"\\\\x\"", "Domain", v));
    cr_assert(eval_on("name =~ \"\\\"q\\\"\"", "Domain", v));
    qmf_free(v);
    /* \. reaches the regex as \. : a literal dot, not any character. */
    v = domain_values("web-1");
    cr_assert_not(eval_on("name =~ \"^web\\.1$\"", "Domain", v));
    cr_assert(eval_on("name =~ \"^web.1$\"", "Domain", v));
    qmf_free(v);
}

Test(expr, missing_fields_follow_qmf)
{
    /* A comparison with a missing field is false, even !=; !~ is not(...). */
    qmf_value *v = node_values("QEMU", 1048576, NULL);

    cr_assert_not(eval_on("labels.tier == \"db\"", "Node", v));
    cr_assert_not(eval_on("labels.tier != \"db\"", "Node", v));
    cr_assert(eval_on("not labels.tier == \"db\"", "Node", v));
    cr_assert(eval_on("labels.tier !~ \"db\"", "Node", v));
    cr_assert_not(eval_on("exists labels.tier", "Node", v));
    cr_assert(eval_on("exists labels.rack-row", "Node", v));
    qmf_free(v);
}

/* The CLI compiles patterns with the agents' engine: what agents refuse is
 * refused here, before anything is sent. */
Test(expr, regular_expressions_follow_the_agents_rules)
{
    assert_syntax_error("name =~ \"(|)(\\\\1\\\\1)*\"",
                        "column 9: bad regular expression: backreferences are not supported");
    assert_syntax_error("name !~ \"a\\\\C\"",
                        "column 9: bad regular expression at offset 3: using \\C is disabled "
                        "by the application");
}

/* The text travels inside a JSON string: invalid UTF-8 is refused with its
 * column instead of being sent. */
Test(expr, invalid_utf8_is_refused)
{
    assert_syntax_error("name == \"caf\xe9\"", "column 13: invalid UTF-8 (byte \\xe9)");
    assert_syntax_error("\xc0\xaf == 1", "column 1: invalid UTF-8 (byte \\xc0)");
}

/* What the grammar allows but agents refuse is refused here too. */
Test(expr, the_agents_limits_apply)
{
    char text[17 * 24 + 1] = "";
    int i;

    for (i = 0; i < 17; i++)
        strcat(text, i ? " or name =~ \"^web\"" : "name =~ \"^web\"");
    assert_syntax_error(text, "column 1: invalid _where at $[17][2]: more than 16 "
                              "re_match operators");
}
