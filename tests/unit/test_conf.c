/* Tests of the shared libvirt-style config reader: syntax, types, errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "core/conf.h"

/* The keys the tests know, each with its type. */
static const struct {
    const char *name;
    enum qmf_conf_type type;
} test_keys[] = {
    { "s", QMF_CONF_STRING },
    { "s2", QMF_CONF_STRING },
    { "n", QMF_CONF_INT },
    { "n2", QMF_CONF_INT },
    { "l", QMF_CONF_STRING_LIST },
    { "l2", QMF_CONF_STRING_LIST },
    { "fail", QMF_CONF_STRING },
};

static bool
test_key_type(void *opaque, const char *key, enum qmf_conf_type *type)
{
    size_t i;

    for (i = 0; i < sizeof(test_keys) / sizeof(test_keys[0]); i++) {
        if (strcmp(test_keys[i].name, key) == 0) {
            *type = test_keys[i].type;
            return true;
        }
    }
    return false;
}

/* Records each statement as [ file, line, key, value ]; "fail" refuses. */
static int
test_statement(void *opaque, const struct qmf_conf_statement *st, qmf_error *err)
{
    qmf_value *record;

    if (strcmp(st->key, "fail") == 0)
        return qmf_conf_error(err, st, "refused \"%s\"", qmf_as_string(st->value));
    record = qmf_list_append(opaque, qmf_list());
    qmf_list_append(record, qmf_string(st->file));
    qmf_list_append(record, qmf_i64(st->line));
    qmf_list_append(record, qmf_string(st->key));
    qmf_list_append(record, qmf_dup(st->value));
    return 0;
}

static const struct qmf_conf_reader test_reader = {
    .key_type = test_key_type,
    .statement = test_statement,
};

/* Parses text as "t.conf"; *out receives the statements read (even on error). */
static int
parse(const char *text, qmf_value **out, qmf_error *err)
{
    *out = qmf_list();
    qmf_error_clear(err);
    return qmf_conf_parse(text, strlen(text), "t.conf", &test_reader, *out, err);
}

static const qmf_value *
stmt(const qmf_value *got, size_t i)
{
    cr_assert_lt(i, qmf_list_len(got));
    return qmf_list_at(got, i);
}

static void
assert_stmt(const qmf_value *got, size_t i, unsigned line, const char *key)
{
    const qmf_value *s = stmt(got, i);

    cr_assert_str_eq(qmf_as_string(qmf_list_at(s, 0)), "t.conf");
    cr_assert_eq(qmf_as_int(qmf_list_at(s, 1)), line, "statement %zu: line %lld, wanted %u",
                 i, (long long)qmf_as_int(qmf_list_at(s, 1)), line);
    cr_assert_str_eq(qmf_as_string(qmf_list_at(s, 2)), key);
}

static const char *
stmt_string(const qmf_value *got, size_t i)
{
    const qmf_value *v = qmf_list_at(stmt(got, i), 3);

    cr_assert_eq(v->kind, QMF_STRING);
    return qmf_as_string(v);
}

static int64_t
stmt_int(const qmf_value *got, size_t i)
{
    const qmf_value *v = qmf_list_at(stmt(got, i), 3);

    cr_assert_eq(v->kind, QMF_INT64);
    return qmf_as_int(v);
}

static const qmf_value *
stmt_list(const qmf_value *got, size_t i)
{
    const qmf_value *v = qmf_list_at(stmt(got, i), 3);

    cr_assert_eq(v->kind, QMF_LIST);
    return v;
}

