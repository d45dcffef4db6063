//! The `flexsync` binary as an operator runs it: exit codes, messages, and no secrets in output.

use std::process::{Command, Output};

use flexsync_emulators::scim::Profile;

use crate::support::*;

async fn flexsync(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_flexsync"))
            .args(&args)
            .env_remove("FLEXSYNC_LOG")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = flexsync(args(&[
        "demo",
        "--employees",
        "40",
        "--dir",
        dir.path().to_str().unwrap(),
    ]))
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("sync 1"), "{stdout}");
    assert!(dir.path().join("flexsync.toml").exists());
    // People are named: every Flex id stands in brackets beside a name.
    let bare: Vec<&str> = stdout
        .split_whitespace()
        .filter(|word| {
            let id = word.trim_matches(|c: char| !(c.is_ascii_hexdigit() || c == '-'));
            is_guid(id) && !word.starts_with('(')
        })
        .collect();
    assert!(bare.is_empty(), "ids without a name: {bare:?}\n{stdout}");

    // Run again in the same folder: refused before anything starts, naming the folder.
    let again = flexsync(args(&["demo", "--dir", dir.path().to_str().unwrap()])).await;
    assert_eq!(again.status.code(), Some(2), "{}", output_text(&again));
    assert!(
        text(&again.stderr)
            .contains("holds an earlier demo (flexsync.db): give an empty or new --dir"),
        "{}",
        output_text(&again)
    );
}

/// The table `bench` prints: one row per scenario; the unchanged rerun writes nothing, and the
/// child's CPU time and memory are measured (not zero).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_prints_its_table_and_an_unchanged_rerun_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = flexsync(args(&[
        "bench",
        "--employees",
        "60",
        "--large",
        "0",
        "--latency-ms",
        "1",
        "--dir",
        dir.path().to_str().unwrap(),
    ]))
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|line| line.starts_with("| 60 "))
        .map(|line| line.split('|').map(str::trim).collect())
        .collect();
    assert_eq!(rows.len(), 3, "{stdout}");
    let initial = &rows[0];
    assert!(initial[5].contains("POST"), "{stdout}");
    assert!(
        initial[4].parse::<f64>().unwrap() > 0.0,
        "peak memory: {stdout}"
    );
    let unchanged = &rows[1];
    assert!(unchanged[1].ends_with("unchanged"), "{stdout}");
    for write in ["POST", "PATCH", "PUT", "DELETE"] {
        assert!(!unchanged[5].contains(write), "{stdout}");
    }
    assert!(
        rows[2][5].contains("PATCH") || rows[2][5].contains("POST"),
        "{stdout}"
    );
}

