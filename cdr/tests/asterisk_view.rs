//! The Asterisk-compatible `cdr` view, against real PostgreSQL and SQLite: Asterisk's
//! column names, types and values, filled from our records.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cdr::{CallRecord, Db, Disposition};
use common::{TestPg, bare, full, sqlite};
use sqlx::{Column, Row};
use uuid::Uuid;

const VIEW_COLUMNS: [&str; 20] = [
    "calldate",
    "clid",
    "src",
    "dst",
    "dcontext",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
    "accountcode",
    "uniqueid",
    "userfield",
    "linkedid",
    "sequence",
    "peeraccount",
    "recordingfile",
];

#[derive(Debug, PartialEq)]
struct ViewRow {
    calldate: String,
    texts: Vec<(String, String)>,
    duration: i64,
    billsec: i64,
    amaflags: i64,
}

const TEXT_COLUMNS: [&str; 14] = [
    "clid",
    "src",
    "dst",
    "dcontext",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "disposition",
    "accountcode",
    "uniqueid",
    "userfield",
    "linkedid",
    "peeraccount",
];

fn view_records() -> Vec<CallRecord> {
    let mut out = full(1);
    out.call_id = Uuid::parse_str("a1b2c3d4-e5f6-4789-8abc-def012345678").unwrap();
    let mut inbound = bare(2);
    inbound.trunk = Some("carrier1".into());
    inbound.slot = Some("8001".into());
    inbound.b_leg_call_id = Some("x@y".into());
    inbound.call_id = Uuid::parse_str("0badc0de-1111-4222-8333-444455556666").unwrap();
    inbound.disposition = Disposition::Cancelled;
    inbound.sip_code = 487;
    vec![out, inbound]
}

async fn view_rows(db: &Db) -> (Vec<String>, Vec<ViewRow>) {
    let sql = "SELECT * FROM cdr ORDER BY calldate";
    match db {
        Db::Postgres(pool) => {
            let rows = sqlx::query(sql).fetch_all(pool).await.unwrap();
            let names = rows[0]
                .columns()
                .iter()
                .map(|c| c.name().to_owned())
                .collect();
            let rows = rows
                .iter()
                .map(|r| ViewRow {
                    calldate: r
                        .get::<chrono::DateTime<chrono::Utc>, _>("calldate")
                        .format("%Y-%m-%d %H:%M:%S%.3f")
                        .to_string(),
                    texts: TEXT_COLUMNS
                        .iter()
                        .map(|c| (c.to_string(), r.get::<String, _>(*c)))
                        .collect(),
                    // Asterisk's cdr_pgsql columns are integers: decoding as i32 checks it.
                    duration: r.get::<i32, _>("duration").into(),
                    billsec: r.get::<i32, _>("billsec").into(),
                    amaflags: r.get::<i32, _>("amaflags").into(),
                })
                .collect();
            (names, rows)
        }
        Db::Sqlite(pool) => {
            let rows = sqlx::query(sql).fetch_all(pool).await.unwrap();
            let names = rows[0]
                .columns()
                .iter()
                .map(|c| c.name().to_owned())
                .collect();
            let rows = rows
                .iter()
                .map(|r| ViewRow {
                    calldate: r.get::<String, _>("calldate"),
                    texts: TEXT_COLUMNS
                        .iter()
                        .map(|c| (c.to_string(), r.get::<String, _>(*c)))
                        .collect(),
                    duration: r.get("duration"),
                    billsec: r.get("billsec"),
                    amaflags: r.get("amaflags"),
                })
                .collect();
            (names, rows)
        }
        _ => unreachable!(),
    }
}

fn texts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

async fn asterisk_view(db: &Db) {
    db.insert_batch(&view_records()).await.unwrap();
    let (names, rows) = view_rows(db).await;
    assert_eq!(names, VIEW_COLUMNS);
    assert_eq!(rows.len(), 2);
    let pg = matches!(db, Db::Postgres(_));
    // full(1) starts at T0 + 60 s + 123 ms = 2024-03-01 10:01:00.123 UTC.
    assert_eq!(
        rows[0].calldate,
        if pg {
            "2024-03-01 10:01:00.123"
        } else {
            "2024-03-01 10:01:00"
        }
    );
    assert_eq!(
        rows[0].texts,
        texts(&[
            ("clid", "6001"),
            ("src", "6001"),
            ("dst", "79990000001"),
            ("dcontext", "autodialer"),
            ("channel", "SIP/6001-a1b2c3d4"),
            ("dstchannel", "SIP/carrier1-e5f64789"),
            ("lastapp", "Dial"),
            ("lastdata", "SIP/carrier1/79990000001"),
            ("disposition", "ANSWERED"),
            ("accountcode", "camp-1"),
            ("uniqueid", "a1b2c3d4-e5f6-4789-8abc-def012345678"),
            ("userfield", "lead-1"),
            ("linkedid", "a1b2c3d4-e5f6-4789-8abc-def012345678"),
            ("peeraccount", ""),
        ])
    );
    // 65.999 s of call, 61.749 s after the answer: Asterisk truncates.
    assert_eq!(
        (rows[0].duration, rows[0].billsec, rows[0].amaflags),
        (65, 61, 3)
    );

    assert_eq!(
        rows[1].texts,
        texts(&[
            ("clid", "74951234567"),
            ("src", "74951234567"),
            ("dst", "8001"),
            ("dcontext", "inbound"),
            ("channel", "SIP/carrier1-0badc0de"),
            ("dstchannel", "SIP/8001-11114222"),
            ("lastapp", "Dial"),
            ("lastdata", "SIP/8001"),
            // Asterisk has no CANCELLED: a caller who gives up is NO ANSWER there.
            ("disposition", "NO ANSWER"),
            ("accountcode", ""),
            ("uniqueid", "0badc0de-1111-4222-8333-444455556666"),
            ("userfield", ""),
            ("linkedid", "0badc0de-1111-4222-8333-444455556666"),
            ("peeraccount", ""),
        ])
    );
    assert_eq!((rows[1].duration, rows[1].billsec), (0, 0));
    // Our own API still says CANCELLED.
    let ours = db.get(view_records()[1].call_id).await.unwrap().unwrap();
    assert_eq!(ours.disposition, Disposition::Cancelled);
}

#[tokio::test]
async fn pg_asterisk_view_has_asterisk_columns_and_values() {
    let (_pg, db) = TestPg::migrated().await;
    asterisk_view(&db).await;
}

#[tokio::test]
async fn sqlite_asterisk_view_has_asterisk_columns_and_values() {
    let (_dir, db) = sqlite().await;
    asterisk_view(&db).await;
}
