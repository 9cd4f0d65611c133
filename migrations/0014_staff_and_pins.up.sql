-- Issue 8: request ids purged after their retention, reissues pinned to
-- the certificate live when their enrollment started, revocable staff
-- certificates.

-- The hourly purge of request ids (ca.PurgeRequestIDs) reads by age.
CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON idempotency_keys (created_at);

-- signet_ledger_mark is the signature ledger's high-water mark: the id of
-- the last reservation made by anyone (sequences are not transactional, so
-- a reservation made after the mark was read always has a greater id).
CREATE FUNCTION signet_ledger_mark() RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM signatures_id_seq
$$;

-- Each enrollment records the mark when it was started. A reissue may
-- replace only a certificate reserved at or before its enrollment's mark,
-- the certificate that was live when the person started it: of concurrent
-- reissues of one person, the first replaces it and the others, which
-- never saw the new certificate, are refused instead of chaining.
ALTER TABLE enrollments ADD COLUMN ledger_mark bigint NOT NULL DEFAULT signet_ledger_mark();

-- Staff certificates withdrawn before their notAfter (signetd admin-cert
-- --revoke). The admin listener refuses a client certificate listed here,
-- or one the signature ledger does not hold as an issued staff certificate.
CREATE TABLE staff_revocations (
    serial      text PRIMARY KEY CHECK (serial ~ '^[0-9a-f]+$'),
    revoked_at  timestamptz NOT NULL,
    revoked_by  text NOT NULL,
    reason      text NOT NULL DEFAULT ''
);
