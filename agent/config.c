/*
 * The agent's configuration file: one table of keys that says where each
 * value goes and what it must look like, over the shared libvirt-style
 * reader (schema/qmf/conf.h).
 */
#include "agent/config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/bus.h"
#include "schema/qmf/conf.h"

enum config_kind {
    CONFIG_STRING,              /* char *; optional check */
    CONFIG_UNSIGNED,            /* unsigned, min..max */
    CONFIG_SIZE,                /* size_t, min..max */
    CONFIG_LABELS,              /* qmf_value * map, from [ "name=value", ... ] */
    CONFIG_LOG_LEVEL,           /* enum log_level, from a string */
    CONFIG_BOOL,                /* bool, from yes or no */
    CONFIG_PATHS,               /* qmf_value * list of absolute paths */
    CONFIG_BROKERS,             /* char *, from "url" or [ "url", ... ]:
                                 * the URLs separated by spaces (bus.h) */
};

/* Returns NULL if s is acceptable, else why not (shown in parentheses). */
typedef const char *config_check_fn(const char *s);

struct config_key {
    const char *name;
    enum config_kind kind;
    size_t offset;              /* into struct agent_config */
    unsigned long long min, max;
    config_check_fn *check;
};

static config_check_fn config_check_node;
static config_check_fn config_check_nonempty;
static config_check_fn config_check_absolute;
static config_check_fn config_check_queue_type;
static config_check_fn config_check_optional_path;
static config_check_fn config_check_sasl_mechanism;
static config_check_fn config_check_broker_topology;
static config_check_fn config_check_encoding;

#define CONFIG_AT(member) offsetof(struct agent_config, member)

static const struct config_key config_keys[] = {
    { "node", CONFIG_STRING, CONFIG_AT(node), 0, 0, config_check_node },
    { "broker", CONFIG_BROKERS, CONFIG_AT(broker), 0, 0, NULL },
    { "uri", CONFIG_STRING, CONFIG_AT(uri), 0, 0, config_check_nonempty },
    { "labels", CONFIG_LABELS, CONFIG_AT(labels), 0, 0, NULL },
    { "heartbeat_interval", CONFIG_UNSIGNED, CONFIG_AT(heartbeat_interval), 1, 3600, NULL },
    { "stats_interval", CONFIG_UNSIGNED, CONFIG_AT(stats_interval), 1, 86400, NULL },
    { "fleet_interval", CONFIG_UNSIGNED, CONFIG_AT(fleet_interval), 1, 86400, NULL },
    { "workers", CONFIG_UNSIGNED, CONFIG_AT(workers), 1, 256, NULL },
    { "prefetch", CONFIG_UNSIGNED, CONFIG_AT(prefetch), 1, 65535, NULL },
    { "broker_heartbeat", CONFIG_UNSIGNED, CONFIG_AT(broker_heartbeat), 0, 3600, NULL },
    { "queue_type", CONFIG_STRING, CONFIG_AT(queue_type), 0, 0, config_check_queue_type },
    { "max_body", CONFIG_SIZE, CONFIG_AT(max_body), 1024, 268435456, NULL },
    { "state_dir", CONFIG_STRING, CONFIG_AT(state_dir), 0, 0, config_check_absolute },
    { "delivery_limit", CONFIG_UNSIGNED, CONFIG_AT(delivery_limit), 0, 1000, NULL },
    { "queue_expires", CONFIG_UNSIGNED, CONFIG_AT(queue_expires), 0, 31536000, NULL },
    { "stop_timeout", CONFIG_UNSIGNED, CONFIG_AT(stop_timeout), 1, 86400, NULL },
    { "ack_long_commands_after", CONFIG_UNSIGNED, CONFIG_AT(ack_long_commands_after),
      0, 86400, NULL },
    { "log_level", CONFIG_LOG_LEVEL, CONFIG_AT(log_level), 0, 0, NULL },
    { "require_signatures", CONFIG_BOOL, CONFIG_AT(require_signatures), 0, 0, NULL },
    { "issuer_keys", CONFIG_PATHS, CONFIG_AT(issuer_keys), 0, 0, config_check_absolute },
    { "trust_dir", CONFIG_STRING, CONFIG_AT(trust_dir), 0, 0, config_check_optional_path },
    { "revoked", CONFIG_STRING, CONFIG_AT(revoked), 0, 0, config_check_optional_path },
    { "policy", CONFIG_STRING, CONFIG_AT(policy), 0, 0, config_check_optional_path },
    { "key", CONFIG_STRING, CONFIG_AT(key), 0, 0, config_check_optional_path },
    { "credential", CONFIG_STRING, CONFIG_AT(credential), 0, 0, config_check_optional_path },
    { "clock_skew", CONFIG_UNSIGNED, CONFIG_AT(clock_skew), 0, 3600, NULL },
    { "max_request_ttl", CONFIG_UNSIGNED, CONFIG_AT(max_request_ttl), 1, 2592000, NULL },
    { "allowed_paths", CONFIG_PATHS, CONFIG_AT(allowed_paths), 0, 0, config_check_absolute },
    { "tls_ca", CONFIG_STRING, CONFIG_AT(tls_ca), 0, 0, config_check_absolute },
    { "tls_cert", CONFIG_STRING, CONFIG_AT(tls_cert), 0, 0, config_check_absolute },
    { "tls_key", CONFIG_STRING, CONFIG_AT(tls_key), 0, 0, config_check_absolute },
    { "tls_verify_hostname", CONFIG_BOOL, CONFIG_AT(tls_verify_hostname), 0, 0, NULL },
    { "sasl_mechanism", CONFIG_STRING, CONFIG_AT(sasl_mechanism), 0, 0,
      config_check_sasl_mechanism },
    { "broker_topology", CONFIG_STRING, CONFIG_AT(broker_topology), 0, 0,
      config_check_broker_topology },
    { "indication_encoding", CONFIG_STRING, CONFIG_AT(indication_encoding), 0, 0,
      config_check_encoding },
    { "indication_amqp10", CONFIG_BOOL, CONFIG_AT(indication_amqp10), 0, 0, NULL },
};

