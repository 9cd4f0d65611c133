-- Counters behind GetStats (issue "Admin audit", part 3), so that its cost
-- no longer grows with the number of certificates and events: at 1,000,000
-- certificates and 5,000,000 events, counting the rows took 53 ms for a
-- 30-day range and 181 ms for two years.
--
-- Each count lives in two tables: a rollup with one row per group, and a
-- delta table that the triggers only append to. Updating the
-- rollup row in the trigger instead would make every issuance of a day
-- queue behind the row lock of the one before it until commit (and
-- transactions that touch two groups in opposite orders could deadlock).
-- Appending takes no lock anyone waits for. store.DB.FoldCounts moves the
-- deltas into the rollup now and then; a reader sums both in one
-- statement, so it sees the same counts before and after a fold.
--
-- Groups are by KST day: date_bin('1 day', t, '2000-01-01 00:00:00+09')
-- is the KST midnight that starts t's day (Korea keeps no daylight saving
-- time). The expression must stay identical to store.kstDayExpr.
--
-- The insert and delete triggers are statement-level, with transition
-- tables: they fire once per INSERT or COPY (seed.Run copies a million rows
-- in one statement), not once per row. bench/trigger-cost.sh measures one
-- call. The file runs as one implicit transaction: the triggers exist
-- before the backfill reads, and CREATE TRIGGER's lock keeps writers out
-- until both are committed, so no change is counted twice or missed.

-- Certificates per profile, stored status and the KST day of notAfter:
-- the day is what lets a reader move lapsed active and suspended
-- certificates to "expired" without reading them (see store.Stats).
CREATE TABLE certificate_counts (
    profile     text NOT NULL,
    status      text NOT NULL,
    expires_day timestamptz NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (profile, status, expires_day)
);
CREATE TABLE certificate_count_deltas (
    profile     text NOT NULL,
    status      text NOT NULL,
    expires_day timestamptz NOT NULL,
    n           bigint NOT NULL
);

-- Successful issue, renew, reissue and revoke events per KST day.
CREATE TABLE operation_counts (
    day    timestamptz NOT NULL,
    action text NOT NULL,
    n      bigint NOT NULL,
    PRIMARY KEY (day, action)
);
CREATE TABLE operation_count_deltas (
    day    timestamptz NOT NULL,
    action text NOT NULL,
    n      bigint NOT NULL
);

CREATE FUNCTION certificate_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO certificate_count_deltas (profile, status, expires_day, n)
    SELECT profile, status, date_bin('1 day', not_after, '2000-01-01 00:00:00+09'), count(*)
    FROM new_rows GROUP BY 1, 2, 3;
    RETURN NULL;
END $$;

-- An update moves a certificate from its old group to its new one. This
-- trigger is per row, with a WHEN that PostgreSQL checks without calling
-- the function: the life cycle's updates touch one row or a job's batch,
-- and most statements (ExpireLive on every issuance) change no row at all,
-- which a statement-level trigger would still be called for.
CREATE FUNCTION certificate_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO certificate_count_deltas (profile, status, expires_day, n) VALUES
        (OLD.profile, OLD.status, date_bin('1 day', OLD.not_after, '2000-01-01 00:00:00+09'), -1),
        (NEW.profile, NEW.status, date_bin('1 day', NEW.not_after, '2000-01-01 00:00:00+09'), 1);
    RETURN NULL;
END $$;

CREATE FUNCTION certificate_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO certificate_count_deltas (profile, status, expires_day, n)
    SELECT profile, status, date_bin('1 day', not_after, '2000-01-01 00:00:00+09'), -count(*)
    FROM old_rows GROUP BY 1, 2, 3;
    RETURN NULL;
END $$;

CREATE FUNCTION operation_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO operation_count_deltas (day, action, n)
    SELECT date_bin('1 day', at, '2000-01-01 00:00:00+09'), action, count(*)
    FROM new_rows
    WHERE outcome = 'ok' AND action IN ('issue', 'renew', 'reissue', 'revoke')
    GROUP BY 1, 2;
    RETURN NULL;
END $$;

CREATE TRIGGER certificates_count_insert AFTER INSERT ON certificates
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION certificate_counts_insert();
CREATE TRIGGER certificates_count_update AFTER UPDATE ON certificates FOR EACH ROW
    WHEN ((OLD.profile, OLD.status, OLD.not_after) IS DISTINCT FROM (NEW.profile, NEW.status, NEW.not_after))
    EXECUTE FUNCTION certificate_counts_update();
CREATE TRIGGER certificates_count_delete AFTER DELETE ON certificates
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION certificate_counts_delete();
CREATE TRIGGER audit_events_count_insert AFTER INSERT ON audit_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION operation_counts_insert();

INSERT INTO certificate_counts (profile, status, expires_day, n)
SELECT profile, status, date_bin('1 day', not_after, '2000-01-01 00:00:00+09'), count(*)
FROM certificates GROUP BY 1, 2, 3;

INSERT INTO operation_counts (day, action, n)
SELECT date_bin('1 day', at, '2000-01-01 00:00:00+09'), action, count(*)
FROM audit_events
WHERE outcome = 'ok' AND action IN ('issue', 'renew', 'reissue', 'revoke')
GROUP BY 1, 2;

-- Only Stats read these, and it reads the counters now. Partial days at
-- the ends of a range come from the time-ordered event indexes; the
-- lapsing day from certificates_not_after_all.
-- Two fewer indexes to write on every issuance.
DROP INDEX IF EXISTS certificates_profile_status;
DROP INDEX IF EXISTS audit_events_operations;
