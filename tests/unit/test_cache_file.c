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

/* The keys of the lines these tests split. */
static const char *const keys[] = { "agent", "seen", "stopping" };
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static bool
split(const char *line, size_t n, struct cache_scalar *s, char **values)
{
    const char *v;
    size_t len;

    *values = NULL;
    if (!cache_file_split(line, strlen(line), keys, n, s, &v, &len))
        return false;
    *values = qmf_xstrndup(v, len);
    return true;
}

Test(cache_file, a_line_of_scalars_round_trips)
{
    static const char values_in[] = "{\"a\": [1, {\"b\": \"}\"}]}";
    char path[] = "/tmp/virtbus-cache-XXXXXX", *values;
    struct cache_scalar s[NKEYS];
    qmf_error err;
    struct cache_file_writer w;
    struct cache_file_reader r;
    qmf_value *head = qmf_map(), *got;
    const char *line;
    size_t len;
    int64_t seen;
    int fd;

    cr_assert_geq(fd = mkstemp(path), 0);
    close(fd);
    qmf_map_set(head, "saved", qmf_i64(7));
    cr_assert(cache_file_begin(&w, path, head));
    {
        char *texts[] = { qmf_xstrdup("\"virtbus:agent:h1\""), qmf_xstrdup("-42"),
                          qmf_xstrdup("false") };

        cache_file_put_scalars(&w, keys, texts, NKEYS, values_in, NULL);
    }
    cache_file_commit(&w);
    qmf_free(head);

    cr_assert_not_null(head = cache_file_open(&r, path));
    cr_assert(cache_file_next_text(&r, &line, &len));
    cr_assert(split(line, NKEYS, s, &values), "%s", line);
    cr_assert_eq(s[0].len, strlen("virtbus:agent:h1"));
    cr_assert(s[0].string);
    cr_assert(cache_scalar_i64(&s[1], &seen) && seen == -42);
    cr_assert_not(s[2].string);
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
    static const struct {
        const char *line;
        size_t keys;            /* split with the first this many keys */
    } others[] = {
        /* As the JSON encoder writes an agent with more than one process. */
        { "{\"agent\": \"a\", \"values\": {}, \"instances\": [{}]}", 1 },
        { "{\"agent\": \"a\\\"b\", \"values\": {}}", 1 },  /* an escape */
        { "{\"agent\": \"w\\u0065b\", \"values\": {}}", 1 },  /* an escape that ends no string */
        { "{\"agent\": \"a\", \"seen\": , \"values\": {}}", 2 },
        { "{\"agent\": \"a\"}", 1 },
        { "{\"forgotten\": \"a\", \"at\": 1}", 1 },
        { "{\"agent\": \"a\", \"values\": [1]}", 1 },
        { "[\"agent\", \"values\"]", 1 },
        { "", 1 },
        { "{", 1 },
        /* Keys the reader does not take, or not in its order, or too few. */
        { "{\"agent\": \"a\", \"seen\": 2, \"values\": {}}", 1 },
        { "{\"seen\": 2, \"agent\": \"a\", \"values\": {}}", 2 },
        { "{\"agent\": \"a\", \"values\": {}}", 2 },
    };
    struct cache_scalar s[NKEYS];
    char *values;
    size_t i;

    for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        cr_assert_not(split(others[i].line, others[i].keys, s, &values), "split: %s",
                      others[i].line);
}

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
    uint32_t u;

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
    s = (struct cache_scalar){ .text = "4294967295", .len = 10 };
    cr_assert(cache_scalar_u32(&s, &u) && u == UINT32_MAX);
    s = (struct cache_scalar){ .text = "4294967296", .len = 10 };
    cr_assert_not(cache_scalar_u32(&s, &u));
    s = (struct cache_scalar){ .text = "-1", .len = 2 };
    cr_assert_not(cache_scalar_u32(&s, &u));
}
