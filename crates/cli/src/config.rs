//! The configuration file (`tenantvault.toml`, from `--config` or `TENANTVAULT_CONFIG`).
//!
//! One TOML document with one top-level table per concern. Each concern owns its section's
//! type in its own module and reads it with [`Config::section`]; this module only loads the
//! file, rejects unknown sections (a typo such as `[retenion]` must not silently mean "no
//! policy") and names the file and section in every error.
//!
//! ```toml
//! [retention]        # crates/cli/src/commands/policy.rs
//! [alerts]           # ransomware alerts and their webhook
//! [serve]            # schedules, API tokens, notifications
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;

use crate::exit;

/// Top-level sections a configuration file may contain. A module that adds a section adds
/// its name here.
pub const SECTIONS: &[&str] = &[
    "repository",
    "graph",
    "retention",
    "holds",
    "alerts",
    "serve",
    "notifications",
    "api",
];

/// A loaded configuration file (or the empty configuration when none was given).
#[derive(Debug, Clone, Default)]
pub struct Config {
    path: Option<PathBuf>,
    table: toml::Table,
}

impl Config {
    /// Loads `path`; `None` gives the empty configuration (every section at its default).
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            exit::usage(format!(
                "cannot read the configuration file {}: {e}",
                path.display()
            ))
        })?;
        Self::parse(&text, Some(path.to_path_buf()))
    }

    /// Parses configuration text (`path` only names it in errors).
    pub fn parse(text: &str, path: Option<PathBuf>) -> Result<Self> {
        let name = display(path.as_deref());
        let table: toml::Table = text
            .parse()
            .map_err(|e| exit::usage(format!("{name} is not valid TOML: {e}")))?;
        for key in table.keys() {
            if !SECTIONS.contains(&key.as_str()) {
                return Err(exit::usage(format!(
                    "{name}: unknown section [{key}] (known: {})",
                    SECTIONS.join(", ")
                )));
            }
        }
        Ok(Self { path, table })
    }

    /// The file this configuration came from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Deserializes section `name` (its default when absent). Section types should use
    /// `#[serde(deny_unknown_fields)]` so that a misspelt key is an error, not a silent default.
    pub fn section<T: DeserializeOwned + Default>(&self, name: &str) -> Result<T> {
        debug_assert!(SECTIONS.contains(&name), "section {name} not in SECTIONS");
        match self.table.get(name) {
            None => Ok(T::default()),
            Some(value) => value
                .clone()
                .try_into()
                .map_err(|e| {
                    exit::usage(format!("{}: section [{name}]: {e}", display(self.path())))
                })
                .context("invalid configuration"),
        }
    }
}

fn display(path: Option<&Path>) -> String {
    path.map(|p| p.display().to_string())
        .unwrap_or_else(|| "the configuration".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Retention {
        keep_last: Option<u32>,
    }

    #[test]
    fn sections_parse_and_default() {
        let c = Config::parse("[retention]\nkeep_last = 3\n", None).unwrap();
        assert_eq!(
            c.section::<Retention>("retention").unwrap().keep_last,
            Some(3)
        );
        assert!(
            c.section::<Retention>("alerts")
                .unwrap()
                .keep_last
                .is_none()
        );
    }

    #[test]
    fn unknown_sections_and_keys_are_errors() {
        let e = Config::parse("[retenion]\n", None).unwrap_err();
        assert!(
            format!("{e:#}").contains("unknown section [retenion]"),
            "{e:#}"
        );
        let c = Config::parse("[retention]\nkeep_lats = 3\n", None).unwrap();
        let e = c.section::<Retention>("retention").unwrap_err();
        assert!(format!("{e:#}").contains("keep_lats"), "{e:#}");
        assert_eq!(exit::code_for(&e), exit::USAGE);
    }
}
