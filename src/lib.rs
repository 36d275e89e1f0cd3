//! Tessera: a multi-organization OAuth 2.0 / OpenID Connect server.
//!
//! # Layout
//!
//! Modules form layers; each imports only modules of lower layers, so there
//! are no import cycles (`.ci/layering.sh` checks it, and that nothing below
//! the web layer names actix-web).
//!
//! 1. Foundations, importing nothing of ours:
//!    * [`clock`] — the `Clock` trait; `SystemClock` in production, `FixedClock` in tests.
//!    * [`secrets`] — CSPRNG tokens, token hashes, client-secret hashing, constant-time compare.
//!    * [`metrics`] — the Prometheus registry (`prometheus` crate): every family, bounded labels.
//!    * [`email`] — the `Email` newtype (parsed by `email_address`, lowercased), `domain()`.
//! 2. [`config`] — settings: embedded defaults, TOML file, `TESSERA_…` environment (layered
//!    with figment; unknown variables are logged and ignored), validation.
//! 3. [`db`] — `DbConn` (diesel `MultiConnection` over SQLite and PostgreSQL), pool,
//!    embedded migrations, `schema.rs`, `models.rs`, per-backend `dialect`, job `lease`s.
//! 4. Storage-level services, on `db` and `config`:
//!    * [`audit`] — audit events, written in the transaction of the change.
//!    * [`accounts`] — users and identities: find, link by verified email, create, app_metadata.
//!    * [`tokens`] — signing keys (josekit; in files or sealed in the database), JWKS,
//!      token claims, signing and verification.
//!    * [`dns`] — TXT lookups for domain verification (hickory-resolver).
//!    * [`mail`] — the mailer (SMTP through lettre, or the log).
//!    * [`maintenance`] — purging expired transactions, codes, sessions, tokens.
//! 5. [`upstream`] — the `IdentityProvider` trait and the `Connection` names; Google
//!    (openidconnect), GitHub (oauth2), the dev form.
//! 6. [`orgs`] — organizations, members, roles, invitations, domains, the `OrgMember`
//!    proof of membership, and the org claims of tokens. The rules; no protocol, no HTTP.
//! 7. [`oauth`] — the protocol: clients and client auth, grant types, `/authorize`
//!    validation and login transactions, SSO sessions, the grants (read and write
//!    phases), introspection, revocation, RP logout, `OAuthError`.
//! 8. [`hooks`] — the post-login action pipeline: signed webhooks, QuickJS scripts, the event.
//! 9. [`issuance`] — the one issuance service (SPEC §9): every token set (and the code
//!    that becomes one) is issued by one call here: built-in stages → actions →
//!    claims → store → audit → signed response.
//! 10. [`bench`] — the `tessera bench` load generator (an HTTP client of the server).
//! 11. The web layer:
//!    * [`app`] — builds the state (pool, key store, issuance service, …) and the HTTP server.
//!    * [`http`] — thin actix handlers, one file per area: extract, one call, map.
//!      `http/mod.rs` holds the route table; `http/error.rs` is the one place where
//!      domain errors become HTTP responses (OAuth JSON, API JSON, HTML pages);
//!      `http/pages.rs` builds every HTML page with maud (escaping checked at compile
//!      time) and serves their one stylesheet, `assets/tessera.css`, from the binary.
//!
//! The CLI (`serve`, `migrate`, `keys`, …) is `src/main.rs`.

pub mod accounts;
pub mod app;
pub mod audit;
pub mod bench;
pub mod clock;
pub mod config;
pub mod db;
pub mod dns;
pub mod email;
pub mod hooks;
pub mod http;
pub mod issuance;
pub mod mail;
pub mod maintenance;
pub mod metrics;
pub mod oauth;
pub mod orgs;
pub mod secrets;
pub mod tokens;
pub mod upstream;
