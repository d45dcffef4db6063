//! The one integration-test binary of the `flexsync` crate: whole runs against the emulators (and
//! scim2-server) over real sockets, and the command line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod approve;
mod bulk;
mod catalogue;
mod chaos;
mod cli;
mod convergence;
mod daemon;
mod groups;
mod hostile;
mod interop;
mod mapping;
mod notify;
mod report_page;
mod support;
mod sync;
mod tenants;
