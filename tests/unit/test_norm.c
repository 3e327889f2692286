/*
 * Unit tests for ingest/norm: domain names (case, trailing dot, punycode with the sample
 * strings of RFC 3492 section 7.1), IP canonicalisation (RFC 5952 forms) and RFC 3339
 * datetimes (epochs checked against values computed independently with date(1)).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/norm.h"

struct dom_case {
	const char *in;
	const char *out; /* NULL: must fail */
	int changed;
};

static void
check_domains(const struct dom_case *t, size_t n)
{
	char out[NORM_DOMAIN_MAX];
	size_t i;
	int changed, rc;

	for (i = 0; i < n; i++) {
		changed = -1;
		rc = norm_domain(t[i].in, strlen(t[i].in), out, &changed);
		if (t[i].out == NULL) {
			if (rc != -1)
				fail_msg("norm_domain(\"%s\") accepted as \"%s\"", t[i].in, out);
			assert_string_equal(out, "");
			continue;
		}
		if (rc != 0)
			fail_msg("norm_domain(\"%s\") failed", t[i].in);
		assert_string_equal(out, t[i].out);
		assert_int_equal(changed, t[i].changed);
	}
}

static void
test_domain_ascii(void **state)
{
	static const struct dom_case t[] = {
		{ "example.net", "example.net", 0 },
		{ "Example.NET", "example.net", 1 },
		{ "MX1.Example.NET.", "mx1.example.net", 1 },
		{ "example.net.", "example.net", 1 },
		{ "*.mail.example.org", "*.mail.example.org", 0 },
		{ "*.Mail.Example.Org.", "*.mail.example.org", 1 },
		{ "_smtp._tls.example.com", "_smtp._tls.example.com", 0 },
		{ "xn--gpher-jua.test", "xn--gpher-jua.test", 0 },
		{ "XN--GPHER-JUA.TEST", "xn--gpher-jua.test", 1 },
		{ "localhost", "localhost", 0 },
		{ "", NULL, 0 },
		{ ".", NULL, 0 },
		{ "a..b", NULL, 0 },
		{ ".example.net", NULL, 0 },
		{ "example.net..", NULL, 0 },
		{ "mx example.net", NULL, 0 },
		{ "mx\texample.net", NULL, 0 },
		{ "mx\x01.example.net", NULL, 0 },
		{ "mx\x7f.example.net", NULL, 0 },
		{ "bad<img>.example", NULL, 0 },
		{ "odd\"dom.example", NULL, 0 },
		{ "a/b.example", NULL, 0 },
		{ "user@example.net", NULL, 0 },
		{ "example.net:25", NULL, 0 },
		{ "m*x.example.net", NULL, 0 },
		{ "b\xc3\xbc<cher.example", NULL, 0 },
	};

	(void)state;
	check_domains(t, sizeof(t) / sizeof(t[0]));
}

/* The domain a contact-info or TLS-Report-Submitter names (DKIM alignment). */
static void
test_domain_of(void **state)
{
	static const struct { const char *in, *out; } t[] = {
		{ "smtp-tls-reporting@google.com", "google.com" },
		{ "mailto:tlsrpt@Victim.Example", "victim.example" },
		{ " MAILTO:tlsrpt@victim.example ", "victim.example" },
		{ "Victim Org <tlsrpt@victim.example>", "victim.example" },
		{ "<mailto:tlsrpt@victim.example>", "victim.example" },
		{ "https://tlsrpt.victim.example/report", "tlsrpt.victim.example" },
		{ "https://tlsrpt.victim.example:8443/x?y#z", "tlsrpt.victim.example" },
		{ "mail.victim.example", "mail.victim.example" },
		{ "victim.example.", "victim.example" },
		/* the ones a forger would try: each must name victim.example or nothing */
		{ "mailto:tlsrpt@victim.example?subject=://evil.example", "victim.example" },
		{ "mailto:tlsrpt@victim.example?cc=x@evil.example", "victim.example" },
		{ "https://evil.example:1@victim.example/", "victim.example" },
		{ "https://evil.example@victim.example/", "victim.example" },
		{ "mailto:x@evil.example?@victim.example", "evil.example" },
		{ "x@evil.example@victim.example", NULL },
		{ "x@victim.example?://evil.example", NULL },
		{ "Name <x@victim.example> trailing", NULL },
		{ "Name <x@victim.example", NULL },
		{ "https://[2001:db8::1]/", NULL },
		{ "Example Reporting Organisation", NULL },
		{ "", NULL },
		{ "mailto:", NULL },
	};
	char out[NORM_DOMAIN_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = norm_domain_of(t[i].in, out);

		if (t[i].out == NULL && rc == 0)
			fail_msg("norm_domain_of(\"%s\") gave \"%s\"", t[i].in, out);
		if (t[i].out != NULL && (rc != 0 || strcmp(out, t[i].out) != 0))
			fail_msg("norm_domain_of(\"%s\"): rc %d \"%s\", want \"%s\"", t[i].in, rc,
			    rc == 0 ? out : "", t[i].out);
	}
}

