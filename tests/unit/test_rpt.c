/*
 * Unit tests for ingest/rpt. Fixtures in tests/data/reports reproduce, one or a few per
 * file, the quirks of real reporters listed in docs/tlsrpt.md (Google compact, Microsoft
 * sts+tlsa with TLSA JSON packed in a string and no time zone, Mail.ru sorted keys and
 * mismatched sums, Stalwart null contact-info and next-day end, sys4 no-policy-found with
 * no domain, the RFC example's string mx-host, IDN and case, non-RFC keys, ...) plus the
 * negatives. Small reports built in memory cover the edges and the limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "collector/buf.h"
#include "ingest/rpt.h"
#include "testutil.h"

#define DAY 86400

/* Header of the in-memory reports; the caller supplies the policies[] entries. */
#define HEAD "{\"organization-name\":\"Inline Tester\",\"date-range\":{\"start-datetime\":" \
	"\"2025-05-05T00:00:00Z\",\"end-datetime\":\"2025-05-05T23:59:59Z\"},\"contact-info\":" \
	"\"t@inline.example\",\"report-id\":\"inline-1\",\"policies\":["
#define TAIL "]}"
#define T_20250505 1746403200 /* 2025-05-05T00:00:00Z */

static void
dump_lint(const struct rpt *r)
{
	size_t i;

	for (i = 0; i < r->n_lint; i++)
		fprintf(stderr, "  lint %s %s: %s\n", r->lint[i].path, r->lint[i].code,
		    r->lint[i].message);
}

static const struct rpt_lint *
find_lint(const struct rpt *r, const char *path, const char *code)
{
	size_t i;

	for (i = 0; i < r->n_lint; i++)
		if (strcmp(r->lint[i].path, path) == 0 && strcmp(r->lint[i].code, code) == 0)
			return &r->lint[i];
	return NULL;
}

static size_t
count_code(const struct rpt *r, const char *code)
{
	size_t i, n = 0;

	for (i = 0; i < r->n_lint; i++)
		if (strcmp(r->lint[i].code, code) == 0)
			n++;
	return n;
}

#define assert_lint(r, path, code) do {                                         \
	if (find_lint((r), (path), (code)) == NULL) {                           \
		dump_lint(r);                                                   \
		fail_msg("no lint \"%s\" at \"%s\"", (code), (path));           \
	}                                                                       \
} while (0)

static struct rpt *
parse_ok(const char *json, size_t len)
{
	struct rpt_error e;
	struct rpt *r = NULL;

	if (rpt_parse(json, len, &r, &e) != 0)
		fail_msg("rejected: %s at \"%s\" (%d:%d): %s", e.code, e.path, e.line, e.column,
		    e.reason);
	assert_non_null(r);
	return r;
}

static struct rpt *
load_ok(const char *name)
{
	struct rpt *r;
	size_t n;
	char *p = tu_fixture(&n, "reports/%s", name);

	r = parse_ok(p, n);
	free(p);
	return r;
}

/* Parses HEAD + policies + TAIL. */
static struct rpt *
inline_ok(const char *policies)
{
	struct rpt *r;
	struct buf b;

	buf_init(&b, 1 << 20);
	buf_printf(&b, "%s%s%s", HEAD, policies, TAIL);
	assert_int_equal(b.err, 0);
	r = parse_ok(b.data, b.len);
	buf_free(&b);
	return r;
}

/* Expects a rejection of json with code and path. */
static void
expect_reject(const char *json, size_t len, const char *code, const char *path,
    struct rpt_error *out)
{
	struct rpt_error e;
	struct rpt *r = (struct rpt *)&e; /* must be reset to NULL */

	if (rpt_parse(json, len, &r, &e) == 0) {
		dump_lint(r);
		rpt_free(r);
		fail_msg("accepted, expected %s", code);
	}
	assert_null(r);
	if (strcmp(e.code, code) != 0 || strcmp(e.path, path) != 0)
		fail_msg("rejected as %s at \"%s\" (%s), expected %s at \"%s\"", e.code, e.path,
		    e.reason, code, path);
	assert_true(e.reason[0] != '\0');
	if (out != NULL)
		*out = e;
}

/* A string literal and its length. */
#define LIT(s) (s), (sizeof(s) - 1)

static void
expect_inline_reject(const char *policies, const char *code, const char *path)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	buf_printf(&b, "%s%s%s", HEAD, policies, TAIL);
	expect_reject(b.data, b.len, code, path, NULL);
	buf_free(&b);
}

/* ---- fixtures reproducing real reporters ---- */

static void
test_google_compact(void **state)
{
	struct rpt *r = load_ok("google_style_compact.json");
	const struct rpt_policy *p;

	(void)state;
	assert_string_equal(r->organization_name, "Bigmail Services");
	assert_string_equal(r->contact_info, "tlsrpt@bigmail.example");
	assert_string_equal(r->report_id, "2025-03-10T00:00:00Z_example.net");
	assert_int_equal(r->start, 1741564800);
	assert_int_equal(r->end, 1741564800 + DAY - 1);
	assert_string_equal(r->start_raw, "2025-03-10T00:00:00Z");
	assert_string_equal(r->end_raw, "2025-03-10T23:59:59Z");
	assert_string_equal(r->reporter_key, "bigmail services\ntlsrpt@bigmail.example");
	assert_int_equal(r->n_policies, 1);
	p = &r->policies[0];
	assert_int_equal(p->type, RPT_POLICY_STS);
	assert_string_equal(rpt_policy_type_name(p), "sts");
	assert_string_equal(p->domain, "example.net");
	assert_int_equal(p->n_strings, 5);
	assert_string_equal(p->strings[2], "mx: mx1.example.net");
	assert_int_equal(p->n_mx_hosts, 2);
	assert_string_equal(p->mx_hosts[0], "mx1.example.net");
	assert_string_equal(p->mx_hosts[1], "mx2.example.net");
	assert_string_equal(p->sts_version, "STSv1");
	assert_string_equal(p->sts_mode, "testing");
	assert_int_equal(p->sts_max_age, 604800);
	assert_int_equal(p->n_sts_mx, 2);
	assert_string_equal(p->sts_mx[1], "mx2.example.net");
	assert_int_equal(p->success, 1412);
	assert_int_equal(p->failure, 0);
	assert_int_equal(p->n_failures, 0); /* no failure-details key at all */
	assert_int_equal(p->counted, 0);
	if (r->n_lint != 0) {
		dump_lint(r);
		fail_msg("a clean report got lint");
	}
	rpt_free(r);
}

