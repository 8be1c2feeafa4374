/* Tests of the controller's configuration: keys, lookups, files, errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "controller/config.h"
#include "tests/testutil.h"

static int
parse_text(struct ctl_config *c, const char *text, qmf_error *err)
{
    qmf_error_clear(err);
    return ctl_config_parse(c, text, strlen(text), "t.conf", err);
}

static void
assert_str_or_null_eq(const char *a, const char *b)
{
    cr_assert((a == NULL) == (b == NULL), "%s vs %s", a ? a : "NULL", b ? b : "NULL");
    if (a != NULL)
        cr_assert_str_eq(a, b);
}

static void
assert_configs_equal(const struct ctl_config *a, const struct ctl_config *b)
{
    assert_str_or_null_eq(a->broker, b->broker);
    cr_assert(qmf_equal(a->broker_aliases, b->broker_aliases));
    cr_assert(qmf_equal(a->node_groups, b->node_groups));
    cr_assert_eq(a->timeout, b->timeout);
    cr_assert_eq(a->presence_window, b->presence_window);
    cr_assert_eq(a->presence_reuse_ms, b->presence_reuse_ms);
    cr_assert_eq(a->presence_summaries, b->presence_summaries);
    cr_assert_eq(a->fleet_retention, b->fleet_retention);
    cr_assert_eq(a->confirm_above, b->confirm_above);
    assert_str_or_null_eq(a->key_file, b->key_file);
    assert_str_or_null_eq(a->paths_read, b->paths_read);
    assert_str_or_null_eq(a->tls_ca, b->tls_ca);
    assert_str_or_null_eq(a->tls_cert, b->tls_cert);
    assert_str_or_null_eq(a->tls_key, b->tls_key);
    cr_assert_eq(a->tls_verify_hostname, b->tls_verify_hostname);
    cr_assert_eq(a->sasl, b->sasl);
    cr_assert_eq(a->provisioned, b->provisioned);
    cr_assert_eq(a->read_only, b->read_only);
}

/* A fresh config with text parsed into it; the test fails if it does not parse. */
static void
config_from(struct ctl_config *c, const char *text)
{
    qmf_error err;

    ctl_config_defaults(c);
    cr_assert_eq(parse_text(c, text, &err), 0, "%s", err.text);
}

/* The members of a group as one "a|b|c" string, malloc'd. */
static char *
members(const struct ctl_config *c, const char *group)
{
    const qmf_value *list;
    qmf_error err;
    char *joined = qmf_xstrdup(""), *next;
    size_t i;

    list = ctl_config_group(c, group, &err);
    cr_assert_not_null(list, "%s", err.text);
    cr_assert_eq(list->kind, QMF_LIST);
    for (i = 0; i < qmf_list_len(list); i++) {
        cr_assert_eq(qmf_list_at(list, i)->kind, QMF_STRING);
        next = qmf_xasprintf("%s%s%s", joined, i > 0 ? "|" : "",
                             qmf_as_string(qmf_list_at(list, i)));
        free(joined);
        joined = next;
    }
    return joined;
}

static void
assert_members(const struct ctl_config *c, const char *group, const char *want)
{
    char *got = members(c, group);

    cr_assert_str_eq(got, want, "group %s: %s, wanted %s", group, got, want);
    free(got);
}

/* The URL for name, which must resolve. */
static void
assert_url(const struct ctl_config *c, const char *name, const char *want)
{
    qmf_error err;
    char *url = (char *)"untouched";

    cr_assert_eq(ctl_config_broker_url(c, name, &url, &err), 0, "%s", err.text);
    assert_str_or_null_eq(url, want);
    free(url);
}

static void
assert_url_error(const struct ctl_config *c, const char *name, const char *message)
{
    qmf_error err;
    char *url = (char *)"untouched";

    cr_assert_eq(ctl_config_broker_url(c, name, &url, &err), -1);
    cr_assert_null(url);
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    cr_assert_str_eq(err.text, message);
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fputs(text, f) >= 0, true);
    cr_assert_eq(fclose(f), 0);
}

/* A temporary file holding text; the path is malloc'd. */
static char *
write_temp(const char *text)
{
    char *path = strdup("/tmp/virtbus-test-ctl-config-XXXXXX");
    int fd = mkstemp(path);

    cr_assert(fd >= 0);
    close(fd);
    write_file(path, text);
    return path;
}

/* A temporary directory standing for $XDG_CONFIG_HOME, with
 * virtbus/virtbus.conf in it holding text (none if text is NULL). */
struct xdg_home {
    char dir[64];
    char sub[96];
    char file[128];
};

static void
xdg_home_make(struct xdg_home *h, const char *text)
{
    strcpy(h->dir, "/tmp/virtbus-test-xdg-XXXXXX");
    cr_assert_not_null(mkdtemp(h->dir));
    snprintf(h->sub, sizeof(h->sub), "%s/virtbus", h->dir);
    snprintf(h->file, sizeof(h->file), "%s/virtbus.conf", h->sub);
    cr_assert_eq(mkdir(h->sub, 0700), 0);
    if (text != NULL)
        write_file(h->file, text);
}