static void
test_domain_idn(void **state)
{
	static const struct dom_case t[] = {
		{ "bücher.example", "xn--bcher-kva.example", 1 },
		{ "mx.Bücher.Example.", "mx.xn--bcher-kva.example", 1 },
		{ "göpher.test", "xn--gpher-jua.test", 1 },
		{ "münchen.de", "xn--mnchen-3ya.de", 1 },
		/* RFC 3492 7.1 (B) Chinese (simplified) */
		{ "他们为什么不说中文", "xn--ihqwcrb4cv8a8dqg056pqjye", 1 },
		/* (A) Arabic (Egyptian) */
		{ "ليهمابتكلموشعربي؟", "xn--egbpdaj6bu4bxfgehfvwxn", 1 },
		/* (C) Czech, upper-case P lower-cased */
		{ "Pročprostěnemluvíčesky", "xn--proprostnemluvesky-uyb24dma41a", 1 },
		/* (J) mixed basic and non-basic code points */
		{ "Hello-Another-Way-それぞれの場所",
		  "xn--hello-another-way--fc4qua05auwb3674vfr0b", 1 },
		/* (L) */
		{ "3年B組金八先生", "xn--3b-ww4c5e180e575a65lsy2b", 1 },
		/* (R) Japanese, the longest sample */
		{ "そのスピードで", "xn--d9juau41awczczp", 1 },
		/* invalid UTF-8 in a label */
		{ "b\xfc" "cher.example", NULL, 0 },
		{ "\xc3", NULL, 0 },
		/* overlong encoding of '/' */
		{ "a\xc0\xaf.example", NULL, 0 },
	};

	(void)state;
	check_domains(t, sizeof(t) / sizeof(t[0]));
}

static void
test_domain_lengths(void **state)
{
	char in[600], out[NORM_DOMAIN_MAX];
	size_t i;
	int changed;

	(void)state;
	/* a 63-byte label is fine, 64 is not */
	memset(in, 'a', 63);
	memcpy(in + 63, ".example", 9);
	assert_int_equal(norm_domain(in, strlen(in), out, &changed), 0);
	assert_int_equal(strlen(out), 63 + 8);
	memset(in, 'a', 64);
	memcpy(in + 64, ".example", 9);
	assert_int_equal(norm_domain(in, strlen(in), out, &changed), -1);

	/* 253 bytes in all is fine (also with a trailing dot), 254 is not */
	for (i = 0; i < 253; i++)
		in[i] = i % 2 == 0 ? 'a' : '.';
	in[253] = '\0';
	assert_int_equal(norm_domain(in, 253, out, &changed), 0);
	assert_int_equal(strlen(out), 253);
	assert_int_equal(changed, 0);
	in[253] = '.';
	assert_int_equal(norm_domain(in, 254, out, &changed), 0);
	assert_int_equal(changed, 1);
	in[253] = 'b'; /* label "ab": 254 bytes */
	assert_int_equal(norm_domain(in, 254, out, &changed), -1);

	/* the A-label of a U-label must fit in 63 bytes: 3 copies of (B) give 54, 4 give 64 */
	in[0] = '\0';
	for (i = 0; i < 3; i++)
		strcat(in, "他们为什么不说中文");
	assert_int_equal(norm_domain(in, strlen(in), out, &changed), 0);
	assert_int_equal(strlen(out), 54);
	assert_string_equal(out, "xn--ihqaa0kbb9fcc8kdd56meae45aff02bgag9148jhah1207viai");
	strcat(in, "他们为什么不说中文");
	assert_int_equal(norm_domain(in, strlen(in), out, &changed), -1);
	/* 20 times the same character encodes short (deltas of 0 are one digit each) */
	in[0] = '\0';
	for (i = 0; i < 20; i++)
		strcat(in, "ü");
	assert_int_equal(norm_domain(in, strlen(in), out, &changed), 0);
	assert_int_equal(strlen(out), 4 + 22);

	/* changed may be NULL; the length is honoured (no NUL needed) */
	assert_int_equal(norm_domain("EXAMPLE.NETjunk", 11, out, NULL), 0);
	assert_string_equal(out, "example.net");
}

