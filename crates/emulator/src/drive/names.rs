//! File and folder names: SharePoint's rules and the `conflictBehavior=rename` scheme.

use super::model::DriveError;

/// Names SharePoint refuses.
pub fn validate_name(name: &str) -> Result<(), DriveError> {
    let bad = |why: &str| Err(DriveError::InvalidName(format!("{name:?}: {why}")));
    if name.is_empty() || name.trim().is_empty() {
        return bad("empty");
    }
    if name.len() > 400 {
        return bad("longer than 400 characters");
    }
    if name
        .chars()
        .any(|c| "\"*:<>?/\\|".contains(c) || c.is_control())
    {
        return bad("contains one of \" * : < > ? / \\ |");
    }
    if name.starts_with(' ') || name.ends_with(' ') || name.ends_with('.') {
        return bad("leading/trailing space or trailing dot");
    }
    let stem = name.split('.').next().unwrap_or("").to_ascii_uppercase();
    const RESERVED: &[&str] = &["CON", "PRN", "AUX", "NUL", ".LOCK", "DESKTOP.INI"];
    let reserved_dev = (stem.starts_with("COM") || stem.starts_with("LPT"))
        && stem.len() == 4
        && stem.as_bytes()[3].is_ascii_digit();
    if RESERVED.contains(&stem.as_str())
        || RESERVED.contains(&name.to_ascii_uppercase().as_str())
        || reserved_dev
        || name.starts_with("~$")
        || name.contains("_vti_")
    {
        return bad("reserved name");
    }
    Ok(())
}

/// `name 1.ext`, `name 2.ext`, … for `conflictBehavior=rename`.
pub(crate) fn numbered(name: &str, n: u32) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem} {n}.{ext}"),
        _ => format!("{name} {n}"),
    }
}
