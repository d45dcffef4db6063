//! Test support shared by every crate's tests (a dev-dependency only): the Flex fixtures, and the
//! harnesses that start servers nobody here wrote.
//!
//! - [`fixtures`]: Flex data files in the emulator's format.
//! - [`scim2`]: the third-party `scim2-server` (PyPI) on a loopback port.
//! - [`smtp`]: the third-party `aiosmtpd` (PyPI) on a loopback port, reading messages back.
//! - [`canned`]: a tiny HTTP server answering fixed responses, for server behaviours no real
//!   server here shows.
//! - [`hostile`]: a proxy in front of an emulator that attacks on request (redirects, echoes,
//!   oversized and endless bodies, rewritten answers), and the stranger a redirect points to.
//! - [`tls`]: a TLS front with a certificate from a private authority made for the test.

pub mod canned;
pub mod fixtures;
pub mod hostile;
pub mod scim2;
pub mod smtp;
pub mod tls;
