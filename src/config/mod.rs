//! The `vss` configuration (CONTRACT.md, "Config"; every key in docs/configuration.md).
//!
//! Sources, each overriding the one before:
//! 1. built-in defaults (each section's `Default`);
//! 2. with `--demo`, the demo's defaults (three simulated hubs);
//! 3. the TOML file: `--config FILE`, else `./vss.toml` when it exists;
//! 4. environment variables `VSS_SECTION__KEY` (see [`env`] for the exact rules).
//!
//! [`Config::load`] merges them, rejects unknown keys, and validates every value; each
//! error is one line naming the key, the value and where the value came from.

mod api;
mod b2bua;
mod cdr;
mod database;
mod de;
mod env;
mod error;
mod hubs;
mod log;
mod media;
mod registrar;
mod secret;
mod sip;
mod trunks;
mod validate;
mod values;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_invalid;

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

#[allow(
    unused_imports,
    reason = "the configuration's vocabulary, for `vss serve`"
)]
pub(crate) use self::{
    api::ApiConfig,
    b2bua::B2buaConfig,
    cdr::CdrConfig,
    database::DatabaseConfig,
    error::{ConfigError, Origin},
    hubs::{HubConfig, HubDriver, HubKind},
    log::LogConfig,
    media::MediaConfig,
    registrar::RegistrarConfig,
    secret::{DatabaseUrl, Secret},
    sip::SipConfig,
    trunks::TrunkConfig,
    values::{HostPort, ListenAddr, PortRange, Transport},
};

/// The top-level keys, in the order they are printed.
pub(crate) const SECTIONS: &[&str] = &[
    "sip",
    "registrar",
    "b2bua",
    "media",
    "database",
    "cdr",
    "api",
    "log",
    "trunks",
    "hubs",
];

/// The top-level keys that are lists of tables (`[[trunks]]`).
pub(crate) const LIST_SECTIONS: &[&str] = &["trunks", "hubs"];

/// The file read when `--config` is not given, if it exists (relative to the working
/// directory).
pub(crate) const DEFAULT_FILE: &str = "vss.toml";

/// The name figment shows for values of the `--demo` defaults.
pub(crate) const DEMO_PROVIDER_NAME: &str = "--demo defaults";

/// The whole configuration, one field per section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Config {
    /// `[sip]`.
    pub(crate) sip: SipConfig,
    /// `[registrar]`.
    pub(crate) registrar: RegistrarConfig,
    /// `[b2bua]`.
    pub(crate) b2bua: B2buaConfig,
    /// `[media]`.
    pub(crate) media: MediaConfig,
    /// `[database]`.
    pub(crate) database: DatabaseConfig,
    /// `[cdr]`.
    pub(crate) cdr: CdrConfig,
    /// `[api]`.
    pub(crate) api: ApiConfig,
    /// `[log]`.
    pub(crate) log: LogConfig,
    /// `[[trunks]]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) trunks: Vec<TrunkConfig>,
    /// `[[hubs]]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) hubs: Vec<HubConfig>,
}

/// What [`Config::load`] reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct LoadOptions {
    /// The file given with `--config`; it must exist.
    pub(crate) file: Option<PathBuf>,
    /// The file to read when `file` is `None`, only if it exists: [`DEFAULT_FILE`] in the
    /// binary, `None` in tests so that a stray `vss.toml` cannot change them.
    pub(crate) default_file: Option<PathBuf>,
    /// Whether the `--demo` defaults apply.
    pub(crate) demo: bool,
    /// The environment (only `VSS_*` variables are looked at).
    pub(crate) env: Vec<(String, String)>,
}

