//! Tessera: a multi-organization OAuth 2.0 / OpenID Connect server.
//!
//! # Layout
//!
//! * [`main`](../tessera/index.html) — the CLI (`serve`, `migrate`, `keys`, …) in `src/main.rs`.
//! * [`app`] — builds the state (pool, key store, metrics, clock) and the HTTP server.
//! * [`config`] — settings: embedded defaults, TOML file, `TESSERA_…` environment, validation.
//! * [`clock`] — the `Clock` trait; `SystemClock` in production, `FixedClock` in tests.
//! * [`error`] — the one place where domain errors become HTTP statuses.
//! * [`http`] — thin actix handlers, one file per area; `http/mod.rs` holds the route table.
//! * [`tokens`] — signing keys (josekit), JWKS, and token signing/verification.
//! * [`db`] — `DbConn` (diesel `MultiConnection` over SQLite and PostgreSQL), pool,
//!   embedded migrations, `schema.rs`, `models.rs`.
//! * [`metrics`] — Prometheus text-format counters and histograms.

pub mod app;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod metrics;
pub mod tokens;