struct ip_case {
	const char *in;
	const char *out; /* NULL: not an IP */
	int changed;
};

static void
test_ip(void **state)
{
	static const struct ip_case t[] = {
		{ "192.0.2.1", "192.0.2.1", 0 },
		{ "2001:db8::1", "2001:db8::1", 0 },
		{ "2001:db8:abcd:0012::1", "2001:db8:abcd:12::1", 1 },
		{ "2001:DB8:0:0:0:0:0:0A", "2001:db8::a", 1 },
		{ "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1", 1 },
		{ "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", 1 },
		{ "::ffff:192.0.2.7", "::ffff:192.0.2.7", 0 },
		{ "::", "::", 0 },
		{ " 198.51.100.9 ", "198.51.100.9", 1 },
		{ "x.x.x.x", NULL, 0 },
		{ "", NULL, 0 },
		{ "192.0.2", NULL, 0 },
		{ "192.0.2.256", NULL, 0 },
		{ "mx.example.net", NULL, 0 },
		{ "[2001:db8::1]", NULL, 0 },
		{ "fe80::1%eth0", NULL, 0 },
		{ "2001:db8::1::2", NULL, 0 },
	};
	char out[46], longin[100];
	size_t i;
	int changed, rc;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		changed = -1;
		rc = norm_ip(t[i].in, strlen(t[i].in), out, &changed);
		if (t[i].out == NULL) {
			if (rc != -1)
				fail_msg("norm_ip(\"%s\") accepted as \"%s\"", t[i].in, out);
			continue;
		}
		if (rc != 0)
			fail_msg("norm_ip(\"%s\") failed", t[i].in);
		assert_string_equal(out, t[i].out);
		assert_int_equal(changed, t[i].changed);
	}
	memset(longin, '1', sizeof(longin));
	assert_int_equal(norm_ip(longin, sizeof(longin), out, NULL), -1);
	/* an embedded NUL is not an address */
	assert_int_equal(norm_ip("192.0.2.1\0", 10, out, NULL), -1);
	/* the length is honoured */
	assert_int_equal(norm_ip("192.0.2.1xyz", 9, out, NULL), 0);
	assert_string_equal(out, "192.0.2.1");
}

struct dt_case {
	const char *in;
	int ok;
	int64_t epoch;
	int no_zone;
	int lenient;
};

