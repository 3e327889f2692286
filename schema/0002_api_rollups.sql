-- 0002_api_rollups: the rollups behind the read API (/api/v1/domains, summary, timeseries,
-- readiness, stats), the quarantine's link to a reprocessed report, and the data generation
-- the API's ETags are derived from.
--
-- Like daily_domain, every rollup is written by storage/store.c in the transaction of a NEW
-- counted report (conflicts and duplicates feed nothing), from the policies with counted = 1,
-- and a window spanning several UTC days is split over them in proportion to its seconds
-- (largest remainder, earlier day first on a tie; see store_split). The backfill at the end
-- of this file computes the same numbers from the rows already stored, so a database written
-- before this migration answers the same as one written after it; the one thing it cannot
-- recover is an sts policy's mx lines (not kept in columns before): roll_sts.mx is '' there.
--
-- roll_sender has two grains: 0 = one UTC day (period = epoch day number, as daily_domain.day),
-- 1 = one calendar month (period = year * 12 + month - 1); a month row is always the sum of
-- its day rows. Sending IPs can be thousands per domain and day: the read side adds whole
-- months from grain 1 and the days at either end from grain 0, so a year reads at most 13
-- month rows and 61 day rows per IP instead of 365. The other rollups are per day: they hold few rows.
--
-- The policy standing for a domain in a report is its counted policy with the most sessions
-- (store_pick: the first by position on a tie), as in daily_domain: sts + tlsa for the same
-- sessions are not summed.

-- roll_reporter: sessions per domain, UTC day and reporter organisation (organization-name
-- verbatim, '' when missing), from the standing policies. reports counts each report once on
-- every day its window covers.
CREATE TABLE roll_reporter (
	domain     TEXT NOT NULL,
	day        INTEGER NOT NULL,
	org        TEXT NOT NULL,
	reports    INTEGER NOT NULL,
	successful INTEGER NOT NULL,
	failed     INTEGER NOT NULL,
	PRIMARY KEY (domain, day, org)
) STRICT, WITHOUT ROWID;

-- roll_path: failed sessions of the failure-details per domain, UTC day, policy and "path"
-- (result-type, receiving-mx-hostname, receiving-ip; '' when the detail did not give one).
-- Every counted policy adds its own rows: policy_type and sts_mode ('' unless an sts policy
-- gave a mode) are the policy's, stands = 1 when it is the standing policy (the breakdowns
-- read stands = 1 only; readiness reads every sts row). Details of one policy with the same
-- path are summed before the split; a missing failed-session-count adds 0; rows that would
-- add 0 are not written.
CREATE TABLE roll_path (
	domain      TEXT NOT NULL,
	day         INTEGER NOT NULL,
	policy_type TEXT NOT NULL,
	sts_mode    TEXT NOT NULL,
	stands      INTEGER NOT NULL CHECK (stands IN (0, 1)),
	result_type TEXT NOT NULL,
	mx          TEXT NOT NULL,
	rip         TEXT NOT NULL,
	failed      INTEGER NOT NULL,
	PRIMARY KEY (domain, day, policy_type, sts_mode, stands, result_type, mx, rip)
) STRICT, WITHOUT ROWID;

-- roll_sender: failed sessions per domain, period and sending-mta-ip ('' when missing), from
-- the details of the standing policies only (summed per IP before the split). Grains 0 and 1.
CREATE TABLE roll_sender (
	domain TEXT NOT NULL,
	grain  INTEGER NOT NULL CHECK (grain IN (0, 1)),
	period INTEGER NOT NULL,
	ip     TEXT NOT NULL,
	failed INTEGER NOT NULL,
	PRIMARY KEY (domain, grain, period, ip)
) STRICT, WITHOUT ROWID;

-- roll_sts: the sts policies reported, per domain and UTC day: mode ('' when none given) and
-- mx, the policy's mx patterns (from the policy-string, else the mx-host list), lower-case,
-- sorted, without duplicates, joined by single spaces ('' when unknown: reports stored before
-- this migration). Every counted sts policy adds its own numbers.
CREATE TABLE roll_sts (
	domain     TEXT NOT NULL,
	day        INTEGER NOT NULL,
	mode       TEXT NOT NULL,
	mx         TEXT NOT NULL,
	reports    INTEGER NOT NULL,
	successful INTEGER NOT NULL,
	failed     INTEGER NOT NULL,
	PRIMARY KEY (domain, day, mode, mx)
) STRICT, WITHOUT ROWID;