static void
test_microsoft_sts_tlsa(void **state)
{
	struct rpt *r = load_ok("microsoft_style_sts_tlsa.json");
	const struct rpt_policy *p;
	const struct rpt_failure *f;

	(void)state;
	assert_int_equal(r->start, 1737331200); /* 2025-01-20T00:00:00, taken as UTC */
	assert_int_equal(r->end, 1737331200 + DAY - 1);
	assert_string_equal(r->start_raw, "2025-01-20T00:00:00");
	assert_lint(r, "date-range.start-datetime", "no-timezone");
	assert_lint(r, "date-range.end-datetime", "no-timezone");
	assert_string_equal(r->report_id, "133820000000000042+example.org");
	assert_int_equal(r->n_policies, 2);

	p = &r->policies[0];
	assert_int_equal(p->type, RPT_POLICY_STS);
	assert_string_equal(p->domain, "example.org");
	assert_int_equal(p->n_mx_hosts, 0);
	assert_lint(r, "policies[0].policy.mx-host", "missing-field");
	assert_string_equal(p->sts_mode, "enforce");
	assert_int_equal(p->sts_max_age, 1209600);
	assert_int_equal(p->n_sts_mx, 1);
	assert_string_equal(p->sts_mx[0], "*.mail.example.org");
	assert_int_equal(p->success, 37);
	assert_int_equal(p->failure, 2);
	assert_int_equal(p->n_failures, 1);
	f = &p->failures[0];
	assert_string_equal(f->result_type, "certificate-expired");
	assert_int_equal(f->failed_session_count, 2);
	assert_null(f->sending_mta_ip);
	assert_null(f->sending_mta_ip_raw);
	assert_null(f->receiving_ip);
	assert_null(f->receiving_mx_hostname);
	assert_null(f->receiving_mx_helo);
	assert_null(f->additional_information);
	assert_null(f->failure_reason_code);

	p = &r->policies[1];
	assert_int_equal(p->type, RPT_POLICY_TLSA);
	assert_string_equal(rpt_policy_type_name(p), "tlsa");
	assert_string_equal(p->domain, "example.org");
	assert_int_equal(p->n_strings, 2);
	assert_string_equal(p->strings[0], "3 1 1 0A1B2C3D4E5F60718293A4B5C6D7E8F9"
	    "0A1B2C3D4E5F60718293A4B5C6D7E8F9");
	assert_string_equal(p->strings[1], "2 1 1 F9E8D7C6B5A4938271605F4E3D2C1B0A"
	    "F9E8D7C6B5A4938271605F4E3D2C1B0A");
	assert_lint(r, "policies[1].policy.policy-string[0]", "tlsa-json-in-string");
	assert_null(p->sts_mode);
	assert_int_equal(p->sts_max_age, -1);
	assert_int_equal(p->success, 39);
	assert_int_equal(p->failure, 0);
	assert_int_equal(r->n_lint, 4);
	rpt_free(r);
}

static void
test_mailru_sorted_mismatch(void **state)
{
	struct rpt *r = load_ok("mailru_style_sorted_mismatch.json");
	const struct rpt_policy *p;

	(void)state;
	assert_string_equal(r->organization_name, "Post.example");
	assert_int_equal(r->start, 1730764800); /* 2024-11-05 */
	assert_int_equal(r->end - r->start, DAY); /* next-day 00:00:00Z: no lint */
	assert_null(find_lint(r, "date-range", "multi-day-range"));
	p = &r->policies[0];
	assert_int_equal(p->type, RPT_POLICY_STS);
	assert_string_equal(p->domain, "example.com");
	assert_int_equal(p->n_strings, 0);
	assert_null(p->sts_mode);
	assert_int_equal(p->success, 10);
	assert_int_equal(p->failure, 4);
	assert_int_equal(p->n_failures, 2);
	assert_string_equal(p->failures[0].result_type, "sts-policy-fetch-error");
	assert_string_equal(p->failures[0].failure_reason_code, "policy fetch: connection refused");
	assert_int_equal(p->failures[0].failed_session_count, 3);
	assert_string_equal(p->failures[1].failure_reason_code, "policy fetch: http status 503");
	assert_int_equal(p->failures[1].failed_session_count, 2);
	assert_lint(r, "policies[0].failure-details", "failure-sum-mismatch");
	assert_lint(r, "policies[0].policy.policy-string", "missing-field");
	assert_int_equal(r->n_lint, 3);
	rpt_free(r);
}

static void
test_stalwart_null_contact(void **state)
{
	struct rpt *r = load_ok("stalwart_style_null_contact.json");

	(void)state;
	assert_null(r->contact_info);
	assert_lint(r, "contact-info", "null-contact-info");
	assert_string_equal(r->reporter_key, "tiny-relay.example\n");
	assert_string_equal(r->report_id, "1761868800_9876543210123456789");
	assert_int_equal(r->start, 1761868800);
	assert_int_equal(r->end, 1761868800 + DAY);
	assert_int_equal(r->policies[0].n_failures, 0); /* "failure-details": [] */
	assert_int_equal(r->policies[0].success, 4);
	assert_int_equal(r->n_lint, 1);
	rpt_free(r);
}

static void
test_sys4_no_policy_found(void **state)
{
	struct rpt *r = load_ok("sys4_style_no_policy_found.json");
	const struct rpt_policy *p = &r->policies[0];

	(void)state;
	assert_int_equal(p->type, RPT_POLICY_NONE_FOUND);
	assert_string_equal(rpt_policy_type_name(p), "no-policy-found");
	assert_null(p->domain);
	assert_lint(r, "policies[0].policy.policy-domain", "missing-field");
	assert_int_equal(p->n_strings, 0);
	assert_int_equal(p->success, 17);
	assert_int_equal(p->failure, 0);
	/* the contact keeps its case; the reporter key is lower-case */
	assert_string_equal(r->contact_info, "Postmaster@Relay-Operators.example");
	assert_string_equal(r->reporter_key,
	    "relay operators e.v.\npostmaster@relay-operators.example");
	assert_string_equal(r->report_id, "2025-09-20T00:00:00Z_idx1_example.com");
	assert_int_equal(r->n_lint, 1);
	rpt_free(r);
}

static void
test_rfc_string_mxhost(void **state)
{
	struct rpt *r = load_ok("rfc_style_string_mxhost.json");
	const struct rpt_policy *p = &r->policies[0];
	const struct rpt_failure *f;

	(void)state;
	assert_int_equal(p->n_mx_hosts, 1);
	assert_string_equal(p->mx_hosts[0], "*.mx.receiver-r.example");
	assert_lint(r, "policies[0].policy.mx-host", "mx-host-string");
	assert_int_equal(p->success, 880);
	assert_int_equal(p->failure, 41);
	assert_int_equal(p->n_failures, 3);

	f = &p->failures[0];
	assert_string_equal(f->result_type, "certificate-not-trusted");
	assert_string_equal(f->sending_mta_ip, "2001:db8::a");
	assert_string_equal(f->sending_mta_ip_raw, "2001:DB8:0:0:0:0:0:0A");
	assert_null(f->receiving_ip);
	assert_null(f->receiving_ip_raw);
	assert_string_equal(f->receiving_mx_hostname, "a.mx.receiver-r.example");
	assert_int_equal(f->failed_session_count, 30);

	f = &p->failures[1];
	assert_string_equal(f->sending_mta_ip, "2001:db8:0:ff::1");
	assert_string_equal(f->sending_mta_ip_raw, "2001:db8:0000:00ff::0001");
	assert_string_equal(f->receiving_ip, "192.0.2.25");
	assert_string_equal(f->receiving_ip_raw, "192.0.2.25");
	assert_string_equal(f->receiving_mx_helo, "b-helo.receiver-r.example");
	assert_string_equal(f->additional_information, "https://sender-q.example/tls/why?case=77");

	f = &p->failures[2];
	assert_string_equal(f->failure_reason_code, "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY");
	assert_int_equal(f->failed_session_count, 1);
	/* non-canonical IPv6 is not lint; 30+10+1 = 41 agrees */
	assert_int_equal(r->n_lint, 1);
	rpt_free(r);
}

