-- Pruned CRLs cannot get their DER back; going down removes their rows.
DELETE FROM crls WHERE der IS NULL;
ALTER TABLE crls
    DROP CONSTRAINT crls_der_sha256_len,
    DROP CONSTRAINT crls_der_or_pruned,
    DROP COLUMN pruned_at,
    ALTER COLUMN der SET NOT NULL,
    DROP COLUMN der_sha256;
