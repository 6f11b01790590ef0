-- CDR store (crate `cdr`), SQLite. One row per call, both legs; the meaning of each
-- column is documented on `cdr::CallRecord`. Versions 1000-1999 belong to `cdr`.
-- Times are INTEGER milliseconds since the Unix epoch (UTC): exact, compact, and ordered
-- the same way as PostgreSQL's timestamptz for keyset paging.
CREATE TABLE call_records (
    id                 INTEGER PRIMARY KEY,
    call_id            TEXT NOT NULL,
    a_leg_call_id      TEXT NOT NULL,
    b_leg_call_id      TEXT,
    direction          TEXT NOT NULL
        CHECK (direction IN ('outbound', 'inbound', 'internal')),
    start_time         INTEGER NOT NULL,
    answer_time        INTEGER,
    end_time           INTEGER NOT NULL,
    -- Whole seconds, truncated as Asterisk does; computed by the writer from the times.
    duration           INTEGER NOT NULL CHECK (duration >= 0),
    billsec            INTEGER NOT NULL CHECK (billsec >= 0 AND billsec <= duration),
    disposition        TEXT NOT NULL
        CHECK (disposition IN ('ANSWERED', 'NO ANSWER', 'BUSY', 'FAILED', 'CANCELLED')),
    sip_code           INTEGER NOT NULL,
    sip_reason         TEXT NOT NULL,
    hangup_side        TEXT NOT NULL CHECK (hangup_side IN ('caller', 'callee', 'system')),
    src                TEXT NOT NULL,
    dst                TEXT NOT NULL,
    slot               TEXT,
    hub                TEXT,
    trunk              TEXT,
    campaign_id        TEXT,
    lead_id            TEXT,
    attempt            INTEGER,
    codec              TEXT,
    a_loss             REAL,
    a_jitter_ms        REAL,
    a_mos              REAL,
    b_loss             REAL,
    b_jitter_ms        REAL,
    b_mos              REAL,
    recording_path     TEXT,
    recording_complete INTEGER NOT NULL DEFAULT 0 CHECK (recording_complete IN (0, 1)),
    node               TEXT NOT NULL,
    inserted_at        INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
    -- The journal replays after a crash; this makes every replay a no-op.
    CONSTRAINT call_records_call_id_key UNIQUE (call_id)
);

-- Every index ends in (start_time, call_id): the keyset paging order, so a filtered page
-- is one index range scan. Optional columns get partial indexes to stay small.
CREATE INDEX call_records_start_idx ON call_records (start_time, call_id);
CREATE INDEX call_records_slot_idx ON call_records (slot, start_time, call_id)
    WHERE slot IS NOT NULL;
CREATE INDEX call_records_src_idx ON call_records (src, start_time, call_id);
CREATE INDEX call_records_dst_idx ON call_records (dst, start_time, call_id);
CREATE INDEX call_records_lead_idx ON call_records (lead_id, start_time, call_id)
    WHERE lead_id IS NOT NULL;
CREATE INDEX call_records_campaign_idx ON call_records (campaign_id, start_time, call_id)
    WHERE campaign_id IS NOT NULL;
CREATE INDEX call_records_disposition_idx ON call_records (disposition, start_time, call_id);