static void
test_idn_and_case(void **state)
{
	struct rpt *r = load_ok("idn_and_case_domains.json");
	const struct rpt_policy *p;

	(void)state;
	assert_string_equal(r->organization_name, "Kleiner Versender"); /* trimmed */
	assert_string_equal(r->reporter_key, "kleiner versender\ntlsrpt@versender.example");
	p = &r->policies[0];
	assert_string_equal(p->domain, "xn--bcher-kva.example");
	assert_lint(r, "policies[0].policy.policy-domain", "idn-u-label");
	assert_string_equal(p->mx_hosts[0], "mx.xn--bcher-kva.example");
	assert_lint(r, "policies[0].policy.mx-host[0]", "idn-u-label");
	assert_string_equal(p->sts_mx[0], "mx.xn--bcher-kva.example");
	assert_lint(r, "policies[0].policy.policy-string[2]", "idn-u-label");
	assert_string_equal(p->strings[2], "mx: mx.bücher.example"); /* lines as given */
	assert_string_equal(p->failures[0].receiving_mx_hostname, "mx.xn--bcher-kva.example");
	assert_lint(r, "policies[0].failure-details[0].receiving-mx-hostname", "idn-u-label");

	p = &r->policies[1];
	assert_int_equal(p->type, RPT_POLICY_STS);
	assert_string_equal(p->type_name, "sts");
	assert_lint(r, "policies[1].policy.policy-type", "policy-type-case");
	assert_string_equal(p->domain, "example.net");
	assert_lint(r, "policies[1].policy.policy-domain", "domain-normalised");
	assert_string_equal(p->mx_hosts[0], "mx1.example.net");
	assert_lint(r, "policies[1].policy.mx-host[0]", "domain-normalised");
	assert_string_equal(p->sts_mx[0], "mx1.example.net");
	assert_lint(r, "policies[1].policy.policy-string[2]", "domain-normalised");
	assert_int_equal(r->n_lint, 8);
	rpt_free(r);
}

static void
test_nonrfc_keys_and_types(void **state)
{
	struct rpt *r = load_ok("nonrfc_keys_and_types.json");
	const struct rpt_policy *p = &r->policies[0];
	const struct rpt_failure *f;

	(void)state;
	assert_lint(r, "x-generator", "unknown-key");
	/* lines in any order, "key:value" without a space */
	assert_string_equal(p->sts_version, "STSv1");
	assert_string_equal(p->sts_mode, "testing");
	assert_int_equal(p->sts_max_age, 86400);
	assert_int_equal(p->n_sts_mx, 1);
	assert_string_equal(p->sts_mx[0], "mx.example.com");
	assert_int_equal(count_code(r, "sts-missing-field"), 0);
	assert_int_equal(p->n_mx_hosts, 0); /* "mx-host": [] */
	assert_int_equal(p->success, 120);
	assert_lint(r, "policies[0].summary.total-successful-session-count", "count-string");
	assert_int_equal(p->failure, 9);
	assert_int_equal(p->n_failures, 3);

	f = &p->failures[0];
	assert_string_equal(f->result_type, "Testing");
	assert_lint(r, "policies[0].failure-details[0].result-type", "unknown-result-type");
	assert_string_equal(f->sending_mta_ip, "x.x.x.x");
	assert_string_equal(f->sending_mta_ip_raw, "x.x.x.x");
	assert_lint(r, "policies[0].failure-details[0].sending-mta-ip", "bad-ip");
	assert_string_equal(f->receiving_mx_hostname, "mx.example.com");
	assert_lint(r, "policies[0].failure-details[0].receiving-mx-host-name", "non-rfc-key");
	assert_string_equal(f->additional_information, "see portal");
	assert_lint(r, "policies[0].failure-details[0].additional-info-uri", "non-rfc-key");

	f = &p->failures[1];
	assert_string_equal(f->result_type, "starttls-not-supported");
	assert_lint(r, "policies[0].failure-details[1].result-type", "result-type-case");
	assert_string_equal(f->failure_reason_code, "451 4.7.5 no TLS");
	assert_lint(r, "policies[0].failure-details[1].failure-error-code", "non-rfc-key");
	assert_lint(r, "policies[0].failure-details[1].vendor-extra", "unknown-key");

	f = &p->failures[2];
	assert_string_equal(f->result_type, "dnssec-invalid");
	assert_int_equal(f->failed_session_count, 4);
	assert_lint(r, "policies[0].failure-details[2].failed-session-count", "count-real");
	/* 2 + 3 + 4 = 9: no mismatch */
	assert_int_equal(count_code(r, "failure-sum-mismatch"), 0);
	assert_int_equal(r->n_lint, 10);
	rpt_free(r);
}

static void
test_multi_day(void **state)
{
	struct rpt *r = load_ok("multi_day_window.json");
	const struct rpt_policy *p = &r->policies[0];

	(void)state;
	assert_int_equal(r->start, 1735516800); /* 2024-12-30 */
	assert_int_equal(r->end, 1736121600);   /* 2025-01-06 */
	assert_lint(r, "date-range", "multi-day-range");
	assert_int_equal(p->sts_max_age, 63115200); /* kept, with lint */
	assert_lint(r, "policies[0].policy.policy-string[3]", "sts-max-age-too-large");
	assert_string_equal(p->mx_hosts[0], "mx.example.org");
	assert_lint(r, "policies[0].policy.mx-host[0]", "mx-host-prefix");
	assert_int_equal(r->n_lint, 3);
	rpt_free(r);
}

static void
test_bom_and_offset(void **state)
{
	struct rpt *r = load_ok("utf8_bom_offset_zone.json");

	(void)state;
	assert_lint(r, "", "utf8-bom");
	assert_int_equal(r->start, 1743465600 - 2 * 3600); /* 2025-04-01T00:00:00+02:00 */
	assert_int_equal(r->end, 1743465600 + DAY - 1 - 2 * 3600);
	assert_string_equal(r->start_raw, "2025-04-01T00:00:00+02:00");
	assert_string_equal(r->policies[0].domain, "example.com");
	assert_int_equal(r->n_lint, 1);
	rpt_free(r);
}