static void
xdg_home_remove(struct xdg_home *h)
{
    unlink(h->file);
    rmdir(h->sub);
    rmdir(h->dir);
}

/* The default-path tests cannot control /etc: they only run without it. */
static void
skip_if_system_file(void)
{
    if (access(CTL_CONFIG_SYSTEM_PATH, F_OK) == 0)
        cr_skip_test(CTL_CONFIG_SYSTEM_PATH " exists on this machine");
}

Test(ctl_config, defaults)
{
    struct ctl_config c;

    ctl_config_defaults(&c);
    cr_assert_null(c.broker);
    cr_assert_not_null(c.broker_aliases);
    cr_assert_eq(c.broker_aliases->kind, QMF_MAP);
    cr_assert_eq(qmf_map_len(c.broker_aliases), 0);
    cr_assert_not_null(c.node_groups);
    cr_assert_eq(c.node_groups->kind, QMF_MAP);
    cr_assert_eq(qmf_map_len(c.node_groups), 0);
    cr_assert_eq(c.timeout, 10);
    cr_assert_eq(c.timeout, CTL_CONFIG_DEFAULT_TIMEOUT);
    cr_assert_null(c.key_file);
    cr_assert_null(c.paths_read);
    cr_assert_null(c.tls_ca);
    cr_assert_null(c.tls_cert);
    cr_assert_null(c.tls_key);
    cr_assert(c.tls_verify_hostname);
    cr_assert_eq(c.sasl, BUS_SASL_PLAIN);
    cr_assert(!c.provisioned);
    cr_assert(!c.read_only);
    ctl_config_free(&c);
    cr_assert_null(c.broker_aliases);
    cr_assert_null(c.node_groups);
    ctl_config_free(&c);    /* twice is harmless */
    ctl_config_free(NULL);
}

Test(ctl_config, every_key)
{
    static const char text[] =
        "broker = \"prod\"\n"
        "broker_aliases = [\n"
        "    \"prod=amqps://ops:pw@broker.example.com:5671/prod\",   # production\n"
        "    'lab=amqp://guest:guest@127.0.0.1:5672/',\n"
        "]\n"
        "node_groups = [ \"web=web*, front1\", \"db=db01,db02\", \"rack_1.a=r1-[0-9]?,!x\" ]\n"
        "timeout = 86400\n"
        "key_file = \"/etc/virtbus/controller.key\"\n"
        "tls_ca = \"/etc/virtbus/ca.pem\"\n"
        "tls_cert = \"/home/ops/ops.pem\"\n"
        "tls_key = \"/home/ops/ops.key\"\n"
        "tls_verify_hostname = no\n"
        "sasl_mechanism = 'external'\n"
        "broker_topology = 'provisioned'\n"
        "read_only = yes\n";
    struct ctl_config c;

    config_from(&c, text);
    cr_assert_str_eq(c.broker, "prod");
    cr_assert_eq(qmf_map_len(c.broker_aliases), 2);
    cr_assert_str_eq(qmf_map_get_string(c.broker_aliases, "prod"),
                     "amqps://ops:pw@broker.example.com:5671/prod");
    cr_assert_str_eq(qmf_map_get_string(c.broker_aliases, "lab"),
                     "amqp://guest:guest@127.0.0.1:5672/");
    cr_assert_eq(qmf_map_len(c.node_groups), 3);
    assert_members(&c, "web", "web*|front1");
    assert_members(&c, "db", "db01|db02");
    assert_members(&c, "rack_1.a", "r1-[0-9]?|!x");
    cr_assert_eq(c.timeout, 86400);
    cr_assert_str_eq(c.key_file, "/etc/virtbus/controller.key");
    cr_assert_str_eq(c.tls_ca, "/etc/virtbus/ca.pem");
    cr_assert_str_eq(c.tls_cert, "/home/ops/ops.pem");
    cr_assert_str_eq(c.tls_key, "/home/ops/ops.key");
    cr_assert(!c.tls_verify_hostname);
    cr_assert_eq(c.sasl, BUS_SASL_EXTERNAL);
    cr_assert(c.provisioned);
    cr_assert(c.read_only);
    /* A parse is not a file read. */
    cr_assert_null(c.paths_read);
    ctl_config_free(&c);

    config_from(&c, "timeout = 1\n");
    cr_assert_eq(c.timeout, 1);
    cr_assert_eq(c.presence_window, CTL_CONFIG_DEFAULT_PRESENCE_WINDOW);
    cr_assert_eq(c.presence_reuse_ms, CTL_CONFIG_DEFAULT_PRESENCE_REUSE_MS);
    ctl_config_free(&c);

    config_from(&c, "presence_reuse_ms = 0\n");
    cr_assert_eq(c.presence_reuse_ms, 0);
    cr_assert_eq(c.confirm_above, CTL_CONFIG_DEFAULT_CONFIRM_ABOVE);
    cr_assert(c.presence_summaries, "summaries are read by default");
    ctl_config_free(&c);

    config_from(&c, "presence_summaries = no\n");
    cr_assert_not(c.presence_summaries);
    ctl_config_free(&c);

    config_from(&c, "confirm_above = 0\n");
    cr_assert_eq(c.confirm_above, 0);
    ctl_config_free(&c);
}

