/*
 * Hypervisor events: libvirt's callbacks (on the loop thread) become QMF
 * events on the bus at once, and a refresh of the object they concern,
 * ordered after any command running on that object.  Volumes have no
 * events of their own: a pool's events reload them.
 */
#include "agent/agent_impl.h"

#include <stdarg.h>
#include <stdlib.h>

/* Publishes an event whose values are pairs of strings; NULL-terminated. */
static void
publish_strings(struct agent *a, const char *event, ...)
{
    qmf_value *v = qmf_map();
    const char *key, *value;
    va_list ap;

    va_start(ap, event);
    while ((key = va_arg(ap, const char *)) != NULL) {
        value = va_arg(ap, const char *);
        qmf_map_set(v, key, qmf_string(value ? value : ""));
    }
    va_end(ap);
    if (a->bus_up)
        agent_publish_event(a, event, v, NULL, NULL);
    else
        qmf_free(v);
}

static void
refresh(struct agent *a, const char *class_name, const char *key)
{
    char *name = agent_object_name(class_name, key);

    agent_refresh_object(a, name);
    free(name);
}

static void
on_domain_lifecycle(void *opaque, const char *uuid, const char *name,
                    const char *event, const char *detail)
{
    struct agent *a = opaque;

    log_debug(&a->log, "domain %s: %s (%s)", name, event, detail);
    publish_strings(a, "domainLifecycle", "domain", name, "uuid", uuid,
                    "event", event, "detail", detail, NULL);
    refresh(a, "Domain", uuid);
}

static void
on_domain_reboot(void *opaque, const char *uuid, const char *name)
{
    struct agent *a = opaque;

    publish_strings(a, "domainReboot", "domain", name, "uuid", uuid, NULL);
    refresh(a, "Domain", uuid);
}

static void
on_domain_device(void *opaque, const char *uuid, const char *name,
                 const char *device, bool added)
{
    struct agent *a = opaque;

    publish_strings(a, added ? "domainDeviceAdded" : "domainDeviceRemoved",
                    "domain", name, "uuid", uuid, "device", device, NULL);
    refresh(a, "Domain", uuid);
}

static void
on_pool_lifecycle(void *opaque, const char *uuid, const char *name,
                  const char *event, const char *detail)
{
    struct agent *a = opaque;

    publish_strings(a, "poolLifecycle", "pool", name, "uuid", uuid,
                    "event", event, "detail", detail, NULL);
    refresh(a, "Pool", uuid);
    if (a->driver_up)
        agent_load_inventory(a, "Volume", false, NULL);
}

static void
on_network_lifecycle(void *opaque, const char *uuid, const char *name,
                     const char *event, const char *detail)
{
    struct agent *a = opaque;

    publish_strings(a, "networkLifecycle", "network", name, "uuid", uuid,
                    "event", event, "detail", detail, NULL);
    refresh(a, "Network", uuid);
}

static void
on_disconnected(void *opaque, const char *reason)
{
    agent_driver_lost(opaque, reason);
}

const struct drv_events agent_driver_events = {
    .domain_lifecycle = on_domain_lifecycle,
    .domain_reboot = on_domain_reboot,
    .domain_device = on_domain_device,
    .pool_lifecycle = on_pool_lifecycle,
    .network_lifecycle = on_network_lifecycle,
    .disconnected = on_disconnected,
};
