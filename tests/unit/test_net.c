/* net: listen address parsing and the loopback test shared by every listener. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "collector/net.h"

static void
test_parse(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	char err[160];

	(void)state;
	assert_int_equal(net_parse_listen("127.0.0.1:8080", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8080);
	assert_true(net_is_loopback(&ss));

	assert_int_equal(net_parse_listen("[::1]:0", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_true(net_is_loopback(&ss));

	assert_int_equal(net_parse_listen("0.0.0.0:25", &ss, NULL, err, sizeof(err)), 0);
	assert_false(net_is_loopback(&ss));
	assert_int_equal(net_parse_listen("[2001:db8::1]:443", &ss, NULL, err, sizeof(err)), 0);
	assert_false(net_is_loopback(&ss));
	assert_int_equal(net_parse_listen("127.9.9.9:1", &ss, NULL, err, sizeof(err)), 0);
	assert_true(net_is_loopback(&ss));
}

static void
test_refused(void **state)
{
	static const char *const bad[] = {
		"", "8080", "localhost:80", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
		"127.0.0.1:-1", "127.0.0.1:8o", "::1:80", "[::1]80", "[::1]:", ":80",
		"127.0.0.1:123456", "[1.2.3.4]:80",
	};
	struct sockaddr_storage ss;
	char err[160];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(net_parse_listen(bad[i], &ss, NULL, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "is not IPv4:PORT or [IPv6]:PORT"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
