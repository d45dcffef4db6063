//! Configuration: the TOML file as written (`RawConfig`, unknown keys refused) and the checked
//! `Config` the rest of the program uses (parsed URLs, resolved secrets, settings per part).
//! Each section is checked in its own module, in the order `Config::from_raw` names them.

mod connection;
mod daemon;
mod files;
mod flex;
mod guards;
mod mapping;
mod notify;
mod paths;
mod raw;
mod sync;
pub mod tenants;
mod winningtemp;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use flexsync_core::guard::GuardSettings;
use flexsync_core::mapping::{GroupSettings, MappingSettings};
use flexsync_core::plan::PlanSettings;
use flexsync_core::retry_hold::HoldPolicy;
use flexsync_flex::FlexSettings;
use flexsync_scim::ScimSettings;

use crate::file_writer::{Destination, FileColumns};
use crate::schedule::Schedule;

pub use raw::{
    CompanyOrText, RawConfig, RawDaemon, RawExtra, RawFiles, RawFlex, RawGuards, RawMapping,
    RawReport, RawSchedule, RawSftp, RawState, RawSync, RawWinningtemp,
};

use daemon::{read_daemon, read_schedule};
use files::file_channel;
use flex::flex_settings;
use guards::guard_settings;
use mapping::mapping_settings;
use notify::notify_settings;
pub use notify::{EmailNotify, NotifySettings, WebhookNotify};
pub use paths::Records;
use sync::sync_part;
use winningtemp::winningtemp_part;

pub const DEFAULT_USER_EXTENSION: &str =
    "urn:ietf:params:scim:schemas:extension:winningtemp:2.0:User";

/// The daemon's HTTP address and stop behaviour.
#[derive(Debug, Clone)]
pub struct DaemonSettings {
    pub listen: SocketAddr,
    pub stop_timeout: Duration,
    /// The bearer token the status page and the reports ask for off loopback
    /// (`daemon.status_token_file`).
    pub status_token: Option<secrecy::SecretString>,
    /// Connections held at once; a new one evicts the oldest.
    pub max_connections: usize,
    /// A connection unanswered this long (a request never finished, an idle one) is closed.
    pub header_timeout: Duration,
    /// With `--tenants`: how many tenants may sync at once.
    pub parallel_tenants: usize,
    /// With `--tenants` and leases: how long a lease lasts unless renewed.
    pub lease: Duration,
}

pub const DEFAULT_DAEMON_LISTEN: &str = "127.0.0.1:9108";

/// Where and how the CSV files are delivered.
#[derive(Debug, Clone)]
pub struct FileChannel {
    pub destination: Destination,
    pub last_delivery_dir: PathBuf,
    pub columns: FileColumns,
    /// Formula-like cells neutralised (the default) or raw (`raw_values = true`).
    pub cells: crate::file_writer::Cells,
    /// The mode delivered files get (`mode`, default 0600); the kept copy stays 0600.
    pub mode: crate::file_writer::FileMode,
}

/// Where a command's configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `--config FILE`.
    File(PathBuf),
    /// `--tenants DIR --tenant NAME`.
    Tenant { dir: PathBuf, name: String },
}

impl Source {
    /// The checked configuration.
    pub fn load(&self) -> Result<Config> {
        match self {
            Source::File(path) => Config::load(path),
            Source::Tenant { dir, name } => Ok(tenants::load(dir, name)?.config),
        }
    }