fn is_guid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_config_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such.toml");
    let out = flexsync(args(&["plan", "--config", missing.to_str().unwrap()])).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no-such.toml"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_config_key_is_a_usage_error_that_names_it() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/unknown-key.toml"
    );
    let out = flexsync(args(&["plan", "--config", path])).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("shoe_size"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_scim_server_exits_4() {
    let doc = example();
    let flex = flexsync_emulators::flex::start(flex_data(&doc), Default::default())
        .await
        .unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        &flex.base_url(),
        &Login::of(&doc),
        &format!("http://127.0.0.1:{port}/api/scim"),
        TOKEN,
        "",
    );
    let out = flexsync(args(&["sync", "--config", path.to_str().unwrap()])).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        flex.route_count("GET /employees") > 0,
        "Flex was read first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_json_is_valid_and_holds_no_secrets() {
    let doc = example();
    let rig = Rig::start(&doc, Profile::Extended).await;
    let out = flexsync(args(&[
        "plan",
        "--json",
        "--config",
        rig.config_path.to_str().unwrap(),
    ]))
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let document: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(document["report"]["planned"]["create"], 4, "{document}");
    let password = Login::of(&doc).password;
    for secret in [password.as_str(), TOKEN] {
        assert!(!stdout.contains(secret), "stdout holds a secret");
        assert!(!text(&out.stderr).contains(secret), "stderr holds a secret");
    }
    assert_eq!(rig.scim.writes(), 0, "plan writes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_follows_one_person_through_map_and_plan() {
    let mut doc = example();
    doc["Employees"][0]["Gender"] = serde_json::json!(7);
    let rig = Rig::start(&doc, Profile::Extended).await;
    let config = rig.config_path.to_str().unwrap().to_string();
    let out = flexsync(args(&[
        "explain",
        "--config",
        &config,
        "Maria.Andersson@example.se",
    ]))
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with(&format!(
            "Maria Andersson <maria.andersson@example.se> ({MARIA})"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("plan:     create"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "manager:  Johan Karlsson <johan.karlsson@example.se> ({JOHAN})"
        )),
        "{stdout}"
    );

    let out = flexsync(args(&["explain", "--config", &config, SARA])).await;
    let stdout = text(&out.stdout);
    assert!(stdout.contains("unknown_gender"), "{stdout}");

    let out = flexsync(args(&["explain", "--config", &config, "nobody@example.se"])).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("nobody@example.se"));
    assert_eq!(rig.scim.writes(), 0, "explain writes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_that_fails_reading_flex_exits_4_and_still_leaves_a_report() {
    let rig = Rig::start(&example(), Profile::Extended).await;
    rig.flex.set_fail_page(Some(("employees".to_string(), 0)));
    let config = rig.config_path.to_str().unwrap().to_string();
    let out = flexsync(args(&["sync", "--config", &config])).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let reports = rig.config_path.parent().unwrap().join("reports");
    let mut names: Vec<String> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["run-000001.html", "run-000001.json"]);
    let page = std::fs::read_to_string(reports.join("run-000001.html")).unwrap();
    assert!(
        page.contains("The run stopped before it wrote anything"),
        "{page}"
    );
    let written = std::fs::read_to_string(reports.join("run-000001.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert!(report["run_id"].is_number(), "{report}");
    assert!(
        report["error"].as_str().unwrap().contains("employees"),
        "{report}"
    );
    assert_eq!(rig.scim.writes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_finds_people_by_name_whatever_the_case_and_accents() {
    let mut doc = example();
    let asa = test_id(1);
    add_employee(
        &mut doc,
        &asa,
        "Åsa",
        "Öberg",
        Some("asa.oberg@example.se"),
        None,
        "2020-01-01T00:00:00",
    );
    add_employee(
        &mut doc,
        &test_id(2),
        "Maria",
        "Berg",
        Some("maria.berg@example.se"),
        None,
        "2020-01-01T00:00:00",
    );
    let rig = Rig::start(&doc, Profile::Extended).await;
    let config = rig.config_path.to_str().unwrap().to_string();

    let out = flexsync(args(&["explain", "--config", &config, "asa OBERG"])).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.starts_with("Åsa Öberg <"), "{stdout}");
    assert!(
        stdout
            .lines()
            .next()
            .unwrap()
            .ends_with(&format!("({asa})")),
        "{stdout}"
    );

    let out = flexsync(args(&["explain", "--config", &config, "maria andersson"])).await;
    assert!(
        text(&out.stdout).starts_with(&format!(
            "Maria Andersson <maria.andersson@example.se> ({MARIA})"
        )),
        "{}",
        text(&out.stderr)
    );

    // Two Marias: both are listed to choose from, and nothing is explained.
    let out = flexsync(args(&["explain", "--config", &config, "Maria"])).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("2 people match"), "{stderr}");
    assert!(
        stderr.contains("Maria Andersson <maria.andersson@example.se>"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Maria Berg <maria.berg@example.se>"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_whether_the_tree_and_group_managers_travel_over_scim() {
    let levels = "[groups]\nlevels = [{ dimension = \"Kontor\" }, { dimension = \"Avdelning\" }]\n";
    for (profile, expected) in [
        (
            Profile::Extended,
            "groups: parent attribute yes (the tree is built over SCIM), group managers yes",
        ),
        (
            Profile::Documented,
            "groups: parent attribute no (groups are flat: place the tree by hand or deliver it \
             as files), group managers no",
        ),
    ] {
        let rig = Rig::with(
            &example(),
            scim_options(profile),
            flexsync_emulators::knobs::Faults::default(),
            levels,
        )
        .await;
        let config = rig.config_path.to_str().unwrap().to_string();
        let out = flexsync(args(&["check", "--config", &config])).await;
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
        assert!(stdout.contains(expected), "{stdout}");
    }
}

/// What happened to a person, by name, from the state store alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_shows_a_run_and_a_persons_changes_by_name() {
    let mut doc = example();
    let rig = Rig::start(&doc, Profile::Extended).await;
    rig.sync().await;
    remove_employee(&mut doc, ALI);
    rig.set_flex(&doc);
    let allowance = flexsync_core::guard::Allowance {
        source_drop: true,
        ..Default::default()
    };
    let paused = rig.run(flexsync::run::Mode::Sync, allowance).await.unwrap();
    let run = paused.report.run_id.unwrap().to_string();
    let config = rig.config_path.to_str().unwrap().to_string();
    // History reads only the state store: the secrets may be gone.
    let folder = rig.config_path.parent().unwrap();
    std::fs::remove_file(folder.join("flex-password.txt")).unwrap();
    std::fs::remove_file(folder.join("scim-token.txt")).unwrap();

    let out = flexsync(args(&[
        "history",
        "--config",
        &config,
        "--who",
        "ali HASSAN",
    ]))
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let pause = stdout
        .lines()
        .find(|l| l.contains("pause"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(pause.starts_with(&format!("#{run} ")), "{stdout}");
    assert!(
        pause.contains(&format!("Ali Hassan <ali.hassan@partner.example> ({ALI})")),
        "{stdout}"
    );
    assert!(
        pause.contains("no longer in Flex; active: true -> false [ok]"),
        "{stdout}"
    );
    assert!(stdout.lines().any(|l| l.contains("create")), "{stdout}");

    let out = flexsync(args(&["history", "--config", &config, "--run", &run])).await;
    let stdout = text(&out.stdout);
    assert!(stdout.contains("pause"), "{stdout}");
    assert!(stdout.contains("Ali Hassan"), "{stdout}");
}

/// `explain` tells a person's past from the state store and a future starter's first day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_shows_past_changes_and_the_day_a_starter_is_created() {
    let mut doc = example();
    let nils = test_id(3);
    add_employee(
        &mut doc,
        &nils,
        "Nils",
        "Framtid",
        Some("nils.framtid@example.se"),
        None,
        "2030-01-15",
    );
    let rig = Rig::start(&doc, Profile::Extended).await;
    rig.sync().await;
    let config = rig.config_path.to_str().unwrap().to_string();

    let out = flexsync(args(&["explain", "--config", &config, "nils framtid"])).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("starts:   2030-01-15; the account is created on 2030-01-15"),
        "{stdout}"
    );
    assert!(
        stdout.contains("history:  no earlier sync changed this person"),
        "{stdout}"
    );

    let out = flexsync(args(&["explain", "--config", &config, "Ali Hassan"])).await;
    let stdout = text(&out.stdout);
    let past = stdout
        .lines()
        .find(|l| l.starts_with("  history:  #"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(past.contains("create"), "{stdout}");
    assert!(
        past.contains(&format!("Ali Hassan <ali.hassan@partner.example> ({ALI})")),
        "{stdout}"
    );

    // Looking things up leaves no run in the history: one sync, numbered #1.
    let out = flexsync(args(&["history", "--config", &config])).await;
    let stdout = text(&out.stdout);
    let rows: Vec<&str> = stdout.lines().filter(|l| l.contains(" sync ")).collect();
    assert_eq!(rows.len(), 1, "{stdout}");
    assert!(rows[0].trim_start().starts_with("#1 "), "{stdout}");
    assert!(!stdout.contains(" plan "), "{stdout}");
    assert!(
        stdout.contains("runs and reports older than 90 days are pruned"),
        "{stdout}"
    );
}

/// `check` lists every mistake at once, each with the key to fix, and exits 2; a correct
/// configuration with only notes exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_a_missing_company_and_a_misspelt_dimension_in_one_run() {
    let levels =
        "[groups]\nlevels = [{ dimension = \"Kontoret\" }, { dimension = \"Avdelning\" }]\n";
    let rig = Rig::with(
        &example(),
        scim_options(Profile::Extended),
        flexsync_emulators::knobs::Faults::default(),
        levels,
    )
    .await;
    let text = std::fs::read_to_string(&rig.config_path).unwrap();
    let companies = text
        .lines()
        .find(|l| l.starts_with("companies = ["))
        .unwrap()
        .to_string();
    let wrong = text.replace(&companies, &companies.replace(']', ", 9999]"));
    std::fs::write(&rig.config_path, wrong).unwrap();
    let config = rig.config_path.to_str().unwrap().to_string();

    let out = flexsync(args(&["check", "--config", &config])).await;
    let stdout = output_text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("2 problem(s) to fix before syncing:"),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("! flex.companies: company 9999 is not one the API user sees (it sees: 100 "),
        "{stdout}"
    );
    assert!(
        stdout.contains("! groups.levels[0]: company 100 Exempel AB has no dimension named 'Kontoret'; its dimensions: "),
        "{stdout}"
    );
    assert_eq!(rig.scim.writes(), 0, "check writes nothing");

    // Fixed: no problem, exit 0.
    std::fs::write(&rig.config_path, text.replace("Kontoret", "Kontor")).unwrap();
    let out = flexsync(args(&["check", "--config", &config])).await;
    let stdout = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("no problems found"), "{stdout}");

    // A wrong token does not hide the other problems: all are listed, and check exits 4.
    let missing = rig.config_path.parent().unwrap().join("no-such-outbox");
    let broken = text.replace(&companies, &companies.replace(']', ", 9999]"))
        + &format!("[files]\ndir = {:?}\n", missing.display().to_string());
    // And a state store that cannot be used: a folder that does not exist, a wrong password.
    let dir = rig.config_path.parent().unwrap();
    write_secret(&dir.join("wrong-pg-password.txt"), "not-the-password");
    let broken = broken
        .replace(
            "path = \"flexsync.db\"",
            "path = \"no-such-folder/flexsync.db\"",
        )
        .replace("\"pg-password.txt\"", "\"wrong-pg-password.txt\"");
    std::fs::write(&rig.config_path, broken).unwrap();
    let token = rig.config_path.parent().unwrap().join("scim-token.txt");
    write_secret(&token, "not-the-token");
    let out = flexsync(args(&["check", "--config", &config])).await;
    let stdout = output_text(&out);
    assert_eq!(out.status.code(), Some(4), "{stdout}");
    for expected in [
        "! winningtemp: Winningtemp SCIM at ",
        "(check: winningtemp.scim_url, and winningtemp.token_env or token_file)",
        "! flex.companies: company 9999 is not one the API user sees",
        "! groups.levels[0]: company 100 Exempel AB has no dimension named 'Kontoret'",
        "! files: ",
        "! state: ",
    ] {
        assert!(stdout.contains(expected), "{expected}\n{stdout}");
    }
}

/// A refusal caused by a misspelt dimension names the misspelling before the flag that would
/// let the damage through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_names_its_likely_cause_first() {
    let levels = "[guards]\nmax_group_retirements = 2\n\n[groups]\nlevels = [{ dimension = \"Kontor\" }, { dimension = \"Avdelning\" }]\n";
    let rig = Rig::with(
        &example(),
        scim_options(Profile::Extended),
        flexsync_emulators::knobs::Faults::default(),
        levels,
    )
    .await;
    rig.sync().await;
    let text = std::fs::read_to_string(&rig.config_path).unwrap();
    std::fs::write(&rig.config_path, text.replace("\"Kontor\"", "\"Kontoret\"")).unwrap();
    let config = rig.config_path.to_str().unwrap().to_string();
    let out = flexsync(args(&["sync", "--config", &config])).await;
    let stdout = output_text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    let refused = stdout
        .lines()
        .find(|l| l.starts_with("REFUSED"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        refused.contains(
            "likely cause: groups.levels[0]: company 100 Exempel AB has no dimension named \
             'Kontoret'"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("to proceed: fix the cause and run again (`flexsync check` lists it); only if the change is real:"),
        "{stdout}"
    );
}

/// `history --who` follows a person by their Flex id across a change of name; `--run` of a
/// refused sync lists what it would have done; wrong questions are usage errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_follows_a_person_across_a_new_name_and_answers_wrong_questions_plainly() {
    let mut doc = example();
    let rig = Rig::start(&doc, Profile::Extended).await;
    rig.sync().await;
    employee_mut(&mut doc, MARIA)["LastName"] = serde_json::json!("Lind");
    rig.set_flex(&doc);
    rig.sync().await;
    remove_employee(&mut doc, ALI);
    rig.set_flex(&doc);
    let refused = rig.sync().await;
    assert_eq!(refused.outcome, flexsync::run::Outcome::Refused);
    let config = rig.config_path.to_str().unwrap().to_string();

    // Her old name finds her new one too.
    let out = flexsync(args(&[
        "history",
        "--config",
        &config,
        "--who",
        "maria andersson",
    ]))
    .await;
    let stdout = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("create"), "{stdout}");
    assert!(
        stdout.contains("update             Maria Lind <maria.andersson@example.se>"),
        "{stdout}"
    );
    assert!(stdout.contains("familyName: Andersson -> Lind"), "{stdout}");

    // The refused sync: what it would have done, nothing done.
    let run = refused.report.run_id.unwrap().to_string();
    let out = flexsync(args(&["history", "--config", &config, "--run", &run])).await;
    let stdout = output_text(&out);
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("pause") && l.contains("Ali Hassan") && l.ends_with("[planned]")),
        "{stdout}"
    );
    assert!(
        stdout.contains("refused by a guard, nothing was written; it would have made"),
        "{stdout}"
    );

    for (question, expected) in [
        (vec!["--run", "99"], "no run #99 in "),
        (
            vec!["--who", "  "],
            "--who: give a name, an email or a Flex id",
        ),
        (vec!["--who", "a"], "people match \"a\""),
    ] {
        let mut list = vec!["history", "--config", &config];
        list.extend(question);
        let out = flexsync(args(&list)).await;
        let stdout = output_text(&out);
        assert_eq!(out.status.code(), Some(2), "{stdout}");
        assert!(stdout.contains(expected), "{stdout}");
    }
}

