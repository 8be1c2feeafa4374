/*
 * The controller's configuration file: one table of keys that says where
 * each value goes and what it must look like (core/conf_table.h);
 * and the lookups the CLI makes in it.
 */
#include "controller/config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bus/bus.h"
#include "core/conf_table.h"
#include "core/names.h"

static qmf_conf_apply_fn ctl_config_apply_broker;
static qmf_conf_apply_fn ctl_config_apply_aliases;
static qmf_conf_apply_fn ctl_config_apply_groups;
static qmf_conf_apply_fn ctl_config_apply_sasl_mechanism;
static qmf_conf_apply_fn ctl_config_apply_broker_topology;

#define QMF_CONF_STRUCT struct ctl_config

static const struct qmf_conf_key ctl_config_keys[] = {
    QMF_CONF_CUSTOM_KEY("broker", broker, QMF_CONF_STRINGS, ctl_config_apply_broker,
                        QMF_CONF_OWNS_STRING),
    QMF_CONF_CUSTOM_KEY("broker_aliases", broker_aliases, QMF_CONF_STRING_LIST,
                        ctl_config_apply_aliases, QMF_CONF_OWNS_VALUE),
    QMF_CONF_CUSTOM_KEY("node_groups", node_groups, QMF_CONF_STRING_LIST,
                        ctl_config_apply_groups, QMF_CONF_OWNS_VALUE),
    QMF_CONF_UNSIGNED_KEY("timeout", timeout, 1, CTL_CONFIG_MAX_TIMEOUT),
    QMF_CONF_UNSIGNED_KEY("presence_window", presence_window, CTL_CONFIG_MIN_PRESENCE_WINDOW,
                          CTL_CONFIG_MAX_PRESENCE_WINDOW),
    QMF_CONF_UNSIGNED_KEY("presence_reuse_ms", presence_reuse_ms, 0,
                          CTL_CONFIG_MAX_PRESENCE_REUSE_MS),
    QMF_CONF_BOOL_KEY("presence_summaries", presence_summaries),
    QMF_CONF_UNSIGNED_KEY("fleet_retention", fleet_retention, 0, CTL_CONFIG_MAX_FLEET_RETENTION),
    QMF_CONF_UNSIGNED_KEY("confirm_above", confirm_above, 0, CTL_CONFIG_MAX_CONFIRM_ABOVE),
    QMF_CONF_STRING_KEY("key_file", key_file, qmf_conf_check_absolute),
    QMF_CONF_LIST_KEY("agent_issuer_keys", agent_issuer_keys, qmf_conf_check_absolute),
    QMF_CONF_STRING_KEY("tls_ca", tls_ca, qmf_conf_check_absolute),
    QMF_CONF_STRING_KEY("tls_cert", tls_cert, qmf_conf_check_absolute),
    QMF_CONF_STRING_KEY("tls_key", tls_key, qmf_conf_check_absolute),
    QMF_CONF_BOOL_KEY("tls_verify_hostname", tls_verify_hostname),
    QMF_CONF_CUSTOM_KEY("sasl_mechanism", sasl, QMF_CONF_STRING,
                        ctl_config_apply_sasl_mechanism, QMF_CONF_OWNS_NOTHING),
    QMF_CONF_CUSTOM_KEY("broker_topology", provisioned, QMF_CONF_STRING,
                        ctl_config_apply_broker_topology, QMF_CONF_OWNS_NOTHING),
    QMF_CONF_BOOL_KEY("read_only", read_only),
    QMF_CONF_BOOL_KEY("seal_answers", seal_answers),
};

static const struct qmf_conf_table ctl_config_table = {
    ctl_config_keys, sizeof(ctl_config_keys) / sizeof(ctl_config_keys[0])
};