    /// Only where the run records are kept (see [`Config::records_of`]).
    pub fn records(&self) -> Result<Records> {
        match self {
            Source::File(path) => Config::records_of(path),
            Source::Tenant { dir, name } => tenants::records(dir, name),
        }
    }
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub flex: FlexSettings,
    /// The live SCIM channel, when `[winningtemp]` is configured.
    pub scim: Option<ScimSettings>,
    /// The CSV file channel, when `[files]` is configured.
    pub files: Option<FileChannel>,
    pub user_extension: String,
    pub group_parent_attribute: String,
    /// Writes go in `/Bulk` requests where the SCIM server advertises Bulk
    /// (`[winningtemp] bulk`, default true).
    pub bulk: bool,
    /// The SQLite file, or for a PostgreSQL store its URL (no password) and schema, for people.
    pub state_path: PathBuf,
    /// Where the state store lives, to open it ([`Config::open_state`]).
    pub state: flexsync_state::Location,
    pub report_dir: PathBuf,
    /// Reports and journal rows older than this many days are pruned after each sync.
    pub report_keep_days: u32,
    pub mapping: MappingSettings,
    pub groups: GroupSettings,
    pub guards: GuardSettings,
    pub plan: PlanSettings,
    pub hold: HoldPolicy,
    pub time_zone: jiff::tz::TimeZone,
    pub time_zone_name: String,
    pub concurrency: usize,
    /// When `flexsync daemon` runs.
    pub schedule: Schedule,
    pub daemon: DaemonSettings,
    /// Who hears how each sync went.
    pub notify: NotifySettings,
    /// The configuration file, when loaded from one (named in the commands flexsync suggests).
    pub path: Option<PathBuf>,
    /// The tenant this configuration is, under `--tenants`.
    pub tenant: Option<Source>,
    /// Under a lease (`--tenants` sharing tenants): a run lock older than this was left by a
    /// daemon whose lease expired, and is taken over.
    pub run_lock_stale_after: Option<Duration>,
    /// Warnings found while loading (e.g. a secret file readable by others), shown every run.
    pub warnings: Vec<String>,
}

impl Config {
    /// Where each mapped value lives on the SCIM side, for this configuration.
    pub fn attribute_map(&self) -> flexsync_winningtemp::AttributeMap {
        flexsync_winningtemp::AttributeMap {
            user_extension: self.user_extension.clone(),
            extra: self.extra_attributes(),
        }
    }

