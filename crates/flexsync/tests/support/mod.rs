//! The harness: both emulators on loopback ports, a config file in a tempdir, runs on a fixed day,
//! and helpers to edit Flex documents and read SCIM users back.

use std::path::{Path, PathBuf};

use jiff::civil::{Date, date};
use serde_json::{Value, json};

use flexsync::config::Config;
use flexsync::run::{self, Ends, Mode, RunFailure, RunResult};
use flexsync_core::guard::Allowance;
use flexsync_emulators::flex::{self, FlexData, RunningFlex};
use flexsync_emulators::knobs::Faults;
use flexsync_emulators::scim::{self, AnswerCase, Profile, RunningScim, ScimOptions};

pub const TODAY: Date = date(2026, 11, 27);
pub const TOKEN: &str = "test-scim-token-7f3a";
pub const WT: &str = "urn:ietf:params:scim:schemas:extension:winningtemp:2.0:User";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

pub const SARA: &str = "e2e60fc5-bed8-5f4e-9c6e-85eedfbf230d";
pub const JOHAN: &str = "5ac471f2-f8cf-5acf-b5d1-6c424b2eb4b9";
pub const MARIA: &str = "e423a86d-fa95-5497-91bd-7b2e753e538a";
pub const ALI: &str = "02c71d6c-e85f-5633-b8c5-b47d09cfafbf";

/// The small example, read as it is.
pub fn example() -> Value {
    flexsync_testkit::fixtures::flex_small()
}

/// Who the config logs in as, taken from the document.
pub struct Login {
    pub username: String,
    pub password: String,
    pub instance: String,
    pub companies: Vec<i64>,
}

