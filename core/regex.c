/* Bounded regular expressions on PCRE2 (see regex.h for the dialect). */
#include "core/regex.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/text.h"
#include "core/value.h"

/* A limit in a message: the macros give its digits. */
#define QMF_REGEX_STR(x) QMF_REGEX_STR2(x)
#define QMF_REGEX_STR2(x) #x

struct qmf_regex {
    pcre2_code *code;
    pcre2_match_context *mctx;
};

void
qmf_regex_free(qmf_regex *re)
{
    if (re == NULL)
        return;
    pcre2_code_free(re->code);
    pcre2_match_context_free(re->mctx);
    free(re);
}

static void
pcre_reason(int rc, char *buf, size_t len)
{
    if (pcre2_get_error_message(rc, (PCRE2_UCHAR *)buf, len) < 0)
        snprintf(buf, len, "PCRE2 error %d", rc);
}

qmf_regex *
qmf_regex_compile(const char *pattern, size_t len, qmf_error *err)
{
    pcre2_compile_context *cctx;
    qmf_regex *re;
    PCRE2_SIZE offset = 0;
    uint32_t backrefs = 0;
    char reason[160];
    int rc = 0;

    if (len > QMF_REGEX_MAX_PATTERN) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "regular expression of %zu bytes is over the limit of %d",
                      len, QMF_REGEX_MAX_PATTERN);
        return NULL;
    }
    if (qmf_text_has_nul(pattern, len) || !qmf_utf8_valid(pattern, len)) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "regular expression is not valid UTF-8 text (or holds a NUL)");
        return NULL;
    }
    if ((cctx = pcre2_compile_context_create(NULL)) == NULL)
        abort();    /* only out of memory */
    pcre2_set_parens_nest_limit(cctx, QMF_REGEX_NEST_LIMIT);
    pcre2_set_max_pattern_length(cctx, QMF_REGEX_MAX_PATTERN);
    re = qmf_xcalloc(1, sizeof(*re));
    /* MATCH_INVALID_UTF: subjects come from outside; invalid sequences
     * never match, and never reach undefined behaviour. */
    re->code = pcre2_compile((PCRE2_SPTR)pattern, len,
                             PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C,
                             &rc, &offset, cctx);
    pcre2_compile_context_free(cctx);
    if (re->code == NULL) {
        pcre_reason(rc, reason, sizeof(reason));
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "bad regular expression at offset %zu: %s", (size_t)offset, reason);
        qmf_regex_free(re);
        return NULL;
    }
    if (pcre2_pattern_info(re->code, PCRE2_INFO_BACKREFMAX, &backrefs) != 0 || backrefs > 0) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "bad regular expression: backreferences are not supported");
        qmf_regex_free(re);
        return NULL;
    }
    if ((re->mctx = pcre2_match_context_create(NULL)) == NULL)
        abort();
    pcre2_set_match_limit(re->mctx, QMF_REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(re->mctx, QMF_REGEX_DEPTH_LIMIT);
    pcre2_set_heap_limit(re->mctx, QMF_REGEX_HEAP_LIMIT_KIB);
    return re;
}

int
qmf_regex_match(const qmf_regex *re, const char *subject, size_t len, qmf_error *err)
{
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    const char *limit;
    int rc;

    if (md == NULL)
        abort();
    rc = pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, md, re->mctx);
    pcre2_match_data_free(md);
    if (rc >= 0)
        return 1;
    switch (rc) {
    case PCRE2_ERROR_NOMATCH:
        return 0;
    case PCRE2_ERROR_MATCHLIMIT:
        limit = "its match limit (" QMF_REGEX_STR(QMF_REGEX_MATCH_LIMIT) " steps)";
        break;
    case PCRE2_ERROR_DEPTHLIMIT:
        limit = "its depth limit (" QMF_REGEX_STR(QMF_REGEX_DEPTH_LIMIT) ")";
        break;
    case PCRE2_ERROR_HEAPLIMIT:
        limit = "its heap limit (" QMF_REGEX_STR(QMF_REGEX_HEAP_LIMIT_KIB) " KiB)";
        break;
    default:
        limit = NULL;
        break;
    }
    if (limit != NULL)
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "regular expression matching reached %s on a %zu-byte value",
                      limit, len);
    else
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "regular expression matching failed (%d)",
                      rc);
    return -1;
}
