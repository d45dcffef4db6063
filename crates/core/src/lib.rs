//! The pure core of flexsync: what the source says, what the target should hold, and the plan
//! that gets it there. No I/O, no clock: dates and capabilities are inputs.
//!
//! Layout:
//! - [`ids`]: the ids that travel through a run: external ids (source side) and target ids.
//! - [`snapshot`]: one full read of Flex, as raw as it came (strings where we must still judge).
//! - [`by_employee`]: a snapshot's employees, periods or default accounts, looked up by employee.
//! - [`source_check`]: dimensions and fields the configuration names that the source lacks.
//! - [`finding`]: data-quality findings, each naming a record and a field.
//! - [`desired`]: the state Winningtemp should have (users with every mapped value).
//! - [`mapping`]: the settings the map step takes from configuration.
//! - [`map`]: snapshot + settings + day -> desired state and findings.
//! - [`groups`]: the group tree from organisational fields, added to the desired state.
//! - [`current`]: what the target holds now, and what our state store remembers.
//! - [`drift`]: fingerprints of the values flexsync last wrote, to tell drift from a Flex change.
//! - [`kind`]: the kinds of operation, as reports and the journal name them.
//! - [`plan`]: desired + current + memory -> an ordered list of typed operations.
//! - [`group_plan`]: desired groups + target groups -> group operations.
//! - [`outcome`]: how a run ended (one outcome, one exit code each), and the kinds of run.
//! - [`guard`]: refuses plans that look like the result of bad source data.
//! - [`retry_hold`]: growing retry intervals for failing records, and holding them back.

pub mod by_employee;
pub mod current;
pub mod desired;
pub mod drift;
pub mod finding;
pub mod group_plan;
pub mod groups;
pub mod guard;
pub mod ids;
pub mod kind;
pub mod map;
pub mod mapping;
pub mod outcome;
pub mod plan;
pub mod retry_hold;
pub mod snapshot;
pub mod source_check;