impl Login {
    pub fn of(doc: &Value) -> Login {
        let user = &doc["ApiUsers"][0];
        Login {
            username: user["Username"].as_str().unwrap().to_string(),
            password: user["Password"].as_str().unwrap().to_string(),
            instance: doc["Instance"].as_str().unwrap().to_string(),
            companies: doc["Companies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["CompanyNumber"].as_i64().unwrap())
                .collect(),
        }
    }
}

pub fn write_secret(path: &Path, value: &str) {
    std::fs::write(path, value).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// The environment variable that picks the state backend of every rig: `sqlite` (the default)
/// or `postgres`, on the server `FLEXSYNC_TEST_POSTGRES_URL` names (`.ci/test` runs the suite
/// once each way).
pub const STATE_ENV: &str = "FLEXSYNC_TEST_STATE";

/// Whether this run of the suite keeps its state on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var(STATE_ENV).as_deref() == Ok("postgres")
}

/// Says that a test about SQLite's file is left to the SQLite run of the suite.
pub fn sqlite_only(test: &str) -> bool {
    if on_postgres() {
        eprintln!("{test}: about the SQLite file; runs in the suite's SQLite pass");
    }
    on_postgres()
}

/// The `[state]` section of a rig's configuration: a SQLite file, or a fresh schema on the test
/// PostgreSQL server (its password in a file beside the configuration, as an operator would).
pub fn state_section(dir: &Path) -> String {
    if !on_postgres() {
        return "[state]\npath = \"flexsync.db\"\n".to_string();
    }
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let url = std::env::var("FLEXSYNC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| panic!("{STATE_ENV}=postgres needs FLEXSYNC_TEST_POSTGRES_URL"));
    let (scheme, rest) = url.split_once("://").unwrap();
    let (login, server) = rest.rsplit_once('@').unwrap();
    let (user, password) = login.split_once(':').unwrap_or((login, ""));
    write_secret(&dir.join("pg-password.txt"), password);
    let schema = format!(
        "e2e_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let ca = match std::env::var("FLEXSYNC_TEST_POSTGRES_CA") {
        Ok(path) => format!("ca_file = {path:?}\n"),
        Err(_) => String::new(),
    };
    format!(
        "[state]\nurl = \"{scheme}://{user}@{server}\"\npassword_file = \"pg-password.txt\"\n\
         schema = \"{schema}\"\n{ca}"
    )
}

/// Writes `flexsync.toml` (and its secret files) into `dir`; `extra` is appended as written.
pub fn write_config(
    dir: &Path,
    flex_url: &str,
    login: &Login,
    scim_url: &str,
    token: &str,
    extra: &str,
) -> PathBuf {
    write_secret(&dir.join("flex-password.txt"), &login.password);
    write_secret(&dir.join("scim-token.txt"), token);
    let companies: Vec<String> = login.companies.iter().map(i64::to_string).collect();
    let text = format!(
        r#"[flex]
base_url = "{flex_url}"
username = "{username}"
password_file = "flex-password.txt"
instance = "{instance}"
companies = [{companies}]

[winningtemp]
scim_url = "{scim_url}"
token_file = "scim-token.txt"

{state}{extra}
"#,
        state = state_section(dir),
        username = login.username,
        instance = login.instance,
        companies = companies.join(", "),
    );
    let path = dir.join("flexsync.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Every guard let through: for tests about what a sync does, not about the guards.
pub fn allow_all() -> Allowance {
    Allowance {
        deactivations: Some(usize::MAX),
        source_drop: true,
        group_retirements: Some(usize::MAX),
        retry_held: false,
    }
}

pub fn flex_data(doc: &Value) -> FlexData {
    FlexData::from_value(doc.clone()).unwrap()
}

pub fn scim_options(profile: Profile) -> ScimOptions {
    ScimOptions {
        token: TOKEN.to_string(),
        profile,
        faults: Faults::default(),
        patch_returns_no_content: false,
        max_results: 200,
        answer_case: AnswerCase::AsDeclared,
        bulk: Default::default(),
    }
}

/// Both emulators and a loaded configuration.
pub struct Rig {
    pub flex: RunningFlex,
    pub scim: RunningScim,
    /// Holds the config, secrets and state store; removed when the rig is dropped.
    _dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub config: Config,
}

impl Rig {
    pub async fn start(doc: &Value, profile: Profile) -> Rig {
        Rig::with(doc, scim_options(profile), Faults::default(), "").await
    }

    pub async fn with(doc: &Value, options: ScimOptions, flex_faults: Faults, extra: &str) -> Rig {
        let flex = flex::start(flex_data(doc), flex_faults).await.unwrap();
        let scim = scim::start(options).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config_path = write_config(
            dir.path(),
            &flex.base_url(),
            &Login::of(doc),
            &scim.base_url(),
            TOKEN,
            extra,
        );
        let config = Config::load(&config_path).unwrap();
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
        Rig {
            flex,
            scim,
            _dir: dir,
            config_path,
            config,
        }
    }

    pub fn set_flex(&self, doc: &Value) {
        self.flex.set_data(flex_data(doc));
    }

    pub async fn run(&self, mode: Mode, allowance: Allowance) -> Result<RunResult, RunFailure> {
        let ends = Ends::connect(&self.config)?;
        run::run(&self.config, &ends, mode, allowance, TODAY).await
    }

    /// A sync that must be carried out (whatever its exit).
    pub async fn sync(&self) -> RunResult {
        match self.run(Mode::Sync, Allowance::default()).await {
            Ok(result) => result,
            Err(failure) => panic!("sync failed ({:?}): {:#}", failure.outcome(), failure.error),
        }
    }

    /// Resets the SCIM counters, syncs, and returns the result with the writes it caused.
    pub async fn sync_counted(&self) -> (RunResult, u64) {
        self.scim.knobs.reset_counters();
        let before = self.scim.writes();
        let bulk_before = self.scim.bulk_stats();
        let result = self.sync().await;
        let writes = self.scim.writes() - before;
        // A Bulk request is one request of many writes.
        let bulk = self.scim.bulk_stats();
        let operations = (
            bulk.requests - bulk_before.requests,
            bulk.operations - bulk_before.operations,
        );
        assert_eq!(
            writes,
            self.write_requests() - operations.0 + operations.1,
            "store writes and write requests disagree"
        );
        (result, writes)
    }

    pub fn users(&self) -> Vec<Value> {
        self.scim.users()
    }

    pub fn user(&self, external_id: &str) -> Value {
        find(&self.users(), external_id)
            .unwrap_or_else(|| panic!("no SCIM user with externalId {external_id}"))
    }

    pub fn write_requests(&self) -> u64 {
        self.scim
            .knobs
            .count_methods(&["POST", "PATCH", "PUT", "DELETE"])
    }
}

pub fn find(users: &[Value], external_id: &str) -> Option<Value> {
    users
        .iter()
        .find(|u| u["externalId"].as_str() == Some(external_id))
        .cloned()
}

/// userNames must be unique (case-insensitively), the emulator's rule.
pub fn assert_no_duplicates(users: &[Value]) {
    let mut names: Vec<String> = users
        .iter()
        .map(|u| u["userName"].as_str().unwrap().to_lowercase())
        .collect();
    let all = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), all, "duplicate userNames");
    let mut ids: Vec<&str> = users
        .iter()
        .filter_map(|u| u["externalId"].as_str())
        .collect();
    let with_ids = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), with_ids, "duplicate externalIds");
}

// Editing Flex documents.

pub fn employee_mut<'a>(doc: &'a mut Value, id: &str) -> &'a mut Value {
    doc["Employees"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["Id"].as_str() == Some(id))
        .unwrap_or_else(|| panic!("no employee {id}"))
}

