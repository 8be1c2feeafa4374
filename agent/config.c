/*
 * The agent's configuration file: one table of keys that says where each
 * value goes and what it must look like (core/conf_table.h), with
 * the defaults, copies and frees of struct agent_config, and the shared
 * snapshots of it that worker jobs read (struct agent_conf).
 */
#include "agent/config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/bus.h"
#include "core/conf_table.h"
#include "core/names.h"

static qmf_conf_check_fn config_check_queue_type;
static qmf_conf_check_fn config_check_sasl_mechanism;
static qmf_conf_check_fn config_check_broker_topology;
static qmf_conf_check_fn config_check_encoding;
static qmf_conf_apply_fn config_apply_brokers;
static qmf_conf_apply_fn config_apply_labels;
static qmf_conf_apply_fn config_apply_log_level;

#define QMF_CONF_STRUCT struct agent_config

static const struct qmf_conf_key config_keys[] = {
    QMF_CONF_STRING_KEY("node", node, qmf_conf_check_name),
    QMF_CONF_CUSTOM_KEY("broker", broker, QMF_CONF_STRINGS, config_apply_brokers,
                        QMF_CONF_OWNS_STRING),
    QMF_CONF_STRING_KEY("uri", uri, qmf_conf_check_nonempty),
    QMF_CONF_CUSTOM_KEY("labels", labels, QMF_CONF_STRING_LIST, config_apply_labels,
                        QMF_CONF_OWNS_VALUE),
    QMF_CONF_UNSIGNED_KEY("heartbeat_interval", heartbeat_interval, 1, 3600),
    QMF_CONF_UNSIGNED_KEY("stats_interval", stats_interval, 1, 86400),
    QMF_CONF_UNSIGNED_KEY("fleet_interval", fleet_interval, 1, 86400),
    QMF_CONF_UNSIGNED_KEY("workers", workers, 1, 256),
    QMF_CONF_UNSIGNED_KEY("prefetch", prefetch, 1, 65535),
    QMF_CONF_UNSIGNED_KEY("broker_heartbeat", broker_heartbeat, 0, 3600),
    QMF_CONF_UNSIGNED_KEY("reconnect_max", reconnect_max, 1, 3600),
    QMF_CONF_STRING_KEY("queue_type", queue_type, config_check_queue_type),
    QMF_CONF_SIZE_KEY("max_body", max_body, 1024, 268435456),
    QMF_CONF_STRING_KEY("state_dir", state_dir, qmf_conf_check_absolute),
    QMF_CONF_UNSIGNED_KEY("delivery_limit", delivery_limit, 0, 1000),
    QMF_CONF_UNSIGNED_KEY("queue_expires", queue_expires, 0, 31536000),
    QMF_CONF_UNSIGNED_KEY("stop_timeout", stop_timeout, 1, 86400),
    QMF_CONF_UNSIGNED_KEY("ack_long_commands_after", ack_long_commands_after, 0, 86400),
    QMF_CONF_CUSTOM_KEY("log_level", log_level, QMF_CONF_STRING, config_apply_log_level,
                        QMF_CONF_OWNS_NOTHING),
    QMF_CONF_BOOL_KEY("require_signatures", require_signatures),
    QMF_CONF_LIST_KEY("issuer_keys", issuer_keys, qmf_conf_check_absolute),
    QMF_CONF_STRING_KEY("trust_dir", trust_dir, qmf_conf_check_optional_path),
    QMF_CONF_STRING_KEY("revoked", revoked, qmf_conf_check_optional_path),
    QMF_CONF_STRING_KEY("policy", policy, qmf_conf_check_optional_path),
    QMF_CONF_STRING_KEY("key", key, qmf_conf_check_optional_path),
    QMF_CONF_STRING_KEY("credential", credential, qmf_conf_check_optional_path),
    QMF_CONF_UNSIGNED_KEY("clock_skew", clock_skew, 0, 3600),
    QMF_CONF_UNSIGNED_KEY("max_request_ttl", max_request_ttl, 1, 2592000),
    QMF_CONF_LIST_KEY("allowed_paths", allowed_paths, qmf_conf_check_absolute),
    QMF_CONF_STRING_KEY("tls_ca", tls_ca, qmf_conf_check_absolute),
    QMF_CONF_STRING_KEY("tls_cert", tls_cert, qmf_conf_check_absolute),
    QMF_CONF_STRING_KEY("tls_key", tls_key, qmf_conf_check_absolute),
    QMF_CONF_BOOL_KEY("tls_verify_hostname", tls_verify_hostname),
    QMF_CONF_STRING_KEY("sasl_mechanism", sasl_mechanism, config_check_sasl_mechanism),
    QMF_CONF_STRING_KEY("broker_topology", broker_topology, config_check_broker_topology),
    QMF_CONF_STRING_KEY("indication_encoding", indication_encoding, config_check_encoding),
    QMF_CONF_BOOL_KEY("indication_amqp10", indication_amqp10),
};

