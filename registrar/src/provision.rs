//! Bulk provisioning of slots from CSV (`vss provision slots FILE.csv`): header
//! `extension,password,hub,kind` (columns in any order, `hub` optional), every row
//! checked before anything is written, then all rows in one transaction.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::time::SystemTime;

use crate::extension::{Extension, SlotKind};
use crate::slot::Slot;
use crate::store::{ProvisionSummary, Store, StoreError};

/// The longest password accepted.
pub const MAX_PASSWORD_LEN: usize = 128;
/// The longest hub name accepted.
pub const MAX_HUB_LEN: usize = 64;
/// How many bad rows one error message lists before it summarises.
const MAX_LISTED: usize = 20;

/// One valid row of a provisioning file.
#[derive(Clone, PartialEq, Eq)]
pub struct ProvisionRow {
    /// The line of the file it came from (1 is the header).
    pub line: u64,
    /// The extension.
    pub extension: Extension,
    /// The password, to be hashed (never stored).
    pub password: String,
    /// The hub, if given.
    pub hub: Option<String>,
}

impl fmt::Debug for ProvisionRow {
    /// Never prints the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProvisionRow")
            .field("line", &self.line)
            .field("extension", &self.extension)
            .field("hub", &self.hub)
            .finish_non_exhaustive()
    }
}

/// One refused row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The line of the file.
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Why a provisioning file was refused; nothing was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    /// The header line is not `extension,password,hub,kind` (in some order).
    #[error("line 1: bad header: {0} (expected extension,password,hub,kind)")]
    BadHeader(String),
    /// The file has a header and no slots.
    #[error("no slots in the file (only a header)")]
    Empty,
    /// Some rows are invalid; each is listed with its line.
    #[error("{}", list_errors(.0))]
    BadRows(Vec<RowError>),
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Read(#[source] std::io::Error),
    /// The database refused the slots or could not be reached.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ProvisionError {
    /// True when the file is at fault (as opposed to the database).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            ProvisionError::BadHeader(_) | ProvisionError::Empty | ProvisionError::BadRows(_)
        )
    }
}

fn list_errors(errors: &[RowError]) -> String {
    let mut s = errors
        .iter()
        .take(MAX_LISTED)
        .map(RowError::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if errors.len() > MAX_LISTED {
        s.push_str(&format!(
            "; and {} more bad rows",
            errors.len() - MAX_LISTED
        ));
    }
    s
}

#[derive(Clone, Copy)]
struct Columns {
    extension: usize,
    password: usize,
    kind: usize,
    hub: Option<usize>,
}

fn columns(header: &csv::StringRecord) -> Result<Columns, ProvisionError> {
    let mut found: HashMap<&'static str, usize> = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        let key = match name.trim().to_ascii_lowercase().as_str() {
            "extension" => "extension",
            "password" => "password",
            "hub" => "hub",
            "kind" => "kind",
            other => {
                return Err(ProvisionError::BadHeader(format!(
                    "unknown column {other:?}"
                )));
            }
        };
        if found.insert(key, i).is_some() {
            return Err(ProvisionError::BadHeader(format!(
                "column {key:?} appears twice"
            )));
        }
    }
    let need = |k: &str| {
        found
            .get(k)
            .copied()
            .ok_or_else(|| ProvisionError::BadHeader(format!("missing column {k:?}")))
    };
    Ok(Columns {
        extension: need("extension")?,
        password: need("password")?,
        kind: need("kind")?,
        hub: found.get("hub").copied(),
    })
}

fn check_row(
    record: &csv::StringRecord,
    cols: Columns,
) -> Result<(Extension, String, Option<String>), String> {
    let field = |i: usize| record.get(i).unwrap_or_default();
    let ext_text = field(cols.extension).trim();
    let extension: Extension = ext_text.parse().map_err(|_| {
        format!("extension {ext_text:?} is not a slot extension (6001-6999 AUTO, 7001-7999 MF, 8001-8999 LS)")
    })?;
    let kind_text = field(cols.kind).trim();
    let kind = SlotKind::parse(kind_text)
        .ok_or_else(|| format!("kind {kind_text:?} is not AUTO, MF or LS"))?;
    if kind != extension.kind() {
        let (lo, hi) = kind.range();
        return Err(format!(
            "extension {extension} is not in the {kind} range {lo}-{hi} (it is {})",
            extension.kind()
        ));
    }
    let password = field(cols.password);
    if password.is_empty() {
        return Err(format!("extension {extension}: empty password"));
    }
    if password.chars().count() > MAX_PASSWORD_LEN {
        return Err(format!(
            "extension {extension}: password longer than {MAX_PASSWORD_LEN} characters"
        ));
    }
    if password.chars().any(char::is_control) {
        return Err(format!(
            "extension {extension}: password holds a control character"
        ));
    }
    if password.trim() != password {
        return Err(format!(
            "extension {extension}: password starts or ends with white space"
        ));
    }
    let hub = cols.hub.map(|i| field(i).trim()).filter(|h| !h.is_empty());
    if let Some(h) = hub
        && (h.chars().count() > MAX_HUB_LEN || h.chars().any(char::is_control))
    {
        return Err(format!(
            "extension {extension}: hub name must be at most {MAX_HUB_LEN} printable characters"
        ));
    }
    Ok((extension, password.to_owned(), hub.map(str::to_owned)))
}

