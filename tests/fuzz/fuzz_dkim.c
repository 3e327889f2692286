/*
 * libFuzzer target: the DKIM verifier (ingest/dkim.c).
 *
 * The input is read twice: as a tag list by dkim_tags_parse() (every tag and value handed to
 * the callback must lie inside the input, in order, a tag starting with a letter, a value
 * neither starting nor ending with folding whitespace) and as a message by dkim_verify(),
 * whose keys come from a fixed callback: the Ed25519 test key for selector "ed25519", the
 * RSA-1024 test key for any other (both from tests/data/dkim/keys.txt; the seeds in
 * tests/fuzz/seeds/fuzz_dkim are signed with them by make_fixtures.py, so mutations reach
 * the body hash, the key parser and the signature check). A selector starting "temp" gets
 * DKIM_KEY_TEMP, one starting "none" DKIM_KEY_NONE. The callback checks dkim.h's cost bound:
 * no name asked for twice in one message, none after a DKIM_KEY_TEMP answer, none whose d=
 * is not aligned. The verdict must be consistent: every string NUL-terminated in its array
 * and printable; status, best, counts and the "not examined" signatures as dkim.h says; at
 * most one signature passes; body_offset within the input, at the start of a line.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/dkim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW 1767226200 /* 600 s after the seeds' t= */

static const char key_rsa1024[] =
    "v=DKIM1; k=rsa; h=sha256; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC5+ETsDKqapmgWJ6Aw"
    "oorDqqWoiTZZhdNO2evW3VBC9JNmJlz59By/Vo41EU7zdJ+u1wxYNc5iEGVllvkEvOl3F8YhBhT9fw5xsKz6X"
    "Ruw18GNyD71rhSBt2ydjK7uU9XlaeDhU8h1CPCrDgj4GuC9wOxyQ8+pWRdXU8fAre7newIDAQAB";
static const char key_ed25519[] =
    "v=DKIM1; k=ed25519; p=noCm76V3lrsSpSp7j7mLXJuhEa3OgA+vE2u0N271/Us=";

static const char *const domains[] = { "reporter.example", "recipient.example" };

/* The lookups of one message. */
struct lookups {
	char name[DKIM_SIGS_MAX][400];
	size_t n;
	int temp;
};

static enum dkim_key_rc
fuzz_keys(void *arg, const char *selector, const char *domain, char *txt, size_t cap, char *err,
    size_t errlen)
{
	struct lookups *l = arg;
	size_t i;

	if (l->temp || l->n == DKIM_SIGS_MAX)
		abort(); /* after a DKIM_KEY_TEMP, or more lookups than signatures */
	if (!dkim_aligned(domain, domains[0]) && !dkim_aligned(domain, domains[1]))
		abort(); /* an unaligned signature cannot count: never looked up */
	snprintf(l->name[l->n], sizeof(l->name[l->n]), "%s._domainkey.%s", selector, domain);
	for (i = 0; i < l->n; i++) {
		if (strcmp(l->name[i], l->name[l->n]) == 0)
			abort(); /* the same key twice */
	}
	l->n++;
	if (strncmp(selector, "temp", 4) == 0) {
		l->temp = 1;
		snprintf(err, errlen, "timed out");
		return DKIM_KEY_TEMP;
	}
	if (strncmp(selector, "none", 4) == 0)
		return DKIM_KEY_NONE;
	snprintf(txt, cap, "%s", strcmp(selector, "ed25519") == 0 ? key_ed25519 : key_rsa1024);
	return DKIM_KEY_OK;
}

struct walk {
	const char *base;
	size_t len;
	const char *last;   /* end of the previous value */
};

