//! `--tenants DIR`: one configuration file per tenant (`DIR/NAME.toml`, the file name is the
//! tenant's name) and the process-wide `[daemon]` settings in `DIR/_daemon.toml`. Each tenant
//! keeps its own records unless its file says otherwise: on SQLite `NAME/flexsync.db` (reports
//! beside it), on PostgreSQL the schema `NAME` (reports in `reports/NAME`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::raw::RawConfig;
use super::{Config, DaemonSettings, Records};

/// The file in a tenants folder that holds the process-wide `[daemon]` section.
pub const DAEMON_FILE: &str = "_daemon.toml";

/// One tenant: its name and its checked configuration.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub name: String,
    pub config: Config,
}

/// A tenant's name: letters, digits, `-` and `_`, at most 50 characters (it names a folder, a
/// schema and a metrics label).
pub fn check_name(name: &str) -> Result<()> {
    let well_formed = !name.is_empty()
        && name.len() <= 50
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !well_formed {
        bail!(
            "{name:?} is not a tenant name: use letters, digits, - and _ (at most 50), starting \
             with a letter or digit"
        );
    }
    Ok(())
}

/// The tenant's file in `dir`.
pub fn tenant_file(dir: &Path, name: &str) -> Result<PathBuf> {
    check_name(name)?;
    let path = dir.join(format!("{name}.toml"));
    if !path.is_file() {
        bail!(
            "no tenant {name:?}: {} does not exist (tenants are {})",
            path.display(),
            names(dir).map_or_else(|_| "unreadable".into(), |n| n.join(", "))
        );
    }
    Ok(path)
}

/// The names of the tenants in `dir`, sorted.
/// Files of `dir` that look meant as tenants but are not read as one (`acme.TOML`,
/// `acme.toml.bak`): said at start, as a tenant missing without a word is a surprise.
pub fn not_tenants(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| {
            !name.starts_with(['_', '.'])
                && name.to_lowercase().contains(".toml")
                && !name.ends_with(".toml")
        })
        .collect();
    found.sort();
    found
}

pub fn names(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("--tenants: cannot read the folder {}", dir.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".toml"))
        else {
            continue;
        };
        if name.starts_with(['_', '.']) {
            continue;
        }
        check_name(name).with_context(|| format!("{}", path.display()))?;
        names.push(name.to_string());
    }
    names.sort();
    Ok(names)
}

/// Fills in the tenant's own state and reports where its file names none.
fn tenant_defaults(name: &str) -> impl FnOnce(&mut RawConfig) {
    let name = name.to_string();
    move |raw: &mut RawConfig| {
        if raw.state.url.is_some() {
            raw.state.schema.get_or_insert_with(|| schema_of(&name));
            raw.report
                .dir
                .get_or_insert_with(|| PathBuf::from("reports").join(&name));
        } else {
            raw.state
                .path
                .get_or_insert_with(|| PathBuf::from(&name).join("flexsync.db"));
        }
    }
}

/// The PostgreSQL schema a tenant's store lives in unless its file names one.
pub fn schema_of(name: &str) -> String {
    let lower = name.to_ascii_lowercase().replace('-', "_");
    if lower.starts_with(|c: char| c.is_ascii_lowercase()) {
        lower
    } else {
        format!("t_{lower}")
    }
}

/// Loads the tenant `name` of `dir`.
pub fn load(dir: &Path, name: &str) -> Result<Tenant> {
    let tenant = load_one(dir, name)?;
    refuse_shared(dir, name, &tenant.config.state_path)?;
    Ok(tenant)
}

/// The tenant `name` of `dir`, not compared with the others.
fn load_one(dir: &Path, name: &str) -> Result<Tenant> {
    let path = tenant_file(dir, name)?;
    let mut config = Config::load_with(&path, tenant_defaults(name))
        .with_context(|| format!("tenant {name}"))?;
    config.path = Some(path);
    config.tenant = Some(super::Source::Tenant {
        dir: dir.to_path_buf(),
        name: name.to_string(),
    });
    Ok(Tenant {
        name: name.to_string(),
        config,
    })
}

