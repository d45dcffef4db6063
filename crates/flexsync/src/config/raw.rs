//! The configuration file as written: one struct per TOML table, unknown keys refused.

use std::path::PathBuf;

use serde::Deserialize;

use flexsync_core::mapping::GroupSettings;

use crate::file_writer::FileColumns;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub flex: RawFlex,
    pub winningtemp: Option<RawWinningtemp>,
    pub files: Option<RawFiles>,
    #[serde(default)]
    pub state: RawState,
    #[serde(default)]
    pub mapping: RawMapping,
    #[serde(default)]
    pub scope: RawScope,
    #[serde(default)]
    pub companies: RawCompanies,
    /// `[[segments]]`, read by hand so that errors name the key.
    #[serde(default)]
    pub segments: Vec<toml::Table>,
    #[serde(default)]
    pub groups: GroupSettings,
    #[serde(default)]
    pub guards: RawGuards,
    #[serde(default)]
    pub sync: RawSync,
    #[serde(default)]
    pub report: RawReport,
    #[serde(default)]
    pub schedule: RawSchedule,
    #[serde(default)]
    pub daemon: RawDaemon,
    #[serde(default)]
    pub notify: RawNotify,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlex {
    pub base_url: String,
    pub api_prefix: Option<String>,
    pub username: String,
    pub password: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub instance: CompanyOrText,
    pub companies: Vec<CompanyOrText>,
    /// "literal" (default), "base64", "base64-user".
    pub auth: Option<String>,
    pub page_size: Option<u32>,
    pub timeout_seconds: Option<u64>,
    pub max_concurrent: Option<usize>,
    /// Requests per second at most (retries included); none = no limit.
    pub rate_per_second: Option<f64>,
    pub danger_accept_invalid_certs: Option<bool>,
    /// The largest answer read, in MB (default 64); a larger one fails the read.
    pub max_response_mb: Option<u64>,
    /// A PEM file of certificate authorities to trust besides the system's.
    pub ca_file: Option<PathBuf>,
    /// An outbound proxy URL for this end.
    pub proxy: Option<String>,
}

/// A number or a text in TOML: `companies = [1010, "1020"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CompanyOrText {
    Number(i64),
    Text(String),
}