static void
test_empty_policies(void **state)
{
	struct rpt *r = load_ok("empty_policies.json");

	(void)state;
	assert_int_equal(r->n_policies, 0);
	assert_lint(r, "policies", "empty-policies");
	assert_string_equal(r->report_id, "quiet-1");
	assert_int_equal(r->n_lint, 1);
	rpt_free(r);
}

/* ---- rejections ---- */

struct reject_case {
	const char *file;
	const char *code;
	const char *path;
	int line;   /* 0: not checked */
	int column;
};

static void
test_reject_fixtures(void **state)
{
	static const struct reject_case t[] = {
		{ "bad_not_json.json", "not-json", "", 8, 3 },
		{ "bad_invalid_utf8.json", "invalid-utf8", "", 2, 29 },
		{ "bad_duplicate_key.json", "duplicate-key", "", 6, 13 },
		{ "bad_array_top.json", "not-object", "", 0, 0 },
		{ "bad_no_policies.json", "no-policies", "policies", 0, 0 },
		{ "bad_date.json", "bad-datetime", "date-range.start-datetime", 0, 0 },
		{ "bad_end_before_start.json", "end-before-start", "date-range", 0, 0 },
		{ "bad_negative_count.json", "negative-count",
		  "policies[1].summary.total-successful-session-count", 0, 0 },
		{ "bad_fractional_count.json", "fractional-count",
		  "policies[0].failure-details[1].failed-session-count", 0, 0 },
		{ "bad_count_2p53_plus_1.json", "count-too-large",
		  "policies[0].summary.total-successful-session-count", 0, 0 },
	};
	struct rpt_error e;
	size_t i, n;
	char *p;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		p = tu_fixture(&n, "reports/%s", t[i].file);
		expect_reject(p, n, t[i].code, t[i].path, &e);
		if (t[i].line != 0 && (e.line != t[i].line || e.column != t[i].column))
			fail_msg("%s: at %d:%d, expected %d:%d", t[i].file, e.line, e.column,
			    t[i].line, t[i].column);
		if (strcmp(t[i].code, "invalid-utf8") == 0) /* the offset of the bad byte */
			assert_int_equal(e.position, (long)(strchr(p, '\xe9') - p));
		if (strcmp(t[i].code, "not-json") == 0) /* just past the bad token */
			assert_int_equal(e.position, (long)(strstr(p, "\n  ]") - p) + 4);
		if (t[i].line == 0 && strcmp(t[i].code, "not-object") != 0) {
			assert_int_equal(e.line, 0);
			assert_int_equal(e.position, -1);
		}
		free(p);
	}
}

static void
test_reject_inline(void **state)
{
	struct rpt_error e;

	(void)state;
	expect_reject(LIT(""), "not-json", "", NULL);
	expect_reject(LIT("\"a report\""), "not-json", "", NULL);
	expect_reject(LIT("{\"policies\":[]} {}"), "not-json", "", NULL);
	expect_reject(LIT("{\"a\":\"\\u0000\"}"), "not-json", "", NULL);
	/* a BOM is not counted in columns; the position is in the bytes as given */
	expect_reject(LIT("\xef\xbb\xbf{\"x\": \"\xff\"}"), "invalid-utf8", "", &e);
	assert_int_equal(e.line, 1);
	assert_int_equal(e.column, 8);
	assert_int_equal(e.position, 10);
	/* overlong, surrogate, beyond U+10FFFF, truncated sequence */
	expect_reject(LIT("{\"x\":\"\xc0\xaf\"}"), "invalid-utf8", "", &e);
	assert_int_equal(e.position, 6);
	expect_reject(LIT("{\"x\":\"\xed\xa0\x80\"}"), "invalid-utf8", "", NULL);
	expect_reject(LIT("{\"x\":\"\xf4\x90\x80\x80\"}"), "invalid-utf8", "", NULL);
	expect_reject(LIT("{\"x\":\"\xe2\x82\"}"), "invalid-utf8", "", NULL);
	expect_reject(LIT("{\"x\":\"\xc3\xa9\n\xc3\xa9\xe2\x82\"}"), "invalid-utf8", "", &e);
	assert_int_equal(e.line, 2);
	assert_int_equal(e.column, 2);
	expect_reject(LIT("{\"date-range\":{}}"), "no-policies", "policies", NULL);
	expect_reject(LIT("{\"policies\":{}}"), "no-policies", "policies", NULL);
	expect_reject(LIT("{\"policies\":[]}"), "no-date-range", "date-range", NULL);
	expect_reject(LIT("{\"policies\":[],\"date-range\":[]}"), "no-date-range", "date-range",
	    NULL);
	expect_reject(LIT("{\"policies\":[],\"date-range\":{\"start-datetime\":"
	    "\"2025-05-05T00:00:00Z\"}}"), "no-date-range", "date-range.end-datetime", NULL);
	expect_reject(LIT("{\"policies\":[],\"date-range\":{\"start-datetime\":1746403200,"
	    "\"end-datetime\":\"2025-05-05T00:00:00Z\"}}"), "bad-datetime",
	    "date-range.start-datetime", NULL);

	/* counts */
	expect_inline_reject("{\"summary\":{\"total-successful-session-count\":\"-2\"}}",
	    "negative-count", "policies[0].summary.total-successful-session-count");
	expect_inline_reject("{\"summary\":{\"total-failure-session-count\":\"2.5\"}}",
	    "fractional-count", "policies[0].summary.total-failure-session-count");
	expect_inline_reject("{\"summary\":{\"total-failure-session-count\":\"9007199254740993\"}}",
	    "count-too-large", "policies[0].summary.total-failure-session-count");
	expect_inline_reject("{\"summary\":{\"total-failure-session-count\":1e16}}",
	    "count-too-large", "policies[0].summary.total-failure-session-count");
	expect_inline_reject("{\"summary\":{\"total-failure-session-count\":-0.5}}",
	    "negative-count", "policies[0].summary.total-failure-session-count");
	expect_inline_reject("{},{},{\"failure-details\":[{},{\"failed-session-count\":-1}]}",
	    "negative-count", "policies[2].failure-details[1].failed-session-count");
}

