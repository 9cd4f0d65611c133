-- Spent evidence keeps its ids (still single use) but forgets the
-- registration challenges it was spent on, which go with this migration.
UPDATE used_evidence SET enrollment_id = NULL
    WHERE enrollment_id IN (SELECT id FROM enrollments WHERE purpose IN ('register', 'unregister', 'registrations'));
DELETE FROM enrollments WHERE purpose IN ('register', 'unregister', 'registrations');
ALTER TABLE enrollments DROP CONSTRAINT enrollments_purpose_check;
ALTER TABLE enrollments ADD CONSTRAINT enrollments_purpose_check
    CHECK (purpose IN ('issue', 'reissue', 'revoke', 'suspend', 'resume'));
DROP TABLE registrations;