/// The largest provisioning file read (a few thousand slots take well under 1 MiB).
pub const MAX_FILE_LEN: u64 = 16 * 1024 * 1024;

/// The 1-based line of the record starting at byte `at`. The csv crate's own line count
/// is off after CRLF and blank lines; its byte offsets may point at the terminator of
/// the previous line, which is skipped here (no record starts with CR or LF).
fn line_at(text: &[u8], at: u64) -> u64 {
    let mut b = usize::try_from(at).unwrap_or(usize::MAX).min(text.len());
    while b < text.len() && matches!(text[b], b'\r' | b'\n') {
        b += 1;
    }
    1 + text[..b].iter().filter(|&&c| c == b'\n').count() as u64
}

/// Reads a provisioning CSV. Every row is checked; if any is bad, all bad rows are
/// reported with their line numbers and nothing is returned.
pub fn parse_slots_csv(input: impl Read) -> Result<Vec<ProvisionRow>, ProvisionError> {
    let mut text = Vec::new();
    input
        .take(MAX_FILE_LEN + 1)
        .read_to_end(&mut text)
        .map_err(ProvisionError::Read)?;
    if text.len() as u64 > MAX_FILE_LEN {
        return Err(ProvisionError::BadHeader(format!(
            "the file is larger than {MAX_FILE_LEN} bytes"
        )));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_slice());
    let header = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(csv_error(e, &text)),
    };
    if header.iter().all(|h| h.trim().is_empty()) {
        return Err(ProvisionError::BadHeader("the file is empty".into()));
    }
    let cols = columns(&header)?;
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen: HashMap<Extension, u64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => match csv_error(e, &text) {
                // Row-shape and encoding errors concern one record; go on to the next.
                ProvisionError::BadRows(mut v) => {
                    errors.append(&mut v);
                    continue;
                }
                other => return Err(other),
            },
        }
        let line = record.position().map_or(0, |p| line_at(&text, p.byte()));
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        match check_row(&record, cols) {
            Err(message) => errors.push(RowError { line, message }),
            Ok((extension, password, hub)) => {
                if let Some(first) = seen.insert(extension, line) {
                    errors.push(RowError {
                        line,
                        message: format!("extension {extension} already appears on line {first}"),
                    });
                    continue;
                }
                rows.push(ProvisionRow {
                    line,
                    extension,
                    password,
                    hub,
                });
            }
        }
    }
    if !errors.is_empty() {
        return Err(ProvisionError::BadRows(errors));
    }
    if rows.is_empty() {
        return Err(ProvisionError::Empty);
    }
    Ok(rows)
}

fn csv_error(e: csv::Error, text: &[u8]) -> ProvisionError {
    let line = e.position().map_or(0, |p| line_at(text, p.byte()));
    match e.into_kind() {
        csv::ErrorKind::Io(io) => ProvisionError::Read(io),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => ProvisionError::BadRows(vec![RowError {
            line,
            message: format!("{len} fields, the header has {expected_len}"),
        }]),
        csv::ErrorKind::Utf8 { .. } => ProvisionError::BadRows(vec![RowError {
            line,
            message: "not valid UTF-8".into(),
        }]),
        other => ProvisionError::BadRows(vec![RowError {
            line,
            message: format!("{other:?}"),
        }]),
    }
}

/// The slots of `rows`, with credentials for `realm` (the SIP domain).
pub fn slots_for(rows: &[ProvisionRow], realm: &str) -> Vec<Slot> {
    rows.iter()
        .map(|r| Slot::with_password(r.extension, r.hub.clone(), realm, &r.password))
        .collect()
}

