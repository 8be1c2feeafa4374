/*
 * docs/PROTOCOL.md lists the schema as built: every class of the schema
 * has its section, with a table row for each property and method, and
 * every event has its row.  The schema XML is the truth; this keeps the
 * document from drifting away from it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "controller/lib/virtbus.h"
#include "core/names.h"
#include "schema/schema.h"
#include "tests/testutil.h"

static char *
read_protocol(void)
{
    char *path = test_fixture_path("../../docs/PROTOCOL.md"), *text;
    FILE *f = fopen(path, "r");
    long len;

    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    text = qmf_xmalloc((size_t)len + 1);
    cr_assert_eq(fread(text, 1, (size_t)len, f), (size_t)len);
    text[len] = '\0';
    fclose(f);
    free(path);
    return text;
}

/* The text of the "### 10.x <title>" section, up to the next heading. */
static char *
section(const char *doc, const char *title)
{
    const char *p = doc, *end;

    while ((p = strstr(p, "\n### 10.")) != NULL) {
        const char *line = p + 1, *eol = strchr(line, '\n');
        const char *name = strchr(line, ' ') ? strchr(strchr(line, ' ') + 1, ' ') : NULL;

        if (name && eol && (size_t)(eol - name - 1) >= strlen(title) &&
            strncmp(name + 1, title, strlen(title)) == 0 &&
            (name[1 + strlen(title)] == ' ' || name[1 + strlen(title)] == '\n')) {
            end = strstr(eol, "\n### ");
            if (end == NULL)
                end = strstr(eol, "\n## ");
            return qmf_xstrndup(eol, end ? (size_t)(end - eol) : strlen(eol));
        }
        p = line;
    }
    return NULL;
}

static bool
has_row(const char *text, const char *name)
{
    char *cell = qmf_xasprintf("\n| %s |", name);
    bool found = strstr(text, cell) != NULL;

    free(cell);
    return found;
}

Test(docs, protocol_lists_the_schema_as_built)
{
    char *doc = read_protocol(), *events = section(doc, "Events");
    struct schema *s;
    qmf_error err;
    size_t i, j;

    s = schema_load_builtin(&err);
    cr_assert_not_null(s, "%s", err.text);
    cr_assert_not_null(events, "docs/PROTOCOL.md has no '### 10.x Events' section");
    for (i = 0; i < s->nclasses; i++) {
        const struct schema_class *c = &s->classes[i];
        char *text;

        if (c->kind == SCHEMA_EVENT) {
            cr_expect(has_row(events, c->name), "event %s is not in docs/PROTOCOL.md", c->name);
            continue;
        }
        text = section(doc, c->name);
        cr_assert_not_null(text, "class %s has no section in docs/PROTOCOL.md", c->name);
        for (j = 0; j < c->nprops; j++)
            cr_expect(has_row(text, c->props[j].name), "%s.%s is not in docs/PROTOCOL.md",
                      c->name, c->props[j].name);
        for (j = 0; j < c->nmethods; j++)
            cr_expect(has_row(text, c->methods[j].name), "%s.%s() is not in docs/PROTOCOL.md",
                      c->name, c->methods[j].name);
        free(text);
    }
    schema_free(s);
    free(events);
    free(doc);
}

/* CMake writes the version for the programs and the library's header
 * (virtbus_version.h); the Debian packages take theirs from the changelog,
 * which dpkg reads before any build, so it has to say the same. */
Test(docs, the_debian_changelog_has_the_build_s_version)
{
    char *path = test_fixture_path("../../debian/changelog"), line[256], *expected;
    FILE *f = fopen(path, "r");

    cr_assert_not_null(f, "cannot open %s", path);
    cr_assert_not_null(fgets(line, sizeof(line), f));
    fclose(f);
    expected = qmf_xasprintf("virtbus (%s) ", VIRTBUS_VERSION);
    cr_assert(strncmp(line, expected, strlen(expected)) == 0,
              "debian/changelog starts \"%s\", not \"%s\"", line, expected);
    free(expected);
    free(path);
}

/* The text of the section that starts with heading, up to the next one. */
static char *
section_at(const char *doc, const char *heading)
{
    const char *start = strstr(doc, heading), *end;

    cr_assert_not_null(start, "no \"%s\" in PROTOCOL.md", heading);
    end = strstr(start + strlen(heading), "\n#");
    return qmf_xstrndup(start, end ? (size_t)(end - start) : strlen(start));
}

/* Whether text has a table cell that starts with `name` as code. */
static void
assert_code_cell(const char *text, char *name)
{
    char *cell = qmf_xasprintf("| `%s`", name);

    cr_assert_not_null(strstr(text, cell), "PROTOCOL.md §2.3 lacks %s", cell);
    free(cell);
    free(name);
}

/* §2.3's routing keys are what the names module builds, placeholders
 * (which need no escaping) given for the variable parts. */
Test(docs, traffic_keys_are_the_names_module_s)
{
    char *doc = read_protocol(), *traffic = section_at(doc, "### 2.3 Traffic");
    char *kinds = qmf_xasprintf("`%s`, `%s`, `%s`", QMF_NAME_KIND_LOCATE, QMF_NAME_KIND_QUERY,
                                QMF_NAME_KIND_READ);

    assert_code_cell(traffic, qmf_name_agent("<node>"));
    assert_code_cell(traffic, qmf_name_broadcast_key("<kind>"));
    cr_assert_not_null(strstr(traffic, kinds), "the broadcast kinds: %s", kinds);
    cr_assert_not_null(strstr(traffic, "or `" QMF_NAME_KIND_METHOD "`"));
    assert_code_cell(traffic, qmf_name_heartbeat_key("<node>"));
    assert_code_cell(traffic, qmf_name_data_key("<Class>", "<node>"));
    assert_code_cell(traffic, qmf_name_event_key("<event>", "<severity>", "<node>"));
    assert_code_cell(traffic, qmf_xstrdup(QMF_NAME_PRESENCE_MARKER_KEY));
    assert_code_cell(traffic, qmf_xstrdup(QMF_NAME_FLEET_MARKER_KEY));
    cr_assert_not_null(strstr(traffic, "| `" QMF_NAME_EXCHANGE_DIRECT "` |"));
    cr_assert_not_null(strstr(traffic, "| `" QMF_NAME_EXCHANGE_TOPIC "` |"));
    free(kinds);
    free(traffic);
    free(doc);
}
