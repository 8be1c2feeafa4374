/*
 * The agent's object classes: how objects of each schema class are named,
 * listed and fetched through their driver families, and how what a worker
 * fetched reaches the inventory (and, when it changed, the bus).
 *
 * Worker-side functions (fetch, the inventory job's work) only read
 * a->dconn, a->name, the schema and the configuration snapshot
 * their job took; everything else runs on the loop thread.
 */
#include "agent/agent_impl.h"
#include "agent/clock.h"

#include <stdlib.h>
#include <string.h>

/*
 * The published classes.  An object's stable name is its prefix and the
 * value of its key property ("domain:<uuid>"); the node is just "node".
 * Order matters for loading: a Volume refers to its Pool.
 */
static const struct object_class {
    const char *class_name;
    const char *prefix;
    const char *key_property;        /* NULL: the name is the prefix */
    const struct drv_family *family; /* NULL: the node */
} object_classes[] = {
    { "Node", "node", NULL, NULL },
    { "Domain", "domain:", "uuid", &drv_domains },
    { "Pool", "pool:", "uuid", &drv_pools },
    { "Volume", "volume:", "key", &drv_volumes },
    { "Network", "network:", "uuid", &drv_networks },
    { "Interface", "interface:", "name", &drv_interfaces },
};
#define NCLASSES (sizeof(object_classes) / sizeof(object_classes[0]))

/* Every object of a class; the node is one object, so its list is its info. */
static int
class_list(struct agent *a, const struct object_class *oc, qmf_value **list,
           qmf_error *err)
{
    qmf_value *values;

    if (oc->family != NULL)
        return drv_list(a->dconn, oc->family, list, err);
    if (drv_node_info(a->dconn, &values, err) != 0)
        return -1;
    *list = qmf_list();
    qmf_list_append(*list, values);
    return 0;
}

static int
class_get(struct agent *a, const struct object_class *oc, const char *key,
          qmf_value **values, qmf_error *err)
{
    if (oc->family != NULL)
        return drv_get(a->dconn, oc->family, key, values, err);
    return drv_node_info(a->dconn, values, err);
}

static const struct object_class *
class_by_name(const char *class_name)
{
    size_t i;

    for (i = 0; i < NCLASSES; i++)
        if (strcmp(object_classes[i].class_name, class_name) == 0)
            return &object_classes[i];
    return NULL;
}

/* The class of an object, from its name; *key gets the part after the prefix. */
static const struct object_class *
class_of_object(const char *object_name, const char **key)
{
    size_t i;

    for (i = 0; i < NCLASSES; i++) {
        const struct object_class *oc = &object_classes[i];
        size_t n = strlen(oc->prefix);

        if (oc->key_property == NULL ? strcmp(object_name, oc->prefix) == 0
                                     : strncmp(object_name, oc->prefix, n) == 0) {
            *key = object_name + (oc->key_property ? n : strlen(object_name));
            return oc;
        }
    }
    return NULL;
}

qmf_value *
agent_object_ref(const struct agent *a, const char *object_name)
{
    return inv_object_id(&a->inv, object_name);
}

char *
agent_object_name(const char *class_name, const char *key)
{
    const struct object_class *oc = class_by_name(class_name);

    if (oc == NULL)
        return NULL;
    return oc->key_property ? qmf_xasprintf("%s%s", oc->prefix, key)
                            : qmf_xstrdup(oc->prefix);
}

/*
 * Completes a driver property map with what only the agent knows and
 * coerces it to the schema's types, so that the inventory holds exactly
 * what the schema says: the node reference, the agent name in objIds the
 * driver filled with an object name only, and the Node's labels (from
 * cfg, the job's snapshot: a reload may replace the agent's meanwhile).
 */
static int
finish_values(struct agent *a, const struct agent_config *cfg,
              const struct schema_class *cls, qmf_value *values, qmf_error *err)
{
    size_t i;

    for (i = 0; i < cls->nprops; i++) {
        const struct schema_property *p = &cls->props[i];
        qmf_value *v;

        if (p->type != QMF_T_OBJID)
            continue;
        v = qmf_map_get(values, p->name);
        if (v == NULL && strcmp(p->name, "node") == 0)
            qmf_map_set(values, "node", agent_object_ref(a, "node"));
        else if (v != NULL && v->kind == QMF_MAP && qmf_map_get(v, "_agent_name") == NULL)
            qmf_map_set(v, "_agent_name", qmf_string(a->name));
    }
    if (strcmp(cls->name, "Node") == 0)
        qmf_map_set(values, "labels", qmf_dup(cfg->labels));
    return schema_check_values(cls, values, err);
}