static const struct qmf_conf_table config_table = {
    config_keys, sizeof(config_keys) / sizeof(config_keys[0])
};

static const char *
config_check_queue_type(const char *s)
{
    if (strcmp(s, "quorum") == 0 || strcmp(s, "classic") == 0)
        return NULL;
    return "expected \"quorum\" or \"classic\"";
}

static const char *
config_check_encoding(const char *s)
{
    enum bus_encoding encoding;

    return bus_encoding_from_name(s, &encoding) == 0 ? NULL : "expected \"json\" or \"amqp\"";
}

static const char *
config_check_sasl_mechanism(const char *s)
{
    enum bus_sasl sasl;

    return bus_sasl_from_name(s, &sasl) == 0 ? NULL : "expected \"plain\" or \"external\"";
}

static const char *
config_check_broker_topology(const char *s)
{
    bool provisioned;

    return bus_topology_from_name(s, &provisioned) == 0 ? NULL
           : "expected \"declare\" or \"provisioned\"";
}

static int
config_apply_log_level(void *field, const struct qmf_conf_statement *st, qmf_error *err)
{
    if (log_level_parse(qmf_as_string(st->value), field) < 0)
        return qmf_conf_error(err, st,
                              "unknown level \"%.*s\" (expected error, warn, info or debug)",
                              QMF_CONF_SHOW_MAX, qmf_as_string(st->value));
    return 0;
}

static int
config_apply_labels(void *field, const struct qmf_conf_statement *st, qmf_error *err)
{
    qmf_value *labels = qmf_conf_pairs(st, "label", err), **map = field;

    if (labels == NULL)
        return -1;
    qmf_free(*map);
    *map = labels;
    return 0;
}

/* "url" or [ "url", ... ]: kept as the URLs separated by spaces (bus.h). */
static int
config_apply_brokers(void *field, const struct qmf_conf_statement *st, qmf_error *err)
{
    const qmf_value *v = st->value;
    char *joined, **str = field;
    const char *why;

    joined = bus_url_list_join(v, &why);
    if (joined == NULL && v->kind == QMF_STRING) {
        joined = bus_url_redact(qmf_as_string(v));
        qmf_conf_error(err, st, "invalid value \"%.*s\" (%s)", QMF_CONF_SHOW_MAX,
                       joined, why);
        free(joined);
        return -1;
    }
    if (joined == NULL)
        return qmf_conf_error(err, st, "%s", why);
    free(*str);
    *str = joined;
    return 0;
}

/* Reads text into a copy of cfg and swaps it in only on success. */
static int
config_parse_copy(struct agent_config *cfg, const char *text, size_t len,
                  const char *name, const char *path, qmf_error *err)
{
    struct agent_config tmp;

    agent_config_copy(&tmp, cfg);
    if (qmf_conf_table_parse(&config_table, text, len, name, &tmp, err) < 0) {
        agent_config_free(&tmp);
        return -1;
    }
    if (path != NULL) {
        free(tmp.path);
        tmp.path = qmf_xstrdup(path);
    }
    agent_config_free(cfg);
    *cfg = tmp;
    return 0;
}

int
agent_config_parse(struct agent_config *cfg, const char *text, size_t len,
                   const char *name, qmf_error *err)
{
    return config_parse_copy(cfg, text, len, name, NULL, err);
}