static void
test_counts_lenient(void **state)
{
	struct rpt *r;
	const struct rpt_policy *p;

	(void)state;
	/* exactly 2^53 is allowed */
	r = inline_ok("{\"summary\":{\"total-successful-session-count\":9007199254740992,"
	    "\"total-failure-session-count\":\" 7 \"}}");
	p = &r->policies[0];
	assert_int_equal(p->success, RPT_MAX_SAFE_INT);
	assert_int_equal(p->failure, 7);
	assert_lint(r, "policies[0].summary.total-failure-session-count", "count-string");
	rpt_free(r);

	/* missing, null, junk: RPT_COUNT_MISSING with lint, never 0 */
	r = inline_ok("{\"summary\":{\"total-failure-session-count\":null},\"failure-details\":["
	    "{\"result-type\":\"dane-required\",\"failed-session-count\":\"many\"},"
	    "{\"result-type\":\"tlsa-invalid\",\"failed-session-count\":true},"
	    "{\"result-type\":\"tlsa-invalid\",\"failed-session-count\":\"3.000\"},"
	    "{\"result-type\":\"tlsa-invalid\",\"failed-session-count\":\"-0\"},"
	    "{\"result-type\":\"tlsa-invalid\"}]}");
	p = &r->policies[0];
	assert_int_equal(p->success, RPT_COUNT_MISSING);
	assert_lint(r, "policies[0].summary.total-successful-session-count", "missing-count");
	assert_int_equal(p->failure, RPT_COUNT_MISSING);
	assert_lint(r, "policies[0].summary.total-failure-session-count", "missing-count");
	assert_int_equal(p->n_failures, 5);
	assert_int_equal(p->failures[0].failed_session_count, RPT_COUNT_MISSING);
	assert_lint(r, "policies[0].failure-details[0].failed-session-count", "bad-count");
	assert_int_equal(p->failures[1].failed_session_count, RPT_COUNT_MISSING);
	assert_lint(r, "policies[0].failure-details[1].failed-session-count", "bad-count");
	assert_int_equal(p->failures[2].failed_session_count, 3);
	assert_int_equal(p->failures[3].failed_session_count, 0);
	assert_int_equal(p->failures[4].failed_session_count, RPT_COUNT_MISSING);
	assert_lint(r, "policies[0].failure-details[4].failed-session-count", "missing-count");
	rpt_free(r);

	/* no summary at all */
	r = inline_ok("{\"policy\":{\"policy-type\":\"no-policy-found\","
	    "\"policy-domain\":\"a.example\"}}");
	p = &r->policies[0];
	assert_int_equal(p->success, RPT_COUNT_MISSING);
	assert_int_equal(p->failure, RPT_COUNT_MISSING);
	assert_lint(r, "policies[0].summary", "missing-field");
	rpt_free(r);
}

static void
test_sums(void **state)
{
	struct rpt *r;

	(void)state;
	/* failures counted without details */
	r = inline_ok("{\"summary\":{\"total-successful-session-count\":1,"
	    "\"total-failure-session-count\":5}}");
	assert_lint(r, "policies[0].failure-details", "no-failure-details");
	rpt_free(r);
	/* a detail without a count: the sum is not compared */
	r = inline_ok("{\"summary\":{\"total-successful-session-count\":1,"
	    "\"total-failure-session-count\":5},\"failure-details\":[{\"result-type\":"
	    "\"validation-failure\",\"failed-session-count\":1},"
	    "{\"result-type\":\"dane-required\"}]}");
	assert_int_equal(count_code(r, "failure-sum-mismatch"), 0);
	assert_int_equal(count_code(r, "no-failure-details"), 0);
	rpt_free(r);
	/* sums beyond int64 saturate instead of wrapping */
	r = inline_ok("{\"summary\":{\"total-successful-session-count\":0,"
	    "\"total-failure-session-count\":9007199254740992},\"failure-details\":["
	    "{\"result-type\":\"validation-failure\",\"failed-session-count\":9007199254740992},"
	    "{\"result-type\":\"validation-failure\",\"failed-session-count\":9007199254740992}]}");
	assert_lint(r, "policies[0].failure-details", "failure-sum-mismatch");
	rpt_free(r);
}

static void
test_policy_types(void **state)
{
	struct rpt *r;
	const struct rpt_policy *p;

	(void)state;
	r = inline_ok("{\"policy\":{\"policy-domain\":\"a.example\"},\"summary\":"
	    "{\"total-successful-session-count\":1,\"total-failure-session-count\":0}},"
	    "{\"policy\":{\"policy-type\":\"dane\",\"policy-domain\":\"b.example\"},\"summary\":"
	    "{\"total-successful-session-count\":2,\"total-failure-session-count\":0}},"
	    "{\"policy\":{\"policy-type\":7}},"
	    "{\"policy\":{\"policy-type\":\"No-Policy-Found\"}},"
	    "{\"policy\":\"sts\"}");
	assert_int_equal(r->n_policies, 5);
	p = &r->policies[0];
	assert_int_equal(p->type, RPT_POLICY_OTHER);
	assert_string_equal(p->type_name, "");
	assert_string_equal(rpt_policy_type_name(p), "");
	assert_lint(r, "policies[0].policy.policy-type", "missing-policy-type");
	p = &r->policies[1];
	assert_int_equal(p->type, RPT_POLICY_OTHER);
	assert_string_equal(p->type_name, "dane");
	assert_string_equal(rpt_policy_type_name(p), "dane");
	assert_lint(r, "policies[1].policy.policy-type", "unknown-policy-type");
	assert_int_equal(p->success, 2);
	assert_int_equal(r->policies[2].type, RPT_POLICY_OTHER);
	assert_lint(r, "policies[2].policy.policy-type", "bad-type");
	assert_int_equal(r->policies[3].type, RPT_POLICY_NONE_FOUND);
	assert_lint(r, "policies[3].policy.policy-type", "policy-type-case");
	assert_int_equal(r->policies[4].type, RPT_POLICY_OTHER);
	assert_lint(r, "policies[4].policy", "bad-type");
	rpt_free(r);
}

