-- Other CAs' certificates registered for use here (타행 인증서 등록). A row
-- is one certificate registered for one person; it is never deleted, so
-- that who could sign in with what, and when, stays answerable. Neither
-- the person's resident number nor the certificate's random R is stored:
-- they are used in memory to check the VID and dropped.
CREATE TABLE registrations (
    id                uuid PRIMARY KEY,
    subject_ref       text NOT NULL,
    -- SHA-256 of the certificate's DER: how a sign-in finds its row (the
    -- serial alone is only unique per issuer).
    cert_sha256       bytea NOT NULL,
    der               bytea NOT NULL,
    serial            text NOT NULL,
    issuer_dn         text NOT NULL,
    issuer_ski        bytea,
    -- The trust list entry (otherCAs[].name) the chain ended in.
    trust_ca          text NOT NULL,
    subject_dn        text NOT NULL,
    not_before        timestamptz NOT NULL,
    not_after         timestamptz NOT NULL,
    status            text NOT NULL CHECK (status IN ('active', 'unregistered', 'revoked', 'expired', 'replaced')),
    status_reason     text,
    revoked_at        timestamptz,
    last_checked_at   timestamptz NOT NULL,
    -- The last live status at the issuing CA: good, revoked or unknown, and
    -- whether it came from OCSP or the CRL.
    last_check_status text NOT NULL,
    last_check_source text NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
-- One live registration per certificate: registering it again for the same
-- person is a no-op, for another person a refusal, and a race between two
-- loses on this index.
CREATE UNIQUE INDEX registrations_one_active_per_cert ON registrations (cert_sha256) WHERE status = 'active';
-- Sign-in and Unregister find a certificate's latest row.
CREATE INDEX registrations_cert ON registrations (cert_sha256, created_at DESC);
-- ListRegistrations for a person.
CREATE INDEX registrations_subject ON registrations (subject_ref, created_at DESC);
-- The recheck job walks active rows, least recently checked first.
CREATE INDEX registrations_active_checked ON registrations (last_checked_at, id) WHERE status = 'active';

-- Registration challenges are enrollments: their nonce binds the identity
-- evidence and the key proof to one registration request.
ALTER TABLE enrollments DROP CONSTRAINT enrollments_purpose_check;
ALTER TABLE enrollments ADD CONSTRAINT enrollments_purpose_check
    CHECK (purpose IN ('issue', 'reissue', 'revoke', 'suspend', 'resume', 'register', 'unregister', 'registrations'));
