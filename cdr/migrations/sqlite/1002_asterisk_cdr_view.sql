-- Asterisk-compatible `cdr` view (docs/CONTRACT: billing and reporting tools written for
-- Asterisk read our records unchanged). Column names follow Asterisk's CDR; calldate is
-- text 'YYYY-MM-DD HH:MM:SS' in UTC, as Asterisk's SQLite backends write it. Values are
-- derived from call_records exactly as in the PostgreSQL view:
--   channel     SIP/<caller endpoint>-<8 hex>   (slot for outbound/internal, trunk inbound)
--   dstchannel  SIP/<callee endpoint>-<8 hex>   ('' when no B leg was created)
--   lastapp     Dial, lastdata the dial string, amaflags 3 (DOCUMENTATION)
--   disposition CANCELLED is shown as NO ANSWER, which is what Asterisk records when the
--               caller hangs up before the answer; the other four are Asterisk's own.
--   accountcode the campaign, userfield the lead, uniqueid/linkedid our call id,
--   sequence    the row id, recordingfile the recording path (FreePBX's column).
CREATE VIEW cdr AS
SELECT
    datetime(r.start_time / 1000, 'unixepoch')               AS calldate,
    r.src                                                    AS clid,
    r.src                                                    AS src,
    r.dst                                                    AS dst,
    CASE WHEN r.campaign_id IS NOT NULL THEN 'autodialer' ELSE r.direction END
                                                             AS dcontext,
    'SIP/' || CASE WHEN r.direction = 'inbound' THEN COALESCE(r.trunk, r.src)
                   ELSE COALESCE(r.slot, r.src) END
           || '-' || substr(replace(r.call_id, '-', ''), 1, 8)
                                                             AS channel,
    CASE WHEN r.b_leg_call_id IS NULL THEN ''
         ELSE 'SIP/' || CASE r.direction WHEN 'outbound' THEN COALESCE(r.trunk, r.dst)
                                         WHEN 'inbound' THEN COALESCE(r.slot, r.dst)
                                         ELSE r.dst END
              || '-' || substr(replace(r.call_id, '-', ''), 9, 8)
    END                                                      AS dstchannel,
    'Dial'                                                   AS lastapp,
    CASE r.direction WHEN 'outbound' THEN 'SIP/' || COALESCE(r.trunk, '') || '/' || r.dst
                     WHEN 'inbound' THEN 'SIP/' || COALESCE(r.slot, r.dst)
                     ELSE 'SIP/' || r.dst END                AS lastdata,
    r.duration                                               AS duration,
    r.billsec                                                AS billsec,
    CASE r.disposition WHEN 'CANCELLED' THEN 'NO ANSWER' ELSE r.disposition END
                                                             AS disposition,
    3                                                        AS amaflags,
    COALESCE(r.campaign_id, '')                              AS accountcode,
    r.call_id                                                AS uniqueid,
    COALESCE(r.lead_id, '')                                  AS userfield,
    r.call_id                                                AS linkedid,
    r.id                                                     AS sequence,
    ''                                                       AS peeraccount,
    COALESCE(r.recording_path, '')                           AS recordingfile
FROM call_records r;
