-- Suspension (효력정지) and resumption (효력회복) need their own enrollment
-- purposes; the lapsed-hold job scans suspended rows by hold time.
ALTER TABLE enrollments DROP CONSTRAINT enrollments_purpose_check;
ALTER TABLE enrollments ADD CONSTRAINT enrollments_purpose_check
    CHECK (purpose IN ('issue', 'reissue', 'revoke', 'suspend', 'resume'));

CREATE INDEX certificates_suspended_since ON certificates (revoked_at) WHERE status = 'suspended';
