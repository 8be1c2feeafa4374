/*
 * schema-gen: turns a schema XML file into C tables, so that programs get
 * the built-in schema without parsing XML (or linking libxml2) and with
 * every class hash already computed.
 *
 *   schema-gen org.libvirt.xml schema_builtin.c
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "schema/schema.h"

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "schema-gen: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* A C string literal for s, or NULL. */
static void
put_string(FILE *out, const char *s)
{
    if (s == NULL) {
        fputs("NULL", out);
        return;
    }
    fputs("(char *)\"", out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        /* '?' too: two of them can start a trigraph in ISO C. */
        if (c == '"' || c == '\\' || c == '?')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(out, "\\%03o", c);     /* octal stops after 3 digits */
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* A default value as a static qmf_value named d_<c>_<m>_<a>. */
static void
put_default(FILE *out, const qmf_value *v, size_t c, size_t m, size_t a)
{
    fprintf(out, "static qmf_value d_%zu_%zu_%zu = { .kind = %d, ", c, m, a, (int)v->kind);
    switch (v->kind) {
    case QMF_BOOL:
        fprintf(out, ".u.b = %s", qmf_as_bool(v) ? "true" : "false");
        break;
    case QMF_UINT8: case QMF_UINT16: case QMF_UINT32: case QMF_UINT64:
        fprintf(out, ".u.u = UINT64_C(%" PRIu64 ")", qmf_as_uint(v));
        break;
    case QMF_INT8: case QMF_INT16: case QMF_INT32: case QMF_INT64:
        if (qmf_as_int(v) == INT64_MIN)
            fputs(".u.i = INT64_MIN", out);
        else
            fprintf(out, ".u.i = INT64_C(%" PRId64 ")", qmf_as_int(v));
        break;
    case QMF_STRING:
        fputs(".u.str = { ", out);
        put_string(out, qmf_as_string(v));
        fprintf(out, ", %zu }", qmf_bytes_len(v));
        break;
    default:
        die("a default of kind %s has no C form here; extend gen.c", qmf_kind_name(v->kind));
    }
    fputs(" };\n", out);
}

static void
put_class_members(FILE *out, const struct schema_class *cl, size_t c)
{
    size_t i, j;

    if (cl->nprops > 0) {
        fprintf(out, "static struct schema_property props_%zu[] = {\n", c);
        for (i = 0; i < cl->nprops; i++) {
            const struct schema_property *p = &cl->props[i];

            fputs("    { .name = ", out);
            put_string(out, p->name);
            fprintf(out, ", .type = %d, .access = %d, .optional = %d, .statistic = %d, "
                    ".index = %d,\n      .unit = ", (int)p->type, (int)p->access,
                    p->optional, p->statistic, p->index);
            put_string(out, p->unit);
            fputs(", .references = ", out);
            put_string(out, p->references);
            fputs(",\n      .desc = ", out);
            put_string(out, p->desc);
            fputs(" },\n", out);
        }
        fputs("};\n", out);
    }
    for (i = 0; i < cl->nmethods; i++) {
        const struct schema_method *m = &cl->methods[i];

        for (j = 0; j < m->nargs; j++)
            if (m->args[j].default_value != NULL)
                put_default(out, m->args[j].default_value, c, i, j);
        if (m->nargs == 0)
            continue;
        fprintf(out, "static struct schema_arg args_%zu_%zu[] = {\n", c, i);
        for (j = 0; j < m->nargs; j++) {
            const struct schema_arg *a = &m->args[j];

            fputs("    { .name = ", out);
            put_string(out, a->name);
            fprintf(out, ", .type = %d, .dir = %d, .optional = %d,\n      .default_value = ",
                    (int)a->type, (int)a->dir, a->optional);
            if (a->default_value != NULL)
                fprintf(out, "&d_%zu_%zu_%zu", c, i, j);
            else
                fputs("NULL", out);
            fputs(", .references = ", out);
            put_string(out, a->references);
            fprintf(out, ", .path = %d,\n      .desc = ", (int)a->path);
            put_string(out, a->desc);
            fputs(" },\n", out);
        }
        fputs("};\n", out);
    }
    if (cl->nmethods > 0) {
        fprintf(out, "static struct schema_method methods_%zu[] = {\n", c);
        for (i = 0; i < cl->nmethods; i++) {
            const struct schema_method *m = &cl->methods[i];

            fputs("    { .name = ", out);
            put_string(out, m->name);
            fputs(", .class_name = ", out);
            put_string(out, cl->name);
            fprintf(out, ", .role = %d, .readonly = %d,\n      .args = ", (int)m->role,
                    m->readonly);
            if (m->nargs > 0)
                fprintf(out, "args_%zu_%zu", c, i);
            else
                fputs("NULL", out);
            fprintf(out, ", .nargs = %zu,\n      .desc = ", m->nargs);
            put_string(out, m->desc);
            fputs(" },\n", out);
        }
        fputs("};\n", out);
    }
}

static void
generate(FILE *out, const struct schema *s, const char *source)
{
    size_t c, i;

    fprintf(out, "/* Generated from %s by schema-gen (schema/gen.c): do not edit. */\n",
            source);
    fputs("#include <stdint.h>\n\n#include \"schema/schema.h\"\n\n", out);
    fputs("static struct schema builtin;\n\n", out);
    for (c = 0; c < s->nclasses; c++)
        put_class_members(out, &s->classes[c], c);
    fputs("\nstatic struct schema_class classes[] = {\n", out);
    for (c = 0; c < s->nclasses; c++) {
        const struct schema_class *cl = &s->classes[c];
        const uint8_t *hash = schema_class_hash(cl);

        fputs("    { .package = ", out);
        put_string(out, cl->package);
        fputs(", .name = ", out);
        put_string(out, cl->name);
        fprintf(out, ", .kind = %d, .severity = %d,\n      .props = ", (int)cl->kind,
                (int)cl->severity);
        if (cl->nprops > 0)
            fprintf(out, "props_%zu", c);
        else
            fputs("NULL", out);
        fprintf(out, ", .nprops = %zu, .methods = ", cl->nprops);
        if (cl->nmethods > 0)
            fprintf(out, "methods_%zu", c);
        else
            fputs("NULL", out);
        fprintf(out, ", .nmethods = %zu, .schema = &builtin,\n      .hash = {", cl->nmethods);
        for (i = 0; i < 16; i++)
            fprintf(out, "%s0x%02x", i ? ", " : " ", hash[i]);
        fputs(" },\n      .desc = ", out);
        put_string(out, cl->desc);
        fputs(" },\n", out);
    }
    fputs("};\n\nstatic struct schema builtin = {\n    .package = ", out);
    put_string(out, s->package);
    fprintf(out, ",\n    .classes = classes, .nclasses = %zu,\n"
            "    .hash_lock = PTHREAD_MUTEX_INITIALIZER, .hashed = true, .is_static = true,\n"
            "};\n\n", s->nclasses);
    fputs("struct schema *\nschema_load_builtin(qmf_error *err)\n{\n"
          "    (void)err;\n    return &builtin;\n}\n", out);
}

int
main(int argc, char **argv)
{
    struct schema *s;
    qmf_error err;
    char tmp[4096];
    FILE *out;

    if (argc != 3)
        die("usage: schema-gen SCHEMA.xml OUT.c");
    if ((s = schema_load_file(argv[1], &err)) == NULL)
        die("%s", err.text);
    /* Written aside and renamed: a failed run leaves no half file that a
     * later build would take as up to date. */
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", argv[2]) >= (int)sizeof(tmp))
        die("%s: path too long", argv[2]);
    if ((out = fopen(tmp, "w")) == NULL)
        die("cannot write %s: %s", tmp, strerror(errno));
    generate(out, s, strrchr(argv[1], '/') ? strrchr(argv[1], '/') + 1 : argv[1]);
    if (fclose(out) != 0 || rename(tmp, argv[2]) != 0) {
        unlink(tmp);
        die("cannot write %s: %s", argv[2], strerror(errno));
    }
    schema_free(s);
    return 0;
}
