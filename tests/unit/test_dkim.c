/*
 * Unit tests for ingest/dkim: messages signed by dkimpy (the .eml files of tests/data/dkim, written by
 * tests/data/dkim/make_fixtures.py with the test-only keys in tests/data/dkim/keys) verified
 * against the key records of tests/data/dkim/keys.txt, served by a callback local to this
 * file (ingest/dkim_keys.c is not involved). Messages are also altered in memory (a header,
 * the body, the line ends, the signature's tags) to see each failure with its reason; plus
 * dkim_tags_parse() and dkim_aligned() on their own.
 *
 * Signatures carry t=T0; "now" is given explicitly, so the results do not depend on the clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/dkim.h"

#define DATA TLSRPT_TEST_DATA "/dkim/"
#define T0 1767225600LL           /* t= of every fixture (make_fixtures.py) */
#define X_EXPIRE (T0 + 3600)      /* x= of expired.eml */
#define NOW (T0 + 600)

/* What the key callback serves: keys.txt, or one fixed answer. */
struct keys {
	char *text;               /* keys.txt */
	size_t len;
	enum dkim_key_rc force;   /* DKIM_KEY_OK: look up keys.txt */
	const char *record;       /* non-NULL: served for every name */
	int calls;
	char last[300];           /* the last name asked for */
};

static struct keys K;

static const char *const reporter[] = { "reporter.example" };

static char *
slurp(const char *path, size_t *len)
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

static char *
fixture(const char *name, size_t *len)
{
	char path[512];

	snprintf(path, sizeof(path), DATA "%s.eml", name);
	return slurp(path, len);
}

/* A dkim_key_fn over keys.txt ("name record" lines) or K.force / K.record. */
static enum dkim_key_rc
test_keys(void *arg, const char *selector, const char *domain, char *txt, size_t cap, char *err,
    size_t errlen)
{
	struct keys *k = arg;
	const char *p = k->text, *end = k->text + k->len, *nl, *sp;
	size_t n;

	k->calls++;
	snprintf(k->last, sizeof(k->last), "%s._domainkey.%s", selector, domain);
	if (k->force != DKIM_KEY_OK) {
		snprintf(err, errlen, "forced failure");
		return k->force;
	}
	if (k->record != NULL) {
		snprintf(txt, cap, "%s", k->record);
		return DKIM_KEY_OK;
	}
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (*p == '#' || (sp = memchr(p, ' ', (size_t)(nl - p))) == NULL)
			continue;
		if ((size_t)(sp - p) != strlen(k->last) || memcmp(p, k->last, (size_t)(sp - p)) != 0)
			continue;
		n = (size_t)(nl - sp - 1);
		if (n + 1 > cap)
			return DKIM_KEY_NONE;
		memcpy(txt, sp + 1, n);
		txt[n] = '\0';
		return DKIM_KEY_OK;
	}
	snprintf(err, errlen, "NXDOMAIN");
	return DKIM_KEY_NONE;
}

/* The record keys.txt holds for selector (of reporter.example), copied. */
static char *
record_of(const char *selector)
{
	char txt[DKIM_KEY_TXT_MAX], err[64];
	struct keys k = K;

	k.force = DKIM_KEY_OK;
	k.record = NULL;
	assert_int_equal(test_keys(&k, selector, "reporter.example", txt, sizeof(txt), err,
	    sizeof(err)), DKIM_KEY_OK);
	return strdup(txt);
}

static int
setup(void **state)
{
	char path[512];

	(void)state;
	memset(&K, 0, sizeof(K));
	snprintf(path, sizeof(path), DATA "keys.txt");
	K.text = slurp(path, &K.len);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	free(K.text);
	return 0;
}

/* Resets the callback to serve keys.txt. */
static void
keys_normal(void)
{
	K.force = DKIM_KEY_OK;
	K.record = NULL;
	K.calls = 0;
}

static void
verify(const char *msg, size_t len, const char *const *al, size_t nal, int64_t now,
    struct dkim_verdict *v)
{
	size_t i;

	assert_int_equal(dkim_verify(msg, len, al, nal, now, test_keys, &K, v), 0);
	/* invariants of every verdict */
	assert_true(v->n_sigs <= DKIM_SIGS_MAX);
	assert_true(strlen(v->reason) < sizeof(v->reason));
	if (v->status == DKIM_PASS) {
		assert_string_equal(v->reason, "");
		assert_true(v->best >= 0 && (size_t)v->best < v->n_sigs);
		assert_int_equal(v->sig[v->best].counts, 1);
	} else if (v->status == DKIM_NONE) {
		assert_int_equal(v->best, -1);
		assert_int_equal(v->n_sigs, 0);
	} else {
		assert_true(v->best >= 0 && (size_t)v->best < v->n_sigs);
		assert_memory_equal(v->reason, "dkim: ", 6);
	}
	for (i = 0; i < v->n_sigs; i++) {
		const struct dkim_sig *s = &v->sig[i];

		assert_int_equal(s->counts, s->status == DKIM_PASS && !s->has_l && s->aligned);
		assert_true(s->counts ? s->reason[0] == '\0' : s->reason[0] != '\0');
	}
}

