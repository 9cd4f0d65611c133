-- CRL retention. A CRL is regenerated about 2 s after any status change,
-- and every renewal and reissue revokes its predecessor, so a busy CA signs
-- thousands of CRLs a day, each megabytes at scale. Keeping every DER
-- forever grows without bound. What an audit of the number sequence needs
-- stays forever: number, times, entry count and the DER's SHA-256. The DER
-- itself is dropped once the CRL has been past its nextUpdate for the
-- retention time (crl.Options.Retention). The latest CRL is never pruned.
-- Certificate status at any past time stays answerable from certificates
-- (revoked_at, reason) and the sealed audit log.

ALTER TABLE crls ADD COLUMN der_sha256 bytea;
UPDATE crls SET der_sha256 = sha256(der);
ALTER TABLE crls
    ALTER COLUMN der_sha256 SET NOT NULL,
    ALTER COLUMN der DROP NOT NULL,
    ADD COLUMN pruned_at timestamptz,
    ADD CONSTRAINT crls_der_or_pruned CHECK ((der IS NULL) = (pruned_at IS NOT NULL)),
    ADD CONSTRAINT crls_der_sha256_len CHECK (length(der_sha256) = 32);
