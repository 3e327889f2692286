/*
 * Unit tests for ingest/dkim: messages signed by dkimpy (the .eml files of tests/data/dkim, written by
 * tests/data/dkim/make_fixtures.py with the test-only keys in tests/data/dkim/keys) verified
 * against the key records of tests/data/dkim/keys.txt, served by a callback local to this
 * file (ingest/dkim_keys.c is not involved). Messages are also altered in memory (a header,
 * the body, the line ends, the signature's tags) to see each failure with its reason; plus
 * dkim_tags_parse() and dkim_aligned() on their own. Messages with several signatures are put
 * together from the fixtures' DKIM-Signature fields (all sign the same message, unsigned.eml).
 * The callback fails the test when one message asks for the same key twice or asks for any
 * after a DKIM_KEY_TEMP answer (dkim.h's cost bound).
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
#include "testutil.h"

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
	int calls;                /* since keys_normal() */
	char last[300];           /* the last name asked for */
	/* per dkim_verify() call (reset by verify()) */
	char asked[DKIM_SIGS_MAX][300];
	int nasked;
	int temp_answered;
};

static struct keys K;

static const char *const reporter[] = { "reporter.example" };

static char *
fixture(const char *name, size_t *len)
{
	char path[512];

	snprintf(path, sizeof(path), DATA "%s.eml", name);
	return tu_slurp(path, len);
}

/*
 * A dkim_key_fn over keys.txt ("name record" lines) or K.force / K.record; a selector
 * starting "temp" answers DKIM_KEY_TEMP.
 */
