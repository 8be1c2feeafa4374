/*
 * Tests of the consoles' cache files (controller/lib/cache_file.h): lines
 * of scalars read without decoding their values, and every other line
 * left to the JSON decoder.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "controller/lib/cache_file.h"
#include "core/codec.h"
#include "tests/testutil.h"

static bool
split(const char *line, struct cache_scalar *s, size_t *n, char **values)
{
    const char *v;
    size_t len;

    *values = NULL;
    if (!cache_file_split(line, strlen(line), s, CACHE_SCALARS_MAX, n, &v, &len))
        return false;
    *values = qmf_xstrndup(v, len);
    return true;
}

Test(cache_file, a_line_of_scalars_round_trips)
{
    static const char *const keys[] = { "agent", "seen", "stopping" };
    static const char values_in[] = "{\"a\": [1, {\"b\": \"}\"}]}";
    char path[] = "/tmp/virtbus-cache-XXXXXX", *values;
    struct cache_scalar s[CACHE_SCALARS_MAX];
    qmf_error err;
    struct cache_file_writer w;
    struct cache_file_reader r;
    qmf_value *head = qmf_map(), *got;
    const char *line;
    size_t len, n;
    int64_t seen;
    int fd;

    cr_assert_geq(fd = mkstemp(path), 0);
    close(fd);
    qmf_map_set(head, "saved", qmf_i64(7));
    cr_assert(cache_file_begin(&w, path, head));
    {
        char *texts[] = { qmf_xstrdup("\"virtbus:agent:h1\""), qmf_xstrdup("-42"),
                          qmf_xstrdup("false") };

        cache_file_put_scalars(&w, keys, texts, 3, values_in, NULL);
    }
    cache_file_commit(&w);
    qmf_free(head);

    cr_assert_not_null(head = cache_file_open(&r, path));
    cr_assert(cache_file_next_text(&r, &line, &len));
    cr_assert(split(line, s, &n, &values), "%s", line);
    cr_assert_eq(n, 3);
    cr_assert_eq(cache_scalar_get(s, n, "agent")->len, strlen("virtbus:agent:h1"));
    cr_assert(cache_scalar_get(s, n, "agent")->string);
    cr_assert(cache_scalar_i64(cache_scalar_get(s, n, "seen"), &seen) && seen == -42);
    cr_assert_not(cache_scalar_get(s, n, "stopping")->string);
    cr_assert_null(cache_scalar_get(s, n, "values"));
    cr_assert_str_eq(values, values_in);
    free(values);
    /* The line is JSON too, for anything else that reads it. */
    got = qmf_from_json(line, len, &err);
    cr_assert_not_null(got, "%s", err.text);
    cr_assert_str_eq(qmf_map_get_string(got, "agent"), "virtbus:agent:h1");
    qmf_free(got);
    cr_assert_not(cache_file_next_text(&r, &line, &len));
    cache_file_close(&r);
    qmf_free(head);
    unlink(path);
}

Test(cache_file, other_lines_are_left_to_the_json_decoder)
{
    static const char *const others[] = {
        /* As the JSON encoder writes an agent with more than one process. */
        "{\"agent\": \"a\", \"values\": {}, \"instances\": [{}]}",
        "{\"agent\": \"a\\\"b\", \"values\": {}}",  /* an escape */
        "{\"agent\": \"w\\u0065b\", \"values\": {}}",  /* an escape that ends no string */
        "{\"agent\": \"a\", \"seen\": , \"values\": {}}",
        "{\"agent\": \"a\"}",
        "{\"forgotten\": \"a\", \"at\": 1}",
        "{\"agent\": \"a\", \"values\": [1]}",
        "[\"agent\", \"values\"]",
        "",
        "{",
    };
    struct cache_scalar s[CACHE_SCALARS_MAX];
    char *values;
    size_t i, n;

    for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        cr_assert_not(split(others[i], s, &n, &values), "split: %s", others[i]);
    /* More scalars than the reader takes. */
    cr_assert_not(cache_file_split("{\"a\": 1, \"b\": 2, \"values\": {}}", 28, s, 1, &n,
                                   (const char **)&values, &i));
}

/* A cache is a file of our own: a device or a pipe named as one is none
 * (reading /dev/zero a line at a time would never end). */
Test(cache_file, only_a_regular_file_is_a_cache)
{
    struct cache_file_reader r;

    cr_assert_null(cache_file_open(&r, "/dev/zero"));
    cr_assert_null(cache_file_open(&r, "/dev/null"));
    cr_assert_null(cache_file_open(&r, "/nonexistent/virtbus-cache"));
}

Test(cache_file, only_plain_strings_go_in_a_line_as_they_are)
{
    cr_assert(cache_file_plain("virtbus:agent:node-1.example"));
    cr_assert(cache_file_plain("h\xc3\xa9te"));
    cr_assert(cache_file_plain(""));
    cr_assert_not(cache_file_plain("a\"b"));
    cr_assert_not(cache_file_plain("a\\b"));
    cr_assert_not(cache_file_plain("a\tb"));
    cr_assert_not(cache_file_plain("a\nb"));
    cr_assert_not(cache_file_plain("a\x7f"));
    cr_assert_not(cache_file_plain("\xc3"));
}

Test(cache_file, a_number_is_whole_or_not_one)
{
    struct cache_scalar s = { .text = "12x", .len = 2 };
    int64_t v;

    cr_assert(cache_scalar_i64(&s, &v) && v == 12);
    s.len = 3;
    cr_assert_not(cache_scalar_i64(&s, &v));
    s = (struct cache_scalar){ .text = "1.5", .len = 3 };
    cr_assert_not(cache_scalar_i64(&s, &v));
    s = (struct cache_scalar){ .text = "99999999999999999999", .len = 20 };
    cr_assert_not(cache_scalar_i64(&s, &v));
    s = (struct cache_scalar){ .text = "+5", .len = 2 };
    cr_assert_not(cache_scalar_i64(&s, &v));
    s = (struct cache_scalar){ .text = " 5", .len = 2 };
    cr_assert_not(cache_scalar_i64(&s, &v));
    s = (struct cache_scalar){ .text = "7", .len = 1, .string = true };
    cr_assert_not(cache_scalar_i64(&s, &v));
    cr_assert_not(cache_scalar_i64(NULL, &v));
}