static void
test_sts_policy_string(void **state)
{
	struct rpt *r;
	const struct rpt_policy *p;

	(void)state;
	/* one string with CRLF lines (a reporter that copies the policy file as is) */
	r = inline_ok("{\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":\"example.com\","
	    "\"policy-string\":\"version: STSv1\\r\\nmode: Enforce\\r\\nmx: MX.example.com\\r\\n"
	    "mx: *.backup.example.com\\r\\nmax_age: 31557600\\r\\n\","
	    "\"mx-host\":[\"mx.example.com\"]},\"summary\":{"
	    "\"total-successful-session-count\":1,\"total-failure-session-count\":0}}");
	p = &r->policies[0];
	assert_lint(r, "policies[0].policy.policy-string", "policy-string-string");
	assert_int_equal(p->n_strings, 1);
	assert_string_equal(p->sts_version, "STSv1");
	assert_string_equal(p->sts_mode, "enforce");
	assert_int_equal(p->sts_max_age, 31557600); /* the maximum itself is fine */
	assert_int_equal(count_code(r, "sts-max-age-too-large"), 0);
	assert_int_equal(p->n_sts_mx, 2);
	assert_string_equal(p->sts_mx[0], "mx.example.com");
	assert_string_equal(p->sts_mx[1], "*.backup.example.com");
	rpt_free(r);

	/* every way a policy can be odd */
	r = inline_ok("{\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":\"example.com\","
	    "\"policy-string\":[\"version: STSv2\",\"mode: strict\",\"max_age: 1d\","
	    "\"mode: testing\",\"garbage line\",\"foo: bar\",7]}}");
	p = &r->policies[0];
	assert_string_equal(p->sts_version, "STSv2");
	assert_lint(r, "policies[0].policy.policy-string[0]", "sts-bad-version");
	assert_string_equal(p->sts_mode, "strict");
	assert_lint(r, "policies[0].policy.policy-string[1]", "sts-unknown-mode");
	assert_int_equal(p->sts_max_age, -1);
	assert_lint(r, "policies[0].policy.policy-string[2]", "sts-bad-max-age");
	assert_lint(r, "policies[0].policy.policy-string[3]", "sts-duplicate-key");
	assert_lint(r, "policies[0].policy.policy-string[4]", "sts-bad-line");
	assert_lint(r, "policies[0].policy.policy-string[5]", "sts-unknown-key");
	assert_lint(r, "policies[0].policy.policy-string[6]", "bad-type");
	assert_lint(r, "policies[0].policy.policy-string", "sts-missing-field");
	assert_int_equal(p->n_strings, 6);
	assert_int_equal(p->n_sts_mx, 0);
	rpt_free(r);
}

static void
test_tlsa_forms(void **state)
{
	struct rpt *r;
	const struct rpt_policy *p;

	(void)state;
	/* keys sorted (policy-type after policy-string): still unpacked */
	r = inline_ok("{\"policy\":{\"policy-domain\":\"example.com\",\"policy-string\":"
	    "[\"[\\\"3 1 1 AA\\\"]\"],\"policy-type\":\"tlsa\"}},"
	    /* plain TLSA RRs stay as they are */
	    "{\"policy\":{\"policy-type\":\"tlsa\",\"policy-domain\":\"example.com\","
	    "\"policy-string\":[\"3 1 1 BB\",\"3 1 1 CC\"]}},"
	    /* a bracketed string that is not JSON stays too */
	    "{\"policy\":{\"policy-type\":\"tlsa\",\"policy-domain\":\"example.com\","
	    "\"policy-string\":[\"[3 1 1 DD\"]}},"
	    /* JSON-looking text in an sts policy is not touched */
	    "{\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":\"example.com\","
	    "\"policy-string\":[\"[\\\"x\\\"]\"]}}");
	p = &r->policies[0];
	assert_int_equal(p->type, RPT_POLICY_TLSA);
	assert_int_equal(p->n_strings, 1);
	assert_string_equal(p->strings[0], "3 1 1 AA");
	assert_lint(r, "policies[0].policy.policy-string[0]", "tlsa-json-in-string");
	p = &r->policies[1];
	assert_int_equal(p->n_strings, 2);
	assert_string_equal(p->strings[1], "3 1 1 CC");
	assert_null(find_lint(r, "policies[1].policy.policy-string[0]", "tlsa-json-in-string"));
	assert_string_equal(r->policies[2].strings[0], "[3 1 1 DD");
	assert_string_equal(r->policies[3].strings[0], "[\"x\"]");
	assert_int_equal(count_code(r, "tlsa-json-in-string"), 1);
	rpt_free(r);
}

static void
test_failure_fields(void **state)
{
	struct rpt *r;
	const struct rpt_policy *p;

	(void)state;
	r = inline_ok("{\"failure-details\":[{\"result-type\":\"validation-failure\","
	    "\"sending-mta-ip\":\"\",\"receiving-ip\":17,\"receiving-mx-hostname\":\"mx .example\","
	    "\"receiving-mx-host-name\":\"other.example\",\"failure-reason-code\":451,"
	    "\"failed-session-count\":1},\"not an object\",{\"result-type\":[],"
	    "\"failed-session-count\":2}]}");
	p = &r->policies[0];
	assert_int_equal(p->n_failures, 2);
	assert_null(p->failures[0].sending_mta_ip);
	assert_lint(r, "policies[0].failure-details[0].sending-mta-ip", "empty-value");
	assert_null(p->failures[0].receiving_ip);
	assert_lint(r, "policies[0].failure-details[0].receiving-ip", "bad-type");
	/* not a domain name: kept as given */
	assert_string_equal(p->failures[0].receiving_mx_hostname, "mx .example");
	assert_lint(r, "policies[0].failure-details[0].receiving-mx-hostname", "bad-domain");
	/* both the RFC key and its alias: the RFC key wins */
	assert_lint(r, "policies[0].failure-details[0].receiving-mx-host-name", "non-rfc-key");
	assert_string_equal(p->failures[0].failure_reason_code, "451");
	assert_lint(r, "policies[0].failure-details[0].failure-reason-code", "bad-type");
	assert_lint(r, "policies[0].failure-details[1]", "bad-type");
	/* the third entry (JSON index 2) is the second kept */
	assert_string_equal(p->failures[1].result_type, "");
	assert_lint(r, "policies[0].failure-details[2].result-type", "bad-type");
	assert_int_equal(p->failures[1].failed_session_count, 2);
	rpt_free(r);

	r = inline_ok("{\"failure-details\":{\"result-type\":\"dane-required\"}},\"junk\"");
	assert_int_equal(r->n_policies, 1);
	assert_int_equal(r->policies[0].n_failures, 0);
	assert_lint(r, "policies[0].failure-details", "bad-type");
	assert_lint(r, "policies[1]", "bad-type");
	rpt_free(r);
}

static void
test_top_level_fields(void **state)
{
	struct rpt *r;
	static const char j1[] = "{\"policies\":[],\"date-range\":{\"start-datetime\":"
	    "\"2025-05-05T00:00:00Z\",\"end-datetime\":\"2025-05-05T00:00:00Z\",\"tz\":\"UTC\"},"
	    "\"report-id\":12345,\"contact-info\":[\"a@b.example\"]}";
	static const char j2[] = "{\"policies\":[],\"date-range\":{\"start-datetime\":"
	    "\"2025-05-05 00:00:00Z\",\"end-datetime\":\"2025-05-06T00:00:00+00:00\"},"
	    "\"organization-name\":\"MixedCase\\nOrg\","
	    "\"contact-info\":\"  Ops@MixedCase.Example \"}";

	(void)state;
	r = parse_ok(j1, strlen(j1));
	assert_null(r->organization_name);
	assert_lint(r, "organization-name", "missing-field");
	assert_null(r->contact_info);
	assert_lint(r, "contact-info", "bad-type");
	assert_string_equal(r->report_id, "12345");
	assert_lint(r, "report-id", "bad-type");
	assert_lint(r, "date-range.tz", "unknown-key");
	assert_lint(r, "date-range", "empty-date-range");
	assert_string_equal(r->reporter_key, "\n");
	rpt_free(r);

	r = parse_ok(j2, strlen(j2));
	assert_lint(r, "date-range.start-datetime", "lenient-datetime");
	assert_int_equal(r->end - r->start, DAY);
	assert_string_equal(r->report_id, "");
	assert_lint(r, "report-id", "missing-field");
	assert_string_equal(r->contact_info, "  Ops@MixedCase.Example "); /* verbatim */
	assert_string_equal(r->organization_name, "MixedCase\nOrg");
	/* a control character cannot fake the separator of the reporter key */
	assert_string_equal(r->reporter_key, "mixedcase org\nops@mixedcase.example");
	rpt_free(r);
}

