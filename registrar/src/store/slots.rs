//! The `slots` table: provisioned slots and their HA1 credentials.

use std::time::SystemTime;

use sqlx::Row;

use super::{Db, Store, StoreError, millis, utc};
use crate::extension::{Extension, SlotKind};
use crate::slot::Slot;

/// What provisioning did to one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotChange {
    /// The slot was new.
    Added,
    /// The slot existed and its hub or credentials changed.
    Updated,
    /// The slot existed exactly so.
    Unchanged,
}

/// Counts of what [`Store::provision_slots`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProvisionSummary {
    /// Slots created.
    pub added: usize,
    /// Slots whose hub or credentials changed.
    pub updated: usize,
    /// Slots already exactly as given.
    pub unchanged: usize,
}

impl ProvisionSummary {
    fn count(&mut self, c: SlotChange) {
        match c {
            SlotChange::Added => self.added += 1,
            SlotChange::Updated => self.updated += 1,
            SlotChange::Unchanged => self.unchanged += 1,
        }
    }
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt {
        table: "slots",
        what,
    }
}

type Existing = Option<(Option<String>, String, String, String)>;

fn classify(slot: &Slot, existing: &Existing) -> SlotChange {
    match existing {
        None => SlotChange::Added,
        Some((hub, realm, md5, sha)) => {
            let same = hub.as_deref() == slot.hub()
                && realm == slot.realm()
                && md5 == slot.ha1_md5()
                && sha == slot.ha1_sha256();
            if same {
                SlotChange::Unchanged
            } else {
                SlotChange::Updated
            }
        }
    }
}

fn slot_from_row(
    extension: String,
    kind: String,
    hub: Option<String>,
    realm: String,
    md5: String,
    sha: String,
) -> Result<Slot, StoreError> {
    let ext: Extension = extension
        .parse()
        .map_err(|_| corrupt(format!("extension {extension:?} is not a slot extension")))?;
    if SlotKind::parse(&kind) != Some(ext.kind()) {
        return Err(corrupt(format!(
            "slot {ext} has kind {kind:?}, its range is {}",
            ext.kind()
        )));
    }
    Slot::from_ha1(ext, hub, realm, md5, sha).map_err(|e| corrupt(e.to_string()))
}

impl Store {
    /// Every provisioned slot. A row that cannot be read back is skipped with a warning,
    /// so that one bad row does not lock every slot out.
    pub async fn load_slots(&self) -> Result<Vec<Slot>, StoreError> {
        let rows: Vec<(String, String, Option<String>, String, String, String)> = match &self.db {
            Db::Sqlite(pool) => sqlx::query(
                "SELECT extension, kind, hub, realm, ha1_md5, ha1_sha256 FROM slots \
                     ORDER BY extension",
            )
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("extension")?,
                    r.try_get("kind")?,
                    r.try_get("hub")?,
                    r.try_get("realm")?,
                    r.try_get("ha1_md5")?,
                    r.try_get("ha1_sha256")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()?,
            Db::Postgres(pool) => sqlx::query(
                "SELECT extension, kind, hub, realm, ha1_md5, ha1_sha256 FROM slots \
                     ORDER BY extension",
            )
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("extension")?,
                    r.try_get("kind")?,
                    r.try_get("hub")?,
                    r.try_get("realm")?,
                    r.try_get("ha1_md5")?,
                    r.try_get("ha1_sha256")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()?,
        };
        let mut out = Vec::with_capacity(rows.len());
        for (ext, kind, hub, realm, md5, sha) in rows {
            match slot_from_row(ext, kind, hub, realm, md5, sha) {
                Ok(s) => out.push(s),
                Err(e) => tracing::warn!(error = %e, "skipping a stored slot"),
            }
        }
        Ok(out)
    }

    /// Inserts or updates `slots` in one transaction: all of them or none. Returns what
    /// happened to each, in order, and the counts.
    pub async fn provision_slots(
        &self,
        slots: &[Slot],
        now: SystemTime,
    ) -> Result<(Vec<SlotChange>, ProvisionSummary), StoreError> {
        let mut changes = Vec::with_capacity(slots.len());
        let mut summary = ProvisionSummary::default();
        match &self.db {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                for s in slots {
                    let existing: Existing = sqlx::query(
                        "SELECT hub, realm, ha1_md5, ha1_sha256 FROM slots WHERE extension = ?",
                    )
                    .bind(s.extension().to_string())
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| {
                        Ok::<_, sqlx::Error>((
                            r.try_get("hub")?,
                            r.try_get("realm")?,
                            r.try_get("ha1_md5")?,
                            r.try_get("ha1_sha256")?,
                        ))
                    })
                    .transpose()?;
                    let change = classify(s, &existing);
                    if change != SlotChange::Unchanged {
                        sqlx::query(
                            "INSERT INTO slots (extension, kind, hub, realm, ha1_md5, ha1_sha256, \
                             created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
                             ON CONFLICT (extension) DO UPDATE SET kind = excluded.kind, \
                             hub = excluded.hub, realm = excluded.realm, \
                             ha1_md5 = excluded.ha1_md5, ha1_sha256 = excluded.ha1_sha256, \
                             updated_at = excluded.updated_at",
                        )
                        .bind(s.extension().to_string())
                        .bind(s.kind().as_str())
                        .bind(s.hub().map(str::to_owned))
                        .bind(s.realm().to_owned())
                        .bind(s.ha1_md5().to_owned())
                        .bind(s.ha1_sha256().to_owned())
                        .bind(millis(now))
                        .bind(millis(now))
                        .execute(&mut *tx)
                        .await?;
                    }
                    summary.count(change);
                    changes.push(change);
                }
                tx.commit().await?;
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for s in slots {
                    let existing: Existing = sqlx::query(
                        "SELECT hub, realm, ha1_md5, ha1_sha256 FROM slots WHERE extension = $1 \
                         FOR UPDATE",
                    )
                    .bind(s.extension().to_string())
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|r| {
                        Ok::<_, sqlx::Error>((
                            r.try_get("hub")?,
                            r.try_get("realm")?,
                            r.try_get("ha1_md5")?,
                            r.try_get("ha1_sha256")?,
                        ))
                    })
                    .transpose()?;
                    let change = classify(s, &existing);
                    if change != SlotChange::Unchanged {
                        sqlx::query(
                            "INSERT INTO slots (extension, kind, hub, realm, ha1_md5, ha1_sha256, \
                             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
                             ON CONFLICT (extension) DO UPDATE SET kind = excluded.kind, \
                             hub = excluded.hub, realm = excluded.realm, \
                             ha1_md5 = excluded.ha1_md5, ha1_sha256 = excluded.ha1_sha256, \
                             updated_at = excluded.updated_at",
                        )
                        .bind(s.extension().to_string())
                        .bind(s.kind().as_str())
                        .bind(s.hub().map(str::to_owned))
                        .bind(s.realm().to_owned())
                        .bind(s.ha1_md5().to_owned())
                        .bind(s.ha1_sha256().to_owned())
                        .bind(utc(now))
                        .execute(&mut *tx)
                        .await?;
                    }
                    summary.count(change);
                    changes.push(change);
                }
                tx.commit().await?;
            }
        }
        Ok((changes, summary))
    }
}