int
agent_config_load(struct agent_config *cfg, const char *path, qmf_error *err)
{
    size_t len;
    char *text;
    int rc;

    if (path == NULL) {
        qmf_error_set(err, QMF_ERR_INVALID_ARGS, "no configuration file given");
        return -1;
    }
    text = qmf_conf_read_file(path, QMF_CONF_FILE_MAX, &len, err);
    if (text == NULL)
        return -1;
    rc = config_parse_copy(cfg, text, len, path, path, err);
    free(text);
    return rc;
}

/* The host name, made acceptable as a node name. */
static char *
config_default_node(void)
{
    char host[256];
    size_t i;

    if (gethostname(host, sizeof(host)) < 0)
        host[0] = '\0';
    host[sizeof(host) - 1] = '\0';
    if (host[0] == '\0')
        return qmf_xstrdup("localhost");
    for (i = 0; host[i] != '\0'; i++)
        if (!qmf_name_char_ok(host[i]))
            host[i] = '-';
    return qmf_xstrdup(host);
}

void
agent_config_defaults(struct agent_config *cfg)
{
    *cfg = (struct agent_config){
        .path = NULL,
        .node = config_default_node(),
        .broker = qmf_xstrdup("amqp://guest:guest@127.0.0.1:5672/"),
        .uri = qmf_xstrdup("test:///default"),
        .labels = qmf_map(),
        .heartbeat_interval = 5,
        .stats_interval = 30,
        .fleet_interval = 3600,
        .workers = 32,
        .prefetch = 64,
        .broker_heartbeat = 10,
        .reconnect_max = 30,
        .queue_type = qmf_xstrdup("quorum"),
        .max_body = 4194304,
        .state_dir = qmf_xstrdup("/var/lib/virtbus"),
        .delivery_limit = 5,
        .queue_expires = 0,
        .stop_timeout = 60,
        .ack_long_commands_after = 900,
        .log_level = LOG_LEVEL_INFO,
        .require_signatures = true,
        .issuer_keys = qmf_list(),
        .trust_dir = qmf_xstrdup(""),
        .revoked = qmf_xstrdup(""),
        .policy = qmf_xstrdup(""),
        .key = qmf_xstrdup(VIRTBUS_SYSCONFDIR "/agent.key"),
        .credential = qmf_xstrdup(VIRTBUS_SYSCONFDIR "/agent.cred"),
        .clock_skew = 60,
        .max_request_ttl = 86400,
        .allowed_paths = qmf_list(),
        .tls_verify_hostname = true,
        .sasl_mechanism = qmf_xstrdup("plain"),
        .broker_topology = qmf_xstrdup("declare"),
        .indication_encoding = qmf_xstrdup("json"),
    };
}

void
agent_config_free(struct agent_config *cfg)
{
    if (cfg == NULL)
        return;
    qmf_conf_table_free(&config_table, cfg);
    free(cfg->path);
    cfg->path = NULL;
}

void
agent_config_copy(struct agent_config *dst, const struct agent_config *src)
{
    *dst = *src;
    qmf_conf_table_copy(&config_table, dst, src);
    dst->path = src->path != NULL ? qmf_xstrdup(src->path) : NULL;
    /* Never NULL, even copied from a configuration filled by hand. */
    if (dst->labels == NULL)
        dst->labels = qmf_map();
    if (dst->allowed_paths == NULL)
        dst->allowed_paths = qmf_list();
    if (dst->issuer_keys == NULL)
        dst->issuer_keys = qmf_list();
}

/* Configuration snapshots ------------------------------------------------- */

struct agent_conf *
agent_conf_new(const struct agent_config *cfg)
{
    struct agent_conf *c = qmf_xcalloc(1, sizeof(*c));

    atomic_init(&c->refs, 1);
    agent_config_copy(&c->cfg, cfg);
    return c;
}

struct agent_conf *
agent_conf_ref(struct agent_conf *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void
agent_conf_unref(struct agent_conf *c)
{
    /* acq_rel: every holder's reads happen before the free. */
    if (c == NULL || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    agent_config_free(&c->cfg);
    free(c);
}