/// Where the tenant `name` of `dir` keeps its records (for `history`, which needs no secret).
pub fn records(dir: &Path, name: &str) -> Result<Records> {
    let records = records_of(dir, name)?;
    refuse_shared(dir, name, &records.state_path)?;
    Ok(records)
}

fn records_of(dir: &Path, name: &str) -> Result<Records> {
    let path = tenant_file(dir, name)?;
    Config::records_with(&path, tenant_defaults(name)).with_context(|| format!("tenant {name}"))
}

/// Refuses a tenant whose store another tenant of `dir` names too: a command would read and
/// write the other's records. Tenants whose files cannot be read are left to their own errors.
fn refuse_shared(dir: &Path, name: &str, store: &Path) -> Result<()> {
    let other = names(dir)?
        .into_iter()
        .filter(|other| other != name)
        .find(|other| records_of(dir, other).is_ok_and(|r| r.state_path == store));
    match other {
        Some(other) => Err(shared(name, &other, store)),
        None => Ok(()),
    }
}

fn shared(name: &str, other: &str, store: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "tenants {other} and {name} share the state store {}: give each its own [state] path \
         or schema",
        store.display()
    )
}

/// Every tenant of `dir`, checked; two tenants that would share a store are refused by name.
pub fn load_all(dir: &Path) -> Result<Vec<Tenant>> {
    let names = names(dir)?;
    if names.is_empty() {
        bail!(
            "--tenants: {} holds no tenant (one NAME.toml per tenant)",
            dir.display()
        );
    }
    let mut tenants = Vec::new();
    let mut problems = Vec::new();
    for name in &names {
        match load_one(dir, name) {
            Ok(tenant) => tenants.push(tenant),
            Err(error) => problems.push(format!("{error:#}")),
        }
    }
    let mut stores: BTreeMap<&Path, &str> = BTreeMap::new();
    for tenant in &tenants {
        let store = tenant.config.state_path.as_path();
        if let Some(other) = stores.insert(store, &tenant.name) {
            problems.push(shared(&tenant.name, other, store).to_string());
        }
    }
    match problems.as_slice() {
        [] => Ok(tenants),
        [one] => bail!("{one}"),
        many => bail!(
            "{} problems in the tenants of {}:\n  - {}",
            many.len(),
            dir.display(),
            many.join("\n  - ")
        ),
    }
}

/// What the daemon of a tenants folder runs by: `DIR/_daemon.toml`.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// Its `[daemon]` section (the defaults without the file).
    pub settings: DaemonSettings,
    /// Its `[state]` section, a PostgreSQL server: several daemons share the tenants through
    /// leases there. None: this daemon runs every tenant itself.
    pub leases: Option<flexsync_state::PgTarget>,
    pub warnings: Vec<String>,
}

/// The schema of the leases unless `_daemon.toml`'s `[state] schema` names another.
pub const LEASE_SCHEMA: &str = "flexsync_leases";

