CREATE INDEX IF NOT EXISTS certificates_profile_status
    ON certificates (profile, status, not_after);
CREATE INDEX IF NOT EXISTS audit_events_operations
    ON audit_events (at) INCLUDE (action)
    WHERE outcome = 'ok' AND action IN ('issue', 'renew', 'reissue', 'revoke');
DROP TRIGGER IF EXISTS audit_events_count_insert ON audit_events;
DROP TRIGGER IF EXISTS certificates_count_delete ON certificates;
DROP TRIGGER IF EXISTS certificates_count_update ON certificates;
DROP TRIGGER IF EXISTS certificates_count_insert ON certificates;
DROP FUNCTION IF EXISTS operation_counts_insert();
DROP FUNCTION IF EXISTS certificate_counts_delete();
DROP FUNCTION IF EXISTS certificate_counts_update();
DROP FUNCTION IF EXISTS certificate_counts_insert();
DROP TABLE IF EXISTS operation_count_deltas;
DROP TABLE IF EXISTS operation_counts;
DROP TABLE IF EXISTS certificate_count_deltas;
DROP TABLE IF EXISTS certificate_counts;
