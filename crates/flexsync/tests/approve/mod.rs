//! `flexsync approve RUN` as an operator uses it: a refused sync names the command; the
//! approval lets exactly that plan through once, recorded with who and when; a plan that
//! changed since is refused again.

use flexsync_emulators::scim::Profile;
use flexsync_state::RunId;

use crate::support::*;

/// The run number in `flexsync approve N --config ...` of a refused sync's output.
fn approve_run(stdout: &str) -> i64 {
    let at = stdout
        .find("flexsync approve ")
        .unwrap_or_else(|| panic!("no approve command in\n{stdout}"));
    stdout[at + "flexsync approve ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_lets_exactly_the_refused_plan_through_once() {
    let mut doc = example();
    let staff = add_staff(&mut doc, 10);
    let rig = Rig::start(&doc, Profile::Extended).await;
    let config = rig.config_path.to_str().unwrap().to_string();
    let sync = ["sync", "--config", &config];
    let first = flexsync_bin(&sync).await;
    assert_eq!(first.status.code(), Some(0), "{}", output_text(&first));
    assert_eq!(rig.users().len(), 14);

    // Eight leave at once: refused, and the refusal names the command that approves it.
    for id in &staff[..8] {
        remove_employee(&mut doc, id);
    }
    rig.set_flex(&doc);
    let refused = flexsync_bin(&sync).await;
    let stdout = String::from_utf8_lossy(&refused.stdout).to_string();
    assert_eq!(refused.status.code(), Some(3), "{}", output_text(&refused));
    let run = approve_run(&stdout);
    assert!(
        stdout.contains(&format!("flexsync approve {run} --config {config}")),
        "{stdout}"
    );
    assert!(rig.users().iter().all(|u| u["active"] == true));
    let report = rig.config.report_dir.join(format!("run-{run:06}.json"));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    assert_eq!(
        report["approve_command"],
        format!("flexsync approve {run} --config {config}")
    );

    // Not a refused run: nothing to approve.
    let not_refused = flexsync_bin(&["approve", "1", "--config", &config]).await;
    assert_eq!(
        not_refused.status.code(),
        Some(2),
        "{}",
        output_text(&not_refused)
    );
    assert!(output_text(&not_refused).contains("run #1 was not refused"));

    let run_text = run.to_string();
    let approve = [
        "approve",
        &run_text,
        "--config",
        &config,
        "--by",
        "Anna Admin",
    ];
    let approved = flexsync_bin(&approve).await;
    assert_eq!(
        approved.status.code(),
        Some(0),
        "{}",
        output_text(&approved)
    );
    let said = output_text(&approved);
    assert!(said.contains("approved by Anna Admin"), "{said}");
    assert!(said.contains("pause 8"), "{said}");
    let again = flexsync_bin(&approve).await;
    assert_eq!(again.status.code(), Some(2), "{}", output_text(&again));
    assert!(output_text(&again).contains("approved already, by Anna Admin"));

    // One more leaves meanwhile: the plan changed since it was approved, so it is refused.
    let mut more = doc.clone();
    remove_employee(&mut more, &staff[8]);
    rig.set_flex(&more);
    let changed = flexsync_bin(&sync).await;
    assert_eq!(changed.status.code(), Some(3), "{}", output_text(&changed));
    assert!(rig.users().iter().all(|u| u["active"] == true));

    // `plan` shows the approved plan would go through, and does not use the approval up.
    rig.set_flex(&doc);
    let plan = flexsync_bin(&["plan", "--config", &config]).await;
    assert_eq!(plan.status.code(), Some(0), "{}", output_text(&plan));
    assert!(output_text(&plan).contains(&format!("the plan refused in run #{run}")));

    // The approved plan again: it goes through once.
    let through = flexsync_bin(&sync).await;
    assert_eq!(through.status.code(), Some(0), "{}", output_text(&through));
    let said = output_text(&through);
    assert!(said.contains("APPROVED"), "{said}");
    assert!(said.contains("approved by Anna Admin"), "{said}");
    let paused = paused_ids(&rig.users());
    assert_eq!(paused.len(), 8);
    assert!(staff[..8].iter().all(|id| paused.contains(id)));

    let store = rig.config.open_state().unwrap();
    let stored = store.refusal(RunId(run)).unwrap().unwrap();
    let (by, _) = stored.approved.unwrap();
    assert_eq!(by, "Anna Admin");
    let (used_by, _) = stored.used.expect("the approval is used");
    let later = flexsync_bin(&approve).await;
    assert!(
        output_text(&later).contains(&format!("run #{} went through on it", used_by.0)),
        "{}",
        output_text(&later)
    );
    // The refusal in between (run `changed`) cannot be approved now: a sync went through since.
    let between = (run + 1).to_string();
    let stale = flexsync_bin(&["approve", &between, "--config", &config, "--by", "x"]).await;
    assert_eq!(stale.status.code(), Some(2), "{}", output_text(&stale));
    assert!(
        output_text(&stale).contains(&format!(
            "sync #{} went through after run #{between}",
            used_by.0
        )),
        "{}",
        output_text(&stale)
    );
}
