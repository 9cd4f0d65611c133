-- Per-subject rate limit (issue 8 item 11): one fixed-window counter per
-- subject, shared by every replica. One row per subject that ever made an
-- identity-checked request, reset in place when its window moves on, so
-- the table needs no purge and never outgrows the certificates table.
CREATE TABLE subject_attempts (
    subject_ref  text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    attempts     integer NOT NULL CHECK (attempts > 0)
);
