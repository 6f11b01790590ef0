-- CDR store (crate `cdr`), PostgreSQL. One row per call, both legs; the meaning of
-- each column is documented on `cdr::CallRecord`. Versions 1000-1999 belong to `cdr`.
CREATE TABLE call_records (
    id                 BIGSERIAL PRIMARY KEY,
    call_id            UUID NOT NULL,
    a_leg_call_id      TEXT NOT NULL,
    b_leg_call_id      TEXT,
    direction          TEXT NOT NULL
        CHECK (direction IN ('outbound', 'inbound', 'internal')),
    start_time         TIMESTAMPTZ NOT NULL,
    answer_time        TIMESTAMPTZ,
    end_time           TIMESTAMPTZ NOT NULL,
    -- Whole seconds, truncated as Asterisk does; computed by the writer from the times.
    duration           BIGINT NOT NULL CHECK (duration >= 0),
    billsec            BIGINT NOT NULL CHECK (billsec >= 0 AND billsec <= duration),
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
    attempt            BIGINT,
    codec              TEXT,
    a_loss             DOUBLE PRECISION,
    a_jitter_ms        DOUBLE PRECISION,
    a_mos              DOUBLE PRECISION,
    b_loss             DOUBLE PRECISION,
    b_jitter_ms        DOUBLE PRECISION,
    b_mos              DOUBLE PRECISION,
    recording_path     TEXT,
    recording_complete BOOLEAN NOT NULL DEFAULT FALSE,
    node               TEXT NOT NULL,
    inserted_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
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
