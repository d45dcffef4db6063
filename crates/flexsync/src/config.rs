//! Configuration: the TOML file as written (`RawConfig`, unknown keys refused) and the checked
//! `Config` the rest of the program uses (parsed URLs, resolved secrets, settings per part).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use secrecy::SecretString;
use serde::Deserialize;

use flexsync_core::guard::GuardSettings;
use flexsync_core::mapping::{ExtraMapping, GroupSettings, MappingSettings};
use flexsync_core::plan::PlanSettings;
use flexsync_core::retry_hold::HoldPolicy;
use flexsync_flex::{AuthScheme, CompanyRef, FlexSettings};
use flexsync_http::HttpSettings;
use flexsync_scim::ScimSettings;

use crate::file_writer::{Destination, FileColumns, SftpTarget};
use crate::schedule::{CronSlots, MAX_EVERY_MINUTES, Schedule, Slots, parse_time_of_day};

pub const DEFAULT_USER_EXTENSION: &str =
    "urn:ietf:params:scim:schemas:extension:winningtemp:2.0:User";

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
}

/// A number or a text in TOML: `companies = [1010, "1020"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CompanyOrText {
    Number(i64),
    Text(String),
}

impl CompanyOrText {
    fn text(&self) -> String {
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
    pub timeout_seconds: Option<u64>,
    pub max_concurrent: Option<usize>,
    /// Requests per second at most (retries included); none = no limit.
    pub rate_per_second: Option<f64>,
    pub danger_accept_invalid_certs: Option<bool>,
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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMapping {
    pub exclude_employment_types: Option<Vec<String>>,
    pub starter_lead_days: Option<u32>,
    #[serde(default)]
    pub extra: Vec<RawExtra>,
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
}

/// The daemon's HTTP address and stop behaviour.
#[derive(Debug, Clone)]
pub struct DaemonSettings {
    pub listen: SocketAddr,
    pub stop_timeout: Duration,
}

pub const DEFAULT_DAEMON_LISTEN: &str = "127.0.0.1:9108";

/// Where and how the CSV files are delivered.
#[derive(Debug, Clone)]
pub struct FileChannel {
    pub destination: Destination,
    pub last_delivery_dir: PathBuf,
    pub columns: FileColumns,
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
    pub state_path: PathBuf,
    pub report_dir: PathBuf,
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
    /// Warnings found while loading (e.g. a secret file readable by others), shown every run.
    pub warnings: Vec<String>,
}

impl Config {
    /// The SCIM attribute paths of the configured extra mappings.
    /// Where each mapped value lives on the SCIM side, for this configuration.
    pub fn attribute_map(&self) -> flexsync_winningtemp::AttributeMap {
        flexsync_winningtemp::AttributeMap {
            user_extension: self.user_extension.clone(),
            extra: self.extra_attributes(),
        }
    }

    pub fn extra_attributes(&self) -> Vec<String> {
        self.mapping
            .extra
            .iter()
            .map(|e| e.target_attribute.clone())
            .collect()
    }

    /// Reads and checks a configuration file. Relative paths inside it are taken from the
    /// file's folder.
    pub fn load(path: &Path) -> Result<Config> {
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
            anyhow!("{}{at}: {}", path.display(), e.message().trim_end())
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::from_raw(raw, base)
    }

    pub fn from_raw(raw: RawConfig, base: &Path) -> Result<Config> {
        let mut warnings = Vec::new();
        let flex = flex_settings(raw.flex, base, &mut warnings)?;
        let winningtemp = winningtemp_part(raw.winningtemp, base, &mut warnings)?;
        let mapping = mapping_settings(raw.mapping)?;
        let guards = guard_settings(&raw.guards)?;
        let sync = sync_part(raw.sync)?;
        let schedule = read_schedule(&raw.schedule, &sync.time_zone)?;
        let daemon = read_daemon(&raw.daemon)?;
        let state_path = resolve(
            base,
            raw.state
                .path
                .as_deref()
                .unwrap_or(Path::new("flexsync.db")),
        );
        let files = file_channel(raw.files, base, &state_path)?;
        if winningtemp.scim.is_none() && files.is_none() {
            bail!("configure at least one channel: [winningtemp] (SCIM) or [files] (CSV)");
        }
        let report_dir = match raw.report.dir {
            Some(dir) => resolve(base, &dir),
            None => beside(&state_path, "reports"),
        };

        Ok(Config {
            flex,
            scim: winningtemp.scim,
            files,
            user_extension: winningtemp.user_extension,
            group_parent_attribute: winningtemp.group_parent_attribute,
            state_path,
            report_dir,
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
            warnings,
        })
    }
}

/// A path from the configuration, taken from the configuration file's folder when relative.
fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// A folder next to the state store.
fn beside(state_path: &Path, name: &str) -> PathBuf {
    state_path.parent().unwrap_or(Path::new(".")).join(name)
}

/// `[flex]`: where Flex HRM answers, who signs in, and which companies are read.
fn flex_settings(flex: RawFlex, base: &Path, warnings: &mut Vec<String>) -> Result<FlexSettings> {
    let password = secret(
        "flex.password",
        flex.password,
        flex.password_env,
        flex.password_file.as_deref().map(|p| resolve(base, p)),
        warnings,
    )?;
    let companies = companies(&flex.companies)?;
    let auth = auth_scheme(flex.auth.as_deref())?;
    let http = http_settings(
        flex.timeout_seconds,
        flex.max_concurrent,
        flex.rate_per_second,
        flex.danger_accept_invalid_certs,
        "flex",
        warnings,
    );
    let api_prefix = flex.api_prefix.unwrap_or_else(|| "/webapi/api".to_string());
    flexsync_flex::api_base_url(&flex.base_url, &api_prefix)
        .map_err(|e| anyhow!("flex.base_url: {e}"))?;
    Ok(FlexSettings {
        base_url: flex.base_url,
        api_prefix,
        username: flex.username,
        password,
        instance: flex.instance.text(),
        companies,
        auth,
        page_size: flex.page_size.unwrap_or(500),
        max_pages: 10_000,
        http,
    })
}

fn companies(list: &[CompanyOrText]) -> Result<Vec<CompanyRef>> {
    if list.is_empty() {
        bail!("flex.companies: name at least one company number or GUID");
    }
    list.iter()
        .map(|c| {
            c.text().parse::<CompanyRef>().map_err(|e| {
                anyhow!(
                    "flex.companies: {:?} is not a company number or GUID: {e}",
                    c.text()
                )
            })
        })
        .collect()
}

fn auth_scheme(name: Option<&str>) -> Result<AuthScheme> {
    Ok(match name.unwrap_or("literal") {
        "literal" => AuthScheme::Literal,
        "base64" => AuthScheme::Base64Full,
        "base64-user" => AuthScheme::Base64UserPass,
        other => bail!("flex.auth: {other:?} is not one of literal, base64, base64-user"),
    })
}

/// The `[winningtemp]` part: the SCIM channel, when configured, and where its attributes live.
struct WinningtempPart {
    scim: Option<ScimSettings>,
    user_extension: String,
    group_parent_attribute: String,
}

fn winningtemp_part(
    raw: Option<RawWinningtemp>,
    base: &Path,
    warnings: &mut Vec<String>,
) -> Result<WinningtempPart> {
    let (scim, user_extension, group_parent_attribute) = match raw {
        Some(mut wt) => {
            let user_extension = wt.user_extension.take();
            let group_parent_attribute = wt.group_parent_attribute.take();
            let scim = scim_settings(wt, base, warnings)?;
            (Some(scim), user_extension, group_parent_attribute)
        }
        None => (None, None, None),
    };
    Ok(WinningtempPart {
        scim,
        user_extension: user_extension.unwrap_or_else(|| DEFAULT_USER_EXTENSION.to_string()),
        group_parent_attribute: group_parent_attribute.unwrap_or_else(|| {
            flexsync_winningtemp::groups::DEFAULT_PARENT_ATTRIBUTE.to_string()
        }),
    })
}

fn scim_settings(
    wt: RawWinningtemp,
    base: &Path,
    warnings: &mut Vec<String>,
) -> Result<ScimSettings> {
    let token = secret(
        "winningtemp.token",
        wt.token,
        wt.token_env,
        wt.token_file.as_deref().map(|p| resolve(base, p)),
        warnings,
    )?;
    url::Url::parse(&wt.scim_url).map_err(|e| anyhow!("winningtemp.scim_url: {e}"))?;
    let http = http_settings(
        wt.timeout_seconds,
        wt.max_concurrent,
        wt.rate_per_second,
        wt.danger_accept_invalid_certs,
        "winningtemp",
        warnings,
    );
    Ok(ScimSettings {
        base_url: wt.scim_url,
        token,
        page_size: wt.page_size.unwrap_or(200),
        max_pages: 10_000,
        http,
    })
}

/// `[mapping]`: employment types left out, starters' lead time, and extra attributes.
fn mapping_settings(raw: RawMapping) -> Result<MappingSettings> {
    let mut mapping = MappingSettings::default();
    if let Some(types) = raw.exclude_employment_types {
        mapping.exclude_employment_types = types;
    }
    mapping.starter_lead_days = raw.starter_lead_days.unwrap_or(0);
    for extra in &raw.extra {
        if !is_extension_attribute(&extra.attribute) {
            bail!(
                "mapping.extra: {:?} must be an extension attribute with its schema, e.g. \
                 urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                extra.attribute
            );
        }
    }
    mapping.extra = raw
        .extra
        .into_iter()
        .map(|e| ExtraMapping {
            source_field: e.field,
            target_attribute: e.attribute,
        })
        .collect();
    Ok(mapping)
}

/// `urn:<schema>:<name>`, both parts non-empty.
fn is_extension_attribute(attribute: &str) -> bool {
    attribute
        .strip_prefix("urn:")
        .and_then(|rest| rest.rsplit_once(':'))
        .is_some_and(|(schema, name)| !schema.is_empty() && !name.is_empty())
}

/// `[guards]`: the limits past which a run refuses to write.
fn guard_settings(raw: &RawGuards) -> Result<GuardSettings> {
    let defaults = GuardSettings::default();
    let guards = GuardSettings {
        max_deactivations: raw.max_deactivations.unwrap_or(defaults.max_deactivations),
        max_deactivation_share: raw
            .max_deactivation_share
            .unwrap_or(defaults.max_deactivation_share),
        deactivation_floor: raw.deactivation_floor.unwrap_or(defaults.deactivation_floor),
        max_source_drop_share: raw
            .max_source_drop_share
            .unwrap_or(defaults.max_source_drop_share),
        max_group_retirements: raw
            .max_group_retirements
            .unwrap_or(defaults.max_group_retirements),
    };
    if !(0.0..=1.0).contains(&guards.max_source_drop_share) {
        bail!("guards.max_source_drop_share: give a share between 0.0 and 1.0");
    }
    if !(0.0..=1.0).contains(&guards.max_deactivation_share) {
        bail!("guards.max_deactivation_share: give a share between 0.0 and 1.0");
    }
    Ok(guards)
}

/// The `[sync]` part: the time zone, the retry and hold policy, keep_paused and concurrency.
struct SyncPart {
    concurrency: usize,
    plan: PlanSettings,
    hold: HoldPolicy,
    time_zone: jiff::tz::TimeZone,
    time_zone_name: String,
}

fn sync_part(raw: RawSync) -> Result<SyncPart> {
    let hold = hold_policy(&raw)?;
    let time_zone_name = raw
        .time_zone
        .unwrap_or_else(|| "Europe/Stockholm".to_string());
    let time_zone = jiff::tz::TimeZone::get(&time_zone_name)
        .map_err(|e| anyhow!("sync.time_zone: {time_zone_name:?}: {e}"))?;
    Ok(SyncPart {
        concurrency: raw.concurrency.unwrap_or(8).clamp(1, 64),
        plan: PlanSettings {
            keep_paused: raw.keep_paused.unwrap_or(false),
        },
        hold,
        time_zone,
        time_zone_name,
    })
}

/// `[files]`: where the CSV files go, their columns, and where the last delivery is kept.
fn file_channel(
    raw: Option<RawFiles>,
    base: &Path,
    state_path: &Path,
) -> Result<Option<FileChannel>> {
    let Some(files) = raw else {
        return Ok(None);
    };
    let destination = destination(files.dir, files.sftp, base)?;
    files
        .columns
        .validate()
        .map_err(|e| anyhow!("files.columns: {e}"))?;
    let last_delivery_dir = match files.last_delivery_dir {
        Some(dir) => resolve(base, &dir),
        None => beside(state_path, "last-delivery"),
    };
    Ok(Some(FileChannel {
        destination,
        last_delivery_dir,
        columns: files.columns,
    }))
}

fn destination(dir: Option<PathBuf>, sftp: Option<RawSftp>, base: &Path) -> Result<Destination> {
    Ok(match (dir, sftp) {
        (Some(dir), None) => Destination::Folder(resolve(base, &dir)),
        (None, Some(sftp)) => Destination::Sftp(SftpTarget {
            host: sftp.host,
            port: sftp.port.unwrap_or(22),
            user: sftp.user,
            private_key: resolve(base, &sftp.private_key_file),
            known_hosts: resolve(base, &sftp.known_hosts_file),
            remote_dir: sftp.remote_dir,
        }),
        _ => bail!("files: give exactly one of `dir` or `[files.sftp]`"),
    })
}

fn read_schedule(raw: &RawSchedule, time_zone: &jiff::tz::TimeZone) -> Result<Schedule> {
    let given = [
        raw.times.is_some(),
        raw.every_minutes.is_some(),
        raw.cron.is_some(),
    ];
    if given.iter().filter(|given| **given).count() > 1 {
        bail!("schedule: give `times` or `every_minutes` or `cron`, only one of them");
    }
    let slots = match (&raw.times, raw.every_minutes, &raw.cron) {
        (_, _, Some(text)) => Slots::Cron(CronSlots::parse(text).map_err(|e| {
            anyhow!(
                "schedule.cron: {text:?} is not a cron expression to run by ({e}); write five \
                 fields, minute hour day-of-month month day-of-week, e.g. \"0 1 * * 1-5\""
            )
        })?),
        (None, None, None) => Schedule::daily_at_one(time_zone.clone()).slots,
        (None, Some(minutes), None) => {
            if !(1..=MAX_EVERY_MINUTES).contains(&minutes) {
                bail!(
                    "schedule.every_minutes: {minutes} is not between 1 and {MAX_EVERY_MINUTES}; use `times` for daily runs"
                );
            }
            Slots::EveryMinutes(minutes)
        }
        (Some(times), _, None) => {
            if times.is_empty() {
                bail!("schedule.times: name at least one time of day, e.g. [\"01:00\"]");
            }
            let parsed = times
                .iter()
                .map(|text| {
                    parse_time_of_day(text).ok_or_else(|| {
                        anyhow!("schedule.times: {text:?} is not a time of day written HH:MM (00:00 to 23:59)")
                    })
                })
                .collect::<Result<BTreeSet<_>>>()?;
            Slots::Times(parsed)
        }
    };
    Ok(Schedule {
        slots,
        time_zone: time_zone.clone(),
        run_at_start: raw.run_at_start.unwrap_or(false),
    })
}

fn read_daemon(raw: &RawDaemon) -> Result<DaemonSettings> {
    let text = raw.listen.as_deref().unwrap_or(DEFAULT_DAEMON_LISTEN);
    let listen = text.trim().parse::<SocketAddr>().map_err(|e| {
        anyhow!("daemon.listen: {text:?} is not an address and port such as 127.0.0.1:9108: {e}")
    })?;
    Ok(DaemonSettings {
        listen,
        stop_timeout: Duration::from_secs(raw.stop_timeout_seconds.unwrap_or(120)),
    })
}

fn hold_policy(sync: &RawSync) -> Result<HoldPolicy> {
    let mut policy = HoldPolicy::default();
    if let Some(minutes) = sync.retry_base_minutes {
        let minutes = i64::try_from(minutes)
            .map_err(|_| anyhow!("sync.retry_base_minutes: {minutes} is too large"))?;
        policy.base = jiff::SignedDuration::from_mins(minutes).min(policy.max);
    }
    if let Some(count) = sync.hold_after_failures {
        policy.hold_after = count.max(1);
    }
    Ok(policy)
}

fn http_settings(
    timeout_seconds: Option<u64>,
    max_concurrent: Option<usize>,
    rate_per_second: Option<f64>,
    insecure: Option<bool>,
    section: &str,
    warnings: &mut Vec<String>,
) -> HttpSettings {
    let mut http = HttpSettings::default();
    if let Some(seconds) = timeout_seconds {
        http.timeout = Duration::from_secs(seconds.max(1));
    }
    if let Some(n) = max_concurrent {
        http.max_concurrent = n.clamp(1, 64);
    }
    http.rate_per_second = rate_per_second.filter(|r| r.is_finite() && *r > 0.0);
    if insecure == Some(true) {
        http.accept_invalid_certs = true;
        warnings.push(format!(
            "{section}.danger_accept_invalid_certs is on: TLS certificates are NOT verified"
        ));
    }
    http
}

/// Resolves a secret from exactly one of: inline value, environment variable, file.
fn secret(
    key: &str,
    inline: Option<String>,
    env: Option<String>,
    file: Option<PathBuf>,
    warnings: &mut Vec<String>,
) -> Result<SecretString> {
    let given = [inline.is_some(), env.is_some(), file.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if given != 1 {
        bail!("{key}: give exactly one of `{key}`, `{key}_env` or `{key}_file`");
    }
    if let Some(value) = inline {
        return Ok(SecretString::from(value));
    }
    if let Some(var) = env {
        let value = std::env::var(&var)
            .map_err(|_| anyhow!("{key}_env: the environment variable {var} is not set"))?;
        return Ok(SecretString::from(value));
    }
    let Some(path) = file else {
        bail!("{key}: no value")
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{key}_file: cannot read {}", path.display()))?;
    if readable_by_others(&path) {
        warnings.push(format!(
            "{key}_file {} is readable by other users: chmod 600 it",
            path.display()
        ));
    }
    Ok(SecretString::from(
        text.trim_end_matches(['\r', '\n']).to_string(),
    ))
}

#[cfg(unix)]
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o044 != 0)
}

#[cfg(not(unix))]
fn readable_by_others(_path: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_configuration_parses() {
        let text = include_str!("../../../flexsync.example.toml");
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
        assert!(
            raw.files
                .is_some_and(|f| f.sftp.is_some() && f.dir.is_some())
        );
    }

    fn load(extra: &str) -> Result<Config> {
        let text = format!(
            "[flex]\nbase_url = \"https://x\"\nusername = \"u\"\npassword = \"p\"\ninstance = 1\ncompanies = [1]\n[winningtemp]\nscim_url = \"https://wt\"\ntoken = \"t\"\n{extra}"
        );
        Config::from_raw(toml::from_str(&text)?, Path::new("."))
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
    fn an_unknown_key_is_named() {
        let text = "[flex]\nbase_url = \"https://x\"\nusername = \"u\"\npassword = \"p\"\ninstance = 1\ncompanies = [1]\ncolour = \"red\"\n";
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
             token = \"t\"\ndanger_accept_invalid_certs = true\n",
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
}
