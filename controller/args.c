/*
 * Method arguments written on the command line, read by their schema
 * type before anything is sent: numbers, sizes with a suffix for
 * arguments in KiB or bytes, booleans, strings (@FILE for long strings),
 * JSON for maps and lists.  schema_check_args() then has the last word.
 */
#include "controller/ctl.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/codec.h"
#include "core/text.h"

char *
ctl_read_file(const char *path, qmf_error *err)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    struct stat st;

    if (f == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: %s", path, strerror(errno));
        return NULL;
    }
    /* A device may never end (/dev/zero): only files, pipes and the like. */
    if (fstat(fileno(f), &st) == 0 && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) &&
        f != stdin) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: a device, not a file", path);
        fclose(f);
        return NULL;
    }
    do {
        if (len + 4096 + 1 > cap) {
            cap = (cap ? cap * 2 : 8192);
            buf = qmf_xrealloc(buf, cap);
        }
        /* One byte past the limit tells "too long" from "just fits". */
        n = fread(buf + len, 1, cap - len - 1 < CTL_FILE_MAX + 1 - len ?
                                cap - len - 1 : CTL_FILE_MAX + 1 - len, f);
        len += n;
    } while (n > 0 && len <= CTL_FILE_MAX);
    if (ferror(f)) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: read error", path);
    } else if (len > CTL_FILE_MAX) {
        qmf_error_set(err, QMF_ERR_TOO_LARGE, "%s: more than %u bytes (what an agent "
                      "takes in one request at most)", path, CTL_FILE_MAX);
    } else if (qmf_text_has_nul(buf, len) || !qmf_utf8_valid(buf, len)) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: not UTF-8 text (or holds a NUL byte)",
                      path);
    } else {
        buf[len] = '\0';
        if (f != stdin)
            fclose(f);
        return buf;
    }
    free(buf);
    if (f != stdin)
        fclose(f);
    return NULL;
}

/* Suffixes as virsh reads them: K, M, G... and KiB, MiB... are powers of
 * 1024, KB, MB... powers of 1000, b or bytes is one byte. */
static bool
suffix_bytes(const char *s, long double *mult)
{
    static const char powers[] = "KMGTPE";
    const char *p;
    long double base;
    size_t i;

    *mult = 1;
    if (strcasecmp(s, "b") == 0 || strcasecmp(s, "bytes") == 0)
        return true;
    if (s[0] == '\0' || (p = strchr(powers, toupper((unsigned char)s[0]))) == NULL)
        return false;
    if (s[1] == '\0' || strcasecmp(s + 1, "iB") == 0)
        base = 1024;
    else if (strcmp(s + 1, "B") == 0)
        base = 1000;
    else
        return false;
    for (i = 0; i <= (size_t)(p - powers); i++)
        *mult *= base;
    return true;
}

bool
ctl_parse_size(const char *text, uint64_t unit, uint64_t *out)
{
    long double n, mult, units;
    char *end;

    errno = 0;
    n = strtold(text, &end);
    if (end == text || errno || !(n >= 0) || strchr(text, '-'))
        return false;
    if (*end == '\0')
        mult = unit;
    else if (!suffix_bytes(end, &mult))
        return false;
    units = n * mult / unit;
    if (!(units <= 18446744073709551615.0L))
        return false;
    /* Rounded up, as virsh does: 1000b of memory is 1 KiB. */
    *out = (uint64_t)units;
    if ((long double)*out < units)
        (*out)++;
    return true;
}

uint64_t
ctl_arg_unit(const struct schema_arg *arg)
{
    /* The schema has no unit on arguments; their descriptions say it. */
    if (arg->desc == NULL || (arg->type != QMF_T_UINT64 && arg->type != QMF_T_UINT32))
        return 0;
    if (strstr(arg->desc, " in KiB"))
        return 1024;
    if (strstr(arg->desc, " in bytes"))
        return 1;
    return 0;
}