static void
verify_file(const char *name, const char *const *al, size_t nal, int64_t now,
    struct dkim_verdict *v)
{
	size_t len;
	char *msg = fixture(name, &len);

	verify(msg, len, al, nal, now, v);
	free(msg);
}

/* status and, when given, a part of the verdict's reason. */
static void
expect(const struct dkim_verdict *v, enum dkim_status st, const char *part)
{
	if (v->status != st || (part != NULL && strstr(v->reason, part) == NULL))
		print_message("got %s \"%s\", expected %s \"%s\"\n", dkim_status_name(v->status),
		    v->reason, dkim_status_name(st), part != NULL ? part : "");
	assert_int_equal(v->status, st);
	if (part != NULL)
		assert_non_null(strstr(v->reason, part));
}

/* A copy of msg with the first from replaced by to (which must be there). */
static char *
replace(const char *msg, size_t len, const char *from, const char *to, size_t *outlen)
{
	const char *at = NULL;
	size_t i, fl = strlen(from), tl = strlen(to);
	char *out;

	for (i = 0; i + fl <= len; i++) {
		if (memcmp(msg + i, from, fl) == 0) {
			at = msg + i;
			break;
		}
	}
	if (at == NULL)
		fail_msg("\"%s\" not in the message", from);
	out = malloc(len - fl + tl + 1);
	assert_non_null(out);
	memcpy(out, msg, (size_t)(at - msg));
	memcpy(out + (at - msg), to, tl);
	memcpy(out + (at - msg) + tl, at + fl, len - (size_t)(at - msg) - fl);
	*outlen = len - fl + tl;
	out[*outlen] = '\0';
	return out;
}

/* Verifies fixture name with from replaced by to. */
static void
verify_altered(const char *name, const char *from, const char *to, const char *const *al,
    size_t nal, int64_t now, struct dkim_verdict *v)
{
	size_t len, alen;
	char *msg = fixture(name, &len), *alt = replace(msg, len, from, to, &alen);

	verify(alt, alen, al, nal, now, v);
	free(alt);
	free(msg);
}

/* ---------------------------------------------------------------- signatures that pass */

static void
expect_pass(const char *name, const char *selector, const char *alg)
{
	struct dkim_verdict v;

	keys_normal();
	verify_file(name, reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	assert_int_equal(v.n_sigs, 1);
	assert_int_equal(v.best, 0);
	assert_int_equal(v.sig[0].status, DKIM_PASS);
	assert_int_equal(v.sig[0].aligned, 1);
	assert_int_equal(v.sig[0].has_l, 0);
	assert_string_equal(v.sig[0].domain, "reporter.example");
	assert_string_equal(v.sig[0].selector, selector);
	assert_string_equal(v.sig[0].algorithm, alg);
	assert_int_equal(K.calls, 1);
}

static void
test_pass_rsa(void **state)
{
	(void)state;
	expect_pass("rsa_relaxed", "rsa2048", "rsa-sha256");
	expect_pass("rsa_simple", "rsa2048", "rsa-sha256");
	expect_pass("rsa1024", "rsa1024", "rsa-sha256");
	expect_pass("pkcs1", "pkcs1", "rsa-sha256");      /* bare RSAPublicKey in p= */
	expect_pass("spaced", "spaced", "rsa-sha256");    /* blanks inside p= */
}

static void
test_pass_ed25519(void **state)
{
	(void)state;
	expect_pass("ed25519", "ed25519", "ed25519-sha256");
	expect_pass("ed25519_simple", "ed25519", "ed25519-sha256");
}

static void
test_pass_service_types(void **state)
{
	struct dkim_verdict v;

	(void)state;
	expect_pass("svc_email", "svc-email", "rsa-sha256");
	expect_pass("svc_tlsrpt", "svc-tlsrpt", "rsa-sha256");
	keys_normal();
	verify_file("svc_other", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "dkim: key not for email or tlsrpt (s=other) (d=reporter.example "
	    "s=svc-other)");
}

static void
test_key_testing(void **state)
{
	struct dkim_verdict v;

	(void)state;
	expect_pass("testing", "testing", "rsa-sha256");
	verify_file("testing", reporter, 1, NOW, &v);
	assert_int_equal(v.sig[0].key_testing, 1);
	verify_file("rsa_relaxed", reporter, 1, NOW, &v);
	assert_int_equal(v.sig[0].key_testing, 0);
}

/* Bare LF line ends count as CRLF: the same messages pass with LF only. */
static void
test_lf_line_ends(void **state)
{
	static const char *const names[] = { "rsa_relaxed", "rsa_simple", "ed25519",
		"ed25519_simple", "two_sigs" };
	struct dkim_verdict v;
	size_t i, j, o, len;
	char *msg, *lf;

	(void)state;
	keys_normal();
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		msg = fixture(names[i], &len);
		lf = malloc(len + 1);
		assert_non_null(lf);
		for (j = o = 0; j < len; j++) {
			if (!(msg[j] == '\r' && j + 1 < len && msg[j + 1] == '\n'))
				lf[o++] = msg[j];
		}
		assert_true(o < len);
		verify(lf, o, reporter, 1, NOW, &v);
		expect(&v, DKIM_PASS, NULL);
		verify(msg, len, reporter, 1, NOW, &v);
		expect(&v, DKIM_PASS, NULL);
		free(lf);
		free(msg);
	}
}

