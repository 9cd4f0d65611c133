DROP INDEX IF EXISTS certificates_suspended_since;
ALTER TABLE enrollments DROP CONSTRAINT enrollments_purpose_check;
ALTER TABLE enrollments ADD CONSTRAINT enrollments_purpose_check
    CHECK (purpose IN ('issue', 'reissue', 'revoke'));
