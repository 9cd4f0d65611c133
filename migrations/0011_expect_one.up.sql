-- signet_expect_one raises unless n = 1. The delivery of a certificate is
-- one pipeline of statements in one implicit transaction (no BEGIN/COMMIT
-- round trips); a guarded update that touched no row must abort it there,
-- in the server, since the client reads the row counts only after the
-- pipeline has committed. The message is the condition's name, which
-- store maps to its error.
CREATE FUNCTION signet_expect_one(n bigint, what text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF n <> 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = what;
    END IF;
END;
$$;
