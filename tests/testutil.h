/* Helpers shared by the tests: fixture paths, the private broker's URL,
 * scratch directories. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Absolute path of tests/fixtures/<name>; static buffer per call site is not
 * used: the result is malloc'd and owned by the caller. */
char *test_fixture_path(const char *name);
/* "test://" URI of a fixture node XML, malloc'd. */
char *test_fixture_uri(const char *name);
/* The URL of the broker the ctest fixture started (AMQP 0-9-1, for raw
 * rabbitmq-c and whatever only speaks 0-9-1); fails the test if none. */
char *test_broker_url(void);
/* The transport a test of the bus runs on: "amqp10" when
 * VIRTBUS_TEST_TRANSPORT says so, else "amqp091". */
const char *test_transport(void);
/* The broker's URL in the scheme of that transport ("amqp10://..."). */
char *test_bus_url(void);
/* A URL of that transport for 127.0.0.1:port (guest), malloc'd. */
char *test_bus_url_port(int port);
/* A name unique to this test process, for queues and nodes: prefix-<pid>-<n>. */
char *test_unique_name(const char *prefix);
/* A fresh directory /tmp/<prefix>-XXXXXX, its path in dir (size bytes);
 * fails the test if it cannot be made.  test_tmpdir_remove removes it
 * and everything in it. */
void test_tmpdir_make(char *dir, size_t size, const char *prefix);
void test_tmpdir_remove(const char *dir);

/* What is written to a file descriptor (1 or 2) between test_capture_begin
 * and test_capture_end, which returns it NUL-terminated (the caller
 * frees).  stdio's buffers are flushed at both ends. */
struct test_capture {
    FILE *file;
    int fd, saved_fd;
};
void test_capture_begin(struct test_capture *c, int fd);
char *test_capture_end(struct test_capture *c);

/* Bytes written out by hand, as a test expects them on the wire or fed to
 * a hash; a write past the end fails the test. */
struct test_bytes {
    unsigned char b[4096];
    size_t n;
};
void test_bytes_put(struct test_bytes *b, const void *p, size_t n);
void test_bytes_put_u8(struct test_bytes *b, unsigned v);
/* v's low n bytes, most significant first. */
void test_bytes_put_be(struct test_bytes *b, uint64_t v, size_t n);

#endif
