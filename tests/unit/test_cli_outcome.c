/*
 * Tests of outcomes without a broker: what happened to each object or
 * node (from failures, down nodes, --where answers), the exit status
 * they make, and how they are reported: ok lines, failures and the
 * summary, printed documents and tables, or one JSON document.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tests/testutil.h"
#include "tests/unit/cli_support.h"

static qmf_error
error_of(uint32_t code, const char *text)
{
    qmf_error err;

    qmf_error_set(&err, code, "%s", text);
    return err;
}

/* hv1: web1 ok, db1 failed (libvirt); hv2: web2 ok with output; hv3
 * did not answer; hv4 is down; a name found nowhere. */
static void
mixed(struct ctl_outcomes *o)
{
    qmf_error failed = error_of(QMF_ERR_LIBVIRT | 55, "Requested operation is not valid");
    qmf_error silent = error_of(QMF_ERR_TIMEOUT, "no reply in time");
    qmf_error down = error_of(QMF_ERR_TIMEOUT, "down: never heard from");
    qmf_error nowhere = error_of(QMF_ERR_UNKNOWN_OBJECT, "no domain 'ghost' on the targeted nodes");

    memset(o, 0, sizeof(*o));
    ctl_outcome_add(o, "hv2", "web2", "domain:u2", CTL_OK, NULL, cli_json("{\"count\":2}"));
    ctl_outcome_add(o, "hv1", "web1", "domain:u1", CTL_OK, NULL, NULL);
    ctl_outcome_add(o, "hv1", "db1", "domain:u3", CTL_FAILED, &failed, NULL);
    ctl_outcome_add(o, "hv3", NULL, NULL, CTL_NO_REPLY, &silent, NULL);
    ctl_outcome_add(o, "hv4", NULL, NULL, CTL_DOWN, &down, NULL);
    ctl_outcome_add(o, NULL, "ghost", NULL, CTL_FAILED, &nowhere, NULL);
}

/* What a report printed on stdout and stderr, and its status. */
struct printed {
    char *out, *err;
    int rc;
};

static struct printed
report(struct ctl_ctx *ctx, const struct ctl_report *r, const struct ctl_outcomes *o,
       qmf_value *extra)
{
    struct test_capture out, err;
    struct printed p;

    test_capture_begin(&out, STDOUT_FILENO);
    test_capture_begin(&err, STDERR_FILENO);
    p.rc = ctl_outcomes_report(ctx, r, o, extra);
    p.err = test_capture_end(&err);
    p.out = test_capture_end(&out);
    return p;
}

static void
printed_free(struct printed *p)
{
    free(p->out);
    free(p->err);
}

/* Reports o and checks all it printed, and its status. */
static void
assert_report(struct ctl_ctx *ctx, const struct ctl_report *r, const struct ctl_outcomes *o,
              int rc, const char *want_out, const char *want_err)
{
    struct printed p = report(ctx, r, o, NULL);

    cr_assert_eq(p.rc, rc);
    cr_assert_str_eq(p.out, want_out);
    cr_assert_str_eq(p.err, want_err);
    printed_free(&p);
}

static const struct ctl_report shutdown_report = {
    .command = "shutdown", .verb = "shutdown", .class_name = "Domain", .method = "shutdown",
};

Test(cli_outcome, the_exit_status_is_the_worst_outcome)
{
    struct ctl_outcomes o = { 0 };
    qmf_error err = error_of(QMF_ERR_INTERNAL, "x");

    cr_assert_eq(ctl_outcomes_exit(&o), CTL_EXIT_OK);
    ctl_outcome_add(&o, "a", "x", NULL, CTL_OK, NULL, NULL);
    cr_assert_eq(ctl_outcomes_exit(&o), CTL_EXIT_OK);
    ctl_outcome_add(&o, "a", "y", NULL, CTL_FAILED, &err, NULL);
    cr_assert_eq(ctl_outcomes_exit(&o), CTL_EXIT_FAILED);
    ctl_outcome_add(&o, "b", NULL, NULL, CTL_DOWN, &err, NULL);
    cr_assert_eq(ctl_outcomes_exit(&o), CTL_EXIT_NO_REPLY);
    ctl_outcomes_clear(&o);
    cr_assert_eq(o.n, 0);
    ctl_outcome_add(&o, "b", NULL, NULL, CTL_NO_REPLY, &err, NULL);
    cr_assert_eq(ctl_outcomes_exit(&o), CTL_EXIT_NO_REPLY);
    ctl_outcomes_clear(&o);
}

