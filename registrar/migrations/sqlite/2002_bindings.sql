-- Registrar location table, SQLite: one row per binding (AOR, contact), written behind
-- the in-memory index. `q` is in thousandths (RFC 3261 §20.10); times are INTEGER
-- milliseconds since the Unix epoch (UTC). No foreign key to `slots`: a late write for a
-- slot that was just deprovisioned must not fail a whole batch; orphans expire.
CREATE TABLE bindings (
    aor            TEXT NOT NULL,
    contact        TEXT NOT NULL,
    call_id        TEXT NOT NULL,
    cseq           INTEGER NOT NULL CHECK (cseq >= 0),
    expires_at     INTEGER NOT NULL,
    q              INTEGER CHECK (q BETWEEN 0 AND 1000),
    source_ip      TEXT NOT NULL,
    source_port    INTEGER NOT NULL CHECK (source_port BETWEEN 0 AND 65535),
    transport      TEXT NOT NULL,
    user_agent     TEXT,
    registered_at  INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (aor, contact)
);
CREATE INDEX bindings_expires_at ON bindings (expires_at);
