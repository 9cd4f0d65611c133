-- The signature ledger: every signature a CA key makes is recorded here
-- before it is made (Boulder's order: serial and to-be-signed certificate
-- committed, then lint, then sign, then finalize). A failure after signing
-- leaves the row 'undelivered' with the DER; a process that dies between
-- recording and settling leaves it 'reserved' until recovery marks it
-- 'abandoned'. So for every signature the key ever made, the CA can say
-- what it signed and why.

CREATE TABLE signatures (
    id           bigserial PRIMARY KEY,
    -- Which key signed: the issuing CA's id (issuers.id) or the admin CA's.
    issuer_id    text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('subscriber', 'ocsp_responder', 'audit_signer', 'staff', 'crl')),
    -- Certificates carry a serial, CRLs a CRL number; never both.
    serial       text CHECK (serial ~ '^[0-9a-f]+$'),
    crl_number   bigint CHECK (crl_number > 0),
    purpose      text NOT NULL,
    request_id   text,
    subject_ref  text,
    -- The to-be-signed certificate (RawTBSCertificate of the linted twin);
    -- for a CRL, the digest of its inputs. The signed TBS must equal it.
    tbs          bytea,
    tbs_sha256   bytea NOT NULL CHECK (length(tbs_sha256) = 32),
    state        text NOT NULL CHECK (state IN ('reserved', 'issued', 'undelivered', 'abandoned')),
    -- Why a row is undelivered or abandoned, in words.
    outcome      text NOT NULL DEFAULT '',
    der          bytea,
    reserved_at  timestamptz NOT NULL,
    -- The database's own clock at the reservation: recovery judges an open
    -- reservation stale by it, so replicas whose clocks disagree never
    -- abandon each other's work in flight.
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    settled_at   timestamptz,
    CHECK ((serial IS NULL) <> (crl_number IS NULL)),
    CHECK ((state = 'reserved') = (settled_at IS NULL)),
    CHECK (state <> 'issued' OR der IS NOT NULL)
);

-- A serial is reserved once per key: a second reservation of the same
-- serial would be two different certificates under one serial.
CREATE UNIQUE INDEX signatures_serial ON signatures (issuer_id, serial) WHERE serial IS NOT NULL;
CREATE UNIQUE INDEX signatures_crl_number ON signatures (issuer_id, crl_number) WHERE crl_number IS NOT NULL;
-- The admin query "everything the key signed in a period", newest first.
CREATE INDEX signatures_reserved_at ON signatures (reserved_at, id);
-- Recovery reads only the open reservations.
CREATE INDEX signatures_open ON signatures (recorded_at) WHERE state = 'reserved';

-- Delegated signing keys (the OCSP responder's, the audit signer's) and
-- their certificates, so that every replica and every restart reuses one
-- certificate while it is valid instead of minting one per start. The key
-- is PKCS#8 sealed with AES-256-GCM under a key derived from the server's
-- secret; the database alone does not give it away.
CREATE TABLE delegated_keys (
    issuer_id   text NOT NULL,
    purpose     text NOT NULL CHECK (purpose IN ('ocsp_responder', 'audit_signer')),
    serial      text NOT NULL,
    cert_der    bytea NOT NULL,
    key_sealed  bytea NOT NULL,
    not_after   timestamptz NOT NULL,
    rotate_at   timestamptz NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (issuer_id, purpose, serial)
);
CREATE INDEX delegated_keys_current ON delegated_keys (issuer_id, purpose, rotate_at DESC);
