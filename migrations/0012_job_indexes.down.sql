DROP INDEX IF EXISTS crls_unpruned;
DROP INDEX IF EXISTS enrollments_expires_at;
DROP INDEX IF EXISTS used_evidence_used_at;
DROP INDEX IF EXISTS used_evidence_enrollment;