Test(conf, statements_in_order_with_their_lines)
{
    static const char text[] =
        "# a comment on the first line\n"
        "\n"
        "   \t\n"
        "  s='single'   # a comment after a value\n"
        "n = 42\n"
        "l = [\n"
        "    \"a\",      # first\n"
        "    # a comment line inside the list\n"
        "\n"
        "    'b c',\n"
        "]\n"
        "n2=-7\n"
        "s2 = \"crlf\"\r\n"
        "# the last line has no newline\n"
        "l2 = []";
    qmf_value *got, *want;
    qmf_error err;

    cr_assert_eq(parse(text, &got, &err), 0, "%s", err.text);
    cr_assert_eq(qmf_list_len(got), 6);
    assert_stmt(got, 0, 4, "s");
    cr_assert_str_eq(stmt_string(got, 0), "single");
    assert_stmt(got, 1, 5, "n");
    cr_assert_eq(stmt_int(got, 1), 42);
    /* A list is reported at the line of its key, and the lines after it
     * still count. */
    assert_stmt(got, 2, 6, "l");
    want = qmf_list();
    qmf_list_append(want, qmf_string("a"));
    qmf_list_append(want, qmf_string("b c"));
    cr_assert(qmf_equal(stmt_list(got, 2), want));
    qmf_free(want);
    assert_stmt(got, 3, 12, "n2");
    cr_assert_eq(stmt_int(got, 3), -7);
    assert_stmt(got, 4, 13, "s2");
    cr_assert_str_eq(stmt_string(got, 4), "crlf");
    assert_stmt(got, 5, 15, "l2");
    cr_assert_eq(qmf_list_len(stmt_list(got, 5)), 0);
    qmf_free(got);
}

Test(conf, escapes_and_quotes)
{
    static const char text[] =
        "s = \"q\\\"uo\\\\te\\nd # not a comment\\t'\"\n"
        "s2 = 'it\\'s \"fine\"'\n"
        "l = [ \"x\\ty\", '' ]\n";
    qmf_value *got;
    qmf_error err;

    cr_assert_eq(parse(text, &got, &err), 0, "%s", err.text);
    cr_assert_str_eq(stmt_string(got, 0), "q\"uo\\te\nd # not a comment\t'");
    cr_assert_str_eq(stmt_string(got, 1), "it's \"fine\"");
    cr_assert_str_eq(qmf_as_string(qmf_list_at(stmt_list(got, 2), 0)), "x\ty");
    cr_assert_str_eq(qmf_as_string(qmf_list_at(stmt_list(got, 2), 1)), "");
    qmf_free(got);
}

Test(conf, integers)
{
    qmf_value *got;
    qmf_error err;

    cr_assert_eq(parse("n = 007\nn2 = 9223372036854775807\n", &got, &err), 0, "%s", err.text);
    cr_assert_eq(stmt_int(got, 0), 7);
    cr_assert_eq(stmt_int(got, 1), INT64_MAX);
    qmf_free(got);
    cr_assert_eq(parse("n = -9223372036854775808\n", &got, &err), 0, "%s", err.text);
    cr_assert_eq(stmt_int(got, 0), INT64_MIN);
    qmf_free(got);
}

Test(conf, empty_input)
{
    qmf_value *got;
    qmf_error err;

    cr_assert_eq(parse("", &got, &err), 0);
    qmf_free(got);
    cr_assert_eq(parse("# only a comment\n\n  \n", &got, &err), 0);
    cr_assert_eq(qmf_list_len(got), 0);
    cr_assert_eq(qmf_conf_parse(NULL, 0, "t.conf", &test_reader, got, &err), 0);
    cr_assert_eq(qmf_list_len(got), 0);
    qmf_free(got);
}

/* The text need not be NUL-terminated: a length cuts it. */
Test(conf, length_bounds_the_text)
{
    static const char text[] = "n = 12345";
    qmf_value *got = qmf_list();
    qmf_error err;

    cr_assert_eq(qmf_conf_parse(text, 6, "t.conf", &test_reader, got, &err), 0, "%s", err.text);
    cr_assert_eq(stmt_int(got, 0), 12);
    qmf_free(got);
}

struct error_case {
    const char *text;
    const char *message;
};

