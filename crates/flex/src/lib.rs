//! The Flex HRM Web API client: reads the configured companies whole into a
//! [`flexsync_core::snapshot::Snapshot`], or fails without a partial result.
//!
//! Layout:
//! - [`json`]: a JSON tree that borrows its texts from the answer, what pages are read into.
//! - [`wire`]: tolerant reading of the API's JSON (page envelopes, employees, periods,
//!   dimensions, accounts, default accounts) into the snapshot types.
//! - [`client`]: settings, authentication, paged reads and the full read.
//! - [`error`]: [`FlexError`], naming the company and resource of every failure.

pub mod client;
pub mod error;
pub mod json;
pub mod wire;

pub use client::{
    AuthScheme, CompanyRef, FlexClient, FlexRead, FlexSettings, ReadWarning, api_base_url,
};
pub use error::FlexError;
