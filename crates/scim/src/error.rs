//! The errors of the SCIM client, and the parsing of SCIM error bodies (RFC 7644 §3.12).

use flexsync_http::HttpError;

use crate::wire::ScimErrorBody;

/// The longest piece of a non-SCIM error body kept in an error message.
const MAX_DETAIL_CHARS: usize = 200;

/// What can go wrong talking to a SCIM server. `resource` always names what was asked for
/// (e.g. `GET /Users/2819c223`, `user externalId "1001"`); the token never appears.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ScimError {
    #[error(
        "{resource}: the server answered {status}{}: {detail}",
        scim_type_text(scim_type)
    )]
    Status {
        status: u16,
        scim_type: Option<String>,
        detail: String,
        resource: String,
    },
    /// The transport's error is said in the message, not chained: said once.
    #[error("{resource}: {error}")]
    Transport { resource: String, error: HttpError },
    #[error("{resource}: could not read the answer: {message}")]
    Decode { resource: String, message: String },
    #[error("{resource}: the read is incomplete: {reason}")]
    Partial { resource: String, reason: String },
    #[error("{resource}: {count} resources match where at most one may")]
    Ambiguous { resource: String, count: usize },
    #[error("invalid SCIM settings: {0}")]
    Settings(String),
}

fn scim_type_text(scim_type: &Option<String>) -> String {
    scim_type
        .as_deref()
        .map(|t| format!(" ({t})"))
        .unwrap_or_default()
}

impl ScimError {
    /// The same error, about `resource` (e.g. one write of a Bulk request that failed whole).
    pub fn about(&self, resource: String) -> ScimError {
        let mut error = self.clone();
        match &mut error {
            ScimError::Status { resource: r, .. }
            | ScimError::Transport { resource: r, .. }
            | ScimError::Decode { resource: r, .. }
            | ScimError::Partial { resource: r, .. }
            | ScimError::Ambiguous { resource: r, .. } => *r = resource,
            ScimError::Settings(_) => {}
        }
        error
    }

    /// The HTTP status the server answered, if it answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ScimError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server refused a value already taken (409, or `scimType` "uniqueness").
    pub fn is_uniqueness(&self) -> bool {
        match self {
            ScimError::Status {
                status, scim_type, ..
            } => {
                *status == 409
                    || scim_type
                        .as_deref()
                        .is_some_and(|t| t.eq_ignore_ascii_case("uniqueness"))
            }
            _ => false,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Worth trying again later: the server was busy or failing, or could not be reached.
    /// (The transport has already retried what it safely could.)
    pub fn is_retryable(&self) -> bool {
        match self {
            ScimError::Status { status, .. } => matches!(status, 429 | 500 | 502 | 503 | 504),
            ScimError::Transport { .. } => true,
            _ => false,
        }
    }
}

/// Builds the error for a non-success answer. A SCIM error body gives `scimType` and `detail`
/// (its `status` may be a string or a number); any other body is kept short.
pub fn status_error(status: u16, body: &[u8], resource: &str) -> ScimError {
    let parsed = serde_json::from_slice::<ScimErrorBody>(body).ok();
    let (scim_type, detail) = match parsed {
        Some(error) if error.scim_type.is_some() || error.detail.is_some() => (
            error.scim_type.map(|t| printable(&t)),
            printable(&error.detail.unwrap_or_default()),
        ),
        _ => (None, printable(&short_text(body))),
    };
    ScimError::Status {
        status,
        scim_type,
        detail,
        resource: resource.to_string(),
    }
}

/// Text from the server as it may reach a terminal: control characters (escape sequences, bells,
/// carriage returns that could forge a line) become `?`.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A body as one line of at most `MAX_DETAIL_CHARS` characters.
fn short_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= MAX_DETAIL_CHARS {
        return flat;
    }
    let cut: String = flat.chars().take(MAX_DETAIL_CHARS).collect();
    format!("{cut}...")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_from_the_server_never_reach_the_terminal() {
        let body = "{\"scimType\":\"bad\\u001b[31m\",\"detail\":\"no\\r\\n  done: everything fine\\u0007\"}";
        let text = status_error(400, body.as_bytes(), "POST /Users").to_string();
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert!(text.contains("bad?[31m"), "{text}");
    }

    #[test]
    fn parses_a_status_given_as_a_string() {
        let body = br#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status":"409","scimType":"uniqueness","detail":"userName taken"}"#;
        let error = status_error(409, body, "POST /Users");
        match &error {
            ScimError::Status {
                status,
                scim_type,
                detail,
                resource,
            } => {
                assert_eq!(*status, 409);
                assert_eq!(scim_type.as_deref(), Some("uniqueness"));
                assert_eq!(detail, "userName taken");
                assert_eq!(resource, "POST /Users");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(error.is_uniqueness());
        assert!(!error.is_not_found());
        assert!(!error.is_retryable());
        assert_eq!(
            error.to_string(),
            "POST /Users: the server answered 409 (uniqueness): userName taken"
        );
    }

    #[test]
    fn parses_a_status_given_as_a_number() {
        let body = br#"{"status":404,"detail":"Resource 7 not found"}"#;
        let error = status_error(404, body, "GET /Users/7");
        assert!(error.is_not_found());
        assert_eq!(
            error.to_string(),
            "GET /Users/7: the server answered 404: Resource 7 not found"
        );
    }

    #[test]
    fn uniqueness_is_recognised_by_scim_type_alone() {
        let body = br#"{"status":"400","scimType":"Uniqueness","detail":"taken"}"#;
        assert!(status_error(400, body, "x").is_uniqueness());
        let body = br#"{"status":"400","scimType":"invalidValue","detail":"bad"}"#;
        assert!(!status_error(400, body, "x").is_uniqueness());
    }

    #[test]
    fn keeps_non_json_bodies_short_and_on_one_line() {
        let page = format!("<html>\n<body>{}</body>\n</html>", "x".repeat(5000));
        let error = status_error(502, page.as_bytes(), "GET /Users");
        let ScimError::Status { detail, .. } = &error else {
            panic!("unexpected {error:?}");
        };
        assert!(detail.starts_with("<html> <body>xxx"));
        assert!(detail.ends_with("..."));
        assert_eq!(detail.chars().count(), MAX_DETAIL_CHARS + 3);
        assert!(error.is_retryable());
    }

    #[test]
    fn json_without_scim_fields_is_kept_as_text() {
        let error = status_error(500, br#"{"message":"boom"}"#, "GET /Groups");
        let ScimError::Status {
            detail, scim_type, ..
        } = &error
        else {
            panic!("unexpected {error:?}");
        };
        assert_eq!(detail, r#"{"message":"boom"}"#);
        assert_eq!(scim_type, &None);
    }

    #[test]
    fn retryable_statuses() {
        for (status, retryable) in [
            (429, true),
            (503, true),
            (500, true),
            (400, false),
            (401, false),
        ] {
            assert_eq!(
                status_error(status, b"", "x").is_retryable(),
                retryable,
                "{status}"
            );
        }
    }
}
