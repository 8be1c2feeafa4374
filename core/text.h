/*
 * Text that comes from outside: strict UTF-8 validation for the decoders,
 * and repair for what is quoted back (error texts, event fields), so that
 * nothing the agent or console sends is invalid UTF-8 because of what it
 * was sent.
 *
 * "Valid" is RFC 3629: shortest forms only, no surrogates (U+D800..DFFF),
 * nothing above U+10FFFF.  NUL is valid UTF-8; the callers that hold text
 * as C strings refuse it separately (qmf_text_has_nul).
 *
 * Costs: every function is one pass, O(len), and allocates nothing unless
 * it says so.
 */
#ifndef QMF_TEXT_H
#define QMF_TEXT_H

#include <stdbool.h>
#include <stddef.h>

bool qmf_utf8_valid(const char *s, size_t len);

/* The length of the valid UTF-8 sequence at s (at most avail bytes), or 0
 * if the bytes there are not one. */
size_t qmf_utf8_char_len(const char *s, size_t avail);

/* Whether s[0..len) holds a NUL byte. */
bool qmf_text_has_nul(const char *s, size_t len);

/*
 * Makes a NUL-terminated string valid UTF-8 in place: every byte that does
 * not start a valid sequence becomes '?', and a sequence cut short at the
 * end (as by a truncating snprintf) is dropped.  Never lengthens s.
 */
void qmf_utf8_repair(char *s);

/*
 * A malloc'd, NUL-terminated copy of s[0..len) fit to quote: invalid
 * sequences and NUL bytes become '?', and the copy is cut to at most max
 * bytes on a character boundary, ending in "..." (within max) when cut.
 * max must be at least 4.
 */
char *qmf_text_clip(const char *s, size_t len, size_t max);

#endif