/// Reads `DIR/_daemon.toml`.
pub fn fleet(dir: &Path) -> Result<Fleet> {
    #[derive(Default, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct DaemonFile {
        #[serde(default)]
        daemon: super::raw::RawDaemon,
        state: Option<super::raw::RawState>,
    }
    let path = dir.join(DAEMON_FILE);
    let mut warnings = Vec::new();
    let file: DaemonFile = if path.is_file() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?
    } else {
        DaemonFile::default()
    };
    let settings = super::daemon::read_daemon(&file.daemon, dir, &mut warnings)?;
    let leases = match file.state {
        None => None,
        Some(mut raw) => {
            if raw.url.is_none() {
                bail!(
                    "{}: [state] is where daemons share the tenants: give a PostgreSQL url",
                    path.display()
                );
            }
            raw.schema.get_or_insert_with(|| LEASE_SCHEMA.to_string());
            match super::paths::state_location(&raw, dir, &mut warnings)? {
                flexsync_state::Location::Postgres(target) => Some(target),
                flexsync_state::Location::File(_) => None,
            }
        }
    };
    Ok(Fleet {
        settings,
        leases,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tenant's file with its secrets beside it; `state` is its `[state]` section.
    fn tenant(dir: &Path, name: &str, state: &str) {
        use std::os::unix::fs::PermissionsExt;
        for secret in ["pw", "token"] {
            let path = dir.join(secret);
            std::fs::write(&path, "s3cret").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let text = format!(
            "[flex]\nbase_url = \"https://x\"\nusername = \"u\"\npassword_file = \"pw\"\n\
             instance = \"1\"\ncompanies = [1]\n\n[winningtemp]\nscim_url = \"https://y\"\n\
             token_file = \"token\"\n\n{state}"
        );
        std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
    }

    #[test]
    fn each_tenant_gets_its_own_store_and_two_that_would_share_one_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        tenant(dir.path(), "acme", "");
        tenant(
            dir.path(),
            "globex",
            "[state]\nurl = \"postgres://u@db/hr\"\n",
        );
        std::fs::write(
            dir.path().join("_daemon.toml"),
            "[daemon]\nparallel_tenants = 2\n",
        )
        .unwrap();
        let tenants = load_all(dir.path()).unwrap();
        let names: Vec<&str> = tenants.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["acme", "globex"], "_daemon.toml is no tenant");
        assert_eq!(
            tenants[0].config.state_path,
            dir.path().join("acme").join("flexsync.db")
        );
        assert_eq!(
            tenants[1].config.state_path,
            Path::new("postgres://u@db/hr#globex")
        );
        assert_eq!(
            tenants[1].config.report_dir,
            dir.path().join("reports/globex")
        );
        let flags = tenants[0].config.command_flags().unwrap();
        assert!(flags.ends_with("--tenant acme"), "{flags}");
        assert_eq!(fleet(dir.path()).unwrap().settings.parallel_tenants, 2);

        tenant(
            dir.path(),
            "initech",
            "[state]\npath = \"acme/flexsync.db\"\n",
        );
        let error = format!("{:#}", load_all(dir.path()).unwrap_err());
        assert!(error.contains("acme and initech share"), "{error}");
        // A command on one tenant is refused too: it would work on the other's records.
        let error = format!("{:#}", load(dir.path(), "initech").unwrap_err());
        assert!(error.contains("acme and initech share"), "{error}");
        let error = format!("{:#}", records(dir.path(), "acme").unwrap_err());
        assert!(error.contains("initech and acme share"), "{error}");

        // Every problem is said at once, each naming its tenant.
        std::fs::write(dir.path().join("hooli.toml"), "[flex\n").unwrap();
        let error = format!("{:#}", load_all(dir.path()).unwrap_err());
        assert!(error.starts_with("2 problems in the tenants of"), "{error}");
        assert!(error.contains("tenant hooli"), "{error}");
        assert!(error.contains("acme and initech share"), "{error}");

        // A file meant as a tenant but not named as one is noticed.
        std::fs::write(dir.path().join("umbrella.TOML"), "").unwrap();
        std::fs::write(dir.path().join("acme.toml.bak"), "").unwrap();
        assert_eq!(not_tenants(dir.path()), ["acme.toml.bak", "umbrella.TOML"]);
    }

    #[test]
    fn the_leases_need_a_postgres_url() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("_daemon.toml"),
            "[state]\npath = \"x.db\"\n",
        )
        .unwrap();
        let error = fleet(dir.path()).unwrap_err().to_string();
        assert!(error.contains("give a PostgreSQL url"), "{error}");
        std::fs::write(
            dir.path().join("_daemon.toml"),
            "[state]\nurl = \"postgres://u@db/hr\"\n[daemon]\nlease_seconds = 1\n",
        )
        .unwrap();
        let error = fleet(dir.path()).unwrap_err().to_string();
        assert!(error.contains("daemon.lease_seconds"), "{error}");
    }

    #[test]
    fn tenant_names_make_folders_and_schemas() {
        assert!(check_name("acme-ab").is_ok());
        for bad in ["", "../etc", "a b", "_hidden", "x".repeat(51).as_str()] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(schema_of("Acme-AB"), "acme_ab");
        assert_eq!(schema_of("7eleven"), "t_7eleven");
    }
}
