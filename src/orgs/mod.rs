//! Organizations: the rules, no HTTP.

pub mod claims;
