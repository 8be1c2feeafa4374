/*
 * virtbus key new|issue and virtbus whoami: the caller's keys and the
 * credentials an issuer signs for them (docs/SECURITY.md §5).  None of
 * these needs a broker.
 */
#include "controller/ctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "trust/credential.h"
#include "trust/key.h"

#define KEY_DEFAULT_DAYS 90
#define KEY_MAX_DAYS 3650
/* A credential starts a little in the past: clocks differ. */
#define KEY_BACKDATE_S 300

/* Creates dir (and its parents) private to the user, as ssh does ~/.ssh. */
static int
make_private_dir(const char *dir)
{
    char *copy = qmf_xstrdup(dir), *p;
    int rc = 0;

    for (p = strchr(copy + 1, '/');; p = strchr(p + 1, '/')) {
        if (p != NULL)
            *p = '\0';
        if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
            ctl_warnx("cannot create %s: %s", copy, strerror(errno));
            rc = -1;
            break;
        }
        if (p == NULL)
            break;
        *p = '/';
    }
    free(copy);
    return rc;
}

static int
key_new(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, struct ctl_args *a)
{
    const char *out = ctl_args_get(a, e, "out");
    char *prefix, *dir, *key_path, *pub_path, *slash;
    struct trust_key *k;
    qmf_error err;
    int rc = CTL_EXIT_FAILED;

    prefix = out != NULL ? qmf_xstrdup(out) : ctl_identity_default("caller");
    if (prefix == NULL) {
        ctl_warnx("no home directory for the key: give --out PREFIX");
        return CTL_EXIT_USAGE;
    }
    dir = qmf_xstrdup(prefix);
    if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
        *slash = '\0';
        if (out == NULL && make_private_dir(dir) != 0) {
            free(dir);
            free(prefix);
            return CTL_EXIT_FAILED;
        }
    }
    free(dir);
    key_path = qmf_xasprintf("%s.key", prefix);
    pub_path = qmf_xasprintf("%s.pub", prefix);
    if ((k = trust_key_generate(&err)) == NULL ||
        trust_key_save_private(k, key_path, &err) != 0) {
        ctl_warnx("%s", err.text);
    } else if (trust_key_save_public(k, pub_path, &err) != 0) {
        ctl_warnx("%s", err.text);
        unlink(key_path);
    } else {
        if (ctx->json) {
            qmf_value *doc = qmf_map();

            qmf_map_set(doc, "key_id", qmf_string(trust_key_id(k)));
            qmf_map_set(doc, "private_key", qmf_string(key_path));
            qmf_map_set(doc, "public_key", qmf_string(pub_path));
            ctl_print_json(doc);
            qmf_free(doc);
        } else if (!ctx->quiet) {
            printf("key %s\n  private %s (mode 0600: keep it to yourself)\n"
                   "  public  %s (give it to the issuer)\n",
                   trust_key_id(k), key_path, pub_path);
        }
        rc = CTL_EXIT_OK;
    }
    trust_key_free(k);
    free(key_path);
    free(pub_path);
    free(prefix);
    return rc;
}

/* "a,b,c" -> NULL-terminated list (malloc'd strings), NULL for NULL. */
static char **
split_list(const char *text)
{
    char **list, *copy, *tok, *save = NULL;
    size_t n = 0;

    if (text == NULL)
        return NULL;
    list = qmf_xcalloc(strlen(text) + 2, sizeof(*list));
    copy = qmf_xstrdup(text);
    for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
        list[n++] = qmf_xstrdup(tok);
    free(copy);
    return list;
}

static void
free_list(char **list)
{
    char **p;

    for (p = list; p != NULL && *p != NULL; p++)
        free(*p);
    free(list);
}

static int
parse_roles(const char *text, unsigned *roles)
{
    char **list = split_list(text), **p;

    *roles = 0;
    for (p = list; p != NULL && *p != NULL; p++) {
        unsigned bit = trust_role_parse(*p);

        if (bit == 0) {
            ctl_warnx("--roles: unknown role '%s' (reader, operator, admin, agent)", *p);
            free_list(list);
            return -1;
        }
        *roles |= bit;
    }
    free_list(list);
    return *roles != 0 ? 0 : -1;
}

static int
parse_days(const char *text, long *days)
{
    char *end;

    *days = KEY_DEFAULT_DAYS;
    if (text == NULL)
        return 0;
    errno = 0;
    *days = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || *days < 1 || *days > KEY_MAX_DAYS) {
        ctl_warnx("--days: expected 1 to %d, got '%s'", KEY_MAX_DAYS, text);
        return -1;
    }
    return 0;
}