/* scheme "://" as in RFC 3986: a letter, then letters, digits, '+', '-', '.'. */
static bool
ctl_config_looks_like_url(const char *s)
{
    const char *p = s;

    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
        return false;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
           (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.')
        p++;
    return strncmp(p, "://", 3) == 0;
}

/* One URL, or several separated by white space (a cluster's nodes). */
static bool
ctl_config_urls_ok(const char *s)
{
    char **v = NULL;
    size_t n, i;
    bool ok;

    v = bus_url_split(s, &n);
    ok = n > 0;
    for (i = 0; i < n && ok; i++)
        ok = ctl_config_looks_like_url(v[i]);
    bus_url_list_free(v, n);
    return ok;
}

/* A node name, or a glob over node names as fnmatch(3) reads it. */
static bool
ctl_config_member_ok(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (!qmf_name_char_ok(s[i]) && strchr("*?[]!", s[i]) == NULL)
            return false;
    return true;
}

static int
ctl_config_apply_broker(void *field, const struct qmf_conf_statement *st, qmf_error *err)
{
    char **broker = field;
    const char *why = NULL;
    char *s, *shown;
    bool ok;
    int rc;

    /* One string: a URL (or several, space-separated) or an alias; a
     * list: URLs, the nodes of a cluster. */
    if (st->value->kind == QMF_STRING) {
        s = qmf_xstrdup(qmf_as_string(st->value));
        /* An alias name can never be read as a URL. */
        ok = ctl_config_urls_ok(s) || qmf_conf_check_name(s) == NULL;
    } else {
        s = bus_url_list_join(st->value, &why);
        if (s == NULL)
            return qmf_conf_error(err, st, "%s", why);
        ok = ctl_config_urls_ok(s);
    }
    if (!ok) {
        shown = bus_url_redact(s);
        rc = qmf_conf_error(err, st, "invalid value \"%.*s\" (expected %s)",
                            QMF_CONF_SHOW_MAX, shown,
                            st->value->kind == QMF_STRING ? "a URL or a broker alias"
                                                          : "a list of URLs");
        free(shown);
        free(s);
        return rc;
    }
    free(*broker);
    *broker = s;
    return 0;
}

static int
ctl_config_apply_aliases(void *field, const struct qmf_conf_statement *st, qmf_error *err)
{
    qmf_value *aliases = qmf_conf_pairs(st, "alias", err), **slot = field;
    const struct qmf_pair *alias;
    const char *why;
    size_t i;

    if (aliases == NULL)
        return -1;
    for (i = 0; i < qmf_map_len(aliases); i++) {
        alias = qmf_map_at(aliases, i);
        if ((why = qmf_conf_check_name(alias->key)) != NULL) {
            qmf_conf_error(err, st, "alias \"%.*s\" has an invalid name (%s)",
                           QMF_CONF_SHOW_MAX, alias->key, why);
            goto fail;
        }
        if (!ctl_config_urls_ok(qmf_as_string(alias->value))) {
            char *shown = bus_url_redact(qmf_as_string(alias->value));

            qmf_conf_error(err, st, "alias \"%.*s\": \"%.*s\" is not a URL "
                           "(expected scheme://...)", QMF_CONF_SHOW_MAX, alias->key,
                           QMF_CONF_SHOW_MAX, shown);
            free(shown);
            goto fail;
        }
    }
    qmf_free(*slot);
    *slot = aliases;
    return 0;

fail:
    qmf_free(aliases);
    return -1;
}

/* "web*, front1" -> [ "web*", "front1" ]; NULL with err set on a bad member. */
static qmf_value *
ctl_config_split_members(const struct qmf_conf_statement *st, const char *group,
                         const char *text, qmf_error *err)
{
    qmf_value *members = qmf_list();
    const char *p = text, *start, *end;

    if (text[strspn(text, " \t")] == '\0') {
        qmf_conf_error(err, st, "group \"%.*s\" has no members",
                       QMF_CONF_SHOW_MAX, group);
        goto fail;
    }
    for (;;) {
        start = p + strspn(p, " \t");
        p = start + strcspn(start, ",");
        end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (end == start) {
            qmf_conf_error(err, st, "group \"%.*s\" has an empty member",
                           QMF_CONF_SHOW_MAX, group);
            goto fail;
        }
        if (!ctl_config_member_ok(start, (size_t)(end - start))) {
            qmf_conf_error(err, st, "group \"%.*s\": invalid member \"%.*s\" "
                           "(expected a node name or glob)", QMF_CONF_SHOW_MAX, group,
                           (int)((size_t)(end - start) < QMF_CONF_SHOW_MAX ?
                                 (size_t)(end - start) : QMF_CONF_SHOW_MAX), start);
            goto fail;
        }
        qmf_list_append(members, qmf_stringn(start, (size_t)(end - start)));
        if (*p == '\0')
            return members;
        p++;    /* ',' */
    }

fail:
    qmf_free(members);
    return NULL;
}

static int
ctl_config_apply_groups(void *field, const struct qmf_conf_statement *st, qmf_error *err)
{
    qmf_value *pairs = qmf_conf_pairs(st, "group", err), *groups, *members, **slot = field;
    const struct qmf_pair *group;
    const char *why;
    size_t i;

    if (pairs == NULL)
        return -1;
    groups = qmf_map();
    for (i = 0; i < qmf_map_len(pairs); i++) {
        group = qmf_map_at(pairs, i);
        if ((why = qmf_conf_check_name(group->key)) != NULL) {
            qmf_conf_error(err, st, "group \"%.*s\" has an invalid name (%s)",
                           QMF_CONF_SHOW_MAX, group->key, why);
            goto fail;
        }
        members = ctl_config_split_members(st, group->key, qmf_as_string(group->value), err);
        if (members == NULL)
            goto fail;
        qmf_map_set(groups, group->key, members);
    }
    qmf_free(pairs);
    qmf_free(*slot);
    *slot = groups;
    return 0;

fail:
    qmf_free(pairs);
    qmf_free(groups);
    return -1;
}

static int
ctl_config_apply_broker_topology(void *field, const struct qmf_conf_statement *st,
                                 qmf_error *err)
{
    const char *s = qmf_as_string(st->value);

    if (bus_topology_from_name(s, field) != 0)
        return qmf_conf_error(err, st, "invalid value \"%.*s\" (expected \"declare\" or "
                              "\"provisioned\")", QMF_CONF_SHOW_MAX, s);
    return 0;
}

static int
ctl_config_apply_sasl_mechanism(void *field, const struct qmf_conf_statement *st,
                                qmf_error *err)
{
    const char *s = qmf_as_string(st->value);

    if (bus_sasl_from_name(s, field) != 0)
        return qmf_conf_error(err, st, "invalid value \"%.*s\" (expected \"plain\" or "
                              "\"external\")", QMF_CONF_SHOW_MAX, s);
    return 0;
}

void
ctl_config_defaults(struct ctl_config *c)
{
    *c = (struct ctl_config){
        .broker = NULL,
        .broker_aliases = qmf_map(),
        .node_groups = qmf_map(),
        .timeout = CTL_CONFIG_DEFAULT_TIMEOUT,
        .presence_window = CTL_CONFIG_DEFAULT_PRESENCE_WINDOW,
        .presence_reuse_ms = CTL_CONFIG_DEFAULT_PRESENCE_REUSE_MS,
        .presence_summaries = true,
        .confirm_above = CTL_CONFIG_DEFAULT_CONFIRM_ABOVE,
        .key_file = NULL,
        .agent_issuer_keys = qmf_list(),
        .paths_read = NULL,
        .tls_verify_hostname = true,
        .sasl = BUS_SASL_PLAIN,
        .seal_answers = true,
    };
}

void
ctl_config_free(struct ctl_config *c)
{
    if (c == NULL)
        return;
    qmf_conf_table_free(&ctl_config_table, c);
    free(c->paths_read);
    c->paths_read = NULL;
}

/* Every load works on a copy and swaps it in on success. */
static void
ctl_config_copy(struct ctl_config *dst, const struct ctl_config *src)
{
    *dst = *src;
    qmf_conf_table_copy(&ctl_config_table, dst, src);
    dst->paths_read = src->paths_read != NULL ? qmf_xstrdup(src->paths_read) : NULL;
    /* Never NULL, even copied from a configuration filled by hand. */
    if (dst->broker_aliases == NULL)
        dst->broker_aliases = qmf_map();
    if (dst->node_groups == NULL)
        dst->node_groups = qmf_map();
    if (dst->agent_issuer_keys == NULL)
        dst->agent_issuer_keys = qmf_list();
}

static void
ctl_config_swap_in(struct ctl_config *c, struct ctl_config *tmp)
{
    ctl_config_free(c);
    *c = *tmp;
}

int
ctl_config_parse(struct ctl_config *c, const char *text, size_t len,
                 const char *name, qmf_error *err)
{
    struct ctl_config tmp;

    ctl_config_copy(&tmp, c);
    if (qmf_conf_table_parse(&ctl_config_table, text, len, name, &tmp, err) < 0) {
        ctl_config_free(&tmp);
        return -1;
    }
    ctl_config_swap_in(c, &tmp);
    return 0;
}

/* Loads path into c in place; c may be half-updated on failure. */
static int
ctl_config_load_into(struct ctl_config *c, const char *path, qmf_error *err)
{
    char *text, *paths;
    size_t len;
    int rc;

    text = qmf_conf_read_file(path, QMF_CONF_FILE_MAX, &len, err);
    if (text == NULL)
        return -1;
    rc = qmf_conf_table_parse(&ctl_config_table, text, len, path, c, err);
    free(text);
    if (rc < 0)
        return -1;
    paths = c->paths_read != NULL ? qmf_xasprintf("%s:%s", c->paths_read, path)
                                  : qmf_xstrdup(path);
    free(c->paths_read);
    c->paths_read = paths;
    return 0;
}

int
ctl_config_load(struct ctl_config *c, const char *path, qmf_error *err)
{
    struct ctl_config tmp;

    if (path == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "no configuration file given");
        return -1;
    }
    ctl_config_copy(&tmp, c);
    if (ctl_config_load_into(&tmp, path, err) < 0) {
        ctl_config_free(&tmp);
        return -1;
    }
    ctl_config_swap_in(c, &tmp);
    return 0;
}