/// A Flex host that accepts connections and never answers: the sync gives up with exit 4,
/// naming the host and the setting to look at, once, having logged each retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_never_answers_ends_the_run_naming_it_and_its_retries() {
    let rig = Rig::start(&example(), Profile::Extended).await;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((connection, _)) = silent.accept().await {
            open.push(connection);
        }
    });
    let written = std::fs::read_to_string(&rig.config_path).unwrap();
    let base = written
        .lines()
        .find(|l| l.starts_with("base_url = "))
        .unwrap()
        .to_string();
    let silent_url = format!("http://{address}/webapi/api");
    let changed = written.replace(
        &base,
        &format!("base_url = \"{silent_url}\"\ntimeout_seconds = 1"),
    );
    std::fs::write(&rig.config_path, changed).unwrap();
    let config = rig.config_path.to_str().unwrap().to_string();

    let out = flexsync(args(&["sync", "--config", &config])).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    let error = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        error.contains(&format!("reading Flex at {silent_url} failed")),
        "{error}"
    );
    assert!(
        error.contains("check: is flex.base_url's host right and up?"),
        "{error}"
    );
    assert_eq!(error.matches("timed out").count(), 1, "said once: {error}");
    let retries = stderr
        .lines()
        .filter(|l| l.contains("retrying a request"))
        .count();
    assert_eq!(retries, 4, "each retry is logged: {stderr}");
    assert!(stderr.contains(&format!("host={address}")), "{stderr}");
    assert_eq!(rig.scim.writes(), 0);
    held.abort();
}

