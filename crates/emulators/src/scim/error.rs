//! The SCIM error every part of the emulator returns, shaped as RFC 7644 section 3.12 says.

use serde_json::{Value, json};

pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The `scimType` values the emulator uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    InvalidSyntax,
    InvalidValue,
    InvalidPath,
    NoTarget,
    Uniqueness,
    Mutability,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
        }
    }
}

/// An HTTP status, an optional `scimType` and a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {}: {detail}", .scim_type.map(ScimType::as_str).unwrap_or("-"))]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<ScimType>,
    pub detail: String,
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> ScimError {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> ScimError {
        ScimError {
            status: 400,
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> ScimError {
        ScimError::bad_request(ScimType::InvalidSyntax, detail)
    }

    pub fn invalid_value(detail: impl Into<String>) -> ScimError {
        ScimError::bad_request(ScimType::InvalidValue, detail)
    }

    pub fn invalid_filter(detail: impl Into<String>) -> ScimError {
        ScimError::bad_request(ScimType::InvalidFilter, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> ScimError {
        ScimError {
            status: 404,
            scim_type: None,
            detail: detail.into(),
        }
    }

    pub fn unauthorized() -> ScimError {
        ScimError {
            status: 401,
            scim_type: None,
            detail: "missing or wrong bearer token".to_string(),
        }
    }

    pub fn conflict(detail: impl Into<String>) -> ScimError {
        ScimError {
            status: 409,
            scim_type: Some(ScimType::Uniqueness),
            detail: detail.into(),
        }
    }

    /// 413: a bulk request over `maxPayloadSize` or `maxOperations` (RFC 7644 section 3.7.4).
    pub fn payload_too_large(detail: impl Into<String>) -> ScimError {
        ScimError::new(413, None, detail)
    }

    /// 501: an operation this server does not offer (RFC 7644 section 3.12).
    pub fn not_implemented(detail: impl Into<String>) -> ScimError {
        ScimError::new(501, None, detail)
    }

    /// 403: a `filter` on a discovery endpoint (RFC 7644 section 4).
    pub fn forbidden(detail: impl Into<String>) -> ScimError {
        ScimError::new(403, None, detail)
    }

    pub fn internal(detail: impl Into<String>) -> ScimError {
        ScimError {
            status: 500,
            scim_type: None,
            detail: detail.into(),
        }
    }

    /// The JSON body: `schemas`, `status` as a string, `scimType` when set, `detail`.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Some(map)) = (self.scim_type, body.as_object_mut()) {
            map.insert(
                "scimType".to_string(),
                Value::String(t.as_str().to_string()),
            );
        }
        body
    }
}
