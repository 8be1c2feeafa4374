/* Helpers shared by the tests: fixture paths and the private broker's URL. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

/* Absolute path of tests/fixtures/<name>; static buffer per call site is not
 * used: the result is malloc'd and owned by the caller. */
char *test_fixture_path(const char *name);
/* "test://" URI of a fixture node XML, malloc'd. */
char *test_fixture_uri(const char *name);
/* The URL of the broker the ctest fixture started; fails the test if none. */
char *test_broker_url(void);
/* A name unique to this test process, for queues and nodes: prefix-<pid>-<n>. */
char *test_unique_name(const char *prefix);

#endif