/* The optional files: absent is fine, anything else wrong is an error. */
static int
ctl_config_load_if_exists(struct ctl_config *c, const char *path, qmf_error *err)
{
    struct stat st;

    if (stat(path, &st) < 0 && (errno == ENOENT || errno == ENOTDIR))
        return 0;
    return ctl_config_load_into(c, path, err);
}

/* The per-user file as the XDG base directory specification places it;
 * NULL when there is no home to put it in. */
static char *
ctl_config_user_path(void)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");

    if (xdg != NULL && xdg[0] == '/')
        return qmf_xasprintf("%s/virtbus/virtbus.conf", xdg);
    if (home != NULL && home[0] != '\0')
        return qmf_xasprintf("%s/.config/virtbus/virtbus.conf", home);
    return NULL;
}

int
ctl_config_load_default(struct ctl_config *c, qmf_error *err)
{
    const char *only = getenv("VIRTBUS_CONFIG");
    struct ctl_config tmp;
    char *user;
    int rc;

    ctl_config_copy(&tmp, c);
    if (only != NULL && only[0] != '\0') {
        rc = ctl_config_load_into(&tmp, only, err);
    } else {
        rc = ctl_config_load_if_exists(&tmp, CTL_CONFIG_SYSTEM_PATH, err);
        user = ctl_config_user_path();
        if (rc == 0 && user != NULL)
            rc = ctl_config_load_if_exists(&tmp, user, err);
        free(user);
    }
    if (rc < 0) {
        ctl_config_free(&tmp);
        return -1;
    }
    ctl_config_swap_in(c, &tmp);
    return 0;
}

