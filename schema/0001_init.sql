-- 0001_init: the first schema of tlsrptd.
--
-- Conventions: every table is STRICT; times are UTC epoch seconds (INTEGER); JSON is stored as
-- TEXT and checked with json_valid(); counts that a report did not give are NULL, never 0.
-- Run by storage/store.c inside one BEGIN IMMEDIATE transaction, followed by
-- PRAGMA user_version = 1.

-- reports: one row per distinct report. The dedup key is (reporter_key, report_id, start_ts,
-- end_ts); the same key with another sha256 (SHA-256 of the decompressed JSON) is a conflict:
-- kept as its own row with conflict_of pointing at the first report of the key, counted = 0.
-- counted = 1 when the report fed the daily rollups. total_* hold the report's own totals:
-- per policy domain the policy with the most sessions, summed over domains (a policy without
-- a domain stands alone). domains is a JSON array of the distinct policy domains, lint a
-- JSON array of {path, code, message} (as recorded at ingest, pipeline findings included),
-- raw_gz the body as gzip, from which the read API derives the normalised report on demand.
-- received_at is the first arrival.
CREATE TABLE reports (
	id                INTEGER PRIMARY KEY,
	reporter_key      TEXT NOT NULL,
	organization_name TEXT,
	contact_info      TEXT,
	report_id         TEXT NOT NULL,
	start_ts          INTEGER NOT NULL,
	end_ts            INTEGER NOT NULL,
	sha256            BLOB NOT NULL CHECK (length(sha256) = 32),
	json_len          INTEGER NOT NULL CHECK (json_len >= 0),
	raw_gz            BLOB NOT NULL,
	lint              TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(lint)),
	domains           TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(domains)),
	total_successful  INTEGER NOT NULL,
	total_failed      INTEGER NOT NULL,
	counted           INTEGER NOT NULL CHECK (counted IN (0, 1)),
	conflict_of       INTEGER REFERENCES reports(id) ON DELETE SET NULL,
	received_at       INTEGER NOT NULL,
	-- The dedup key, window first: reports arrive day by day, so new keys land in the same few
	-- index pages instead of one random page each (a group commit then writes far fewer pages).
	UNIQUE (start_ts, end_ts, reporter_key, report_id, sha256)
) STRICT;
CREATE INDEX reports_conflict ON reports(conflict_of) WHERE conflict_of IS NOT NULL;

-- quarantine: bodies that were kept but not counted (not a report, unsigned mail, a domain we
-- do not serve, ...), deduplicated by the SHA-256 of the raw bytes: a body seen again bumps
-- seen_count and last_seen. detail is a JSON object (path, line, column, ...). status is
-- 'held' until an operator releases or reprocesses the row.
CREATE TABLE quarantine (
	id          INTEGER PRIMARY KEY,
	sha256      BLOB NOT NULL UNIQUE CHECK (length(sha256) = 32),
	reason_code TEXT NOT NULL,
	reason      TEXT NOT NULL,
	detail      TEXT CHECK (detail IS NULL OR json_valid(detail)),
	raw_gz      BLOB NOT NULL,
	raw_len     INTEGER NOT NULL CHECK (raw_len >= 0),
	first_seen  INTEGER NOT NULL,
	last_seen   INTEGER NOT NULL,
	seen_count  INTEGER NOT NULL DEFAULT 1 CHECK (seen_count >= 1),
	status      TEXT NOT NULL DEFAULT 'held'
) STRICT;

