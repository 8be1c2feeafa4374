/*
 * The org.libvirt schema as tables.  The classes, properties, methods and
 * events are written once, as data, in schema/org.libvirt.xml; the build
 * turns it into C tables (schema/gen.c), and schema_xml.c reads it (or a
 * test's schema) at run time.  Everything else derives from the tables:
 * the _hash of each class, SCHEMA/SCHEMA_ID query answers, argument and
 * property type checks, and the controller's help.
 *
 * A loaded schema is immutable (but for its hashes, computed once on first
 * use, under a lock) and may be shared by any number of agents and
 * threads.  Lookups are linear scans over small arrays: O(classes) and
 * O(members of the class).
 */
#ifndef SCHEMA_H
#define SCHEMA_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/types.h"
#include "core/value.h"

#define SCHEMA_PACKAGE "org.libvirt"

enum schema_kind { SCHEMA_DATA, SCHEMA_EVENT };
enum schema_access { SCHEMA_RO, SCHEMA_RC, SCHEMA_RW };
enum schema_dir { SCHEMA_DIR_IN = 1, SCHEMA_DIR_OUT = 2, SCHEMA_DIR_INOUT = 3 };
/* Who may call a method (the security issue maps keys to roles). */
enum schema_role { SCHEMA_ROLE_READER, SCHEMA_ROLE_OPERATOR, SCHEMA_ROLE_ADMIN };
/*
 * What an argument says about the host's file system (docs/SECURITY.md,
 * "Host paths"): nothing; a path the agent's libvirt reads or writes; or
 * an XML document of that kind whose embedded paths libvirt will use; or
 * a device XML that only names a device to match, read with the same care
 * but whose paths libvirt only compares.  The agent refuses paths outside
 * its allowed_paths before running.
 */
enum schema_path {
    SCHEMA_PATH_NONE, SCHEMA_PATH_FILE, SCHEMA_PATH_DOMAIN_XML,
    SCHEMA_PATH_DEVICE_XML, SCHEMA_PATH_POOL_XML, SCHEMA_PATH_VOLUME_XML,
    SCHEMA_PATH_NETWORK_XML, SCHEMA_PATH_DEVICE_MATCH,
};
enum schema_severity {
    SCHEMA_SEV_EMERG, SCHEMA_SEV_ALERT, SCHEMA_SEV_CRIT, SCHEMA_SEV_ERROR,
    SCHEMA_SEV_WARN, SCHEMA_SEV_NOTICE, SCHEMA_SEV_INFO, SCHEMA_SEV_DEBUG,
};

struct schema_property {
    char *name;
    enum qmf_type type;
    enum schema_access access;
    bool optional;
    bool statistic;        /* refreshed on the statistics interval */
    bool index;            /* part of the object's identity */
    char *unit;            /* NULL if none */
    char *references;      /* class an objId points at, or NULL */
    char *desc;
};

struct schema_arg {
    char *name;
    enum qmf_type type;
    enum schema_dir dir;
    bool optional;         /* an input that may be omitted */
    qmf_value *default_value;  /* filled in when omitted, or NULL */
    char *references;
    enum schema_path path;     /* host paths in it; inputs of string types only */
    char *desc;
};

struct schema_method {
    char *name;
    const char *class_name;  /* the owning class's name, for messages (borrowed) */
    char *desc;
    enum schema_role role;
    /* Changes nothing anywhere: travels like a query (docs/PROTOCOL.md
     * §7.8), never through the durable queue nor the journal. */
    bool readonly;
    struct schema_arg *args;
    size_t nargs;
};

struct schema_class {
    char *package;
    char *name;
    enum schema_kind kind;
    enum schema_severity severity;  /* events: default severity */
    char *desc;
    struct schema_property *props;  /* events: the event's arguments */
    size_t nprops;
    struct schema_method *methods;
    size_t nmethods;
    struct schema *schema;          /* the schema it belongs to */
    uint8_t hash[16];               /* read it with schema_class_hash() */
};

struct schema {
    char *package;
    struct schema_class *classes;
    size_t nclasses;
    /* Hashes are computed on first use: a short-lived console that never
     * sends a schema id should not pay OpenSSL's start-up (~2 ms). */
    pthread_mutex_t hash_lock;
    atomic_bool hashed;
    bool is_static;                 /* the built-in tables: never freed */
};

/* The schema compiled into the program (schema/org.libvirt.xml): tables
 * made at build time, so nothing is parsed; schema_free() leaves it be. */
struct schema *schema_load_builtin(qmf_error *err);
/* Errors name the file, the line and the element or attribute at fault. */
struct schema *schema_load_file(const char *path, qmf_error *err);
struct schema *schema_load_memory(const char *xml, size_t len,
                                  const char *name, qmf_error *err);
void schema_free(struct schema *s);

const struct schema_class *schema_find_class(const struct schema *s,
                                             const char *name);
const struct schema_property *schema_find_property(const struct schema_class *c,
                                                   const char *name);
const struct schema_method *schema_find_method(const struct schema_class *c,
                                               const char *name);
const struct schema_arg *schema_find_arg(const struct schema_method *m,
                                         const char *name);

const char *schema_kind_name(enum schema_kind k);      /* "_data", "_event" */
const char *schema_access_name(enum schema_access a);  /* "RO", "RC", "RW" */
const char *schema_dir_name(enum schema_dir d);        /* "I", "O", "IO" */
const char *schema_role_name(enum schema_role r);      /* "reader", ... */
const char *schema_severity_name(enum schema_severity s); /* "info", ... */
const char *schema_path_name(enum schema_path p);      /* "", "file", "domain-xml", ... */

/* The class's _hash: a digest of everything in it that a peer relies on. */
const uint8_t *schema_class_hash(const struct schema_class *c);
/* {_package_name, _class_name, _type, _hash} */
qmf_value *schema_id_value(const struct schema_class *c);
/* The full QMFv2 schema map of a class (docs/PROTOCOL.md, "SCHEMA"). */
qmf_value *schema_class_value(const struct schema_class *c);

/*
 * Checks a _method_request's _arguments map against the method: unknown
 * arguments, missing required inputs and wrongly typed values are
 * QMF_ERR_INVALID_ARGS naming the argument.  Values are coerced in place to
 * their declared types and defaults are filled in.  args may be NULL
 * (no arguments given); then *args is created.
 */
int schema_check_args(const struct schema_method *m, qmf_value **args,
                      qmf_error *err);

/* Coerces a property map to the declared types; unknown keys are errors. */
int schema_check_values(const struct schema_class *c, qmf_value *values,
                        qmf_error *err);

#endif
