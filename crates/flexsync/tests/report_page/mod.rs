//! The HTML report as a person sees it: a sync that pauses someone, its page loaded in headless
//! Chromium (Debian's `chromium`), what the browser shows checked, and a screenshot kept as a
//! test artefact (`target/tmp/artefacts/`).

use std::path::{Path, PathBuf};
use std::process::Command;

use flexsync_core::guard::Allowance;
use flexsync_emulators::scim::Profile;

use crate::support::*;

/// The browser, or `None` when it is missing and the run does not require it.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("FLEXSYNC_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("FLEXSYNC_REQUIRE_INTEROP").is_none(),
        "headless Chromium is required but {} is missing (.ci/test installs Debian's chromium)",
        path.display()
    );
    eprintln!("skipped: no Chromium at {}", path.display());
    None
}

/// Runs headless Chromium on `page` with `extra` arguments and returns what it printed.
fn browse(browser: &Path, page: &Path, extra: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text a person reads: the DOM without its tags, the style and the head.
fn visible_text(dom: &str) -> String {
    let body = dom.split_once("<body>").map_or(dom, |(_, body)| body);
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    // Tags became spaces; a label's colon follows its word.
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" :", ":")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_names_the_paused_person_in_a_real_browser() {
    let Some(browser) = chromium() else { return };
    let mut doc = example();
    let rig = Rig::start(&doc, Profile::Extended).await;
    rig.sync().await;
    remove_employee(&mut doc, ALI);
    rig.set_flex(&doc);
    let allowance = Allowance {
        source_drop: true,
        ..Allowance::default()
    };
    let result = flexsync::run::sync_and_report(&rig.config, allowance)
        .await
        .result
        .unwrap();
    let json = result.report_path.clone().unwrap();
    let page = json.with_extension("html");
    assert!(page.exists(), "{} missing", page.display());

    // The JSON report names the pause.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let pause = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["action"] == "pause")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(pause["external_id"], ALI);
    assert_eq!(pause["name"], "Ali Hassan");
    assert_eq!(pause["email"], "ali.hassan@partner.example");
    assert_eq!(pause["result"]["result"], "ok");

    // The page, as the browser renders it.
    let text = visible_text(&browse(&browser, &page, &["--dump-dom".to_string()]));
    let run = result.report.run_id.unwrap();
    assert!(
        text.contains(&format!("flexsync sync #{run} done")),
        "{text}"
    );
    assert!(
        text.contains("Needs attention Nothing needs attention."),
        "{text}"
    );
    assert!(text.contains("Paused (1) pause"), "{text}");
    assert!(
        text.contains(&format!(
            "Ali Hassan ali.hassan@partner.example {ALI} active: true → false"
        )),
        "{text}"
    );
    assert!(text.contains("no longer in Flex ok"), "{text}");

    // A screenshot at a phone's width, kept for people to look at.
    let artefacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("artefacts");
    std::fs::create_dir_all(&artefacts).unwrap();
    let shot = artefacts.join("report-phone.png");
    let _ = std::fs::remove_file(&shot);
    browse(
        &browser,
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=412,1400".to_string(),
        ],
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{}",
        shot.display()
    );
    eprintln!("screenshot: {}", shot.display());
}

/// A refused run with a group tree and a person left out: the page puts the refusal and the
/// person first, lists the planned pauses, and draws the tree with its member counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_run_shows_what_needs_attention_and_the_tree() {
    let Some(browser) = chromium() else { return };
    let mut doc = example();
    let staff = add_staff(&mut doc, 10);
    let levels = "[groups]\nlevels = [{ dimension = \"Kontor\" }, { dimension = \"Avdelning\" }]\n";
    let rig = Rig::with(
        &doc,
        scim_options(Profile::Extended),
        flexsync_emulators::knobs::Faults::default(),
        levels,
    )
    .await;
    rig.sync().await;
    for id in &staff[..8] {
        remove_employee(&mut doc, id);
    }
    employee_mut(&mut doc, MARIA)["EmailWork"] = serde_json::Value::Null;
    rig.set_flex(&doc);
    let result = flexsync::run::sync_and_report(&rig.config, Allowance::default())
        .await
        .result
        .unwrap();
    assert_eq!(result.outcome, flexsync::run::Outcome::Refused);
    let page = result.report_path.as_ref().unwrap().with_extension("html");

    let text = visible_text(&browse(&browser, &page, &["--dump-dom".to_string()]));
    let attention = text
        .split_once("Needs attention")
        .and_then(|(_, rest)| rest.split_once("Changes ("))
        .map(|(attention, _)| attention.to_string())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(attention.contains("Refused by guard"), "{attention}");
    assert!(
        attention.contains("Nothing was written. To proceed:"),
        "{attention}"
    );
    assert!(
        attention.contains(&format!("Left out: Maria Andersson ({MARIA}) — EmailWork")),
        "{attention}"
    );
    assert!(text.contains("refused: nothing was written"), "{text}");
    assert!(
        text.contains("Paused (8) pause Who What changed Why Result"),
        "{text}"
    );
    assert!(text.contains("planned"), "{text}");
    // Maria is held as she is while her record has a finding: her groups too.
    assert!(!text.contains("remove_members"), "{text}");
    assert!(text.contains("Group tree (3 groups) Uppsala"), "{text}");
    assert!(text.contains("Utveckling (2 direct, 2 in all)"), "{text}");
}