-- report_copies: every arrival of a body, duplicates included (provenance is never thrown
-- away). Exactly one of report / quarantine is set. meta is a JSON object of transport details
-- (DKIM verdict, TLS-Report-* headers, envelope recipient, ...).
CREATE TABLE report_copies (
	id          INTEGER PRIMARY KEY,
	report      INTEGER REFERENCES reports(id) ON DELETE CASCADE,
	quarantine  INTEGER REFERENCES quarantine(id) ON DELETE CASCADE,
	transport   TEXT NOT NULL,
	peer        TEXT,
	received_at INTEGER NOT NULL,
	meta        TEXT CHECK (meta IS NULL OR json_valid(meta)),
	CHECK ((report IS NULL) <> (quarantine IS NULL))
) STRICT;
CREATE INDEX report_copies_report ON report_copies(report) WHERE report IS NOT NULL;
CREATE INDEX report_copies_quarantine ON report_copies(quarantine) WHERE quarantine IS NOT NULL;

-- policies: one row per policy of a report, idx its 0-based position in the report.
-- policy_type is "sts", "tlsa", "no-policy-found" or the verbatim value; successful / failed
-- are NULL when the report did not give them. counted = 1 when the policy may feed the
-- rollups (decided by the pipeline; a conflicting report feeds nothing all the same).
CREATE TABLE policies (
	id            INTEGER PRIMARY KEY,
	report        INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
	idx           INTEGER NOT NULL CHECK (idx >= 0),
	policy_type   TEXT NOT NULL,
	policy_domain TEXT,
	sts_mode      TEXT,
	sts_max_age   INTEGER,
	successful    INTEGER CHECK (successful IS NULL OR successful >= 0),
	failed        INTEGER CHECK (failed IS NULL OR failed >= 0),
	counted       INTEGER NOT NULL CHECK (counted IN (0, 1)),
	UNIQUE (report, idx)
) STRICT;
CREATE INDEX policies_domain ON policies(policy_domain, report);

-- failures: one row per failure-details entry of a policy (report repeated for fast lookups).
-- result_type is verbatim for unknown types, "" when missing; IPs are canonical (or the raw
-- text when not an IP); failed_session_count is NULL when missing.
CREATE TABLE failures (
	id                     INTEGER PRIMARY KEY,
	policy                 INTEGER NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
	report                 INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
	result_type            TEXT NOT NULL,
	sending_mta_ip         TEXT,
	receiving_ip           TEXT,
	receiving_mx_hostname  TEXT,
	receiving_mx_helo      TEXT,
	failure_reason_code    TEXT,
	additional_information TEXT,
	failed_session_count   INTEGER
	    CHECK (failed_session_count IS NULL OR failed_session_count >= 0)
) STRICT;
CREATE INDEX failures_report ON failures(report);
CREATE INDEX failures_policy ON failures(policy);

-- daily_domain: sessions per policy domain and UTC day, written in the report's transaction.
-- day is the epoch day number: floor(epoch_seconds / 86400), i.e. days since 1970-01-01 UTC
-- (date(day * 86400, 'unixepoch') gives 'YYYY-MM-DD'). Per report and domain the counted
-- policy with the most sessions stands for the domain (sts + tlsa are not summed); a window
-- spanning several days is split in proportion to its seconds in each day (largest remainder,
-- exact totals). reports counts each report once per domain on every day its window covers.
CREATE TABLE daily_domain (
	domain     TEXT NOT NULL,
	day        INTEGER NOT NULL,
	reports    INTEGER NOT NULL DEFAULT 0,
	successful INTEGER NOT NULL DEFAULT 0,
	failed     INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (domain, day)
) STRICT, WITHOUT ROWID;

-- daily_policy: the same split per policy type (every counted policy adds its own numbers,
-- so sts and tlsa for one domain are both visible here).
CREATE TABLE daily_policy (
	domain      TEXT NOT NULL,
	day         INTEGER NOT NULL,
	policy_type TEXT NOT NULL,
	successful  INTEGER NOT NULL DEFAULT 0,
	failed      INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (domain, day, policy_type)
) STRICT, WITHOUT ROWID;

-- meta: small key/value facts about the store. 'heartbeat' is rewritten by store_ping()
-- (epoch seconds of the last write round trip).
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value ANY
) STRICT;
INSERT INTO meta (key, value) VALUES ('heartbeat', 0);
