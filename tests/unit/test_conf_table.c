/* Tests of configuration keys read through a table (core/conf_table.h):
 * each kind stores where its offset says, and refuses in the common words. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/conf_table.h"

struct sample {
    char *name;
    unsigned count;
    size_t bytes;
    bool on;
    qmf_value *paths;
    int doubled;
};

/* A custom key: the integer, twice. */
static int
apply_doubled(void *field, const struct qmf_conf_statement *st, qmf_error *err)
{
    if (qmf_as_int(st->value) > 1000)
        return qmf_conf_error(err, st, "too big to double");
    *(int *)field = (int)qmf_as_int(st->value) * 2;
    return 0;
}

#define QMF_CONF_STRUCT struct sample

static const struct qmf_conf_key sample_keys[] = {
    QMF_CONF_STRING_KEY("name", name, qmf_conf_check_name),
    QMF_CONF_UNSIGNED_KEY("count", count, 1, 10),
    QMF_CONF_SIZE_KEY("bytes", bytes, 0, 1u << 20),
    QMF_CONF_BOOL_KEY("on", on),
    QMF_CONF_LIST_KEY("paths", paths, qmf_conf_check_absolute),
    QMF_CONF_CUSTOM_KEY("doubled", doubled, QMF_CONF_INT, apply_doubled, QMF_CONF_OWNS_NOTHING),
};

static const struct qmf_conf_table sample_table = {
    sample_keys, sizeof(sample_keys) / sizeof(sample_keys[0])
};

static void
sample_free(struct sample *s)
{
    qmf_conf_table_free(&sample_table, s);
    cr_assert_null(s->name);
    cr_assert_null(s->paths);
}

/* The error text of reading text into a fresh sample. */
static char *
refusal(const char *text)
{
    struct sample s = { 0 };
    qmf_error err = { 0 };
    int rc = qmf_conf_table_parse(&sample_table, text, strlen(text), "t.conf", &s, &err);

    sample_free(&s);
    cr_assert_eq(rc, -1, "accepted: %s", text);
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    return strdup(err.text);
}

Test(conf_table, every_kind_lands_in_its_field)
{
    static const char text[] = "name = \"hv-1.a_b\"\ncount = 10\nbytes = 4096\non = yes\n"
                               "paths = [ \"/a\", \"/b\" ]\ndoubled = 21\n";
    struct sample s = { .name = strdup("old") };
    qmf_error err = { 0 };

    cr_assert_eq(qmf_conf_table_parse(&sample_table, text, strlen(text), "t.conf", &s, &err),
                 0, "%s", err.text);
    cr_assert_str_eq(s.name, "hv-1.a_b");
    cr_assert_eq(s.count, 10);
    cr_assert_eq(s.bytes, 4096);
    cr_assert(s.on);
    cr_assert_eq(qmf_list_len(s.paths), 2);
    cr_assert_str_eq(qmf_as_string(qmf_list_at(s.paths, 1)), "/b");
    cr_assert_eq(s.doubled, 42);
    sample_free(&s);
}

Test(conf_table, refusals_name_the_file_line_and_key)
{
    static const struct {
        const char *text, *error;
    } cases[] = {
        { "count = 0\n", "t.conf:1: count: 0 is out of range 1..10" },
        { "count = -1\n", "t.conf:1: count: -1 is out of range 1..10" },
        { "\nbytes = 2000000\n", "t.conf:2: bytes: 2000000 is out of range 0..1048576" },
        { "name = \"a b\"\n",
          "t.conf:1: name: invalid value \"a b\" (only letters, digits, '.', '_' and '-' are "
          "allowed)" },
        { "name = \"\"\n", "t.conf:1: name: invalid value \"\" (must not be empty)" },
        { "paths = [ \"/a\", \"b\" ]\n",
          "t.conf:1: paths: invalid entry \"b\" (expected an absolute path)" },
        { "doubled = 2000\n", "t.conf:1: doubled: too big to double" },
        { "on = \"yes\"\n", "t.conf:1: on: expected yes or no, got \"yes\"" },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = refusal(cases[i].text);

        cr_assert_str_eq(text, cases[i].error);
        free(text);
    }
}

Test(conf_table, unknown_keys_are_the_reader_s_error)
{
    char *text = refusal("colour = \"red\"\n");

    cr_assert(strstr(text, "t.conf:1: colour:") == text, "%s", text);
    free(text);
}

Test(conf_table, optional_path_takes_empty_or_absolute)
{
    cr_assert_null(qmf_conf_check_optional_path(""));
    cr_assert_null(qmf_conf_check_optional_path("/etc/k"));
    cr_assert_str_eq(qmf_conf_check_optional_path("k"), "expected an absolute path");
    cr_assert_str_eq(qmf_conf_check_nonempty(""), "must not be empty");
}

Test(conf_table, a_copy_owns_its_strings_and_values)
{
    static const char text[] = "name = \"a\"\npaths = [ \"/p\" ]\ncount = 3\n";
    struct sample s = { 0 }, copy;
    qmf_error err = { 0 };

    cr_assert_eq(qmf_conf_table_parse(&sample_table, text, strlen(text), "t.conf", &s, &err),
                 0, "%s", err.text);
    copy = s;
    qmf_conf_table_copy(&sample_table, &copy, &s);
    cr_assert_neq(copy.name, s.name);
    cr_assert_neq(copy.paths, s.paths);
    sample_free(&s);
    cr_assert_str_eq(copy.name, "a");
    cr_assert_str_eq(qmf_as_string(qmf_list_at(copy.paths, 0)), "/p");
    cr_assert_eq(copy.count, 3);
    sample_free(&copy);
}