#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static const char *
config_check_nonempty(const char *s)
{
    return *s == '\0' ? "must not be empty" : NULL;
}

static bool
config_node_char_ok(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* The node name ends up in the agent name, queue names and routing keys. */
static const char *
config_check_node(const char *s)
{
    if (*s == '\0')
        return "must not be empty";
    for (; *s != '\0'; s++)
        if (!config_node_char_ok(*s))
            return "only letters, digits, '.', '_' and '-' are allowed";
    return NULL;
}

/* The daemon may chdir("/"); a relative directory would move. */
static const char *
config_check_absolute(const char *s)
{
    return *s != '/' ? "expected an absolute path" : NULL;
}

static const char *
config_check_optional_path(const char *s)
{
    return *s != '\0' ? config_check_absolute(s) : NULL;
}

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

static void *
config_field(struct agent_config *cfg, const struct config_key *key)
{
    return (char *)cfg + key->offset;
}

static const struct config_key *
config_find_key(const char *name)
{
    size_t i;

    for (i = 0; i < CONFIG_NKEYS; i++)
        if (strcmp(config_keys[i].name, name) == 0)
            return &config_keys[i];
    return NULL;
}

static enum qmf_conf_type
config_kind_type(enum config_kind kind)
{
    switch (kind) {
    case CONFIG_UNSIGNED:
    case CONFIG_SIZE:
        return QMF_CONF_INT;
    case CONFIG_LABELS:
    case CONFIG_PATHS:
        return QMF_CONF_STRING_LIST;
    case CONFIG_BOOL:
        return QMF_CONF_BOOL;
    case CONFIG_BROKERS:
        return QMF_CONF_STRINGS;
    case CONFIG_STRING:
    case CONFIG_LOG_LEVEL:
    default:
        return QMF_CONF_STRING;
    }
}

static bool
config_key_type(void *opaque, const char *name, enum qmf_conf_type *type)
{
    const struct config_key *key = config_find_key(name);

    if (key == NULL)
        return false;
    *type = config_kind_type(key->kind);
    return true;
}

/* Stores a value, already of the key's type, into cfg after checking it. */
static int
config_apply(void *opaque, const struct qmf_conf_statement *st, qmf_error *err)
{
    struct agent_config *cfg = opaque;
    const struct config_key *key = config_find_key(st->key);
    const qmf_value *v = st->value;
    qmf_value *labels, **map;
    const char *why;
    char *joined;
    int64_t n;
    char **str;
    size_t i;

    switch (key->kind) {
    case CONFIG_STRING:
        if (key->check != NULL && (why = key->check(v->u.str.ptr)) != NULL)
            return qmf_conf_error(err, st, "invalid value \"%.*s\" (%s)",
                                  QMF_CONF_SHOW_MAX, v->u.str.ptr, why);
        str = config_field(cfg, key);
        free(*str);
        *str = qmf_xstrdup(v->u.str.ptr);
        return 0;
    case CONFIG_UNSIGNED:
    case CONFIG_SIZE:
        n = v->u.i;
        if (n < 0 || (unsigned long long)n < key->min ||
            (unsigned long long)n > key->max)
            return qmf_conf_error(err, st, "%lld is out of range %llu..%llu",
                                  (long long)n, key->min, key->max);
        if (key->kind == CONFIG_SIZE)
            *(size_t *)config_field(cfg, key) = (size_t)n;
        else
            *(unsigned *)config_field(cfg, key) = (unsigned)n;
        return 0;
    case CONFIG_LOG_LEVEL:
        if (log_level_parse(v->u.str.ptr, config_field(cfg, key)) < 0)
            return qmf_conf_error(err, st,
                                  "unknown level \"%.*s\" (expected error, warn, info or debug)",
                                  QMF_CONF_SHOW_MAX, v->u.str.ptr);
        return 0;
    case CONFIG_LABELS:
        labels = qmf_conf_pairs(st, "label", err);
        if (labels == NULL)
            return -1;
        map = config_field(cfg, key);
        qmf_free(*map);
        *map = labels;
        return 0;
    case CONFIG_BOOL:
        *(bool *)config_field(cfg, key) = v->u.b;
        return 0;
    case CONFIG_BROKERS:
        joined = bus_url_list_join(v, &why);
        if (joined == NULL && v->kind == QMF_STRING) {
            joined = bus_url_redact(v->u.str.ptr);
            qmf_conf_error(err, st, "invalid value \"%.*s\" (%s)", QMF_CONF_SHOW_MAX,
                           joined, why);
            free(joined);
            return -1;
        }
        if (joined == NULL)
            return qmf_conf_error(err, st, "%s", why);
        str = config_field(cfg, key);
        free(*str);
        *str = joined;
        return 0;
    case CONFIG_PATHS:
        for (i = 0; i < qmf_list_len(v); i++) {
            const char *path = qmf_list_at(v, i)->u.str.ptr;

            if ((why = key->check(path)) != NULL)
                return qmf_conf_error(err, st, "invalid entry \"%.*s\" (%s)",
                                      QMF_CONF_SHOW_MAX, path, why);
        }
        map = config_field(cfg, key);
        qmf_free(*map);
        *map = qmf_dup(v);
        return 0;
    }
    return qmf_conf_error(err, st, "internal error: unknown kind");
}

static const struct qmf_conf_reader config_reader = {
    .key_type = config_key_type,
    .statement = config_apply,
};

/* Reads text into a copy of cfg and swaps it in only on success. */
static int
config_parse_copy(struct agent_config *cfg, const char *text, size_t len,
                  const char *name, const char *path, qmf_error *err)
{
    struct agent_config tmp;

    agent_config_copy(&tmp, cfg);
    if (qmf_conf_parse(text, len, name, &config_reader, &tmp, err) < 0) {
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
    return config_parse_copy(cfg, text, text != NULL ? len : 0, name, NULL, err);
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
        if (!config_node_char_ok(host[i]))
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
        .workers = 4,
        .prefetch = 64,
        .broker_heartbeat = 10,
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
    free(cfg->path);
    free(cfg->node);
    free(cfg->broker);
    free(cfg->uri);
    qmf_free(cfg->labels);
    qmf_free(cfg->allowed_paths);
    free(cfg->queue_type);
    free(cfg->state_dir);
    qmf_free(cfg->issuer_keys);
    free(cfg->trust_dir);
    free(cfg->revoked);
    free(cfg->policy);
    free(cfg->key);
    free(cfg->credential);
    cfg->path = cfg->node = cfg->broker = cfg->uri = NULL;
    cfg->queue_type = cfg->state_dir = NULL;
    cfg->trust_dir = cfg->revoked = cfg->policy = cfg->key = cfg->credential = NULL;
    cfg->issuer_keys = NULL;
    cfg->labels = NULL;
    cfg->allowed_paths = NULL;
    free(cfg->tls_ca);
    free(cfg->tls_cert);
    free(cfg->tls_key);
    free(cfg->sasl_mechanism);
    free(cfg->broker_topology);
    free(cfg->indication_encoding);
    cfg->tls_ca = cfg->tls_cert = cfg->tls_key = cfg->sasl_mechanism = NULL;
    cfg->broker_topology = cfg->indication_encoding = NULL;
}

static char *
config_strdup_or_null(const char *s)
{
    return s != NULL ? qmf_xstrdup(s) : NULL;
}

void
agent_config_copy(struct agent_config *dst, const struct agent_config *src)
{
    *dst = *src;
    dst->path = config_strdup_or_null(src->path);
    dst->node = config_strdup_or_null(src->node);
    dst->broker = config_strdup_or_null(src->broker);
    dst->uri = config_strdup_or_null(src->uri);
    dst->labels = src->labels != NULL ? qmf_dup(src->labels) : qmf_map();
    dst->allowed_paths = src->allowed_paths != NULL ? qmf_dup(src->allowed_paths) : qmf_list();
    dst->queue_type = config_strdup_or_null(src->queue_type);
    dst->state_dir = config_strdup_or_null(src->state_dir);
    dst->issuer_keys = src->issuer_keys != NULL ? qmf_dup(src->issuer_keys) : qmf_list();
    dst->trust_dir = config_strdup_or_null(src->trust_dir);
    dst->revoked = config_strdup_or_null(src->revoked);
    dst->policy = config_strdup_or_null(src->policy);
    dst->key = config_strdup_or_null(src->key);
    dst->credential = config_strdup_or_null(src->credential);
    dst->tls_ca = config_strdup_or_null(src->tls_ca);
    dst->tls_cert = config_strdup_or_null(src->tls_cert);
    dst->tls_key = config_strdup_or_null(src->tls_key);
    dst->sasl_mechanism = config_strdup_or_null(src->sasl_mechanism);
    dst->broker_topology = config_strdup_or_null(src->broker_topology);
    dst->indication_encoding = config_strdup_or_null(src->indication_encoding);
}
