//! The errors of the Flex client. Each names what was being read (resource and company), never
//! the password or the `Authorization` header.

use flexsync_http::HttpError;

#[derive(Debug, thiserror::Error)]
pub enum FlexError {
    #[error("invalid Flex base URL {url:?}: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error("invalid Flex settings: {0}")]
    Settings(String),
    #[error("could not set up the HTTP client for Flex: {0}")]
    Client(#[source] HttpError),
    #[error(
        "{what}: 401 unauthorized: Flex did not accept the API user's credentials (check the \
         username, password, instance and auth scheme){}",
        said(.message)
    )]
    Unauthorized {
        what: String,
        message: Option<String>,
    },
    #[error(
        "{what}: 403 forbidden: the API user may not read this company or resource{}",
        said(.message)
    )]
    Forbidden {
        what: String,
        message: Option<String>,
    },
    #[error("{what}: 404 not found{}", said(.message))]
    NotFound {
        what: String,
        message: Option<String>,
    },
    #[error("{what}: Flex answered {status}{}", said(.message))]
    Status {
        what: String,
        status: u16,
        message: Option<String>,
    },
    #[error("{what}: {reason}")]
    Body { what: String, reason: String },
    /// The transport's error is said in the message, not chained: said once.
    #[error("{what}: {error}")]
    Transport { what: String, error: HttpError },
    #[error(
        "{what}: the read looks partial: {read} of {total} items came back, so nothing may be \
         written from it"
    )]
    Partial { what: String, read: u64, total: u64 },
    #[error(
        "{what}: the list changed while it was read ({detail}), twice in a row; the read would \
         be partial, so nothing was written (run again once Flex is quiet)"
    )]
    Unstable { what: String, detail: String },
    #[error(
        "{what}: still more pages after {max_pages} pages; the read looks partial (raise \
         max_pages or page_size if the list is really this long)"
    )]
    PageCap { what: String, max_pages: u32 },
    #[error("configured company {reference} is not among the companies Flex lists ({known})")]
    UnknownCompany { reference: String, known: String },
}

impl FlexError {
    /// The configuration keys to look at for this error, for the message people read.
    pub fn settings_to_check(&self) -> &'static str {
        match self {
            FlexError::Transport { .. } => {
                "is flex.base_url's host right and up? flex.timeout_seconds sets how long an \
                 answer may take"
            }
            FlexError::Unauthorized { .. } => {
                "flex.username, flex.password_env or flex.password_file, flex.instance"
            }
            FlexError::Forbidden { .. } => "the API user's rights in Flex, and flex.companies",
            FlexError::NotFound { .. } => {
                "flex.base_url (it ends in /webapi/api) and flex.instance"
            }
            FlexError::UnknownCompany { .. } => {
                "flex.companies (`flexsync check` lists the companies the API user sees)"
            }
            FlexError::BaseUrl { .. } | FlexError::Settings(_) | FlexError::Client(_) => {
                "the [flex] section"
            }
            FlexError::PageCap { .. } => "flex.page_size (a list this long needs larger pages)",
            FlexError::Status { .. }
            | FlexError::Body { .. }
            | FlexError::Partial { .. }
            | FlexError::Unstable { .. } => "nothing on our side: run again later",
        }
    }

    /// The HTTP status Flex answered with, if the error is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            FlexError::Unauthorized { .. } => Some(401),
            FlexError::Forbidden { .. } => Some(403),
            FlexError::NotFound { .. } => Some(404),
            FlexError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn said(message: &Option<String>) -> String {
    match message {
        Some(text) => format!(" (Flex said: {text})"),
        None => String::new(),
    }
}