/// A data-protection request: export shows what flexsync holds about a person, forget removes
/// it from the store and the reports, and the next sync still finds their account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_shows_and_forget_removes_what_flexsync_holds_about_a_person() {
    let rig = Rig::start(&example(), Profile::Extended).await;
    let config = rig.config_path.to_str().unwrap().to_string();
    let out = flexsync(args(&["sync", "--config", &config])).await;
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let reports = rig.config.report_dir.clone();
    let mentions = |needle: &str| {
        std::fs::read_dir(&reports)
            .unwrap()
            .filter(|e| {
                std::fs::read_to_string(e.as_ref().unwrap().path())
                    .unwrap()
                    .contains(needle)
            })
            .count()
    };
    assert_eq!(
        mentions("ali.hassan@partner.example"),
        2,
        "the JSON and the page"
    );

    let out = flexsync(args(&["export", "--config", &config, "Ali Hassan"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let held: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(held["external_id"], ALI);
    assert_eq!(held["state_store"]["links"].as_array().unwrap().len(), 1);
    assert_eq!(held["state_store"]["changes"][0]["action"], "create");
    assert_eq!(held["reports_naming_them"].as_array().unwrap().len(), 2);

    // Without --yes nothing goes.
    let out = flexsync(args(&["forget", "--config", &config, ALI])).await;
    assert!(
        output_text(&out).contains("run again with --yes"),
        "{}",
        output_text(&out)
    );
    assert_eq!(mentions(ALI), 2);

    let out = flexsync(args(&["forget", "--config", &config, ALI, "--yes"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("2 reports rewritten"),
        "{}",
        output_text(&out)
    );
    for needle in [ALI, "Ali Hassan", "ali.hassan@partner.example"] {
        assert_eq!(mentions(needle), 0, "{needle} is still in a report");
    }
    assert!(mentions("Sara Nilsson") > 0, "the others stay");
    let out = flexsync(args(&["export", "--config", &config, ALI])).await;
    let held: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        held["state_store"]
            .as_object()
            .unwrap()
            .values()
            .all(|rows| rows.as_array().unwrap().is_empty()),
        "{held}"
    );

    // Still in Flex: the next sync finds the account by its external id, and writes nothing.
    let (again, writes) = rig.sync_counted().await;
    assert_eq!(again.outcome, flexsync::run::Outcome::Done);
    assert_eq!(writes, 0, "{}", again.report.render());
    assert_no_duplicates(&rig.users());
}

/// Rewrites the `[flex]` base URL of a rig's configuration and adds `extra` keys after it.
fn point_flex_at(rig: &Rig, base_url: &str, extra: &str) {
    let written = std::fs::read_to_string(&rig.config_path).unwrap();
    let line = written
        .lines()
        .find(|l| l.starts_with("base_url = "))
        .unwrap()
        .to_string();
    let changed = written.replace(&line, &format!("base_url = \"{base_url}\"\n{extra}"));
    std::fs::write(&rig.config_path, changed).unwrap();
}

/// Flex behind a private certificate authority: reached with the authority's file
/// (`flex.ca_file`), refused without it (verification is never turned off for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_behind_a_private_authority_is_reached_with_its_ca_file() {
    let rig = Rig::start(&example(), Profile::Extended).await;
    let front = flexsync_testkit::tls::TlsFront::start(rig.flex.addr)
        .await
        .unwrap();
    let folder = rig.config_path.parent().unwrap();
    std::fs::write(folder.join("company-ca.pem"), &front.ca_pem).unwrap();
    let url = format!("https://127.0.0.1:{}/webapi/api", front.addr.port());
    let config = rig.config_path.to_str().unwrap().to_string();

    point_flex_at(&rig, &url, "");
    let out = flexsync(args(&["plan", "--config", &config])).await;
    assert_eq!(out.status.code(), Some(4), "{}", output_text(&out));
    assert!(
        output_text(&out).contains(&format!("reading Flex at {url}")),
        "{}",
        output_text(&out)
    );

    point_flex_at(&rig, &url, "ca_file = \"company-ca.pem\"");
    let out = flexsync(args(&["plan", "--config", &config])).await;
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("4 Flex records"),
        "{}",
        output_text(&out)
    );
}

/// Flex through an outbound proxy (`flex.proxy`): every request goes to the proxy, which alone
/// knows the way (the configured host does not exist).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_end_is_reached_through_the_configured_proxy() {
    let rig = Rig::start(&example(), Profile::Extended).await;
    let proxy = flexsync_testkit::hostile::Hostile::proxy(&format!("http://{}", rig.flex.addr))
        .await
        .unwrap();
    let config = rig.config_path.to_str().unwrap().to_string();
    point_flex_at(
        &rig,
        "http://flex.invalid/webapi/api",
        &format!("proxy = \"http://{}\"", proxy.addr),
    );
    let out = flexsync(args(&["plan", "--config", &config])).await;
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("4 Flex records"),
        "{}",
        output_text(&out)
    );
    assert!(proxy.requests().len() >= 2, "{:?}", proxy.requests().len());

    // A proxy that is down is named as what failed, not Flex's host.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    let written = std::fs::read_to_string(&rig.config_path).unwrap();
    let proxied = format!("proxy = \"http://{}\"", proxy.addr);
    let down = format!("proxy = \"http://{closed_addr}\"");
    std::fs::write(&rig.config_path, written.replace(&proxied, &down)).unwrap();
    let out = flexsync(args(&["plan", "--config", &config])).await;
    assert_eq!(out.status.code(), Some(4), "{}", output_text(&out));
    assert!(
        output_text(&out).contains(&format!(
            "through the proxy http://{closed_addr}/: could not connect"
        )),
        "{}",
        output_text(&out)
    );

    // Its password is never written in the configuration.
    let written = std::fs::read_to_string(&rig.config_path).unwrap();
    let with_login = format!("proxy = \"http://puser:Proxy-Pass-99@{closed_addr}\"");
    std::fs::write(&rig.config_path, written.replace(&down, &with_login)).unwrap();
    let out = flexsync(args(&["plan", "--config", &config])).await;
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("flex.proxy: a password is never written in the configuration"),
        "{}",
        output_text(&out)
    );
    assert!(
        !output_text(&out).contains("Proxy-Pass-99"),
        "{}",
        output_text(&out)
    );
}

/// With `--log-format json`, everything on stderr is one JSON object a line, the final error too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_final_error_as_json_too() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such.toml");
    let out = flexsync(args(&[
        "--log-format",
        "json",
        "plan",
        "--config",
        missing.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let last = lines.last().unwrap_or_else(|| panic!("nothing logged"));
    assert_eq!(last["level"], "ERROR", "{last}");
    assert!(
        last["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("no-such.toml"),
        "{last}"
    );
}
