//! The smaller holes: warnings that `check` and `explain` did not print, a SCIM list that
//! repeats every resource, the `sftp` child's environment and a relative key path.

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