/* The stable name of an object from its property map. */
static char *
object_name_of(const struct object_class *oc, const qmf_value *values)
{
    const char *key;

    if (oc->key_property == NULL)
        return qmf_xstrdup(oc->prefix);
    key = qmf_map_get_string(values, oc->key_property);
    return key ? qmf_xasprintf("%s%s", oc->prefix, key) : NULL;
}

int
agent_fetch_object(struct agent *a, const struct agent_config *cfg,
                   const char *object_name, qmf_value **values, qmf_error *err)
{
    const char *key;
    const struct object_class *oc = class_of_object(object_name, &key);
    const struct schema_class *cls;

    *values = NULL;
    if (oc == NULL) {
        qmf_error_set(err, QMF_ERR_UNKNOWN_OBJECT, "no object '%s'", object_name);
        return -1;
    }
    cls = schema_find_class(a->env.schema, oc->class_name);
    if (class_get(a, oc, key, values, err) != 0 || finish_values(a, cfg, cls, *values, err) != 0) {
        qmf_free(*values);
        *values = NULL;
        return -1;
    }
    return 0;
}

void
agent_apply_object(struct agent *a, const char *object_name, qmf_value *values,
                   bool gone)
{
    const char *key;
    const struct object_class *oc = class_of_object(object_name, &key);
    int64_t now = clock_wall_ns();
    qmf_value *changed = qmf_list();

    if (values != NULL && oc != NULL) {
        if (inv_put(&a->inv, schema_find_class(a->env.schema, oc->class_name),
                    object_name, values, now))
            qmf_list_append(changed, inv_object_data(&a->inv, inv_get(&a->inv, object_name),
                                                     false));
    } else {
        qmf_free(values);
        if (gone) {
            qmf_value *data = inv_remove(&a->inv, object_name, now);

            if (data)
                qmf_list_append(changed, data);
        }
    }
    if (a->bus_up && qmf_list_len(changed) > 0)
        agent_push_soon(a, changed);
    else
        qmf_free(changed);
}

/* Refreshing one object ---------------------------------------------------- */

struct refresh_job {
    struct agent *a;
    struct agent_conf *conf;
    char *object_name;
    qmf_value *values;
    bool gone;
};

static void
refresh_work(void *arg)
{
    struct refresh_job *job = arg;
    qmf_error err;

    if (agent_fetch_object(job->a, &job->conf->cfg, job->object_name, &job->values,
                           &err) != 0)
        job->gone = err.code == QMF_ERR_UNKNOWN_OBJECT;
}

static void
refresh_done(void *arg)
{
    struct refresh_job *job = arg;
    struct agent *a = job->a;

    /* A fetch that raced with a lost connection says nothing. */
    if (a->driver_up)
        agent_apply_object(a, job->object_name, job->values, job->gone);
    else
        qmf_free(job->values);
    agent_conf_unref(job->conf);
    free(job->object_name);
    free(job);
    jobs_end(&a->jobs);
}

void
agent_refresh_object(struct agent *a, const char *object_name)
{
    struct refresh_job *job;

    /* Past the goodbye, the connection is about to close under any job. */
    if (!a->driver_up || a->state == AGENT_STOPPED || a->saying_goodbye)
        return;
    job = qmf_xcalloc(1, sizeof(*job));
    job->a = a;
    job->conf = agent_conf_ref(a->conf);
    job->object_name = qmf_xstrdup(object_name);
    if (jobs_submit(&a->jobs, object_name, refresh_work, refresh_done, job) != 0) {
        agent_conf_unref(job->conf);
        free(job->object_name);
        free(job);
    }
}

/* Loading whole classes ------------------------------------------------------ */

struct inventory_job {
    struct agent *a;
    struct agent_conf *conf;
    const char *only_class;      /* NULL: every class */
    uint64_t since;              /* inv_seq when it was asked for */
    bool push_all;
    void (*done)(struct agent *a, bool ok);
    qmf_value *classes;          /* class name -> {object name -> values} */
    qmf_error err;
    bool ok;
};