/* Writes text and a newline to a new file (readable by all: credentials
 * are public), or to stdout for "-". */
static int
write_credential(const char *path, const char *text)
{
    qmf_error err;

    if (strcmp(path, "-") == 0) {
        printf("%s\n", text);
        return 0;
    }
    if (trust_credential_save(text, path, false, &err) != 0) {
        ctl_warnx("%s", err.text);
        return -1;
    }
    return 0;
}

static int
key_issue(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, struct ctl_args *a)
{
    const char *issuer_path = ctl_args_get(a, e, "issuer");
    const char *name = ctl_args_get(a, e, "name");
    const char *pub_path = ctl_args_get(a, e, "key");
    const char *out = ctl_args_get(a, e, "output");
    struct trust_credential f = { 0 };
    struct trust_key *issuer = NULL, *pub = NULL;
    char *text = NULL;
    qmf_error err;
    long days;
    int rc = CTL_EXIT_USAGE;

    if (issuer_path == NULL || name == NULL || pub_path == NULL ||
        ctl_args_get(a, e, "roles") == NULL)
        return ctl_usage(e, "key issue needs --issuer, --name, --key and --roles");
    if (parse_roles(ctl_args_get(a, e, "roles"), &f.roles) != 0 ||
        parse_days(ctl_args_get(a, e, "days"), &days) != 0)
        return CTL_EXIT_USAGE;
    if ((issuer = trust_key_load(issuer_path, &err)) == NULL ||
        (pub = trust_key_load(pub_path, &err)) == NULL) {
        ctl_warnx("%s", err.text);
        goto out;
    }
    if (!trust_key_is_private(issuer)) {
        ctl_warnx("%s: the issuer's private key is needed to sign", issuer_path);
        goto out;
    }
    f.name = (char *)name;
    memcpy(f.key, trust_key_raw(pub), TRUST_KEY_LEN);
    f.nodes = (char *)ctl_args_get(a, e, "nodes");
    f.classes = split_list(ctl_args_get(a, e, "classes"));
    f.methods = split_list(ctl_args_get(a, e, "methods"));
    f.not_before = (int64_t)time(NULL) - KEY_BACKDATE_S;
    f.not_after = f.not_before + KEY_BACKDATE_S + (int64_t)days * 86400;
    if ((text = trust_credential_issue(issuer, &f, &err)) == NULL) {
        ctl_warnx("%s", err.text);
        goto out;
    }
    rc = CTL_EXIT_FAILED;
    if (write_credential(out != NULL ? out : "-", text) != 0)
        goto out;
    if (out != NULL && !ctx->quiet && !ctx->json) {
        char until[40];

        ctl_format_time(f.not_after * 1000000000LL, until, sizeof(until));
        printf("credential for %s (key %s), serial %s, valid until %s: %s\n", f.name,
               trust_key_id(pub), f.serial, until, out);
    }
    rc = CTL_EXIT_OK;
out:
    free(text);
    free(f.serial);
    free_list(f.classes);
    free_list(f.methods);
    trust_key_free(issuer);
    trust_key_free(pub);
    return rc;
}

static int
key_exec(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, struct ctl_args *a)
{
    if (a->argc == 1 && strcmp(a->argv[0], "new") == 0)
        return key_new(ctx, e, a);
    if (a->argc == 1 && strcmp(a->argv[0], "issue") == 0)
        return key_issue(ctx, e, a);
    return ctl_usage(e, a->argc == 0 ? "new or issue?" : "unknown: %s", a->argv[0]);
}

static qmf_value *
list_json(char *const *list)
{
    qmf_value *l = qmf_list();

    for (; list != NULL && *list != NULL; list++)
        qmf_list_append(l, qmf_string(*list));
    return l;
}

static void
print_list(const char *what, char *const *list)
{
    if (list == NULL)
        return;
    printf("%-12s", what);
    for (; *list != NULL; list++)
        printf(" %s", *list);
    printf("\n");
}

