//! Secrets `vss` generates once and keeps in its data directory, so that they survive
//! restarts without anyone having to invent them.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Where `vss serve` keeps what it generates (CONTRACT.md: SQLite and recordings live in
/// `./var` too).
pub(crate) const DATA_DIR: &str = "./var";

/// The secret stored in `DATA_DIR/name`, created with 32 random bytes (file mode 0600)
/// the first time.
pub(crate) fn load_or_create(name: &str) -> anyhow::Result<Vec<u8>> {
    load_or_create_at(&PathBuf::from(DATA_DIR).join(name))
}

/// The password of the `--demo` slots: generated once (12 letters and digits, easy to
/// type into a softphone) and kept in `DATA_DIR/demo_slot_password`.
pub(crate) fn demo_password() -> anyhow::Result<String> {
    let path = PathBuf::from(DATA_DIR).join("demo_slot_password");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
        Ok(_) | Err(_) => {
            let password: String = (0..12)
                .map(|_| {
                    char::from(
                        b"abcdefghijkmnpqrstuvwxyz23456789"[usize::from(rand::random::<u8>() % 32)],
                    )
                })
                .collect();
            std::fs::create_dir_all(DATA_DIR)
                .with_context(|| format!("cannot create {DATA_DIR}"))?;
            std::fs::write(&path, format!("{password}\n"))
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(password)
        }
    }
}

fn load_or_create_at(path: &Path) -> anyhow::Result<Vec<u8>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = text.trim();
            if text.len() < 32
                || text.len() % 2 != 0
                || !text.bytes().all(|b| b.is_ascii_hexdigit())
            {
                anyhow::bail!(
                    "{} must hold at least 16 bytes as hex digits; delete it to have a new one generated",
                    path.display()
                );
            }
            (0..text.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&text[i..i + 2], 16).context("hex digit"))
                .collect()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let secret: [u8; 32] = rand::random();
            let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            writeln!(file, "{hex}").with_context(|| format!("cannot write {}", path.display()))?;
            file.sync_all()
                .with_context(|| format!("cannot sync {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a new secret");
            Ok(secret.to_vec())
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/secret");
        let a = load_or_create_at(&path).unwrap();
        let b = load_or_create_at(&path).unwrap();
        assert_eq!(a.len(), 32);
        assert_eq!(a, b);
        std::fs::write(&path, "zz").unwrap();
        assert!(load_or_create_at(&path).is_err());
    }
}
