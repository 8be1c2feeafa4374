/*
 * The agent's configuration: a libvirt-style `key = value` file
 * (virtqemud.conf syntax), read at start and again on SIGHUP.  Keys are
 * described by one table in config.c, which drives both parsing and
 * validation; packaging/virtbusd.conf.in documents every key.
 */
#ifndef AGENT_CONFIG_H
#define AGENT_CONFIG_H

#include <stdatomic.h>
#include <stddef.h>

#include "agent/log.h"
#include "core/error.h"
#include "core/value.h"

#define AGENT_CONFIG_PATH VIRTBUS_SYSCONFDIR "/virtbusd.conf"

struct agent_config {
    char *path;                 /* file read, or NULL */
    char *node;                 /* default: the host name (gethostname) */
    char *broker;               /* default "amqp://guest:guest@127.0.0.1:5672/" */
    char *uri;                  /* libvirt URI, default "test:///default" */
    qmf_value *labels;          /* map of label -> string, from `labels = [ "tier=web", "rack=r1" ]`; never NULL */
    unsigned heartbeat_interval;/* s, default 5, range 1..3600 */
    unsigned stats_interval;    /* s, default 30, range 1..86400 */
    unsigned fleet_interval;    /* s between records in the fleet's memory; default 3600, 1..86400 */
    unsigned workers;           /* default 32, range 1..256 */
    unsigned prefetch;          /* default 64, range 1..65535 */
    unsigned broker_heartbeat;  /* AMQP heartbeat s, default 10, 0..3600 */
    unsigned reconnect_max;     /* s, the broker reconnect backoff's cap; default 30, 1..3600 */
    char *queue_type;           /* "quorum" (default) | "classic" */
    size_t max_body;            /* bytes, default 4194304, range 1024..268435456 */
    char *state_dir;            /* default "/var/lib/virtbus" */
    unsigned delivery_limit;    /* deliveries before a command is dead-lettered; default 5, 0..1000 (0: no limit) */
    unsigned queue_expires;     /* s an unused command queue is kept; default 0 (for ever), 0..31536000 */
    unsigned stop_timeout;      /* s running commands get at SIGTERM; default 60, 1..86400 */
    unsigned ack_long_commands_after; /* s a running command holds its delivery; default 900, 0..86400 (0: until it ends) */
    enum log_level log_level;   /* default info; key `log_level = "debug"` */
    /* List of absolute directories under which method arguments may name
     * host files (docs/SECURITY.md, "Host paths"); `allowed_paths = [
     * "/var/lib/libvirt/images" ]`.  Default empty: every host path is
     * refused.  Never NULL. */
    qmf_value *allowed_paths;

    /* Trust (docs/SECURITY.md); paths are absolute, "" means none. */
    bool require_signatures;    /* default yes: unsigned requests are refused */
    qmf_value *issuer_keys;     /* list of PEM public keys; default none; never NULL */
    char *trust_dir;            /* directly trusted caller keys; default "" */
    char *revoked;              /* revocation file; default "" */
    char *policy;               /* policy file; default "": the built-in role rules */
    char *key;                  /* the agent's private key; default <sysconfdir>/virtbus/agent.key */
    char *credential;           /* its credential; default <sysconfdir>/virtbus/agent.cred */
    unsigned clock_skew;        /* s allowed between clocks; default 60, 0..3600 */
    unsigned max_request_ttl;   /* s a signed request may live; default 86400, 1..2592000 */

    /* amqps (bus_tls): absolute paths of PEM files, or NULL */
    char *tls_ca;               /* CAs the broker's certificate must chain to; NULL: the system's */
    char *tls_cert;             /* client certificate */
    char *tls_key;              /* its key; NULL: in tls_cert's file */
    bool tls_verify_hostname;   /* default yes; no: unsafe, any host the CA vouched for */
    char *sasl_mechanism;       /* "plain" (default: the URL's password) or "external" (tls_cert) */
    char *broker_topology;      /* "declare" (default) or "provisioned" (virtbus broker-setup made it) */

    /* Indications (heartbeats, events, object pushes; docs/PROTOCOL.md
     * §4.1): answers take the request's encoding, indications these. */
    char *indication_encoding;  /* "json" (default) or "amqp" (amqp/map, amqp/list) */
    bool indication_amqp10;     /* default no; yes: in AMQP 1.0's envelope on 0-9-1 */
};

/* Fills every default; cfg is treated as uninitialised (nothing is freed). */
void agent_config_defaults(struct agent_config *cfg);

/*
 * Reads path over the current values (call defaults first) and records it
 * in cfg->path.  Errors (QMF_ERR_INVALID_ARGS) name the file, the line and
 * the key:
 *   "/etc/virtbus/virtbusd.conf:12: heartbeat_interval: expected an integer, got \"abc\""
 * A failed load leaves cfg unchanged.
 */
int agent_config_load(struct agent_config *cfg, const char *path, qmf_error *err);

/* Same from a buffer; `name` is used in messages instead of a path, and
 * cfg->path is left as it is. */
int agent_config_parse(struct agent_config *cfg, const char *text, size_t len,
                       const char *name, qmf_error *err);

/* Frees what cfg owns and NULLs the pointers. */
void agent_config_free(struct agent_config *cfg);

/*
 * Deep copy, for SIGHUP reloads: copy, load into the copy, swap only on
 * success.  dst is treated as uninitialised (nothing is freed).
 */
void agent_config_copy(struct agent_config *dst, const struct agent_config *src);

/*
 * A configuration as loaded, never changed afterwards and shared by
 * reference: the agent holds the one in force, and each worker job that
 * reads configuration holds the one in force when it was submitted, so a
 * reload never changes or frees what a worker is reading.  The count is
 * atomic so that a reference may be dropped on any thread; the last one
 * frees.
 */
struct agent_conf {
    atomic_uint refs;
    struct agent_config cfg;
};

/* A deep copy of cfg, with one reference. */
struct agent_conf *agent_conf_new(const struct agent_config *cfg);
/* Another reference to c (returned). */
struct agent_conf *agent_conf_ref(struct agent_conf *c);
void agent_conf_unref(struct agent_conf *c);

#endif