static void
test_datetime(void **state)
{
	/* epochs from `date -u -d ... +%s` */
	static const struct dt_case t[] = {
		{ "2016-04-01T00:00:00Z", 1, 1459468800, 0, 0 },
		{ "2016-04-01T23:59:59Z", 1, 1459555199, 0, 0 },
		{ "2024-02-23T00:00:00Z", 1, 1708646400, 0, 0 },
		{ "1970-01-01T00:00:00Z", 1, 0, 0, 0 },
		{ "1969-12-31T23:59:59Z", 1, -1, 0, 0 },
		{ "2024-03-26T00:00:00", 1, 1711411200, 1, 0 },
		{ "2024-03-26t00:00:00z", 1, 1711411200, 0, 0 },
		{ "2024-03-26 00:00:00Z", 1, 1711411200, 0, 1 },
		{ " 2024-03-26T00:00:00Z\n", 1, 1711411200, 0, 1 },
		{ "2024-02-29T12:00:00+02:00", 1, 1709200800, 0, 0 },
		{ "2024-02-29T12:00:00-05:30", 1, 1709227800, 0, 0 },
		{ "2024-02-29T12:00:00+0200", 1, 1709200800, 0, 1 },
		{ "2025-04-01T00:00:00.123456Z", 1, 1743465600, 0, 0 },
		{ "2000-03-01T00:00:00Z", 1, 951868800, 0, 0 },
		{ "2100-03-01T00:00:00Z", 1, 4107542400, 0, 0 },
		{ "2016-12-31T23:59:60Z", 1, 1483228800, 0, 0 }, /* leap second */
		{ "0000-01-01T00:00:00Z", 1, -62167219200, 0, 0 },
		{ "9999-12-31T23:59:59Z", 1, 253402300799, 0, 0 },
		{ "2023-02-29T00:00:00Z", 0, 0, 0, 0 },          /* not a leap year */
		{ "2100-02-29T00:00:00Z", 0, 0, 0, 0 },          /* nor this */
		{ "2024-04-31T00:00:00Z", 0, 0, 0, 0 },
		{ "2024-13-01T00:00:00Z", 0, 0, 0, 0 },
		{ "2024-00-10T00:00:00Z", 0, 0, 0, 0 },
		{ "2024-01-00T00:00:00Z", 0, 0, 0, 0 },
		{ "2024-01-10T24:00:00Z", 0, 0, 0, 0 },
		{ "2024-01-10T23:60:00Z", 0, 0, 0, 0 },
		{ "2024-01-10T23:59:61Z", 0, 0, 0, 0 },
		{ "2024-01-10T00:00:00+24:00", 0, 0, 0, 0 },
		{ "2024-01-10T00:00:00+02:60", 0, 0, 0, 0 },
		{ "2024-01-10T00:00:00.Z", 0, 0, 0, 0 },
		{ "2024-01-10T00:00:00ZZ", 0, 0, 0, 0 },
		{ "2024-01-10T00:00:00 UTC", 0, 0, 0, 0 },
		{ "2024-01-10", 0, 0, 0, 0 },
		{ "2024-1-10T00:00:00Z", 0, 0, 0, 0 },
		{ "April fools", 0, 0, 0, 0 },
		{ "", 0, 0, 0, 0 },
		{ "1712000000", 0, 0, 0, 0 },
	};
	int64_t epoch;
	int nz, len, rc;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		epoch = 12345;
		nz = len = -1;
		rc = norm_datetime(t[i].in, strlen(t[i].in), &epoch, &nz, &len);
		if (!t[i].ok) {
			if (rc != -1)
				fail_msg("norm_datetime(\"%s\") accepted as %lld", t[i].in,
				    (long long)epoch);
			assert_int_equal(epoch, 12345); /* untouched on failure */
			continue;
		}
		if (rc != 0)
			fail_msg("norm_datetime(\"%s\") failed", t[i].in);
		if (epoch != t[i].epoch)
			fail_msg("norm_datetime(\"%s\") = %lld, want %lld", t[i].in,
			    (long long)epoch, (long long)t[i].epoch);
		assert_int_equal(nz, t[i].no_zone);
		assert_int_equal(len, t[i].lenient);
	}
	/* outputs may be NULL; the length is honoured */
	assert_int_equal(norm_datetime("2016-04-01T00:00:00Zjunk", 20, &epoch, NULL, NULL), 0);
	assert_int_equal(epoch, 1459468800);
}

/* Every day from 1899 to 2101 against a day counter: no gaps, no doubles. */
static void
test_datetime_calendar(void **state)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	char s[32];
	int64_t epoch, want;
	int y, m, d, dim;

	(void)state;
	want = -2240524800; /* 1899-01-01 */
	for (y = 1899; y <= 2101; y++) {
		for (m = 1; m <= 12; m++) {
			dim = mdays[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) ||
			    y % 400 == 0));
			for (d = 1; d <= dim; d++) {
				snprintf(s, sizeof(s), "%04d-%02d-%02dT00:00:00Z", y, m, d);
				assert_int_equal(norm_datetime(s, strlen(s), &epoch, NULL,
				    NULL), 0);
				if (epoch != want)
					fail_msg("%s = %lld, want %lld", s, (long long)epoch,
					    (long long)want);
				want += 86400;
			}
			snprintf(s, sizeof(s), "%04d-%02d-%02dT00:00:00Z", y, m, dim + 1);
			assert_int_equal(norm_datetime(s, strlen(s), &epoch, NULL, NULL), -1);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_domain_ascii),
		cmocka_unit_test(test_domain_of),
		cmocka_unit_test(test_domain_idn),
		cmocka_unit_test(test_domain_lengths),
		cmocka_unit_test(test_ip),
		cmocka_unit_test(test_datetime),
		cmocka_unit_test(test_datetime_calendar),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