static const struct error_case error_cases[] = {
    /* keys */
    { "n = 2\nbogus = 1\n", "t.conf:2: bogus: unknown key" },
    { "N = 2\n", "t.conf:1: N: unknown key" },
    /* the key is judged before its value */
    { "bogus = [\n", "t.conf:1: bogus: unknown key" },
    { "\nn = 2\n# again\nn = [\n", "t.conf:4: n: duplicate key (first set on line 2)" },
    { "= 4\n", "t.conf:1: expected a key name, got '='" },
    { "n 4\n", "t.conf:1: n: missing '='" },
    { "n\n", "t.conf:1: n: missing '='" },
    { "n", "t.conf:1: n: missing '='" },
    /* values */
    { "n =\n", "t.conf:1: n: missing value" },
    { "n = # nothing\n", "t.conf:1: n: missing value" },
    { "n = ", "t.conf:1: n: missing value" },
    { "n = 4 5\n", "t.conf:1: n: unexpected \"5\" after the value" },
    { "n = 4 ]\n", "t.conf:1: n: unexpected \"]\" after the value" },
    { "s = \"a\" \"b\"\n", "t.conf:1: s: unexpected \"\"b\"\" after the value" },
    { "s = \"a\" 'b c' # x\n", "t.conf:1: s: unexpected \"'b c'\" after the value" },
    { "s = \"a\" \"b c\n", "t.conf:1: s: unexpected \"\"b c\" after the value" },
    { "n = ,\n", "t.conf:1: n: unexpected ','" },
    { "n = -\n", "t.conf:1: n: expected an integer, got \"-\"" },
    { "n = +5\n", "t.conf:1: n: expected an integer, got \"+5\"" },
    { "n = 1.5\n", "t.conf:1: n: expected an integer, got \"1.5\"" },
    { "n = 9223372036854775808\n", "t.conf:1: n: 9223372036854775808 is out of range" },
    { "n = -9223372036854775809\n", "t.conf:1: n: -9223372036854775809 is out of range" },
    /* strings */
    { "s = \"abc\n", "t.conf:1: s: unterminated string" },
    { "\ns = 'abc", "t.conf:2: s: unterminated string" },
    { "s = \"abc\\\"\n", "t.conf:1: s: unterminated string" },
    { "s = \"abc'\n", "t.conf:1: s: unterminated string" },
    { "s = \"a\\qb\"\n", "t.conf:1: s: unknown escape \"\\q\" in a string" },
    /* lists */
    { "# x\n\nl = [ \"a\",\n  \"b\"\n", "t.conf:3: l: unterminated list" },
    { "l = [", "t.conf:1: l: unterminated list" },
    { "l = [ \"a\" \"b\" ]\n", "t.conf:1: l: expected ',' or ']' in the list, got \"\"b\"\"" },
    { "l = [ , ]\n", "t.conf:1: l: unexpected ','" },
    { "l = [ \"a\",, ]\n", "t.conf:1: l: unexpected ','" },
    { "l = [ [ \"a\" ] ]\n", "t.conf:1: l: nested lists are not supported" },
    { "l = [ a ]\n", "t.conf:1: l: expected a quoted string, got \"a\"" },
    /* types, reported at the line of the key */
    { "n = abc\n", "t.conf:1: n: expected an integer, got \"abc\"" },
    { "n = 12abc\n", "t.conf:1: n: expected an integer, got \"12abc\"" },
    { "n = \"4\"\n", "t.conf:1: n: expected an integer, got \"4\"" },
    { "n = [ 1 ]\n", "t.conf:1: n: expected an integer, got a list" },
    { "s = 5\n", "t.conf:1: s: expected a string, got 5" },
    { "s = amqp\n", "t.conf:1: s: expected a string, got \"amqp\"" },
    { "s = [ \"a\" ]\n", "t.conf:1: s: expected a string, got a list" },
    { "l = \"a\"\n", "t.conf:1: l: expected a list of strings, got \"a\"" },
    { "l = 3\n", "t.conf:1: l: expected a list of strings, got 3" },
    { "l = [\n\"a\",\n-1\n]\n", "t.conf:1: l: expected a list of strings, got -1" },
    { "l = [\n\"a\",\n\"b\"\n]\nn = \"x\"\n", "t.conf:5: n: expected an integer, got \"x\"" },
    /* long values are cut in messages */
    { "s = 12345678901234567890123456789012345678901234567890123456789012345678901234567890\n",
      "t.conf:1: s: 1234567890123456789012345678901234567890123456789012345678901234"
      " is out of range" },
    { "n = \"1234567890123456789012345678901234567890123456789012345678901234567890\"\n",
      "t.conf:1: n: expected an integer, got "
      "\"1234567890123456789012345678901234567890123456789012345678901234\"" },
    /* the program's own refusal */
    { "n = 1\n\nfail = \"x\"\nn2 = 2\n", "t.conf:3: fail: refused \"x\"" },
};

