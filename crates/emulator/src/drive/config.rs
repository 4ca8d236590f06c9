//! Knobs of the OneDrive/SharePoint/Teams part of the emulator.

use std::time::Duration;

/// Size knobs and behaviour switches for drives, sites and Teams.
#[derive(Debug, Clone)]
pub struct DriveConfig {
    /// Mean number of files per OneDrive / document library (actual counts vary ±50%).
    pub files_per_drive: u32,
    /// Folders per drive (nested up to three levels).
    pub folders_per_drive: u32,
    /// Share of files (0.0–1.0) that have earlier versions.
    pub versioned_rate: f64,
    /// Number of large files in the whole tenant (placed in the first OneDrives).
    pub large_files: u32,
    /// Size of each large file in bytes (generated lazily, never held in memory).
    pub large_file_size: u64,
    /// Standalone SharePoint sites besides the root site and team sites.
    pub sites: u32,
    /// Items per generic SharePoint list.
    pub list_items: u32,
    /// Lifetime of pre-authenticated download URLs (simulated time).
    pub download_url_ttl: Duration,
    /// Lifetime of upload sessions (simulated time).
    pub upload_session_ttl: Duration,
    /// Drive delta tokens older than this (simulated time) answer 410 resync. `None` = never.
    pub delta_token_ttl: Option<Duration>,
    /// Days (simulated) a departed user's OneDrive stays reachable by drive id after the
    /// account is deleted (Microsoft's default retention is 30 days).
    pub onedrive_retention_days: u32,
    /// Channel messages per channel.
    pub channel_messages: u32,
    /// Chats per licensed user (1:1 and group).
    pub chats_per_user: u32,
    /// Messages per chat.
    pub chat_messages: u32,
    /// Whether the app is approved for Teams protected APIs (messages); when false those
    /// calls answer 403 as Graph does.
    pub teams_protected_api_approved: bool,
    /// Benchmark knob: when set, every generated file is a small text file of at most this many
    /// bytes (no assets, no multi-MB files), so drives of 100,000+ files generate and back up in
    /// minutes; such drives also get at least one folder per 200 files and exactly
    /// `files_per_drive` files (no ±50 % spread). Defaults to the `TENANTVAULT_EMU_SMALL_FILE_BYTES` environment variable (so the
    /// emulator binary can be told too), else `None`.
    pub small_file_bytes: Option<u32>,
}

impl Default for DriveConfig {
    fn default() -> Self {
        Self {
            files_per_drive: 24,
            folders_per_drive: 6,
            versioned_rate: 0.2,
            large_files: 1,
            large_file_size: 300 * 1024 * 1024,
            sites: 2,
            list_items: 12,
            download_url_ttl: Duration::from_secs(3600),
            upload_session_ttl: Duration::from_secs(24 * 3600),
            delta_token_ttl: None,
            onedrive_retention_days: 30,
            channel_messages: 12,
            chats_per_user: 2,
            chat_messages: 8,
            teams_protected_api_approved: true,
            small_file_bytes: std::env::var("TENANTVAULT_EMU_SMALL_FILE_BYTES")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|&n: &u32| n > 0),
        }
    }
}
