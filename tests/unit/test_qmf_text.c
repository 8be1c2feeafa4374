/* Unit tests for core/text.c: strict UTF-8, repair and clipping. */
#include <string.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "core/error.h"
#include "core/text.h"

#define VALID(lit) qmf_utf8_valid(lit, sizeof(lit) - 1)

Test(qmf_text, strict_utf8)
{
    cr_assert(VALID(""));
    cr_assert(VALID("plain ascii"));
    cr_assert(VALID("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x8c\x8d \xf4\x8f\xbf\xbf"));
    cr_assert(VALID("a\0b"), "NUL is UTF-8; callers refuse it apart");
    cr_assert_not(VALID("\xc0\xaf"), "overlong /");
    cr_assert_not(VALID("\xc1\xbf"), "overlong");
    cr_assert_not(VALID("\xe0\x80\xaf"), "overlong, 3 bytes");
    cr_assert_not(VALID("\xf0\x80\x80\xaf"), "overlong, 4 bytes");
    cr_assert_not(VALID("\xed\xa0\x80"), "a surrogate (CESU-8)");
    cr_assert_not(VALID("\xed\xbf\xbf"), "a surrogate");
    cr_assert_not(VALID("\xf4\x90\x80\x80"), "above U+10FFFF");
    cr_assert_not(VALID("\xf5\x80\x80\x80"));
    cr_assert_not(VALID("\xff"));
    cr_assert_not(VALID("\x80"), "a lone continuation byte");
    cr_assert_not(VALID("\xe2\x82"), "cut short");
    cr_assert_not(VALID("\xe2\x28\xa1"));
}

static void
assert_repaired(const char *in, const char *want)
{
    char buf[64];

    strcpy(buf, in);
    qmf_utf8_repair(buf);
    cr_assert_str_eq(buf, want, "repairing '%s'", in);
}

Test(qmf_text, repair_replaces_bytes_and_drops_a_cut_tail)
{
    assert_repaired("caf\xc3\xa9", "caf\xc3\xa9");
    assert_repaired("caf\xe9!", "caf?!");
    assert_repaired("\xc0\xafx", "??x");
    assert_repaired("euro \xe2\x82", "euro ");
    assert_repaired("\xf0\x9f\x8c", "");
    assert_repaired("\x80\x80", "??");
}

/* Error texts quote what was sent, cut where printf cuts: always valid. */
Test(qmf_text, error_texts_are_valid_utf8)
{
    qmf_error err;
    char name[600];

    qmf_error_set(&err, QMF_ERR_UNKNOWN_METHOD, "no method '%s'", "get\xff\xfeXML");
    cr_assert_str_eq(err.text, "no method 'get??XML'");
    /* A two-byte character cut in half by the text's size. */
    memset(name, 'a', sizeof(name));
    memcpy(name + QMF_ERROR_TEXT_MAX - 3, "\xc3\xa9", 2);
    name[sizeof(name) - 1] = '\0';
    qmf_error_set(&err, QMF_ERR_INVALID_ARGS, "x%s", name);
    cr_assert(qmf_utf8_valid(err.text, strlen(err.text)), "%s", err.text);
}

Test(qmf_text, clip)
{
    char *s;

    s = qmf_text_clip("short", 5, 255);
    cr_assert_str_eq(s, "short");
    free(s);
    s = qmf_text_clip("a\0b\xff", 4, 255);
    cr_assert_str_eq(s, "a?b?");
    free(s);
    s = qmf_text_clip("abcdefghij", 10, 8);
    cr_assert_str_eq(s, "abcde...");
    free(s);
    /* Never cuts inside a character. */
    s = qmf_text_clip("abcd\xe2\x82\xac" "efgh", 11, 8);
    cr_assert_str_eq(s, "abcd...");
    free(s);
    s = qmf_text_clip("abcdefgh", 8, 8);
    cr_assert_str_eq(s, "abcdefgh", "exactly max is not cut");
    free(s);
}
