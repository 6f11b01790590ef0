//! CSV export of CDRs (RFC 4180).

use std::io::Write;

use crate::db::Db;
use crate::error::StoreError;
use crate::query::{CdrFilter, Cursor, MAX_PAGE_SIZE};
use crate::record::{CallRecord, format_time};

/// The header row, in the order [`write_csv_record`] writes fields.
pub const CSV_HEADER: [&str; 31] = [
    "call_id",
    "a_leg_call_id",
    "b_leg_call_id",
    "direction",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "sip_code",
    "sip_reason",
    "hangup_side",
    "src",
    "dst",
    "slot",
    "hub",
    "trunk",
    "campaign_id",
    "lead_id",
    "attempt",
    "codec",
    "a_loss",
    "a_jitter_ms",
    "a_mos",
    "b_loss",
    "b_jitter_ms",
    "b_mos",
    "recording_path",
    "recording_complete",
    "node",
];

/// Writes one field, quoted only when it must be.
// RFC 4180 §2.6: fields containing line breaks, double quotes or commas MUST be enclosed
// in double quotes; §2.7: a double quote inside is escaped by doubling it.
fn field(out: &mut impl Write, value: &str) -> std::io::Result<()> {
    if value.contains([',', '"', '\r', '\n']) {
        out.write_all(b"\"")?;
        out.write_all(value.replace('"', "\"\"").as_bytes())?;
        out.write_all(b"\"")
    } else {
        out.write_all(value.as_bytes())
    }
}

fn row<'a>(out: &mut impl Write, fields: impl IntoIterator<Item = &'a str>) -> std::io::Result<()> {
    for (i, f) in fields.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        field(out, f)?;
    }
    // RFC 4180 §2.1: each record is terminated by CRLF.
    out.write_all(b"\r\n")
}

/// Writes the header row.
pub fn write_csv_header(out: &mut impl Write) -> std::io::Result<()> {
    row(out, CSV_HEADER)
}

fn opt_num(v: Option<f64>) -> String {
    v.map(|f| f.to_string()).unwrap_or_default()
}

/// Writes one record as a CSV row; absent values are empty fields.
pub fn write_csv_record(out: &mut impl Write, r: &CallRecord) -> std::io::Result<()> {
    let fields: [String; 31] = [
        r.call_id.hyphenated().to_string(),
        r.a_leg_call_id.clone(),
        r.b_leg_call_id.clone().unwrap_or_default(),
        r.direction.as_str().to_owned(),
        format_time(r.start),
        r.answer.map(format_time).unwrap_or_default(),
        format_time(r.end),
        r.duration().to_string(),
        r.billsec().to_string(),
        r.disposition.as_str().to_owned(),
        r.sip_code.to_string(),
        r.sip_reason.clone(),
        r.hangup_side.as_str().to_owned(),
        r.src.clone(),
        r.dst.clone(),
        r.slot.clone().unwrap_or_default(),
        r.hub.clone().unwrap_or_default(),
        r.trunk.clone().unwrap_or_default(),
        r.campaign_id.clone().unwrap_or_default(),
        r.lead_id.clone().unwrap_or_default(),
        r.attempt.map(|a| a.to_string()).unwrap_or_default(),
        r.codec.clone().unwrap_or_default(),
        opt_num(r.a_quality.loss),
        opt_num(r.a_quality.jitter_ms),
        opt_num(r.a_quality.mos),
        opt_num(r.b_quality.loss),
        opt_num(r.b_quality.jitter_ms),
        opt_num(r.b_quality.mos),
        r.recording
            .as_ref()
            .map(|x| x.path.clone())
            .unwrap_or_default(),
        r.recording
            .as_ref()
            .map(|x| x.complete.to_string())
            .unwrap_or_default(),
        r.node.clone(),
    ];
    row(out, fields.iter().map(String::as_str))
}

impl Db {
    /// Writes every CDR matching `filter` as CSV (header first, newest first) to `out`,
    /// reading the database a page at a time so memory stays flat. Returns the number of
    /// records written.
    pub async fn export_csv(
        &self,
        filter: &CdrFilter,
        mut out: impl Write,
    ) -> Result<u64, StoreError> {
        write_csv_header(&mut out).map_err(StoreError::Output)?;
        let mut after = None;
        let mut written = 0u64;
        loop {
            let page = self.list_after(filter, MAX_PAGE_SIZE, after).await?;
            for r in &page.items {
                write_csv_record(&mut out, r).map_err(StoreError::Output)?;
            }
            written += page.items.len() as u64;
            match (page.next, page.items.last()) {
                (Some(_), Some(last)) => after = Some(Cursor::after(last)),
                _ => break,
            }
        }
        out.flush().map_err(StoreError::Output)?;
        Ok(written)
    }

    /// [`Db::export_csv`] into a byte vector.
    pub async fn export_csv_bytes(&self, filter: &CdrFilter) -> Result<Vec<u8>, StoreError> {
        let mut buf = Vec::new();
        self.export_csv(filter, &mut buf).await?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(fields: &[&str]) -> String {
        let mut buf = Vec::new();
        row(&mut buf, fields.iter().copied()).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn quotes_only_what_rfc_4180_requires() {
        assert_eq!(render(&["a", "b c", ""]), "a,b c,\r\n");
        assert_eq!(
            render(&["x,y", "say \"hi\"", "l1\nl2", "cr\r"]),
            "\"x,y\",\"say \"\"hi\"\"\",\"l1\nl2\",\"cr\r\"\r\n"
        );
    }

    #[test]
    fn header_is_one_line() {
        let mut buf = Vec::new();
        write_csv_header(&mut buf).unwrap();
        let s = String::from_utf8(buf).unwrap();
        assert!(s.starts_with("call_id,a_leg_call_id,"));
        assert!(s.ends_with(",node\r\n"));
        assert_eq!(s.matches(',').count(), CSV_HEADER.len() - 1);
    }
}
