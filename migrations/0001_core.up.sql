-- Core life cycle schema. DESIGN.md "Invariants Signet keeps" are enforced
-- here where a database can enforce them, not only in code.

CREATE TABLE issuers (
    id          text PRIMARY KEY,
    subject     text NOT NULL,
    der         bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE enrollments (
    id          uuid PRIMARY KEY,
    nonce       text NOT NULL UNIQUE,
    purpose     text NOT NULL CHECK (purpose IN ('issue', 'reissue', 'revoke')),
    profile     text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

CREATE TABLE certificates (
    serial             text PRIMARY KEY CHECK (serial ~ '^[0-9a-f]+$'),
    subject_ref        text NOT NULL,
    profile            text NOT NULL,
    status             text NOT NULL CHECK (status IN ('active', 'suspended', 'revoked', 'expired')),
    subject_dn         text NOT NULL,
    not_before         timestamptz NOT NULL,
    not_after          timestamptz NOT NULL,
    -- SHA-256 of the SubjectPublicKeyInfo: invariant 5, no key certified twice.
    spki_sha256        bytea NOT NULL UNIQUE,
    key_type           text NOT NULL,
    der                bytea NOT NULL,
    issuer_id          text NOT NULL REFERENCES issuers (id),
    operation          text NOT NULL CHECK (operation IN ('issue', 'reissue', 'renew')),
    replaces           text REFERENCES certificates (serial),
    -- Deferred so that a reissue can point the old row at the new one before
    -- inserting it (the one-live index needs the old row revoked first).
    replaced_by        text REFERENCES certificates (serial) DEFERRABLE INITIALLY DEFERRED,
    revoked_at         timestamptz,
    revocation_reason  smallint CHECK (revocation_reason BETWEEN 0 AND 10 AND revocation_reason <> 7),
    request_id         text NOT NULL,
    phone_masked       text,
    account_masked     text,
    bank               text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((status IN ('revoked', 'suspended')) = (revoked_at IS NOT NULL AND revocation_reason IS NOT NULL))
);

-- Invariant 3: at most one live certificate per (subject, profile). A
-- suspended certificate is still live: it can be resumed.
CREATE UNIQUE INDEX certificates_one_live_per_subject_profile
    ON certificates (subject_ref, profile)
    WHERE status IN ('active', 'suspended');

CREATE INDEX certificates_subject_ref ON certificates (subject_ref, profile, created_at);
CREATE INDEX certificates_not_after ON certificates (not_after) WHERE status IN ('active', 'suspended');

-- Keys revoked for keyCompromise stay blocked forever, even if the
-- certificate row were ever archived (invariant 5).
CREATE TABLE compromised_keys (
    spki_sha256  bytea PRIMARY KEY,
    serial       text NOT NULL REFERENCES certificates (serial),
    reported_at  timestamptz NOT NULL
);

-- Invariant 4: evidence tokens are single use. The key is "<issuer>/<jti>".
CREATE TABLE used_evidence (
    id             text PRIMARY KEY,
    kind           text NOT NULL,
    enrollment_id  uuid REFERENCES enrollments (id),
    used_at        timestamptz NOT NULL
);

-- Invariant 6: a retried mutating call returns its first result.
CREATE TABLE idempotency_keys (
    request_id    text PRIMARY KEY,
    method        text NOT NULL,
    request_hash  bytea NOT NULL,
    response      bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Invariant 2: every change and every refusal, append only.
CREATE TABLE audit_events (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL,
    actor        text NOT NULL,
    action       text NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('ok', 'refused')),
    code         text NOT NULL DEFAULT '',
    reason       text NOT NULL DEFAULT '',
    serial       text,
    subject_ref  text,
    profile      text,
    request_id   text,
    details      jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX audit_events_serial ON audit_events (serial, id) WHERE serial IS NOT NULL;
CREATE INDEX audit_events_subject ON audit_events (subject_ref, id) WHERE subject_ref IS NOT NULL;
CREATE INDEX audit_events_at ON audit_events (at);

CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
