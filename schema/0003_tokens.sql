-- 0003_tokens: the bearer tokens of the read API and /metrics.
--
-- Run by storage/store.c inside one BEGIN IMMEDIATE transaction, followed by
-- PRAGMA user_version = 3. Conventions as in 0001_init.sql (STRICT, UTC epoch seconds).

-- tokens: the bearer tokens of the read API and /metrics (storage/tokens.c). Only the SHA-256
-- of the token text is kept (hash); the token itself is shown once, when it is made.
-- role 'read' sees the policy domains in domains (a JSON array of normalised domains, each
-- with its subdomains) or, with all_domains = 1, every domain; role 'admin' sees everything
-- and may use the quarantine endpoints (domains is then '[]'). last_used_at is written at
-- most about once a minute per token; revoked_at is set once and never cleared.
CREATE TABLE tokens (
	id           INTEGER PRIMARY KEY,
	hash         BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
	name         TEXT NOT NULL DEFAULT '',
	role         TEXT NOT NULL CHECK (role IN ('read', 'admin')),
	all_domains  INTEGER NOT NULL DEFAULT 0 CHECK (all_domains IN (0, 1)),
	domains      TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(domains) AND json_type(domains) = 'array'),
	created_at   INTEGER NOT NULL,
	last_used_at INTEGER,
	revoked_at   INTEGER,
	CHECK (role = 'read' OR (all_domains = 0 AND domains = '[]'))
) STRICT;
