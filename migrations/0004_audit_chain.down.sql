DROP TABLE IF EXISTS audit_checkpoints;
DROP TABLE IF EXISTS audit_chain;
DROP FUNCTION IF EXISTS audit_append_only();
DROP INDEX IF EXISTS audit_events_xid;
DROP TRIGGER IF EXISTS audit_events_stamp_xid ON audit_events;
DROP FUNCTION IF EXISTS audit_events_stamp_xid();
ALTER TABLE audit_events DROP COLUMN IF EXISTS xid;
-- Back to 0001's privileges: the owner holds every privilege.
GRANT UPDATE, DELETE, TRUNCATE ON audit_events TO CURRENT_USER;
