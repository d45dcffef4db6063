//! Email over SMTP with lettre (rustls with the ring provider, no native TLS): settings checked
//! once, and one message sent per call.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment as MailAttachment, Body, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use crate::NotifyError;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (port 587); refused if the server cannot.
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS at all: for a server on loopback (tests, a local relay).
    None,
}

impl Security {
    /// The usual port for this kind of connection.
    pub fn default_port(self) -> u16 {
        match self {
            Security::StartTls => 587,
            Security::Tls => 465,
            Security::None => 25,
        }
    }
}

/// An email address, checked (`Name <a@b>` or `a@b`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address(Mailbox);

impl Address {
    /// Parses `value`; `what` names the setting in the error.
    pub fn parse(what: &'static str, value: &str) -> Result<Address, NotifyError> {
        value
            .trim()
            .parse::<Mailbox>()
            .map(Address)
            .map_err(|e| NotifyError::Address {
                what,
                value: value.to_string(),
                reason: e.to_string(),
            })
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Where and as whom to send.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// User name and password, when the server wants a login.
    pub login: Option<(String, SecretString)>,
    pub from: Address,
    pub to: Vec<Address>,
    pub timeout: Duration,
    /// A PEM certificate authority trusted besides the Mozilla roots (an internal relay).
    pub extra_root: Option<Vec<u8>>,
}

/// A file sent along with the message.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// What to say: the subject, an HTML body with its plain-text alternative, and attachments.
#[derive(Debug, Clone)]
pub struct Email {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub attachments: Vec<Attachment>,
}

/// Sends `email` to every recipient of `settings` in one SMTP transaction.
pub async fn send(settings: &SmtpSettings, email: Email) -> Result<(), NotifyError> {
    let message = build(settings, email)?;
    let server = format!("{}:{}", settings.host, settings.port);
    let smtp_error = |reason: String| NotifyError::Smtp {
        server: server.clone(),
        reason,
    };
    // Every crate uses the ring provider; installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host);
    let builder = match settings.security {
        Security::StartTls => builder.tls(Tls::Required(tls(settings).map_err(&smtp_error)?)),
        Security::Tls => builder.tls(Tls::Wrapper(tls(settings).map_err(&smtp_error)?)),
        Security::None => builder,
    };
    let mut builder = builder.port(settings.port).timeout(Some(settings.timeout));
    if let Some((user, password)) = &settings.login {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose_secret().to_string(),
        ));
    }
    builder
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| smtp_error(error_chain(&e)))
}

/// TLS for the server's name, against the Mozilla roots and the configured extra root.
fn tls(settings: &SmtpSettings) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(settings.host.clone());
    if let Some(pem) = &settings.extra_root {
        let root = Certificate::from_pem(pem).map_err(|e| format!("the extra root: {e}"))?;
        builder = builder.add_root_certificate(root);
    }
    builder.build_rustls().map_err(|e| error_chain(&e))
}

/// The MIME message: `multipart/mixed` of an `alternative` (text, then HTML) and the files.
fn build(settings: &SmtpSettings, email: Email) -> Result<Message, NotifyError> {
    let build_error = |e: &dyn std::fmt::Display| NotifyError::Build(e.to_string());
    let mut builder = Message::builder()
        .from(settings.from.0.clone())
        .subject(email.subject);
    for to in &settings.to {
        builder = builder.to(to.0.clone());
    }
    let mut body =
        MultiPart::mixed().multipart(MultiPart::alternative_plain_html(email.text, email.html));
    for file in email.attachments {
        let content_type = ContentType::parse(&file.content_type).map_err(|e| build_error(&e))?;
        // Text goes as a string so its line endings become CRLF and long lines are encoded:
        // lettre sends bytes as they are, and a real server refuses a line over 998 octets.
        let content = match String::from_utf8(file.body) {
            Ok(text) => Body::new(text),
            Err(bytes) => Body::new(bytes.into_bytes()),
        };
        body = body.singlepart(MailAttachment::new(file.filename).body(content, content_type));
    }
    builder.multipart(body).map_err(|e| build_error(&e))
}

/// An error and its causes on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_that_is_not_one_is_named() {
        let error = Address::parse("notify.email.to", "hr-it at example.se").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("notify.email.to: \"hr-it at example.se\"")
        );
        assert!(Address::parse("notify.email.from", "flexsync <flexsync@example.se>").is_ok());
    }
}
