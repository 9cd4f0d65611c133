DROP INDEX IF EXISTS certificates_crl_entries;
DROP TABLE IF EXISTS crls;
