/*
 * fleet-running: every running domain of the fleet, with libvirtbus.
 *   cc fleet-running.c $(pkg-config --cflags --libs libvirtbus) -o fleet-running
 *   ./fleet-running amqp://guest:guest@127.0.0.1:5672/ ~/.config/virtbus/caller.key
 * The key (made by `virtbus key new`) signs the queries, with the
 * credential beside it (caller.cred): agents answer only signed requests.
 */
#include <stdio.h>

#include <event2/event.h>
#include <virtbus.h>
#include <expr.h>

int
main(int argc, char **argv)
{
    struct virtbus_console_options o = {
        .url = argc > 1 ? argv[1] : "amqp://guest:guest@127.0.0.1:5672/",
        .key_file = argc > 2 ? argv[2] : NULL,
        .credential_file = argc > 3 ? argv[3] : NULL,
        .presence = true,
    };
    struct virtbus_send_opts send = { .timeout_ms = 5000 };
    struct virtbus_agent_list all, up, down;
    struct virtbus_results res;
    struct virtbus_console *c;
    struct event_base *base;
    qmf_value *running;
    qmf_error err;
    size_t i, j;

    base = event_base_new();
    c = virtbus_console_open(base, &o, &err);
    if (c == NULL || virtbus_presence(c, &all, &err) != 0) {
        fprintf(stderr, "fleet-running: %s\n", err.text);
        return 1;
    }
    virtbus_select(&all, NULL, &up, &down);         /* the nodes alive now */
    running = virtbus_expr_compile("state == \"running\"", NULL, &err);
    if (virtbus_query_agents(c, &up, "OBJECT", "Domain", running, &send, &res, &err) != 0) {
        fprintf(stderr, "fleet-running: %s\n", err.text);
        return 1;
    }
    for (i = 0; i < res.n; i++) {
        if (res.items[i].status != VIRTBUS_OK) {
            fprintf(stderr, "%s: %s\n", res.items[i].node, res.items[i].error.text);
            continue;
        }
        for (j = 0; j < qmf_list_len(res.items[i].value); j++) {
            const qmf_value *values = qmf_map_get(qmf_list_at(res.items[i].value, j), "_values");

            printf("%s %s\n", res.items[i].node, qmf_map_get_string(values, "name"));
        }
    }
    virtbus_results_free(&res);
    qmf_free(running);
    virtbus_agent_list_free(&all);
    virtbus_agent_list_free(&up);
    virtbus_agent_list_free(&down);
    virtbus_console_close(c);
    event_base_free(base);
    return 0;
}