/* The same report with its keys in another order gives the same normalised result. */
static void
test_key_order(void **state)
{
	static const char a[] = "{\"organization-name\":\"Order Co\",\"date-range\":{"
	    "\"start-datetime\":\"2025-05-05T00:00:00Z\","
	    "\"end-datetime\":\"2025-05-05T23:59:59Z\"},\"contact-info\":\"o@order.example\","
	    "\"report-id\":\"o-1\",\"policies\":[{\"policy\":{"
	    "\"policy-type\":\"sts\",\"policy-string\":[\"version: STSv1\",\"mode: testing\","
	    "\"mx: mx.example.com\",\"max_age: 86400\"],\"policy-domain\":\"example.com\","
	    "\"mx-host\":[\"mx.example.com\"]},\"summary\":{\"total-successful-session-count\":3,"
	    "\"total-failure-session-count\":1},\"failure-details\":[{\"result-type\":"
	    "\"certificate-expired\",\"sending-mta-ip\":\"192.0.2.1\","
	    "\"failed-session-count\":1}]}]}";
	static const char b[] = "{\"policies\":[{\"failure-details\":[{\"failed-session-count\":1,"
	    "\"result-type\":\"certificate-expired\",\"sending-mta-ip\":\"192.0.2.1\"}],"
	    "\"policy\":{"
	    "\"mx-host\":[\"mx.example.com\"],\"policy-domain\":\"example.com\",\"policy-string\":["
	    "\"version: STSv1\",\"mode: testing\",\"mx: mx.example.com\",\"max_age: 86400\"],"
	    "\"policy-type\":\"sts\"},\"summary\":{\"total-failure-session-count\":1,"
	    "\"total-successful-session-count\":3}}],\"report-id\":\"o-1\",\"organization-name\":"
	    "\"Order Co\",\"date-range\":{\"end-datetime\":\"2025-05-05T23:59:59Z\","
	    "\"start-datetime\":\"2025-05-05T00:00:00Z\"},\"contact-info\":\"o@order.example\"}";
	struct rpt *ra = parse_ok(a, strlen(a)), *rb = parse_ok(b, strlen(b));
	json_t *ja = rpt_to_json(ra), *jb = rpt_to_json(rb);

	(void)state;
	assert_non_null(ja);
	assert_non_null(jb);
	assert_true(json_equal(ja, jb));
	assert_int_equal(ra->n_lint, 0);
	json_decref(ja);
	json_decref(jb);
	rpt_free(ra);
	rpt_free(rb);
}

static void
test_to_json(void **state)
{
	struct rpt *r = load_ok("microsoft_style_sts_tlsa.json");
	json_t *j, *pol, *f, *l, *dr;
	size_t n_lint;

	(void)state;
	assert_int_equal(rpt_add_lint(r, "", "gzip-members", "%u gzip members", 2u), 0);
	n_lint = r->n_lint;
	assert_string_equal(r->lint[n_lint - 1].code, "gzip-members");
	assert_string_equal(r->lint[n_lint - 1].message, "2 gzip members");
	j = rpt_to_json(r);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "organization_name")),
	    "Megasoft Online");
	assert_string_equal(json_string_value(json_object_get(j, "report_id")),
	    "133820000000000042+example.org");
	dr = json_object_get(j, "date_range");
	assert_string_equal(json_string_value(json_object_get(dr, "start")),
	    "2025-01-20T00:00:00Z");
	assert_string_equal(json_string_value(json_object_get(dr, "end")), "2025-01-20T23:59:59Z");
	assert_string_equal(json_string_value(json_object_get(dr, "start_raw")),
	    "2025-01-20T00:00:00");
	assert_int_equal(json_array_size(json_object_get(j, "policies")), 2);

	pol = json_array_get(json_object_get(j, "policies"), 0);
	assert_string_equal(json_string_value(json_object_get(pol, "policy_type")), "sts");
	assert_string_equal(json_string_value(json_object_get(pol, "policy_domain")),
	    "example.org");
	assert_int_equal(json_array_size(json_object_get(pol, "policy_strings")), 4);
	assert_int_equal(json_array_size(json_object_get(pol, "mx_hosts")), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(pol, "sts"),
	    "mode")), "enforce");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(pol, "sts"),
	    "max_age")), 1209600);
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(pol,
	    "sts"), "mx"), 0)), "*.mail.example.org");
	assert_int_equal(json_integer_value(json_object_get(pol, "successful")), 37);
	assert_int_equal(json_integer_value(json_object_get(pol, "failed")), 2);
	f = json_array_get(json_object_get(pol, "failure_details"), 0);
	assert_string_equal(json_string_value(json_object_get(f, "result_type")),
	    "certificate-expired");
	assert_true(json_is_null(json_object_get(f, "sending_mta_ip")));
	assert_true(json_is_null(json_object_get(f, "receiving_mx_hostname")));
	assert_int_equal(json_integer_value(json_object_get(f, "failed_session_count")), 2);
	assert_int_equal(json_object_size(f), 10);

	pol = json_array_get(json_object_get(j, "policies"), 1);
	assert_string_equal(json_string_value(json_object_get(pol, "policy_type")), "tlsa");
	assert_true(json_is_null(json_object_get(pol, "sts")));
	assert_string_equal(json_string_value(json_array_get(json_object_get(pol,
	    "policy_strings"), 1)), "2 1 1 F9E8D7C6B5A4938271605F4E3D2C1B0AF9E8D7C6B5A4938271605F4E"
	    "3D2C1B0A");

	l = json_object_get(j, "lint");
	assert_int_equal(json_array_size(l), n_lint);
	assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "path")),
	    "date-range.start-datetime");
	assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "code")),
	    "no-timezone");
	assert_string_equal(json_string_value(json_object_get(json_array_get(l, n_lint - 1),
	    "code")), "gzip-members");
	json_decref(j);
	rpt_free(r);

	/* a missing count is null, never 0 */
	r = inline_ok("{\"policy\":{\"policy-type\":\"no-policy-found\"}}");
	j = rpt_to_json(r);
	pol = json_array_get(json_object_get(j, "policies"), 0);
	assert_true(json_is_null(json_object_get(pol, "successful")));
	assert_true(json_is_null(json_object_get(pol, "failed")));
	assert_true(json_is_null(json_object_get(pol, "policy_domain")));
	assert_true(json_is_null(json_object_get(pol, "sts")));
	json_decref(j);
	rpt_free(r);
	rpt_free(NULL);
	assert_int_equal(rpt_add_lint(NULL, "", "x", "y"), -1);
}

