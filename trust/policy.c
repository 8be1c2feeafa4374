/*
 * Node selectors and the policy file (see policy.h): parsed once, decided
 * per request without allocating.
 */
#include "trust/policy.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trust/credential.h"

#define POLICY_FILE_MAX (1024 * 1024)
#define POLICY_LINE_MAX 1024

enum rule_effect { RULE_ALLOW, RULE_DENY };

struct rule {
    enum rule_effect effect;
    char *who;              /* name, "role:<r>" or "*" */
    unsigned who_role;      /* for role:, else 0 */
    char *action;           /* glob */
    char *nodes;            /* selector */
    unsigned line;
};

struct trust_policy {
    char *name;
    struct rule *rules;
    size_t n;
};

static bool
key_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

/*
 * Walks the terms of a well-formed selector; fn gets each term's key,
 * whether it negates, and its glob (pointers into a scratch copy).
 * Returns -1 with err set on the first malformed term, else 0, or the first
 * non-zero fn result.
 */
static int
selector_walk(const char *text, int (*fn)(const char *key, bool negate, const char *glob,
                                          void *opaque),
              void *opaque, qmf_error *err)
{
    char buf[TRUST_SELECTOR_MAX + 1], *term, *save = NULL;
    size_t len = strlen(text);
    int rc = 0;

    if (len == 0 || len > TRUST_SELECTOR_MAX) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "a node selector has 1 to %d characters",
                      TRUST_SELECTOR_MAX);
        return -1;
    }
    if (strcmp(text, "*") == 0)
        return 0;
    memcpy(buf, text, len + 1);
    if (buf[0] == ',' || buf[len - 1] == ',' || strstr(buf, ",,") != NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "'%s': an empty term", text);
        return -1;
    }
    for (term = strtok_r(buf, ",", &save); term != NULL && rc == 0;
         term = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(term, '=');
        bool negate;
        char *k;

        if (eq == NULL || eq == term) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "'%s': terms are key=glob or key!=glob",
                          term);
            return -1;
        }
        negate = eq[-1] == '!';
        eq[negate ? -1 : 0] = '\0';
        for (k = term; *k != '\0'; k++)
            if (!key_char(*k)) {
                qmf_error_set(err, QMF_ERR_INVALID_ARGS, "'%s': a key has letters, digits, "
                              "'.', '_' and '-'", term);
                return -1;
            }
        if (*term == '\0') {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "'%s': a term needs a key", text);
            return -1;
        }
        if (fn != NULL)
            rc = fn(term, negate, eq + 1, opaque);
    }
    return rc;
}

int
trust_selector_check(const char *text, qmf_error *err)
{
    return selector_walk(text, NULL, NULL, err) < 0 ? -1 : 0;
}

struct node_facts {
    const char *node;
    const qmf_value *labels;
};

/* 1 if the term fails (ends the walk). */
static int
term_fails(const char *key, bool negate, const char *glob, void *opaque)
{
    const struct node_facts *f = opaque;
    const char *value = strcmp(key, "node") == 0 ? f->node
                                                 : qmf_map_get_string(f->labels, key);
    bool match = value != NULL && fnmatch(glob, value, 0) == 0;

    return match == negate;
}

bool
trust_selector_match(const char *text, const char *node, const qmf_value *labels)
{
    struct node_facts f = { node, labels };
    qmf_error err;

    return selector_walk(text, term_fails, &f, &err) == 0;
}

void
trust_policy_free(struct trust_policy *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < p->n; i++) {
        free(p->rules[i].who);
        free(p->rules[i].action);
        free(p->rules[i].nodes);
    }
    free(p->rules);
    free(p->name);
    free(p);
}

size_t
trust_policy_rules(const struct trust_policy *p)
{
    return p != NULL ? p->n : 0;
}

static int
parse_rule(struct trust_policy *p, char *line, unsigned lineno, qmf_error *err)
{
    char *words[5], *save = NULL, *w;
    size_t n = 0;
    struct rule r = { 0 };
    qmf_error why;

    for (w = strtok_r(line, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save)) {
        if (n == 4) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s:%u: more than 4 words (allow|deny "
                          "WHO ACTION NODES)", p->name, lineno);
            return -1;
        }
        words[n++] = w;
    }
    if (n == 0)
        return 0;
    if (n != 4) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s:%u: expected allow|deny WHO ACTION NODES",
                      p->name, lineno);
        return -1;
    }
    if (strcmp(words[0], "allow") == 0)
        r.effect = RULE_ALLOW;
    else if (strcmp(words[0], "deny") == 0)
        r.effect = RULE_DENY;
    else {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s:%u: '%s': a rule starts with allow or deny",
                      p->name, lineno, words[0]);
        return -1;
    }
    if (strncmp(words[1], "role:", 5) == 0) {
        if ((r.who_role = trust_role_parse(words[1] + 5)) == 0) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s:%u: unknown role '%s'", p->name,
                          lineno, words[1] + 5);
            return -1;
        }
    } else if (strcmp(words[1], "*") != 0 && !trust_name_ok(words[1])) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s:%u: '%s' is not a caller name, role:NAME "
                      "or *", p->name, lineno, words[1]);
        return -1;
    }
    if (trust_selector_check(words[3], &why) != 0) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s:%u: %s", p->name, lineno, why.text);
        return -1;
    }
    r.who = qmf_xstrdup(words[1]);
    r.action = qmf_xstrdup(words[2]);
    r.nodes = qmf_xstrdup(words[3]);
    r.line = lineno;
    p->rules = qmf_xrealloc(p->rules, (p->n + 1) * sizeof(*p->rules));
    p->rules[p->n++] = r;
    return 0;
}