/// Writes `rows` for `realm` in one transaction (all or none): new extensions are added,
/// existing ones updated, so re-running a file never duplicates anything.
pub async fn provision(
    store: &Store,
    realm: &str,
    rows: &[ProvisionRow],
    now: SystemTime,
) -> Result<ProvisionSummary, ProvisionError> {
    let slots = slots_for(rows, realm);
    let (_, summary) = store.provision_slots(&slots, now).await?;
    Ok(summary)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<ProvisionRow>, ProvisionError> {
        parse_slots_csv(text.as_bytes())
    }

    fn bad_rows(text: &str) -> Vec<RowError> {
        match parse(text) {
            Err(ProvisionError::BadRows(v)) => v,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn good_file_in_any_column_order() {
        let rows = parse(
            "\u{feff}kind,extension,password,hub\r\n\
             AUTO,6001,s3cret!,auto1\r\n\
             mf,7001,\"pa,ss\"\"word\",\r\n\
             \r\n\
             LS,8999,x,ls1\r\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].extension.number(), 6001);
        assert_eq!(rows[0].hub.as_deref(), Some("auto1"));
        assert_eq!(rows[1].password, "pa,ss\"word");
        assert_eq!(rows[1].hub, None);
        assert_eq!(rows[1].line, 3);
        assert_eq!(rows[2].line, 5);
        assert!(!format!("{:?}", rows[0]).contains("s3cret"));
        let rows = parse("extension,password,kind\n6002,pw,AUTO\n").unwrap();
        assert_eq!(rows[0].hub, None);
    }

    #[test]
    fn every_bad_row_is_named_by_its_line() {
        let errors = bad_rows(
            "extension,password,hub,kind\n\
             6001,pw,h,AUTO\n\
             7001,pw,h,AUTO\n\
             9001,pw,h,LS\n\
             6002,,h,AUTO\n\
             6001,pw2,h,AUTO\n\
             6003,pw,h\n\
             6004,pw,h,FXS\n\
             6005, pw,h,AUTO\n",
        );
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4, 5, 6, 7, 8, 9], "{errors:?}");
        assert!(
            errors[0].message.contains("AUTO range 6001-6999"),
            "{}",
            errors[0]
        );
        assert!(errors[1].message.contains("not a slot extension"));
        assert!(errors[2].message.contains("empty password"));
        assert!(errors[3].message.contains("already appears on line 2"));
        assert!(errors[4].message.contains("3 fields"));
        assert!(errors[5].message.contains("FXS"));
        assert!(errors[6].message.contains("white space"));
        let text = ProvisionError::BadRows(errors).to_string();
        assert!(text.starts_with("line 3: "), "{text}");
        assert!(!text.contains('\n'));
    }

    #[test]
    fn line_numbers_survive_crlf_blank_lines_and_quoted_newlines() {
        let text: &[u8] = b"extension,password,kind\r\n\
              6001,\"multi\r\nline\",AUTO\r\n\
              \r\n\
              6002,pw,AUTO\r\n\
              6003,\xffpw,AUTO\r\n";
        let errors = match parse_slots_csv(text) {
            Err(ProvisionError::BadRows(v)) => v,
            other => panic!("{other:?}"),
        };
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 6], "{errors:?}");
        assert!(errors[0].message.contains("control character"));
        assert!(errors[1].message.contains("UTF-8"));
    }

    #[test]
    fn headers_are_checked() {
        for (text, what) in [
            (
                "extension,password,hub\n6001,p,h\n",
                "missing column \"kind\"",
            ),
            ("extension,password,kind,colour\n", "unknown column"),
            ("extension,password,kind,kind\n", "twice"),
            ("", "empty"),
        ] {
            match parse(text) {
                Err(ProvisionError::BadHeader(m)) => assert!(m.contains(what), "{m}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
        assert!(matches!(
            parse("extension,password,hub,kind\n"),
            Err(ProvisionError::Empty)
        ));
    }

    #[test]
    fn long_error_lists_are_summarised() {
        let mut text = String::from("extension,password,kind\n");
        for _ in 0..30 {
            text.push_str("1234,p,AUTO\n");
        }
        let e = parse(&text).unwrap_err();
        assert!(e.is_bad_input());
        assert!(e.to_string().ends_with("and 10 more bad rows"), "{e}");
    }

    #[test]
    fn credentials_are_hashed_for_the_realm() {
        let rows = parse("extension,password,kind\n6001,pw,AUTO\n").unwrap();
        let slots = slots_for(&rows, "vss.test");
        assert_eq!(
            slots[0].ha1_md5(),
            sip_core::auth::ha1(sip_core::auth::Algorithm::Md5, "6001", "vss.test", "pw")
        );
    }
}
