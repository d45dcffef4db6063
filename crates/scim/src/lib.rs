//! SCIM 2.0 for flexsync: our own wire types and a client for the SCIM writer.
//!
//! Layout:
//! - [`wire`]: serde types for users, groups, list responses, PATCH bodies, error bodies and
//!   discovery documents; unknown extension attributes are kept, never dropped.
//! - `decode`: reading users, groups and list pages field by field, attribute names in any
//!   case.
//! - [`discovery`]: [`ServerInfo`], what the server advertises, built purely from its
//!   discovery documents.
//! - [`client`]: [`ScimClient`], every request through the shared HTTP transport.
//! - [`writer`]: [`Writer`], writes sent alone or gathered into `/Bulk` requests.
//! - [`bulk`]: the pure part of Bulk: limits, batching, and matching results to operations.
//! - [`error`]: [`ScimError`], with the status, `scimType` and the resource asked for.

pub mod bulk;
pub mod client;
mod decode;
pub mod discovery;
pub mod error;
pub mod wire;
pub mod writer;

pub use bulk::BulkLimits;
pub use client::{ScimClient, ScimSettings};
pub use discovery::ServerInfo;
pub use error::ScimError;
pub use wire::{
    ENTERPRISE_USER_SCHEMA, Email, GROUP_SCHEMA, Member, Meta, Name, Op, PatchOp, PatchOperation,
    ScimGroup, ScimUser, USER_SCHEMA,
};
pub use writer::Writer;