static qmf_value *
integer_value(const struct schema_arg *arg, const char *text, qmf_error *err)
{
    uint64_t unit = ctl_arg_unit(arg), u;
    char *end;
    bool is_signed = arg->type >= QMF_T_INT8 && arg->type <= QMF_T_INT64;
    int64_t i;

    /* Decimal, or hexadecimal with 0x (flags); never octal. */
    int base = text[0] == '0' && (text[1] == 'x' || text[1] == 'X') ? 16 : 10;

    errno = 0;
    if (unit && ctl_parse_size(text, unit, &u))
        return qmf_u64(u);
    if (is_signed || arg->type == QMF_T_ABSTIME || arg->type == QMF_T_DELTATIME) {
        i = strtoll(text, &end, base);
        if (end != text && *end == '\0' && errno == 0)
            return qmf_i64(i);
    } else if (text[0] != '-' && !isspace((unsigned char)text[0])) {
        /* strtoull skips blanks and negates: " -1" would be 2^64 - 1. */
        u = strtoull(text, &end, base);
        if (end != text && *end == '\0' && errno == 0)
            return qmf_u64(u);
    }
    qmf_error_set(err, QMF_ERR_INVALID_ARGS, "argument '%s': expected %s%s, got '%s'",
                  arg->name, qmf_type_name(arg->type),
                  unit ? (unit == 1024 ? " (KiB, or a size like 2G)" : " (bytes, or a size like 10G)") : "",
                  text);
    return NULL;
}

static qmf_value *
bool_value(const struct schema_arg *arg, const char *text, qmf_error *err)
{
    static const char *const yes[] = { "true", "yes", "on", "1" };
    static const char *const no[] = { "false", "no", "off", "0" };
    size_t i;

    for (i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0)
            return qmf_bool(true);
        if (strcasecmp(text, no[i]) == 0)
            return qmf_bool(false);
    }
    qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                  "argument '%s': expected true or false (yes, no), got '%s'", arg->name, text);
    return NULL;
}

/* A long string: @FILE reads the file (@- standard input), @@ is a
 * literal '@'. */
static qmf_value *
text_value(const struct schema_arg *arg, const char *text, qmf_error *err)
{
    char *contents;
    qmf_value *v;

    if (arg->type != QMF_T_LSTR || text[0] != '@')
        return qmf_string(text);
    if (text[1] == '@')
        return qmf_string(text + 1);
    if ((contents = ctl_read_file(text + 1, err)) == NULL) {
        char why[QMF_ERROR_TEXT_MAX];

        snprintf(why, sizeof(why), "%s", err->text);
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "argument '%s': %s", arg->name, why);
        return NULL;
    }
    v = qmf_string(contents);
    free(contents);
    return v;
}

qmf_value *
ctl_arg_value(const struct schema_arg *arg, const char *text, qmf_error *err)
{
    char *end;
    double d;
    qmf_value *v;

    switch (arg->type) {
    case QMF_T_BOOL:
        return bool_value(arg, text, err);
    case QMF_T_FLOAT:
    case QMF_T_DOUBLE:
        d = strtod(text, &end);
        if (end != text && *end == '\0')
            return qmf_double(d);
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "argument '%s': expected a number, got '%s'",
                      arg->name, text);
        return NULL;
    case QMF_T_SSTR:
    case QMF_T_LSTR:
    case QMF_T_UUID:
        return text_value(arg, text, err);
    case QMF_T_MAP:
    case QMF_T_LIST:
    case QMF_T_OBJID:
    case QMF_T_BINARY:
        if ((v = qmf_from_json(text, strlen(text), err)) == NULL) {
            char why[QMF_ERROR_TEXT_MAX];

            snprintf(why, sizeof(why), "%s", err->text);
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "argument '%s': expected JSON (%s)",
                          arg->name, why);
        }
        return v;
    default:
        return integer_value(arg, text, err);
    }
}

int
ctl_arg_set(const struct schema_method *m, qmf_value *args, const char *name,
            const char *text, qmf_error *err)
{
    const struct schema_arg *arg = schema_find_arg(m, name);
    qmf_value *v;

    if (arg == NULL || !(arg->dir & SCHEMA_DIR_IN)) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s.%s has no %sargument '%s' "
                      "(virtbus help call %s %s)", m->class_name, m->name,
                      arg ? "input " : "", name, m->class_name, m->name);
        return -1;
    }
    if ((v = ctl_arg_value(arg, text, err)) == NULL)
        return -1;
    qmf_map_set(args, arg->name, v);
    return 0;
}