Test(ctl_config, broker_url)
{
    struct ctl_config c;

    config_from(&c, "broker_aliases = [ \"prod=amqps://p/\", \"lab=amqp://l/\" ]\n");
    assert_url(&c, "prod", "amqps://p/");
    assert_url(&c, "lab", "amqp://l/");
    /* Aliases are exact: no case folding, no prefixes. */
    assert_url_error(&c, "Prod", "unknown broker alias 'Prod' (aliases: prod, lab)");
    assert_url_error(&c, "pro", "unknown broker alias 'pro' (aliases: prod, lab)");
    /* A URL passes through as it is, whatever its scheme. */
    assert_url(&c, "amqp://guest:guest@h:5672/", "amqp://guest:guest@h:5672/");
    assert_url(&c, "amqp1.0+tls://h/", "amqp1.0+tls://h/");
    assert_url_error(&c, "h:5672", "unknown broker alias 'h:5672' (aliases: prod, lab)");
    assert_url_error(&c, "://h", "unknown broker alias '://h' (aliases: prod, lab)");
    assert_url_error(&c, "", "unknown broker alias '' (aliases: prod, lab)");
    /* No configured default: the caller's own default applies. */
    assert_url(&c, NULL, NULL);
    ctl_config_free(&c);

    config_from(&c, "");
    assert_url_error(&c, "prod",
                     "unknown broker alias 'prod' (no broker aliases are configured)");
    assert_url(&c, "amqp://h/", "amqp://h/");
    ctl_config_free(&c);
}

/* A cluster: a list as the default broker, an alias naming a list, and a
 * list given as the -c argument; each comes out space-separated (bus.h). */
Test(ctl_config, broker_lists)
{
    struct ctl_config c;

    config_from(&c, "broker = [ \"amqp://a:1/\", \"amqp://b:2/\",\n  \"amqp://c:3/\" ]\n"
                    "broker_aliases = [ \"prod=amqps://p1/ amqps://p2/\" ]\n");
    assert_url(&c, NULL, "amqp://a:1/ amqp://b:2/ amqp://c:3/");
    assert_url(&c, "prod", "amqps://p1/ amqps://p2/");
    assert_url(&c, "amqp://x/ amqp://y/", "amqp://x/ amqp://y/");
    assert_url_error(&c, "amqp://x/ y", "unknown broker alias 'amqp://x/ y' (aliases: prod)");
    ctl_config_free(&c);
    /* A one-item list is one broker. */
    config_from(&c, "broker = [ \"amqp://a/\" ]\n");
    assert_url(&c, NULL, "amqp://a/");
    ctl_config_free(&c);
}

Test(ctl_config, default_broker)
{
    struct ctl_config c;

    config_from(&c, "broker = 'prod'\nbroker_aliases = [ \"prod=amqps://p/\" ]\n");
    assert_url(&c, NULL, "amqps://p/");
    /* -c wins over the configured default. */
    assert_url(&c, "amqp://other/", "amqp://other/");
    ctl_config_free(&c);

    config_from(&c, "broker = 'amqp://u:p@h:5672/vh'\n");
    assert_url(&c, NULL, "amqp://u:p@h:5672/vh");
    ctl_config_free(&c);

    /* An alias that no file defines is found out when it is used. */
    config_from(&c, "broker = 'prod'\nbroker_aliases = [ \"lab=amqp://l/\" ]\n");
    assert_url_error(&c, NULL,
                     "the configured broker: unknown broker alias 'prod' (aliases: lab)");
    ctl_config_free(&c);
}

Test(ctl_config, groups)
{
    struct ctl_config c;
    qmf_error err;

    config_from(&c, "node_groups = [ \"web=web*,front1\", \"db= db01 ,\tdb02 \", \"one=n1\" ]\n");
    assert_members(&c, "web", "web*|front1");
    assert_members(&c, "@web", "web*|front1");
    assert_members(&c, "db", "db01|db02");
    assert_members(&c, "one", "n1");
    cr_assert_null(ctl_config_group(&c, "Web", &err));
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    cr_assert_str_eq(err.text, "unknown node group 'Web' (groups: web, db, one)");
    cr_assert_null(ctl_config_group(&c, "@nope", &err));
    cr_assert_str_eq(err.text, "unknown node group 'nope' (groups: web, db, one)");
    ctl_config_free(&c);

    config_from(&c, "");
    cr_assert_null(ctl_config_group(&c, "@web", &err));
    cr_assert_str_eq(err.text, "unknown node group 'web' (no node groups are configured)");
    ctl_config_free(&c);
}

