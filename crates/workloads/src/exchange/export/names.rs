//! File names from hostile text: every path component of an export is built here, so a subject
//! or folder name like `../../etc`, `a/b`, `C:\x`, `CON`, `name.` or 400 characters can never
//! leave the export directory or fail on Windows.

/// Longest component in bytes (well under every file system's 255).
pub const MAX_COMPONENT: usize = 100;

const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

fn bad_char(c: char) -> bool {
    matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') || c.is_control()
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A safe single path component for `name` (never empty, never `.`/`..`, no separators, no
/// control characters, no Windows-reserved name, no trailing dot or space, at most
/// [`MAX_COMPONENT`] bytes).
pub fn sanitize_component(name: &str) -> String {
    let replaced: String = name
        .chars()
        .map(|c| if bad_char(c) { '_' } else { c })
        .collect();
    let cut = truncate(replaced.trim_start(), MAX_COMPONENT);
    let mut out = cut.trim_end_matches(['.', ' ']).to_string();
    if out.is_empty() || out.chars().all(|c| c == '.') {
        out = "_".to_string();
    }
    if out.starts_with('.') {
        // No hidden files.
        out.insert(0, '_');
    }
    let stem = out.split('.').next().unwrap_or("").trim_end();
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem)) {
        out.insert(0, '_');
    }
    out
}

/// A short stable tag for an id (FNV-1a, 8 hex digits) to keep file names unique.
pub fn short_tag(id: &str) -> String {
    let h = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{:08x}", (h ^ (h >> 32)) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names() {
        assert_eq!(sanitize_component("../../etc/passwd"), "_.._.._etc_passwd");
        assert_eq!(sanitize_component(".hidden"), "_.hidden");
        assert_eq!(sanitize_component(".."), "_");
        assert_eq!(sanitize_component("."), "_");
        assert_eq!(sanitize_component(""), "_");
        assert_eq!(sanitize_component("a\\b"), "a_b");
        assert_eq!(sanitize_component("nul\0byte"), "nul_byte");
        assert_eq!(sanitize_component("CON"), "_CON");
        assert_eq!(sanitize_component("lpt1.txt"), "_lpt1.txt");
        assert_eq!(sanitize_component("Report..."), "Report");
        assert_eq!(sanitize_component("x "), "x");
        assert_eq!(sanitize_component("C:\\Windows"), "C__Windows");
        let long = "é".repeat(400);
        let s = sanitize_component(&long);
        assert!(s.len() <= MAX_COMPONENT && s.chars().all(|c| c == 'é'));
        assert_eq!(sanitize_component("Inbox"), "Inbox");
        assert_ne!(short_tag("a"), short_tag("b"));
        assert_eq!(short_tag("a").len(), 8);
    }
}