int
trust_policy_parse(const char *text, size_t len, const char *name,
                   struct trust_policy **out, qmf_error *err)
{
    struct trust_policy *p = qmf_xcalloc(1, sizeof(*p));
    const char *end = text + len, *line = text;
    unsigned lineno = 0;

    p->name = qmf_xstrdup(name);
    *out = NULL;
    if (memchr(text, '\0', len) != NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: contains a NUL byte", name);
        trust_policy_free(p);
        return -1;
    }
    while (line < end) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
        char buf[POLICY_LINE_MAX + 1], *hash;

        lineno++;
        if (n > POLICY_LINE_MAX) {
            qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s:%u: line over %d bytes", name, lineno,
                          POLICY_LINE_MAX);
            trust_policy_free(p);
            return -1;
        }
        memcpy(buf, line, n);
        buf[n] = '\0';
        if ((hash = strchr(buf, '#')) != NULL)
            *hash = '\0';
        if (parse_rule(p, buf, lineno, err) != 0) {
            trust_policy_free(p);
            return -1;
        }
        line += n + 1;
    }
    *out = p;
    return 0;
}

int
trust_policy_load(const char *path, struct trust_policy **out, qmf_error *err)
{
    FILE *f;
    char *buf;
    size_t len;
    int rc;

    if (path == NULL)
        return trust_policy_parse("", 0, "(no policy file)", out, err);
    if ((f = fopen(path, "re")) == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: %s", path, strerror(errno));
        return -1;
    }
    buf = qmf_xmalloc(POLICY_FILE_MAX + 1);
    len = fread(buf, 1, POLICY_FILE_MAX + 1, f);
    if (ferror(f) || len > POLICY_FILE_MAX) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%s: %s", path,
                      ferror(f) ? strerror(errno) : "larger than 1 MiB");
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    rc = trust_policy_parse(buf, len, path, out, err);
    free(buf);
    return rc;
}

/* Whether the credential's own constraints admit the action here. */
static bool
constraints_admit(const struct trust_ask *a, char *why, size_t why_len)
{
    const char *const *p;

    if (a->nodes != NULL && !trust_selector_match(a->nodes, a->node, a->labels)) {
        snprintf(why, why_len, "%s's credential is limited to nodes %s", a->caller, a->nodes);
        return false;
    }
    if (a->classes != NULL && a->class_name != NULL) {
        for (p = a->classes; *p != NULL && strcmp(*p, a->class_name) != 0; p++)
            ;
        if (*p == NULL) {
            snprintf(why, why_len, "%s's credential does not cover class %s", a->caller,
                     a->class_name);
            return false;
        }
    }
    if (a->methods != NULL) {
        for (p = a->methods; *p != NULL && fnmatch(*p, a->action, 0) != 0; p++)
            ;
        if (*p == NULL) {
            snprintf(why, why_len, "%s's credential does not cover %s", a->caller, a->action);
            return false;
        }
    }
    return true;
}

static bool
rule_matches(const struct rule *r, const struct trust_ask *a)
{
    if (r->who_role != 0) {
        if (!(trust_roles_implied(a->roles) & r->who_role))
            return false;
    } else if (strcmp(r->who, "*") != 0 && strcmp(r->who, a->caller) != 0) {
        return false;
    }
    return fnmatch(r->action, a->action, 0) == 0 &&
           trust_selector_match(r->nodes, a->node, a->labels);
}

bool
trust_policy_decide(const struct trust_policy *p, const struct trust_ask *a, char *why,
                    size_t why_len)
{
    char scratch[1];
    size_t i;

    if (why == NULL || why_len == 0) {
        why = scratch;
        why_len = sizeof(scratch);
    }
    if (!constraints_admit(a, why, why_len))
        return false;
    for (i = 0; p != NULL && i < p->n; i++) {
        const struct rule *r = &p->rules[i];

        if (!rule_matches(r, a))
            continue;
        snprintf(why, why_len, "%s by %s:%u (%s %s %s %s)",
                 r->effect == RULE_ALLOW ? "allowed" : "denied", p->name, r->line,
                 r->effect == RULE_ALLOW ? "allow" : "deny", r->who, r->action, r->nodes);
        return r->effect == RULE_ALLOW;
    }
    if (trust_roles_implied(a->roles) & a->needs) {
        snprintf(why, why_len, "allowed by role");
        return true;
    }
    {
        char *have = trust_roles_format(a->roles);
        char *need = trust_roles_format(a->needs);

        snprintf(why, why_len, "%s needs role %s; %s has %s", a->action, need, a->caller,
                 have[0] ? have : "no role");
        free(have);
        free(need);
    }
    return false;
}