    /// The SCIM attribute paths of the configured extra mappings and values, each once.
    pub fn extra_attributes(&self) -> Vec<String> {
        let old = self
            .mapping
            .extra
            .iter()
            .map(|e| e.target_attribute.clone());
        let new = self
            .mapping
            .values
            .iter()
            .filter_map(|v| v.attribute.clone());
        let mut paths: Vec<String> = Vec::new();
        for path in old.chain(new) {
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
        paths
    }

    /// The flags that name this configuration in a command flexsync suggests: `--config F`, or
    /// `--tenants DIR --tenant NAME`.
    pub fn command_flags(&self) -> Option<String> {
        match (&self.tenant, &self.path) {
            (Some(Source::Tenant { dir, name }), _) => {
                Some(format!("--tenants {} --tenant {name}", dir.display()))
            }
            (_, Some(path)) => Some(format!("--config {}", path.display())),
            _ => None,
        }
    }

    /// Opens the state store (the SQLite file, or the schema on the PostgreSQL server).
    pub fn open_state(&self) -> Result<flexsync_state::StateStore, flexsync_state::StateError> {
        flexsync_state::StateStore::open_at(&self.state)
    }

    /// Reads and checks a configuration file. Relative paths inside it are taken from the
    /// file's folder.
    pub fn load(path: &Path) -> Result<Config> {
        Config::load_with(path, |_| ())
    }

    /// Reads a configuration file, lets `defaults` fill in what the file leaves out (a tenant's
    /// own state and reports), then checks it.
    pub(crate) fn load_with(path: &Path, defaults: impl FnOnce(&mut RawConfig)) -> Result<Config> {
        let mut raw = Config::read_raw(path)?;
        defaults(&mut raw);
        let mut config = Config::from_raw(raw, &base_of(path)?)?;
        config.path = Some(path.to_path_buf());
        Ok(config)
    }

    /// Only where the run records are kept: for `history`, which reads nothing else, so it
    /// needs no secret in the environment and no network.
    pub fn records_of(path: &Path) -> Result<Records> {
        Config::records_with(path, |_| ())
    }

    /// [`Config::records_of`], with defaults filled in as [`Config::load_with`] does.
    pub(crate) fn records_with(
        path: &Path,
        defaults: impl FnOnce(&mut RawConfig),
    ) -> Result<Records> {
        let mut raw = Config::read_raw(path)?;
        defaults(&mut raw);
        Records::of(&raw.state, &raw.report, &base_of(path)?, &mut Vec::new())
    }

    /// Reads and parses a configuration file, without checking it.
    pub(crate) fn read_raw(path: &Path) -> Result<RawConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read configuration file {}", path.display()))?;
        let raw: RawConfig = toml::from_str(&text).map_err(|e| {
            // Never the error's own rendering: it quotes the line, which may hold a secret.
            let at = e.span().map_or(String::new(), |span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!(" (line {line}, column {column})")
            });
            // Nor the values it quotes: `token = 123456` would be echoed as an integer.
            let message = flexsync_http::redact::without_values(e.message().trim_end());
            anyhow!("{}{at}: {message}", path.display())
        })?;
        Ok(raw)
    }

    /// Checks a parsed file section by section, stopping at the first error, which names its
    /// key. Relative paths are taken from `base`.
    pub fn from_raw(raw: RawConfig, base: &Path) -> Result<Config> {
        refuse_inline_secrets(&raw)?;
        let mut warnings = Vec::new();
        let flex = flex_settings(raw.flex, base, &mut warnings)?;
        let winningtemp = winningtemp_part(raw.winningtemp, base, &mut warnings)?;
        let mut mapping = mapping_settings(raw.mapping, raw.scope)?;
        mapping.people = mapping::same_person(&raw.companies)?;
        mapping.segments = mapping::segments(&raw.segments)?;
        let guards = guard_settings(&raw.guards)?;
        let sync = sync_part(raw.sync)?;
        let schedule = read_schedule(&raw.schedule, &sync.time_zone)?;
        let daemon = read_daemon(&raw.daemon, base, &mut warnings)?;
        let notify = notify_settings(raw.notify, base, &mut warnings)?;
        let records = Records::of(&raw.state, &raw.report, base, &mut warnings)?;
        let state_path = records.state_path.clone();
        let home = match &records.state {
            flexsync_state::Location::File(path) => path.clone(),
            flexsync_state::Location::Postgres(_) => base.join("flexsync.db"),
        };
        let files = file_channel(raw.files, base, &home, &mut warnings)?;
        if let Some(files) = &files {
            mapping::check_columns(&mapping, &files.columns.users.names())?;
        }
        if winningtemp.scim.is_none() && files.is_none() {
            bail!("configure at least one channel: [winningtemp] (SCIM) or [files] (CSV)");
        }

        Ok(Config {
            flex,
            scim: winningtemp.scim,
            files,
            user_extension: winningtemp.user_extension,
            group_parent_attribute: winningtemp.group_parent_attribute,
            bulk: winningtemp.bulk,
            state_path,
            state: records.state,
            report_dir: records.report_dir,
            report_keep_days: records.keep_days,
            mapping,
            groups: raw.groups,
            guards,
            plan: sync.plan,
            hold: sync.hold,
            time_zone: sync.time_zone,
            time_zone_name: sync.time_zone_name,
            concurrency: sync.concurrency,
            schedule,
            daemon,
            notify,
            path: None,
            tenant: None,
            run_lock_stale_after: None,
            warnings,
        })
    }
}

/// The folder relative paths in the file at `path` are taken from, made absolute: a child
/// process run from another folder (`sftp`) must find them too.
fn base_of(path: &Path) -> Result<PathBuf> {
    let base = path.parent().unwrap_or(Path::new("."));
    std::path::absolute(if base.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base
    })
    .with_context(|| format!("cannot tell where {} is", path.display()))
}

