//! Notifications after each sync, end to end: the real binary sends email to a real SMTP server
//! (aiosmtpd, started here on loopback, reads each message back with Python's email package)
//! and posts to a webhook served here; a channel that fails never fails the sync.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;

use flexsync_emulators::knobs::Faults;
use flexsync_emulators::scim::Profile;
use flexsync_testkit::smtp::{self, SinkOptions, SinkTls, SmtpSink};

use crate::support::*;

const SMTP_USER: &str = "flexsync";
const SMTP_PASSWORD: &str = "smtp-pass-93e1";
const WAIT: Duration = Duration::from_secs(10);

/// The SMTP server, or none when the test is skipped (no aiosmtpd and interop not required).
fn smtp_server(test: &str) -> Option<SmtpSink> {
    smtp_server_with(test, SinkTls::None)
}

fn smtp_server_with(test: &str, tls: SinkTls) -> Option<SmtpSink> {
    let options = SinkOptions {
        login: Some((SMTP_USER, SMTP_PASSWORD)),
        tls,
    };
    match smtp::start(test, options) {
        Ok(sink) => sink,
        Err(error) => panic!("{error}"),
    }
}

/// `[notify.email]` for a server on loopback port `port`, its password in a file in `dir`.
fn email_toml(dir: &std::path::Path, port: u16, when: &str) -> String {
    let password = dir.join("smtp-password.txt");
    write_secret(&password, SMTP_PASSWORD);
    format!(
        "[notify.email]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\nsecurity = \"none\"\n\
         username = \"{SMTP_USER}\"\npassword_file = {:?}\n\
         from = \"flexsync <flexsync@example.se>\"\nto = [\"hr-it@example.se\", \"ops@example.se\"]\n\
         when = \"{when}\"\n",
        password.display().to_string()
    )
}

fn part<'a>(message: &'a Value, content_type: &str) -> &'a Value {
    message["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["content_type"] == content_type)
        .unwrap_or_else(|| panic!("no {content_type} part in {message:#}"))
}

fn content<'a>(message: &'a Value, content_type: &str) -> &'a str {
    part(message, content_type)["content"].as_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sync_emails_html_and_text_with_the_json_report_naming_the_people_changed() {
    let test = "each_sync_emails_html_and_text_with_the_json_report_naming_the_people_changed";
    let Some(server) = smtp_server(test) else {
        return;
    };
    let secrets = tempfile::tempdir().unwrap();
    let mut doc = example();
    let extra = email_toml(secrets.path(), server.port, "always");
    let rig = Rig::with(
        &doc,
        scim_options(Profile::Extended),
        Faults::default(),
        &extra,
    )
    .await;
    let config = rig.config_path.to_str().unwrap().to_string();

    let first = flexsync_bin(&["sync", "--config", &config]).await;
    assert_eq!(first.status.code(), Some(0), "{}", output_text(&first));
    let messages = server.wait_for(1, WAIT);
    assert_eq!(
        messages.len(),
        1,
        "one message per sync: {messages:#?}\n{}",
        output_text(&first)
    );
    let message = &messages[0];
    assert_eq!(
        message["login"], SMTP_USER,
        "logged in with the password file"
    );
    assert_eq!(
        message["rcpt_tos"],
        serde_json::json!(["hr-it@example.se", "ops@example.se"])
    );
    assert_eq!(message["mail_from"], "flexsync@example.se");
    let subject = message["subject"].as_str().unwrap();
    assert!(
        subject.starts_with("flexsync sync #1: done: create 4"),
        "{subject}"
    );
    assert_eq!(
        message["structure"],
        "multipart/mixed(multipart/alternative(text/plain,text/html),application/json)"
    );
    let text = content(message, "text/plain");
    let html = content(message, "text/html");
    for (name, email) in [
        ("Sara Nilsson", "sara.nilsson@example.se"),
        ("Johan Karlsson", "johan.karlsson@example.se"),
        ("Maria Andersson", "maria.andersson@example.se"),
        ("Ali Hassan", "ali.hassan@partner.example"),
    ] {
        assert!(
            text.contains(name) && text.contains(email),
            "{name} in\n{text}"
        );
        assert!(
            html.contains(name) && html.contains(email),
            "{name} in\n{html}"
        );
    }
    assert!(html.contains("<table"), "{html}");
    let attachment = part(message, "application/json");
    assert_eq!(attachment["disposition"], "attachment");
    assert_eq!(attachment["filename"], "run-000001.json");
    let report: Value = serde_json::from_str(attachment["content"].as_str().unwrap()).unwrap();
    assert_eq!(report["run_id"], 1);
    assert_eq!(report["succeeded"]["create"], 4);
    assert_eq!(report["changes"].as_array().unwrap().len(), 4);

    // One person's name changes in Flex: the next message names them, and only them.
    employee_mut(&mut doc, JOHAN)["LastName"] = "Karlsson-Berg".into();
    rig.set_flex(&doc);
    let second = flexsync_bin(&["sync", "--config", &config]).await;
    assert_eq!(second.status.code(), Some(0), "{}", output_text(&second));
    let messages = server.wait_for(2, WAIT);
    assert_eq!(messages.len(), 2, "{messages:#?}");
    let message = &messages[1];
    let subject = message["subject"].as_str().unwrap();
    assert!(
        subject.starts_with("flexsync sync #2: done: update 1"),
        "{subject}"
    );
    let text = content(message, "text/plain");
    assert!(text.contains("Johan Karlsson-Berg"), "{text}");
    assert!(!text.contains("Maria Andersson"), "{text}");
    assert!(content(message, "text/html").contains("Karlsson-Berg"));
    assert_eq!(
        part(message, "application/json")["filename"],
        "run-000002.json"
    );
}

