-- Sign-in challenges (AuthenticationService): single use, short-lived. A
-- challenge is spent by the verification that accepts it; the hourly jobs
-- delete expired ones.
CREATE TABLE login_challenges (
    id          uuid PRIMARY KEY,
    challenge   text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX login_challenges_expires ON login_challenges (expires_at);