static enum dkim_key_rc
test_keys(void *arg, const char *selector, const char *domain, char *txt, size_t cap, char *err,
    size_t errlen)
{
	struct keys *k = arg;
	const char *p = k->text, *end = k->text + k->len, *nl, *sp;
	size_t n;

	k->calls++;
	snprintf(k->last, sizeof(k->last), "%s._domainkey.%s", selector, domain);
	if (k->temp_answered)
		fail_msg("%s asked for after a DKIM_KEY_TEMP answer", k->last);
	for (n = 0; n < (size_t)k->nasked; n++) {
		if (strcmp(k->asked[n], k->last) == 0)
			fail_msg("%s asked for twice", k->last);
	}
	if (k->nasked == DKIM_SIGS_MAX)
		fail_msg("more than %d lookups", DKIM_SIGS_MAX);
	memcpy(k->asked[k->nasked++], k->last, sizeof(k->last));
	if (k->force == DKIM_KEY_OK && strncmp(selector, "temp", 4) == 0) {
		snprintf(err, errlen, "timed out");
		k->temp_answered = 1;
		return DKIM_KEY_TEMP;
	}
	if (k->force != DKIM_KEY_OK) {
		snprintf(err, errlen, "forced failure");
		k->temp_answered = k->force == DKIM_KEY_TEMP;
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
	k.nasked = 0;
	k.temp_answered = 0;
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
	K.text = tu_slurp(path, &K.len);
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
	size_t i, npass = 0;

	K.nasked = 0;
	K.temp_answered = 0;
	assert_int_equal(dkim_verify(msg, len, al, nal, now, test_keys, &K, v), 0);
	/* invariants of every verdict */
	assert_true(v->n_sigs <= DKIM_SIGS_MAX);
	assert_true(strlen(v->reason) < sizeof(v->reason));
	assert_true(v->body_offset <= len);
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

		assert_int_equal(s->counts, s->status == DKIM_PASS);
		if (s->counts) {
			assert_true(s->aligned && !s->has_l);
			npass++;
		}
		assert_true(s->counts ? s->reason[0] == '\0' : s->reason[0] != '\0');
	}
	assert_true(npass <= 1); /* verification stops at the first that passes */
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

/* The DKIM-Signature field (with its CRLF) of fixture name, from replaced by to if given. */
static char *
sig_of(const char *name, const char *from, const char *to)
{
	size_t len, alen;
	char *msg = fixture(name, &len), *end = strstr(msg, "Return-Path:"), *alt;

	assert_non_null(end);
	*end = '\0';
	len = (size_t)(end - msg);
	if (from == NULL)
		return msg;
	alt = replace(msg, len, from, to, &alen);
	free(msg);
	return alt;
}

/* sig with one character of its b= value changed: it no longer verifies. */
static char *
broken(char *sig)
{
	char *b = strstr(sig, " b=");

	assert_non_null(b);
	assert_true(strlen(b) > 24);
	b[20] = b[20] == 'A' ? 'B' : 'A';
	return sig;
}

/*
 * unsigned.eml (the message every fixture signs) below the NULL-terminated list of fields
 * given (each freed), into *len.
 */
static char *
with_fields(size_t *len, ...)
{
	va_list ap;
	size_t blen, o = 0;
	char *body = fixture("unsigned", &blen), *m, *f;

	va_start(ap, len);
	while ((f = va_arg(ap, char *)) != NULL)
		o += strlen(f);
	va_end(ap);
	m = malloc(o + blen + 1);
	assert_non_null(m);
	o = 0;
	va_start(ap, len);
	while ((f = va_arg(ap, char *)) != NULL) {
		memcpy(m + o, f, strlen(f));
		o += strlen(f);
		free(f);
	}
	va_end(ap);
	memcpy(m + o, body, blen);
	*len = o + blen;
	m[*len] = '\0';
	free(body);
	return m;
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
	msg = tu_slurp(DKIMPY_DATA "rfc6376.signed.msg", &len);
	rsa = tu_slurp(DKIMPY_DATA "test.txt", &rlen);
	if ((nl = strchr(rsa, '\n')) != NULL)
		*nl = '\0';
	keys_normal();
	K.record = ed; /* the Ed25519 signature comes first: it passes, the rsa one is skipped */
	verify(msg, len, football, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	assert_int_equal(v.best, 0);
	assert_string_equal(v.sig[0].selector, "brisbane");
	assert_string_equal(v.sig[0].algorithm, "ed25519-sha256");
	assert_int_equal(v.sig[1].status, DKIM_FAIL);
	assert_string_equal(v.sig[1].reason, "not examined: an earlier signature passed");
	assert_int_equal(K.calls, 1);
	K.record = rsa; /* an rsa key for the ed25519 one: it fails, the rsa one passes */
	verify(msg, len, football, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	assert_int_equal(v.best, 1);
	assert_string_equal(v.sig[1].selector, "test");
	assert_string_equal(v.sig[0].reason, "key type k=rsa does not match a=ed25519-sha256");
	assert_int_equal(K.calls, 3);
	/* a second Subject (over-signed or not): ambiguous, nothing is looked up */
	alt = replace(msg, len, "Subject:", "Subject: Dinner is off\nSubject:", &alen);
	K.record = ed;
	verify(alt, alen, football, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "dkim: header field Subject appears twice: ambiguous "
	    "(d=football.example.com s=brisbane)");
	assert_int_equal(v.sig[1].status, DKIM_FAIL);
	assert_string_equal(v.sig[1].reason, "header field Subject appears twice: ambiguous");
	assert_int_equal(K.calls, 3);
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
	assert_int_equal(K.calls, 2);

	/* both unaligned: neither is looked up, the verdict is about the first */
	keys_normal();
	verify_file("two_sigs", (const char *const[]){ "other.example" }, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "dkim: d=reporter.example is not aligned with the report "
	    "(d=reporter.example s=rsa2048)");
	assert_int_equal(v.best, 0);
	assert_int_equal(v.sig[1].status, DKIM_FAIL);
	assert_string_equal(v.sig[1].reason, "d=reporter.example is not aligned with the report");
	assert_int_equal(K.calls, 0);
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

/* l= never counts: such a signature fails unverified, without a key lookup. */
static void
test_length_tag(void **state)
{
	struct dkim_verdict v;

	(void)state;
	keys_normal();
	verify_file("length", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "dkim: l= present: not valid for reports (d=reporter.example "
	    "s=rsa2048)");
	assert_int_equal(v.sig[0].status, DKIM_FAIL);
	assert_int_equal(v.sig[0].has_l, 1);
	assert_int_equal(v.sig[0].counts, 0);
	assert_int_equal(v.sig[0].aligned, 1);
	assert_int_equal(K.calls, 0);
	/* not verified: a body altered inside l= says the same */
	verify_altered("length", "\"total-failure-session-count\":1",
	    "\"total-failure-session-count\":0", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "l= present: not valid for reports");
	/* unaligned as well: l= is named */
	verify_file("length", (const char *const[]){ "other.example" }, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "l= present: not valid for reports");
	assert_int_equal(v.sig[0].aligned, 0);
	assert_int_equal(K.calls, 0);
	/* an l= that is no number is a malformed signature first */
	verify_altered("rsa_relaxed", "bh=", "l=12x; bh=", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "malformed signature: l= is not a number");
	assert_int_equal(v.sig[0].has_l, 1);
	assert_int_equal(K.calls, 0);
}

static void
test_oversigned_from(void **state)
{
	struct dkim_verdict v;

	(void)state;
	keys_normal();
	verify_file("oversigned", reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	/*
	 * A second From, above or below the signed one, over-signed or not: ambiguous (before,
	 * one added above a From signed without over-signing went unnoticed).
	 */
	verify_altered("oversigned", "Return-Path:",
	    "From: <noreply@attacker.example>\r\nReturn-Path:", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "header field From appears twice: ambiguous");
	verify_altered("oversigned", "To: tlsrpt@",
	    "From: <noreply@attacker.example>\r\nTo: tlsrpt@", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "header field From appears twice: ambiguous");
	verify_altered("rsa_relaxed", "Return-Path:",
	    "From: <noreply@attacker.example>\r\nReturn-Path:", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "header field From appears twice: ambiguous");
	verify_altered("rsa_relaxed", "To: tlsrpt@",
	    "From: <noreply@attacker.example>\r\nTo: tlsrpt@", reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "header field From appears twice: ambiguous");
	assert_int_equal(K.calls, 1);
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
	assert_int_equal(v.sig[0].status, DKIM_FAIL); /* not verified */
	assert_int_equal(v.sig[0].aligned, 0);
	assert_int_equal(v.sig[0].counts, 0);
	assert_int_equal(v.sig[0].has_l, 0);
	verify_file("rsa_relaxed", NULL, 0, NOW, &v);
	expect(&v, DKIM_FAIL, "is not aligned with the report");
	/* not looked up: even a body altered says "not aligned" */
	verify_altered("rsa_relaxed", "\"total-failure-session-count\":1",
	    "\"total-failure-session-count\":0", (const char *const[]){ "other.example" }, 1,
	    NOW, &v);
	expect(&v, DKIM_FAIL, "dkim: d=reporter.example is not aligned with the report");
	assert_int_equal(K.calls, 0);
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
	assert_int_equal(v.best, 0);
	assert_int_equal(K.calls, 1);
	for (i = 1; i < DKIM_SIGS_MAX; i++) {
		assert_int_equal(v.sig[i].status, DKIM_FAIL);
		assert_string_equal(v.sig[i].reason, "not examined: an earlier signature passed");
	}
	m[slen * (n - 1) + len] = '\0';
	alt = replace(m, slen * (n - 1) + len, "\"total-failure-session-count\":1",
	    "\"total-failure-session-count\":0", &len);
	verify(alt, len, reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "body hash mismatch");
	assert_non_null(strstr(v.reason, "more signatures not examined"));
	assert_int_equal(v.best, 0);
	assert_int_equal(K.calls, 1);
	for (i = 0; i < DKIM_SIGS_MAX; i++)
		assert_string_equal(v.sig[i].reason, "body hash mismatch");
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
	for (i = 0; i < DKIM_HEADER_FIELDS_MAX - 11; i++) /* + 12 fields of the fixture: 1001 */
		o += (size_t)sprintf(m + o, "X-Pad: %06zu\r\n", i);
	memcpy(m + o, end, len - (size_t)(end - msg));
	o += len - (size_t)(end - msg);
	verify(m, o, reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "dkim: more than 1000 header fields (d=reporter.example s=rsa2048)");
	assert_int_equal(K.calls, 0);
	/* one fewer: fine */
	o = (size_t)(end - msg);
	for (i = 0; i < DKIM_HEADER_FIELDS_MAX - 12; i++)
		o += (size_t)sprintf(m + o, "X-Pad: %06zu\r\n", i);
	memcpy(m + o, end, len - (size_t)(end - msg));
	o += len - (size_t)(end - msg);
	verify(m, o, reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	free(m);
	free(msg);
}

/* ---------------------------------------------------------------- the cost bound */

/* Eight aligned signatures whose key lookups would time out: one lookup, then none. */
static void
test_temp_stops_lookups(void **state)
{
	struct dkim_verdict v;
	char *m, sel[32];
	size_t len, i;
	char *f[DKIM_SIGS_MAX];

	(void)state;
	for (i = 0; i < DKIM_SIGS_MAX; i++) {
		snprintf(sel, sizeof(sel), "s=sel%zu;", i);
		f[i] = sig_of("rsa_relaxed", "s=rsa2048;", sel);
	}
	m = with_fields(&len, f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], (char *)NULL);
	keys_normal();
	K.force = DKIM_KEY_TEMP;
	verify(m, len, reporter, 1, NOW, &v);
	expect(&v, DKIM_TEMPERROR, "dkim: key lookup failed: forced failure (d=reporter.example "
	    "s=sel0)");
	assert_int_equal(K.calls, 1);
	assert_int_equal(v.n_sigs, DKIM_SIGS_MAX);
	assert_int_equal(v.best, 0);
	assert_int_equal(v.sig[0].status, DKIM_TEMPERROR);
	for (i = 1; i < DKIM_SIGS_MAX; i++) {
		assert_int_equal(v.sig[i].status, DKIM_TEMPERROR);
		assert_string_equal(v.sig[i].reason, "not examined after a failed key lookup");
	}
	/* with no key at all: each one is looked up, once */
	keys_normal();
	K.force = DKIM_KEY_NONE;
	verify(m, len, reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "dkim: no key for sel0._domainkey.reporter.example");
	assert_int_equal(K.calls, DKIM_SIGS_MAX);
	free(m);

	/*
	 * No key, then a lookup that times out, then one that would pass: the third is not
	 * examined, the verdict is about the second.
	 */
	keys_normal();
	m = with_fields(&len, sig_of("rsa_relaxed", "s=rsa2048;", "s=nokey;"),
	    sig_of("rsa_relaxed", "s=rsa2048;", "s=temp1;"), sig_of("ed25519", NULL, NULL),
	    (char *)NULL);
	verify(m, len, reporter, 1, NOW, &v);
	expect(&v, DKIM_TEMPERROR, "dkim: key lookup failed: timed out (d=reporter.example "
	    "s=temp1)");
	assert_int_equal(K.calls, 2);
	assert_int_equal(v.best, 1);
	assert_int_equal(v.sig[0].status, DKIM_FAIL);
	assert_string_equal(v.sig[0].reason, "no key for nokey._domainkey.reporter.example");
	assert_int_equal(v.sig[2].status, DKIM_TEMPERROR);
	assert_string_equal(v.sig[2].reason, "not examined after a failed key lookup");
	free(m);

	/* ...but one that fails before its key is needed does not stop the others */
	m = with_fields(&len, sig_of("rsa_relaxed", "s=rsa2048;", "s=temp1; l=1;"),
	    sig_of("rsa_relaxed", "a=rsa-sha256", "a=rsa-sha1"), sig_of("ed25519", NULL, NULL),
	    (char *)NULL);
	keys_normal();
	verify(m, len, reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	assert_int_equal(v.best, 2);
	assert_int_equal(K.calls, 1);
	assert_string_equal(K.last, "ed25519._domainkey.reporter.example");
	free(m);
}

/* The same selector and domain twice in a message: looked up once. */
static void
test_same_key_once(void **state)
{
	struct dkim_verdict v;
	char *m;
	size_t len;

	(void)state;
	m = with_fields(&len, broken(sig_of("rsa_relaxed", NULL, NULL)),
	    sig_of("rsa_relaxed", NULL, NULL), (char *)NULL);
	keys_normal();
	verify(m, len, reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	assert_int_equal(v.best, 1);
	assert_string_equal(v.sig[0].reason, "signature did not verify");
	assert_int_equal(K.calls, 1);
	/* the answer kept is the answer given: no key, twice */
	keys_normal();
	K.force = DKIM_KEY_NONE;
	verify(m, len, reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "no key for rsa2048._domainkey.reporter.example");
	assert_string_equal(v.sig[1].reason, "no key for rsa2048._domainkey.reporter.example");
	assert_int_equal(K.calls, 1);
	/* ...and a key record served once is checked for each (an ed25519 key, rsa-sha256) */
	keys_normal();
	K.record = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
	verify(m, len, reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "key type k=ed25519 does not match a=rsa-sha256");
	assert_string_equal(v.sig[1].reason, "key type k=ed25519 does not match a=rsa-sha256");
	assert_int_equal(K.calls, 1);
	keys_normal();
	free(m);
	/* names compared as read (lower case): s=RSA2048 is the same key */
	m = with_fields(&len, broken(sig_of("rsa_relaxed", "s=rsa2048;", "s=RSA2048;")),
	    sig_of("rsa_relaxed", NULL, NULL), (char *)NULL);
	verify(m, len, reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	assert_int_equal(K.calls, 1);
	free(m);
}

/* A signature that passes ends the work: a broken one after it is not examined. */
static void
test_pass_first_stops(void **state)
{
	struct dkim_verdict v;
	char *m;
	size_t len;

	(void)state;
	m = with_fields(&len, sig_of("rsa_relaxed", NULL, NULL), broken(sig_of("ed25519", NULL,
	    NULL)), (char *)NULL);
	keys_normal();
	verify(m, len, reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	assert_int_equal(v.n_sigs, 2);
	assert_int_equal(v.best, 0);
	assert_int_equal(v.sig[0].status, DKIM_PASS);
	assert_int_equal(v.sig[1].status, DKIM_FAIL);
	assert_string_equal(v.sig[1].reason, "not examined: an earlier signature passed");
	assert_int_equal(v.sig[1].counts, 0);
	assert_int_equal(K.calls, 1);
	assert_string_equal(K.last, "rsa2048._domainkey.reporter.example");
	free(m);
	/* the other way round: both examined */
	m = with_fields(&len, broken(sig_of("ed25519", NULL, NULL)), sig_of("rsa_relaxed", NULL,
	    NULL), (char *)NULL);
	keys_normal();
	verify(m, len, reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	assert_int_equal(v.best, 1);
	assert_string_equal(v.sig[0].reason, "signature did not verify");
	assert_int_equal(K.calls, 2);
	free(m);
}

/* ---------------------------------------------------------------- ambiguous headers */

static void
test_ambiguous_headers(void **state)
{
	static const struct {
		const char *at, *field, *name;
	} cases[] = {
		{ "DKIM-Signature:", "From: <noreply@attacker.example>\r\n", "From" },
		{ "Return-Path:", "content-type: text/plain\r\n", "content-type" },
		{ "Return-Path:", "TLS-Report-Domain: attacker.example\r\n", "TLS-Report-Domain" },
		{ "X-Mixed:", "TLS-REPORT-DOMAIN: attacker.example\r\n", "TLS-Report-Domain" },
		{ "X-Mixed:", "Content-Type : text/plain\r\n", "Content-Type" },
		{ "Return-Path:", "sender: a@attacker.example\r\nSender: b@attacker.example\r\n",
		    "sender" },
		{ "Return-Path:", "Content-Transfer-Encoding: 7bit\r\nContent-transfer-encoding: "
		    "base64\r\n", "Content-Transfer-Encoding" },
		{ "Return-Path:", "Date: Fri, 02 Jan 2026 00:00:00 +0000\r\n", "Date" },
		{ "Return-Path:", "Message-ID: <x@attacker.example>\r\n", "Message-ID" },
		{ "Return-Path:", "To: x@attacker.example\r\n", "To" },
		{ "Return-Path:", "Subject: x\r\n", "Subject" },
		{ "Return-Path:", "MIME-Version: 1.0\r\n", "MIME-Version" },
		{ "Return-Path:", "TLS-Report-Submitter: attacker.example\r\n",
		    "TLS-Report-Submitter" },
	};
	struct dkim_verdict v;
	char to[256], want[256], *m;
	size_t i, len;

	(void)state;
	keys_normal();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(to, sizeof(to), "%s%s", cases[i].field, cases[i].at);
		verify_altered("rsa_relaxed", cases[i].at, to, reporter, 1, NOW, &v);
		snprintf(want, sizeof(want), "dkim: header field %s appears twice: ambiguous "
		    "(d=reporter.example s=rsa2048)", cases[i].name);
		expect(&v, DKIM_FAIL, want);
		assert_int_equal(v.sig[0].status, DKIM_FAIL);
		assert_string_equal(v.sig[0].domain, "reporter.example");
	}
	assert_int_equal(K.calls, 0);
	/* every signature fails with it, a malformed one too */
	m = with_fields(&len, sig_of("ed25519", "v=1;", "v=2;"), sig_of("rsa_relaxed", NULL, NULL),
	    strdup("From: <noreply@attacker.example>\r\n"), (char *)NULL);
	verify(m, len, reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "dkim: header field From appears twice: ambiguous");
	for (i = 0; i < 2; i++)
		assert_string_equal(v.sig[i].reason, "header field From appears twice: ambiguous");
	assert_string_equal(v.sig[0].selector, "ed25519");
	assert_int_equal(K.calls, 0);
	free(m);
	/* fields that may repeat, and a From in the body, are fine */
	verify_altered("rsa_relaxed", "Return-Path:", "Received: from a\r\nReceived: from b\r\n"
	    "X-Mixed: another\r\nReturn-Path: <x@attacker.example>\r\nReturn-Path:", reporter, 1,
	    NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	verify_altered("rsa_relaxed", "This is an aggregate", "From: x\r\nThis is an aggregate",
	    reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "body hash mismatch");
	/* a name that only begins like one is another field */
	verify_altered("rsa_relaxed", "Return-Path:", "From-X: a\r\nFro: b\r\nReturn-Path:",
	    reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
}

/* ---------------------------------------------------------------- where the body starts */

static void
test_body_offset(void **state)
{
	static const char line[] = "From noreply@reporter.example Thu Jan  1 00:00:00 2026\n";
	static const struct {
		const char *msg;
		size_t off;           /* (size_t)-1: the length */
	} cases[] = {
		{ "From: a@b\r\nSubject: x\r\n", (size_t)-1 },
		{ "From: a@b\r\nSubject: x", (size_t)-1 },
		{ "From: a@b\r\n\r\n", (size_t)-1 },
		{ "From: a@b\n\n", (size_t)-1 },
		{ "From: a@b\r\n\r\nbody", 13 },
		{ "From: a@b\n\nbody\n", 11 },
		{ "From: a\nSubject: b\r\n\nbody", 21 },
		{ "From: a\r\nSubject: b\n\r\nbody", 22 },
		{ "From: a@b\r\nnot a field\r\n\r\nmore\r\n", 11 },
		{ "From: a@b\nnot a field\nmore\n", 10 },
		{ "From: a@b\n\tfolded\nno colon\n", 18 },
		{ "From: a@b\r\nX-Bad\x80: x\r\n", 11 },
		{ "From: a@b\r\nX Bad: x\r\n", 11 },
		{ " continuation of nothing\r\nFrom: a@b\r\n\r\n", 0 },
		{ "\r\nFrom: a@b\r\n", 2 },
		{ "\nFrom: a@b\n", 1 },
		{ "", 0 },
		{ "From a@b Thu Jan  1 00:00:00 2026\nFrom: a@b\n\nx", 45 },
		{ "From a@b Thu Jan  1 00:00:00 2026\r\nSubject: x\r\n\r\n", (size_t)-1 },
		{ "From : a@b\r\n\r\nx", 14 },
	};
	struct dkim_verdict v;
	size_t i, len, o, j;
	char *msg, *lf, *m2;

	(void)state;
	keys_normal();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = strlen(cases[i].msg);
		verify(cases[i].msg, len, reporter, 1, NOW, &v);
		if (v.body_offset != (cases[i].off == (size_t)-1 ? len : cases[i].off))
			fail_msg("case %zu: body_offset %zu", i, v.body_offset);
		expect(&v, DKIM_NONE, NULL);
	}
	/* CRLF */
	msg = fixture("rsa_relaxed", &len);
	verify(msg, len, reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	assert_int_equal(v.body_offset, (size_t)(strstr(msg, "\r\n\r\n") + 4 - msg));
	/* bare LF: an offset into the message as given */
	lf = malloc(len + 1);
	assert_non_null(lf);
	for (j = o = 0; j < len; j++) {
		if (!(msg[j] == '\r' && j + 1 < len && msg[j + 1] == '\n'))
			lf[o++] = msg[j];
	}
	lf[o] = '\0';
	verify(lf, o, reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	assert_int_equal(v.body_offset, (size_t)(strstr(lf, "\n\n") + 2 - lf));
	assert_memory_equal(lf + v.body_offset, "This is a multipart", 19);
	/* an mbox line first: counted */
	m2 = malloc(len + sizeof(line));
	assert_non_null(m2);
	memcpy(m2, line, sizeof(line) - 1);
	memcpy(m2 + sizeof(line) - 1, msg, len);
	verify(m2, len + sizeof(line) - 1, reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	assert_int_equal(v.body_offset, sizeof(line) - 1 + (size_t)(strstr(msg, "\r\n\r\n") + 4 -
	    msg));
	free(m2);
	free(lf);
	free(msg);
}

/*
 * A line with more than DKIM_FIELD_NAME_MAX bytes before its colon is no field: the body
 * starts there. Other readers could take it for a field, so the signatures fail.
 */
static void
test_long_field_name(void **state)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static const char *const tails[] = { "", " ", "\t \t" };
	struct dkim_verdict v;
	char *msg, *m, *sig, name[1024];
	size_t len, slen, i, n, t, tl;

	(void)state;
	keys_normal();
	/* a 960-byte base64-looking line ending in ": x", below the signature */
	for (i = 0; i < 960 - 3; i++)
		name[i] = b64[i % 64];
	memcpy(name + i, ": x\r\n", 6);
	assert_int_equal(strlen(name), 962);
	sig = sig_of("rsa_relaxed", NULL, NULL);
	slen = strlen(sig);
	m = with_fields(&len, sig, strdup(name), (char *)NULL);
	verify(m, len, reporter, 1, NOW, &v);
	expect(&v, DKIM_FAIL, "dkim: malformed header section: field name longer than 76 bytes "
	    "(d=reporter.example s=rsa2048)");
	assert_int_equal(v.body_offset, slen);
	assert_int_equal(K.calls, 0);
	free(m);
	/* above the signature: the signature is in the body, so there is none */
	m = with_fields(&len, strdup(name), sig_of("rsa_relaxed", NULL, NULL), (char *)NULL);
	verify(m, len, reporter, 1, NOW, &v);
	expect(&v, DKIM_NONE, NULL);
	assert_int_equal(v.body_offset, 0);
	free(m);
	/* at the limit, name and blanks: a field; one byte more: not */
	for (n = DKIM_FIELD_NAME_MAX; n <= DKIM_FIELD_NAME_MAX + 1; n++) {
		for (t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
			tl = strlen(tails[t]);
			memset(name, 'a', n - tl);
			memcpy(name, "X-", 2);
			memcpy(name + n - tl, tails[t], tl);
			memcpy(name + n, ": x\r\n", 6);
			m = with_fields(&len, sig_of("rsa_relaxed", NULL, NULL), strdup(name),
			    (char *)NULL);
			verify(m, len, reporter, 1, NOW, &v);
			if (n == DKIM_FIELD_NAME_MAX) {
				expect(&v, DKIM_PASS, NULL);
				assert_int_equal(v.body_offset,
				    (size_t)(strstr(m, "\r\n\r\n") + 4 - m));
			} else {
				expect(&v, DKIM_FAIL, "field name longer than 76 bytes");
				assert_int_equal(v.body_offset, slen);
			}
			free(m);
		}
	}
	assert_int_equal(K.calls, 3);
	/*
	 * A line without a colon ends the header section with no failure: here the body is the
	 * same as with the empty line, so the signature still verifies.
	 */
	msg = fixture("rsa_relaxed", &len);
	m = replace(msg, len, "\r\n\r\nThis is a multipart", "\r\nThis is a multipart", &n);
	verify(m, n, reporter, 1, NOW, &v);
	expect(&v, DKIM_PASS, NULL);
	assert_int_equal(v.body_offset, (size_t)(strstr(m, "This is a multipart") - m));
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
		cmocka_unit_test(test_temp_stops_lookups),
		cmocka_unit_test(test_same_key_once),
		cmocka_unit_test(test_pass_first_stops),
		cmocka_unit_test(test_ambiguous_headers),
		cmocka_unit_test(test_body_offset),
		cmocka_unit_test(test_long_field_name),
		cmocka_unit_test(test_tags_parse),
		cmocka_unit_test(test_status_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