/// `[notify.email]` over TLS (`starttls` or `tls`), trusting the server's authority.
fn tls_email_toml(dir: &std::path::Path, server: &SmtpSink, security: &str) -> String {
    email_toml(dir, server.port, "always")
        .replace("security = \"none\"", &format!("security = \"{security}\""))
        + &format!(
            "tls_ca_file = {:?}\n",
            server.ca_pem().display().to_string()
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_goes_over_starttls_and_implicit_tls_with_the_certificate_verified() {
    for (security, tls) in [("starttls", SinkTls::StartTls), ("tls", SinkTls::Implicit)] {
        let test = "email_goes_over_starttls_and_implicit_tls_with_the_certificate_verified";
        let Some(server) = smtp_server_with(test, tls) else {
            return;
        };
        let secrets = tempfile::tempdir().unwrap();
        let extra = tls_email_toml(secrets.path(), &server, security);
        let rig = Rig::with(
            &example(),
            scim_options(Profile::Extended),
            Faults::default(),
            &extra,
        )
        .await;
        let config = rig.config_path.to_str().unwrap().to_string();
        let out = flexsync_bin(&["sync", "--config", &config]).await;
        assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
        let messages = server.wait_for(1, WAIT);
        assert_eq!(messages.len(), 1, "{security}: {}", output_text(&out));
        assert_eq!(messages[0]["tls"], true, "{security}");
        assert_eq!(messages[0]["login"], SMTP_USER, "{security}");

        // Without the authority the server's certificate is not trusted: nothing is sent.
        let untrusting = extra
            .lines()
            .filter(|l| !l.starts_with("tls_ca_file"))
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(
            &rig.config_path,
            std::fs::read_to_string(&rig.config_path)
                .unwrap()
                .replace(&extra, &format!("{untrusting}\n")),
        )
        .unwrap();
        let out = flexsync_bin(&["sync", "--config", &config]).await;
        let said = output_text(&out);
        assert_eq!(out.status.code(), Some(0), "{said}");
        assert!(
            said.contains("could not send the email"),
            "{security}: {said}"
        );
        assert_eq!(server.wait_for(2, Duration::from_millis(500)).len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_when_problems_only_a_refused_sync_is_emailed_with_its_approve_command() {
    let test = "with_when_problems_only_a_refused_sync_is_emailed_with_its_approve_command";
    let Some(server) = smtp_server(test) else {
        return;
    };
    let secrets = tempfile::tempdir().unwrap();
    let mut doc = example();
    let staff = add_staff(&mut doc, 10);
    let extra = email_toml(secrets.path(), server.port, "problems");
    let rig = Rig::with(
        &doc,
        scim_options(Profile::Extended),
        Faults::default(),
        &extra,
    )
    .await;
    let config = rig.config_path.to_str().unwrap().to_string();
    let done = flexsync_bin(&["sync", "--config", &config]).await;
    assert_eq!(done.status.code(), Some(0), "{}", output_text(&done));

    for id in &staff[..8] {
        remove_employee(&mut doc, id);
    }
    rig.set_flex(&doc);
    let refused = flexsync_bin(&["sync", "--config", &config]).await;
    assert_eq!(refused.status.code(), Some(3), "{}", output_text(&refused));
    let messages = server.wait_for(1, WAIT);
    assert_eq!(
        messages.len(),
        1,
        "a clean sync sends nothing: {messages:#?}"
    );
    let message = &messages[0];
    let subject = message["subject"].as_str().unwrap();
    assert!(
        subject.starts_with("flexsync sync #2: REFUSED by guard"),
        "{subject}"
    );
    assert!(subject.contains("pause 8"), "{subject}");
    let command = format!("flexsync approve 2 --config {config}");
    let text = content(message, "text/plain");
    let html = content(message, "text/html");
    assert!(text.contains(&command), "{text}");
    assert!(html.contains(&command), "{html}");
    // Whoever approves sees who would be paused, in both parts.
    for i in 1..=8 {
        let who = format!("pause Staff Number{i} <staff{i}@example.se>");
        assert!(text.contains(&who), "{who} in\n{text}");
        assert!(html.contains(&format!("staff{i}@example.se")), "{html}");
    }
    assert!(!text.contains("Number9"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_server_that_cannot_be_reached_never_fails_the_sync() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let secrets = tempfile::tempdir().unwrap();
    let extra = email_toml(secrets.path(), closed, "always");
    let rig = Rig::with(
        &example(),
        scim_options(Profile::Extended),
        Faults::default(),
        &extra,
    )
    .await;
    let config = rig.config_path.to_str().unwrap().to_string();
    let out = flexsync_bin(&["sync", "--config", &config]).await;
    let said = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("warning: could not send the email: SMTP 127.0.0.1:"),
        "{said}"
    );
    assert!(!said.contains(SMTP_PASSWORD), "{said}");
    assert_eq!(rig.users().len(), 4);
}

/// What the webhook server received: each request's headers and JSON body.
type Received = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// A webhook on loopback answering `status`; its URL and what it received.
async fn webhook(status: StatusCode) -> (String, Received) {
    let received: Received = Arc::default();
    let app = Router::new()
        .route(
            "/hooks/flexsync",
            post(
                move |State(received): State<Received>, headers: HeaderMap, body: String| async move {
                    let body = serde_json::from_str(&body).unwrap_or(Value::Null);
                    received.lock().unwrap().push((headers, body));
                    status
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/flexsync", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

fn webhook_toml(dir: &std::path::Path, url: &str) -> String {
    let secret = dir.join("hook-secret.txt");
    write_secret(&secret, "hook-secret-5d21");
    format!(
        "[notify.webhook]\nurl = \"{url}\"\nwhen = \"changes\"\nsecret_header = \"X-Flexsync-Token\"\n\
         secret_file = {:?}\n",
        secret.display().to_string()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_receives_the_summary_with_its_secret_header_when_something_changed() {
    let (url, received) = webhook(StatusCode::NO_CONTENT).await;
    let secrets = tempfile::tempdir().unwrap();
    let extra = webhook_toml(secrets.path(), &url);
    let rig = Rig::with(
        &example(),
        scim_options(Profile::Extended),
        Faults::default(),
        &extra,
    )
    .await;
    let config = rig.config_path.to_str().unwrap().to_string();
    let out = flexsync_bin(&["sync", "--config", &config]).await;
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    {
        let received = received.lock().unwrap();
        assert_eq!(received.len(), 1);
        let (headers, body) = &received[0];
        assert_eq!(headers["x-flexsync-token"], "hook-secret-5d21");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(body["outcome"], "done");
        assert_eq!(body["run_id"], 1);
        assert_eq!(body["succeeded"]["create"], 4);
        assert!(
            body["text"]
                .as_str()
                .unwrap()
                .starts_with("flexsync sync #1: done")
        );
        let names: Vec<&str> = body["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"Ali Hassan"), "{body:#}");
        let ali = body["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "Ali Hassan")
            .unwrap();
        assert_eq!(ali["email"], "ali.hassan@partner.example");
        assert_eq!(ali["action"], "create");
    }
    // Nothing changed: `changes` stays quiet.
    let again = flexsync_bin(&["sync", "--config", &config]).await;
    assert_eq!(again.status.code(), Some(0), "{}", output_text(&again));
    assert_eq!(received.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_answers_an_error_never_fails_the_sync() {
    let (url, received) = webhook(StatusCode::INTERNAL_SERVER_ERROR).await;
    let secrets = tempfile::tempdir().unwrap();
    let extra = webhook_toml(secrets.path(), &url);
    let rig = Rig::with(
        &example(),
        scim_options(Profile::Extended),
        Faults::default(),
        &extra,
    )
    .await;
    let config = rig.config_path.to_str().unwrap().to_string();
    let out = flexsync_bin(&["sync", "--config", &config]).await;
    let said = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("could not send the webhook"), "{said}");
    assert!(said.contains("500"), "{said}");
    assert!(!said.contains("hook-secret-5d21"), "{said}");
    assert_eq!(received.lock().unwrap().len(), 1);
}
