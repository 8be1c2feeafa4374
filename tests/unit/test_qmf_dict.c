/*
 * Tests of the dictionary: what each call promises for present and missing
 * keys, who frees the values, insertion-order iteration with removals on
 * the way, and that churn and size keep it linear (counted in operations
 * done, not in time).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "core/dict.h"
#include "core/value.h"

static void
count_free(void *value)
{
    (*(int *)value)++;
}

Test(qmf_dict, add_get_set_take_remove)
{
    struct qmf_dict *d = qmf_dict_new(count_free);
    int a = 0, b = 0, c = 0;
    char key[] = "alpha";

    cr_assert_null(qmf_dict_get(d, "alpha"));
    cr_assert(qmf_dict_add(d, key, &a));
    key[0] = 'X';       /* the table keeps a copy of the key */
    cr_assert_eq(qmf_dict_get(d, "alpha"), &a);
    cr_assert_null(qmf_dict_get(d, "Xlpha"));
    cr_assert_not(qmf_dict_add(d, "alpha", &b), "a second add of a key is refused");
    cr_assert_eq(b, 0, "and the value refused is the caller's");
    qmf_dict_set(d, "alpha", &b);
    cr_assert_eq(a, 1, "set frees the value it replaces");
    cr_assert_eq(qmf_dict_get(d, "alpha"), &b);
    qmf_dict_set(d, "", &c);
    cr_assert_eq(qmf_dict_get(d, ""), &c, "the empty key is a key");
    cr_assert_eq(qmf_dict_len(d), 2);
    cr_assert_eq(qmf_dict_take(d, "alpha"), &b);
    cr_assert_eq(b, 0, "take hands the value back unfreed");
    cr_assert_null(qmf_dict_take(d, "alpha"));
    cr_assert_not(qmf_dict_remove(d, "alpha"));
    cr_assert(qmf_dict_remove(d, ""));
    cr_assert_eq(c, 1, "remove frees the value");
    cr_assert_eq(qmf_dict_len(d), 0);
    qmf_dict_set(d, "again", &a);
    qmf_dict_free(d);
    cr_assert_eq(a, 2, "free frees what is left");
}

Test(qmf_dict, iterates_in_insertion_order_and_allows_removal)
{
    struct qmf_dict *d = qmf_dict_new(NULL);
    int values[100];
    const char *key;
    char name[16];
    size_t cursor = 0, seen = 0;
    int *v, expect = 0;

    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "k%d", i);
        cr_assert(qmf_dict_add(d, name, &values[i]));
    }
    /* Every third key removed while iterating: the others still come in
     * order, each once. */
    while ((v = qmf_dict_next(d, &cursor, &key)) != NULL) {
        cr_assert_eq(v, &values[expect], "entry %zu", seen);
        snprintf(name, sizeof(name), "k%d", expect);
        cr_assert_str_eq(key, name);
        if (expect % 3 == 0)
            cr_assert(qmf_dict_remove(d, key));
        expect++;
        seen++;
    }
    cr_assert_eq(seen, 100);
    cr_assert_eq(qmf_dict_len(d), 66);
    cursor = 0;
    expect = 1;
    while ((v = qmf_dict_next(d, &cursor, NULL)) != NULL) {
        cr_assert_eq(v, &values[expect]);
        expect += expect % 3 == 1 ? 1 : 2;
    }
    qmf_dict_free(d);
}

/* A long life of short-lived keys (every guest ever created): the table
 * keeps answering, and holds what is live, not what ever was. */
Test(qmf_dict, churn_keeps_the_table_small)
{
    struct qmf_dict *d = qmf_dict_new(NULL);
    static int token;
    char name[32];
    size_t cursor = 0, walked = 0;

    for (int i = 0; i < 200000; i++) {
        snprintf(name, sizeof(name), "guest-%d", i);
        cr_assert(qmf_dict_add(d, name, &token));
        if (i >= 10) {
            snprintf(name, sizeof(name), "guest-%d", i - 10);
            cr_assert(qmf_dict_remove(d, name));
        }
    }
    cr_assert_eq(qmf_dict_len(d), 10);
    for (int i = 199990; i < 200000; i++) {
        snprintf(name, sizeof(name), "guest-%d", i);
        cr_assert_eq(qmf_dict_get(d, name), &token);
    }
    /* An iteration walks live entries and at most a table's worth of
     * holes, not the 200,000 keys it has seen. */
    while (qmf_dict_next(d, &cursor, NULL) != NULL)
        walked++;
    cr_assert_eq(walked, 10);
    cr_assert_lt(cursor, 100, "a cursor over %zu slots of entries", cursor);
    qmf_dict_free(d);
}

Test(qmf_dict, a_large_table)
{
    struct qmf_dict *d = qmf_dict_new(free);
    char name[32];

    for (int i = 0; i < 100000; i++) {
        snprintf(name, sizeof(name), "node-%d", i);
        qmf_dict_set(d, name, qmf_xstrdup(name));
    }
    cr_assert_eq(qmf_dict_len(d), 100000);
    for (int i = 0; i < 100000; i += 997) {
        snprintf(name, sizeof(name), "node-%d", i);
        cr_assert_str_eq(qmf_dict_get(d, name), name);
    }
    qmf_dict_free(d);
}
