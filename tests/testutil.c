/* Helpers shared by the tests: fixture paths, the private broker's URL, and
 * under ThreadSanitizer the rand_r that lets criterion start (see below). */
#include "tests/testutil.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "core/value.h"

char *
test_fixture_path(const char *name)
{
    const char *dir = getenv("VIRTBUS_FIXTURES");

    cr_assert(dir != NULL, "VIRTBUS_FIXTURES is not set: run the tests through ctest");
    return qmf_xasprintf("%s/%s", dir, name);
}

char *
test_fixture_uri(const char *name)
{
    char *path = test_fixture_path(name);
    char *uri = qmf_xasprintf("test://%s", path);

    free(path);
    return uri;
}

char *
test_broker_url(void)
{
    const char *dir = getenv("VIRTBUS_TEST_BROKER_DIR");
    char *path, line[256];
    FILE *f;
    int port;

    cr_assert(dir != NULL, "VIRTBUS_TEST_BROKER_DIR is not set: run the tests through ctest");
    path = qmf_xasprintf("%s/port", dir);
    f = fopen(path, "r");
    cr_assert(f != NULL, "no test broker in %s: the broker/start fixture did not run", dir);
    cr_assert(fgets(line, sizeof(line), f) != NULL);
    fclose(f);
    free(path);
    port = atoi(line);
    cr_assert(port > 0);
    return qmf_xasprintf("amqp://guest:guest@127.0.0.1:%d/", port);
}

const char *
test_transport(void)
{
    const char *t = getenv("VIRTBUS_TEST_TRANSPORT");

    return t != NULL && strcmp(t, "amqp10") == 0 ? "amqp10" : "amqp091";
}

char *
test_bus_url_port(int port)
{
    bool v10 = strcmp(test_transport(), "amqp10") == 0;

    return qmf_xasprintf("%s://guest:guest@127.0.0.1:%d/", v10 ? "amqp10" : "amqp", port);
}

char *
test_bus_url(void)
{
    char *url = test_broker_url(), *out;

    out = test_bus_url_port(atoi(strrchr(url, ':') + 1));
    free(url);
    return out;
}

char *
test_unique_name(const char *prefix)
{
    static unsigned counter;    /* test-process local; tests are not a library */

    return qmf_xasprintf("%s-%ld-%u", prefix, (long)getpid(), counter++);
}

#if defined(__SANITIZE_THREAD__)
/*
 * Under ThreadSanitizer only: criterion 2.4 (its BoxFort sandbox) maps its
 * "inheritable arena" with MAP_FIXED at 0x200000000000 + (rand_r() &
 * 0x3fffff) * 16 MiB, and ThreadSanitizer refuses fixed mappings outside
 * its application ranges, so nearly every test binary aborts at start
 * ("Could not initialize inheritable arena", Snaipe/Criterion#274).  The
 * executable's rand_r takes precedence over libc's for libcriterion's
 * call; this one keeps that draw within 0x560000000000..0x568000000000,
 * inside ThreadSanitizer's application range, where only the test binary
 * itself may lie (BoxFort draws again if it hits something mapped).
 * Nothing of virtbus calls rand_r.
 */
int
rand_r(unsigned int *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (int)(0x360000u + (*seed >> 8) % 0x7f00u);
}
#endif

void
test_tmpdir_make(char *dir, size_t size, const char *prefix)
{
    cr_assert_lt((size_t)snprintf(dir, size, "/tmp/%s-XXXXXX", prefix), size);
    cr_assert_not_null(mkdtemp(dir), "mkdtemp %s", dir);
}

void
test_tmpdir_remove(const char *dir)
{
    char *cmd = qmf_xasprintf("rm -rf '%s'", dir);

    cr_assert_eq(system(cmd), 0, "%s", cmd);
    free(cmd);
}

void
test_capture_begin(struct test_capture *c, int fd)
{
    fflush(stdout);
    fflush(stderr);
    c->fd = fd;
    c->file = tmpfile();
    cr_assert_not_null(c->file);
    c->saved_fd = dup(fd);
    cr_assert(c->saved_fd >= 0);
    cr_assert(dup2(fileno(c->file), fd) >= 0);
}

char *
test_capture_end(struct test_capture *c)
{
    long len;
    char *text;

    fflush(stdout);
    fflush(stderr);
    cr_assert(dup2(c->saved_fd, c->fd) >= 0);
    close(c->saved_fd);
    len = (long)lseek(fileno(c->file), 0, SEEK_END);
    cr_assert(len >= 0);
    text = qmf_xmalloc((size_t)len + 1);
    cr_assert_eq(pread(fileno(c->file), text, (size_t)len, 0), len);
    text[len] = '\0';
    fclose(c->file);
    return text;
}

void
test_bytes_put(struct test_bytes *b, const void *p, size_t n)
{
    cr_assert_leq(b->n + n, sizeof(b->b));
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

void
test_bytes_put_u8(struct test_bytes *b, unsigned v)
{
    unsigned char c = (unsigned char)v;

    test_bytes_put(b, &c, 1);
}

void
test_bytes_put_be(struct test_bytes *b, uint64_t v, size_t n)
{
    while (n-- > 0)
        test_bytes_put_u8(b, (unsigned)(v >> (8 * n)) & 0xff);
}
