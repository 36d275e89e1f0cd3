#![allow(clippy::unwrap_used, clippy::expect_used)]
//! One integration-test binary: every test runs the real server over real
//! HTTP, on SQLite and (with `TESSERA_TEST_POSTGRES`) on PostgreSQL.

mod core;
mod dns;
mod domains;
mod fakes;
mod findings;
mod foundation;
mod helpers;
mod hooks;
mod invitations;
mod oauth;
mod orgs;
mod scale;
mod smtp;