static int
whoami_exec(struct ctl_ctx *ctx, const struct ctl_cmd_entry *e, struct ctl_args *a)
{
    struct ctl_identity id;
    const struct trust_credential *c;
    char from[40], until[40], *roles;
    int64_t now = (int64_t)time(NULL);
    bool expired;

    if (a->argc != 0)
        return ctl_usage(e, NULL);
    if (ctl_identity_load(ctx, &id) != 0)
        return CTL_EXIT_USAGE;
    if ((c = id.credential) == NULL) {
        ctl_warnx("no credential: %s names key %s, which only agents that trust it directly "
                  "accept", id.key_path, trust_key_id(id.key));
        ctl_identity_clear(&id);
        return CTL_EXIT_FAILED;
    }
    expired = now > c->not_after;
    roles = trust_roles_format(c->roles);
    ctl_format_time(c->not_before * 1000000000LL, from, sizeof(from));
    ctl_format_time(c->not_after * 1000000000LL, until, sizeof(until));
    if (ctx->json) {
        qmf_value *doc = qmf_map();

        qmf_map_set(doc, "name", qmf_string(c->name));
        {
            char **r = split_list(roles);

            qmf_map_set(doc, "roles", list_json(r));
            free_list(r);
        }
        qmf_map_set(doc, "key_id", qmf_string(c->key_id));
        qmf_map_set(doc, "issuer", qmf_string(c->issuer));
        qmf_map_set(doc, "serial", qmf_string(c->serial));
        qmf_map_set(doc, "not_before", qmf_i64(c->not_before));
        qmf_map_set(doc, "not_after", qmf_i64(c->not_after));
        qmf_map_set(doc, "expired", qmf_bool(expired));
        if (c->nodes != NULL)
            qmf_map_set(doc, "nodes", qmf_string(c->nodes));
        if (c->classes != NULL)
            qmf_map_set(doc, "classes", list_json(c->classes));
        if (c->methods != NULL)
            qmf_map_set(doc, "methods", list_json(c->methods));
        qmf_map_set(doc, "key_file", qmf_string(id.key_path));
        qmf_map_set(doc, "credential_file", qmf_string(id.credential_path));
        ctl_print_json(doc);
        qmf_free(doc);
    } else if (!ctx->quiet) {
        printf("%-12s %s\n%-12s %s\n", "name", c->name, "roles", roles);
        printf("%-12s %s (%s)\n", "key", c->key_id, id.key_path);
        printf("%-12s %s (serial %s)\n", "issuer", c->issuer, c->serial);
        printf("%-12s %s\n%-12s %s%s\n", "valid from", from, "until", until,
               expired ? "  EXPIRED" : "");
        if (c->nodes != NULL)
            printf("%-12s %s\n", "nodes", c->nodes);
        print_list("classes", c->classes);
        print_list("methods", c->methods);
    }
    free(roles);
    ctl_identity_clear(&id);
    return expired ? CTL_EXIT_FAILED : CTL_EXIT_OK;
}

static const struct ctl_option key_options[] = {
    { "out", 0, "PREFIX", "new: write PREFIX.key and PREFIX.pub "
      "(default ~/.config/virtbus/caller)", NULL },
    { "issuer", 0, "KEY", "issue: the issuer's private key", NULL },
    { "name", 0, "NAME", "issue: the caller's (or, for role agent, the node's) name", NULL },
    { "key", 0, "PUB", "issue: the caller's public key", NULL },
    { "roles", 0, "LIST", "issue: reader, operator, admin, agent (comma-separated)", NULL },
    { "nodes", 0, "SELECTOR", "issue: only on these nodes, e.g. tier=web,env!=prod", NULL },
    { "classes", 0, "LIST", "issue: only these classes", NULL },
    { "methods", 0, "LIST", "issue: only these Class.method globs (queries: Class.query)", NULL },
    { "days", 0, "N", "issue: valid for N days (default 90)", NULL },
    { "output", 'o', "FILE", "issue: write the credential to FILE (default: stdout)", NULL },
    { 0 },
};

const struct ctl_cmd_entry ctl_cmds_key[] = {
    { .name = "key", .usage = "new [--out PREFIX] | issue --issuer KEY --name NAME --key PUB "
      "--roles LIST [--nodes SEL] [--classes LIST] [--methods LIST] [--days N] [-o FILE]",
      .summary = "make a caller key pair; sign a caller's credential (the issuer)",
      .accepts = CTL_OFFLINE, .options = key_options, .exec = key_exec },
    { .name = "whoami", .usage = "",
      .summary = "the caller this console signs as: name, roles, key, expiry",
      .accepts = CTL_OFFLINE, .exec = whoami_exec },
    { 0 },
};
