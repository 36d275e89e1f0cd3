//! The one issuance service (SPEC §9). Every way a token set (or the code
//! that becomes one) is issued — a login at `/authorize`, the code exchange,
//! a refresh, an org switch, client credentials, an actions dry run — is one
//! call here:
//!
//! ```text
//! (user, client, org request, trigger, request context)
//!   → built-in stages (provision, auto-enroll, active org, org claims)
//!   → actions (hooks::Pipeline)
//!   → claims → store → audit → TokenPlan → signed TokenResponse
//! ```
//!
//! The grants keep the read-phase / write-phase shape: everything that can
//! refuse a request reads first, the actions run in between, and one write
//! transaction rotates, persists what the actions asked and stores the new
//! tokens. HTTP handlers only extract the request, call one function of
//! [`Issuance`] and map the result (`crate::http::error`); nothing here knows HTTP.
//!
//! * [`login`] — `/authorize` start, upstream completion and the org picker;
//! * [`token`] — the token endpoint's grants, `/api/switch-org`, the dry run;
//! * [`actions`] — running the configured actions and auditing a denial;
//! * [`stages`] — the built-in org stage of user and machine tokens.

pub mod actions;
pub mod login;
pub mod stages;
pub mod token;

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::Settings;
use crate::db::Db;
use crate::hooks::Pipeline;
use crate::metrics::Metrics;
use crate::tokens::keys::KeyStore;

pub use login::{AuthorizeInput, LoginOutcome, LoginResponse};
pub use token::{DryRunError, DryRunInput};

/// Who is asking, as far as the request shows (for audit events and the
/// action event). Built by the HTTP layer from the connection and headers.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The issuance service: cheap to clone (all handles inside are shared).
#[derive(Clone)]
pub struct Issuance {
    settings: Arc<Settings>,
    db: Db,
    keys: KeyStore,
    hooks: Arc<Pipeline>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
}

impl Issuance {
    pub fn new(
        settings: Arc<Settings>,
        db: Db,
        keys: KeyStore,
        hooks: Arc<Pipeline>,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            settings,
            db,
            keys,
            hooks,
            metrics,
            clock,
        }
    }

    fn now(&self) -> chrono::NaiveDateTime {
        self.clock.now_naive()
    }
}
