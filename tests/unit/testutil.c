/* testutil: helpers shared by the unit tests (see testutil.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

char *
tu_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	if (f == NULL)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	p[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return p;
}

char *
tu_fixture(size_t *len, const char *fmt, ...)
{
	char rel[512], path[1024];
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	assert_true(w > 0 && (size_t)w < sizeof(rel));
	w = snprintf(path, sizeof(path), "%s/%s", TLSRPT_TEST_DATA, rel);
	assert_true(w > 0 && (size_t)w < sizeof(path));
	return tu_slurp(path, len);
}

int
tu_db_make(char dir[64], char path[128], const char *tag)
{
	snprintf(dir, 64, "/tmp/%s.XXXXXX", tag);
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, 128, "%s/tlsrpt.db", dir);
	return 0;
}

void
tu_db_remove(const char *dir, const char *path)
{
	char p[160];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
	rmdir(dir);
}
