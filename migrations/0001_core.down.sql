DROP TABLE IF EXISTS audit_events;
DROP FUNCTION IF EXISTS audit_events_append_only();
DROP TABLE IF EXISTS idempotency_keys;
DROP TABLE IF EXISTS used_evidence;
DROP TABLE IF EXISTS compromised_keys;
DROP TABLE IF EXISTS certificates;
DROP TABLE IF EXISTS enrollments;
DROP TABLE IF EXISTS issuers;
