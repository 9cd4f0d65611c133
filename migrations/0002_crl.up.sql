-- CRL publication (RFC 5280 section 5). Every CRL Signet signs is kept, so
-- that the number sequence can be audited and every replica serves the
-- latest one from here.

CREATE TABLE crls (
    issuer_id    text NOT NULL REFERENCES issuers (id),
    -- cRLNumber (RFC 5280 5.2.3): allocated as max(number)+1 under a
    -- per-issuer pg_advisory_xact_lock in the transaction that inserts the
    -- row; the primary key backs up "never a duplicate".
    number       bigint NOT NULL CHECK (number > 0),
    this_update  timestamptz NOT NULL,
    next_update  timestamptz NOT NULL,
    der          bytea NOT NULL,
    entries      int NOT NULL CHECK (entries >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer_id, number),
    CHECK (next_update > this_update)
);

-- The CRL entry query reads the revoked and suspended certificates of one
-- issuer that have not yet expired; without this index every CRL would
-- scan the whole certificates table.
CREATE INDEX certificates_crl_entries ON certificates (issuer_id, not_after)
    WHERE status IN ('revoked', 'suspended');