pub fn periods_mut<'a>(doc: &'a mut Value, id: &str) -> Vec<&'a mut Value> {
    doc["EmploymentPeriods"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .filter(|p| p["EmployeeId"].as_str() == Some(id))
        .collect()
}

/// Removes an employee and everything that names them.
pub fn remove_employee(doc: &mut Value, id: &str) {
    doc["Employees"]
        .as_array_mut()
        .unwrap()
        .retain(|e| e["Id"].as_str() != Some(id));
    for list in ["EmploymentPeriods", "EmploymentDefaultAccounts"] {
        doc[list]
            .as_array_mut()
            .unwrap()
            .retain(|p| p["EmployeeId"].as_str() != Some(id));
    }
}

pub fn add_period(doc: &mut Value, id: &str, from: &str, to: Option<&str>) {
    let company = doc["Companies"][0]["Id"].clone();
    let count = doc["EmploymentPeriods"].as_array().unwrap().len();
    doc["EmploymentPeriods"]
        .as_array_mut()
        .unwrap()
        .push(json!({
            "Id": format!("00000000-0000-4000-8000-{:012}", 900_000 + count),
            "InstanceId": "7f3149f5-e1cf-53ab-b9e7-fbd61338c6ec",
            "CompanyId": company,
            "EmployeeId": id,
            "FromDate": format!("{from}T00:00:00"),
            "ToDate": to.map(|t| format!("{t}T00:00:00")),
            "EmploymentTypeId": null,
            "TitleId": null
        }));
}

/// A test employee id: a GUID built from `n`.
pub fn test_id(n: u32) -> String {
    format!("11111111-2222-4333-8444-{n:012}")
}

/// Adds an employee with one period from `from` (open-ended), shaped like the example's records.
pub fn add_employee<'a>(
    doc: &'a mut Value,
    id: &str,
    first: &str,
    last: &str,
    email: Option<&str>,
    manager: Option<&str>,
    from: &str,
) -> &'a mut Value {
    let company = doc["Companies"][0]["Id"].clone();
    doc["Employees"].as_array_mut().unwrap().push(json!({
        "Id": id,
        "InstanceId": "7f3149f5-e1cf-53ab-b9e7-fbd61338c6ec",
        "CompanyId": company,
        "FirstName": first,
        "LastName": last,
        "Name": format!("{first} {last}"),
        "DateOfBirth": "1985-05-05T00:00:00",
        "Gender": 2,
        "EmailWork": email,
        "EmailPrivate": null,
        "ImmediateManagerEmployeeId": manager,
        "City": "Uppsala",
        "Country": "SE",
        "IsInAuditProcess": false,
        "Employment": { "EmploymentNumber": format!("T{}", &id[id.len() - 4..]), "EmploymentType": 0 }
    }));
    add_period(doc, id, from, None);
    employee_mut(doc, id)
}

/// Adds `n` plain employees (ids `test_id(1..=n)`), managed by Sara.
pub fn add_staff(doc: &mut Value, n: u32) -> Vec<String> {
    (1..=n)
        .map(|i| {
            let id = test_id(i);
            add_employee(
                doc,
                &id,
                "Staff",
                &format!("Number{i}"),
                Some(&format!("staff{i}@example.se")),
                Some(SARA),
                "2021-03-01",
            );
            id
        })
        .collect()
}

// Reading Flex documents and SCIM users back, independently of flexsync's mapping.

/// Employees with an employment period that covers `today` (dates compared as ISO text).
pub fn employed_on(doc: &Value, today: Date) -> std::collections::BTreeSet<String> {
    let day = today.to_string();
    doc["EmploymentPeriods"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            let from = p["FromDate"].as_str().map(|d| &d[..10]);
            let to = p["ToDate"].as_str().map(|d| &d[..10]);
            from.is_some_and(|f| f <= day.as_str()) && to.is_none_or(|t| t >= day.as_str())
        })
        .filter_map(|p| p["EmployeeId"].as_str().map(str::to_string))
        .collect()
}

/// The externalIds of the users that are paused (`active: false`).
pub fn paused_ids(users: &[Value]) -> std::collections::BTreeSet<String> {
    users
        .iter()
        .filter(|u| u["active"].as_bool() == Some(false))
        .filter_map(|u| u["externalId"].as_str().map(str::to_string))
        .collect()
}

/// Runs the `flexsync` binary with `args` to its end (off the async runtime's threads).
pub async fn flexsync_bin(args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_flexsync"))
            .args(&args)
            .env_remove("FLEXSYNC_LOG")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// stdout and stderr of a finished command, for assertion messages.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.1 GET: the status and the body, or none while nothing answers.
pub async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    get_with(port, path, None).await
}

/// A GET with a bearer token.
pub async fn get_with(port: u16, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}
