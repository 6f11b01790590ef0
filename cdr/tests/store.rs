//! The database side against real PostgreSQL and SQLite: round trip, filters and
//! paging, CSV, idempotent inserts, migrations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cdr::{CallRecord, CdrFilter, Db, Direction, Disposition, StoreError};
use common::{T0, TestPg, at, bare, full, row_count, sqlite};
use uuid::Uuid;

// ---------------------------------------------------------------- round trip

async fn round_trip(db: &Db) {
    let records = [full(1), bare(2)];
    assert_eq!(db.insert_batch(&records).await.unwrap(), 2);
    for r in &records {
        let back = db.get(r.call_id).await.unwrap().expect("stored record");
        assert_eq!(&back, r, "{} round trip", db.backend_name());
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(r).unwrap()
        );
    }
    assert_eq!(db.get(Uuid::from_u128(404)).await.unwrap(), None);
}

#[tokio::test]
async fn pg_record_round_trips_with_every_field() {
    let (_pg, db) = TestPg::migrated().await;
    round_trip(&db).await;
}

#[tokio::test]
async fn sqlite_record_round_trips_with_every_field() {
    let (_dir, db) = sqlite().await;
    round_trip(&db).await;
}

async fn sub_millisecond_and_nul(db: &Db) {
    let mut r = full(3);
    r.start += chrono::Duration::microseconds(456);
    r.src = "60\u{0}01".into();
    db.insert_batch(std::slice::from_ref(&r)).await.unwrap();
    let back = db.get(r.call_id).await.unwrap().unwrap();
    assert_eq!(back.start, at(r.start.timestamp_millis()));
    assert_eq!(back.src, "60\u{FFFD}01");
}

#[tokio::test]
async fn pg_keeps_milliseconds_and_stores_nul_as_replacement() {
    let (_pg, db) = TestPg::migrated().await;
    sub_millisecond_and_nul(&db).await;
}

#[tokio::test]
async fn sqlite_keeps_milliseconds_and_stores_nul_as_replacement() {
    let (_dir, db) = sqlite().await;
    sub_millisecond_and_nul(&db).await;
}

// ---------------------------------------------------------------- filters and paging

/// 25 calls a minute apart; n = 25 is the newest.
fn population() -> Vec<CallRecord> {
    (1..=25u128)
        .map(|n| {
            let mut r = full(n);
            let slot = if n % 2 == 0 { "6001" } else { "7001" };
            r.slot = Some(slot.into());
            r.src = slot.into();
            r.disposition = Disposition::ALL[n as usize % 5];
            r.lead_id = Some(format!("lead-{}", n % 5));
            r.campaign_id = (n % 3 == 0).then(|| "camp-x".to_owned());
            if n == 25 {
                r.dst = "6001".into();
                r.direction = Direction::Internal;
            }
            r
        })
        .collect()
}

fn nums(records: &[CallRecord]) -> Vec<u128> {
    records
        .iter()
        .map(|r| r.call_id.as_u128() - full(0).call_id.as_u128())
        .collect()
}

async fn all_pages(db: &Db, filter: &CdrFilter, limit: u32) -> (Vec<u128>, usize) {
    let mut out = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = db.list(filter, limit, cursor.as_deref()).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= limit as usize);
        out.extend(nums(&page.items));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 100, "paging does not end");
    }
    (out, pages)
}

