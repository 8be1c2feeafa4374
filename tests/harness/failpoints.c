/*
 * Fault injection for the fault tests: see failpoints.h.
 */
#include "tests/harness/failpoints.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "crash-on-method=Class.method", as one whole item of the list. */
static void
crash_on_method(const char *class_name, const char *method, void *opaque)
{
    const char *points = opaque;
    char point[256];
    size_t len;
    const char *at;

    snprintf(point, sizeof(point), "crash-on-method=%s.%s", class_name, method);
    len = strlen(point);
    for (at = strstr(points, point); at != NULL; at = strstr(at + 1, point)) {
        if ((at == points || at[-1] == ',') && (at[len] == '\0' || at[len] == ',')) {
            fprintf(stderr, "virtbusd: failpoint %s: crashing\n", point);
            abort();
        }
    }
}

void
failpoints_install(struct agent_env *env, const char *points)
{
    if (points == NULL || points[0] == '\0')
        return;
    env->dispatching = crash_on_method;
    env->dispatching_opaque = (void *)points;
}
