/*
 * tlsrptd import maildir DIR | mbox FILE|-: stores the reports held in a mailbox.
 *
 * Every message goes through the one ingest pipeline (as `tlsrptd ingest` does with a file)
 * and is stored before the next is read, so an import is safe to stop and to run again:
 * what was stored already comes back as duplicate (or, for quarantined bodies, bumps the
 * quarantine row's seen count), and nothing is counted twice.
 *
 *   maildir  the messages in DIR/cur and DIR/new (tmp and dot files are ignored), or, when
 *            DIR has none of cur, new and tmp, the regular files in DIR itself; in the order
 *            of their names (Maildir names start with the delivery time). Transport
 *            "maildir", peer the file's path, meta {file, folder, mtime}.
 *   mbox     read as a stream (see collector/import.h for the format rules). Transport
 *            "mbox", peer "FILE:N" ("stdin:N" for -), meta {offset, envelope}.
 *
 * A message larger than max_report_size is skipped (counted as too-large, not stored, named
 * on stderr): report mails are kilobytes, so such a message is almost surely something else
 * in the mailbox, and keeping it raw would make the quarantine the place where a mailbox's
 * big attachments pile up. The cap also bounds the memory an import needs.
 *
 * The first temporary failure (storage unavailable) stops the import: every later message
 * would fail the same way, and stopping keeps the rule "everything before the stop point is
 * stored", so that a re-run picks up where this one ended. SIGINT/SIGTERM stop it the same
 * way after the message in hand.
 *
 * Output: one notice line on stderr per message that was neither accepted nor a duplicate
 * (conflict, quarantined, too large, unreadable, temporary failure), a progress bar on stderr
 * when run on a terminal, and a closing table of counts on stdout (quarantined by reason code).
 *
 * Exit status: 75 stopped early (temporary failure or interrupted), else 66 something could
 * not be read (the path, a message file, a read error), else 65 something was not stored as
 * a report (quarantined, too large, not an mbox), else 0 (accepted, duplicate or conflict:
 * a conflict is kept, as with `tlsrptd ingest`).
 */
#include "collector/import.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "collector/buf.h"
#include "collector/cmd.h"
#include "ingest/dkim_keys.h"
#include "ingest/pipeline.h"
#include "storage/store.h"

#define IMPORT_CHUNK_SIZE (64 * 1024)    /* bytes read from an mbox at a time */
#define IMPORT_MAILDIR_MAX 1000000       /* messages one maildir import lists (names are sorted) */
#define IMPORT_REASONS_MAX 32            /* quarantine reason codes counted one by one */
#define IMPORT_PROGRESS_NS 100000000L    /* at most ten progress updates a second */
#define IMPORT_NOTE_MAX 1024             /* one notice line on stderr (cut to fit) */
#define IMPORT_BAR_WIDTH 24

/* ------------------------------------------------------------------------------------------ */
/* The mbox reader (contract in collector/import.h).                                           */
/* ------------------------------------------------------------------------------------------ */

enum mbox_state {
	MS_BOL,        /* at the start of a line */
	MS_CR,         /* a line that so far is "\r" */
	MS_QUOTE,      /* a line that so far is one or more '>' */
	MS_FROM,       /* a line that so far is '>'* and a prefix of "From " */
	MS_FROMLINE,   /* an unquoted "From " line: kept in line[] until its end decides */
	MS_SKIPLINE,   /* a separator line longer than line[]: the rest is skipped */
	MS_BODY        /* the rest of a line that is message text */
};

static const char mbox_from[] = "From ";
#define MBOX_FROM_LEN 5

struct mbox {
	enum mbox_state st;
	int err;                  /* 0 or a sticky MBOX_ERR_* */
	int started;              /* the first From_ line has been read */
	int eof;                  /* mbox_end() was called */
	int tail_done;            /* the unfinished last line was dealt with */
	int ended;                /* the last message was handed out */
	int ready;                /* out waits for mbox_next() */
	int delivered;            /* out was handed out: msg is emptied before it is reused */
	int blank;                /* a blank line held back: 0, 1 ("\n") or 2 ("\r\n") */
	uint64_t quotes;          /* '>' at the start of the current line */
	size_t matched;           /* bytes of "From " matched after them */
	uint64_t pos;             /* bytes taken */
	uint64_t line_off;        /* offset of the current line */
	char line[MBOX_LINE_MAX]; /* a candidate From_ line, after "From " */
	size_t line_len;
	unsigned long count;      /* From_ lines seen */
	struct buf msg;           /* the message being assembled (capped) */
	struct mbox_msg cur;      /* its facts */
	struct mbox_msg out;      /* the complete message waiting to be pulled */
};

struct mbox *
mbox_new(size_t max_message)
{
	struct mbox *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->st = MS_BOL;
	buf_init(&m->msg, max_message);
	return m;
}

void
mbox_free(struct mbox *m)
{
	if (m == NULL)
		return;
	buf_free(&m->msg);
	free(m);
}

uint64_t
mbox_offset(const struct mbox *m)
{
	return m->pos;
}

