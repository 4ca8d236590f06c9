//! File-name signals: extensions used by known ransomware families, the generic "an extension
//! appended to many files" pattern, and ransom-note-like file names and texts.

/// Extensions (lower case, without the dot) that ransomware families append or replace with.
/// Deliberately excludes extensions that real software uses widely (`.key`, `.mp3`, `.good`).
pub const KNOWN_RANSOM_EXTENSIONS: &[&str] = &[
    "locked",
    "encrypted",
    "enc",
    "crypt",
    "crypted",
    "crypto",
    "cry",
    "crinf",
    "locky",
    "zepto",
    "odin",
    "thor",
    "aesir",
    "osiris",
    "zzzzz",
    "cerber",
    "cerber2",
    "cerber3",
    "wncry",
    "wnry",
    "wcry",
    "wncryt",
    "ryk",
    "ryuk",
    "conti",
    "lockbit",
    "abcd",
    "clop",
    "cl0p",
    "djvu",
    "djvuu",
    "phobos",
    "dharma",
    "onion",
    "vvv",
    "ecc",
    "ezz",
    "exx",
    "xyz",
    "zzz",
    "ccc",
    "micro",
    "ttt",
    "kraken",
    "krab",
    "gdcb",
    "crab",
    "sage",
    "spora",
    "hermes",
    "ctbl",
    "ctb2",
    "legion",
    "payms",
    "paymts",
    "payrms",
    "revil",
    "sodinokibi",
    "hive",
    "blackcat",
    "akira",
    "royal",
    "babuk",
    "makop",
    "eking",
    "devos",
    "lockfile",
    "encrypt",
    "cryptolocker",
    "cryptowall",
    "petya",
    "notpetya",
    "globe",
    "purge",
    "nochance",
    "darkness",
    "coverton",
    "lechiffre",
    "bleep",
    "rdm",
    "rrk",
    "r5a",
    "helpme",
    "pay2key",
    "ransom",
    "deadbolt",
    "lockergoga",
    "maze",
    "egregor",
    "ragnar",
    "ragnarok",
    "netwalker",
    "id-",
    "xtbl",
];

/// The extension of a file name (lower case, without the dot); `None` without one.
pub fn extension(name: &str) -> Option<String> {
    let (stem, ext) = name.rsplit_once('.')?;
    if stem.is_empty() || ext.is_empty() || ext.len() > 24 || ext.contains(' ') {
        return None;
    }
    Some(ext.to_ascii_lowercase())
}

/// True when `ext` is on the known-ransomware list.
pub fn is_known_ransom_extension(ext: &str) -> bool {
    let ext = ext.to_ascii_lowercase();
    KNOWN_RANSOM_EXTENSIONS
        .iter()
        .any(|k| ext == *k || (k.ends_with('-') && ext.starts_with(k)))
}

/// When `new` is `old` with one more extension appended (`a.docx` → `a.docx.locked`), that
/// extension (lower case, without the dot).
pub fn appended_extension(old: &str, new: &str) -> Option<String> {
    let rest = new.strip_prefix(old)?;
    let ext = rest.strip_prefix('.')?;
    if ext.is_empty() || ext.len() > 24 || ext.contains(['.', ' ', '/']) {
        return None;
    }
    Some(ext.to_ascii_lowercase())
}

/// True when a new file's name looks like a ransom note (`README-DECRYPT.txt`,
/// `HOW_TO_RESTORE_FILES.html`, `!!!RECOVER-MY-FILES!!!.txt`).
pub fn note_like_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let Some(ext) = extension(&lower) else {
        return false;
    };
    if !["txt", "html", "htm", "hta", "rtf", "url", "png", "bmp"].contains(&ext.as_str()) {
        return false;
    }
    let words: &[&str] = &[
        "decrypt",
        "restore_files",
        "restore-files",
        "restore files",
        "recover",
        "how_to",
        "how-to",
        "howto",
        "how to",
        "ransom",
        "your_files",
        "your-files",
        "your files",
        "unlock",
        "readme",
        "read_me",
        "read-me",
        "read me",
        "instructions",
        "help_",
    ];
    let hits = words.iter().filter(|w| lower.contains(*w)).count();
    // "readme.txt" alone is ordinary; a note names what it is about.
    let generic_only = hits == 1
        && ["readme", "read_me", "read-me", "read me", "instructions"]
            .iter()
            .any(|w| lower.contains(w));
    hits >= 1 && !generic_only
}

/// True when the first bytes of a new file read like a ransom demand.
pub fn note_like_text(sample: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&sample[..sample.len().min(8192)]).to_ascii_lowercase();
    let words = [
        "encrypted",
        "decrypt",
        "bitcoin",
        "btc",
        "ransom",
        "tor browser",
        ".onion",
        "payment",
        "private key",
        "your files",
        "restore the files",
        "wallet",
    ];
    words.iter().filter(|w| text.contains(*w)).count() >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_and_appending() {
        assert_eq!(extension("a.DOCX").as_deref(), Some("docx"));
        assert_eq!(extension("noext"), None);
        assert_eq!(extension(".bashrc"), None);
        assert!(is_known_ransom_extension("LOCKED"));
        assert!(is_known_ransom_extension("id-1234"));
        assert!(!is_known_ransom_extension("docx"));
        assert_eq!(
            appended_extension("report.docx", "report.docx.xyz9").as_deref(),
            Some("xyz9")
        );
        assert_eq!(appended_extension("report.docx", "report.pdf"), None);
        assert_eq!(appended_extension("a.txt", "Renamed a.txt"), None);
        assert_eq!(appended_extension("a", "a.b.c"), None);
    }

    #[test]
    fn ransom_notes() {
        for n in [
            "README-DECRYPT.txt",
            "README_RESTORE_FILES.txt",
            "HOW_TO_RECOVER.html",
            "!!!YOUR_FILES!!!.txt",
        ] {
            assert!(note_like_name(n), "{n}");
        }
        for n in [
            "README.txt",
            "readme.md",
            "notes.txt",
            "Restore plan.docx",
            "photo.jpg",
        ] {
            assert!(!note_like_name(n), "{n}");
        }
        assert!(note_like_text(
            b"All your files have been encrypted. Send 2 BTC to decrypt."
        ));
        assert!(!note_like_text(
            b"Meeting notes: files for the audit are in the share."
        ));
    }
}