impl CompanyOrText {
    pub(super) fn text(&self) -> String {
        match self {
            CompanyOrText::Number(n) => n.to_string(),
            CompanyOrText::Text(t) => t.trim().to_string(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWinningtemp {
    pub scim_url: String,
    pub token: Option<String>,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    pub user_extension: Option<String>,
    /// The group attribute that holds a group's parent (`urn:...:Group:parentExternalId`).
    pub group_parent_attribute: Option<String>,
    pub page_size: Option<usize>,
    /// Gather writes into `/Bulk` requests where the server advertises Bulk (default true).
    pub bulk: Option<bool>,
    pub timeout_seconds: Option<u64>,
    pub max_concurrent: Option<usize>,
    /// Requests per second at most (retries included); none = no limit.
    pub rate_per_second: Option<f64>,
    pub danger_accept_invalid_certs: Option<bool>,
    /// The largest answer read, in MB (default 64); a larger one fails the read.
    pub max_response_mb: Option<u64>,
    /// A PEM file of certificate authorities to trust besides the system's.
    pub ca_file: Option<PathBuf>,
    /// An outbound proxy URL for this end.
    pub proxy: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFiles {
    /// A local folder (it must exist).
    pub dir: Option<PathBuf>,
    pub sftp: Option<RawSftp>,
    /// Where a copy of the last delivery is kept, for the change report.
    pub last_delivery_dir: Option<PathBuf>,
    #[serde(default)]
    pub columns: FileColumns,
    /// Cells exactly as the values are: no leading `'` before `=`, `+`, `-`, `@`, tab or CR.
    pub raw_values: Option<bool>,
    /// The octal mode of delivered files, for a pick-up account that needs more than 0600; a
    /// text (`"0640"`), read as a value so that a number gets a message saying to quote it.
    pub mode: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSftp {
    pub host: String,
    pub port: Option<u16>,
    pub user: String,
    pub private_key_file: PathBuf,
    pub known_hosts_file: PathBuf,
    #[serde(default)]
    pub remote_dir: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    pub path: Option<PathBuf>,
    /// A PostgreSQL server instead of a SQLite file: `postgres://user@host:port/db`.
    pub url: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    /// The schema that holds this store's tables (default `flexsync`).
    pub schema: Option<String>,
    /// PEM certificates of a private CA that signed the server's certificate.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMapping {
    pub exclude_employment_types: Option<Vec<String>>,
    pub starter_lead_days: Option<u32>,
    #[serde(default)]
    pub extra: Vec<RawExtra>,
    /// `[[mapping.values]]`, read by hand so that errors name the key.
    #[serde(default)]
    pub values: Vec<toml::Table>,
}

/// `[companies]`: one person in two configured companies.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCompanies {
    /// `"current_employment"` or a list of company numbers, names or ids.
    pub prefer: Option<toml::Value>,
    /// `["email"]` (default) or `["email", "employment_number"]`.
    pub same_person: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScope {
    #[serde(default)]
    pub include: Vec<toml::Table>,
    #[serde(default)]
    pub exclude: Vec<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExtra {
    pub field: String,
    pub attribute: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuards {
    pub max_deactivations: Option<usize>,
    pub max_source_drop_share: Option<f64>,
    pub max_group_retirements: Option<usize>,
    pub max_deactivation_share: Option<f64>,
    pub deactivation_floor: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSync {
    pub time_zone: Option<String>,
    /// Winningtemp's KeepInactive rule: never make a paused user active again.
    pub keep_paused: Option<bool>,
    /// A record that failed waits this many minutes before it is tried again, doubling with
    /// each failure in a row, up to a week.
    pub retry_base_minutes: Option<u64>,
    /// After this many failures in a row a record is held: tried weekly and listed in every
    /// report until it succeeds.
    pub hold_after_failures: Option<u32>,
    pub concurrency: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReport {
    pub dir: Option<PathBuf>,
    /// Reports and journal rows older than this many days are pruned; default 90.
    pub keep_days: Option<i64>,
}

/// When `flexsync daemon` runs a sync: `times`, `every_minutes` or `cron`, one of them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    /// Local times of day (`HH:MM`) in `sync.time_zone`; default `["01:00"]`.
    pub times: Option<Vec<String>>,
    pub every_minutes: Option<u32>,
    /// A five-field cron expression in `sync.time_zone`, e.g. `0 1 * * 1-5`.
    pub cron: Option<String>,
    pub run_at_start: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDaemon {
    /// Where `/healthz` and `/metrics` are served; default `127.0.0.1:9108`.
    pub listen: Option<String>,
    /// On SIGTERM or Ctrl-C, how long a run in progress may take to finish.
    pub stop_timeout_seconds: Option<u64>,
    /// A file holding the bearer token the status page (`/`) and the reports ask for when the
    /// daemon listens on a non-loopback address.
    pub status_token_file: Option<PathBuf>,
    /// Connections to /healthz and /metrics held at once (default 64); a new one evicts the
    /// oldest.
    pub max_connections: Option<usize>,
    /// A connection that has not sent a whole request within this many seconds is closed
    /// (default 10).
    pub header_timeout_seconds: Option<u64>,
    /// `flexsync daemon --tenants`: how many tenants may sync at once (default 4); read from
    /// the tenants folder's `_daemon.toml`.
    pub parallel_tenants: Option<usize>,
    /// `--tenants` with a PostgreSQL `[state]` in `_daemon.toml`: how long a tenant's lease lasts
    /// unless renewed (default 30 s); a killed daemon's tenants are taken over after it.
    pub lease_seconds: Option<u64>,
}

/// `[notify.email]` and `[notify.webhook]`: who hears how each sync went.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    pub email: Option<RawEmail>,
    pub webhook: Option<RawWebhook>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    pub smtp_host: String,
    pub smtp_port: Option<u16>,
    /// "starttls" (default), "tls" or "none" (loopback only).
    pub security: Option<String>,
    /// A PEM file of a certificate authority to trust besides the Mozilla roots.
    pub tls_ca_file: Option<PathBuf>,
    pub username: Option<String>,
    /// Refused with a clear message: the password lives in the environment or a file.
    pub password: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub from: String,
    pub to: Vec<String>,
    /// "always", "changes" or "problems" (default).
    pub when: Option<String>,
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub url: String,
    /// "always", "changes" or "problems" (default).
    pub when: Option<String>,
    /// The header that carries the secret, e.g. `Authorization` or `X-Flexsync-Token`.
    pub secret_header: Option<String>,
    pub secret_env: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub timeout_seconds: Option<u64>,
}