/* Two files: the later one replaces the keys it sets, lists as a whole. */
Test(ctl_config, later_file_overrides_earlier_keys)
{
    struct ctl_config c;
    qmf_error err;
    char *system, *user, *paths;

    system = write_temp("broker = \"prod\"\n"
                        "broker_aliases = [ \"prod=amqps://p/\", \"lab=amqp://l/\" ]\n"
                        "node_groups = [ \"web=w*\" ]\n"
                        "timeout = 30\n");
    user = write_temp("# the user's own\n"
                      "broker_aliases = [ \"mine=amqp://m/\" ]\n"
                      "timeout = 5\n"
                      "key_file = \"/home/u/key\"\n");
    ctl_config_defaults(&c);
    cr_assert_eq(ctl_config_load(&c, system, &err), 0, "%s", err.text);
    cr_assert_str_eq(c.paths_read, system);
    cr_assert_eq(ctl_config_load(&c, user, &err), 0, "%s", err.text);
    paths = qmf_xasprintf("%s:%s", system, user);
    cr_assert_str_eq(c.paths_read, paths);
    free(paths);

    cr_assert_str_eq(c.broker, "prod");
    cr_assert_eq(qmf_map_len(c.broker_aliases), 1);
    cr_assert_str_eq(qmf_map_get_string(c.broker_aliases, "mine"), "amqp://m/");
    assert_members(&c, "web", "w*");
    cr_assert_eq(c.timeout, 5);
    cr_assert_str_eq(c.key_file, "/home/u/key");
    /* The system file's default names an alias the user's list dropped. */
    assert_url_error(&c, NULL, "the configured broker: unknown broker alias 'prod' "
                               "(aliases: mine)");
    ctl_config_free(&c);
    unlink(system);
    unlink(user);
    free(system);
    free(user);
}

Test(ctl_config, failed_load_leaves_config_unchanged)
{
    static const char good[] =
        "broker_aliases = [ \"a=amqp://a/\" ]\nnode_groups = [ \"g=n1\" ]\ntimeout = 7\n";
    /* Every key before the error is valid and would change something. */
    static const char bad[] =
        "broker = \"amqp://b/\"\nbroker_aliases = [ \"b=amqp://b/\" ]\n"
        "node_groups = [ \"h=n2\" ]\nkey_file = \"/k\"\ntimeout = 8\ntimeout = 9\n";
    struct ctl_config c, before;
    qmf_error err;
    char *path, *good_path;

    good_path = write_temp(good);
    ctl_config_defaults(&c);
    cr_assert_eq(ctl_config_load(&c, good_path, &err), 0, "%s", err.text);
    ctl_config_defaults(&before);
    cr_assert_eq(ctl_config_load(&before, good_path, &err), 0, "%s", err.text);

    cr_assert_eq(parse_text(&c, bad, &err), -1);
    cr_assert_str_eq(err.text, "t.conf:6: timeout: duplicate key (first set on line 5)");
    assert_configs_equal(&c, &before);

    path = write_temp(bad);
    cr_assert_eq(ctl_config_load(&c, path, &err), -1);
    assert_configs_equal(&c, &before);
    cr_assert_eq(ctl_config_load(&c, "/nonexistent/virtbus.conf", &err), -1);
    cr_assert_str_eq(err.text, "/nonexistent/virtbus.conf: cannot open: "
                               "No such file or directory");
    assert_configs_equal(&c, &before);
    cr_assert_eq(ctl_config_load(&c, NULL, &err), -1);
    assert_configs_equal(&c, &before);

    /* And through the default paths. */
    cr_assert_eq(setenv("VIRTBUS_CONFIG", path, 1), 0);
    cr_assert_eq(ctl_config_load_default(&c, &err), -1);
    assert_configs_equal(&c, &before);

    unlink(path);
    unlink(good_path);
    free(path);
    free(good_path);
    ctl_config_free(&c);
    ctl_config_free(&before);
}

Test(ctl_config, load_file_error_names_the_path)
{
    struct ctl_config c;
    qmf_error err;
    char *path, *want;

    path = write_temp("# virtbus.conf\ntimeout = 10\n\nbroker_aliases = [\n  \"prod\",\n]\n");
    ctl_config_defaults(&c);
    cr_assert_eq(ctl_config_load(&c, path, &err), -1);
    want = qmf_xasprintf("%s:4: broker_aliases: alias \"prod\" has no '='", path);
    cr_assert_str_eq(err.text, want);
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    free(want);
    unlink(path);
    free(path);
    ctl_config_free(&c);
}

