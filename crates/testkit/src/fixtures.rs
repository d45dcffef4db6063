//! Flex data files in the emulator's format, kept in this crate so that every test reads the same
//! copy and the repository needs nothing beside it.

use std::path::PathBuf;

use serde_json::Value;

/// Four employees of one company with two dimensions: the small example every end-to-end test
/// starts from. The Flex emulator reads it as it is.
pub const FLEX_SMALL: &str = include_str!("../fixtures/flex-small.json");

/// Every bad case the map step handles, as the Flex API would send them.
pub const FLEX_BAD: &str = include_str!("../fixtures/flex-bad.json");

/// Where [`FLEX_SMALL`] lives on disk, for tests that hand a file path to a program.
pub fn flex_small_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/flex-small.json")
}

/// [`FLEX_SMALL`] as JSON, for tests that edit it before serving it.
pub fn flex_small() -> Value {
    match serde_json::from_str(FLEX_SMALL) {
        Ok(value) => value,
        Err(error) => unreachable!("fixtures/flex-small.json is valid JSON: {error}"),
    }
}
