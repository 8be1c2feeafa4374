/* Tests of the agent's configuration parser: syntax, every key, every error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "agent/config.h"

static int
parse_text(struct agent_config *cfg, const char *text, qmf_error *err)
{
    qmf_error_clear(err);
    return agent_config_parse(cfg, text, strlen(text), "t.conf", err);
}

static const char *
label(const struct agent_config *cfg, const char *name)
{
    return qmf_map_get_string(cfg->labels, name);
}

static void
assert_str_or_null_eq(const char *a, const char *b)
{
    cr_assert((a == NULL) == (b == NULL), "%s vs %s", a ? a : "NULL", b ? b : "NULL");
    if (a != NULL)
        cr_assert_str_eq(a, b);
}

static void
assert_configs_equal(const struct agent_config *a, const struct agent_config *b)
{
    cr_assert((a->path == NULL) == (b->path == NULL));
    if (a->path != NULL)
        cr_assert_str_eq(a->path, b->path);
    cr_assert_str_eq(a->node, b->node);
    cr_assert_str_eq(a->broker, b->broker);
    cr_assert_str_eq(a->uri, b->uri);
    cr_assert(qmf_equal(a->labels, b->labels));
    cr_assert_eq(a->heartbeat_interval, b->heartbeat_interval);
    cr_assert_eq(a->stats_interval, b->stats_interval);
    cr_assert_eq(a->fleet_interval, b->fleet_interval);
    cr_assert_eq(a->workers, b->workers);
    cr_assert_eq(a->prefetch, b->prefetch);
    cr_assert_eq(a->broker_heartbeat, b->broker_heartbeat);
    cr_assert_eq(a->reconnect_max, b->reconnect_max);
    cr_assert_str_eq(a->queue_type, b->queue_type);
    cr_assert_eq(a->max_body, b->max_body);
    cr_assert_str_eq(a->state_dir, b->state_dir);
    cr_assert_eq(a->delivery_limit, b->delivery_limit);
    cr_assert_eq(a->queue_expires, b->queue_expires);
    cr_assert_eq(a->stop_timeout, b->stop_timeout);
    cr_assert_eq(a->ack_long_commands_after, b->ack_long_commands_after);
    cr_assert_eq(a->log_level, b->log_level);
    cr_assert(qmf_equal(a->allowed_paths, b->allowed_paths));
    cr_assert_eq(a->require_signatures, b->require_signatures);
    cr_assert(qmf_equal(a->issuer_keys, b->issuer_keys));
    cr_assert_str_eq(a->trust_dir, b->trust_dir);
    cr_assert_str_eq(a->revoked, b->revoked);
    cr_assert_str_eq(a->policy, b->policy);
    cr_assert_str_eq(a->key, b->key);
    cr_assert_str_eq(a->credential, b->credential);
    cr_assert_eq(a->clock_skew, b->clock_skew);
    cr_assert_eq(a->max_request_ttl, b->max_request_ttl);
    assert_str_or_null_eq(a->tls_ca, b->tls_ca);
    assert_str_or_null_eq(a->tls_cert, b->tls_cert);
    assert_str_or_null_eq(a->tls_key, b->tls_key);
    cr_assert_eq(a->tls_verify_hostname, b->tls_verify_hostname);
    cr_assert_str_eq(a->sasl_mechanism, b->sasl_mechanism);
    cr_assert_str_eq(a->broker_topology, b->broker_topology);
    cr_assert_str_eq(a->indication_encoding, b->indication_encoding);
    cr_assert_eq(a->indication_amqp10, b->indication_amqp10);
}

Test(config, trust_keys_and_booleans)
{
    static const char text[] =
        "require_signatures = no\n"
        "issuer_keys = [ \"/etc/virtbus/issuer.pub\", \"/etc/virtbus/old-issuer.pub\" ]\n"
        "policy = \"/etc/virtbus/policy\"\n"
        "clock_skew = 5\n";
    static const char *const bad[] = {
        "require_signatures = maybe\n",
        "require_signatures = \"no\"\n",
        "issuer_keys = [ \"relative.pub\" ]\n",
        "policy = \"relative\"\n",
        "clock_skew = 3601\n",
        "max_request_ttl = 0\n",
    };
    struct agent_config cfg;
    qmf_error err;
    size_t i;

    agent_config_defaults(&cfg);
    cr_assert(cfg.require_signatures, "signatures are required by default");
    cr_assert_eq(qmf_list_len(cfg.issuer_keys), 0);
    cr_assert_eq(agent_config_parse(&cfg, text, sizeof(text) - 1, "t", &err), 0, "%s",
                 err.text);
    cr_assert_not(cfg.require_signatures);
    cr_assert_eq(qmf_list_len(cfg.issuer_keys), 2);
    cr_assert_str_eq(cfg.policy, "/etc/virtbus/policy");
    cr_assert_eq(cfg.clock_skew, 5);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(agent_config_parse(&cfg, bad[i], strlen(bad[i]), "t", &err), -1, "%s",
                     bad[i]);
    agent_config_free(&cfg);
}

/* A temporary file holding text; the path is malloc'd. */
static char *
write_temp(const char *text)
{
    char *path = strdup("/tmp/virtbus-test-config-XXXXXX");
    int fd = mkstemp(path);
    size_t len = strlen(text);

    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

Test(config, defaults)
{
    struct agent_config cfg;
    char host[256];

    agent_config_defaults(&cfg);
    cr_assert_null(cfg.path);
    cr_assert_not_null(cfg.node);
    cr_assert_neq(cfg.node[0], '\0');
    if (gethostname(host, sizeof(host)) == 0 && strspn(host,
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == strlen(host))
        cr_assert_str_eq(cfg.node, host);
    cr_assert_str_eq(cfg.broker, "amqp://guest:guest@127.0.0.1:5672/");
    cr_assert_str_eq(cfg.uri, "test:///default");
    cr_assert_not_null(cfg.labels);
    cr_assert_eq(cfg.labels->kind, QMF_MAP);
    cr_assert_eq(qmf_map_len(cfg.labels), 0);
    cr_assert_eq(cfg.heartbeat_interval, 5);
    cr_assert_eq(cfg.stats_interval, 30);
    cr_assert_eq(cfg.fleet_interval, 3600);
    cr_assert_eq(cfg.workers, 32);
    cr_assert_eq(cfg.prefetch, 64);
    cr_assert_eq(cfg.broker_heartbeat, 10);
    cr_assert_eq(cfg.reconnect_max, 30);
    cr_assert_str_eq(cfg.queue_type, "quorum");
    cr_assert_eq(cfg.max_body, 4194304);
    cr_assert_str_eq(cfg.state_dir, "/var/lib/virtbus");
    cr_assert_eq(cfg.log_level, LOG_LEVEL_INFO);
    /* Secure by default: no host path is allowed until one is configured. */
    cr_assert_not_null(cfg.allowed_paths);
    cr_assert_eq(cfg.allowed_paths->kind, QMF_LIST);
    cr_assert_eq(qmf_list_len(cfg.allowed_paths), 0);
    cr_assert_null(cfg.tls_ca);
    cr_assert_null(cfg.tls_cert);
    cr_assert_null(cfg.tls_key);
    cr_assert(cfg.tls_verify_hostname);
    cr_assert_str_eq(cfg.sasl_mechanism, "plain");
    cr_assert_str_eq(cfg.broker_topology, "declare");
    agent_config_free(&cfg);
    cr_assert_null(cfg.node);
    cr_assert_null(cfg.labels);
    cr_assert_null(cfg.allowed_paths);
}

/* broker = [ ... ]: the nodes of a cluster, kept space-separated (bus.h). */
Test(config, broker_list)
{
    struct agent_config cfg;
    qmf_error err;

    agent_config_defaults(&cfg);
    cr_assert_eq(parse_text(&cfg, "broker = [ \"amqp://u:p@a:1/\",\n  \"amqp://u:p@b:2/\", ]\n",
                            &err), 0, "%s", err.text);
    cr_assert_str_eq(cfg.broker, "amqp://u:p@a:1/ amqp://u:p@b:2/");
    agent_config_free(&cfg);
}

Test(config, every_key)
{
    static const char text[] =
        "node = \"node-1.example_a\"\n"
        "broker = \"amqps://u:p@broker:5671/vh\"\n"
        "uri = \"qemu:///system\"\n"
        "labels = [ \"tier=web\", \"rack=r1\", \"empty=\" ]\n"
        "heartbeat_interval = 3600\n"
        "stats_interval = 86400\n"
        "workers = 256\n"
        "prefetch = 65535\n"
        "broker_heartbeat = 0\n"
        "reconnect_max = 3600\n"
        "queue_type = \"classic\"\n"
        "max_body = 1024\n"
        "state_dir = \"/srv/virtbus\"\n"
        "log_level = \"debug\"\n"
        "allowed_paths = [ \"/var/lib/libvirt/images\", \"/srv/save/\" ]\n"
        "tls_ca = \"/etc/virtbus/ca.pem\"\n"
        "tls_cert = \"/etc/virtbus/n.pem\"\n"
        "tls_key = \"/etc/virtbus/n.key\"\n"
        "tls_verify_hostname = no\n"
        "sasl_mechanism = \"external\"\n"
        "broker_topology = \"provisioned\"\n";
    struct agent_config cfg;
    qmf_error err;

    agent_config_defaults(&cfg);
    cr_assert_eq(parse_text(&cfg, text, &err), 0, "%s", err.text);
    cr_assert_null(cfg.path);
    cr_assert_str_eq(cfg.node, "node-1.example_a");
    cr_assert_str_eq(cfg.broker, "amqps://u:p@broker:5671/vh");
    cr_assert_str_eq(cfg.uri, "qemu:///system");
    cr_assert_eq(qmf_map_len(cfg.labels), 3);
    cr_assert_str_eq(label(&cfg, "tier"), "web");
    cr_assert_str_eq(label(&cfg, "rack"), "r1");
    cr_assert_str_eq(label(&cfg, "empty"), "");
    cr_assert_eq(cfg.heartbeat_interval, 3600);
    cr_assert_eq(cfg.stats_interval, 86400);
    cr_assert_eq(cfg.workers, 256);
    cr_assert_eq(cfg.prefetch, 65535);
    cr_assert_eq(cfg.broker_heartbeat, 0);
    cr_assert_eq(cfg.reconnect_max, 3600);
    cr_assert_str_eq(cfg.queue_type, "classic");
    cr_assert_eq(cfg.max_body, 1024);
    cr_assert_str_eq(cfg.state_dir, "/srv/virtbus");
    cr_assert_eq(cfg.log_level, LOG_LEVEL_DEBUG);
    cr_assert_eq(qmf_list_len(cfg.allowed_paths), 2);
    cr_assert_str_eq(qmf_as_string(qmf_list_at(cfg.allowed_paths, 0)), "/var/lib/libvirt/images");
    cr_assert_str_eq(qmf_as_string(qmf_list_at(cfg.allowed_paths, 1)), "/srv/save/");
    cr_assert_str_eq(cfg.tls_ca, "/etc/virtbus/ca.pem");
    cr_assert_str_eq(cfg.tls_cert, "/etc/virtbus/n.pem");
    cr_assert_str_eq(cfg.tls_key, "/etc/virtbus/n.key");
    cr_assert(!cfg.tls_verify_hostname);
    cr_assert_str_eq(cfg.sasl_mechanism, "external");
    cr_assert_str_eq(cfg.broker_topology, "provisioned");
    agent_config_free(&cfg);
}

Test(config, upper_bounds_and_lower_bounds)
{
    struct agent_config cfg;
    qmf_error err;

    agent_config_defaults(&cfg);
    cr_assert_eq(parse_text(&cfg, "max_body = 268435456\nheartbeat_interval = 1\n"
                                  "stats_interval = 1\nworkers = 1\nprefetch = 1\n"
                                  "broker_heartbeat = 3600\nreconnect_max = 1\n", &err), 0,
                 "%s", err.text);
    cr_assert_eq(cfg.max_body, 268435456);
    cr_assert_eq(cfg.heartbeat_interval, 1);
    cr_assert_eq(cfg.stats_interval, 1);
    cr_assert_eq(cfg.workers, 1);
    cr_assert_eq(cfg.prefetch, 1);
    cr_assert_eq(cfg.broker_heartbeat, 3600);
    cr_assert_eq(cfg.reconnect_max, 1);
    agent_config_free(&cfg);
}

Test(config, syntax)
{
    static const char text[] =
        "# a comment on the first line\n"
        "\n"
        "   \t\n"
        "  node='single-quoted'   # a comment after a value\n"
        "uri = \"q\\\"uo\\\\te\\nd # not a comment\\t'\"\n"
        "broker=\"amqp://h/\"#comment without space\r\n"
        "labels = [\n"
        "    \"a=1\",      # first\n"
        "    # a comment line inside the list\n"
        "\n"
        "    'b=x y',\n"
        "    \"c=\\\"q\\\"\",\n"
        "]\n"
        "workers=007\n"
        "log_level = 'WARN'\n"
        "# the last line has no newline\n"
        "prefetch = 9";
    struct agent_config cfg;
    qmf_error err;

    agent_config_defaults(&cfg);
    cr_assert_eq(parse_text(&cfg, text, &err), 0, "%s", err.text);
    cr_assert_str_eq(cfg.node, "single-quoted");
    cr_assert_str_eq(cfg.uri, "q\"uo\\te\nd # not a comment\t'");
    cr_assert_str_eq(cfg.broker, "amqp://h/");
    cr_assert_eq(qmf_map_len(cfg.labels), 3);
    cr_assert_str_eq(label(&cfg, "a"), "1");
    cr_assert_str_eq(label(&cfg, "b"), "x y");
    cr_assert_str_eq(label(&cfg, "c"), "\"q\"");
    cr_assert_eq(cfg.workers, 7);
    cr_assert_eq(cfg.log_level, LOG_LEVEL_WARN);
    cr_assert_eq(cfg.prefetch, 9);
    agent_config_free(&cfg);
}

Test(config, empty_input_and_empty_list)
{
    struct agent_config cfg, before;
    qmf_error err;

    agent_config_defaults(&cfg);
    agent_config_copy(&before, &cfg);
    cr_assert_eq(parse_text(&cfg, "", &err), 0, "%s", err.text);
    cr_assert_eq(agent_config_parse(&cfg, NULL, 0, "t.conf", &err), 0, "%s", err.text);
    assert_configs_equal(&cfg, &before);

    cr_assert_eq(parse_text(&cfg, "labels = [ \"a=b\" ]", &err), 0, "%s", err.text);
    cr_assert_eq(qmf_map_len(cfg.labels), 1);
    /* A later load replaces the labels; it does not merge them. */
    cr_assert_eq(parse_text(&cfg, "labels = []\n", &err), 0, "%s", err.text);
    cr_assert_eq(qmf_map_len(cfg.labels), 0);
    agent_config_free(&cfg);
    agent_config_free(&before);
}

struct error_case {
    const char *text;
    const char *message;
};

static const struct error_case error_cases[] = {
    /* unknown key */
    { "workers = 2\nbogus = 1\n", "t.conf:2: bogus: unknown key" },
    { "Workers = 2\n", "t.conf:1: Workers: unknown key" },
    /* wrong type */
    { "heartbeat_interval = abc\n",
      "t.conf:1: heartbeat_interval: expected an integer, got \"abc\"" },
    { "workers = \"4\"\n", "t.conf:1: workers: expected an integer, got \"4\"" },
    { "workers = 12abc\n", "t.conf:1: workers: expected an integer, got \"12abc\"" },
    { "max_body = [ 1 ]\n", "t.conf:1: max_body: expected an integer, got a list" },
    { "node = 5\n", "t.conf:1: node: expected a string, got 5" },
    { "uri = [ \"a\" ]\n", "t.conf:1: uri: expected a string, got a list" },
    { "broker = amqp\n", "t.conf:1: broker: expected a string or a list of strings, got \"amqp\"" },
    { "broker = [ ]\n", "t.conf:1: broker: must name at least one broker" },
    { "broker = [ \"amqp://h/\", \"\" ]\n", "t.conf:1: broker: must not be empty" },
    { "broker = [ \"amqp://h/ amqp://i/\" ]\n",
      "t.conf:1: broker: a URL holds no white space (encode it as %20)" },
    { "log_level = 3\n", "t.conf:1: log_level: expected a string, got 3" },
    { "labels = \"a=b\"\n", "t.conf:1: labels: expected a list of strings, got \"a=b\"" },
    { "labels = [ 1 ]\n", "t.conf:1: labels: expected a list of strings, got 1" },
    { "labels = [ a=b ]\n", "t.conf:1: labels: expected a quoted string, got \"a\"" },
    /* out of range */
    { "workers = 0\n", "t.conf:1: workers: 0 is out of range 1..256" },
    { "workers = 257\n", "t.conf:1: workers: 257 is out of range 1..256" },
    { "prefetch = -1\n", "t.conf:1: prefetch: -1 is out of range 1..65535" },
    { "heartbeat_interval = 3601\n",
      "t.conf:1: heartbeat_interval: 3601 is out of range 1..3600" },
    { "stats_interval = 86401\n", "t.conf:1: stats_interval: 86401 is out of range 1..86400" },
    { "broker_heartbeat = 3601\n", "t.conf:1: broker_heartbeat: 3601 is out of range 0..3600" },
    { "reconnect_max = 0\n", "t.conf:1: reconnect_max: 0 is out of range 1..3600" },
    { "max_body = 1023\n", "t.conf:1: max_body: 1023 is out of range 1024..268435456" },
    { "max_body = 268435457\n",
      "t.conf:1: max_body: 268435457 is out of range 1024..268435456" },
    { "stats_interval = 99999999999999999999\n",
      "t.conf:1: stats_interval: 99999999999999999999 is out of range" },
    /* unterminated string and list */
    { "node = \"abc\n", "t.conf:1: node: unterminated string" },
    { "\nnode = 'abc", "t.conf:2: node: unterminated string" },
    { "node = \"abc\\\"\n", "t.conf:1: node: unterminated string" },
    { "# x\n\nlabels = [ \"a=b\",\n  \"c=d\"\n", "t.conf:3: labels: unterminated list" },
    { "labels = [", "t.conf:1: labels: unterminated list" },
    /* missing '=' or value, stray text */
    { "workers 4\n", "t.conf:1: workers: missing '='" },
    { "workers\n", "t.conf:1: workers: missing '='" },
    { "workers =\n", "t.conf:1: workers: missing value" },
    { "workers = # nothing\n", "t.conf:1: workers: missing value" },
    { "workers = 4 5\n", "t.conf:1: workers: unexpected \"5\" after the value" },
    { "node = \"a\" \"b\"\n", "t.conf:1: node: unexpected \"\"b\"\" after the value" },
    { "node = \"a\" 'b c' # x\n", "t.conf:1: node: unexpected \"'b c'\" after the value" },
    { "node = \"a\" \"b c\n", "t.conf:1: node: unexpected \"\"b c\" after the value" },
    { "workers = 4 ]\n", "t.conf:1: workers: unexpected \"]\" after the value" },
    { "= 4\n", "t.conf:1: expected a key name, got '='" },
    { "labels = [ \"a=b\" \"c=d\" ]\n",
      "t.conf:1: labels: expected ',' or ']' in the list, got \"\"c=d\"\"" },
    { "labels = [ , ]\n", "t.conf:1: labels: unexpected ','" },
    { "labels = [ [ \"a=b\" ] ]\n", "t.conf:1: labels: nested lists are not supported" },
    { "node = \"a\\qb\"\n", "t.conf:1: node: unknown escape \"\\q\" in a string" },
    /* duplicate key */
    { "\nworkers = 2\n# again\nworkers = 3\n",
      "t.conf:4: workers: duplicate key (first set on line 2)" },
    /* labels */
    { "labels = [ \"tier=web\", \"rack\" ]\n", "t.conf:1: labels: label \"rack\" has no '='" },
    { "labels = [ \"=web\" ]\n", "t.conf:1: labels: label \"=web\" has an empty name" },
    { "labels = [ \"a=1\", \"a=2\" ]\n", "t.conf:1: labels: duplicate label \"a\"" },
    /* the line of a key after a multi-line list */
    { "labels = [\n\"a=1\",\n\"b=2\"\n]\nqueue_type = \"fast\"\n",
      "t.conf:5: queue_type: invalid value \"fast\" (expected \"quorum\" or \"classic\")" },
    { "queue_type = \"Quorum\"\n",
      "t.conf:1: queue_type: invalid value \"Quorum\" (expected \"quorum\" or \"classic\")" },
    /* node names */
    { "node = \"a b\"\n",
      "t.conf:1: node: invalid value \"a b\" (only letters, digits, '.', '_' and '-' are allowed)" },
    { "node = \"n/1\"\n",
      "t.conf:1: node: invalid value \"n/1\" (only letters, digits, '.', '_' and '-' are allowed)" },
    { "node = \"\"\n", "t.conf:1: node: invalid value \"\" (must not be empty)" },
    /* other string checks */
    { "broker = ''\n", "t.conf:1: broker: invalid value \"\" (must not be empty)" },
    { "state_dir = \"var/lib\"\n",
      "t.conf:1: state_dir: invalid value \"var/lib\" (expected an absolute path)" },
    /* allowed_paths: absolute directories */
    { "allowed_paths = [ \"/srv/a\", \"images\" ]\n",
      "t.conf:1: allowed_paths: invalid entry \"images\" (expected an absolute path)" },
    { "allowed_paths = [ \"\" ]\n",
      "t.conf:1: allowed_paths: invalid entry \"\" (expected an absolute path)" },
    { "allowed_paths = \"/srv\"\n",
      "t.conf:1: allowed_paths: expected a list of strings, got \"/srv\"" },
    /* log level */
    { "log_level = \"verbose\"\n",
      "t.conf:1: log_level: unknown level \"verbose\" (expected error, warn, info or debug)" },
    /* transport security */
    { "tls_ca = \"ca.pem\"\n",
      "t.conf:1: tls_ca: invalid value \"ca.pem\" (expected an absolute path)" },
    { "tls_cert = \"n.pem\"\n",
      "t.conf:1: tls_cert: invalid value \"n.pem\" (expected an absolute path)" },
    { "tls_key = \"\"\n", "t.conf:1: tls_key: invalid value \"\" (expected an absolute path)" },
    { "tls_verify_hostname = 2\n", "t.conf:1: tls_verify_hostname: expected yes or no, got \"2\"" },
    { "sasl_mechanism = \"EXTERNAL\"\n",
      "t.conf:1: sasl_mechanism: invalid value \"EXTERNAL\" (expected \"plain\" or \"external\")" },
    { "broker_topology = \"passive\"\n",
      "t.conf:1: broker_topology: invalid value \"passive\" (expected \"declare\" or "
      "\"provisioned\")" },
};

Test(config, errors)
{
    struct agent_config cfg, before;
    qmf_error err;
    size_t i;

    agent_config_defaults(&cfg);
    agent_config_copy(&before, &cfg);
    for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        const struct error_case *c = &error_cases[i];

        cr_expect_eq(parse_text(&cfg, c->text, &err), -1, "case %zu accepted: %s", i, c->text);
        cr_expect_eq(err.code, QMF_ERR_INVALID_ARGS, "case %zu: code %u", i, err.code);
        cr_expect_str_eq(err.text, c->message, "case %zu: got    %s\n          wanted %s",
                         i, err.text, c->message);
        assert_configs_equal(&cfg, &before);
    }
    agent_config_free(&cfg);
    agent_config_free(&before);
}

Test(config, nul_byte)
{
    static const char text[] = "workers = 2\nnode = \"a\0b\"\n";
    struct agent_config cfg;
    qmf_error err;

    agent_config_defaults(&cfg);
    cr_assert_eq(agent_config_parse(&cfg, text, sizeof(text) - 1, "t.conf", &err), -1);
    cr_assert_str_eq(err.text, "t.conf:2: NUL byte in the file");
    cr_assert_eq(cfg.workers, 32);
    agent_config_free(&cfg);
}

Test(config, failed_load_leaves_config_unchanged)
{
    static const char good[] =
        "node = \"before\"\nlabels = [ \"x=1\" ]\nworkers = 8\n";
    /* Every key before the error is valid and would change something. */
    static const char bad[] =
        "node = \"after\"\nlabels = [ \"y=2\" ]\nworkers = 16\nlog_level = \"debug\"\n"
        "max_body = 2048\nprefetch = x\n";
    struct agent_config cfg, before;
    qmf_error err;
    char *path;

    agent_config_defaults(&cfg);
    cr_assert_eq(parse_text(&cfg, good, &err), 0, "%s", err.text);
    agent_config_copy(&before, &cfg);

    cr_assert_eq(parse_text(&cfg, bad, &err), -1);
    cr_assert_str_eq(err.text, "t.conf:6: prefetch: expected an integer, got \"x\"");
    assert_configs_equal(&cfg, &before);

    path = write_temp(bad);
    cr_assert_eq(agent_config_load(&cfg, path, &err), -1);
    assert_configs_equal(&cfg, &before);
    cr_assert_null(cfg.path);
    unlink(path);
    free(path);

    agent_config_free(&cfg);
    agent_config_free(&before);
}

Test(config, load_file)
{
    struct agent_config cfg;
    qmf_error err;
    char *path, *expected;

    path = write_temp("# virtbusd.conf\nnode = \"from-file\"\n\nworkers = x\n");
    agent_config_defaults(&cfg);
    cr_assert_eq(agent_config_load(&cfg, path, &err), -1);
    expected = qmf_xasprintf("%s:4: workers: expected an integer, got \"x\"", path);
    cr_assert_str_eq(err.text, expected);
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    free(expected);
    unlink(path);
    free(path);

    path = write_temp("# virtbusd.conf\nnode = \"from-file\"\nlabels = [ \"k=v\" ]\n");
    cr_assert_eq(agent_config_load(&cfg, path, &err), 0, "%s", err.text);
    cr_assert_str_eq(cfg.path, path);
    cr_assert_str_eq(cfg.node, "from-file");
    cr_assert_str_eq(label(&cfg, "k"), "v");
    /* Loading over a loaded config keeps what the new file does not set. */
    cr_assert_eq(agent_config_load(&cfg, path, &err), 0, "%s", err.text);
    cr_assert_str_eq(cfg.node, "from-file");
    unlink(path);
    free(path);
    agent_config_free(&cfg);
}

Test(config, missing_file)
{
    static const char path[] = "/nonexistent/virtbus/virtbusd.conf";
    struct agent_config cfg, before;
    qmf_error err;

    agent_config_defaults(&cfg);
    agent_config_copy(&before, &cfg);
    cr_assert_eq(agent_config_load(&cfg, path, &err), -1);
    cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
    cr_assert_str_eq(err.text, "/nonexistent/virtbus/virtbusd.conf: cannot open: "
                               "No such file or directory");
    assert_configs_equal(&cfg, &before);
    cr_assert_eq(agent_config_load(&cfg, NULL, &err), -1);
    agent_config_free(&cfg);
    agent_config_free(&before);
}

Test(config, copy_is_deep)
{
    struct agent_config cfg, copy;
    qmf_error err;

    agent_config_defaults(&cfg);
    cr_assert_eq(parse_text(&cfg, "labels = [ \"a=1\" ]\nworkers = 9\n"
                            "tls_ca = \"/ca.pem\"\n", &err), 0);
    cfg.path = qmf_xstrdup("/etc/x.conf");
    agent_config_copy(&copy, &cfg);
    assert_configs_equal(&copy, &cfg);
    cr_assert_neq(copy.node, cfg.node);
    cr_assert_neq(copy.path, cfg.path);
    cr_assert_neq(copy.labels, cfg.labels);
    cr_assert_neq(copy.tls_ca, cfg.tls_ca);
    cr_assert_neq(copy.queue_type, cfg.queue_type);
    cr_assert_neq(copy.state_dir, cfg.state_dir);
    cr_assert_neq(copy.allowed_paths, cfg.allowed_paths);
    cr_assert_neq(copy.sasl_mechanism, cfg.sasl_mechanism);
    cr_assert_neq(copy.broker_topology, cfg.broker_topology);
    cr_assert_neq(copy.indication_encoding, cfg.indication_encoding);

    /* The reload pattern: parse into the copy, the original stays. */
    cr_assert_eq(parse_text(&copy, "labels = [ \"b=2\" ]\nnode = \"other\"\n", &err), 0);
    cr_assert_str_eq(label(&cfg, "a"), "1");
    cr_assert_null(label(&cfg, "b"));
    cr_assert_str_neq(cfg.node, "other");
    cr_assert_str_eq(copy.node, "other");
    cr_assert_eq(copy.workers, 9);
    agent_config_free(&cfg);
    agent_config_free(&copy);
}

/*
 * packaging/virtbusd.conf, as this build configured it, shows every key
 * commented out ("#key = value"); with those lines uncommented it must
 * parse, and show the real defaults.
 */
Test(config, example_file_documents_every_key_with_its_default)
{
    struct agent_config cfg, defaults;
    qmf_error err;
    char *path, *text, line[512];
    size_t len = 0, cap = 65536, keys = 0;
    FILE *f;

    path = qmf_xstrdup(VIRTBUS_EXAMPLE_AGENT_CONF);
    f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    text = qmf_xmalloc(cap);
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *l = line;

        if (line[0] == '#' && line[1] != '#' && line[1] != ' ' && line[1] != '\n') {
            l = line + 1;
            keys++;
        }
        cr_assert_lt(len + strlen(l), cap);
        memcpy(text + len, l, strlen(l));
        len += strlen(l);
    }
    fclose(f);

    agent_config_defaults(&cfg);
    agent_config_defaults(&defaults);
    cr_assert_eq(agent_config_parse(&cfg, text, len, path, &err), 0, "%s", err.text);
    /* Every key of the table, each once (a duplicate would fail above). */
    cr_assert_eq(keys, 37);
    cr_assert_str_eq(cfg.node, "node1");
    cr_assert_str_eq(label(&cfg, "tier"), "web");
    cr_assert_str_eq(label(&cfg, "rack"), "r1");
    /* The keys without a default show examples. */
    cr_assert_str_eq(cfg.tls_ca, "/etc/virtbus/broker-ca.pem");
    cr_assert_str_eq(cfg.tls_cert, "/etc/virtbus/node1.pem");
    cr_assert_str_eq(cfg.tls_key, "/etc/virtbus/node1.key");
    free(cfg.node);
    cfg.node = qmf_xstrdup(defaults.node);
    qmf_free(cfg.labels);
    cfg.labels = qmf_map();
    free(cfg.tls_ca);
    free(cfg.tls_cert);
    free(cfg.tls_key);
    cfg.tls_ca = cfg.tls_cert = cfg.tls_key = NULL;
    assert_configs_equal(&cfg, &defaults);
    free(text);
    free(path);
    agent_config_free(&cfg);
    agent_config_free(&defaults);
}
