//! The map step: snapshot + settings + day -> desired state and findings.
