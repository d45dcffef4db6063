//! The smaller holes: warnings that `check` and `explain` did not print, a SCIM list that
//! repeats every resource, the `sftp` child's environment and a relative key path.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_explain_print_the_configuration_warnings() {
    let rig = HostileRig::start("").await;
    rig.edit_config(
        "[state]",
        "danger_accept_invalid_certs = true\n\n[state]",
    );
    let config = rig.config_path.to_str().unwrap();
    for args in [
        vec!["check", "--config", config],
        vec!["explain", "--config", config, SARA],
    ] {
        let ran = flexsync(&args).await;
        assert_eq!(ran.code, 0, "{args:?}: {}", ran.printed());
        assert!(
            ran.stderr.contains("warning: winningtemp.danger_accept_invalid_certs is on"),
            "{args:?}: {}",
            ran.printed()
        );
    }
}