impl LoadOptions {
    /// Options for the running process: `--config`, `--demo`, `./vss.toml` and the
    /// environment. A `VSS_*` variable that is not valid UTF-8 is an error.
    pub(crate) fn for_process(
        file: Option<PathBuf>,
        demo: bool,
        env: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Result<Self, ConfigError> {
        let mut vars = Vec::new();
        for (name, value) in env {
            let Some(name) = name.to_str() else { continue };
            if !name.starts_with(env::PREFIX) {
                continue;
            }
            let value = value.into_string().map_err(|_| ConfigError::Environment {
                name: name.to_owned(),
                message: "value is not valid UTF-8".into(),
            })?;
            vars.push((name.to_owned(), value));
        }
        Ok(Self {
            file,
            default_file: Some(PathBuf::from(DEFAULT_FILE)),
            demo,
            env: vars,
        })
    }

    /// Which sources [`Config::load`] reads with these options.
    pub(crate) fn provenance(&self) -> Provenance {
        Provenance {
            demo: self.demo,
            file: self.chosen_file().map(Path::to_path_buf),
            env: env::override_names(&self.env),
        }
    }

    fn chosen_file(&self) -> Option<&Path> {
        self.file
            .as_deref()
            .or_else(|| self.default_file.as_deref().filter(|p| p.is_file()))
    }
}

/// Where the effective configuration came from, for `vss check-config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Provenance {
    /// Whether the `--demo` defaults applied.
    pub(crate) demo: bool,
    /// The TOML file read, if any.
    pub(crate) file: Option<PathBuf>,
    /// The environment variables that overrode something.
    pub(crate) env: Vec<String>,
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("built-in defaults")?;
        if self.demo {
            f.write_str(", --demo defaults")?;
        }
        if let Some(file) = &self.file {
            write!(f, ", {}", file.display())?;
        }
        if !self.env.is_empty() {
            write!(f, ", environment ({})", self.env.join(", "))?;
        }
        Ok(())
    }
}

impl Config {
    /// Loads, merges and validates the configuration.
    pub(crate) fn load(options: &LoadOptions) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if options.demo {
            figment = figment.merge(DemoDefaults);
        }
        if let Some(path) = options.chosen_file() {
            // figment reports a missing file as a bare OS error; name the file instead.
            std::fs::File::open(path).map_err(|source| ConfigError::File {
                path: path.to_path_buf(),
                source,
            })?;
            figment = figment.merge(Toml::file_exact(path));
        }
        let env = env::EnvOverrides::new(&options.env, &figment)?;
        let figment = figment.merge(env);
        // Lossy: environment values are strings, and `VSS_SIP__T1_MS=400` must still fill
        // a number.
        let config: Config = figment.extract_lossy().map_err(error::from_figment)?;
        config.validate(&validate::Validator::new(&figment))?;
        Ok(config)
    }

    fn validate(&self, v: &validate::Validator<'_>) -> Result<(), ConfigError> {
        self.sip.validate(v)?;
        self.registrar.validate(v)?;
        self.b2bua.validate(v)?;
        self.media.validate(v)?;
        self.cdr.validate(v)?;
        self.api.validate(v)?;
        self.log.validate(v)?;
        trunks::validate(&self.trunks, v)?;
        hubs::validate(&self.hubs, v)?;
        validate::check_ports(self, v)
    }

    /// The configuration as TOML, secrets replaced by `***` (the file format: it loads
    /// back to the same configuration, secrets aside).
    pub(crate) fn to_toml(&self) -> Result<String, ConfigError> {
        Ok(toml::to_string(self)?)
    }
}

/// The hubs of `vss serve --demo` (DESIGN.md, "Embedded default"): a simulated AUTO hub of
/// 10 slots, MF of 20 and LS of 5.
pub(crate) fn demo_hubs() -> Vec<HubConfig> {
    [
        ("auto1", HubKind::Auto, 10),
        ("mf1", HubKind::Mf, 20),
        ("ls1", HubKind::Ls, 5),
    ]
    .into_iter()
    .map(|(name, kind, slots)| HubConfig {
        name: name.into(),
        kind,
        driver: HubDriver::Sim,
        slots,
    })
    .collect()
}

/// The `--demo` layer: what differs from the built-in defaults.
struct DemoDefaults;

#[derive(Serialize)]
struct DemoLayer {
    database: DatabaseConfig,
    hubs: Vec<HubConfig>,
}

impl Provider for DemoDefaults {
    fn metadata(&self) -> Metadata {
        Metadata::named(DEMO_PROVIDER_NAME)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        // SQLite in ./var needs nothing installed; stated here so that a changed built-in
        // default cannot silently take the demo elsewhere.
        Serialized::defaults(DemoLayer {
            database: DatabaseConfig {
                url: DatabaseUrl::default(),
            },
            hubs: demo_hubs(),
        })
        .data()
    }
}