/* Appends message text; past the cap the message is marked too large and only counted. */
static void
mbox_emit(struct mbox *m, const void *p, size_t n)
{
	int rc;

	if (n == 0)
		return;
	m->cur.size += n;
	if (m->cur.too_large)
		return;
	rc = buf_append(&m->msg, p, n);
	if (rc == BUF_ERR_CAP) {
		m->cur.too_large = 1;
		buf_free(&m->msg);
	} else if (rc != BUF_OK && m->err == 0) {
		m->err = MBOX_ERR_NOMEM;
	}
}

static void
mbox_emit_quotes(struct mbox *m, uint64_t n)
{
	static const char gt[] = ">>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>";

	while (n > 0) {
		size_t k = n < sizeof(gt) - 1 ? (size_t)n : sizeof(gt) - 1;

		mbox_emit(m, gt, k);
		n -= k;
	}
}

/* A line turned out to be message text: the blank line held back before it is text too. */
static void
mbox_flush_blank(struct mbox *m)
{
	if (m->blank == 1)
		mbox_emit(m, "\n", 1);
	else if (m->blank == 2)
		mbox_emit(m, "\r\n", 2);
	m->blank = 0;
}

/* A blank line: held back, since it may be the writer's line before a separator. */
static void
mbox_blank_line(struct mbox *m, int kind)
{
	mbox_flush_blank(m);
	m->blank = kind;
}

/* The message being assembled is complete: it waits in out for mbox_next(). */
static void
mbox_finish(struct mbox *m)
{
	m->out = m->cur;
	if (m->cur.too_large) {
		m->out.data = NULL;
		m->out.len = 0;
	} else {
		m->out.data = m->msg.data != NULL ? m->msg.data : "";
		m->out.len = m->msg.len;
	}
	m->ready = 1;
}

/* line[] was a separator: ends the current message (if any) and starts the next. */
static void
mbox_separator(struct mbox *m)
{
	size_t n = m->line_len;

	m->blank = 0; /* the writer's blank line before the separator: dropped */
	if (m->started)
		mbox_finish(m);
	m->started = 1;
	memset(&m->cur, 0, sizeof(m->cur));
	m->cur.number = ++m->count;
	m->cur.offset = m->line_off;
	while (n > 0 && (m->line[n - 1] == '\r' || m->line[n - 1] == '\n'))
		n--;
	if (n >= sizeof(m->cur.envelope))
		n = sizeof(m->cur.envelope) - 1;
	memcpy(m->cur.envelope, m->line, n);
	m->cur.envelope[n] = '\0';
}

static int
mbox_word_in(const char *p, size_t n, const char *const *words, size_t n_words)
{
	for (size_t i = 0; i < n_words; i++)
		if (n == 3 && memcmp(p, words[i], 3) == 0)
			return 1;
	return 0;
}