Test(ctl_config, virtbus_config_names_the_only_file)
{
    struct xdg_home xdg;
    struct ctl_config c;
    qmf_error err;
    char *only;

    xdg_home_make(&xdg, "timeout = 3\nkey_file = \"/xdg\"\n");
    only = write_temp("timeout = 42\n");
    cr_assert_eq(setenv("XDG_CONFIG_HOME", xdg.dir, 1), 0);
    cr_assert_eq(setenv("VIRTBUS_CONFIG", only, 1), 0);

    ctl_config_defaults(&c);
    cr_assert_eq(ctl_config_load_default(&c, &err), 0, "%s", err.text);
    cr_assert_eq(c.timeout, 42);
    cr_assert_null(c.key_file);
    cr_assert_str_eq(c.paths_read, only);
    ctl_config_free(&c);

    /* It must exist. */
    unlink(only);
    ctl_config_defaults(&c);
    cr_assert_eq(ctl_config_load_default(&c, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    cr_assert(strstr(err.text, only) == err.text, "%s", err.text);
    cr_assert(strstr(err.text, ": cannot open: No such file or directory") != NULL,
              "%s", err.text);
    cr_assert_eq(c.timeout, 10);
    cr_assert_null(c.paths_read);
    ctl_config_free(&c);

    free(only);
    xdg_home_remove(&xdg);
}

Test(ctl_config, xdg_config_home)
{
    struct xdg_home xdg;
    struct ctl_config c;
    qmf_error err;
    char *want;

    skip_if_system_file();
    xdg_home_make(&xdg, "timeout = 3\nnode_groups = [ \"g=a,b\" ]\n");
    cr_assert_eq(unsetenv("VIRTBUS_CONFIG"), 0);
    cr_assert_eq(setenv("XDG_CONFIG_HOME", xdg.dir, 1), 0);

    ctl_config_defaults(&c);
    cr_assert_eq(ctl_config_load_default(&c, &err), 0, "%s", err.text);
    cr_assert_eq(c.timeout, 3);
    assert_members(&c, "@g", "a|b");
    cr_assert_str_eq(c.paths_read, xdg.file);
    ctl_config_free(&c);

    /* An empty $VIRTBUS_CONFIG is as good as unset. */
    cr_assert_eq(setenv("VIRTBUS_CONFIG", "", 1), 0);
    ctl_config_defaults(&c);
    cr_assert_eq(ctl_config_load_default(&c, &err), 0, "%s", err.text);
    cr_assert_str_eq(c.paths_read, xdg.file);
    ctl_config_free(&c);

    /* A bad user file is an error that names it. */
    write_file(xdg.file, "timeout = 3\n\ntimeout = 4\n");
    ctl_config_defaults(&c);
    cr_assert_eq(ctl_config_load_default(&c, &err), -1);
    want = qmf_xasprintf("%s:3: timeout: duplicate key (first set on line 1)", xdg.file);
    cr_assert_str_eq(err.text, want);
    free(want);
    cr_assert_eq(c.timeout, 10);
    ctl_config_free(&c);

    /* No file at all is fine: the defaults stay. */
    unlink(xdg.file);
    ctl_config_defaults(&c);
    cr_assert_eq(ctl_config_load_default(&c, &err), 0, "%s", err.text);
    cr_assert_null(c.paths_read);
    cr_assert_eq(c.timeout, 10);
    ctl_config_free(&c);

    xdg_home_remove(&xdg);
}

/* Without $XDG_CONFIG_HOME (or with a relative one, which the XDG
 * specification says to ignore), the file is under $HOME/.config. */
Test(ctl_config, home_config)
{
    struct xdg_home home;
    struct ctl_config c;
    qmf_error err;
    char dot_config[128], sub[160], file[192];

    skip_if_system_file();
    xdg_home_make(&home, NULL);     /* $HOME, with an unused virtbus/ in it */
    snprintf(dot_config, sizeof(dot_config), "%s/.config", home.dir);
    snprintf(sub, sizeof(sub), "%s/virtbus", dot_config);
    snprintf(file, sizeof(file), "%s/virtbus.conf", sub);
    cr_assert_eq(mkdir(dot_config, 0700), 0);
    cr_assert_eq(mkdir(sub, 0700), 0);
    write_file(file, "key_file = \"/home/k\"\n");
    cr_assert_eq(unsetenv("VIRTBUS_CONFIG"), 0);
    cr_assert_eq(unsetenv("XDG_CONFIG_HOME"), 0);
    cr_assert_eq(setenv("HOME", home.dir, 1), 0);

    ctl_config_defaults(&c);
    cr_assert_eq(ctl_config_load_default(&c, &err), 0, "%s", err.text);
    cr_assert_str_eq(c.key_file, "/home/k");
    cr_assert_str_eq(c.paths_read, file);
    ctl_config_free(&c);

    cr_assert_eq(setenv("XDG_CONFIG_HOME", "relative/dir", 1), 0);
    ctl_config_defaults(&c);
    cr_assert_eq(ctl_config_load_default(&c, &err), 0, "%s", err.text);
    cr_assert_str_eq(c.paths_read, file);
    ctl_config_free(&c);

    cr_assert_eq(setenv("XDG_CONFIG_HOME", "", 1), 0);
    ctl_config_defaults(&c);
    cr_assert_eq(ctl_config_load_default(&c, &err), 0, "%s", err.text);
    cr_assert_str_eq(c.paths_read, file);
    ctl_config_free(&c);

    /* No home at all: only the system file could be read. */
    cr_assert_eq(unsetenv("XDG_CONFIG_HOME"), 0);
    cr_assert_eq(unsetenv("HOME"), 0);
    ctl_config_defaults(&c);
    cr_assert_eq(ctl_config_load_default(&c, &err), 0, "%s", err.text);
    cr_assert_null(c.paths_read);
    cr_assert_null(c.key_file);
    ctl_config_free(&c);

    unlink(file);
    rmdir(sub);
    rmdir(dot_config);
    xdg_home_remove(&home);
}

struct error_case {
    const char *text;
    const char *message;
};

#define NAME_RULE "(only letters, digits, '.', '_' and '-' are allowed)"

static const struct error_case error_cases[] = {
    /* keys and syntax, from the shared reader */
    { "timeout = 2\nbogus = 1\n", "t.conf:2: bogus: unknown key" },
    { "Timeout = 2\n", "t.conf:1: Timeout: unknown key" },
    { "uri_aliases = [ \"a=b\" ]\n", "t.conf:1: uri_aliases: unknown key" },
    { "\ntimeout = 2\n# again\ntimeout = 3\n",
      "t.conf:4: timeout: duplicate key (first set on line 2)" },
    { "broker \"amqp://h/\"\n", "t.conf:1: broker: missing '='" },
    { "broker = \"amqp://h/\n", "t.conf:1: broker: unterminated string" },
    { "node_groups = [ \"a=b\",\n", "t.conf:1: node_groups: unterminated list" },
    /* wrong types */
    { "timeout = \"10\"\n", "t.conf:1: timeout: expected an integer, got \"10\"" },
    { "timeout = ten\n", "t.conf:1: timeout: expected an integer, got \"ten\"" },
    { "timeout = [ 1 ]\n", "t.conf:1: timeout: expected an integer, got a list" },
    { "broker = 5\n", "t.conf:1: broker: expected a string or a list of strings, got 5" },
    { "broker = amqp://h/\n",
      "t.conf:1: broker: expected a string or a list of strings, got \"amqp://h/\"" },
    { "broker = [ 5 ]\n", "t.conf:1: broker: expected a string or a list of strings, got 5" },
    { "broker = [ ]\n", "t.conf:1: broker: must name at least one broker" },
    { "broker = [ \"amqp://h/\", \"\" ]\n", "t.conf:1: broker: must not be empty" },
    { "broker = [ \"amqp://h/\", \"prod\" ]\n",
      "t.conf:1: broker: invalid value \"amqp://h/ prod\" (expected a list of URLs)" },
    { "broker = [ \"amqp://u:s3cret@h/\", \"h2\" ]\n",
      "t.conf:1: broker: invalid value \"amqp://u@h/ h2\" (expected a list of URLs)" },
    { "broker_aliases = [ \"c=amqp://a/ b\" ]\n",
      "t.conf:1: broker_aliases: alias \"c\": \"amqp://a/ b\" is not a URL (expected scheme://...)" },
    { "key_file = 1\n", "t.conf:1: key_file: expected a string, got 1" },
    { "broker_aliases = \"a=amqp://h/\"\n",
      "t.conf:1: broker_aliases: expected a list of strings, got \"a=amqp://h/\"" },
    { "broker_aliases = [ 1 ]\n", "t.conf:1: broker_aliases: expected a list of strings, got 1" },
    { "node_groups = \"web=a\"\n",
      "t.conf:1: node_groups: expected a list of strings, got \"web=a\"" },
    { "node_groups = [ web ]\n", "t.conf:1: node_groups: expected a quoted string, got \"web\"" },
    /* ranges and values */
    { "timeout = 0\n", "t.conf:1: timeout: 0 is out of range 1..86400" },
    { "timeout = -5\n", "t.conf:1: timeout: -5 is out of range 1..86400" },
    { "timeout = 86401\n", "t.conf:1: timeout: 86401 is out of range 1..86400" },
    { "presence_window = 4\n", "t.conf:1: presence_window: 4 is out of range 5..3600" },
    { "presence_window = 3601\n", "t.conf:1: presence_window: 3601 is out of range 5..3600" },
    { "confirm_above = -1\n", "t.conf:1: confirm_above: -1 is out of range 0..1000000" },
    { "presence_reuse_ms = 60001\n",
      "t.conf:1: presence_reuse_ms: 60001 is out of range 0..60000" },
    { "timeout = 99999999999999999999\n",
      "t.conf:1: timeout: 99999999999999999999 is out of range" },
    { "broker = \"\"\n",
      "t.conf:1: broker: invalid value \"\" (expected a URL or a broker alias)" },
    { "broker = \"my broker\"\n",
      "t.conf:1: broker: invalid value \"my broker\" (expected a URL or a broker alias)" },
    { "broker = \"h:5672\"\n",
      "t.conf:1: broker: invalid value \"h:5672\" (expected a URL or a broker alias)" },
    { "key_file = \"key.pem\"\n",
      "t.conf:1: key_file: invalid value \"key.pem\" (expected an absolute path)" },
    { "key_file = \"\"\n", "t.conf:1: key_file: invalid value \"\" (expected an absolute path)" },
    /* aliases */
    { "broker_aliases = [ \"prod=amqp://p/\", \"lab\" ]\n",
      "t.conf:1: broker_aliases: alias \"lab\" has no '='" },
    { "broker_aliases = [ \"=amqp://p/\" ]\n",
      "t.conf:1: broker_aliases: alias \"=amqp://p/\" has an empty name" },
    { "broker_aliases = [\n\"a=amqp://1/\",\n\"a=amqp://2/\"\n]\n",
      "t.conf:1: broker_aliases: duplicate alias \"a\"" },
    { "broker_aliases = [ \"pr od=amqp://p/\" ]\n",
      "t.conf:1: broker_aliases: alias \"pr od\" has an invalid name " NAME_RULE },
    { "broker_aliases = [ \"a:b=amqp://p/\" ]\n",
      "t.conf:1: broker_aliases: alias \"a:b\" has an invalid name " NAME_RULE },
    { "broker_aliases = [ \"prod=localhost\" ]\n",
      "t.conf:1: broker_aliases: alias \"prod\": \"localhost\" is not a URL (expected scheme://...)" },
    { "broker_aliases = [ \"prod=\" ]\n",
      "t.conf:1: broker_aliases: alias \"prod\": \"\" is not a URL (expected scheme://...)" },
    { "broker_aliases = [ \"prod=://h/\" ]\n",
      "t.conf:1: broker_aliases: alias \"prod\": \"://h/\" is not a URL (expected scheme://...)" },
    { "broker_aliases = [ \"prod=1amqp://h/\" ]\n",
      "t.conf:1: broker_aliases: alias \"prod\": \"1amqp://h/\" is not a URL (expected scheme://...)" },
    { "broker_aliases = [ \"prod=amqp:/h/\" ]\n",
      "t.conf:1: broker_aliases: alias \"prod\": \"amqp:/h/\" is not a URL (expected scheme://...)" },
    { "broker_aliases = [ \"lab=amqp://l/\", \"prod=lab\" ]\n",
      "t.conf:1: broker_aliases: alias \"prod\": \"lab\" is not a URL (expected scheme://...)" },
    /* groups */
    { "node_groups = [ \"web\" ]\n", "t.conf:1: node_groups: group \"web\" has no '='" },
    { "node_groups = [ \"=a\" ]\n", "t.conf:1: node_groups: group \"=a\" has an empty name" },
    { "node_groups = [ \"web=a\", \"web=b\" ]\n",
      "t.conf:1: node_groups: duplicate group \"web\"" },
    { "node_groups = [ \"@web=a\" ]\n",
      "t.conf:1: node_groups: group \"@web\" has an invalid name " NAME_RULE },
    { "node_groups = [ \"w*=a\" ]\n",
      "t.conf:1: node_groups: group \"w*\" has an invalid name " NAME_RULE },
    { "node_groups = [ \"web=\" ]\n", "t.conf:1: node_groups: group \"web\" has no members" },
    { "node_groups = [ \"web= \t\" ]\n", "t.conf:1: node_groups: group \"web\" has no members" },
    { "node_groups = [ \"web=a,,b\" ]\n",
      "t.conf:1: node_groups: group \"web\" has an empty member" },
    { "node_groups = [ \"web=a, \" ]\n",
      "t.conf:1: node_groups: group \"web\" has an empty member" },
    { "node_groups = [ \"web=,a\" ]\n",
      "t.conf:1: node_groups: group \"web\" has an empty member" },
    { "node_groups = [ \"web=a b\" ]\n",
      "t.conf:1: node_groups: group \"web\": invalid member \"a b\" (expected a node name or glob)" },
    { "node_groups = [ \"web=@db\" ]\n",
      "t.conf:1: node_groups: group \"web\": invalid member \"@db\" (expected a node name or glob)" },
    { "node_groups = [ \"web=a/b\" ]\n",
      "t.conf:1: node_groups: group \"web\": invalid member \"a/b\" (expected a node name or glob)" },
    /* transport security and accounts */
    { "tls_ca = \"ca.pem\"\n",
      "t.conf:1: tls_ca: invalid value \"ca.pem\" (expected an absolute path)" },
    { "tls_cert = \"\"\n", "t.conf:1: tls_cert: invalid value \"\" (expected an absolute path)" },
    { "tls_key = \"k\"\n", "t.conf:1: tls_key: invalid value \"k\" (expected an absolute path)" },
    { "tls_verify_hostname = \"no\"\n",
      "t.conf:1: tls_verify_hostname: expected yes or no, got \"no\"" },
    { "sasl_mechanism = \"cram\"\n",
      "t.conf:1: sasl_mechanism: invalid value \"cram\" (expected \"plain\" or \"external\")" },
    { "broker_topology = \"\"\n",
      "t.conf:1: broker_topology: invalid value \"\" (expected \"declare\" or \"provisioned\")" },
    { "read_only = 2\n", "t.conf:1: read_only: expected yes or no, got \"2\"" },
    /* the line of a key after a multi-line list */
    { "node_groups = [\n\"a=1\",\n\"b=2\"\n]\nkey_file = \"k\"\n",
      "t.conf:5: key_file: invalid value \"k\" (expected an absolute path)" },
};

Test(ctl_config, errors)
{
    struct ctl_config c, before;
    qmf_error err;
    size_t i;

    config_from(&c, "broker_aliases = [ \"x=amqp://x/\" ]\nnode_groups = [ \"g=n\" ]\n");
    config_from(&before, "broker_aliases = [ \"x=amqp://x/\" ]\nnode_groups = [ \"g=n\" ]\n");
    for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        const struct error_case *e = &error_cases[i];

        cr_expect_eq(parse_text(&c, e->text, &err), -1, "case %zu accepted: %s", i, e->text);
        cr_expect_eq(err.code, QMF_ERR_INVALID_ARGS, "case %zu: code %u", i, err.code);
        cr_expect_str_eq(err.text, e->message, "case %zu: got    %s\n          wanted %s",
                         i, err.text, e->message);
        assert_configs_equal(&c, &before);
    }
    ctl_config_free(&c);
    ctl_config_free(&before);
}

/*
 * packaging/virtbus.conf shows every key commented out ("#key = value");
 * with those lines uncommented it must parse, give the keys that have a
 * default their real default, and the others the documented example.
 */
Test(ctl_config, example_file_documents_every_key)
{
    struct ctl_config c, defaults;
    qmf_error err;
    char *path, *text, line[512];
    size_t len = 0, cap = 65536, keys = 0;
    FILE *f;

    path = test_fixture_path("../../packaging/virtbus.conf");
    f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    text = qmf_xmalloc(cap);
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *l = line;

        cr_assert(strchr(line, '\n') != NULL, "%s: a line longer than %zu bytes",
                  path, sizeof(line));
        if (line[0] == '#' && line[1] != '#' && line[1] != ' ' && line[1] != '\n') {
            l = line + 1;
            keys++;
        }
        cr_assert_lt(len + strlen(l), cap);
        memcpy(text + len, l, strlen(l));
        len += strlen(l);
    }
    fclose(f);

    ctl_config_defaults(&c);
    ctl_config_defaults(&defaults);
    cr_assert_eq(ctl_config_parse(&c, text, len, path, &err), 0, "%s", err.text);
    /* Every key of the table, each once (a duplicate would fail above). */
    cr_assert_eq(keys, 18);
    /* The examples. */
    cr_assert_str_eq(c.broker, "prod");
    assert_url(&c, NULL, "amqps://ops:secret@broker.example.com:5671/prod");
    assert_url(&c, "lab", "amqp://guest:guest@127.0.0.1:5672/");
    assert_members(&c, "@web", "web*|front1");
    assert_members(&c, "@db", "db01|db02");
    cr_assert_str_eq(c.key_file, "/etc/virtbus/controller.key");
    cr_assert_str_eq(c.tls_ca, "/etc/virtbus/broker-ca.pem");
    cr_assert_str_eq(c.tls_cert, "/home/ops/.config/virtbus/ops.pem");
    cr_assert_str_eq(c.tls_key, "/home/ops/.config/virtbus/ops.key");
    /* The rest are the defaults. */
    free(c.tls_ca);
    free(c.tls_cert);
    free(c.tls_key);
    c.tls_ca = c.tls_cert = c.tls_key = NULL;
    free(c.broker);
    c.broker = NULL;
    qmf_free(c.broker_aliases);
    c.broker_aliases = qmf_map();
    qmf_free(c.node_groups);
    c.node_groups = qmf_map();
    free(c.key_file);
    c.key_file = NULL;
    assert_configs_equal(&c, &defaults);
    free(text);
    free(path);
    ctl_config_free(&c);
    ctl_config_free(&defaults);
}