/* ---- limits ---- */

static void
test_limits_policies(void **state)
{
	struct buf b;
	struct rpt *r;
	int i;

	(void)state;
	buf_init(&b, 8 << 20);
	buf_puts(&b, HEAD);
	for (i = 0; i < 10000; i++)
		buf_printf(&b, "%s{\"policy\":{\"policy-type\":\"no-policy-found\","
		    "\"policy-domain\":\"d%d.example\"},\"summary\":{"
		    "\"total-successful-session-count\":%d,"
		    "\"total-failure-session-count\":0}}", i ? "," : "", i, i);
	buf_puts(&b, TAIL);
	assert_int_equal(b.err, 0);
	r = parse_ok(b.data, b.len);
	assert_int_equal(r->n_policies, 10000);
	assert_string_equal(r->policies[9999].domain, "d9999.example");
	assert_int_equal(r->policies[9999].success, 9999);
	rpt_free(r);
	b.len -= strlen(TAIL);
	buf_puts(&b, ",{}" TAIL);
	expect_reject(b.data, b.len, "too-many-policies", "policies", NULL);
	buf_free(&b);
}

static void
test_limits_failures(void **state)
{
	struct buf b;
	int i;

	(void)state;
	buf_init(&b, 8 << 20);
	buf_puts(&b, HEAD "{\"failure-details\":[");
	for (i = 0; i < 100001; i++)
		buf_puts(&b, i ? ",{}" : "{}");
	buf_puts(&b, "]}" TAIL);
	assert_int_equal(b.err, 0);
	expect_reject(b.data, b.len, "too-many-failure-details", "policies[0].failure-details",
	    NULL);
	buf_free(&b);
}

static void
test_limits_strings_and_lint(void **state)
{
	struct buf b;
	struct rpt *r;
	size_t n;
	int i;

	(void)state;
	/* a 5000-byte organization name of 2-byte characters is cut on a character */
	buf_init(&b, 8 << 20);
	buf_puts(&b, "{\"organization-name\":\"");
	for (i = 0; i < 2500; i++)
		buf_puts(&b, "é");
	buf_puts(&b, "\",\"date-range\":{\"start-datetime\":\"2025-05-05T00:00:00Z\","
	    "\"end-datetime\":\"2025-05-05T23:59:59Z\"},\"policies\":[]");
	/* 2000 unknown keys: lint stops at its limit, the last entry says so */
	for (i = 0; i < 2000; i++)
		buf_printf(&b, ",\"x-%d\":%d", i, i);
	buf_puts(&b, "}");
	assert_int_equal(b.err, 0);
	r = parse_ok(b.data, b.len);
	n = strlen(r->organization_name);
	assert_true(n > 0 && n <= 1024);
	assert_int_equal(n % 2, 0);
	assert_int_equal(memcmp(r->organization_name, "éé", 4), 0);
	assert_int_equal(r->n_lint, 1000);
	assert_string_equal(r->lint[999].code, "lint-truncated");
	assert_int_equal(count_code(r, "unknown-key"), 999);
	assert_int_equal(rpt_add_lint(r, "", "late", "dropped"), 0);
	assert_int_equal(r->n_lint, 1000);
	assert_null(find_lint(r, "organization-name", "truncated")); /* dropped by then */
	rpt_free(r);
	buf_free(&b);

	/* with room in the lint, the cut is recorded */
	buf_init(&b, 1 << 20);
	buf_puts(&b, "{\"report-id\":\"");
	for (i = 0; i < 3000; i++)
		buf_puts(&b, "x");
	buf_puts(&b, "\",\"date-range\":{\"start-datetime\":\"2025-05-05T00:00:00Z\","
	    "\"end-datetime\":\"2025-05-05T23:59:59Z\"},\"policies\":[]}");
	r = parse_ok(b.data, b.len);
	assert_int_equal(strlen(r->report_id), 1024);
	assert_lint(r, "report-id", "truncated");
	rpt_free(r);
	buf_free(&b);
}

/* Lint messages quote report text; cut in the middle of a character they would not be JSON. */
static void
test_lint_utf8_safe(void **state)
{
	struct buf b;
	struct rpt *r;
	json_t *j;
	int i;

	(void)state;
	buf_init(&b, 1 << 20);
	buf_puts(&b, HEAD "{\"failure-details\":[{\"result-type\":\"");
	for (i = 0; i < 100; i++)
		buf_puts(&b, "€");
	buf_puts(&b, "\",\"");
	for (i = 0; i < 100; i++)
		buf_puts(&b, "ü");
	buf_puts(&b, "\":1}]}" TAIL);
	r = parse_ok(b.data, b.len);
	assert_lint(r, "policies[0].failure-details[0].result-type", "unknown-result-type");
	assert_int_equal(count_code(r, "unknown-key"), 1);
	assert_int_equal(rpt_add_lint(r, "bad\xff", "c\xc3", "%s", "x\xe2\x82"), 0);
	j = rpt_to_json(r); /* NULL if any string were not UTF-8 */
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "lint")), r->n_lint);
	json_decref(j);
	rpt_free(r);
	buf_free(&b);
}

static int
setup(void **state)
{
	(void)state;
	rpt_global_init();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_google_compact),
		cmocka_unit_test(test_microsoft_sts_tlsa),
		cmocka_unit_test(test_mailru_sorted_mismatch),
		cmocka_unit_test(test_stalwart_null_contact),
		cmocka_unit_test(test_sys4_no_policy_found),
		cmocka_unit_test(test_rfc_string_mxhost),
		cmocka_unit_test(test_idn_and_case),
		cmocka_unit_test(test_nonrfc_keys_and_types),
		cmocka_unit_test(test_multi_day),
		cmocka_unit_test(test_bom_and_offset),
		cmocka_unit_test(test_empty_policies),
		cmocka_unit_test(test_reject_fixtures),
		cmocka_unit_test(test_reject_inline),
		cmocka_unit_test(test_counts_lenient),
		cmocka_unit_test(test_sums),
		cmocka_unit_test(test_policy_types),
		cmocka_unit_test(test_sts_policy_string),
		cmocka_unit_test(test_tlsa_forms),
		cmocka_unit_test(test_failure_fields),
		cmocka_unit_test(test_top_level_fields),
		cmocka_unit_test(test_key_order),
		cmocka_unit_test(test_to_json),
		cmocka_unit_test(test_limits_policies),
		cmocka_unit_test(test_limits_failures),
		cmocka_unit_test(test_limits_strings_and_lint),
		cmocka_unit_test(test_lint_utf8_safe),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
