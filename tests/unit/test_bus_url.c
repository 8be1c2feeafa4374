/* Tests of bus_url_redact: broker URLs as logs, errors and output show
 * them, never with their password. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "bus/bus.h"

/* The redacted form of url is want, and the password is nowhere in it. */
static void
assert_redacted(const char *url, const char *want, const char *password)
{
    char *got = bus_url_redact(url);

    cr_assert_str_eq(got, want, "%s", url);
    if (password != NULL)
        cr_assert_null(strstr(got, password), "'%s' shows the password in '%s'", url, got);
    free(got);
}

Test(bus_url, drops_the_password)
{
    assert_redacted("amqp://guest:guest@127.0.0.1:5672/", "amqp://guest@127.0.0.1:5672/", NULL);
    assert_redacted("amqp://ops:s3cret@broker:5672/prod", "amqp://ops@broker:5672/prod", "s3cret");
    assert_redacted("amqps://ops:s3cret@broker.example.com:5671/prod",
                    "amqps://ops@broker.example.com:5671/prod", "s3cret");
    assert_redacted("amqp://u:@h/", "amqp://u@h/", NULL);
    assert_redacted("amqp://u:s3cret@h/?heartbeat=10", "amqp://u@h/?heartbeat=10", "s3cret");
}

Test(bus_url, keeps_urls_without_a_password)
{
    assert_redacted("amqp://ops@broker:5672/prod", "amqp://ops@broker:5672/prod", NULL);
    assert_redacted("amqp://broker/", "amqp://broker/", NULL);
    assert_redacted("amqp://broker:5672/v@host", "amqp://broker:5672/v@host", NULL);
    assert_redacted("amqp://u@broker/v@host", "amqp://u@broker/v@host", NULL);
    assert_redacted("", "", NULL);
    cr_assert_null(bus_url_redact(NULL));
}

Test(bus_url, ipv6_hosts)
{
    assert_redacted("amqp://u:s3cret@[::1]:5672/vh", "amqp://u@[::1]:5672/vh", "s3cret");
    assert_redacted("amqp://[::1]:5672/", "amqp://[::1]:5672/", NULL);
    assert_redacted("amqp://[fe80::1%25eth0]:5672/v@h", "amqp://[fe80::1%25eth0]:5672/v@h", NULL);
}

/* What the URL may encode is hidden with the rest of the password. */
Test(bus_url, percent_encoded_passwords)
{
    assert_redacted("amqp://vb:Pa55%3Aw%40rd%2Fx@127.0.0.1:5672/%2F",
                    "amqp://vb@127.0.0.1:5672/%2F", "Pa55");
    assert_redacted("amqp://us%3Aer:s3cret@h/", "amqp://us%3Aer@h/", "s3cret");
}

/* Passwords written without the encoding they need: none of it shows. */
Test(bus_url, raw_delimiters_in_passwords)
{
    assert_redacted("amqp://u:p@ss3cret@h:5672/", "amqp://u@h:5672/", "ss3cret");
    assert_redacted("amqp://u:pa/ss3cret@h:5672/", "amqp://u@h:5672/", "ss3cret");
    assert_redacted("amqp://u:pa?s3cret@h/", "amqp://u@h/", "s3cret");
    assert_redacted("amqp://u:pa#s3cret@h/", "amqp://u@h/", "s3cret");
}

/* An alias mistaken for a URL ("user:pass@host", no scheme). */
Test(bus_url, text_without_a_scheme)
{
    assert_redacted("guest:s3cret@broker:5672", "guest@broker:5672", "s3cret");
    assert_redacted("prod", "prod", NULL);
}

/* AMQP 1.0 URLs: redacted alike, read by the amqp10 transport. */
Test(bus_url, amqp10_urls)
{
    qmf_error err;

    assert_redacted("amqp10://ops:s3cret@broker:5672/prod", "amqp10://ops@broker:5672/prod",
                    "s3cret");
    assert_redacted("amqps10://ops:s3cret@broker.example.com/", "amqps10://ops@broker.example.com/",
                    "s3cret");
    cr_assert_eq(bus_driver_for_url("amqp10://h/"), &bus_amqp10_driver);
    cr_assert_eq(bus_driver_for_url("amqps10://h/"), &bus_amqp10_driver);
    cr_assert_eq(bus_url_check("amqp10://ops:s3cret@broker:5672/prod", &err), 0, "%s", err.text);
    cr_assert_eq(bus_url_check("amqps10://broker.example.com", &err), 0, "%s", err.text);
    cr_assert_eq(bus_url_check("amqp10://u:s3cret@[::1]:5672/", &err), 0, "%s", err.text);
}

