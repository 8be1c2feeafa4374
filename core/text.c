/* UTF-8 validation and repair for text that comes from outside. */
#include "core/text.h"

#include <string.h>

#include "core/value.h"

size_t
qmf_utf8_char_len(const char *str, size_t avail)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n, i;

    if (avail == 0)
        return 0;
    if (s[0] < 0x80)
        return 1;
    /* The second byte's range rules out overlong forms, surrogates and
     * code points above U+10FFFF (RFC 3629, table 3-7 of Unicode). */
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        if (s[0] == 0xe0)
            lo = 0xa0;
        else if (s[0] == 0xed)
            hi = 0x9f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        if (s[0] == 0xf0)
            lo = 0x90;
        else if (s[0] == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

bool
qmf_utf8_valid(const char *s, size_t len)
{
    size_t i = 0, n;

    while (i < len) {
        /* ASCII runs are the common case. */
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        if ((n = qmf_utf8_char_len(s + i, len - i)) == 0)
            return false;
        i += n;
    }
    return true;
}

bool
qmf_text_has_nul(const char *s, size_t len)
{
    return len > 0 && memchr(s, '\0', len) != NULL;
}

void
qmf_utf8_repair(char *s)
{
    size_t len = strlen(s), i = 0, n;

    while (i < len) {
        if ((n = qmf_utf8_char_len(s + i, len - i)) != 0) {
            i += n;
            continue;
        }
        /* A lead byte whose sequence the end cut short: drop the rest. */
        if ((unsigned char)s[i] >= 0xc2 && (unsigned char)s[i] <= 0xf4 && len - i < 4) {
            size_t j = i + 1;

            while (j < len && ((unsigned char)s[j] & 0xc0) == 0x80)
                j++;
            if (j == len) {
                s[i] = '\0';
                return;
            }
        }
        s[i++] = '?';
    }
}

char *
qmf_text_clip(const char *s, size_t len, size_t max)
{
    /* Repairing keeps the length (a bad byte becomes one '?'), so the
     * copy is cut exactly when s is longer than max. */
    bool cut = len > max;
    size_t limit = cut ? max - 3 : len, i = 0, o = 0, n;
    char *out = qmf_xmalloc((cut ? max : len) + 1);

    while (i < len) {
        n = qmf_utf8_char_len(s + i, len - i);
        if (o + (n ? n : 1) > limit)
            break;
        if (n == 0 || s[i] == '\0') {
            out[o++] = '?';
            i++;
        } else {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
        }
    }
    if (cut) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}
