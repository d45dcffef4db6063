//! `[state]` and `[report]`: where flexsync keeps its own records (a SQLite file, or a schema on a
//! PostgreSQL server), and how paths written in the configuration are read.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use flexsync_state::{Location, PgTarget};

use super::connection::secret;
use super::raw::{RawReport, RawState};

/// The schema a PostgreSQL store uses unless `state.schema` names another.
pub const DEFAULT_SCHEMA: &str = "flexsync";

pub(super) fn state_path(raw: &RawState, base: &Path) -> PathBuf {
    resolve(
        base,
        raw.path.as_deref().unwrap_or(Path::new("flexsync.db")),
    )
}

/// Where run reports go: `report.dir`, or `reports/` beside the state store (beside the
/// configuration file when the store is on a server).
pub(super) fn report_dir(raw: &RawReport, base: &Path, state: &Location) -> PathBuf {
    match (&raw.dir, state) {
        (Some(dir), _) => resolve(base, dir),
        (None, Location::File(path)) => beside(path, "reports"),
        (None, Location::Postgres(_)) => base.join("reports"),
    }
}

/// `[state]`: a SQLite file (`path`, the default `flexsync.db`) or a PostgreSQL server (`url`,
/// with its password from `password_env` or `password_file`, a `schema` and a `ca_file`).
pub(super) fn state_location(
    raw: &RawState,
    base: &Path,
    warnings: &mut Vec<String>,
) -> anyhow::Result<Location> {
    let Some(url) = &raw.url else {
        let server_keys = [
            ("password_env", raw.password_env.is_some()),
            ("password_file", raw.password_file.is_some()),
            ("schema", raw.schema.is_some()),
            ("ca_file", raw.ca_file.is_some()),
        ];
        if let Some((key, _)) = server_keys.iter().find(|(_, given)| *given) {
            bail!("state.{key} is for a PostgreSQL store: give state.url too, or remove it");
        }
        return Ok(Location::File(state_path(raw, base)));
    };
    if raw.path.is_some() {
        bail!("state: give `path` (a SQLite file) or `url` (a PostgreSQL server), not both");
    }
    flexsync_state::pg::check_url(url).map_err(|e| anyhow::anyhow!("state.url: {e}"))?;
    if flexsync_state::pg::url_has_password(url) {
        bail!(
            "state.url holds a password: a secret is never written in the configuration file; \
             under [state], give the URL without it and `password_env = \"VARIABLE\"` or \
             `password_file = \"/path/to/file\"`"
        );
    }
    let password = match (&raw.password_env, &raw.password_file) {
        (None, None) => None,
        (env, file) => {
            use secrecy::ExposeSecret;
            let file = file.as_deref().map(|p| resolve(base, p));
            let secret = secret("state.password", None, env.clone(), file, warnings)?;
            Some(secret.expose_secret().to_string())
        }
    };
    let schema = raw
        .schema
        .clone()
        .unwrap_or_else(|| DEFAULT_SCHEMA.to_string());
    check_schema(&schema).map_err(|e| anyhow::anyhow!("state.schema: {e}"))?;
    let ca_pem = match &raw.ca_file {
        Some(file) => {
            let path = resolve(base, file);
            Some(
                std::fs::read(&path)
                    .with_context(|| format!("state.ca_file: cannot read {}", path.display()))?,
            )
        }
        None => None,
    };
    Ok(Location::Postgres(PgTarget {
        url: url.clone(),
        password,
        schema,
        ca_pem,
    }))
}

/// A schema name: lower-case letters, digits and `_`, starting with a letter, at most 63 bytes
/// (PostgreSQL's limit), so it never needs quoting in a person's hands.
pub fn check_schema(name: &str) -> Result<(), String> {
    let well_formed = name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a schema name: use lower-case letters, digits and _, starting \
             with a letter, at most 63 characters"
        ))
    }
}

/// How many days reports and journal rows are kept: `report.keep_days`, default 90.
pub(super) fn keep_days(raw: &RawReport) -> anyhow::Result<u32> {
    const MAX_DAYS: i64 = 36_500;
    match raw.keep_days {
        None => Ok(90),
        Some(days @ 1..=MAX_DAYS) => Ok(days as u32),
        Some(days) => anyhow::bail!(
            "report.keep_days = {days}: give a number of days from 1 to {MAX_DAYS} (default 90)"
        ),
    }
}