Test(bus_url, bad_amqp10_urls_are_refused_without_their_password)
{
    static const char *const bad[] = {
        "amqp10://u:s3cret@host:port/",
        "amqp10://u:s3cret@host:99999999999/",
        "amqps10://u:s3cret@[broken/",
    };
    qmf_error err;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_neq(bus_url_check(bad[i], &err), 0, "%s", bad[i]);
        cr_assert_eq(err.code, QMF_ERR_INVALID_ARGS);
        cr_assert(strstr(err.text, "amqp[s]10://") != NULL, "%s", err.text);
        cr_assert_null(strstr(err.text, "s3cret"), "%s shows the password: %s", bad[i],
                       err.text);
    }
    /* A scheme nobody serves names the ones that are. */
    cr_assert_neq(bus_url_check("amqp1://u:s3cret@h/", &err), 0);
    cr_assert(strstr(err.text, "amqp10://") != NULL, "%s", err.text);
    cr_assert_null(strstr(err.text, "s3cret"), "%s", err.text);
}

/* A cluster's list: each URL loses its password; the list is checked URL
 * by URL, and must stay on one transport. */
Test(bus_url, lists)
{
    qmf_error err;
    char **v, *got;
    size_t n;

    got = bus_url_redact("amqp://u:s3cret@a:1/  amqp://u:s3cret@b:2/\tamqp://c/");
    cr_assert_str_eq(got, "amqp://u@a:1/ amqp://u@b:2/ amqp://c/");
    free(got);
    v = bus_url_split("  amqp://a/ amqp://b/ ", &n);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(v[0], "amqp://a/");
    cr_assert_str_eq(v[1], "amqp://b/");
    bus_url_list_free(v, n);
    cr_assert_eq(bus_url_check("amqp://a/ amqps://b/", &err), 0, "%s", err.text);
    cr_assert_neq(bus_url_check("amqp://u:s3cret@a/ amqp10://u:s3cret@b/", &err), 0);
    cr_assert_null(strstr(err.text, "s3cret"));
    cr_assert_neq(bus_url_check("amqp://a/ bogus://u:s3cret@b/", &err), 0);
    cr_assert_null(strstr(err.text, "s3cret"), "%s", err.text);
    cr_assert_neq(bus_url_check(" ", &err), 0);
}

/* The user part of the AMQP 1.0 stand-ins' names (bus.h): queue-name safe,
 * and never the same for two users, so that broker-setup can grant each
 * account its own. */
Test(bus_url, stand_in_names_are_the_users_own)
{
    static const struct { const char *user, *want; } cases[] = {
        { "lp-a1", "lp-a1" },
        { "node_1.rack", "node_1.rack" },
        { "John Doe", "John%20Doe" },
        { "a/b", "a%2Fb" },
        { "50%", "50%25" },          /* the escape itself is escaped */
        { "a%2Fb", "a%252Fb" },      /* so it never meets "a/b"'s */
        { "caf\xc3\xa9", "caf%C3%A9" },
        { "", "" },
    };
    char long_user[BUS_TEMP_QUEUE_USER_MAX + 2];
    char *got;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        got = bus_temp_queue_user(cases[i].user);
        cr_assert_str_eq(got, cases[i].want, "%s", cases[i].user);
        free(got);
    }
    memset(long_user, 'u', BUS_TEMP_QUEUE_USER_MAX);
    long_user[BUS_TEMP_QUEUE_USER_MAX] = '\0';
    got = bus_temp_queue_user(long_user);
    cr_assert_not_null(got, "a name of the longest length");
    free(got);
    long_user[BUS_TEMP_QUEUE_USER_MAX - 1] = ' ';   /* 3 bytes escaped: too long */
    cr_assert_null(bus_temp_queue_user(long_user));
    long_user[BUS_TEMP_QUEUE_USER_MAX - 1] = 'u';
    long_user[BUS_TEMP_QUEUE_USER_MAX] = 'u';
    long_user[BUS_TEMP_QUEUE_USER_MAX + 1] = '\0';
    cr_assert_null(bus_temp_queue_user(long_user));
}
