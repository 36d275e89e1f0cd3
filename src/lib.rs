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
//! * [`oauth`] — the protocol: clients and client auth, `/authorize` validation and
//!   login transactions, SSO sessions, grants, introspection, revocation, `OAuthError`.
//! * [`upstream`] — the `IdentityProvider` trait; Google (openidconnect), GitHub (oauth2).
//! * [`accounts`] — users and identities: find, link by verified email, create.
//! * [`hooks`] — the post-login action pipeline: signed webhooks, QuickJS scripts, the event.
//! * [`orgs`] — organizations, members, roles, and the org claims of tokens.
//! * [`audit`] — audit events, written in the transaction of the change.
//! * [`maintenance`] — purging expired transactions, codes, sessions, tokens.
//! * [`mail`] — the mailer (SMTP through lettre, or the log).
//! * [`html`] — HTML escaping for pages and emails.
//! * [`dns`] — TXT lookups for domain verification (hickory-resolver).
//! * [`bench`] — the `tessera bench` load generator.
//! * [`secrets`] — CSPRNG tokens, token hashes, client-secret hashing, constant-time compare.

pub mod accounts;
pub mod app;
pub mod audit;
pub mod bench;
pub mod clock;
pub mod config;
pub mod db;
pub mod dns;
pub mod error;
pub mod hooks;
pub mod html;
pub mod http;
pub mod mail;
pub mod maintenance;
pub mod metrics;
pub mod oauth;
pub mod orgs;
pub mod secrets;
pub mod tokens;
pub mod upstream;