Test(cli_outcome, down_nodes_and_failed_answers_become_outcomes)
{
    struct virtbus_agent_list down = { 0 };
    struct virtbus_results r = { 0 };
    struct ctl_outcomes o = { 0 };
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    cli_agent_add(&down, "hv4", false, NULL, 0);
    cli_agent_add(&down, "hv5", false, NULL,
                  now.tv_sec * 1000000000LL + now.tv_nsec - 90500000000LL);
    ctl_outcomes_add_down(&o, &down);
    cr_assert_eq(o.n, 2);
    cr_assert_eq(o.items[0].status, CTL_DOWN);
    cr_assert_str_eq(o.items[0].node, "hv4");
    cr_assert_str_eq(o.items[0].error.text, "down: never heard from");
    cr_assert_str_eq(o.items[1].error.text, "down: last heartbeat 90s ago");
    cr_assert_eq(o.items[1].error.code, QMF_ERR_TIMEOUT);
    ctl_outcomes_clear(&o);

    cli_result_add(&r, "hv1", VIRTBUS_OK, "[]", 0, NULL);
    cli_result_add(&r, "hv2", VIRTBUS_FAILED, NULL, QMF_ERR_UNAUTHORIZED, "not allowed");
    cli_result_add(&r, "hv3", VIRTBUS_NO_REPLY, NULL, 0, NULL);
    cli_result_add(&r, "hv6", VIRTBUS_NO_REPLY, NULL, QMF_ERR_TIMEOUT, "no reply: interrupted");
    ctl_outcomes_add_failures(&o, &r);
    cr_assert_eq(o.n, 3, "only failures: %zu", o.n);
    cr_assert_str_eq(o.items[0].node, "hv2");
    cr_assert_eq(o.items[0].status, CTL_FAILED);
    cr_assert_eq(o.items[0].error.code, QMF_ERR_UNAUTHORIZED);
    cr_assert_str_eq(o.items[0].error.text, "not allowed");
    cr_assert_eq(o.items[1].status, CTL_NO_REPLY);
    cr_assert_str_eq(o.items[1].error.text, "no reply in time");
    cr_assert_eq(o.items[1].error.code, QMF_ERR_TIMEOUT);
    cr_assert_str_eq(o.items[2].error.text, "no reply: interrupted");
    ctl_outcomes_clear(&o);
    virtbus_results_free(&r);
    virtbus_agent_list_free(&down);
}

Test(cli_outcome, where_answers_name_their_objects)
{
    struct virtbus_results r = { 0 };
    struct ctl_outcomes o = { 0 };

    cli_result_add(&r, "hv1", VIRTBUS_OK,
                   "[{\"_object_id\":{\"_object_name\":\"domain:u1\"},\"_name\":\"web1\","
                   "\"_arguments\":{\"description\":\"<domain/>\"}},"
                   "{\"_object_id\":{\"_object_name\":\"domain:u2\"},"
                   "\"_values\":{\"error_code\":65591,\"error_text\":\"not running\"}}]", 0, NULL);
    cli_result_add(&r, "hv2", VIRTBUS_OK, "[]", 0, NULL);
    cli_result_add(&r, "hv3", VIRTBUS_FAILED, NULL, QMF_ERR_UNAUTHORIZED, "no");
    ctl_outcomes_add_where_results(&o, &r);
    cr_assert_eq(o.n, 4);
    /* Failures of whole nodes first. */
    cr_assert_str_eq(o.items[0].node, "hv3");
    cr_assert_eq(o.items[0].status, CTL_FAILED);
    cr_assert_str_eq(o.items[1].object, "web1");
    cr_assert_str_eq(o.items[1].object_name, "domain:u1");
    cr_assert_eq(o.items[1].status, CTL_OK);
    cli_assert_json(o.items[1].output, "{\"description\":\"<domain/>\"}");
    /* Without a _name, the object name. */
    cr_assert_str_eq(o.items[2].object, "domain:u2");
    cr_assert_eq(o.items[2].status, CTL_FAILED);
    cr_assert_eq(o.items[2].error.code, 65591);
    cr_assert_str_eq(o.items[2].error.text, "not running");
    /* A node that matched nothing is fine, and has no object. */
    cr_assert_str_eq(o.items[3].node, "hv2");
    cr_assert_null(o.items[3].object);
    cr_assert_eq(o.items[3].status, CTL_OK);
    ctl_outcomes_clear(&o);
    virtbus_results_free(&r);
}