Test(conf, errors)
{
    qmf_value *got;
    qmf_error err;
    size_t i;

    for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        const struct error_case *c = &error_cases[i];

        cr_expect_eq(parse(c->text, &got, &err), -1, "case %zu accepted: %s", i, c->text);
        cr_expect_eq(err.code, QMF_ERR_INVALID_ARGS, "case %zu: code %u", i, err.code);
        cr_expect_str_eq(err.text, c->message, "case %zu: got    %s\n          wanted %s",
                         i, err.text, c->message);
        qmf_free(got);
    }
}

/* Reading stops at the first error; what came before was handed over. */
Test(conf, error_stops_reading)
{
    qmf_value *got;
    qmf_error err;

    cr_assert_eq(parse("n = 1\n\nfail = \"x\"\nn2 = 2\n", &got, &err), -1);
    cr_assert_eq(qmf_list_len(got), 1);
    assert_stmt(got, 0, 1, "n");
    qmf_free(got);

    cr_assert_eq(parse("s = 'a'\nn = x\nn2 = 2\n", &got, &err), -1);
    cr_assert_eq(qmf_list_len(got), 1);
    qmf_free(got);
}

Test(conf, nul_byte)
{
    static const char text[] = "n = 2\ns = \"a\0b\"\n";
    qmf_value *got = qmf_list();
    qmf_error err;

    cr_assert_eq(qmf_conf_parse(text, sizeof(text) - 1, "t.conf", &test_reader, got, &err), -1);
    cr_assert_str_eq(err.text, "t.conf:2: NUL byte in the file");
    /* Nothing is handed over from a file that is not text. */
    cr_assert_eq(qmf_list_len(got), 0);
    qmf_free(got);
}

Test(conf, default_name)
{
    qmf_value *got = qmf_list();
    qmf_error err;

    cr_assert_eq(qmf_conf_parse("x = 1", 5, NULL, &test_reader, got, &err), -1);
    cr_assert_str_eq(err.text, "<config>:1: x: unknown key");
    qmf_free(got);
}

Test(conf, error_helper)
{
    qmf_value *v = qmf_i64(5);
    struct qmf_conf_statement st = { .file = "f.conf", .line = 7, .key = "k", .value = v };
    qmf_error err;

    cr_assert_eq(qmf_conf_error(&err, &st, "%d is %s", 5, "wrong"), -1);
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    cr_assert_str_eq(err.text, "f.conf:7: k: 5 is wrong");
    qmf_free(v);
}

/* qmf_conf_pairs on the value of a one-statement text "l = ...". */
static qmf_value *
pairs(const char *list_text, qmf_error *err)
{
    qmf_value *got, *map;
    struct qmf_conf_statement st = { .file = "t.conf", .line = 3, .key = "l" };
    qmf_error parse_err;

    cr_assert_eq(parse(list_text, &got, &parse_err), 0, "%s", parse_err.text);
    st.value = stmt_list(got, 0);
    qmf_error_clear(err);
    map = qmf_conf_pairs(&st, "alias", err);
    qmf_free(got);
    return map;
}

