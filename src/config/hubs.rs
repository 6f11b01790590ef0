//! `[[hubs]]`: USB hubs of phones and modems whose SIP endpoints are the slots.

use serde::{Deserialize, Serialize};

use super::error::ConfigError;
use super::validate::{Validator, check_name};

/// The kind of a hub, which fixes its slots' extension range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum HubKind {
    /// AUTO hub: extensions 6001-6999.
    Auto,
    /// MF hub: extensions 7001-7999.
    Mf,
    /// LS hub: extensions 8001-8999.
    Ls,
}

impl HubKind {
    /// Every kind, in numbering-plan order.
    pub(crate) const ALL: [HubKind; 3] = [Self::Auto, Self::Mf, Self::Ls];

    /// The first extension of the kind's range (the numbering plan in CONTRACT.md).
    pub(crate) fn first_extension(self) -> u16 {
        match self {
            Self::Auto => 6001,
            Self::Mf => 7001,
            Self::Ls => 8001,
        }
    }

    /// The name as written in the configuration.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "AUTO",
            Self::Mf => "MF",
            Self::Ls => "LS",
        }
    }
}

/// The extensions of one kind: 6001-6999 holds 999 slots.
pub(crate) const SLOTS_PER_KIND: u32 = 999;

/// How the hub's devices are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum HubDriver {
    /// Simulated devices (the demo, and tests).
    Sim,
    /// `adb`/`uhubctl` on this machine.
    Local,
    /// `adb`/`uhubctl` on another machine over SSH.
    Ssh,
    /// A `vss hub-agent` on another machine, over QUIC.
    Agent,
}

/// One `[[hubs]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HubConfig {
    /// Unique name (letters, digits, `-`, `_`, `.`).
    pub(crate) name: String,
    /// `AUTO`, `MF` or `LS`.
    pub(crate) kind: HubKind,
    /// `sim`, `local`, `ssh` or `agent`.
    pub(crate) driver: HubDriver,
    /// How many slots (devices) the hub holds, 1 to 999.
    pub(crate) slots: u16,
}

/// Checks every hub, that names are unique, and that each kind's slots fit its range.
pub(super) fn validate(hubs: &[HubConfig], v: &Validator<'_>) -> Result<(), ConfigError> {
    for (i, h) in hubs.iter().enumerate() {
        let key = |field: &str| format!("hubs[{i}].{field}");
        check_name(v, &key("name"), &h.name)?;
        if let Some(j) = hubs[..i].iter().position(|o| o.name == h.name) {
            return Err(v.invalid(
                &key("name"),
                format!("duplicate hub name {:?} (also hubs[{j}].name)", h.name),
            ));
        }
        if h.slots == 0 || u32::from(h.slots) > SLOTS_PER_KIND {
            return Err(v.invalid(
                &key("slots"),
                format!("{} is not from 1 to {SLOTS_PER_KIND}", h.slots),
            ));
        }
    }
    for kind in HubKind::ALL {
        let total: u32 = hubs
            .iter()
            .filter(|h| h.kind == kind)
            .map(|h| u32::from(h.slots))
            .sum();
        if total > SLOTS_PER_KIND {
            let first = kind.first_extension();
            return Err(v.invalid(
                "hubs",
                format!(
                    "the {} hubs hold {total} slots, more than the {SLOTS_PER_KIND} extensions \
                     {first}-{} of the numbering plan",
                    kind.as_str(),
                    u32::from(first) + SLOTS_PER_KIND - 1
                ),
            ));
        }
    }
    Ok(())
}
