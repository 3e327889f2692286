/* cfg: defaults, file parsing with file:line errors, command-line precedence, lists, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "collector/cfg.h"

static char *
write_tmp(const char *text)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/tlsrpt-cfg-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void
test_defaults(void **state)
{
	struct config c;
	char err[256];

	(void)state;
	assert_int_equal(cfg_init(&c), 0);
	assert_string_equal(c.db_path, "var/tlsrptd.db");
	assert_string_equal(c.http_listen, "127.0.0.1:8080");
	assert_int_equal(c.ingest_paths.n, 1);
	assert_string_equal(c.ingest_paths.v[0], "/tlsrpt");
	assert_int_equal(c.allowed_domains.n, 0);
	assert_int_equal(c.max_body_size, 10 * 1024 * 1024);
	assert_int_equal(c.http_timeout, 30);
	assert_int_equal(cfg_finish(&c, err, sizeof(err)), 0);
	cfg_free(&c);
}

static void
test_file_and_lists(void **state)
{
	struct config c;
	char err[256];
	char *p = write_tmp("# comment\n\n  db_path /srv/t.db   # trailing\nallowed_domains Example.COM. a.example\n"
	    "allowed_domains b.example\nmax_body_size 2M\ningest_paths /x /y\n");

	(void)state;
	assert_int_equal(cfg_init(&c), 0);
	assert_int_equal(cfg_load_file(&c, p, err, sizeof(err)), 0);
	assert_int_equal(cfg_finish(&c, err, sizeof(err)), 0);
	assert_string_equal(c.db_path, "/srv/t.db");
	assert_int_equal(c.allowed_domains.n, 3);
	assert_string_equal(c.allowed_domains.v[0], "example.com"); /* normalised */
	assert_string_equal(c.allowed_domains.v[2], "b.example");
	assert_int_equal(c.max_body_size, 2 * 1024 * 1024);
	assert_int_equal(c.ingest_paths.n, 2); /* the file replaced the default */
	assert_string_equal(c.ingest_paths.v[1], "/y");
	cfg_free(&c);
	unlink(p);
}

static void
test_cli_overrides_file(void **state)
{
	struct config c;
	char err[256];
	char *p = write_tmp("db_path /from/file.db\nallowed_domains file.example\nhttp_threads 3\n");

	(void)state;
	assert_int_equal(cfg_init(&c), 0);
	assert_int_equal(cfg_set(&c, "db-path", "/from/cli.db", 1, err, sizeof(err)), 0);
	assert_int_equal(cfg_set(&c, "allowed_domains", "cli.example", 1, err, sizeof(err)), 0);
	assert_int_equal(cfg_load_file(&c, p, err, sizeof(err)), 0);
	assert_string_equal(c.db_path, "/from/cli.db");
	assert_int_equal(c.allowed_domains.n, 1);
	assert_string_equal(c.allowed_domains.v[0], "cli.example");
	assert_int_equal(c.http_threads, 3);
	cfg_free(&c);
	unlink(p);
}

static void
test_errors_name_file_and_line(void **state)
{
	struct config c;
	char err[256], want[128];
	char *p = write_tmp("db_path /x.db\nhttp_timeout 0\n");

	(void)state;
	assert_int_equal(cfg_init(&c), 0);
	assert_int_equal(cfg_load_file(&c, p, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: http_timeout", p);
	assert_non_null(strstr(err, want));
	cfg_free(&c);
	unlink(p);

	p = write_tmp("http_listen 1.2.3.4:5\nbogus_key 1\n");
	assert_int_equal(cfg_init(&c), 0);
	assert_int_equal(cfg_load_file(&c, p, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: unknown key 'bogus_key'", p);
	assert_string_equal(err, want);
	cfg_free(&c);
	unlink(p);

	assert_int_equal(cfg_init(&c), 0);
	assert_int_equal(cfg_set(&c, "max_body_size", "12Q", 1, err, sizeof(err)), -1);
	assert_int_equal(cfg_set(&c, "max_body_size", "99999999999999999999", 1, err, sizeof(err)), -1);
	assert_int_equal(cfg_set(&c, "allowed_domains", "bad domain..x", 1, err, sizeof(err)), 0);
	assert_int_equal(cfg_finish(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "allowed_domains"));
	cfg_free(&c);
}

static void
test_print_roundtrip(void **state)
{
	struct config c, d;
	char err[256];
	char path[] = "/tmp/tlsrpt-cfgp-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	(void)state;
	assert_int_equal(cfg_init(&c), 0);
	assert_int_equal(cfg_set(&c, "allowed_domains", "a.example b.example", 1, err, sizeof(err)), 0);
	assert_int_equal(cfg_set(&c, "retry_after", "120", 1, err, sizeof(err)), 0);
	cfg_print(&c, f);
	fclose(f);
	cfg_free(&c);
	/* What --check prints is itself a valid config file with the same values. */
	assert_int_equal(cfg_init(&d), 0);
	assert_int_equal(cfg_load_file(&d, path, err, sizeof(err)), 0);
	assert_int_equal(d.retry_after, 120);
	assert_int_equal(d.allowed_domains.n, 2);
	assert_string_equal(d.allowed_domains.v[1], "b.example");
	cfg_free(&d);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_file_and_lists),
		cmocka_unit_test(test_cli_overrides_file),
		cmocka_unit_test(test_errors_name_file_and_line),
		cmocka_unit_test(test_print_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