/* An mbox "From " line before the message is not part of it. */
static void
test_mbox_line(void **state)
{
	static const char line[] = "From noreply@reporter.example Thu Jan  1 00:00:00 2026\n";
	struct dkim_verdict v;
	size_t len;
	char *msg = fixture("rsa_simple", &len), *m2 = malloc(len + sizeof(line));

	(void)state;
	keys_normal();
	assert_non_null(m2);
	memcpy(m2, line, sizeof(line) - 1);
	memcpy(m2 + sizeof(line) - 1, msg, len);
	verify(m2, len + sizeof(line) - 1, reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	free(m2);
	free(msg);
}

/*
 * The RFC 8463 example message (an Ed25519 and an RSA signature, c=simple/simple, over-signed
 * From, Subject and Date, LF line ends) as dkimpy's own test suite ships it, signed by other
 * hands than make_fixtures.py: used where python3-dkim is installed, skipped elsewhere.
 */
#define DKIMPY_DATA "/usr/lib/python3/dist-packages/dkim/tests/data/"

static void
test_rfc8463_example(void **state)
{
	static const char *const football[] = { "football.example.com" };
	struct dkim_verdict v;
	char ed[] = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
	char *msg, *rsa, *nl, *alt;
	size_t len, rlen, alen;
	FILE *f;

	(void)state;
	if ((f = fopen(DKIMPY_DATA "rfc6376.signed.msg", "rb")) == NULL ||
	    fclose(f) != 0) {
		skip();
		return;
	}
	msg = slurp(DKIMPY_DATA "rfc6376.signed.msg", &len);
	rsa = slurp(DKIMPY_DATA "test.txt", &rlen);
	if ((nl = strchr(rsa, '\n')) != NULL)
		*nl = '\0';
	keys_normal();
	K.record = ed; /* the Ed25519 signature comes first: only it is checked with this key */
	verify(msg, len, football, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	assert_int_equal(v.best, 0);
	assert_string_equal(v.sig[0].selector, "brisbane");
	assert_string_equal(v.sig[0].algorithm, "ed25519-sha256");
	assert_int_equal(v.sig[1].status, DKIM_FAIL); /* an ed25519 key for the rsa one */
	K.record = rsa;
	verify(msg, len, football, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	assert_int_equal(v.best, 1);
	assert_string_equal(v.sig[1].selector, "test");
	/* the over-signed Subject: a second one breaks both */
	alt = replace(msg, len, "Subject:", "Subject: Dinner is off\nSubject:", &alen);
	K.record = ed;
	verify(alt, alen, football, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "signature did not verify (d=football.example.com s=brisbane)");
	K.record = rsa;
	verify(alt, alen, football, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "signature did not verify (d=football.example.com s=test)");
	keys_normal();
	free(alt);
	free(rsa);
	free(msg);
}

/* ---------------------------------------------------------------- alterations */

static void
test_two_signatures_one_broken(void **state)
{
	struct dkim_verdict v;

	(void)state;
	keys_normal();
	verify_file("two_sigs", reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	assert_int_equal(v.n_sigs, 2);
	assert_int_equal(v.sig[0].status, DKIM_FAIL);
	assert_string_equal(v.sig[0].reason, "signature did not verify");
	assert_string_equal(v.sig[0].selector, "rsa2048");
	assert_int_equal(v.sig[1].status, DKIM_PASS);
	assert_string_equal(v.sig[1].selector, "ed25519");
	assert_int_equal(v.best, 1);

	/* the good one made unaligned: the verdict is about it (it verified) */
	verify_file("two_sigs", (const char *const[]){ "other.example" }, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "dkim: d=reporter.example is not aligned with the report "
	    "(d=reporter.example s=ed25519)");
	assert_int_equal(v.best, 1);
}

static void
test_tampered_header(void **state)
{
	static const char *const names[] = { "rsa_relaxed", "rsa_simple", "ed25519",
		"ed25519_simple" };
	struct dkim_verdict v;
	size_t i;

	(void)state;
	keys_normal();
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		verify_altered(names[i], "Subject: Report Domain", "Subject: Report Dimain",
		    reporter, 1, NOW, &v);
		expect(&v, DKIM_FAIL, "dkim: signature did not verify (d=reporter.example s=");
		assert_int_equal(v.sig[0].status, DKIM_FAIL);
	}
	/* relaxed: blanks changed inside a field still verify, simple does not */
	verify_altered("rsa_relaxed", "X-Mixed:\ttabbed   and", "X-Mixed: tabbed and", reporter, 1,
	    NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	verify_altered("rsa_simple", "X-Mixed:\ttabbed   and", "X-Mixed: tabbed and", reporter, 1,
	    NOW, &v);
	expect(&v, DKIM_FAIL, "signature did not verify");
	/* relaxed: the name's case does not matter, the Subject refolded neither */
	verify_altered("rsa_relaxed", "Subject: Report Domain: recipient.example\r\n Submitter",
	    "SUBJECT :  Report Domain: recipient.example\r\n\t\r\n  Submitter", reporter, 1,
	    NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	/* a field that is not signed may change */
	verify_altered("rsa_simple", "Return-Path: <noreply", "Return-Path: <other", reporter, 1,
	    NOW, &v);
	expect(&v, DKIM_PASS, NULL);
}

static void
test_tampered_body(void **state)
{
	static const char *const names[] = { "rsa_relaxed", "rsa_simple", "ed25519",
		"ed25519_simple" };
	struct dkim_verdict v;
	size_t i;

	(void)state;
	keys_normal();
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		verify_altered(names[i], "\"total-failure-session-count\":1",
		    "\"total-failure-session-count\":0", reporter, 1, NOW, &v);
		expect(&v, DKIM_FAIL, "dkim: body hash mismatch (d=reporter.example s=");
		assert_int_equal(K.calls, 0); /* the body is checked before the key is fetched */
	}
	/* relaxed body: blank runs and trailing blanks do not matter, for simple they do */
	verify_altered("rsa_relaxed", "It has  runs   of\tblanks", "It has runs of blanks",
	    reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	verify_altered("ed25519_simple", "It has  runs   of\tblanks", "It has runs of blanks",
	    reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL); /* c=simple/relaxed */
	verify_altered("rsa_simple", "It has  runs   of\tblanks", "It has runs of blanks",
	    reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "body hash mismatch");
	/* trailing empty lines never matter */
	verify_altered("rsa_simple", "--=_tlsrpt_1--\r\n", "--=_tlsrpt_1--\r\n\r\n\r\n\r\n",
	    reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	verify_altered("rsa_relaxed", "--=_tlsrpt_1--\r\n", "--=_tlsrpt_1--   \r\n \t\r\n",
	    reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
}

static void
test_length_tag(void **state)
{
	struct dkim_verdict v;
	size_t len, alen;
	char *msg, *cut;

	(void)state;
	keys_normal();
	verify_file("length", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "dkim: l= present: not valid for reports (d=reporter.example "
	    "s=rsa2048)");
	assert_int_equal(v.sig[0].status, DKIM_PASS); /* verified (the footer is past l=) */
	assert_int_equal(v.sig[0].has_l, 1);
	assert_int_equal(v.sig[0].counts, 0);
	assert_int_equal(v.sig[0].aligned, 1);
	/* inside l=: checked */
	verify_altered("length", "\"total-failure-session-count\":1",
	    "\"total-failure-session-count\":0", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "body hash mismatch");
	/* past l=: not */
	verify_altered("length", "A footer added", "A footer changed", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "l= present");
	assert_int_equal(v.sig[0].status, DKIM_PASS);
	/* the body cut short of l= */
	msg = fixture("length", &len);
	cut = replace(msg, len, "--=_tlsrpt_1--", "", &alen);
	alen = (size_t)(strstr(cut, "\"report-id\"") - cut);
	verify(cut, alen, reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "l= beyond the body");
	free(cut);
	free(msg);
}

static void
test_oversigned_from(void **state)
{
	struct dkim_verdict v;

	(void)state;
	keys_normal();
	verify_file("oversigned", reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	/* a second From, above or below the signed one: signed as absent, so it fails */
	verify_altered("oversigned", "Return-Path:",
	    "From: <noreply@attacker.example>\r\nReturn-Path:", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "signature did not verify");
	verify_altered("oversigned", "To: tlsrpt@",
	    "From: <noreply@attacker.example>\r\nTo: tlsrpt@", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "signature did not verify");
	/* without over-signing, a From added above the signed (bottom) one goes unnoticed */
	verify_altered("rsa_relaxed", "Return-Path:",
	    "From: <noreply@attacker.example>\r\nReturn-Path:", reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	/* ...but one added below it is the one h= picks */
	verify_altered("rsa_relaxed", "To: tlsrpt@",
	    "From: <noreply@attacker.example>\r\nTo: tlsrpt@", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "signature did not verify");
}

/* ---------------------------------------------------------------- time */

static void
test_expired(void **state)
{
	struct dkim_verdict v;

	(void)state;
	keys_normal();
	verify_file("expired", reporter, 1, T0, &v);
	expect(&v, DKIM_PASS, NULL);
	verify_file("expired", reporter, 1, X_EXPIRE + DKIM_CLOCK_SKEW, &v);
	expect(&v, DKIM_PASS, NULL);
	verify_file("expired", reporter, 1, X_EXPIRE + DKIM_CLOCK_SKEW + 1, &v);
	expect(&v, DKIM_FAIL, "dkim: signature expired (x=1767229200) (d=reporter.example "
	    "s=rsa2048)");
	assert_int_equal(K.calls, 2); /* no lookup for the expired one */
	/* without x=, any later time is fine */
	verify_file("rsa_relaxed", reporter, 1, T0 + 10 * 365 * 86400LL, &v);
	expect(&v, DKIM_PASS, NULL);
}

static void
test_future_timestamp(void **state)
{
	struct dkim_verdict v;

	(void)state;
	keys_normal();
	verify_file("rsa_relaxed", reporter, 1, T0 - DKIM_CLOCK_SKEW, &v);
	expect(&v, DKIM_PASS, NULL);
	verify_file("rsa_relaxed", reporter, 1, T0 - DKIM_CLOCK_SKEW - 1, &v);
	expect(&v, DKIM_FAIL, "signature timestamp in the future (t=1767225600)");
	/* x= before t= */
	verify_altered("expired", "x=1767229200", "x=1767225599", reporter, 1, T0, &v);
	expect(&v, DKIM_FAIL, "malformed signature: x= is before t=");
}

/* ---------------------------------------------------------------- keys */

static void
test_key_problems(void **state)
{
	struct dkim_verdict v;

	(void)state;
	keys_normal();
	verify_file("revoked", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "dkim: key revoked (d=reporter.example s=revoked)");
	verify_file("rsa512", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "RSA key of 512 bits is not acceptable");
	verify_file("strict", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "key is strict (t=s) but i= is in mail.reporter.example");
	verify_file("hsha1", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "key does not allow sha256 (h=sha1)");
	verify_file("ktype", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "key type k=ed25519 does not match a=rsa-sha256");
	/* an rsa key for an ed25519 signature */
	verify_altered("ed25519", "s=ed25519;", "s=rsa2048;", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "key type k=rsa does not match a=ed25519-sha256");
}

static void
test_key_lookup(void **state)
{
	struct dkim_verdict v;

	(void)state;
	keys_normal();
	K.force = DKIM_KEY_TEMP;
	verify_file("rsa_relaxed", reporter, 1, NOW, &v);
	expect(&v, DKIM_TEMPERROR, "dkim: key lookup failed: forced failure (d=reporter.example "
	    "s=rsa2048)");
	assert_int_equal(v.sig[0].status, DKIM_TEMPERROR);
	assert_string_equal(K.last, "rsa2048._domainkey.reporter.example");
	/* a body that does not match is permanent whatever the key */
	verify_altered("rsa_relaxed", "\"total-failure-session-count\":1",
	    "\"total-failure-session-count\":0", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "body hash mismatch");
	/* one permanent failure and one temporary one: worth retrying */
	verify_altered("two_sigs", "a=rsa-sha256", "a=rsa-sha1", reporter, 1, NOW, &v);
	expect(&v, DKIM_TEMPERROR, "key lookup failed: forced failure (d=reporter.example "
	    "s=ed25519)");
	assert_int_equal(v.sig[0].status, DKIM_FAIL);
	assert_int_equal(v.best, 1);
	K.force = DKIM_KEY_NONE;
	verify_file("rsa_relaxed", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "dkim: no key for rsa2048._domainkey.reporter.example "
	    "(d=reporter.example s=rsa2048)");
	/* a selector keys.txt does not know */
	keys_normal();
	verify_altered("rsa_relaxed", "s=rsa2048;", "s=Nokey;", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "no key for nokey._domainkey.reporter.example");
	keys_normal();
}

/* Key records served as given: each defect with its reason. */
static void
test_key_records(void **state)
{
	static const struct {
		const char *prefix;   /* before "p=<the rsa2048 key>" */
		const char *suffix;
		const char *reason;   /* NULL: passes */
	} cases[] = {
		{ "", "", NULL },
		{ "v=DKIM1; ", "", NULL },
		{ "v=DKIM1; k=RSA; h=sha1:sha256; s=email:*; t=y:s; n=note; z=1; ", " ;", NULL },
		{ "v=DKIM2; ", "", "key record v=DKIM2 is not DKIM1" },
		{ "k=rsa; v=DKIM1; ", "", "malformed key record: v= is not first" },
		{ "k=rsa; k=rsa; ", "", "malformed key record: tag k appears twice" },
		{ "k=dsa; ", "", "unsupported key type k=dsa" },
		{ "s=tlsrpt:other; ", "", NULL },
		{ "s=mail; ", "", "key not for email or tlsrpt (s=mail)" },
		{ "v=DKIM1;; ", "", "malformed key record" },
		{ "", "!", "malformed key record: p= is not base64" },
		{ "", "AAAA", "key p= is not an RSA public key" },
	};
	struct dkim_verdict v;
	char *rec = record_of("rsa2048"), *p = strstr(rec, "p="), buf[DKIM_KEY_TXT_MAX];
	size_t i;

	(void)state;
	assert_non_null(p);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		keys_normal();
		snprintf(buf, sizeof(buf), "%s%s%s", cases[i].prefix, p, cases[i].suffix);
		K.record = buf;
		verify_file("rsa_relaxed", reporter, 1, NOW, &v);
		if (cases[i].reason == NULL) {
			expect(&v, DKIM_PASS, NULL);
		} else {
			expect(&v, DKIM_FAIL, cases[i].reason);
			assert_int_equal(v.sig[0].status, DKIM_FAIL);
		}
	}
	keys_normal();
	K.record = "v=DKIM1; p";
	verify_file("rsa_relaxed", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "dkim: malformed key record (");
	K.record = "v=DKIM1; k=ed25519; p=AAAA";
	verify_file("ed25519", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "ed25519 key of 3 bytes, not 32");
	keys_normal();
	free(rec);
}

/* ---------------------------------------------------------------- signature tags */

static void
test_signature_tags(void **state)
{
	static const struct {
		const char *from, *to;
		const char *reason;
	} cases[] = {
		{ "v=1;", "v=2;", "malformed signature: v=2 is not 1" },
		{ "v=1;", "V=1;", "malformed signature: v= missing" },
		{ "v=1;", "v=1; s=rsa2048;", "malformed signature: tag s appears twice" },
		{ "v=1;", "v=1; ; ", "malformed signature: bad tag list" },
		{ "v=1;", "v=1; 1x=2;", "malformed signature: bad tag list" },
		{ "a=rsa-sha256", "a=rsa-sha512", "unsupported algorithm a=rsa-sha512" },
		{ "a=rsa-sha256", "a=RSA-SHA1", "rsa-sha1 is not acceptable" },
		{ "c=relaxed/relaxed", "c=relaxed/fancy", "malformed signature: c=relaxed/fancy" },
		{ "d=reporter.example", "d=reporter..example", "malformed signature: d=" },
		{ "i=@reporter.example", "i=@other.example",
		    "malformed signature: i=@other.example is not within d=" },
		{ "i=@reporter.example", "i=reporter.example", "malformed signature: i= has no @" },
		{ "q=dns/txt", "q=http/well-known", "unsupported query method q=http/well-known" },
		{ "t=1767225600", "t=17672256OO", "malformed signature: t= is not a number" },
		{ "h=from :", "h=date :", "From is not signed" },
		{ "h=from :", "h=from ::", "malformed signature: h= is not a list of field names" },
		{ "bh=", "bh=AAAA", "malformed signature: bh= is not a base64 SHA-256 hash" },
		{ "bh=", "x=1; bh=", "malformed signature: x= is before t=" },
		{ "bh=", "l=12x; bh=", "malformed signature: l= is not a number" },
		{ " b=", " b=!", "malformed signature: b= is not base64 or too long" },
		/* accepted, but then the signature no longer verifies */
		{ "q=dns/txt", "q=other:DNS/TXT", "signature did not verify" },
		{ "i=@reporter.example", "i=noreply@mail.reporter.example",
		    "signature did not verify" },
		{ "v=1;", "v=1; zz=unknown tag;", "signature did not verify" },
	};
	struct dkim_verdict v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		keys_normal();
		verify_altered("rsa_relaxed", cases[i].from, cases[i].to, reporter, 1, NOW, &v);
		expect(&v, DKIM_FAIL, cases[i].reason);
	}
	/* what names the signature is kept even when it is malformed */
	verify_altered("rsa_relaxed", "v=1;", "v=2;", reporter, 1, NOW, &v);
	assert_string_equal(v.sig[0].domain, "reporter.example");
	assert_string_equal(v.sig[0].selector, "rsa2048");
	assert_string_equal(v.sig[0].algorithm, "rsa-sha256");
	assert_int_equal(v.sig[0].aligned, 1);
	verify_altered("rsa_sha1", "a=rsa-sha1", "a=RSA-SHA1", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "dkim: rsa-sha1 is not acceptable (d=reporter.example s=rsa2048)");
	assert_string_equal(v.sig[0].algorithm, "rsa-sha1");
}

static void
test_rsa_sha1(void **state)
{
	struct dkim_verdict v;

	(void)state;
	keys_normal();
	verify_file("rsa_sha1", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "dkim: rsa-sha1 is not acceptable (d=reporter.example s=rsa2048)");
	assert_string_equal(v.sig[0].algorithm, "rsa-sha1");
	assert_int_equal(K.calls, 0);
}

/* ---------------------------------------------------------------- alignment */

static void
test_alignment(void **state)
{
	struct dkim_verdict v;

	(void)state;
	keys_normal();
	verify_file("rsa_relaxed", (const char *const[]){ "other.example" }, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "dkim: d=reporter.example is not aligned with the report "
	    "(d=reporter.example s=rsa2048)");
	assert_int_equal(v.sig[0].status, DKIM_PASS);
	assert_int_equal(v.sig[0].aligned, 0);
	assert_int_equal(v.sig[0].counts, 0);
	verify_file("rsa_relaxed", NULL, 0, NOW, &v);
	expect(&v, DKIM_FAIL, "is not aligned with the report");
	verify_file("rsa_relaxed", (const char *const[]){ "mail.reporter.example" }, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	verify_file("rsa_relaxed", (const char *const[]){ "other.example", "reporter.example" }, 2,
	    NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	verify_file("rsa_relaxed", (const char *const[]){ "xreporter.example" }, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "not aligned");
	verify_file("rsa_relaxed", (const char *const[]){ "example" }, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "not aligned");
}

static void
test_dkim_aligned(void **state)
{
	(void)state;
	assert_int_equal(dkim_aligned("example.com", "example.com"), 1);
	assert_int_equal(dkim_aligned("example.com", "mail.example.com"), 1);
	assert_int_equal(dkim_aligned("example.com", "a.b.example.com"), 1);
	assert_int_equal(dkim_aligned("example.com", "EXAMPLE.COM"), 1);
	assert_int_equal(dkim_aligned("mail.example.com", "example.com"), 0);
	assert_int_equal(dkim_aligned("example.com", "badexample.com"), 0);
	assert_int_equal(dkim_aligned("example.com", "example.com.evil"), 0);
	assert_int_equal(dkim_aligned("example.com", "example.net"), 0);
	assert_int_equal(dkim_aligned("com", "example.com"), 0);
	assert_int_equal(dkim_aligned("com", "com"), 0);
	assert_int_equal(dkim_aligned(".com", "example.com"), 0);
	assert_int_equal(dkim_aligned("example.com.", "example.com"), 0);
	assert_int_equal(dkim_aligned("", "example.com"), 0);
	assert_int_equal(dkim_aligned("example.com", ""), 0);
	assert_int_equal(dkim_aligned(NULL, "example.com"), 0);
	assert_int_equal(dkim_aligned("example.com", NULL), 0);
}

/* ---------------------------------------------------------------- the message */

static void
test_no_signature(void **state)
{
	struct dkim_verdict v;

	(void)state;
	keys_normal();
	verify_file("unsigned", reporter, 1, NOW, &v);
	expect(&v, DKIM_NONE, NULL);
	assert_string_equal(v.reason, "dkim: no signature");
	assert_int_equal(v.n_ignored, 0);
	verify("", 0, reporter, 1, NOW, &v);
	expect(&v, DKIM_NONE, "no signature");
	assert_int_equal(dkim_verify(NULL, 0, NULL, 0, NOW, test_keys, &K, &v), 0);
	expect(&v, DKIM_NONE, "no signature");
	/* a DKIM-Signature in the body is no signature */
	verify_altered("unsigned", "This is a multipart", "DKIM-Signature: v=1\r\n", reporter, 1,
	    NOW, &v);
	expect(&v, DKIM_NONE, NULL);
	assert_int_equal(K.calls, 0);
}

/* More DKIM-Signature fields than DKIM_SIGS_MAX: the first ones are examined. */
static void
test_many_signatures(void **state)
{
	struct dkim_verdict v;
	size_t len, slen, i, n = DKIM_SIGS_MAX + 2;
	char *msg = fixture("rsa_relaxed", &len), *end = strstr(msg, "Return-Path:"), *m, *alt;

	(void)state;
	keys_normal();
	assert_non_null(end);
	slen = (size_t)(end - msg); /* the signature field */
	m = malloc(slen * n + len + 1);
	assert_non_null(m);
	for (i = 0; i < n - 1; i++)
		memcpy(m + i * slen, msg, slen);
	memcpy(m + (n - 1) * slen, msg, len);
	verify(m, slen * (n - 1) + len, reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	assert_int_equal(v.n_sigs, DKIM_SIGS_MAX);
	assert_int_equal(v.n_ignored, 2);
	m[slen * (n - 1) + len] = '\0';
	alt = replace(m, slen * (n - 1) + len, "\"total-failure-session-count\":1",
	    "\"total-failure-session-count\":0", &len);
	verify(alt, len, reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "body hash mismatch");
	assert_non_null(strstr(v.reason, "more signatures not examined"));
	assert_int_equal(v.best, 0);
	free(alt);
	free(m);
	free(msg);
}

/* A header section of more than DKIM_HEADER_FIELDS_MAX fields is refused. */
static void
test_too_many_fields(void **state)
{
	struct dkim_verdict v;
	size_t len, i, o;
	char *msg = fixture("rsa_relaxed", &len), *end = strstr(msg, "Return-Path:"), *m;
	size_t pad = DKIM_HEADER_FIELDS_MAX * 16;

	(void)state;
	keys_normal();
	m = malloc(len + pad + 1);
	assert_non_null(m);
	o = (size_t)(end - msg);
	memcpy(m, msg, o);
	for (i = 0; i < DKIM_HEADER_FIELDS_MAX; i++)
		o += (size_t)sprintf(m + o, "X-Pad: %06zu\r\n", i);
	memcpy(m + o, end, len - (size_t)(end - msg));
	o += len - (size_t)(end - msg);
	verify(m, o, reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "dkim: more than 1000 header fields (d=reporter.example s=rsa2048)");
	free(m);
	free(msg);
}

/* ---------------------------------------------------------------- dkim_tags_parse */

struct collect {
	char out[512];
	int stop_at;              /* >0: return non-zero at that tag */
	int n;
};

static int
collect_tag(void *arg, const char *tag, size_t taglen, const char *val, size_t vallen)
{
	struct collect *c = arg;
	size_t o = strlen(c->out);

	c->n++;
	snprintf(c->out + o, sizeof(c->out) - o, "%.*s=[%.*s]", (int)taglen, tag, (int)vallen, val);
	return c->n == c->stop_at ? 1 : 0;
}

static void
test_tags_parse(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *out;
	} cases[] = {
		{ "a=1", 0, "a=[1]" },
		{ "a=1;", 0, "a=[1]" },
		{ " a = 1 ; b=2 ; ", 0, "a=[1]b=[2]" },
		{ "a=", 0, "a=[]" },
		{ "a=;b=", 0, "a=[]b=[]" },
		{ "a=b c\td", 0, "a=[b c\td]" },
		{ "a=1;\r\n b=2", 0, "a=[1]b=[2]" },
		{ "a=x\r\n\ty\r\n ;b=2", 0, "a=[x\r\n\ty]b=[2]" },
		{ "tag_1X=a=b", 0, "tag_1X=[a=b]" },
		{ "p=AB+/==", 0, "p=[AB+/==]" },
		{ "a\r\n =\r\n 1", 0, "a=[1]" },
		{ "", -1, "" },
		{ "  ", -1, "" },
		{ ";", -1, "" },
		{ "a", -1, "" },
		{ "=1", -1, "" },
		{ "1a=2", -1, "" },
		{ "_a=2", -1, "" },
		{ "a-b=2", -1, "" },
		{ "a b=1", -1, "" },
		{ "a=1;;b=2", -1, "a=[1]" },
		{ "a=1\r\nb=2", -1, "" },
		{ "a=1\n b=2", -1, "" },
		{ "a=1\r b=2", -1, "" },
		{ "a=1\r\n", -1, "" },
		{ "a=\x80", -1, "" },
		{ "a=\x01", -1, "" },
		{ "a=1; \x7f=2", -1, "a=[1]" },
	};
	struct collect c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&c, 0, sizeof(c));
		if (dkim_tags_parse(cases[i].in, strlen(cases[i].in), collect_tag, &c) != cases[i].rc)
			fail_msg("case %zu \"%s\": rc", i, cases[i].in);
		if (cases[i].rc == 0 && strcmp(c.out, cases[i].out) != 0)
			fail_msg("case %zu: got %s", i, c.out);
	}
	/* a NUL inside is a bad byte, the length rules */
	assert_int_equal(dkim_tags_parse("a=1\0b", 5, NULL, NULL), -1);
	assert_int_equal(dkim_tags_parse("a=1\0b", 3, NULL, NULL), 0);
	assert_int_equal(dkim_tags_parse(NULL, 0, NULL, NULL), -1);
	/* the callback stops the walk */
	memset(&c, 0, sizeof(c));
	c.stop_at = 2;
	assert_int_equal(dkim_tags_parse("a=1; b=2; c=3", 13, collect_tag, &c), -1);
	assert_string_equal(c.out, "a=[1]b=[2]");
}

static void
test_status_names(void **state)
{
	(void)state;
	assert_string_equal(dkim_status_name(DKIM_NONE), "none");
	assert_string_equal(dkim_status_name(DKIM_PASS), "pass");
	assert_string_equal(dkim_status_name(DKIM_FAIL), "fail");
	assert_string_equal(dkim_status_name(DKIM_TEMPERROR), "temperror");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pass_rsa),
		cmocka_unit_test(test_pass_ed25519),
		cmocka_unit_test(test_pass_service_types),
		cmocka_unit_test(test_key_testing),
		cmocka_unit_test(test_lf_line_ends),
		cmocka_unit_test(test_mbox_line),
		cmocka_unit_test(test_rfc8463_example),
		cmocka_unit_test(test_two_signatures_one_broken),
		cmocka_unit_test(test_tampered_header),
		cmocka_unit_test(test_tampered_body),
		cmocka_unit_test(test_length_tag),
		cmocka_unit_test(test_oversigned_from),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_future_timestamp),
		cmocka_unit_test(test_key_problems),
		cmocka_unit_test(test_key_lookup),
		cmocka_unit_test(test_key_records),
		cmocka_unit_test(test_signature_tags),
		cmocka_unit_test(test_rsa_sha1),
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_dkim_aligned),
		cmocka_unit_test(test_no_signature),
		cmocka_unit_test(test_many_signatures),
		cmocka_unit_test(test_too_many_fields),
		cmocka_unit_test(test_tags_parse),
		cmocka_unit_test(test_status_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
