/*
 * The controller's configuration: broker aliases (as libvirt.conf's
 * uri_aliases, so that `-c prod` works), the default broker, node groups
 * (`-n @web`), the answer timeout and the key file, in libvirt's
 * `key = value` syntax.  packaging/virtbus.conf documents every key.
 */
#ifndef CTL_CONFIG_H
#define CTL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "bus/bus.h"
#include "core/error.h"
#include "core/value.h"

#define CTL_CONFIG_SYSTEM_PATH VIRTBUS_SYSCONFDIR "/virtbus.conf"
#define CTL_CONFIG_DEFAULT_TIMEOUT 10
#define CTL_CONFIG_MAX_TIMEOUT 86400
#define CTL_CONFIG_DEFAULT_PRESENCE_WINDOW 20
#define CTL_CONFIG_MIN_PRESENCE_WINDOW 5
#define CTL_CONFIG_DEFAULT_PRESENCE_REUSE_MS 2000
#define CTL_CONFIG_MAX_PRESENCE_REUSE_MS 60000
#define CTL_CONFIG_MAX_PRESENCE_WINDOW 3600
#define CTL_CONFIG_MAX_FLEET_RETENTION 315360000   /* ten years */
#define CTL_CONFIG_DEFAULT_CONFIRM_ABOVE 10
#define CTL_CONFIG_MAX_CONFIRM_ABOVE 1000000

struct ctl_config {
    char *broker;               /* default broker: URL, alias, or the URLs of
                                   broker = [ "amqp://a", "amqp://b" ]
                                   separated by spaces; NULL if unset */
    qmf_value *broker_aliases;  /* map alias -> URL string (or URLs separated
                                   by spaces: a cluster's nodes), from
                                   broker_aliases = [ "prod=amqps://...", ... ]; never NULL */
    qmf_value *node_groups;     /* map group -> list of node names and globs
                                   (strings), from node_groups = [ "web=web*,front1" ];
                                   never NULL */
    unsigned timeout;           /* seconds for answers; default 10, range 1..86400 */
    /* Seconds of heartbeats read to know who is alive; must cover three
     * of the agents' heartbeat intervals.  Default 20, range 5..3600. */
    unsigned presence_window;
    /* A command that finds presence cached less than this many ms ago
     * takes it as it is instead of reading the stream.  Default 2000,
     * range 0 (always read) ..60000. */
    unsigned presence_reuse_ms;
    /* Read presence from a keeper's summary where one runs (`virtbus
     * keeper`), else from the heartbeats.  Default yes; no: always the
     * heartbeats (a node is then seen within its first second). */
    bool presence_summaries;
    /* Seconds a node that is no longer seen stays in the fleet's memory
     * (listed down) unless forgotten earlier; 0 (the default): until
     * `virtbus node forget`.  Range 0..315360000. */
    unsigned fleet_retention;
    /* A destructive verb (destroy, undefine, pool-delete, vol-wipe ...) on
     * more nodes than this asks first on a terminal and wants --yes
     * without one.  Default 10, range 0 (never asks) ..1000000. */
    unsigned confirm_above;
    char *key_file;             /* the caller's signing key (absolute path; its
                                   credential is beside it, .cred for .key);
                                   NULL: ~/.config/virtbus/caller.key if it exists */
    qmf_value *agent_issuer_keys; /* PEM public keys: answers are checked to come,
                                     signed, from the agent they name, with a
                                     credential of one of these issuers; a list
                                     of absolute paths, never NULL (empty: answers
                                     are not checked) */
    /* amqps: absolute paths of PEM files, NULL if unset (tls_ca: the
     * system's CAs) */
    char *tls_ca;
    char *tls_cert;
    char *tls_key;
    bool tls_verify_hostname;   /* default yes; no: unsafe */
    enum bus_sasl sasl;         /* sasl_mechanism = "plain" (default) | "external" */
    bool provisioned;           /* broker_topology = "declare" (default) | "provisioned" */
    bool read_only;             /* default no; yes: a reader's broker account */
    bool seal_answers;          /* default yes (with key_file): answers sealed to us */
    char *paths_read;           /* for messages: the files read, ':'-separated;
                                   NULL if none */
};

/* Fills every default; c is treated as uninitialised (nothing is freed). */
void ctl_config_defaults(struct ctl_config *c);

/*
 * Reads CTL_CONFIG_SYSTEM_PATH, then $XDG_CONFIG_HOME/virtbus/virtbus.conf
 * ($HOME/.config/virtbus/virtbus.conf if $XDG_CONFIG_HOME is unset, empty or
 * relative), each only if it exists; a key set in a later file replaces the
 * earlier value as a whole (lists are not merged).  $VIRTBUS_CONFIG, if set
 * and not empty, names the only file read, and it must exist.  Errors name
 * the file, the line and the key; on failure c is unchanged.
 */
int ctl_config_load_default(struct ctl_config *c, qmf_error *err);

/* Reads one file over the current values and appends it to c->paths_read;
 * on failure c is unchanged. */
int ctl_config_load(struct ctl_config *c, const char *path, qmf_error *err);

/* Same from a buffer; name stands for the file in messages, and
 * c->paths_read is left as it is. */
int ctl_config_parse(struct ctl_config *c, const char *text, size_t len,
                     const char *name, qmf_error *err);

/*
 * The broker URL for `-c NAME` (or $VIRTBUS_BROKER): the URL of the alias
 * NAME, else NAME itself if it looks like a URL (scheme://...), else an error
 * "unknown broker alias 'x' (aliases: a, b)".  A NULL name stands for the
 * configured default broker, resolved the same way; when none is configured,
 * *url is set to NULL and 0 is returned, so that the caller applies its
 * built-in default.  *url is malloc'd.
 */
int ctl_config_broker_url(const struct ctl_config *c, const char *name, char **url,
                          qmf_error *err);

/* The members (a list of strings) of group, given with or without its '@';
 * NULL with an error naming the group and the known groups.  Borrowed from c. */
const qmf_value *ctl_config_group(const struct ctl_config *c, const char *group,
                                  qmf_error *err);

/* Frees what c owns and NULLs the pointers. */
void ctl_config_free(struct ctl_config *c);

#endif
