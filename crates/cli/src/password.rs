//! Where passphrases come from: a file, an environment variable, or a prompt on a terminal.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result};

use crate::exit;

/// Environment variable holding the repository passphrase.
pub const PASSWORD_ENV: &str = "TENANTVAULT_PASSWORD";
/// Environment variable holding the new passphrase for `repo key add`.
pub const NEW_PASSWORD_ENV: &str = "TENANTVAULT_NEW_PASSWORD";

/// The passphrase that opens (or, for `init`, creates) the repository.
///
/// Order: `--password-file`, then `TENANTVAULT_PASSWORD`, then a prompt when stdin is a
/// terminal (asked twice when `confirm`). Anything else is a usage error.
pub fn repository_passphrase(file: Option<&Path>, confirm: bool) -> Result<String> {
    obtain(file, PASSWORD_ENV, "repository passphrase", confirm)
}

/// A new passphrase for a new key slot: `--new-password-file`, `TENANTVAULT_NEW_PASSWORD`, or a
/// prompt (asked twice).
pub fn new_passphrase(file: Option<&Path>) -> Result<String> {
    obtain(file, NEW_PASSWORD_ENV, "new passphrase", true)
}

fn obtain(file: Option<&Path>, env: &str, what: &str, confirm: bool) -> Result<String> {
    let pass = if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the {what} from {}", path.display()))?;
        text.lines().next().unwrap_or_default().to_owned()
    } else if let Ok(value) = std::env::var(env) {
        value
    } else if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("{what}: "))
            .with_context(|| format!("cannot read the {what} from the terminal"))?;
        if confirm {
            let again = rpassword::prompt_password(format!("{what} (again): "))
                .with_context(|| format!("cannot read the {what} from the terminal"))?;
            if again != first {
                return Err(exit::usage(format!("the two {what} entries differ")));
            }
        }
        first
    } else {
        return Err(exit::usage(format!(
            "no {what}: set {env}, pass a password file, or run on a terminal to be asked"
        )));
    };
    if pass.is_empty() {
        return Err(exit::usage(format!("the {what} is empty")));
    }
    Ok(pass)
}