static void
assert_outcome_json(const struct ctl_outcome *oc, const char *want)
{
    qmf_value *v = ctl_outcome_json(oc);

    cli_assert_json(v, want);
    qmf_free(v);
}

Test(cli_outcome, json_elements)
{
    struct ctl_outcomes o;

    mixed(&o);
    assert_outcome_json(&o.items[0], "{\"node\":\"hv2\",\"object\":\"web2\","
                        "\"object_name\":\"domain:u2\",\"status\":\"ok\","
                        "\"output\":{\"count\":2}}");
    assert_outcome_json(&o.items[5], "{\"node\":null,\"object\":\"ghost\","
                        "\"status\":\"failed\",\"error_code\":1,"
                        "\"error_text\":\"no domain 'ghost' on the targeted nodes\"}");
    assert_outcome_json(&o.items[3], "{\"node\":\"hv3\",\"object\":null,"
                        "\"status\":\"no-reply\",\"error_code\":13,"
                        "\"error_text\":\"no reply in time\"}");
    ctl_outcomes_clear(&o);
}

Test(cli_outcome, text_report_ok_lines_failures_and_summary)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    struct ctl_outcomes o;
    struct printed p;

    mixed(&o);
    /* Sorted by node, then object; outputs under their line. */
    assert_report(ctx, &shutdown_report, &o, CTL_EXIT_NO_REPLY,
                  "hv1: web1: shutdown ok\n"
                  "hv2: web2: shutdown ok\n"
                  "  count: 2\n",
                  "virtbus: ghost: failed: error 0x1 (unknown-object): no domain "
                  "'ghost' on the targeted nodes\n"
                  "virtbus: hv1: db1: failed: error 0x10037 (libvirt): Requested "
                  "operation is not valid\n"
                  "virtbus: hv3: no reply in time\n"
                  "virtbus: hv4: down: never heard from\n"
                  "shutdown: 4 nodes: 1 ok, 1 failed, 1 no reply, 1 down; "
                  "4 objects: 2 ok, 2 failed\n");

    /* -q: the failures only. */
    ctx->quiet = true;
    p = report(ctx, &shutdown_report, &o, NULL);
    cr_assert_str_eq(p.out, "");
    cr_assert(strstr(p.err, "virtbus: hv4: down: never heard from\n"), "%s", p.err);
    cr_assert_null(strstr(p.err, "shutdown: "), "%s", p.err);
    printed_free(&p);
    ctl_outcomes_clear(&o);
    cli_ctx_free(ctx);
}

Test(cli_outcome, one_object_done_needs_no_summary)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    struct ctl_outcomes o = { 0 };

    ctl_outcome_add(&o, "hv1", "web1", NULL, CTL_OK, NULL, NULL);
    assert_report(ctx, &shutdown_report, &o, CTL_EXIT_OK, "hv1: web1: shutdown ok\n", "");
    ctl_outcomes_clear(&o);

    /* Nothing done at all is said. */
    ctl_outcome_add(&o, "hv1", NULL, NULL, CTL_OK, NULL, NULL);
    assert_report(ctx, &shutdown_report, &o, CTL_EXIT_OK, "",
                  "shutdown: 1 node: 1 ok, 0 failed, 0 no reply, 0 down; "
                  "0 objects: 0 ok, 0 failed\n");
    ctl_outcomes_clear(&o);
    cli_ctx_free(ctx);
}

