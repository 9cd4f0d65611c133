-- Indexes for the audit read side (issue "Admin audit", parts 3 and 5):
-- store/queries.go's SearchCertificates, CertificateHistory,
-- ListAuditEvents and Stats. Every listing is keyset-paginated, newest
-- first, so each index ends with the sort key (created_at, serial) or id:
-- a page is then one short ordered index range, whatever its depth.
-- bench/auditq checks the plans and latencies at 1,000,000 certificates and
-- 5,000,000 events.
--
-- INCLUDE columns let the planner filter on them inside an index-only scan
-- (the queries select a page's serials or ids first, then its rows), so a
-- rare combination costs index tuples, not heap pages.
--
-- IF NOT EXISTS: on a large production database, build these first with
-- CREATE INDEX CONCURRENTLY (same names and definitions) so that this
-- migration does not block writes while it builds them.

-- Unfiltered listing, issued between (created_at range), profile filter.
CREATE INDEX IF NOT EXISTS certificates_created
    ON certificates (created_at, serial) INCLUDE (profile, status, not_after);

-- Status filter (effective status: see store.StatusExpired), with or
-- without profile.
CREATE INDEX IF NOT EXISTS certificates_status_created
    ON certificates (status, created_at, serial) INCLUDE (profile, not_after);

-- Search by the name in the subject DN ("CN=홍길동()0008812…"). The
-- expression must stay identical to store.subjectNameExpr.
CREATE INDEX IF NOT EXISTS certificates_subject_name
    ON certificates ((split_part(split_part(subject_dn, '()', 1), 'CN='::text, 2)), created_at, serial);

-- notAfter windows (expires between, expiring within N days): the rows
-- are found by notAfter and ordered by (created_at, serial) from the
-- index alone.
CREATE INDEX IF NOT EXISTS certificates_not_after_all
    ON certificates (not_after) INCLUDE (created_at, serial, status, profile);

-- Stats: counts per profile and effective status in one index-only pass.
CREATE INDEX IF NOT EXISTS certificates_profile_status
    ON certificates (profile, status, not_after);

-- ListAuditEvents filters, newest first by id. The INCLUDE columns let a
-- combination (actor and action, action in a time window, ...) be checked
-- on index tuples, without a heap visit per passed-over event.
CREATE INDEX IF NOT EXISTS audit_events_actor ON audit_events (actor, id) INCLUDE (at, action, outcome);
CREATE INDEX IF NOT EXISTS audit_events_action ON audit_events (action, id) INCLUDE (at, actor, outcome);
CREATE INDEX IF NOT EXISTS audit_events_reason ON audit_events (reason, id) INCLUDE (at) WHERE reason <> '';
CREATE INDEX IF NOT EXISTS audit_events_refused ON audit_events (id) INCLUDE (at) WHERE outcome = 'refused';

-- Time windows: the events of a window are read from this index alone,
-- with the usual filters. It supersedes 0001's audit_events_at (at), which
-- is dropped.
CREATE INDEX IF NOT EXISTS audit_events_at_id ON audit_events (at, id) INCLUDE (actor, action, outcome);
DROP INDEX IF EXISTS audit_events_at;

-- Stats: successful life cycle operations per KST day.
CREATE INDEX IF NOT EXISTS audit_events_operations
    ON audit_events (at) INCLUDE (action)
    WHERE outcome = 'ok' AND action IN ('issue', 'renew', 'reissue', 'revoke');
