//! Hostile ends and a failing disk. Flex and SCIM sit behind a [`Hostile`] proxy that attacks
//! on request; a redirect points at a stranger that records what reached it. Each attack runs
//! `flexsync sync` as an operator would and checks what reached the stranger, what was written
//! to Winningtemp, what was printed, what the report and the state store hold, and the exit code.

mod bodies;
mod cells;
mod redirects;
mod secrets;
mod smaller;
mod store;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use flexsync_emulators::flex::{self, RunningFlex};
use flexsync_emulators::knobs::Faults;
use flexsync_emulators::scim::{self, Profile, RunningScim};
use flexsync_testkit::hostile::{Attack, Hostile, Rule};

use crate::support::*;

/// The secrets of the hostile rig: a `/` and a `+` make every encoding of them differ.
pub const HOSTILE_TOKEN: &str = "s3cr3t/T0ken+Q7-hostile";
pub const HOSTILE_PASSWORD: &str = "pa/ss+W0rd-hostile-9z";

/// The emulators behind hostile proxies, a stranger, and a configuration pointing at the proxies.
pub struct HostileRig {
    pub flex: RunningFlex,
    pub scim: RunningScim,
    pub flex_proxy: Hostile,
    pub scim_proxy: Hostile,
    pub stranger: Hostile,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
}

/// What one `flexsync sync` came to.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn printed(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl HostileRig {
    pub async fn start(extra: &str) -> HostileRig {
        HostileRig::start_with(example(), extra).await
    }

    /// The rig serving `doc` (its API user's password replaced by [`HOSTILE_PASSWORD`]).
    pub async fn start_with(mut doc: Value, extra: &str) -> HostileRig {
        doc["ApiUsers"][0]["Password"] = HOSTILE_PASSWORD.into();
        let flex = flex::start(flex_data(&doc), Faults::default())
            .await
            .unwrap();
        let mut options = scim_options(Profile::Extended);
        options.token = HOSTILE_TOKEN.to_string();
        let scim = scim::start(options).await.unwrap();
        let flex_proxy = Hostile::proxy(&flex.base_url()).await.unwrap();
        let scim_proxy = Hostile::proxy(&format!("http://{}", scim.addr))
            .await
            .unwrap();
        let stranger = Hostile::stranger().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config_path = write_config(
            dir.path(),
            &flex_proxy.url(""),
            &Login::of(&doc),
            &scim_proxy.url("/api/scim"),
            HOSTILE_TOKEN,
            extra,
        );
        HostileRig {
            flex,
            scim,
            flex_proxy,
            scim_proxy,
            stranger,
            dir,
            config_path,
        }
    }

    pub async fn sync(&self) -> Ran {
        flexsync(&["sync", "--config", self.config_path.to_str().unwrap()]).await
    }

    /// A sync under `/usr/bin/time`, with the most memory it held (kB), where that tool exists.
    pub async fn sync_measured(&self) -> (Ran, Option<u64>) {
        let time = Path::new("/usr/bin/time");
        if !time.exists() {
            // CI installs it and says so; elsewhere the memory is not measured.
            assert!(
                std::env::var_os("FLEXSYNC_REQUIRE_TIME").is_none(),
                "FLEXSYNC_REQUIRE_TIME is set but /usr/bin/time is missing"
            );
            return (self.sync().await, None);
        }
        let config = self.config_path.to_str().unwrap().to_string();
        let bin = env!("CARGO_BIN_EXE_flexsync");
        let ran = run_command(
            "/usr/bin/time",
            &["-f", "max_rss_kb=%M", bin, "sync", "--config", &config],
        )
        .await;
        let rss = ran
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("max_rss_kb="))
            .and_then(|kb| kb.trim().parse().ok());
        (ran, rss)
    }

    /// `[winningtemp] bulk = false`: every write its own request.
    pub fn turn_off_bulk(&self) {
        self.edit_config(
            "token_file = \"scim-token.txt\"\n",
            "token_file = \"scim-token.txt\"\nbulk = false\n",
        );
    }

    /// Replaces `from` with `to` in the configuration file.
    pub fn edit_config(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(&self.config_path).unwrap();
        assert!(text.contains(from), "{text}");
        std::fs::write(&self.config_path, text.replace(from, to)).unwrap();
    }

    /// Everything the run left on disk beside the configuration: reports, the state store.
    pub fn stored(&self) -> String {
        let mut text = String::new();
        collect(self.dir.path(), &mut text);
        text
    }

    pub fn write_requests(&self) -> u64 {
        self.scim
            .knobs
            .count_methods(&["POST", "PATCH", "PUT", "DELETE"])
    }

    pub fn users(&self) -> Vec<Value> {
        self.scim.users()
    }
}

/// Runs the binary as an operator would.
pub async fn flexsync(args: &[&str]) -> Ran {
    run_command(env!("CARGO_BIN_EXE_flexsync"), args).await
}

async fn run_command(program: &str, args: &[&str]) -> Ran {
    let program = program.to_string();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out: Output = tokio::task::spawn_blocking(move || {
        Command::new(program)
            .args(args)
            .env_remove("FLEXSYNC_LOG")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The bytes of every file under `dir` but the configuration and its secrets, as text.
fn collect(dir: &Path, text: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, text);
        } else if !path.file_name().is_some_and(|n| {
            n.to_string_lossy().contains("flexsync.toml") || n.to_string_lossy().ends_with(".txt")
        }) {
            text.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
}

pub fn redirect(status: u16, location: String) -> Attack {
    Attack::Redirect { status, location }
}

pub fn rule(method: Option<&'static str>, path: &str, attack: Attack) -> Rule {
    Rule::new(method, path, attack)
}

pub fn respond(status: u16, body: &str) -> Attack {
    Attack::Respond {
        status,
        body: body.to_string(),
    }
}