static int
mbox_digits(const char *p, size_t n, size_t min, size_t max)
{
	if (n < min || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

/* "h:mm", "hh:mm" or "hh:mm:ss". */
static int
mbox_time(const char *p, size_t n)
{
	const char *c = memchr(p, ':', n);
	size_t h;

	if (c == NULL)
		return 0;
	h = (size_t)(c - p);
	if (!mbox_digits(p, h, 1, 2))
		return 0;
	p += h + 1;
	n -= h + 1;
	if (n == 2)
		return mbox_digits(p, 2, 2, 2);
	return n == 5 && mbox_digits(p, 2, 2, 2) && p[2] == ':' && mbox_digits(p + 3, 2, 2, 2);
}

/*
 * 1 when s (a line after "From ") reads like a From_ line: a sender, then an asctime date
 * "Www Mmm d hh:mm[:ss]" with a four-digit year among the next two words (a time zone may
 * come before the year).
 */
static int
mbox_is_from_line(const char *s, size_t len)
{
	static const char *const days[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
	    "Aug", "Sep", "Oct", "Nov", "Dec" };
	const char *tp[7];
	size_t tn[7], nt = 0, i = 0;

	while (len > 0 && s[len - 1] == '\r')
		len--;
	while (nt < 7) {
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == len)
			break;
		tp[nt] = s + i;
		while (i < len && s[i] != ' ' && s[i] != '\t')
			i++;
		tn[nt] = (size_t)(s + i - tp[nt]);
		nt++;
	}
	if (nt < 6 || s[0] == ' ' || s[0] == '\t')
		return 0; /* no sender, or too few words */
	if (!mbox_word_in(tp[1], tn[1], days, 7) || !mbox_word_in(tp[2], tn[2], months, 12) ||
	    !mbox_digits(tp[3], tn[3], 1, 2) || !mbox_time(tp[4], tn[4]))
		return 0;
	return mbox_digits(tp[5], tn[5], 4, 4) || (nt > 6 && mbox_digits(tp[6], tn[6], 4, 4));
}

/* The end of a candidate From_ line (nl: with a line end): a separator or message text. */
static void
mbox_line_end(struct mbox *m, int nl)
{
	if (m->st == MS_SKIPLINE || !m->started || m->blank ||
	    mbox_is_from_line(m->line, m->line_len)) {
		mbox_separator(m);
	} else {
		/* m->blank is 0 here: nothing held back */
		mbox_emit(m, mbox_from, MBOX_FROM_LEN);
		mbox_emit(m, m->line, m->line_len);
		if (nl)
			mbox_emit(m, "\n", 1);
	}
	m->st = MS_BOL;
}

/*
 * Handles byte c in the current state. Returns 1 when c was taken, 0 when it must be seen
 * again in the new state.
 */
static int
mbox_byte(struct mbox *m, char c)
{
	switch (m->st) {
	case MS_BOL:
		m->line_off = m->pos;
		m->quotes = 0;
		m->matched = 0;
		if (!m->started && c != 'F') {
			m->err = MBOX_ERR_FORMAT;
		} else if (c == '\n') {
			mbox_blank_line(m, 1);
		} else if (c == '\r') {
			m->st = MS_CR;
		} else if (c == '>') {
			m->quotes = 1;
			m->st = MS_QUOTE;
		} else if (c == 'F') {
			m->matched = 1;
			m->st = MS_FROM;
		} else {
			mbox_flush_blank(m);
			m->st = MS_BODY;
			return 0;
		}
		return 1;
	case MS_CR:
		if (c == '\n') {
			mbox_blank_line(m, 2);
			m->st = MS_BOL;
			return 1;
		}
		mbox_flush_blank(m);
		mbox_emit(m, "\r", 1);
		m->st = MS_BODY;
		return 0;
	case MS_QUOTE:
		if (c == '>') {
			m->quotes++;
			return 1;
		}
		if (c == 'F') {
			m->matched = 1;
			m->st = MS_FROM;
			return 1;
		}
		mbox_flush_blank(m);
		mbox_emit_quotes(m, m->quotes);
		m->st = MS_BODY;
		return 0;
	case MS_FROM:
		if (c == mbox_from[m->matched]) {
			if (++m->matched < MBOX_FROM_LEN)
				return 1;
			if (m->quotes > 0) {
				/* mboxrd: ^>+From  loses one '>' */
				mbox_flush_blank(m);
				mbox_emit_quotes(m, m->quotes - 1);
				mbox_emit(m, mbox_from, MBOX_FROM_LEN);
				m->st = MS_BODY;
			} else {
				m->line_len = 0;
				m->st = MS_FROMLINE;
			}
			return 1;
		}
		if (!m->started) {
			m->err = MBOX_ERR_FORMAT;
			return 1;
		}
		mbox_flush_blank(m);
		mbox_emit_quotes(m, m->quotes);
		mbox_emit(m, mbox_from, m->matched);
		m->st = MS_BODY;
		return 0;
	case MS_FROMLINE:
		if (c == '\n') {
			mbox_line_end(m, 1);
		} else if (m->line_len < sizeof(m->line)) {
			m->line[m->line_len++] = c;
		} else if (!m->started || m->blank) {
			m->st = MS_SKIPLINE; /* a separator by position: its tail is not needed */
		} else {
			mbox_emit(m, mbox_from, MBOX_FROM_LEN);
			mbox_emit(m, m->line, m->line_len);
			m->st = MS_BODY;
			return 0;
		}
		return 1;
	case MS_SKIPLINE:
		if (c == '\n')
			mbox_line_end(m, 1);
		return 1;
	case MS_BODY:
		break;
	}
	/* MS_BODY is handled a line at a time by mbox_push(). */
	mbox_emit(m, &c, 1);
	if (c == '\n')
		m->st = MS_BOL;
	return 1;
}

size_t
mbox_push(struct mbox *m, const void *data, size_t len)
{
	const char *p = data;
	size_t i = 0;

	if (m->err != 0 || m->eof)
		return len;
	if (m->ready)
		return 0;
	if (m->delivered) {
		buf_reset(&m->msg);
		m->delivered = 0;
	}
	while (i < len && m->err == 0 && !m->ready) {
		if (m->st == MS_BODY) {
			const char *nl = memchr(p + i, '\n', len - i);
			size_t n = nl != NULL ? (size_t)(nl - (p + i)) + 1 : len - i;

			mbox_emit(m, p + i, n);
			i += n;
			m->pos += n;
			if (nl != NULL)
				m->st = MS_BOL;
			continue;
		}
		if (mbox_byte(m, p[i])) {
			i++;
			m->pos++;
		}
	}
	return m->err != 0 ? len : i;
}

void
mbox_end(struct mbox *m)
{
	m->eof = 1;
}

/* The input ended in the middle of a line: what was read of it is text, or a separator. */
static void
mbox_tail(struct mbox *m)
{
	switch (m->st) {
	case MS_BOL:
		break; /* a blank line held back is the writer's last line: dropped */
	case MS_CR:
		mbox_flush_blank(m);
		mbox_emit(m, "\r", 1);
		break;
	case MS_QUOTE:
		mbox_flush_blank(m);
		mbox_emit_quotes(m, m->quotes);
		break;
	case MS_FROM:
		if (!m->started) {
			m->err = MBOX_ERR_FORMAT;
			break;
		}
		mbox_flush_blank(m);
		mbox_emit_quotes(m, m->quotes);
		mbox_emit(m, mbox_from, m->matched);
		break;
	case MS_FROMLINE:
	case MS_SKIPLINE:
		mbox_line_end(m, 0);
		break;
	case MS_BODY:
		break;
	}
	m->st = MS_BOL;
}

int
mbox_next(struct mbox *m, struct mbox_msg *msg)
{
	if (m->err != 0)
		return m->err;
	if (!m->ready) {
		if (!m->eof || m->ended)
			return MBOX_MORE;
		if (m->delivered) {
			buf_reset(&m->msg);
			m->delivered = 0;
		}
		if (!m->tail_done) {
			m->tail_done = 1;
			mbox_tail(m);
			if (m->err != 0)
				return m->err;
		}
		if (!m->ready) {
			/* the tail did not start a new message: the current one is the last */
			m->ended = 1;
			if (!m->started)
				return MBOX_MORE;
			mbox_finish(m);
		}
	}
	m->ready = 0;
	m->delivered = 1;
	*msg = m->out;
	return MBOX_MSG;
}

/* ------------------------------------------------------------------------------------------ */
/* The import command.                                                                         */
/* ------------------------------------------------------------------------------------------ */

struct import_reason {
	char code[sizeof(((struct rpt_error *)NULL)->code)];
	unsigned long n;
};

struct importer {
	const char *kind;                  /* "maildir" or "mbox" */
	const char *path;
	const struct config *cfg;
	struct pipeline_options po;
	struct store *st;                  /* opened with the first message */
	struct pipeline *pl;
	int store_failed;
	int tty;                           /* draw the progress bar */
	int bar_shown;
	struct timespec last_draw;
	uint64_t done, total;              /* progress: messages (maildir) or bytes (mbox) */
	unsigned long seen;                /* messages looked at */
	unsigned long accepted, duplicate, conflict, quarantined, too_large, temporary, unreadable;
	struct import_reason reasons[IMPORT_REASONS_MAX];
	size_t n_reasons;
	unsigned long reasons_other;
	int stopped;                       /* ended early: temporary failure, signal, read error */
	int not_mbox;
};

static volatile sig_atomic_t import_signal;

static void
import_on_signal(int sig)
{
	import_signal = sig;
}

static void
import_usage(FILE *out)
{
	fprintf(out, "usage: tlsrptd import [-c FILE] [--key-name VALUE]... maildir DIR\n"
	    "       tlsrptd import [-c FILE] [--key-name VALUE]... mbox FILE|-\n"
	    "stores the reports in a mailbox; safe to run again (duplicates are recognised).\n"
	    "maildir: the messages in DIR/cur and DIR/new, or the files in DIR itself.\n"
	    "mbox: mboxrd or mboxo; messages larger than max_report_size are skipped.\n"
	    "exit: 0 stored or duplicate, 65 something quarantined or skipped, 66 unreadable,\n"
	    "      75 stopped early (storage unavailable, interrupted): run again to go on\n"
	    "\noptions:\n  -c, --config FILE        config file of 'key value' lines\n"
	    "  --db PATH                same as --db-path\n"
	    "  -h, --help               this help\n  -V, --version            the version\n"
	    "\nconfig keys (file syntax: 'key_name value'):\n");
	cfg_print_help(out);
}

static void
import_bar_clear(struct importer *imp)
{
	if (imp->bar_shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		imp->bar_shown = 0;
	}
}

/*
 * Redraws the one-line progress bar on stderr when stdout and stderr are both terminals (a
 * redirected stderr must not fill with bar frames), at most every IMPORT_PROGRESS_NS.
 */
static void
import_progress(struct importer *imp)
{
	struct timespec now;
	char line[160], bar[IMPORT_BAR_WIDTH + 1];
	int n;

	if (!imp->tty || clock_gettime(CLOCK_MONOTONIC, &now) != 0)
		return;
	if (imp->bar_shown && (now.tv_sec - imp->last_draw.tv_sec) * 1000000000L +
	    (now.tv_nsec - imp->last_draw.tv_nsec) < IMPORT_PROGRESS_NS)
		return;
	imp->last_draw = now;
	bar[0] = '\0';
	if (imp->total > 0) {
		uint64_t d = imp->done < imp->total ? imp->done : imp->total;
		size_t fill = (size_t)(d * IMPORT_BAR_WIDTH / imp->total);

		memset(bar, '#', fill);
		memset(bar + fill, '.', IMPORT_BAR_WIDTH - fill);
		bar[IMPORT_BAR_WIDTH] = '\0';
	}
	if (strcmp(imp->kind, "maildir") == 0)
		n = snprintf(line, sizeof(line), "import maildir [%s] %" PRIu64 "/%" PRIu64 " messages",
		    bar, imp->done, imp->total);
	else if (imp->total > 0)
		n = snprintf(line, sizeof(line), "import mbox [%s] %lu messages, %.1f/%.1f MiB", bar,
		    imp->seen, (double)imp->done / 1048576.0, (double)imp->total / 1048576.0);
	else
		n = snprintf(line, sizeof(line), "import mbox: %lu messages, %.1f MiB", imp->seen,
		    (double)imp->done / 1048576.0);
	if (n < 0)
		return;
	/* a cut line is still a fine progress line */
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
	imp->bar_shown = 1;
}

/* One notice line on stderr ("tlsrptd import: ..."), control bytes shown as '?'. */
static void
import_note(struct importer *imp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
import_note(struct importer *imp, const char *fmt, ...)
{
	char line[IMPORT_NOTE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		memcpy(line + sizeof(line) - 4, "...", 4);
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	import_bar_clear(imp);
	fprintf(stderr, "tlsrptd import: %s\n", line);
}

static void
import_count_reason(struct importer *imp, const char *reason_code)
{
	const char *code = reason_code[0] ? reason_code : "unknown";

	for (size_t i = 0; i < imp->n_reasons; i++) {
		if (strcmp(imp->reasons[i].code, code) == 0) {
			imp->reasons[i].n++;
			return;
		}
	}
	if (imp->n_reasons == IMPORT_REASONS_MAX) {
		imp->reasons_other++;
		return;
	}
	/* the same size as rpt_error.code: never cut */
	snprintf(imp->reasons[imp->n_reasons].code, sizeof(imp->reasons[0].code), "%s", code);
	imp->reasons[imp->n_reasons++].n = 1;
}

/* Opens the store and the pipeline with the first message. 0, or -1 (counted, noted). */
static int
import_open(struct importer *imp)
{
	if (imp->pl != NULL)
		return 0;
	if (imp->store_failed)
		return -1;
	if ((imp->st = cli_open_store(imp->cfg)) == NULL) {
		imp->store_failed = 1;
		return -1;
	}
	if ((imp->pl = pipeline_new(imp->st, &imp->po)) == NULL) {
		imp->store_failed = 1;
		return -1;
	}
	return 0;
}

/*
 * Stores one message and counts its verdict. Returns 0 to go on, 1 to stop (temporary
 * failure: noted), or -1 on OOM.
 */
static int
import_store(struct importer *imp, const char *transport, const char *peer, const void *body,
    size_t len, const char *meta)
{
	struct envelope env = {
		.transport = transport,
		.peer = peer,
		.received_at = (int64_t)time(NULL),
		.body = len > 0 ? body : "",
		.len = len,
		.allow_mail = 1,
		.mail = 1,
		.meta_json = meta,
	};
	struct pipeline_job *job;
	const struct pipeline_result *r;
	int rc = 0;

	if (import_open(imp) != 0) {
		imp->temporary++;
		import_note(imp, "%s: temporary failure: storage unavailable (%s); stopping", peer,
		    imp->cfg->db_path);
		return 1;
	}
	if ((job = pipeline_job_new(imp->pl, &env)) == NULL)
		return -1;
	pipeline_job_store_wait(job);
	r = pipeline_job_result(job);
	switch (r->verdict) {
	case PIPELINE_ACCEPTED:
		imp->accepted++;
		break;
	case PIPELINE_DUPLICATE:
		imp->duplicate++;
		break;
	case PIPELINE_CONFLICT:
		imp->conflict++;
		import_note(imp, "%s: conflict: report %" PRId64 " has the key of report %" PRId64
		    " with other content (kept, not counted)", peer, r->report_id, r->conflict_of);
		break;
	case PIPELINE_QUARANTINED:
		imp->quarantined++;
		import_count_reason(imp, r->error.code);
		import_note(imp, "%s: quarantined id=%" PRId64 " (%s): %s", peer, r->quarantine_id,
		    r->error.code, r->error.reason);
		break;
	default:
		imp->temporary++;
		import_note(imp, "%s: temporary failure: %s; stopping", peer, r->temp_reason);
		rc = 1;
		break;
	}
	pipeline_job_free(job);
	return rc;
}

/* Checks for SIGINT/SIGTERM between messages. 1 (noted) when the import must stop. */
static int
import_interrupted(struct importer *imp)
{
	if (import_signal == 0)
		return 0;
	import_note(imp, "interrupted by signal %d after %lu messages; run again to go on",
	    (int)import_signal, imp->seen);
	return 1;
}

/* --- maildir ------------------------------------------------------------------------------ */

struct maildir_msg {
	char *path;            /* DIR/cur/NAME or DIR/NAME (malloc) */
	const char *name;      /* inside path */
	const char *folder;    /* "cur", "new" or "" */
};

struct maildir_list {
	struct maildir_msg *v;
	size_t n, alloc;
};

static void
maildir_list_free(struct maildir_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int
maildir_cmp(const void *a, const void *b)
{
	const struct maildir_msg *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : strcmp(x->folder, y->folder);
}

static int
is_dir(const char *dir, const char *sub)
{
	char p[4096];
	struct stat sb;
	int n = snprintf(p, sizeof(p), "%s/%s", dir, sub);

	return n > 0 && (size_t)n < sizeof(p) && stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/*
 * Lists the regular, non-dot files of dir/sub (of dir when sub is ""). A missing sub is
 * empty. Returns 0, EX_NOINPUT (the folder cannot be read), EX_DATAERR (too many files) or
 * EX_OSERR, with the reason on stderr.
 */
static int
maildir_scan(struct maildir_list *l, const char *dir, const char *sub)
{
	size_t dl = strlen(dir), sl = strlen(sub);
	char *folder = malloc(dl + sl + 2);
	DIR *d = NULL;
	struct dirent *de;
	int rc = EX_OSERR;

	if (folder == NULL)
		goto out;
	memcpy(folder, dir, dl);
	folder[dl] = '\0';
	if (sl > 0) {
		folder[dl] = '/';
		memcpy(folder + dl + 1, sub, sl + 1);
	}
	if ((d = opendir(folder)) == NULL) {
		if (sl > 0 && errno == ENOENT) {
			rc = 0;
			goto out;
		}
		fprintf(stderr, "tlsrptd import: %s: %s\n", folder, strerror(errno));
		rc = EX_NOINPUT;
		goto out;
	}
	for (;;) {
		struct maildir_msg *mm;
		struct stat sb;
		size_t nl, pl;

		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0) {
				fprintf(stderr, "tlsrptd import: %s: %s\n", folder, strerror(errno));
				rc = EX_NOINPUT;
				goto out;
			}
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		if (l->n == IMPORT_MAILDIR_MAX) {
			fprintf(stderr, "tlsrptd import: %s: more than %d messages; import it in parts\n",
			    dir, IMPORT_MAILDIR_MAX);
			rc = EX_DATAERR;
			goto out;
		}
		if (l->n == l->alloc) {
			size_t na = l->alloc ? l->alloc * 2 : 256;
			struct maildir_msg *v = realloc(l->v, na * sizeof(*v));

			if (v == NULL)
				goto out;
			l->v = v;
			l->alloc = na;
		}
		nl = strlen(de->d_name);
		pl = strlen(folder) + 1 + nl + 1;
		mm = &l->v[l->n];
		if ((mm->path = malloc(pl)) == NULL)
			goto out;
		if (snprintf(mm->path, pl, "%s/%s", folder, de->d_name) != (int)(pl - 1)) {
			free(mm->path);
			goto out;
		}
		/* Directories, fifos and sockets are not messages; a file that cannot even be
		 * stat()ed is kept, to be counted unreadable when it is read. */
		if (stat(mm->path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
			free(mm->path);
			continue;
		}
		mm->name = mm->path + pl - 1 - nl;
		mm->folder = sl > 0 ? sub : "";
		l->n++;
	}
	rc = 0;
out:
	if (rc == EX_OSERR)
		fprintf(stderr, "tlsrptd import: out of memory\n");
	if (d != NULL)
		closedir(d);
	free(folder);
	return rc;
}

/*
 * Reads one message file into b (capped at max_report_size). Returns 0, 1 (too large:
 * noted, counted) or -1 (unreadable: noted, counted). *mtime gets the file's mtime.
 */
static int
maildir_read(struct importer *imp, const char *path, struct buf *b, int64_t *mtime)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char chunk[IMPORT_CHUNK_SIZE];
	struct stat sb;
	ssize_t n;
	int rc = -1;

	buf_reset(b);
	if (fd < 0) {
		import_note(imp, "%s: unreadable: %s", path, strerror(errno));
		imp->unreadable++;
		return -1;
	}
	if (fstat(fd, &sb) != 0) {
		import_note(imp, "%s: unreadable: %s", path, strerror(errno));
		imp->unreadable++;
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		import_note(imp, "%s: unreadable: not a regular file", path);
		imp->unreadable++;
		goto out;
	}
	*mtime = (int64_t)sb.st_mtime;
	if ((uint64_t)sb.st_size > (uint64_t)b->max)
		goto too_large;
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			import_note(imp, "%s: unreadable: %s", path, strerror(errno));
			imp->unreadable++;
			goto out;
		}
		if (n == 0)
			break;
		if (buf_append(b, chunk, (size_t)n) != 0) {
			if (b->err == BUF_ERR_CAP)
				goto too_large;
			import_note(imp, "%s: unreadable: out of memory", path);
			imp->unreadable++;
			goto out;
		}
	}
	rc = 0;
	goto out;
too_large:
	import_note(imp, "%s: message of %jd bytes is larger than max_report_size (%zu bytes): "
	    "skipped, not stored", path, (intmax_t)sb.st_size, b->max);
	imp->too_large++;
	rc = 1;
out:
	close(fd);
	return rc;
}

static char *
maildir_meta(const struct maildir_msg *mm, int64_t mtime)
{
	json_t *o = json_object();
	char *s;

	if (o == NULL)
		return NULL;
	/* a name that is not UTF-8 cannot be a JSON string: left out (the peer has the path) */
	json_object_set_new(o, "file", json_string(mm->name));
	json_object_set_new(o, "folder", json_string(mm->folder));
	json_object_set_new(o, "mtime", json_integer(mtime));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* Imports a maildir. Returns 0, or an exit status for a failure that stops it at once. */
static int
import_maildir(struct importer *imp, const char *dir)
{
	struct maildir_list l = { 0 };
	struct buf b;
	int rc;

	buf_init(&b, imp->cfg->max_report_size);
	if (is_dir(dir, "cur") || is_dir(dir, "new") || is_dir(dir, "tmp")) {
		if ((rc = maildir_scan(&l, dir, "cur")) == 0)
			rc = maildir_scan(&l, dir, "new");
	} else {
		rc = maildir_scan(&l, dir, "");
	}
	if (rc != 0)
		goto out;
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(l.v[0]), maildir_cmp);
	imp->total = l.n;
	for (size_t i = 0; i < l.n && !imp->stopped; i++) {
		const struct maildir_msg *mm = &l.v[i];
		int64_t mtime = 0;
		char *meta;
		int r;

		if (import_interrupted(imp)) {
			imp->stopped = 1;
			break;
		}
		imp->seen++;
		r = maildir_read(imp, mm->path, &b, &mtime);
		if (r == 0) {
			if ((meta = maildir_meta(mm, mtime)) == NULL) {
				rc = EX_OSERR;
				goto out;
			}
			r = import_store(imp, "maildir", mm->path, b.data, b.len, meta);
			free(meta);
			if (r < 0) {
				rc = EX_OSERR;
				goto out;
			}
			if (r > 0)
				imp->stopped = 1;
		}
		imp->done = i + 1;
		import_progress(imp);
	}
	rc = 0;
out:
	buf_free(&b);
	maildir_list_free(&l);
	return rc;
}

/* --- mbox --------------------------------------------------------------------------------- */

static char *
mbox_meta(const struct mbox_msg *msg)
{
	json_t *o = json_object();
	char *s;

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "offset", json_integer((json_int_t)msg->offset));
	/* an envelope that is not UTF-8 cannot be a JSON string: left out */
	json_object_set_new(o, "envelope", json_string(msg->envelope));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* Stores one pulled message. 0 to go on, 1 to stop, -1 on OOM. */
static int
import_mbox_msg(struct importer *imp, const struct mbox_msg *msg, char *peer, size_t peerlen,
    const char *label)
{
	char *meta;
	int n, rc;

	imp->seen++;
	n = snprintf(peer, peerlen, "%s:%lu", label, msg->number);
	if (n < 0 || (size_t)n >= peerlen)
		return -1; /* peerlen has room for any number: cannot happen */
	if (msg->too_large) {
		import_note(imp, "%s (offset %" PRIu64 "): message of %" PRIu64 " bytes is larger than "
		    "max_report_size (%zu bytes): skipped, not stored", peer, msg->offset, msg->size,
		    imp->cfg->max_report_size);
		imp->too_large++;
		return 0;
	}
	if ((meta = mbox_meta(msg)) == NULL)
		return -1;
	rc = import_store(imp, "mbox", peer, msg->data, msg->len, meta);
	free(meta);
	return rc;
}

/* Pulls and stores every complete message. 0 to go on, 1 to stop (noted), -1 on OOM. */
static int
import_mbox_drain(struct importer *imp, struct mbox *m, char *peer, size_t peerlen,
    const char *label)
{
	struct mbox_msg msg;
	int rc, r;

	while ((rc = mbox_next(m, &msg)) == MBOX_MSG) {
		if (import_interrupted(imp))
			return 1;
		if ((r = import_mbox_msg(imp, &msg, peer, peerlen, label)) != 0)
			return r;
		imp->done = mbox_offset(m);
		import_progress(imp);
	}
	if (rc == MBOX_ERR_FORMAT) {
		import_note(imp, "%s: not an mbox: it does not start with a \"From \" line", label);
		imp->not_mbox = 1;
		return 1;
	}
	return rc == MBOX_ERR_NOMEM ? -1 : 0;
}

/* Imports an mbox file (or stdin). Returns 0, or an exit status for a failure at once. */
static int
import_mbox(struct importer *imp, const char *path)
{
	const char *label = strcmp(path, "-") == 0 ? "stdin" : path;
	size_t peerlen = strlen(label) + 24;
	char *peer = malloc(peerlen);
	char chunk[IMPORT_CHUNK_SIZE];
	struct mbox *m = NULL;
	struct stat sb;
	int fd = -1, rc = EX_OSERR;

	if (peer == NULL)
		goto out;
	fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) != 0) {
		fprintf(stderr, "tlsrptd import: %s: %s\n", label, strerror(errno));
		rc = EX_NOINPUT;
		goto out;
	}
	if (S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "tlsrptd import: %s: is a directory (for a maildir: import maildir)\n",
		    label);
		rc = EX_NOINPUT;
		goto out;
	}
	imp->total = S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
	if ((m = mbox_new(imp->cfg->max_report_size)) == NULL)
		goto out;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		size_t off = 0;
		int r;

		if (n < 0 && errno == EINTR) {
			if (import_interrupted(imp))
				break;
			continue;
		}
		if (n < 0) {
			import_note(imp, "%s: read error at offset %" PRIu64 ": %s; stopping", label,
			    mbox_offset(m), strerror(errno));
			imp->unreadable++;
			break;
		}
		if (n == 0)
			mbox_end(m);
		do {
			off += mbox_push(m, chunk + off, (size_t)n - off);
			if ((r = import_mbox_drain(imp, m, peer, peerlen, label)) < 0) {
				fprintf(stderr, "tlsrptd import: out of memory\n");
				goto out;
			}
		} while (r == 0 && off < (size_t)n);
		if (r != 0 || n == 0)
			break;
		imp->done = mbox_offset(m);
		import_progress(imp);
		if (import_interrupted(imp))
			break;
	}
	rc = 0;
