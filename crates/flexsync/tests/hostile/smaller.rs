//! The smaller holes: warnings that `check` and `explain` did not print, a SCIM list that
//! repeats every resource, the `sftp` child's environment and a relative key path.

use std::path::Path;
use std::process::Command;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_explain_print_the_configuration_warnings() {
    let rig = HostileRig::start("").await;
    rig.edit_config("[state]", "danger_accept_invalid_certs = true\n\n[state]");
    let config = rig.config_path.to_str().unwrap();
    for args in [
        vec!["check", "--config", config],
        vec!["explain", "--config", config, SARA],
    ] {
        let ran = flexsync(&args).await;
        assert_eq!(ran.code, 0, "{args:?}: {}", ran.printed());
        assert!(
            ran.stderr
                .contains("warning: winningtemp.danger_accept_invalid_certs is on"),
            "{args:?}: {}",
            ran.printed()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scim_list_that_repeats_every_resource_pauses_a_leaver_once() {
    let rig = HostileRig::start("").await;
    assert_eq!(rig.sync().await.code, 0);
    let mut doc = example();
    doc["ApiUsers"][0]["Password"] = HOSTILE_PASSWORD.into();
    remove_employee(&mut doc, ALI);
    rig.flex.set_data(flex_data(&doc));
    rig.scim_proxy.attack(rule(
        Some("GET"),
        "/api/scim/Users",
        Attack::Rewrite(std::sync::Arc::new(|mut list: Value| {
            if let Some(resources) = list["Resources"].as_array_mut() {
                let again = resources.clone();
                resources.extend(again);
            }
            list
        })),
    ));
    rig.scim.knobs.reset_counters();
    let ran = flexsync(&[
        "sync",
        "--config",
        rig.config_path.to_str().unwrap(),
        "--allow-deactivations",
        "1",
        "--allow-source-drop",
    ])
    .await;
    assert_eq!(ran.code, 0, "{}", ran.printed());
    let ali = rig
        .users()
        .into_iter()
        .find(|u| u["externalId"] == ALI)
        .unwrap();
    assert_eq!(ali["active"], false, "{}", ran.printed());
    assert_eq!(
        rig.write_requests(),
        1,
        "one pause, written once: {}",
        ran.printed()
    );
}

/// An `sftp` first on PATH that records its arguments and environment and fails: what the real
/// client would be given (the real one, against a real sshd, is tested in the file channel).
fn recording_sftp(bin: &Path, record: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(bin).unwrap();
    let script = format!(
        "#!/bin/sh\nenv > '{0}/env'\nprintf '%s\\n' \"$@\" > '{0}/args'\ncat > /dev/null\nexit 1\n",
        record.display()
    );
    let path = bin.join("sftp");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sftp_child_gets_no_secret_and_an_absolute_key_path_from_a_relative_config() {
    let rig = HostileRig::start(
        "[files.sftp]\nhost = \"127.0.0.1\"\nuser = \"wt\"\nprivate_key_file = \"keys/id\"\n\
         known_hosts_file = \"keys/known_hosts\"\nremote_dir = \"upload\"\n",
    )
    .await;
    let dir = rig.dir.path().to_path_buf();
    rig.edit_config(
        "password_file = \"flex-password.txt\"",
        "password_env = \"FLEXSYNC_TEST_HOSTILE_PASSWORD\"",
    );
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    write_secret(&dir.join("keys/id"), "not a real key");
    std::fs::write(dir.join("keys/known_hosts"), "").unwrap();
    let record = dir.join("record");
    std::fs::create_dir_all(&record).unwrap();
    recording_sftp(&dir.join("bin"), &record);
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_flexsync"))
            .current_dir(&dir)
            .args(["sync", "--config", "flexsync.toml"])
            .env("PATH", path)
            .env("FLEXSYNC_TEST_HOSTILE_PASSWORD", HOSTILE_PASSWORD)
            .env("WINNINGTEMP_SCIM_TOKEN", HOSTILE_TOKEN)
            .env_remove("FLEXSYNC_LOG")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let printed = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "the delivery fails: {printed}");
    let env = std::fs::read_to_string(record.join("env")).unwrap();
    assert!(env.contains("PATH="), "{env}");
    assert!(!env.contains(HOSTILE_PASSWORD), "{env}");
    assert!(!env.contains(HOSTILE_TOKEN), "{env}");
    assert!(!env.contains("FLEXSYNC_TEST_HOSTILE_PASSWORD"), "{env}");
    let args = std::fs::read_to_string(record.join("args")).unwrap();
    let key = args
        .lines()
        .skip_while(|a| *a != "-i")
        .nth(1)
        .unwrap()
        .to_string();
    assert!(Path::new(&key).is_absolute(), "{args}");
    assert!(Path::new(&key).exists(), "{args}");
}
