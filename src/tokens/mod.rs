//! Token signing: the key store, JWKS, and (with the login issue) claim building.

pub mod issue;
pub mod keys;
pub mod verify;
