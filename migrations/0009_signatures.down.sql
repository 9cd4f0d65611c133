DROP TABLE delegated_keys;
DROP TABLE signatures;