Test(conf, pairs)
{
    qmf_value *map;
    qmf_error err;

    map = pairs("l = [ \"a=1\", \"b=\", \"c=x=y\", \"d= s p \" ]", &err);
    cr_assert_not_null(map, "%s", err.text);
    cr_assert_eq(qmf_map_len(map), 4);
    /* File order is kept. */
    cr_assert_str_eq(qmf_map_at(map, 0)->key, "a");
    cr_assert_str_eq(qmf_map_at(map, 3)->key, "d");
    cr_assert_str_eq(qmf_map_get_string(map, "a"), "1");
    cr_assert_str_eq(qmf_map_get_string(map, "b"), "");
    cr_assert_str_eq(qmf_map_get_string(map, "c"), "x=y");
    cr_assert_str_eq(qmf_map_get_string(map, "d"), " s p ");
    qmf_free(map);

    map = pairs("l = []", &err);
    cr_assert_not_null(map);
    cr_assert_eq(map->kind, QMF_MAP);
    cr_assert_eq(qmf_map_len(map), 0);
    qmf_free(map);

    cr_assert_null(pairs("l = [ \"a=1\", \"b\" ]", &err));
    cr_assert_str_eq(err.text, "t.conf:3: l: alias \"b\" has no '='");
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    cr_assert_null(pairs("l = [ \"=1\" ]", &err));
    cr_assert_str_eq(err.text, "t.conf:3: l: alias \"=1\" has an empty name");
    cr_assert_null(pairs("l = [ \"a=1\", \"b=2\", \"a=3\" ]", &err));
    cr_assert_str_eq(err.text, "t.conf:3: l: duplicate alias \"a\"");
}

/* A temporary file holding len bytes of text; the path is malloc'd. */
static char *
write_temp(const char *text, size_t len)
{
    char *path = strdup("/tmp/virtbus-test-conf-XXXXXX");
    int fd = mkstemp(path);

    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

Test(conf, read_file)
{
    char *path, *text, *want;
    size_t len = 99;
    qmf_error err;

    path = write_temp("n = 1\n", 6);
    text = qmf_conf_read_file(path, QMF_CONF_FILE_MAX, &len, &err);
    cr_assert_not_null(text, "%s", err.text);
    cr_assert_eq(len, 6);
    cr_assert_str_eq(text, "n = 1\n");
    free(text);

    /* Exactly the limit is fine; one byte over is not. */
    text = qmf_conf_read_file(path, 6, &len, &err);
    cr_assert_not_null(text, "%s", err.text);
    free(text);
    cr_assert_null(qmf_conf_read_file(path, 5, &len, &err));
    want = qmf_xasprintf("%s: file too large (over 5 bytes)", path);
    cr_assert_str_eq(err.text, want);
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    free(want);
    unlink(path);
    free(path);

    path = write_temp("", 0);
    text = qmf_conf_read_file(path, QMF_CONF_FILE_MAX, &len, &err);
    cr_assert_not_null(text, "%s", err.text);
    cr_assert_eq(len, 0);
    cr_assert_str_eq(text, "");
    free(text);
    unlink(path);
    free(path);
}

/* Large files grow the buffer several times; the limit still holds. */
Test(conf, read_large_file)
{
    size_t size = 3 * 4096 * 4 + 17, len;
    char *big = qmf_xmalloc(size), *path, *text;
    qmf_error err;

    memset(big, '#', size);
    path = write_temp(big, size);
    text = qmf_conf_read_file(path, size, &len, &err);
    cr_assert_not_null(text, "%s", err.text);
    cr_assert_eq(len, size);
    cr_assert_eq(memcmp(text, big, size), 0);
    free(text);
    cr_assert_null(qmf_conf_read_file(path, size - 1, &len, &err));
    cr_assert_null(qmf_conf_read_file(path, 4096, &len, &err));
    unlink(path);
    free(path);
    free(big);
}

Test(conf, read_file_errors)
{
    size_t len;
    qmf_error err;

    cr_assert_null(qmf_conf_read_file("/nonexistent/virtbus/x.conf", QMF_CONF_FILE_MAX,
                                      &len, &err));
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    cr_assert_str_eq(err.text, "/nonexistent/virtbus/x.conf: cannot open: "
                               "No such file or directory");
    cr_assert_null(qmf_conf_read_file("/tmp", QMF_CONF_FILE_MAX, &len, &err));
    cr_assert_str_eq(err.text, "/tmp: cannot read: Is a directory");
}
