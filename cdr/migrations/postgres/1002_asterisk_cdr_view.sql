-- Asterisk-compatible `cdr` view (docs/CONTRACT: billing and reporting tools written for
-- Asterisk read our records unchanged). Column names and types follow Asterisk's
-- cdr_pgsql table; values are derived from call_records:
--   channel     SIP/<caller endpoint>-<8 hex>   (slot for outbound/internal, trunk inbound)
--   dstchannel  SIP/<callee endpoint>-<8 hex>   ('' when no B leg was created)
--   lastapp     Dial, lastdata the dial string, amaflags 3 (DOCUMENTATION)
--   disposition CANCELLED is shown as NO ANSWER, which is what Asterisk records when the
--               caller hangs up before the answer; the other four are Asterisk's own.
--   accountcode the campaign, userfield the lead, uniqueid/linkedid our call id,
--   sequence    the row id, recordingfile the recording path (FreePBX's column).
CREATE VIEW cdr AS
SELECT
    r.start_time                                             AS calldate,
    r.src                                                    AS clid,
    r.src                                                    AS src,
    r.dst                                                    AS dst,
    CASE WHEN r.campaign_id IS NOT NULL THEN 'autodialer' ELSE r.direction END
                                                             AS dcontext,
    'SIP/' || CASE WHEN r.direction = 'inbound' THEN COALESCE(r.trunk, r.src)
                   ELSE COALESCE(r.slot, r.src) END
           || '-' || substr(replace(r.call_id::text, '-', ''), 1, 8)
                                                             AS channel,
    CASE WHEN r.b_leg_call_id IS NULL THEN ''
         ELSE 'SIP/' || CASE r.direction WHEN 'outbound' THEN COALESCE(r.trunk, r.dst)
                                         WHEN 'inbound' THEN COALESCE(r.slot, r.dst)
                                         ELSE r.dst END
              || '-' || substr(replace(r.call_id::text, '-', ''), 9, 8)
    END                                                      AS dstchannel,
    'Dial'::text                                             AS lastapp,
    CASE r.direction WHEN 'outbound' THEN 'SIP/' || COALESCE(r.trunk, '') || '/' || r.dst
                     WHEN 'inbound' THEN 'SIP/' || COALESCE(r.slot, r.dst)
                     ELSE 'SIP/' || r.dst END                AS lastdata,
    LEAST(r.duration, 2147483647)::integer                   AS duration,
    LEAST(r.billsec, 2147483647)::integer                    AS billsec,
    CASE r.disposition WHEN 'CANCELLED' THEN 'NO ANSWER' ELSE r.disposition END
                                                             AS disposition,
    3                                                        AS amaflags,
    COALESCE(r.campaign_id, '')                              AS accountcode,
    r.call_id::text                                          AS uniqueid,
    COALESCE(r.lead_id, '')                                  AS userfield,
    r.call_id::text                                          AS linkedid,
    r.id                                                     AS sequence,
    ''::text                                                 AS peeraccount,
    COALESCE(r.recording_path, '')                           AS recordingfile
FROM call_records r;
