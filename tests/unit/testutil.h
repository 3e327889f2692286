/*
 * testutil: small helpers shared by the cmocka unit tests (tests/CMakeLists.txt links
 * tests/unit/testutil.c into every tests/unit/test_*.c executable).
 */
#ifndef TLSRPT_TESTUTIL_H
#define TLSRPT_TESTUTIL_H

#include <stddef.h>

/*
 * The whole file at TLSRPT_TEST_DATA/<printf(fmt, ...)> in a new NUL-terminated buffer
 * (caller frees), its length in *len. A missing or unreadable file fails the running test.
 */
char *tu_fixture(size_t *len, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The same for any path. */
char *tu_slurp(const char *path, size_t *len);

/*
 * A new temporary folder /tmp/<tag>.XXXXXX in dir and the database path <dir>/tlsrpt.db in
 * path, for a test's store. 0, or -1 when the folder cannot be made.
 */
int tu_db_make(char dir[64], char path[128], const char *tag);

/* Removes what tu_db_make() made: the database with its -wal and -shm files, the folder. */
void tu_db_remove(const char *dir, const char *path);

#endif