/// Where a run leaves its records, and for how long: all that `history` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Records {
    /// The SQLite file, or for a PostgreSQL store its URL (no password) and schema, for people.
    pub state_path: PathBuf,
    /// Where the store lives, to open it.
    pub state: Location,
    pub report_dir: PathBuf,
    pub keep_days: u32,
}

impl Records {
    pub(super) fn of(
        state: &RawState,
        report: &RawReport,
        base: &Path,
        warnings: &mut Vec<String>,
    ) -> anyhow::Result<Records> {
        let location = state_location(state, base, warnings)?;
        let state_path = match &location {
            Location::File(path) => path.clone(),
            Location::Postgres(target) => PathBuf::from(target.display()),
        };
        Ok(Records {
            report_dir: report_dir(report, base, &location),
            keep_days: keep_days(report)?,
            state_path,
            state: location,
        })
    }

    /// Opens the state store these records are kept in.
    pub fn open(&self) -> Result<flexsync_state::StateStore, flexsync_state::StateError> {
        flexsync_state::StateStore::open_at(&self.state)
    }
}

/// A path from the configuration, taken from the configuration file's folder when relative.
pub(super) fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// A folder next to the state store.
pub(super) fn beside(state_path: &Path, name: &str) -> PathBuf {
    state_path.parent().unwrap_or(Path::new(".")).join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(text: &str) -> RawState {
        toml::from_str(text).unwrap()
    }

    fn location(text: &str) -> (anyhow::Result<Location>, Vec<String>) {
        let mut warnings = Vec::new();
        let result = state_location(&state(text), Path::new("/etc/flexsync"), &mut warnings);
        (result, warnings)
    }

    #[test]
    fn a_url_makes_a_postgres_store_with_its_password_from_a_file_and_reports_beside_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("pg.txt");
        std::fs::write(&secret, "hemligt\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let text = format!(
            "url = \"postgres://flexsync@db.example:5432/hr\"\npassword_file = {secret:?}\n\
             schema = \"acme\"\n"
        );
        let (result, warnings) = location(&text);
        let Location::Postgres(target) = result.unwrap() else {
            panic!("expected PostgreSQL")
        };
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(target.password.as_deref(), Some("hemligt"));
        assert_eq!(target.schema, "acme");
        let report = report_dir(
            &RawReport::default(),
            Path::new("/etc/flexsync"),
            &Location::Postgres(target),
        );
        assert_eq!(report, Path::new("/etc/flexsync/reports"));
    }

    #[test]
    fn state_keys_that_do_not_fit_are_named() {
        let cases = [
            ("path = \"a.db\"\nurl = \"postgres://u@h/d\"\n", "not both"),
            ("password_env = \"PG\"\n", "state.password_env"),
            ("url = \"mysql://u@h/d\"\n", "state.url"),
            (
                "url = \"postgres://u@h/d\"\nschema = \"Acme-1\"\n",
                "state.schema",
            ),
            (
                "url = \"postgres://u@h/d\"\npassword_env = \"FLEXSYNC_TEST_UNSET_PG\"\n",
                "FLEXSYNC_TEST_UNSET_PG",
            ),
        ];
        for (text, named) in cases {
            let error = location(text).0.unwrap_err().to_string();
            assert!(error.contains(named), "{text}: {error}");
        }
    }

    #[test]
    fn a_password_in_the_url_is_refused_and_never_shown() {
        let (result, _) = location("url = \"postgres://u:hemligt@h/d\"\n");
        let error = result.unwrap_err().to_string();
        assert!(error.contains("state.url holds a password"), "{error}");
        assert!(error.contains("password_file"), "{error}");
        assert!(!error.contains("hemligt"), "{error}");
        let (result, _) = location("url = \"postgres://u@h/d\"\n");
        let Ok(Location::Postgres(target)) = result else {
            panic!("expected PostgreSQL")
        };
        assert_eq!(target.schema, DEFAULT_SCHEMA);
    }
}