Test(cli_outcome, failures_coloured_on_a_terminal)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    struct ctl_outcomes o;
    struct test_capture c;
    char *err;

    mixed(&o);
    ctx->colour_err = true;
    test_capture_begin(&c, STDERR_FILENO);
    cr_assert_eq(ctl_outcomes_warn(ctx, &o, NULL), CTL_EXIT_NO_REPLY);
    err = test_capture_end(&c);
    cr_assert(strstr(err, "virtbus: hv1: db1: " CTL_SGR_RED "failed" CTL_SGR_RESET
                     ": error 0x10037"), "%s", err);
    cr_assert(strstr(err, "virtbus: hv3: " CTL_SGR_YELLOW "no reply in time" CTL_SGR_RESET
                     "\n"), "%s", err);
    cr_assert_null(strstr(err, "web1"), "no ok outcome among the warnings");
    free(err);
    ctl_outcomes_clear(&o);
    cli_ctx_free(ctx);
}

Test(cli_outcome, warnings_as_json_elements)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    qmf_value *errors = qmf_list();
    struct ctl_outcomes o;
    struct test_capture c;
    char *err;

    mixed(&o);
    test_capture_begin(&c, STDERR_FILENO);
    cr_assert_eq(ctl_outcomes_warn(ctx, &o, errors), CTL_EXIT_NO_REPLY);
    err = test_capture_end(&c);
    cr_assert_str_eq(err, "");
    free(err);
    cr_assert_eq(qmf_list_len(errors), 4);
    cli_assert_json(qmf_list_at(errors, 3), "{\"node\":\"hv4\",\"object\":null,\"status\":\"down\","
                           "\"error_code\":13,\"error_text\":\"down: never heard from\"}");
    qmf_free(errors);
    ctl_outcomes_clear(&o);
    cli_ctx_free(ctx);
}

Test(cli_outcome, json_report_is_one_document)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    qmf_value *extra = cli_json("{\"job\":\"j-1\"}"), *doc;
    struct ctl_outcomes o;
    struct printed p;

    ctx->json = true;
    mixed(&o);
    p = report(ctx, &shutdown_report, &o, extra);
    cr_assert_eq(p.rc, CTL_EXIT_NO_REPLY);
    cr_assert_str_eq(p.err, "");
    doc = cli_json(p.out);
    cr_assert_str_eq(qmf_map_get_string(doc, "command"), "shutdown");
    cr_assert_str_eq(qmf_map_get_string(doc, "class"), "Domain");
    cr_assert_str_eq(qmf_map_get_string(doc, "method"), "shutdown");
    cr_assert_str_eq(qmf_map_get_string(doc, "job"), "j-1");
    cr_assert_eq(qmf_list_len(qmf_map_get(doc, "results")), 6);
    /* Sorted as the text: the name found nowhere first. */
    cr_assert_str_eq(qmf_map_get_string(qmf_list_at(qmf_map_get(doc, "results"), 0),
                                        "object"), "ghost");
    cli_assert_json(qmf_map_get(doc, "summary"),
                    "{\"nodes\":{\"total\":4,\"ok\":1,\"failed\":1,\"no_reply\":1,"
                    "\"down\":1},\"objects\":{\"total\":4,\"ok\":2,\"failed\":2}}");
    qmf_free(doc);
    printed_free(&p);
    qmf_free(extra);
    ctl_outcomes_clear(&o);
    cli_ctx_free(ctx);
}

static const struct ctl_report dumpxml_report = {
    .command = "dumpxml", .verb = "dumpxml", .class_name = "Domain", .method = "getXMLDesc",
    .print = "description",
};