out:
	mbox_free(m);
	if (fd >= 0 && fd != STDIN_FILENO)
		close(fd);
	free(peer);
	return rc;
}

/* --- the command -------------------------------------------------------------------------- */

static int
reason_cmp(const void *a, const void *b)
{
	return strcmp(((const struct import_reason *)a)->code, ((const struct import_reason *)b)->code);
}

/* The closing table on stdout. */
static void
import_table(struct importer *imp)
{
	printf("import %s %s: %lu messages\n", imp->kind, imp->path, imp->seen);
	printf("  %-24s %10lu\n", "accepted", imp->accepted);
	printf("  %-24s %10lu\n", "duplicate", imp->duplicate);
	printf("  %-24s %10lu\n", "conflict", imp->conflict);
	printf("  %-24s %10lu\n", "quarantined", imp->quarantined);
	qsort(imp->reasons, imp->n_reasons, sizeof(imp->reasons[0]), reason_cmp);
	for (size_t i = 0; i < imp->n_reasons; i++)
		printf("    %-22s %10lu\n", imp->reasons[i].code, imp->reasons[i].n);
	if (imp->reasons_other > 0)
		printf("    %-22s %10lu\n", "(other codes)", imp->reasons_other);
	printf("  %-24s %10lu\n", "too-large (skipped)", imp->too_large);
	printf("  %-24s %10lu\n", "temporary failure", imp->temporary);
	printf("  %-24s %10lu\n", "unreadable", imp->unreadable);
	if (imp->not_mbox)
		printf("not an mbox: nothing was imported\n");
	if (imp->temporary > 0 || import_signal != 0)
		printf("stopped early: run the same import again to go on\n");
}

