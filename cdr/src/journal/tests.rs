use std::fs::OpenOptions;
use std::io::Write;

use super::recovery::list_segments;
use super::*;
use crate::record::sample;

fn read_all(j: &Journal) -> Vec<CallRecord> {
    let mut reader = j.reader();
    let batch = reader.read_batch(usize::MAX).unwrap();
    batch.entries.iter().map(|e| e.decode().unwrap()).collect()
}

fn ids(records: &[CallRecord]) -> Vec<u128> {
    records.iter().map(|r| r.call_id.as_u128()).collect()
}

fn only_segment(dir: &Path) -> PathBuf {
    let segs = list_segments(dir).unwrap();
    assert_eq!(segs.len(), 1);
    segment_path(dir, *segs.first().unwrap())
}

#[tokio::test]
async fn records_survive_reopen_in_order() {
    let dir = tempfile::tempdir().unwrap();
    {
        let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        for n in 1..=5 {
            j.append(&sample(n)).await.unwrap();
        }
        assert_eq!(j.depth(), 5);
        j.close().await;
    }
    let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    assert_eq!(j.depth(), 5);
    let back = read_all(&j);
    assert_eq!(ids(&back), [1, 2, 3, 4, 5]);
    assert_eq!(back[2], sample(3));
}

#[tokio::test]
async fn torn_tail_is_truncated_and_earlier_records_survive() {
    let dir = tempfile::tempdir().unwrap();
    let good_len;
    {
        let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        for n in 1..=3 {
            j.append(&sample(n)).await.unwrap();
        }
        good_len = j.durable_position().offset;
        j.close().await;
    }
    // A crash in the middle of the fourth write: its frame is cut short.
    let path = only_segment(dir.path());
    let mut frame = Vec::new();
    encode_frame(&serde_json::to_vec(&sample(4)).unwrap(), &mut frame);
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&frame[..frame.len() / 2])
        .unwrap();

    let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), good_len);
    assert_eq!(j.depth(), 3);
    assert_eq!(ids(&read_all(&j)), [1, 2, 3]);
    // The journal goes on from the clean end.
    j.append(&sample(5)).await.unwrap();
    assert_eq!(ids(&read_all(&j)), [1, 2, 3, 5]);
}

#[tokio::test]
async fn checksum_failure_in_the_last_record_drops_only_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        for n in 1..=3 {
            j.append(&sample(n)).await.unwrap();
        }
        j.close().await;
    }
    let path = only_segment(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();

    let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    assert_eq!(ids(&read_all(&j)), [1, 2]);
}

#[tokio::test]
async fn concurrent_appends_share_one_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let (j, writer) = Journal::open_parts(dir.path(), JournalOptions::default()).unwrap();
    let mut tasks = Vec::new();
    for n in 0..64 {
        let j = j.clone();
        tasks.push(tokio::spawn(async move { j.append(&sample(n)).await }));
    }
    // Let every append reach the queue before the writer thread exists, so the group
    // it forms is known exactly.
    while j.tx.max_capacity() - j.tx.capacity() < 64 {
        tokio::task::yield_now().await;
    }
    writer.spawn().unwrap();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let stats = j.stats();
    assert_eq!(stats.appended, 64);
    assert_eq!(stats.syncs, 1);
    assert_eq!(read_all(&j).len(), 64);
}

#[tokio::test]
async fn shipped_records_are_not_replayed_and_old_segments_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let opts = JournalOptions {
        segment_bytes: 1_000,
        ..JournalOptions::default()
    };
    {
        let j = Journal::open(dir.path(), opts.clone()).unwrap();
        for n in 1..=10 {
            j.append(&sample(n)).await.unwrap();
        }
        assert!(j.stats().segments > 3, "small segments must rotate");
        let mut reader = j.reader();
        let batch = reader.read_batch(6).unwrap();
        assert_eq!(batch.entries.len(), 6);
        j.mark_shipped(batch.end, 6).unwrap();
        assert_eq!(j.depth(), 4);
        assert_eq!(j.shipped_position(), batch.end);
        let remaining = list_segments(dir.path()).unwrap();
        assert_eq!(remaining.first().copied(), Some(batch.end.segment));
        j.close().await;
    }
    let j = Journal::open(dir.path(), opts).unwrap();
    assert_eq!(j.depth(), 4);
    assert_eq!(ids(&read_all(&j)), [7, 8, 9, 10]);

    // Ship the rest: only the newest segment stays.
    let mut reader = j.reader();
    let batch = reader.read_batch(100).unwrap();
    j.mark_shipped(batch.end, batch.entries.len() as u64)
        .unwrap();
    assert_eq!(j.depth(), 0);
    let newest = *list_segments(dir.path()).unwrap().last().unwrap();
    assert!(list_segments(dir.path()).unwrap().len() <= 2);
    assert!(batch.end.segment <= newest);
}

