-- Tamper evidence for the audit log (issue "Admin audit", part 1).
--
-- Events are still inserted by the transaction that makes the change, with
-- no hash: hashing there would serialize every change on the chain's tail.
-- A background sealer (one replica, session advisory lock) appends them to
-- a SHA-256 hash chain afterwards and signs a checkpoint of the chain's
-- head now and then. The chain order is the seal order (audit_chain.seq),
-- which is (xid, id) order, not necessarily id order.
--
-- Why xid: a bigserial id is taken when the row is inserted, not when its
-- transaction commits, so ids commit out of order and "every id below X is
-- committed" is never safe. Each event instead records the id of the
-- top-level transaction that inserted it. A snapshot's xmin
-- (pg_snapshot_xmin(pg_current_snapshot())) is the oldest transaction id
-- that was still running when the snapshot was taken, and PostgreSQL
-- hands out transaction ids in increasing order, so:
--   * every transaction with an id below xmin has ended: its events are
--     committed and visible to that snapshot, or rolled back and gone for
--     good;
--   * every transaction that can still insert an event (running now, or
--     not yet holding an id) has, or will get, an id of at least xmin.
-- The set of events with xid < xmin therefore never changes again, and the
-- sealer takes exactly those, in (xid, id) order, after the last event it
-- sealed. It does so in one statement, whose snapshot is the one
-- pg_current_snapshot() reports. Transaction ids are cluster-wide, so a
-- transaction holding an id for long, in any database of the cluster (a
-- write that waits, a session idle inside a transaction, a prepared
-- transaction), delays sealing of later events until it ends, but never
-- makes the sealer skip one. pg_current_xact_id() gives the top-level id
-- even inside a savepoint, and a savepoint's fate follows its top-level
-- transaction's.
--
-- Caveat: the ids are this cluster's. A logical dump restored into a new
-- cluster (whose counter starts low again) would put new events before the
-- sealed ones in seal order; such a restore needs a new chain.
ALTER TABLE audit_events ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();

-- The sealer relies on xid being the inserting transaction's id: an
-- explicit value (a bug, an import) could place an event behind the part
-- of the log already sealed, where it would never be sealed. The trigger
-- overrides any value given. Existing rows carry this migration's id.
CREATE FUNCTION audit_events_stamp_xid() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.xid := pg_current_xact_id();
    RETURN NEW;
END;
$$;

CREATE TRIGGER audit_events_stamp_xid
    BEFORE INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_stamp_xid();

-- The sealer's read: events after the last sealed (xid, id), in order.
CREATE INDEX audit_events_xid ON audit_events (xid, id);

-- hash(seq) = SHA-256(hash(seq-1) || canonical bytes of the event), with
-- hash(0) = 32 zero bytes. The canonical bytes cover every column of
-- audit_events as text (package audit documents the exact layout).
--
-- event_id has no foreign key to audit_events, on purpose:
--   * PostgreSQL checks foreign keys before BEFORE TRUNCATE triggers, so
--     TRUNCATE audit_events would fail on the key instead of meeting the
--     append-only trigger (and its message);
--   * a foreign key check locks the referenced row FOR KEY SHARE, which
--     needs UPDATE privilege on audit_events, revoked below, and writes a
--     row lock into every sealed event;
--   * it would protect nothing the trigger does not: DELETE is refused by
--     the trigger, and whoever can bypass the trigger (a superuser with
--     session_replication_role = replica) bypasses foreign keys too.
-- audit.Verify reports a chain entry whose event is gone.
CREATE TABLE audit_chain (
    seq       bigint PRIMARY KEY CHECK (seq > 0),
    event_id  bigint NOT NULL UNIQUE,
    hash      bytea NOT NULL CHECK (length(hash) = 32)
);

-- A signed checkpoint of the chain at seq. signer_der is the audit
-- signer's certificate (issued by the CA through the CAS, ECDSA P-256)
-- followed by its issuing chain, concatenated DER, so that anyone holding
-- the CA root can verify the signature.
CREATE TABLE audit_checkpoints (
    seq         bigint PRIMARY KEY REFERENCES audit_chain (seq),
    hash        bytea NOT NULL CHECK (length(hash) = 32),
    signed_at   timestamptz NOT NULL,
    signature   bytea NOT NULL,
    signer_der  bytea NOT NULL
);

CREATE FUNCTION audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_chain_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_chain_no_truncate
    BEFORE TRUNCATE ON audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate
    BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- Privileges as a second wall besides the triggers. The service role
-- (CURRENT_USER, which owns the tables) keeps SELECT and INSERT only.
-- Exception: the foreign key of audit_checkpoints locks the referenced
-- chain row FOR KEY SHARE, which PostgreSQL allows only to a role holding
-- UPDATE on at least one column of the referenced table, so the owner
-- keeps UPDATE on audit_chain.seq. The row trigger refuses any UPDATE
-- anyway. (An owner can always grant itself
-- privileges back, and a superuser bypasses them: the hash chain and the
-- signed checkpoints are what detect such changes.)
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_chain, audit_checkpoints FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_chain, audit_checkpoints FROM CURRENT_USER;
GRANT UPDATE (seq) ON audit_chain TO CURRENT_USER;