int
cmd_import(int argc, char **argv)
{
	struct config cfg;
	struct cli_args args;
	struct importer imp;
	struct sigaction sa, old_int, old_term;
	const char *kind, *path;
	struct dkim_keys *keys = NULL;
	int rc;

	/* cli_parse's --help knows the other commands only. */
	for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			import_usage(stdout);
			return 0;
		}
	}
	if ((rc = cli_parse("import", argc, argv, &cfg, &args, 1)) != 0)
		goto out;
	kind = args.files[0];
	path = args.n_files > 1 ? args.files[1] : NULL;
	if (args.n_files != 2 || (strcmp(kind, "maildir") != 0 && strcmp(kind, "mbox") != 0) ||
	    (strcmp(kind, "maildir") == 0 && strcmp(path, "-") == 0)) {
		fprintf(stderr, "tlsrptd import: expected 'maildir DIR' or 'mbox FILE|-'\n");
		import_usage(stderr);
		rc = EX_USAGE;
		goto out;
	}
	rpt_global_init();
	memset(&imp, 0, sizeof(imp));
	imp.kind = kind;
	imp.path = path;
	imp.cfg = &cfg;
	if (cli_pipeline_options(&cfg, &imp.po, &keys) != 0) {
		rc = EX_CONFIG;
		goto out;
	}
	imp.tty = isatty(STDOUT_FILENO) && isatty(STDERR_FILENO);

	import_signal = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = import_on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: a blocked read returns EINTR */
	if (sigaction(SIGINT, &sa, &old_int) != 0 || sigaction(SIGTERM, &sa, &old_term) != 0) {
		fprintf(stderr, "tlsrptd import: sigaction: %s\n", strerror(errno));
		rc = EX_OSERR;
		goto out;
	}
	if (strcmp(kind, "maildir") == 0)
		rc = import_maildir(&imp, path);
	else
		rc = import_mbox(&imp, path);
	import_bar_clear(&imp);
	if (rc == 0) {
		import_table(&imp);
		if (imp.temporary > 0 || import_signal != 0)
			rc = EX_TEMPFAIL;
		else if (imp.unreadable > 0)
			rc = EX_NOINPUT;
		else if (imp.quarantined > 0 || imp.too_large > 0 || imp.not_mbox)
			rc = EX_DATAERR;
		if (fflush(stdout) != 0 || ferror(stdout))
			rc = EX_IOERR;
	}
	pipeline_free(imp.pl);
	store_close(imp.st);
	/* restored after the store is closed, so a signal during the final commit is not fatal */
	(void)sigaction(SIGINT, &old_int, NULL);
	(void)sigaction(SIGTERM, &old_term, NULL);
out:
	dkim_keys_free(keys);
	cfg_free(&cfg);
	return rc;
}