/* "a, b, c" from a map's keys, or NULL when it is empty. */
static char *
ctl_config_join_keys(const qmf_value *map)
{
    char *joined = NULL, *next;
    size_t i;

    for (i = 0; i < qmf_map_len(map); i++) {
        next = joined != NULL ? qmf_xasprintf("%s, %s", joined, qmf_map_at(map, i)->key)
                              : qmf_xstrdup(qmf_map_at(map, i)->key);
        free(joined);
        joined = next;
    }
    return joined;
}

int
ctl_config_broker_url(const struct ctl_config *c, const char *name, char **url,
                      qmf_error *err)
{
    const char *alias_url, *origin = "";
    char *known, *shown;

    *url = NULL;
    if (name == NULL) {
        if (c->broker == NULL)
            return 0;
        name = c->broker;
        origin = "the configured broker: ";
    }
    alias_url = qmf_map_get_string(c->broker_aliases, name);
    if (alias_url != NULL) {
        *url = qmf_xstrdup(alias_url);
        return 0;
    }
    if (ctl_config_urls_ok(name)) {
        *url = qmf_xstrdup(name);
        return 0;
    }
    /* Not a URL, but it may be one without its scheme, password and all. */
    shown = bus_url_redact(name);
    known = ctl_config_join_keys(c->broker_aliases);
    if (known != NULL)
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "%sunknown broker alias '%s' (aliases: %s)",
                      origin, shown, known);
    else
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "%sunknown broker alias '%s' (no broker aliases are configured)",
                      origin, shown);
    free(known);
    free(shown);
    return -1;
}

const qmf_value *
ctl_config_group(const struct ctl_config *c, const char *group, qmf_error *err)
{
    const qmf_value *members;
    char *known;

    if (group[0] == '@')
        group++;
    members = qmf_map_get(c->node_groups, group);
    if (members != NULL)
        return members;
    known = ctl_config_join_keys(c->node_groups);
    if (known != NULL)
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "unknown node group '%s' (groups: %s)",
                      group, known);
    else
        qmf_error_set(err, QMF_ERR_INVALID_ARGS,
                      "unknown node group '%s' (no node groups are configured)", group);
    free(known);
    return NULL;
}
