//! flexsync-notify: the two ends that tell people how a run went. Each is an adapter that
//! takes what to say, already written, and says it; what to say is decided in `flexsync`.
//!
//! - [`email`]: one message over SMTP (STARTTLS, implicit TLS, or plain on loopback), an HTML
//!   part with a plain-text alternative and a file attached.
//! - [`webhook`]: one JSON document posted to a URL, with an optional secret header.
//! - [`NotifyError`]: why a message did not go out.

pub mod email;
pub mod webhook;

/// Why a notification did not go out. The message never quotes a password or secret.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// An address in the settings or the message cannot be used.
    #[error("{what}: {value:?} is not an email address ({reason})")]
    Address {
        what: &'static str,
        value: String,
        reason: String,
    },
    /// The message could not be put together.
    #[error("cannot build the message: {0}")]
    Build(String),
    /// The SMTP server could not be reached, or refused the message.
    #[error("SMTP {server}: {reason}")]
    Smtp { server: String, reason: String },
    /// The webhook could not be reached, or did not answer 2xx.
    #[error("webhook {url}: {reason}")]
    Webhook { url: String, reason: String },
}