-- ingest_daily: arrivals (report_copies rows) per UTC day of arrival, transport and verdict:
-- 'accepted' (first copy of a counted report), 'conflict' (first copy of a conflicting
-- report), 'duplicate' (a later copy), 'quarantined' (a copy of a quarantine row). Kept by
-- the trigger below, so every writer (reports, quarantine, reprocessing) feeds it.
CREATE TABLE ingest_daily (
	day       INTEGER NOT NULL,
	transport TEXT NOT NULL,
	verdict   TEXT NOT NULL,
	copies    INTEGER NOT NULL,
	PRIMARY KEY (day, transport, verdict)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER ingest_daily_count AFTER INSERT ON report_copies
BEGIN
	INSERT INTO ingest_daily (day, transport, verdict, copies)
	VALUES ((NEW.received_at - ((NEW.received_at % 86400) + 86400) % 86400) / 86400,
	    NEW.transport,
	    CASE WHEN NEW.quarantine IS NOT NULL THEN 'quarantined'
	         WHEN EXISTS (SELECT 1 FROM report_copies c
	             WHERE c.report = NEW.report AND c.id < NEW.id) THEN 'duplicate'
	         WHEN (SELECT counted FROM reports WHERE id = NEW.report) = 1 THEN 'accepted'
	         ELSE 'conflict' END,
	    1)
	ON CONFLICT (day, transport, verdict) DO UPDATE SET copies = copies + 1;
END;

-- quarantine.report: the report a quarantined body became when it was reprocessed
-- (status 'reprocessed').
ALTER TABLE quarantine ADD COLUMN report INTEGER REFERENCES reports(id) ON DELETE SET NULL;

-- meta 'generation': bumped whenever stored data changes without a new report_copies row
-- (a quarantine row reprocessed or deleted, a report deleted). The API's ETag is derived
-- from it and the highest copy, report and quarantine ids. The row appears with the first
-- such change (absent: 0).
CREATE TRIGGER generation_quarantine_update AFTER UPDATE OF status, report ON quarantine
BEGIN
	INSERT INTO meta (key, value) VALUES ('generation', 1)
	    ON CONFLICT (key) DO UPDATE SET value = value + 1;
END;
CREATE TRIGGER generation_quarantine_delete AFTER DELETE ON quarantine
BEGIN
	INSERT INTO meta (key, value) VALUES ('generation', 1)
	    ON CONFLICT (key) DO UPDATE SET value = value + 1;
END;
CREATE TRIGGER generation_report_delete AFTER DELETE ON reports
BEGIN
	INSERT INTO meta (key, value) VALUES ('generation', 1)
	    ON CONFLICT (key) DO UPDATE SET value = value + 1;
END;

-- ---- backfill from the rows already stored ----

-- The UTC days of every counted report's window and the seconds of each, exactly as
-- store_window_init: an end at hh:59:59 counts as the next whole second; an empty or inverted
-- window is one day (the start's, span 1); one covering more than 366 days is one day (its
-- last, span 1).
CREATE TEMP TABLE mig_days AS
WITH RECURSIVE
w0 AS (
	SELECT id AS report, start_ts AS s,
	    CASE WHEN ((end_ts % 3600) + 3600) % 3600 = 3599 THEN end_ts + 1 ELSE end_ts END AS e
	FROM reports WHERE counted = 1
),
w1 AS (
	SELECT report, s, e,
	    (s - ((s % 86400) + 86400) % 86400) / 86400 AS d0,
	    ((e - 1) - (((e - 1) % 86400) + 86400) % 86400) / 86400 AS d1
	FROM w0
),
w AS (
	SELECT report, s, e,
	    CASE WHEN e <= s THEN d0 WHEN d1 - d0 >= 366 THEN d1 ELSE d0 END AS first_day,
	    CASE WHEN e <= s OR d1 - d0 >= 366 THEN 1 ELSE d1 - d0 + 1 END AS n,
	    CASE WHEN e <= s OR d1 - d0 >= 366 THEN 1 ELSE e - s END AS span
	FROM w1
),
days (report, s, e, first_day, n, span, i) AS (
	SELECT report, s, e, first_day, n, span, 0 FROM w
	UNION ALL
	SELECT report, s, e, first_day, n, span, i + 1 FROM days WHERE i + 1 < n
)
SELECT report, first_day + i AS day, n, span,
    CASE WHEN n = 1 THEN span
         ELSE min(e, (first_day + i + 1) * 86400) - max(s, (first_day + i) * 86400) END AS secs
FROM days;
CREATE INDEX temp.mig_days_report ON mig_days(report);

-- The counted policies of counted reports, with stands = 1 for the one standing for its
-- domain (most sessions, the first by position on a tie: store_pick).
CREATE TEMP TABLE mig_pol AS
SELECT p.id AS policy, p.report, p.policy_type, p.policy_domain AS domain,
    coalesce(p.sts_mode, '') AS sts_mode, coalesce(p.successful, 0) AS successful,
    coalesce(p.failed, 0) AS failed, coalesce(r.organization_name, '') AS org,
    row_number() OVER (PARTITION BY p.report, p.policy_domain
        ORDER BY coalesce(p.successful, 0) + coalesce(p.failed, 0) DESC, p.idx) = 1 AS stands
FROM policies p JOIN reports r ON r.id = p.report
WHERE r.counted = 1 AND p.counted = 1 AND p.policy_domain IS NOT NULL AND p.policy_domain <> '';
CREATE INDEX temp.mig_pol_policy ON mig_pol(policy);

-- Items to split: (item, report, kind, keys, ok, bad): kind 1 feeds roll_reporter, 2 roll_sts,
-- 3 roll_path, 4 roll_sender. The split of store_split: each day gets (c / span) * secs +
-- ((c % span) * secs) / span, and the rest goes one by one to the largest remainders
-- ((c % span) * secs) % span, the earlier day first on a tie.
CREATE TEMP TABLE mig_item (
	item   INTEGER PRIMARY KEY,
	report INTEGER NOT NULL,
	kind   INTEGER NOT NULL,
	domain TEXT NOT NULL,
	a      TEXT NOT NULL,    -- reporter: org; sts: mode; path: policy_type; sender: ip
	b      TEXT NOT NULL,    -- path: sts_mode
	stands INTEGER NOT NULL,
	c      TEXT NOT NULL,    -- path: result_type
	d      TEXT NOT NULL,    -- path: mx
	e      TEXT NOT NULL,    -- path: rip
	ok     INTEGER NOT NULL,
	bad    INTEGER NOT NULL
);
INSERT INTO mig_item (report, kind, domain, a, b, stands, c, d, e, ok, bad)
SELECT report, 1, domain, org, '', 1, '', '', '', successful, failed FROM mig_pol WHERE stands;
INSERT INTO mig_item (report, kind, domain, a, b, stands, c, d, e, ok, bad)
SELECT report, 2, domain, sts_mode, '', stands, '', '', '', successful, failed
FROM mig_pol WHERE policy_type = 'sts';
INSERT INTO mig_item (report, kind, domain, a, b, stands, c, d, e, ok, bad)
SELECT mp.report, 3, mp.domain, mp.policy_type, CASE WHEN mp.policy_type = 'sts'
    THEN mp.sts_mode ELSE '' END, mp.stands, f.result_type,
    coalesce(f.receiving_mx_hostname, '') AS mx, coalesce(f.receiving_ip, '') AS rip,
    0, sum(coalesce(f.failed_session_count, 0))
FROM failures f JOIN mig_pol mp ON mp.policy = f.policy
GROUP BY mp.policy, f.result_type, mx, rip
HAVING sum(coalesce(f.failed_session_count, 0)) > 0;
INSERT INTO mig_item (report, kind, domain, a, b, stands, c, d, e, ok, bad)
SELECT mp.report, 4, mp.domain, coalesce(f.sending_mta_ip, '') AS ip, '', 1, '', '', '',
    0, sum(coalesce(f.failed_session_count, 0))
FROM failures f JOIN mig_pol mp ON mp.policy = f.policy
WHERE mp.stands
GROUP BY mp.policy, ip
HAVING sum(coalesce(f.failed_session_count, 0)) > 0;

CREATE TEMP TABLE mig_split AS
WITH s0 AS (
	SELECT i.item, d.day, d.n,
	    CASE WHEN d.n = 1 THEN i.ok
	         ELSE (i.ok / d.span) * d.secs + ((i.ok % d.span) * d.secs) / d.span END AS ok0,
	    CASE WHEN d.n = 1 THEN 0 ELSE ((i.ok % d.span) * d.secs) % d.span END AS ok_rem,
	    CASE WHEN d.n = 1 THEN i.bad
	         ELSE (i.bad / d.span) * d.secs + ((i.bad % d.span) * d.secs) / d.span END AS bad0,
	    CASE WHEN d.n = 1 THEN 0 ELSE ((i.bad % d.span) * d.secs) % d.span END AS bad_rem,
	    i.ok, i.bad
	FROM mig_item i JOIN mig_days d ON d.report = i.report
),
s1 AS (
	SELECT item, day, ok0, bad0,
	    ok - sum(ok0) OVER (PARTITION BY item) AS ok_left,
	    row_number() OVER (PARTITION BY item ORDER BY ok_rem DESC, day) AS ok_rank,
	    bad - sum(bad0) OVER (PARTITION BY item) AS bad_left,
	    row_number() OVER (PARTITION BY item ORDER BY bad_rem DESC, day) AS bad_rank
	FROM s0
)
SELECT item, day, ok0 + (ok_rank <= ok_left) AS ok, bad0 + (bad_rank <= bad_left) AS bad
FROM s1;

INSERT INTO roll_reporter (domain, day, org, reports, successful, failed)
SELECT i.domain, s.day, i.a, count(*), sum(s.ok), sum(s.bad)
FROM mig_split s JOIN mig_item i ON i.item = s.item WHERE i.kind = 1
GROUP BY i.domain, s.day, i.a;

INSERT INTO roll_sts (domain, day, mode, mx, reports, successful, failed)
SELECT i.domain, s.day, i.a, '', count(*), sum(s.ok), sum(s.bad)
FROM mig_split s JOIN mig_item i ON i.item = s.item WHERE i.kind = 2
GROUP BY i.domain, s.day, i.a;

INSERT INTO roll_path (domain, day, policy_type, sts_mode, stands, result_type, mx, rip, failed)
SELECT i.domain, s.day, i.a, i.b, i.stands, i.c, i.d, i.e, sum(s.bad)
FROM mig_split s JOIN mig_item i ON i.item = s.item WHERE i.kind = 3 AND s.bad > 0
GROUP BY i.domain, s.day, i.a, i.b, i.stands, i.c, i.d, i.e;

INSERT INTO roll_sender (domain, grain, period, ip, failed)
SELECT i.domain, 0, s.day, i.a, sum(s.bad)
FROM mig_split s JOIN mig_item i ON i.item = s.item WHERE i.kind = 4 AND s.bad > 0
GROUP BY i.domain, s.day, i.a;
INSERT INTO roll_sender (domain, grain, period, ip, failed)
SELECT domain, 1, CAST(strftime('%Y', period * 86400, 'unixepoch') AS INTEGER) * 12 +
    CAST(strftime('%m', period * 86400, 'unixepoch') AS INTEGER) - 1 AS month, ip, sum(failed)
FROM roll_sender WHERE grain = 0
GROUP BY domain, month, ip;

INSERT INTO ingest_daily (day, transport, verdict, copies)
SELECT (c.received_at - ((c.received_at % 86400) + 86400) % 86400) / 86400 AS day,
    c.transport,
    CASE WHEN c.quarantine IS NOT NULL THEN 'quarantined'
         WHEN EXISTS (SELECT 1 FROM report_copies c2
             WHERE c2.report = c.report AND c2.id < c.id) THEN 'duplicate'
         WHEN r.counted = 1 THEN 'accepted'
         ELSE 'conflict' END AS verdict,
    count(*)
FROM report_copies c LEFT JOIN reports r ON r.id = c.report
GROUP BY 1, 2, 3;

DROP TABLE mig_split;
DROP TABLE mig_item;
DROP TABLE mig_pol;
DROP TABLE mig_days;