/* Worker side: one class into job->classes.  A class the backend cannot
 * list is left out (and so left as it is in the inventory). */
static int
collect_class(struct inventory_job *job, const struct object_class *oc)
{
    const struct schema_class *cls = schema_find_class(job->a->env.schema, oc->class_name);
    qmf_value *list = NULL, *by_name;
    qmf_error err;
    size_t i;

    if (class_list(job->a, oc, &list, &err) != 0) {
        if (err.code == QMF_ERR_DRIVER_DOWN) {
            job->err = err;
            return -1;
        }
        if (err.code != QMF_ERR_NOT_IMPLEMENTED)
            job->err = err;     /* logged on the loop; the rest still loads */
        return 0;
    }
    by_name = qmf_map_set(job->classes, oc->class_name, qmf_map());
    for (i = 0; i < qmf_list_len(list); i++) {
        qmf_value *values = qmf_list_at(list, i);
        char *name;

        if (finish_values(job->a, &job->conf->cfg, cls, values, &err) != 0) {
            job->err = err;
            continue;
        }
        if ((name = object_name_of(oc, values)) == NULL)
            continue;
        qmf_map_set(by_name, name, qmf_list_steal(list, i));
        free(name);
    }
    qmf_free(list);
    return 0;
}

static void
inventory_work(void *arg)
{
    struct inventory_job *job = arg;
    size_t i;

    job->classes = qmf_map();
    for (i = 0; i < NCLASSES; i++) {
        if (job->only_class && strcmp(job->only_class, object_classes[i].class_name) != 0)
            continue;
        if (collect_class(job, &object_classes[i]) != 0)
            return;
    }
    /* Without the node there is no inventory worth serving. */
    job->ok = job->only_class != NULL || qmf_map_get(job->classes, "Node") != NULL;
}

static void
inventory_done(void *arg)
{
    struct inventory_job *job = arg;
    struct agent *a = job->a;
    qmf_value *changed = qmf_list();
    int64_t now = clock_wall_ns();
    size_t i;

    if (job->ok) {
        for (i = 0; i < qmf_map_len(job->classes); i++) {
            struct qmf_pair *p = qmf_map_at(job->classes, i);

            inv_replace_class(&a->inv, schema_find_class(a->env.schema, p->key),
                              p->value, job->since, now, changed);
        }
        if (job->err.code != QMF_OK)
            log_warnx(&a->log, "inventory incomplete: %s", job->err.text);
        log_debug(&a->log, "inventory: %zu objects, %zu changed",
                  inv_count(&a->inv, NULL), qmf_list_len(changed));
    } else {
        log_warnx(&a->log, "cannot load the inventory from %s: %s", a->cfg.uri,
                  job->err.code ? job->err.text : "no node information");
    }
    if (job->ok && job->push_all) {
        qmf_free(changed);
        if (a->bus_up)
            agent_push_all(a);
    } else if (a->bus_up && qmf_list_len(changed) > 0) {
        agent_push_objects(a, changed);
    } else {
        qmf_free(changed);
    }
    if (job->done)
        job->done(a, job->ok);
    qmf_free(job->classes);
    agent_conf_unref(job->conf);
    free(job);
    jobs_end(&a->jobs);
}

void
agent_load_inventory(struct agent *a, const char *only_class, bool push_all,
                     void (*done)(struct agent *a, bool ok))
{
    struct inventory_job *job;

    /* Past the goodbye, the connection is about to close under any job. */
    if (a->saying_goodbye) {
        if (done)
            done(a, false);
        return;
    }
    job = qmf_xcalloc(1, sizeof(*job));
    job->a = a;
    job->conf = agent_conf_ref(a->conf);
    job->only_class = only_class;
    /* What the loop changes from now on is newer than the snapshot. */
    job->since = inv_seq(&a->inv);
    job->push_all = push_all;
    job->done = done;
    /* One key for every load: loads never overlap and apply in order. */
    if (jobs_submit(&a->jobs, "inventory", inventory_work, inventory_done, job) != 0) {
        agent_conf_unref(job->conf);
        free(job);
        log_warnx(&a->log, "cannot queue the inventory load");
    }
}
