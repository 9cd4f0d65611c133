-- Indexes for the background jobs (issue 8, item 8). Each job deletes or
-- updates a bounded batch per transaction; without these every batch scans
-- its whole table, and the spent-evidence purge ran for minutes at volume.
--
-- The foreign key used_evidence.enrollment_id had no index: deleting an
-- enrollment made PostgreSQL scan used_evidence once per deleted row to
-- check that nothing referenced it (144 s for 5,000 enrollments against
-- 400,000 evidence rows; well under a second with the index), and the
-- purge's NOT EXISTS did the same.
CREATE INDEX IF NOT EXISTS used_evidence_enrollment ON used_evidence (enrollment_id)
    WHERE enrollment_id IS NOT NULL;

-- The time columns the purges filter on.
CREATE INDEX IF NOT EXISTS used_evidence_used_at ON used_evidence (used_at);
CREATE INDEX IF NOT EXISTS enrollments_expires_at ON enrollments (expires_at);

-- The CRL prune walks one issuer's CRLs in number order looking for DER
-- to drop. Pruned rows (most of them, after a while) stay forever, so the
-- primary key made each prune step over every CRL ever pruned first.
CREATE INDEX IF NOT EXISTS crls_unpruned ON crls (issuer_id, number) WHERE der IS NOT NULL;
