//! The group tree from Flex dimensions, synced over SCIM: created top-down with parents, members
//! placed, renames keep the group, moves follow people, and the documented profile goes flat.

use serde_json::{Value, json};

use flexsync::run::Outcome;
use flexsync_emulators::knobs::Faults;
use flexsync_emulators::scim::Profile;

use crate::support::*;

const LEVELS: &str =
    "[groups]\nlevels = [{ dimension = \"Kontor\" }, { dimension = \"Avdelning\" }]\n";
const GROUP_EXT: &str = "urn:ietf:params:scim:schemas:extension:winningtemp:2.0:Group";

fn group<'a>(groups: &'a [Value], name: &str) -> &'a Value {
    groups
        .iter()
        .find(|g| g["displayName"] == name)
        .unwrap_or_else(|| panic!("no group {name}: {groups:#?}"))
}

fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["value"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn scim_id(rig: &Rig, external_id: &str) -> String {
    rig.user(external_id)["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_tree_is_created_with_parents_and_members_and_settles() {
    let rig = Rig::with(
        &example(),
        scim_options(Profile::Extended),
        Faults::default(),
        LEVELS,
    )
    .await;
    let first = rig.sync().await;
    assert_eq!(first.outcome, Outcome::Done, "{}", first.report.render());
    let groups = rig.scim.groups();
    assert_eq!(groups.len(), 3, "{groups:#?}");
    let office = group(&groups, "Uppsala");
    let ledning = group(&groups, "Ledning");
    let utveckling = group(&groups, "Utveckling");
    let office_id = office["externalId"].as_str().unwrap();
    assert!(office[GROUP_EXT]["parentExternalId"].is_null());
    assert_eq!(ledning[GROUP_EXT]["parentExternalId"], office_id);
    assert_eq!(utveckling[GROUP_EXT]["parentExternalId"], office_id);
    assert_eq!(member_ids(ledning), [scim_id(&rig, SARA)]);
    let mut developers = vec![
        scim_id(&rig, JOHAN),
        scim_id(&rig, MARIA),
        scim_id(&rig, ALI),
    ];
    developers.sort();
    assert_eq!(member_ids(utveckling), developers);
    assert!(
        member_ids(office).is_empty(),
        "people sit in the lowest level they have"
    );

    let (second, writes) = rig.sync_counted().await;
    assert_eq!(writes, 0, "{}", second.report.render());
    assert!(second.group_plan.is_empty());
}

#[tokio::test]
async fn a_renamed_account_renames_its_group_and_a_move_follows_the_person() {
    let rig = Rig::with(
        &example(),
        scim_options(Profile::Extended),
        Faults::default(),
        LEVELS,
    )
    .await;
    rig.sync().await;
    let before = rig.scim.groups();
    let utveckling_id = group(&before, "Utveckling")["id"].clone();

    let mut doc = example();
    for distribution in doc["AccountDistributions"].as_array_mut().unwrap() {
        for account in distribution["Accounts"].as_array_mut().unwrap() {
            if account["Code"] == "20" {
                account["Name"] = json!("Produktutveckling");
            }
        }
    }
    // Maria moves from Utveckling (20) to Ledning (10).
    for row in doc["EmploymentDefaultAccounts"].as_array_mut().unwrap() {
        if row["EmployeeId"] == MARIA && row["AccountCode"] == "20" {
            row["AccountCode"] = json!("10");
            row["AccountId"] = json!("79a7c2c9-0a7d-54a8-a824-a421e5387a9e");
        }
    }
    rig.set_flex(&doc);
    let second = rig.sync().await;
    assert_eq!(second.outcome, Outcome::Done, "{}", second.report.render());
    let after = rig.scim.groups();
    assert_eq!(after.len(), 3);
    let renamed = group(&after, "Produktutveckling");
    assert_eq!(renamed["id"], utveckling_id, "a rename keeps the group");
    assert!(!member_ids(renamed).contains(&scim_id(&rig, MARIA)));
    assert!(member_ids(group(&after, "Ledning")).contains(&scim_id(&rig, MARIA)));
    let (_, writes) = rig.sync_counted().await;
    assert_eq!(writes, 0);
}

#[tokio::test]
async fn the_documented_profile_gets_flat_groups_and_the_report_says_so() {
    let rig = Rig::with(
        &example(),
        scim_options(Profile::Documented),
        Faults::default(),
        &format!("{LEVELS}display = \"full_path\"\n"),
    )
    .await;
    let first = rig.sync().await;
    assert_eq!(first.outcome, Outcome::Done, "{}", first.report.render());
    assert!(first.report.tree_by_hand);
    assert!(first.report.render().contains("place the tree by hand"));
    let groups = rig.scim.groups();
    let names: Vec<&str> = groups
        .iter()
        .map(|g| g["displayName"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Uppsala / Utveckling"), "{names:?}");
    assert!(groups.iter().all(|g| g.get(GROUP_EXT).is_none()));
    let (_, writes) = rig.sync_counted().await;
    assert_eq!(writes, 0);
}

#[tokio::test]
async fn an_emptied_group_we_created_is_retired_after_its_grace_period() {
    let rig = Rig::with(
        &example(),
        scim_options(Profile::Extended),
        Faults::default(),
        &format!("{LEVELS}retire_after_days = 3\n"),
    )
    .await;
    rig.sync().await;
    // Everyone in Utveckling (20) moves to Ledning (10): Utveckling is left empty.
    let mut doc = example();
    for row in doc["EmploymentDefaultAccounts"].as_array_mut().unwrap() {
        if row["AccountCode"] == "20" {
            row["AccountCode"] = json!("10");
            row["AccountId"] = json!("79a7c2c9-0a7d-54a8-a824-a421e5387a9e");
        }
    }
    rig.set_flex(&doc);
    let on = |day: jiff::civil::Date| {
        let config = rig.config.clone();
        async move {
            let ends = flexsync::run::Ends::connect(&config).unwrap();
            flexsync::run::run(
                &config,
                &ends,
                flexsync::run::Mode::Sync,
                flexsync_core::guard::Allowance::default(),
                day,
            )
            .await
            .unwrap()
        }
    };
    let first_empty_day = on(TODAY).await;
    assert!(
        first_empty_day
            .report
            .group_notes
            .iter()
            .any(|n| n.kind == "retirement_grace"),
        "{}",
        first_empty_day.report.render()
    );
    assert_eq!(rig.scim.groups().len(), 3, "kept during its grace period");
    let two_days_on = on(TODAY.checked_add(jiff::Span::new().days(2)).unwrap()).await;
    assert!(two_days_on.group_plan.is_empty());
    assert_eq!(rig.scim.groups().len(), 3);
    let three_days_on = on(TODAY.checked_add(jiff::Span::new().days(3)).unwrap()).await;
    assert_eq!(three_days_on.report.succeeded.get("retire_group"), Some(&1));
    let names: Vec<String> = rig
        .scim
        .groups()
        .iter()
        .map(|g| g["displayName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(!names.contains(&"Utveckling".to_string()));
}

fn manager_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group[GROUP_EXT]["managers"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["value"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn manager_warning(report: &flexsync::report::RunReport) -> bool {
    report.warnings.iter().any(|w| w.contains("group managers"))
}

/// A user's manager in Winningtemp is "the manager of the group this user belongs to": where
/// the server holds a group's managers, they travel over SCIM, and follow Flex.
#[tokio::test]
async fn group_managers_travel_where_the_server_holds_them_and_follow_flex() {
    let rig = Rig::with(
        &example(),
        scim_options(Profile::Extended),
        Faults::default(),
        LEVELS,
    )
    .await;
    let first = rig.sync().await;
    assert_eq!(first.outcome, Outcome::Done, "{}", first.report.render());
    assert!(
        !manager_warning(&first.report),
        "{:?}",
        first.report.warnings
    );
    // Johan reports to Sara, Maria and Ali to Johan: Utveckling is managed by Sara and Johan.
    let groups = rig.scim.groups();
    let mut expected = vec![scim_id(&rig, SARA), scim_id(&rig, JOHAN)];
    expected.sort();
    assert_eq!(manager_ids(group(&groups, "Utveckling")), expected);
    assert!(manager_ids(group(&groups, "Ledning")).is_empty());
    let (second, writes) = rig.sync_counted().await;
    assert_eq!(writes, 0, "{}", second.report.render());

    // Maria and Ali now report to Sara: Utveckling is managed by Sara alone.
    let mut doc = example();
    employee_mut(&mut doc, MARIA)["ImmediateManagerEmployeeId"] = json!(SARA);
    employee_mut(&mut doc, ALI)["ImmediateManagerEmployeeId"] = json!(SARA);
    rig.set_flex(&doc);
    let third = rig.sync().await;
    assert_eq!(third.outcome, Outcome::Done, "{}", third.report.render());
    assert_eq!(
        manager_ids(group(&rig.scim.groups(), "Utveckling")),
        [scim_id(&rig, SARA)]
    );
    let (fourth, writes) = rig.sync_counted().await;
    assert_eq!(writes, 0, "{}", fourth.report.render());
}

#[tokio::test]
async fn without_a_managers_attribute_group_managers_are_a_warning() {
    let rig = Rig::with(
        &example(),
        scim_options(Profile::Documented),
        Faults::default(),
        LEVELS,
    )
    .await;
    let first = rig.sync().await;
    assert!(
        manager_warning(&first.report),
        "{:?}",
        first.report.warnings
    );
    for group in rig.scim.groups() {
        assert!(group.get(GROUP_EXT).is_none(), "{group:#}");
    }
}

/// Winningtemp's membership update rule: "managed" (default) leaves a member added by hand
/// alone; "overwrite" makes a group flexsync created hold exactly the users Flex places there.
async fn a_member_added_by_hand(memberships: &str) -> (Rig, String, flexsync::run::RunResult) {
    let extra = format!("{LEVELS}memberships = \"{memberships}\"\n");
    let rig = Rig::with(
        &example(),
        scim_options(Profile::Extended),
        Faults::default(),
        &extra,
    )
    .await;
    rig.sync().await;
    let client = flexsync_scim::ScimClient::new(flexsync_scim::ScimSettings::new(
        rig.scim.base_url(),
        secrecy::SecretString::from(TOKEN.to_string()),
    ))
    .unwrap();
    let guest = client
        .create_user(&flexsync_scim::ScimUser {
            user_name: "guest@example.se".into(),
            active: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    let guest_id = guest.id.unwrap();
    let ledning = group(&rig.scim.groups(), "Ledning")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let add = flexsync_scim::PatchOperation::add_members(&[guest_id.as_str()]);
    client.patch_group(&ledning, vec![add]).await.unwrap();
    let result = rig.sync().await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.report.render());
    (rig, guest_id, result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_memberships_leave_a_member_added_by_hand_alone() {
    let (rig, guest, result) = a_member_added_by_hand("managed").await;
    let mut expected = vec![scim_id(&rig, SARA), guest];
    expected.sort();
    assert_eq!(member_ids(group(&rig.scim.groups(), "Ledning")), expected);
    assert!(result.group_plan.is_empty(), "{}", result.report.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwritten_memberships_hold_exactly_the_users_flex_places() {
    let (rig, guest, result) = a_member_added_by_hand("overwrite").await;
    assert_eq!(
        member_ids(group(&rig.scim.groups(), "Ledning")),
        [scim_id(&rig, SARA)]
    );
    let left = result
        .report
        .changes
        .iter()
        .find(|c| c.action.as_str() == "remove_members")
        .unwrap_or_else(|| panic!("no removal: {}", result.report.render()));
    assert_eq!(left.name, "Uppsala > Ledning");
    assert!(
        left.reason.contains("memberships = \"overwrite\""),
        "{}",
        left.reason
    );
    assert!(
        left.attribute_lines()
            .iter()
            .any(|l| l.contains("guest@example.se")),
        "{:?}",
        left.attribute_lines()
    );
    assert!(
        rig.users().iter().any(|u| u["id"] == guest.as_str()),
        "the account stays"
    );
    let (again, writes) = rig.sync_counted().await;
    assert_eq!(writes, 0, "{}", again.report.render());
}
