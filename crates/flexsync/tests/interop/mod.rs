//! The small example synced into scim2-server (a SCIM server nobody here wrote), read back
//! through our own SCIM client.

use flexsync::config::Config;
use flexsync::run::{self, Ends, Mode, Outcome};
use flexsync_core::guard::Allowance;
use flexsync_emulators::flex;
use flexsync_emulators::knobs::Faults;
use flexsync_scim::{ScimClient, ScimSettings, ScimUser};

use crate::support::*;

use flexsync_testkit::scim2;

/// scim2-server and the Flex emulator (serving the small example), with a config between them.
struct Interop {
    server: scim2::Scim2Server,
    _flex: flex::RunningFlex,
    _dir: tempfile::TempDir,
    config: Config,
}

impl Interop {
    /// None when scim2-server is not installed (the helper says SKIPPED, or fails in CI).
    async fn start(test: &str, extra: &str) -> Option<Interop> {
        let server = match scim2::start(test) {
            Ok(Some(server)) => server,
            Ok(None) => return None,
            Err(error) => panic!("{error}"),
        };
        let doc = example();
        let flex = flex::start(flex_data(&doc), Faults::default())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(
            dir.path(),
            &flex.base_url(),
            &Login::of(&doc),
            &server.base_url,
            &server.token,
            extra,
        );
        let config = Config::load(&path).unwrap();
        Some(Interop {
            server,
            _flex: flex,
            _dir: dir,
            config,
        })
    }

    async fn sync(&self, mode: Mode) -> run::RunResult {
        let ends = Ends::connect(&self.config).unwrap();
        match run::run(&self.config, &ends, mode, Allowance::default(), TODAY).await {
            Ok(result) => result,
            Err(failure) => panic!("{:#}\n{}", failure.error, self.server.log_tail()),
        }
    }

    fn client(&self) -> ScimClient {
        ScimClient::new(ScimSettings::new(
            self.server.base_url.clone(),
            self.server.token.clone().into(),
        ))
        .unwrap()
    }
}

fn by_external_id<'a>(users: &'a [ScimUser], id: &str) -> &'a ScimUser {
    users
        .iter()
        .find(|u| u.external_id.as_deref() == Some(id))
        .unwrap_or_else(|| panic!("no user with externalId {id}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_example_syncs_into_scim2_server() {
    let Some(rig) = Interop::start("shared_example_syncs_into_scim2_server", "").await else {
        return;
    };
    let server = &rig.server;
    let sync = |mode| rig.sync(mode);
    let first = sync(Mode::Sync).await;
    assert_eq!(
        first.outcome,
        Outcome::Done,
        "{}\n{}",
        first.report.render(),
        server.log_tail()
    );
    assert_eq!(first.report.succeeded.get("create"), Some(&4));

    let client = rig.client();
    let users = client.list_users().await.unwrap();
    assert_eq!(users.len(), 4);
    let id_of = |external: &str| by_external_id(&users, external).id.clone().unwrap();
    for (external, email, family, gender, birth, manager, excluded) in [
        (
            SARA,
            "sara.nilsson@example.se",
            "Nilsson",
            "Female",
            "1981-02-14",
            None,
            false,
        ),
        (
            JOHAN,
            "johan.karlsson@example.se",
            "Karlsson",
            "Male",
            "1987-06-01",
            Some(SARA),
            false,
        ),
        (
            MARIA,
            "maria.andersson@example.se",
            "Andersson",
            "Female",
            "1993-09-09",
            Some(JOHAN),
            false,
        ),
        (
            ALI,
            "ali.hassan@partner.example",
            "Hassan",
            "Male",
            "1990-12-12",
            Some(JOHAN),
            true,
        ),
    ] {
        let user = by_external_id(&users, external);
        assert_eq!(user.user_name, email);
        assert_eq!(user.primary_email(), Some(email));
        assert_eq!(
            user.name.as_ref().and_then(|n| n.family_name.as_deref()),
            Some(family)
        );
        assert_eq!(user.active, Some(true));
        assert_eq!(
            user.extension_attribute(WT, "gender")
                .and_then(|v| v.as_str()),
            Some(gender)
        );
        let birth_date = user
            .extension_attribute(WT, "birthDate")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        assert!(birth_date.starts_with(birth), "{external}: {birth_date}");
        assert_eq!(
            user.extension_attribute(WT, "excludeFromSurveys")
                .and_then(|v| v.as_bool()),
            Some(excluded)
        );
        let manager_id = manager.map(id_of);
        assert_eq!(user.manager_id(), manager_id.as_deref(), "{external}");
    }

    let planned = sync(Mode::Plan).await;
    assert!(planned.plan.steps.is_empty(), "{:?}", planned.plan.steps);
    let second = sync(Mode::Sync).await;
    assert!(second.plan.steps.is_empty(), "{:?}", second.plan.steps);
    assert!(second.report.succeeded.is_empty());
    assert_eq!(client.list_users().await.unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_tree_syncs_into_scim2_server_with_the_group_extension() {
    let levels = "[groups]\nlevels = [{ dimension = \"Kontor\" }, { dimension = \"Avdelning\" }]\n";
    let Some(rig) = Interop::start("the_group_tree_syncs_into_scim2_server", levels).await else {
        return;
    };
    let server = &rig.server;
    let sync = |mode| rig.sync(mode);
    let first = sync(Mode::Sync).await;
    assert_eq!(
        first.outcome,
        Outcome::Done,
        "{}\n{}",
        first.report.render(),
        server.log_tail()
    );
    assert!(
        !first.report.tree_by_hand,
        "scim2-server advertises the parent"
    );

    let client = rig.client();
    let groups = client.list_groups().await.unwrap();
    assert_eq!(groups.len(), 3);
    let named = |name: &str| {
        groups
            .iter()
            .find(|g| g.display_name == name)
            .unwrap_or_else(|| panic!("no group {name}"))
    };
    let office = named("Uppsala").external_id.clone().unwrap();
    let parent = |name: &str| {
        named(name)
            .extensions
            .get("urn:ietf:params:scim:schemas:extension:winningtemp:2.0:Group")
            .and_then(|e| e.get("parentExternalId"))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    assert_eq!(parent("Ledning"), Some(office.clone()));
    assert_eq!(parent("Utveckling"), Some(office));
    assert_eq!(named("Utveckling").members.len(), 3);
    assert_eq!(named("Ledning").members.len(), 1);

    let second = sync(Mode::Sync).await;
    assert!(second.plan.steps.is_empty(), "{:?}", second.plan.steps);
    assert!(
        second.group_plan.steps.is_empty(),
        "{:?}",
        second.group_plan.steps
    );
}
