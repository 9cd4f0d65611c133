-- Copy relay sessions (issue 9 §1, devicecopy/SECURITY.md "Finding the
-- session"). The relay stores only what it carries: two CPace messages and
-- one AEAD-sealed package per attempt, all opaque to it. It never sees the
-- code: the sending device shows slot || 4 secret digits, the relay knows
-- the slot only. Payloads are nulled the moment a session ends; the purge
-- deletes ended rows a little later.

CREATE TABLE copy_sessions (
    id                 uuid PRIMARY KEY,
    -- The code's first two digits, assigned by the relay among free slots;
    -- NULL once the session ends so that the slot is free again.
    slot               text CHECK (slot ~ '^[0-9]{2}$'),
    state              text NOT NULL CHECK (state IN ('open', 'joined', 'completed', 'expired', 'burned', 'cancelled')),
    -- SHA-256 of each device's bearer token; the token itself is never stored.
    sender_token_hash   bytea NOT NULL CHECK (length(sender_token_hash) = 32),
    receiver_token_hash bytea CHECK (length(receiver_token_hash) = 32),
    -- One CPace run per attempt; failures counts failed confirmations
    -- reported by either device (the relay cannot check the code).
    attempt            int NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    failures           int NOT NULL DEFAULT 0 CHECK (failures >= 0),
    max_failures       int NOT NULL CHECK (max_failures >= 1),
    offer              bytea CHECK (length(offer) <= 1024),
    reply              bytea CHECK (length(reply) <= 1024),
    sealed             bytea CHECK (length(sealed) <= 65536),
    created_at         timestamptz NOT NULL,
    expires_at         timestamptz NOT NULL,
    ended_at           timestamptz,
    -- An ended session holds no slot and no payload. The token hashes stay
    -- until the purge, so that both devices can still learn how it ended.
    CHECK ((state IN ('open', 'joined')) = (ended_at IS NULL)),
    CHECK ((state IN ('open', 'joined')) = (slot IS NOT NULL)),
    CHECK (ended_at IS NULL OR (offer IS NULL AND reply IS NULL AND sealed IS NULL)),
    CHECK (state <> 'joined' OR receiver_token_hash IS NOT NULL)
);

-- One live session per slot: the receiver finds its session by the slot.
CREATE UNIQUE INDEX copy_sessions_live_slot ON copy_sessions (slot) WHERE slot IS NOT NULL;
-- The expiry sweep reads live sessions by deadline; the purge ended ones.
CREATE INDEX copy_sessions_live_expiry ON copy_sessions (expires_at) WHERE ended_at IS NULL;
CREATE INDEX copy_sessions_ended ON copy_sessions (ended_at) WHERE ended_at IS NOT NULL;
