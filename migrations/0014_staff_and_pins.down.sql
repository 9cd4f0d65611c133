DROP TABLE IF EXISTS staff_revocations;
ALTER TABLE enrollments DROP COLUMN IF EXISTS ledger_mark;
DROP FUNCTION IF EXISTS signet_ledger_mark();
DROP INDEX IF EXISTS idempotency_keys_created_at;