#[tokio::test]
async fn reader_follows_the_writer_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let opts = JournalOptions {
        segment_bytes: 1_500,
        ..JournalOptions::default()
    };
    let j = Journal::open(dir.path(), opts).unwrap();
    let mut reader = j.reader();
    let mut seen = Vec::new();
    for n in 1..=12 {
        j.append(&sample(n)).await.unwrap();
        if n % 5 == 0 {
            let b = reader.read_batch(3).unwrap();
            seen.extend(
                b.entries
                    .iter()
                    .map(|e| e.decode().unwrap().call_id.as_u128()),
            );
        }
    }
    loop {
        let b = reader.read_batch(3).unwrap();
        if b.entries.is_empty() {
            assert_eq!(b.end, j.durable_position());
            break;
        }
        seen.extend(
            b.entries
                .iter()
                .map(|e| e.decode().unwrap().call_id.as_u128()),
        );
    }
    assert_eq!(seen, (1..=12).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_second_open_is_refused_while_the_first_is_live() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    assert!(matches!(
        Journal::open(dir.path(), JournalOptions::default()),
        Err(JournalError::Locked(_))
    ));
    j.close().await;
    drop(j);
    Journal::open(dir.path(), JournalOptions::default()).unwrap();
}

#[tokio::test]
async fn appends_after_close_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    j.append(&sample(1)).await.unwrap();
    j.close().await;
    assert!(matches!(
        j.append(&sample(2)).await,
        Err(JournalError::Closed)
    ));
}

#[tokio::test]
async fn damaged_checkpoint_replays_everything_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    {
        let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        for n in 1..=4 {
            j.append(&sample(n)).await.unwrap();
        }
        let b = j.reader().read_batch(2).unwrap();
        j.mark_shipped(b.end, 2).unwrap();
        j.close().await;
    }
    std::fs::write(dir.path().join(CHECKPOINT_FILE), b"garbage").unwrap();
    let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    assert_eq!(ids(&read_all(&j)), [1, 2, 3, 4]);
}

#[tokio::test]
async fn segment_cut_short_while_being_created_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    {
        let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        j.append(&sample(1)).await.unwrap();
        j.close().await;
    }
    // A crash between creating segment 2 and writing its header.
    std::fs::write(segment_path(dir.path(), 2), &segment_header(2)[..5]).unwrap();
    let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    j.append(&sample(2)).await.unwrap();
    assert_eq!(ids(&read_all(&j)), [1, 2]);
    assert_eq!(j.durable_position().segment, 2);
}

#[tokio::test]
async fn foreign_file_with_a_segment_name_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        segment_path(dir.path(), 1),
        b"this is not a CDR journal at all",
    )
    .unwrap();
    assert!(matches!(
        Journal::open(dir.path(), JournalOptions::default()),
        Err(JournalError::NotAJournal { .. })
    ));
}

#[tokio::test]
async fn oversized_record_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    let mut r = sample(1);
    r.sip_reason = "x".repeat(MAX_PAYLOAD);
    assert!(matches!(j.append(&r).await, Err(JournalError::TooLarge(_))));
    j.append(&sample(2)).await.unwrap();
    assert_eq!(ids(&read_all(&j)), [2]);
}

#[tokio::test]
async fn quarantine_keeps_the_record_as_a_json_line() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
    let payload = serde_json::to_vec(&sample(9)).unwrap();
    j.quarantine(&payload, "check violation").unwrap();
    j.quarantine(b"not json", "undecodable").unwrap();
    let text = std::fs::read_to_string(dir.path().join(REJECTED_FILE)).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["reason"], "check violation");
    assert_eq!(lines[0]["record"]["call_id"], sample(9).call_id.to_string());
    assert_eq!(lines[1]["record"], "not json");
}