async fn filters_and_paging(db: &Db) {
    db.insert_batch(&population()).await.unwrap();
    let everything = CdrFilter::default();
    let (ids, pages) = all_pages(db, &everything, 10).await;
    assert_eq!(
        ids,
        (1..=25).rev().collect::<Vec<_>>(),
        "newest first, no gaps"
    );
    assert_eq!(pages, 3);
    assert_eq!(db.count(&everything).await.unwrap(), 25);
    // An exact multiple of the page size ends without an empty extra page.
    let (_, pages) = all_pages(db, &everything, 5).await;
    assert_eq!(pages, 5);

    let cases: Vec<(CdrFilter, Vec<u128>)> = vec![
        (
            CdrFilter {
                slot: Some("6001".into()),
                ..Default::default()
            },
            (1..=25).rev().filter(|n| n % 2 == 0).collect(),
        ),
        (
            // Source or destination: the even calls from 6001 and call 25 to it.
            CdrFilter {
                number: Some("6001".into()),
                ..Default::default()
            },
            (1..=25).rev().filter(|n| n % 2 == 0 || *n == 25).collect(),
        ),
        (
            CdrFilter {
                number: Some("79990000007".into()),
                ..Default::default()
            },
            vec![7],
        ),
        (
            CdrFilter {
                lead_id: Some("lead-3".into()),
                ..Default::default()
            },
            vec![23, 18, 13, 8, 3],
        ),
        (
            CdrFilter {
                campaign_id: Some("camp-x".into()),
                ..Default::default()
            },
            (1..=25).rev().filter(|n| n % 3 == 0).collect(),
        ),
        (
            CdrFilter {
                disposition: Some(Disposition::Busy),
                ..Default::default()
            },
            (1..=25).rev().filter(|n| n % 5 == 2).collect(),
        ),
        (
            // Half-open range: calls 5..=9 start in [T0+5 min, T0+10 min).
            CdrFilter {
                from: Some(at(T0 + 5 * 60_000)),
                to: Some(at(T0 + 10 * 60_000)),
                ..Default::default()
            },
            vec![9, 8, 7, 6, 5],
        ),
        (
            CdrFilter {
                slot: Some("7001".into()),
                campaign_id: Some("camp-x".into()),
                from: Some(at(T0 + 4 * 60_000)),
                ..Default::default()
            },
            vec![21, 15, 9],
        ),
        (
            CdrFilter {
                slot: Some("9999".into()),
                ..Default::default()
            },
            vec![],
        ),
    ];
    for (filter, expected) in cases {
        let (ids, _) = all_pages(db, &filter, 2).await;
        assert_eq!(ids, expected, "{} {filter:?}", db.backend_name());
        assert_eq!(db.count(&filter).await.unwrap(), expected.len() as u64);
    }

    for bad in ["nonsense", "", "AQID"] {
        assert!(matches!(
            db.list(&everything, 10, Some(bad)).await,
            Err(StoreError::InvalidCursor)
        ));
    }
    // Limits are clamped rather than refused.
    assert_eq!(db.list(&everything, 0, None).await.unwrap().items.len(), 1);
    assert_eq!(
        db.list(&everything, 1_000_000, None)
            .await
            .unwrap()
            .items
            .len(),
        25
    );
}

#[tokio::test]
async fn pg_filters_and_keyset_paging() {
    let (_pg, db) = TestPg::migrated().await;
    filters_and_paging(&db).await;
}

#[tokio::test]
async fn sqlite_filters_and_keyset_paging() {
    let (_dir, db) = sqlite().await;
    filters_and_paging(&db).await;
}

#[tokio::test]
async fn paging_is_stable_when_calls_start_in_the_same_millisecond() {
    let (_dir, db) = sqlite().await;
    let (_pg, pg) = TestPg::migrated().await;
    let same: Vec<CallRecord> = (1..=7)
        .map(|n| {
            let mut r = full(n);
            r.start = at(T0);
            r
        })
        .collect();
    for db in [&db, &pg] {
        db.insert_batch(&same).await.unwrap();
        let (ids, _) = all_pages(db, &CdrFilter::default(), 3).await;
        assert_eq!(
            ids,
            (1..=7).rev().collect::<Vec<_>>(),
            "{}",
            db.backend_name()
        );
    }
}

// ---------------------------------------------------------------- CSV