/// Every secret written in the configuration, refused at once (not one per attempt).
fn refuse_inline_secrets(raw: &RawConfig) -> Result<()> {
    let email = raw.notify.email.as_ref();
    let written = [
        ("flex.password", raw.flex.password.is_some()),
        (
            "winningtemp.token",
            raw.winningtemp.as_ref().is_some_and(|w| w.token.is_some()),
        ),
        (
            "notify.email.password",
            email.is_some_and(|e| e.password.is_some()),
        ),
    ];
    let refusals: Vec<String> = written
        .iter()
        .filter(|(_, written)| *written)
        .map(|(key, _)| connection::inline_secret(key))
        .collect();
    if refusals.is_empty() {
        return Ok(());
    }
    bail!("{}", refusals.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{CronSlots, Slots};

    #[test]
    fn keep_days_defaults_to_90_and_must_be_a_number_of_days() {
        let report = |keep_days| RawReport {
            dir: None,
            keep_days,
        };
        assert_eq!(paths::keep_days(&report(None)).unwrap(), 90);
        assert_eq!(paths::keep_days(&report(Some(30))).unwrap(), 30);
        for wrong in [0, -1, 100_000] {
            let error = paths::keep_days(&report(Some(wrong))).unwrap_err();
            assert!(error.to_string().contains("report.keep_days"), "{error}");
        }
    }

    #[test]
    fn the_example_configuration_parses() {
        let text = include_str!("../../../../flexsync.example.toml");
        let raw: RawConfig = toml::from_str(text).unwrap();
        assert_eq!(raw.flex.companies.len(), 1);
        // Every commented-out key, uncommented, is a known key too.
        let uncommented: String = text
            .lines()
            .map(|line| {
                line.strip_prefix("# ")
                    .filter(|rest| !rest.starts_with("e.g."))
                    .filter(|rest| rest.contains(" = ") || rest.starts_with('['))
                    .unwrap_or(line)
            })
            .map(|line| format!("{line}\n"))
            .collect();
        let raw: RawConfig = toml::from_str(&uncommented).unwrap();
        let mapping = mapping_settings(raw.mapping, raw.scope).unwrap();
        assert_eq!(mapping.values.len(), 2);
        assert_eq!(mapping.scope.exclude.len(), 2);
        assert_eq!(mapping.scope.include.len(), 1);
        assert_eq!(mapping::segments(&raw.segments).unwrap().len(), 1);
        assert!(mapping::same_person(&raw.companies).is_ok());
        assert!(
            raw.files
                .is_some_and(|f| f.sftp.is_some() && f.dir.is_some())
        );
    }

    /// A configuration with `extra` appended. Its secrets come from `PATH`, a variable every
    /// process has, so no test needs to set one.
    fn load(extra: &str) -> Result<Config> {
        let text = format!(
            "[flex]\nbase_url = \"https://x\"\nusername = \"u\"\npassword_env = \"PATH\"\ninstance = 1\ncompanies = [1]\n[winningtemp]\nscim_url = \"https://wt\"\ntoken_env = \"PATH\"\n{extra}"
        );
        Config::from_raw(toml::from_str(&text)?, Path::new("."))
    }

    #[test]
    fn bulk_is_used_where_advertised_unless_turned_off() {
        assert!(load("").unwrap().bulk);
        assert!(!load("bulk = false\n").unwrap().bulk);
        assert!(load("bulk = \"no\"\n").is_err());
    }

    #[test]
    fn the_daemon_runs_daily_at_one_on_loopback_by_default() {
        let config = load("").unwrap();
        assert_eq!(
            config.schedule.describe(),
            "daily at 01:00 (Europe/Stockholm)"
        );
        assert!(!config.schedule.run_at_start);
        assert_eq!(config.daemon.listen.to_string(), DEFAULT_DAEMON_LISTEN);
    }

    #[test]
    fn schedule_keys_are_read_in_the_sync_time_zone() {
        let config = load(
            "[sync]\ntime_zone = \"Europe/Helsinki\"\n[schedule]\ntimes = [\"22:15\", \"01:00\", \"01:00\"]\nrun_at_start = true\n[daemon]\nlisten = \"0.0.0.0:9200\"\nstop_timeout_seconds = 30\n",
        )
        .unwrap();
        assert_eq!(
            config.schedule.describe(),
            "daily at 01:00, 22:15 (Europe/Helsinki)"
        );
        assert!(config.schedule.run_at_start);
        assert_eq!(config.daemon.listen.to_string(), "0.0.0.0:9200");
        assert_eq!(config.daemon.stop_timeout, Duration::from_secs(30));
        let every = load("[schedule]\nevery_minutes = 5\n").unwrap();
        assert_eq!(every.schedule.slots, Slots::EveryMinutes(5));
        assert_eq!(every.schedule.warnings().len(), 1);
        let weekdays = load("[schedule]\ncron = \"0 1 * * 1-5\"\n").unwrap();
        assert_eq!(
            weekdays.schedule.slots,
            Slots::Cron(CronSlots::parse("0 1 * * 1-5").unwrap())
        );
        assert_eq!(
            weekdays.schedule.describe(),
            "cron \"0 1 * * 1-5\" (Europe/Stockholm)"
        );
    }

    #[test]
    fn bad_schedule_and_daemon_keys_are_named() {
        for (extra, named) in [
            (
                "[schedule]\ntimes = [\"25:00\"]\n",
                "schedule.times: \"25:00\"",
            ),
            ("[schedule]\ntimes = []\n", "schedule.times"),
            (
                "[schedule]\nevery_minutes = 0\n",
                "schedule.every_minutes: 0",
            ),
            (
                "[schedule]\nevery_minutes = 1441\n",
                "schedule.every_minutes: 1441",
            ),
            (
                "[schedule]\ntimes = [\"01:00\"]\nevery_minutes = 30\n",
                "schedule: give `times` or `every_minutes`",
            ),
            (
                "[schedule]\nevery_minutes = 30\ncron = \"0 1 * * *\"\n",
                "schedule: give `times` or `every_minutes` or `cron`",
            ),
            (
                "[schedule]\ncron = \"0 25 * * 1-5\"\n",
                "schedule.cron: \"0 25 * * 1-5\" is not a cron expression",
            ),
            (
                "[schedule]\ncron = \"0 0 30 2 *\"\n",
                "schedule.cron: \"0 0 30 2 *\"",
            ),
            (
                "[daemon]\nlisten = \"localhost\"\n",
                "daemon.listen: \"localhost\"",
            ),
        ] {
            let error = format!("{:#}", load(extra).unwrap_err());
            assert!(error.contains(named), "{extra}: {error}");
        }
    }

    #[test]
    fn notify_keys_are_checked_and_named() {
        let email =
            "[notify.email]\nsmtp_host = \"smtp.example.se\"\nfrom = \"flexsync@example.se\"\n";
        for (extra, named) in [
            (
                format!("{email}to = [\"hr@example.se\"]\npassword = \"hunter2\"\nusername = \"u\"\n"),
                "notify.email.password: a secret is never written in the configuration file",
            ),
            (
                format!("{email}to = [\"hr@example.se\"]\nsecurity = \"none\"\n"),
                "notify.email.security = \"none\"",
            ),
            (
                format!("{email}to = [\"hr@example.se\"]\nsecurity = \"ssl\"\n"),
                "notify.email.security: \"ssl\"",
            ),
            (format!("{email}to = []\n"), "notify.email.to: name at least one"),
            (format!("{email}to = [\"hr at example\"]\n"), "notify.email.to: \"hr at example\""),
            (
                format!("{email}to = [\"hr@example.se\"]\nusername = \"u\"\n"),
                "notify.email.username: give its password",
            ),
            (
                format!("{email}to = [\"hr@example.se\"]\nwhen = \"sometimes\"\n"),
                "notify.email.when: \"sometimes\"",
            ),
            (
                "[notify.webhook]\nurl = \"ftp://x\"\n".to_string(),
                "notify.webhook.url: \"ftp://x\"",
            ),
            (
                "[notify.webhook]\nurl = \"https://x\"\nsecret_env = \"FLEXSYNC_TEST_UNSET_SECRET\"\n"
                    .to_string(),
                "notify.webhook.secret_header",
            ),
        ] {
            let error = format!("{:#}", load(&extra).unwrap_err());
            assert!(error.contains(named), "{extra}: {error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
        let config = load(&format!(
            "{email}to = [\"hr@example.se\"]\n[notify.webhook]\nurl = \"https://hooks.example.se/x\"\nwhen = \"always\"\n"
        ))
        .unwrap();
        let email = config.notify.email.unwrap();
        assert_eq!(email.smtp.port, 587, "STARTTLS by default, on its port");
        assert_eq!(email.when, crate::notify::When::Problems);
        assert_eq!(
            config.notify.webhook.unwrap().when,
            crate::notify::When::Always
        );
    }

    #[test]
    fn an_unknown_key_is_named() {
        let text = "[flex]\nbase_url = \"https://x\"\nusername = \"u\"\npassword_env = \"PATH\"\ninstance = 1\ncompanies = [1]\ncolour = \"red\"\n";
        let error = toml::from_str::<RawConfig>(text).unwrap_err().to_string();
        assert!(error.contains("colour"), "{error}");
    }

    #[test]
    fn insecure_tls_and_a_secret_file_readable_by_others_are_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("password");
        std::fs::write(&secret, "s3cret\n").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        let text = format!(
            "[flex]\nbase_url = \"https://x\"\nusername = \"u\"\npassword_file = {:?}\n\
             instance = 1\ncompanies = [1]\n[winningtemp]\nscim_url = \"https://wt\"\n\
             token_env = \"PATH\"\ndanger_accept_invalid_certs = true\n",
            secret.display().to_string()
        );
        let path = dir.path().join("flexsync.toml");
        std::fs::write(&path, text).unwrap();
        let config = Config::load(&path).unwrap();
        let warnings = config.warnings.join("\n");
        assert!(warnings.contains("readable by other users"), "{warnings}");
        assert!(warnings.contains("NOT verified"), "{warnings}");
        assert!(!warnings.contains("s3cret"));

        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let config = Config::load(&path).unwrap();
        assert!(
            !config
                .warnings
                .join("\n")
                .contains("readable by other users")
        );
    }

    #[test]
    fn a_config_error_names_the_place_but_never_quotes_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flexsync.toml");
        let text =
            "[flex]\nbase_url = \"https://x\"\nusername = \"u\"\npasword = \"hunter2-secret\"\n";
        std::fs::write(&path, text).unwrap();
        let error = format!("{:#}", Config::load(&path).unwrap_err());
        assert!(error.contains("pasword"), "{error}");
        assert!(error.contains("line 4"), "{error}");
        assert!(!error.contains("hunter2-secret"), "{error}");
        std::fs::write(&path, "[winningtemp]\ntoken = abc-secret-token\n").unwrap();
        let error = format!("{:#}", Config::load(&path).unwrap_err());
        assert!(!error.contains("abc-secret-token"), "{error}");
    }

    fn load_text(text: &str) -> Result<Config> {
        Config::from_raw(toml::from_str(text)?, Path::new("."))
    }

    #[test]
    fn a_secret_file_writable_by_others_is_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("token");
        std::fs::write(&secret, "t0ken\n").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o602)).unwrap();
        let text = format!(
            "[flex]\nbase_url = \"https://x\"\nusername = \"u\"\npassword_env = \"PATH\"\n\
             instance = 1\ncompanies = [1]\n[winningtemp]\nscim_url = \"https://wt\"\n\
             token_file = {:?}\n",
            secret.display().to_string()
        );
        let warnings = load_text(&text).unwrap().warnings.join("\n");
        assert!(warnings.contains("writable by other users"), "{warnings}");
        assert!(!warnings.contains("readable by other users"), "{warnings}");
    }

    #[test]
    fn an_empty_secret_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let blank = dir.path().join("blank");
        std::fs::write(&blank, "  \n").unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let text = |password: &std::path::Path, token: &str| {
            format!(
                "[flex]\nbase_url = \"https://x\"\nusername = \"u\"\npassword_file = {:?}\n\
                 instance = 1\ncompanies = [1]\n[winningtemp]\nscim_url = \"https://wt\"\n\
                 {token}\n",
                password.display().to_string()
            )
        };
        let error = format!(
            "{:#}",
            load_text(&text(&blank, "token_env = \"PATH\"")).unwrap_err()
        );
        assert!(
            error.contains("flex.password: the secret is empty"),
            "{error}"
        );
        let token = format!("token_file = {:?}", empty.display().to_string());
        let password = dir.path().join("password");
        std::fs::write(&password, "p").unwrap();
        let error = format!("{:#}", load_text(&text(&password, &token)).unwrap_err());
        assert!(
            error.contains("winningtemp.token: the secret is empty"),
            "{error}"
        );
    }

    #[test]
    fn plain_http_beyond_this_machine_is_warned_about() {
        let config = |flex: &str, scim: &str| {
            load_text(&format!(
                "[flex]\nbase_url = \"{flex}\"\nusername = \"u\"\npassword_env = \"PATH\"\n\
                 instance = 1\ncompanies = [1]\n[winningtemp]\nscim_url = \"{scim}\"\n\
                 token_env = \"PATH\"\n"
            ))
            .unwrap()
            .warnings
            .into_iter()
            .filter(|w| !w.contains("is written in the configuration file"))
            .collect::<Vec<_>>()
            .join("\n")
        };
        let warnings = config("http://flex.example", "http://10.1.2.3/scim");
        assert!(
            warnings.contains("flex.base_url uses plain http to flex.example"),
            "{warnings}"
        );
        assert!(
            warnings.contains("winningtemp.scim_url uses plain http to 10.1.2.3"),
            "{warnings}"
        );
        let quiet = config("http://127.0.0.1:8080", "http://localhost:9000/scim");
        assert!(quiet.is_empty(), "{quiet}");
        assert!(config("https://flex.example", "https://[::1]/scim").is_empty());
    }

    #[test]
    fn an_inline_secret_is_refused_with_how_to_pass_it() {
        let refusal = |password: &str, token: &str| {
            let text = format!(
                "[flex]\nbase_url = \"https://x\"\nusername = \"u\"\n{password}\n\
                 instance = 1\ncompanies = [1]\n[winningtemp]\nscim_url = \"https://wt\"\n\
                 {token}\n"
            );
            format!("{:#}", load_text(&text).unwrap_err())
        };
        let error = refusal("password = \"p\"", "token_env = \"PATH\"");
        assert!(
            error.starts_with(
                "flex.password: a secret is never written in the configuration file; under \
                 [flex], give `password_env = \"VARIABLE\"`"
            ),
            "{error}"
        );
        assert!(error.contains("`password_file = "), "{error}");
        let error = refusal("password_env = \"PATH\"", "token = \"t\"");
        assert!(
            error.contains("winningtemp.token: a secret is never written"),
            "{error}"
        );
        // All of them at once, not one per attempt.
        let error = refusal("password = \"p\"", "token = \"t\"");
        assert!(error.starts_with("flex.password: "), "{error}");
        assert!(error.contains("\nwinningtemp.token: "), "{error}");
    }

    #[test]
    fn a_starter_lead_time_beyond_a_year_is_refused_not_a_panic() {
        let error = format!(
            "{:#}",
            load("[mapping]\nstarter_lead_days = 4294967295\n").unwrap_err()
        );
        assert!(error.contains("mapping.starter_lead_days"), "{error}");
        assert!(load("[mapping]\nstarter_lead_days = 30\n").is_ok());
    }

    #[test]
    fn the_mode_of_delivered_files_is_checked_and_defaults_to_owner_only() {
        let files = |mode: &str| load(&format!("[files]\ndir = \".\"\n{mode}"));
        let channel = |mode: &str| files(mode).unwrap().files.unwrap();
        assert_eq!(channel("").mode, crate::file_writer::FileMode::OWNER_ONLY);
        assert_eq!(channel("mode = \"0640\"\n").mode.bits(), 0o640);
        let error = format!("{:#}", files("mode = \"0755\"\n").unwrap_err());
        assert!(
            error.starts_with("files.mode: \"0755\" gives more than"),
            "{error}"
        );
        let error = format!("{:#}", files("mode = 416\n").unwrap_err());
        assert!(
            error.starts_with("files.mode: write the mode in quotes"),
            "{error}"
        );
        let warned = |mode: &str| files(mode).unwrap().warnings.join("\n");
        assert!(warned("mode = \"0640\"\n").is_empty());
        assert!(warned("mode = \"0644\"\n").contains("every user of this machine read"));
        assert!(warned("mode = \"0666\"\n").contains("lets other users change"));
    }

    #[test]
    fn the_last_delivery_copy_cannot_be_the_delivery_folder() {
        let error = format!(
            "{:#}",
            load("[files]\ndir = \"out\"\nlast_delivery_dir = \"./out\"\n").unwrap_err()
        );
        assert!(error.starts_with("files.last_delivery_dir: "), "{error}");
        assert!(
            error.contains("is the delivery folder itself (files.dir)"),
            "{error}"
        );
        assert!(load("[files]\ndir = \"out\"\nlast_delivery_dir = \"kept\"\n").is_ok());
    }

    #[test]
    fn a_remote_dir_that_climbs_out_is_refused() {
        let sftp = |remote: &str| {
            load(&format!(
                "[files.sftp]\nhost = \"h\"\nuser = \"u\"\nprivate_key_file = \"k\"\n\
                 known_hosts_file = \"kh\"\nremote_dir = \"{remote}\"\n"
            ))
        };
        for bad in ["../../../tmp", "in/../../out", ".."] {
            let error = format!("{:#}", sftp(bad).unwrap_err());
            assert!(error.contains("files.sftp.remote_dir"), "{bad}: {error}");
        }
        assert!(sftp("upload/wt").is_ok());
    }
}
