//! Emulators of the two ends flexsync talks to, and the synthetic Flex data generator. Used by
//! the CLI (`flexsync emulate`, `flexsync generate`, `flexsync demo`) and in-process by tests.
//!
//! - [`knobs`]: test knobs shared by both emulators (latency, injected 429/503, request counters).
//! - [`flex`]: the Flex HRM Web API emulator, serving a data file as `docs/flex-hrm-api.md` describes.
//! - [`scim`]: the Winningtemp SCIM 2.0 emulator, `documented` and `extended` profiles.
//! - [`generate`]: a realistic, deterministic Swedish organisation in the Flex data file format.

pub mod flex;
pub mod generate;
pub mod knobs;
pub mod scim;