Test(cli_outcome, one_document_is_printed_as_is)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    struct ctl_outcomes o = { 0 };

    ctl_outcome_add(&o, "hv1", "web1", NULL, CTL_OK, NULL,
                    cli_json("{\"description\":\"<?xml version=\\\"1.0\\\"?>\\n<domain/>\"}"));
    assert_report(ctx, &dumpxml_report, &o, CTL_EXIT_OK,
                  "<?xml version=\"1.0\"?>\n<domain/>\n", "");
    ctl_outcomes_clear(&o);
    cli_ctx_free(ctx);
}

Test(cli_outcome, several_documents_are_one_xml_document)
{
    struct ctl_ctx *ctx = cli_ctx_new();
    struct ctl_outcomes o = { 0 };
    qmf_error err = error_of(QMF_ERR_UNKNOWN_OBJECT, "gone");

    ctl_outcome_add(&o, "hv1", "web1", NULL, CTL_OK, NULL,
                    cli_json("{\"description\":\"<?xml version=\\\"1.0\\\"?>\\n<domain>"
                             "<name>web1</name></domain>\\n\"}"));
    ctl_outcome_add(&o, "hv2", "a&b\"<'>", NULL, CTL_OK, NULL,
                    cli_json("{\"description\":\"<domain/>\"}"));
    ctl_outcome_add(&o, "hv3", "c", NULL, CTL_FAILED, &err, NULL);
    assert_report(ctx, &dumpxml_report, &o, CTL_EXIT_FAILED,
                  "<virtbus:documents xmlns:virtbus=\"" CTL_DOCUMENTS_NS "\">\n"
                  "<virtbus:document node=\"hv1\" name=\"web1\">\n"
                  "<domain><name>web1</name></domain>\n"
                  "</virtbus:document>\n"
                  "<virtbus:document node=\"hv2\" name=\"a&amp;b&quot;&lt;&apos;&gt;\">\n"
                  "<domain/>\n"
                  "</virtbus:document>\n"
                  "</virtbus:documents>\n",
                  "virtbus: hv3: c: failed: error 0x1 (unknown-object): gone\n"
                  "dumpxml: 3 nodes: 2 ok, 1 failed, 0 no reply, 0 down; "
                  "3 objects: 2 ok, 1 failed\n");
    ctl_outcomes_clear(&o);
    cli_ctx_free(ctx);
}

Test(cli_outcome, a_list_of_maps_is_a_table)
{
    static const struct ctl_report leases_report = {
        .command = "net-dhcp-leases", .verb = "net-dhcp-leases", .class_name = "Network",
        .method = "dhcpLeases", .print = "leases",
    };
    struct ctl_ctx *ctx = cli_ctx_new();
    struct ctl_outcomes o = { 0 };

    ctl_outcome_add(&o, "hv2", "default", NULL, CTL_OK, NULL,
                    cli_json("{\"leases\":[{\"mac\":\"52:54:00:00:00:02\",\"ipaddr\":"
                             "\"10.0.0.2\"}]}"));
    ctl_outcome_add(&o, "hv1", "default", NULL, CTL_OK, NULL,
                    cli_json("{\"leases\":[{\"mac\":\"52:54:00:00:00:01\",\"ipaddr\":"
                             "\"10.0.0.1\",\"hostname\":\"web1\"}]}"));
    /* Columns: NODE, the class, then every key any row has. */
    assert_report(ctx, &leases_report, &o, CTL_EXIT_OK,
                  "NODE  NETWORK  mac                ipaddr    hostname\n"
                  "hv1   default  52:54:00:00:00:01  10.0.0.1  web1\n"
                  "hv2   default  52:54:00:00:00:02  10.0.0.2\n",
                  "net-dhcp-leases: 2 nodes: 2 ok, 0 failed, 0 no reply, 0 down; "
                  "2 objects: 2 ok, 0 failed\n");
    ctl_outcomes_clear(&o);
    cli_ctx_free(ctx);
}