static int
fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
fuzz_tag(void *arg, const char *tag, size_t taglen, const char *val, size_t vallen)
{
	struct walk *w = arg;

	if (tag < w->last || taglen == 0 || tag + taglen > w->base + w->len ||
	    val < tag + taglen || val + vallen > w->base + w->len)
		abort();
	if (!((tag[0] >= 'a' && tag[0] <= 'z') || (tag[0] >= 'A' && tag[0] <= 'Z')))
		abort();
	if (vallen > 0 && (fws(val[0]) || fws(val[vallen - 1]) || memchr(val, ';', vallen)))
		abort();
	w->last = val + vallen;
	return 0;
}

/* s is NUL-terminated within cap bytes and printable ASCII. */
static void
check_str(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap), i;

	if (n == cap)
		abort();
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			abort();
	}
}

static void
check_verdict(const struct dkim_verdict *v, const uint8_t *data, size_t size,
    const struct lookups *l)
{
	size_t i, npass = 0, ntemp = 0;

	check_str(v->reason, sizeof(v->reason));
	if (v->n_sigs > DKIM_SIGS_MAX || l->n > v->n_sigs)
		abort();
	if (v->body_offset > size ||
	    (v->body_offset > 0 && v->body_offset < size && data[v->body_offset - 1] != '\n'))
		abort();
	switch (v->status) {
	case DKIM_NONE:
		if (v->best != -1 || v->n_sigs != 0 || strcmp(v->reason, "dkim: no signature") != 0)
			abort();
		break;
	case DKIM_PASS:
		if (v->best < 0 || (size_t)v->best >= v->n_sigs || !v->sig[v->best].counts ||
		    v->reason[0] != '\0')
			abort();
		break;
	case DKIM_FAIL:
	case DKIM_TEMPERROR:
		if (v->best < 0 || (size_t)v->best >= v->n_sigs ||
		    strncmp(v->reason, "dkim: ", 6) != 0)
			abort();
		break;
	default:
		abort();
	}
	for (i = 0; i < v->n_sigs; i++) {
		const struct dkim_sig *s = &v->sig[i];

		check_str(s->domain, sizeof(s->domain));
		check_str(s->selector, sizeof(s->selector));
		check_str(s->algorithm, sizeof(s->algorithm));
		check_str(s->reason, sizeof(s->reason));
		if (s->counts != (s->status == DKIM_PASS) ||
		    (s->counts && (s->has_l || !s->aligned)))
			abort();
		if (s->counts == (s->reason[0] != '\0'))
			abort();
		if (s->counts && v->status != DKIM_PASS)
			abort();
		npass += (size_t)s->counts;
		if (s->status == DKIM_TEMPERROR) {
			/* the first is the failed lookup (the verdict's), the others skipped */
			if (v->status != DKIM_TEMPERROR || (ntemp == 0) != ((int)i == v->best) ||
			    (ntemp > 0 && strcmp(s->reason,
			    "not examined after a failed key lookup") != 0) || !l->temp)
				abort();
			ntemp++;
		}
		/* "not examined" only after the passing one */
		if (strcmp(s->reason, "not examined: an earlier signature passed") == 0 &&
		    (v->status != DKIM_PASS || (int)i < v->best || s->status != DKIM_FAIL))
			abort();
		if (v->status == DKIM_PASS && (int)i > v->best && s->aligned && !s->has_l &&
		    s->status != DKIM_FAIL)
			abort();
	}
	if (npass != (v->status == DKIM_PASS ? 1u : 0u))
		abort();
	if ((v->status == DKIM_TEMPERROR) != (ntemp > 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_verdict *v;
	struct lookups *l;
	struct walk w;

	w.base = (const char *)data;
	w.len = size;
	w.last = w.base;
	(void)dkim_tags_parse((const char *)data, size, fuzz_tag, &w);

	if ((v = malloc(sizeof(*v))) == NULL || (l = calloc(1, sizeof(*l))) == NULL)
		abort();
	if (dkim_verify(data, size, domains, 2, FUZZ_NOW, fuzz_keys, l, v) != 0)
		abort();
	check_verdict(v, data, size, l);
	free(l);
	free(v);
	return 0;
}