async fn csv(db: &Db) {
    let mut tricky = bare(9);
    tricky.sip_reason = "Busy, \"really\"\r\nyes".into();
    db.insert_batch(&[full(1), tricky.clone()]).await.unwrap();
    let bytes = db.export_csv_bytes(&CdrFilter::default()).await.unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let expected = concat!(
        "call_id,a_leg_call_id,b_leg_call_id,direction,start,answer,end,duration,billsec,",
        "disposition,sip_code,sip_reason,hangup_side,src,dst,slot,hub,trunk,campaign_id,",
        "lead_id,attempt,codec,a_loss,a_jitter_ms,a_mos,b_loss,b_jitter_ms,b_mos,",
        "recording_path,recording_complete,node\r\n",
        // bare(9) is newer than full(1), so it comes first.
        "20000000-0000-0000-0000-000000000009,bare9@x,,inbound,2024-03-01T10:09:00.000Z,,",
        "2024-03-01T10:09:00.500Z,0,0,FAILED,503,\"Busy, \"\"really\"\"\r\nyes\",system,",
        "74951234567,8001,,,,,,,,,,,,,,,,node-b\r\n",
        "10000000-0000-0000-0000-000000000001,a1-3f2c@10.0.0.5,b1-77aa@vss,outbound,",
        "2024-03-01T10:01:00.123Z,2024-03-01T10:01:04.373Z,2024-03-01T10:02:06.122Z,65,61,",
        "ANSWERED,200,OK,callee,6001,79990000001,6001,auto1,carrier1,camp-1,lead-1,2,PCMA,",
        "0.0125,3.5,4.31,0.5,21.25,2.75,/var/recordings/1.wav,true,node-a\r\n",
    );
    assert_eq!(text, expected, "{}", db.backend_name());

    let mut out = Vec::new();
    let n = db
        .export_csv(
            &CdrFilter {
                disposition: Some(Disposition::Answered),
                ..Default::default()
            },
            &mut out,
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(String::from_utf8(out).unwrap().matches("\r\n").count(), 2);
}

#[tokio::test]
async fn pg_csv_export_quotes_per_rfc_4180() {
    let (_pg, db) = TestPg::migrated().await;
    csv(&db).await;
}

#[tokio::test]
async fn sqlite_csv_export_quotes_per_rfc_4180() {
    let (_dir, db) = sqlite().await;
    csv(&db).await;
}

#[tokio::test]
async fn csv_export_pages_through_more_than_one_read() {
    let (_dir, db) = sqlite().await;
    let many: Vec<CallRecord> = (1..=2_345).map(full).collect();
    db.insert_batch(&many).await.unwrap();
    let text =
        String::from_utf8(db.export_csv_bytes(&CdrFilter::default()).await.unwrap()).unwrap();
    assert_eq!(text.matches("\r\n").count(), 2_346);
}

// ---------------------------------------------------------------- idempotence

async fn idempotent(db: &Db) {
    let first: Vec<CallRecord> = (1..=5).map(full).collect();
    assert_eq!(db.insert_batch(&first).await.unwrap(), 5);
    assert_eq!(db.insert_batch(&first).await.unwrap(), 0);
    let overlap: Vec<CallRecord> = (4..=8).map(full).collect();
    assert_eq!(db.insert_batch(&overlap).await.unwrap(), 3);
    assert_eq!(row_count(db).await, 8);
    // More rows than one statement holds: several statements, one transaction.
    let many: Vec<CallRecord> = (100..1_300).map(full).collect();
    assert_eq!(db.insert_batch(&many).await.unwrap(), 1_200);
    assert_eq!(db.insert_batch(&many).await.unwrap(), 0);
    assert_eq!(row_count(db).await, 1_208);
    assert_eq!(db.insert_batch(&[]).await.unwrap(), 0);
}

#[tokio::test]
async fn pg_replayed_inserts_never_duplicate() {
    let (_pg, db) = TestPg::migrated().await;
    idempotent(&db).await;
}

#[tokio::test]
async fn sqlite_replayed_inserts_never_duplicate() {
    let (_dir, db) = sqlite().await;
    idempotent(&db).await;
}

// ---------------------------------------------------------------- migrations

async fn foreign_migration(db: &Db) {
    // Another crate's set, already applied to the shared database.
    let sql = "INSERT INTO _sqlx_migrations \
        (version, description, success, checksum, execution_time) \
        VALUES (2001, 'registrar bindings', TRUE, X'00', 0)";
    match db {
        Db::Postgres(p) => {
            let pg_sql = "INSERT INTO _sqlx_migrations \
                (version, description, success, checksum, execution_time) \
                VALUES (2001, 'registrar bindings', TRUE, '\\x00'::bytea, 0)";
            sqlx::query(pg_sql).execute(p).await.unwrap();
        }
        Db::Sqlite(p) => {
            sqlx::query(sql).execute(p).await.unwrap();
        }
        _ => unreachable!(),
    }
    cdr::migrate(db).await.unwrap();
    cdr::migrate(db).await.unwrap();
    db.insert_batch(&[full(1)]).await.unwrap();
    assert_eq!(row_count(db).await, 1);
}

#[tokio::test]
async fn pg_migrate_is_repeatable_beside_other_crates_migrations() {
    let (_pg, db) = TestPg::migrated().await;
    foreign_migration(&db).await;
}

#[tokio::test]
async fn sqlite_migrate_is_repeatable_beside_other_crates_migrations() {
    let (_dir, db) = sqlite().await;
    foreign_migration(&db).await;
}

#[tokio::test]
async fn sqlite_file_and_directory_are_created_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep/er/vss.db");
    let db = Db::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert!(path.exists());
    let Db::Sqlite(pool) = &db else {
        unreachable!()
    };
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn unsupported_and_unreachable_databases_are_errors() {
    assert!(matches!(
        Db::connect("mysql://localhost/x").await,
        Err(StoreError::UnsupportedUrl(_))
    ));
    let relay = common::Relay::closed().await;
    let err = Db::connect_with(&relay.url("x"), &common::quick_pool())
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
}
