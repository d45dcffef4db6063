//! Hostile ends and a failing disk: a state store that fills mid-run, and (in the submodules)
//! servers that redirect, echo secrets, send oversized bodies or wrong types.

mod store;
