//! The post-login hook pipeline ("actions", SPEC §4).
//!
//! The built-in stages (provision user and identity → auto-enroll by verified
//! domain → resolve the active org → org claims) run in the login and grant
//! code; then the configured actions run here, in config order. Each returns
//! claims for the access and ID tokens, app_metadata changes, or a denial.
//! An action's failure (error, timeout, a forbidden claim) is handled by its
//! `on_error`: `deny` refuses the login, `continue` skips the action.

pub mod event;
pub mod script;
pub mod webhook;

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::{ActionConfig, ActionKind, OnError, Settings};
use crate::metrics::Metrics;
use crate::tokens::issue::REGISTERED_CLAIMS;

pub use crate::config::Trigger;

/// The exported function of a script action that handles `trigger`.
fn handler(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::PostLogin => "onExecutePostLogin",
        Trigger::CredentialsExchange => "onExecuteCredentialsExchange",
    }
}

/// Why the pipeline cannot be assembled (serve refuses to start).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Client(#[from] webhook::WebhookError),
    #[error("actions: the name `{0}` is used twice")]
    DuplicateName(String),
    #[error("action {name}: {problem}")]
    Action {
        name: String,
        problem: ActionProblem,
    },
    /// The script does not compile or exports no handler (names the action).
    #[error(transparent)]
    Script(#[from] script::ScriptError),
}

/// What is wrong with one `[[actions]]` entry.
#[derive(Debug, thiserror::Error)]
pub enum ActionProblem {
    #[error("a webhook needs url")]
    MissingUrl,
    #[error("url: {0}")]
    BadUrl(#[from] url::ParseError),
    #[error("url must be http or https")]
    UrlScheme,
    #[error("a webhook needs secret")]
    MissingSecret,
    #[error("a script action needs script (a file)")]
    MissingScript,
    #[error("{path}: {source}")]
    ReadScript {
        path: String,
        source: std::io::Error,
    },
}

/// A claim an action may not set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("the claim `{0}` is reserved and cannot be set by an action")]
    Reserved(String),
    #[error("the claim `{name}` must be a URL or start with the namespace `{namespace}`")]
    NotNamespaced { name: String, namespace: String },
}

/// Why one action run failed; handled by the action's `on_error`. Its text
/// goes into [`ActionTrace::error`] and the log.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Webhook(#[from] webhook::WebhookError),
    #[error(transparent)]
    Script(#[from] script::ScriptError),
    #[error(transparent)]
    Claim(#[from] ClaimError),
    #[error("the script task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// What one action asked for.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ActionResult {
    pub access: Map<String, Value>,
    pub id: Map<String, Value>,
    pub app_metadata: Option<Map<String, Value>>,
    pub deny: Option<String>,
}

/// What the pipeline asks of the token code.
#[derive(Debug, Default, Clone, Serialize)]
pub struct HookOutput {
    pub access_token_claims: Map<String, Value>,
    pub id_token_claims: Map<String, Value>,
    /// app_metadata keys to set on the user (merged, top level).
    pub app_metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Denied {
    pub action: String,
    pub reason: String,
}

/// One action run, for traces, metrics and the dry-run.
#[derive(Debug, Clone, Serialize)]
pub struct ActionTrace {
    pub action: String,
    pub kind: &'static str,
    pub outcome: &'static str,
    pub duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub access_token_claims: Map<String, Value>,
    pub id_token_claims: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_metadata: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deny: Option<String>,
}

#[derive(Clone)]
enum Kind {
    Webhook(webhook::Webhook),
    Script {
        source: Arc<str>,
        limits: script::Limits,
    },
}

#[derive(Clone)]
struct Action {
    name: String,
    kind: Kind,
    triggers: Vec<Trigger>,
    on_error: OnError,
    /// Plaintext (the action sees them as `event.secrets`): never in `Debug`.
    secrets: Map<String, Value>,
}

impl Kind {
    fn of(&self) -> ActionKind {
        match self {
            Self::Webhook(_) => ActionKind::Webhook,
            Self::Script { .. } => ActionKind::Script,
        }
    }
}

impl fmt::Debug for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Webhook(w) => f.debug_tuple("Webhook").field(w).finish(),
            Self::Script { source, limits } => f
                .debug_struct("Script")
                .field("source_bytes", &source.len())
                .field("limits", limits)
                .finish(),
        }
    }
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Action")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("triggers", &self.triggers)
            .field("on_error", &self.on_error)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The configured actions, assembled once at start-up.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    actions: Vec<Action>,
    namespace: String,
    reserved: Vec<String>,
    max_claims_bytes: usize,
}

impl Pipeline {
    /// Builds the pipeline; a script that does not compile or a bad webhook
    /// URL is an error naming the action (serve refuses to start).
    pub fn build(settings: &Settings, config_dir: Option<&Path>) -> Result<Self, BuildError> {
        let http = webhook::client()?;
        let mut actions = Vec::new();
        let mut names = std::collections::HashSet::new();
        for a in &settings.actions {
            if !names.insert(a.name.clone()) {
                return Err(BuildError::DuplicateName(a.name.clone()));
            }
            actions.push(Self::action(a, &http, config_dir)?);
        }
        let mut reserved: Vec<String> = REGISTERED_CLAIMS.iter().map(|s| s.to_string()).collect();
        reserved.extend(crate::orgs::claims::org_claim_names(settings));
        Ok(Self {
            actions,
            namespace: settings.namespace(),
            reserved,
            max_claims_bytes: settings.hooks.max_claims_bytes,
        })
    }

    fn action(
        a: &ActionConfig,
        http: &reqwest::Client,
        config_dir: Option<&Path>,
    ) -> Result<Action, BuildError> {
        let err = |problem: ActionProblem| BuildError::Action {
            name: a.name.clone(),
            problem,
        };
        let kind = match a.kind {
            ActionKind::Webhook => {
                let url = a
                    .url
                    .clone()
                    .ok_or_else(|| err(ActionProblem::MissingUrl))?;
                let parsed = url::Url::parse(&url).map_err(|e| err(e.into()))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(err(ActionProblem::UrlScheme));
                }
                let secret = a
                    .secret
                    .clone()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| err(ActionProblem::MissingSecret))?;
                Kind::Webhook(webhook::Webhook {
                    url,
                    secret,
                    timeout: Duration::from_millis(a.timeout_ms.max(1)),
                    http: http.clone(),
                })
            }
            ActionKind::Script => {
                let path = a
                    .script
                    .clone()
                    .ok_or_else(|| err(ActionProblem::MissingScript))?;
                let path = match (path.is_relative(), config_dir) {
                    (true, Some(dir)) if !path.exists() => dir.join(path),
                    _ => path,
                };
                let source = std::fs::read_to_string(&path).map_err(|source| {
                    err(ActionProblem::ReadScript {
                        path: path.display().to_string(),
                        source,
                    })
                })?;
                let limits = script::Limits {
                    time: Duration::from_millis(a.time_limit_ms.max(1)),
                    memory_bytes: a.memory_limit_bytes.max(1024 * 1024),
                    stack_bytes: a.stack_limit_bytes.max(64 * 1024),
                };
                script::check(&a.name, &source, limits)?;
                Kind::Script {
                    source: Arc::from(source),
                    limits,
                }
            }
        };
        Ok(Action {
            name: a.name.clone(),
            kind,
            triggers: a.triggers.clone(),
            on_error: a.on_error,
            secrets: a
                .secrets
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.expose())))
                .collect(),
        })
    }

    pub fn has(&self, trigger: Trigger) -> bool {
        self.actions.iter().any(|a| a.triggers.contains(&trigger))
    }

    /// A claim an action may set: a URL, or a name under the namespace; never
    /// a registered or org claim. Values are bounded in size per token.
    fn check_claims(&self, claims: &Map<String, Value>) -> Result<(), ClaimError> {
        for name in claims.keys() {
            if self.reserved.iter().any(|r| r == name) {
                return Err(ClaimError::Reserved(name.clone()));
            }
            let namespaced = (!self.namespace.is_empty() && name.starts_with(&self.namespace))
                || name.contains("://");
            if !namespaced {
                return Err(ClaimError::NotNamespaced {
                    name: name.clone(),
                    namespace: self.namespace.clone(),
                });
            }
        }
        Ok(())
    }

    /// Runs every action of `trigger` in order. Each sees the event with its
    /// own `secrets` and the `app_metadata` earlier actions set.
    pub async fn run(
        &self,
        trigger: Trigger,
        mut event: Value,
        metrics: &Metrics,
    ) -> (Result<HookOutput, Denied>, Vec<ActionTrace>) {
        let mut out = HookOutput::default();
        let mut traces = Vec::new();
        for action in self
            .actions
            .iter()
            .filter(|a| a.triggers.contains(&trigger))
        {
            if let Some(obj) = event.as_object_mut() {
                obj.insert("secrets".into(), Value::Object(action.secrets.clone()));
            }
            let started = Instant::now();
            let span =
                tracing::info_span!("action", name = %action.name, trigger = trigger.as_str());
            let result = {
                let _enter = span.enter();
                self.run_one(action, trigger, &event).await
            };
            let result = result.and_then(|r| {
                self.check_claims(&r.access)?;
                self.check_claims(&r.id)?;
                Ok(r)
            });
            let elapsed = started.elapsed().as_secs_f64();
            let kind = action.kind.of().as_str();
            let (outcome, error) = match &result {
                Ok(r) if r.deny.is_some() => ("deny", None),
                Ok(_) => ("continue", None),
                Err(e) => match action.on_error {
                    OnError::Continue => ("error_continue", Some(e.to_string())),
                    OnError::Deny => ("error_deny", Some(e.to_string())),
                },
            };
            metrics.action_run(&action.name, outcome, elapsed);
            if let Some(e) = &error {
                tracing::warn!(action = %action.name, error = %e, "action failed");
            }
            let r = result.unwrap_or_default();
            traces.push(ActionTrace {
                action: action.name.clone(),
                kind,
                outcome,
                duration_ms: elapsed * 1000.0,
                error: error.clone(),
                access_token_claims: r.access.clone(),
                id_token_claims: r.id.clone(),
                app_metadata: r.app_metadata.clone(),
                deny: r.deny.clone(),
            });
            if outcome == "error_deny" {
                return (
                    Err(Denied {
                        action: action.name.clone(),
                        reason: format!("the {} action failed", action.name),
                    }),
                    traces,
                );
            }
            if let Some(reason) = r.deny {
                return (
                    Err(Denied {
                        action: action.name.clone(),
                        reason,
                    }),
                    traces,
                );
            }
            out.access_token_claims.extend(r.access);
            out.id_token_claims.extend(r.id);
            if let Some(meta) = r.app_metadata {
                if let Some(user_meta) = event
                    .pointer_mut("/user/app_metadata")
                    .and_then(|m| m.as_object_mut())
                {
                    user_meta.extend(meta.clone());
                }
                out.app_metadata.get_or_insert_with(Map::new).extend(meta);
            }
        }
        for (token, claims) in [
            ("access", &out.access_token_claims),
            ("ID", &out.id_token_claims),
        ] {
            let size = Value::Object(claims.clone()).to_string().len();
            if size > self.max_claims_bytes {
                return (
                    Err(Denied {
                        action: "pipeline".into(),
                        reason: format!(
                            "actions added {size} bytes of {token} token claims (limit {})",
                            self.max_claims_bytes
                        ),
                    }),
                    traces,
                );
            }
        }
        (Ok(out), traces)
    }

    async fn run_one(
        &self,
        action: &Action,
        trigger: Trigger,
        event: &Value,
    ) -> Result<ActionResult, ActionError> {
        match &action.kind {
            Kind::Webhook(w) => Ok(w.call(event).await?),
            Kind::Script { source, limits } => {
                let (name, source, limits, event) =
                    (action.name.clone(), source.clone(), *limits, event.clone());
                let handler = handler(trigger);
                let run = tokio::task::spawn_blocking(move || {
                    script::run(&name, &source, handler, &event, limits)
                });
                Ok(run.await??)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretString;

    #[test]
    fn debug_never_shows_secrets() {
        let mut a: ActionConfig =
            toml::from_str("name = 'crm'\nkind = 'webhook'\nurl = 'https://hooks.example.com/'\n")
                .unwrap();
        a.secret = Some(SecretString::new("hmac-key-123"));
        a.secrets
            .insert("API_KEY".into(), SecretString::new("api-key-456"));
        let settings = Settings {
            actions: vec![a],
            ..Settings::default()
        };
        let pipeline = Pipeline::build(&settings, None).unwrap();
        let dbg = format!("{pipeline:?}");
        assert!(!dbg.contains("hmac-key-123"), "{dbg}");
        assert!(!dbg.contains("api-key-456"), "{dbg}");
        assert!(dbg.contains("crm") && dbg.contains("API_KEY"), "{dbg}");
    }

    #[test]
    fn build_errors_name_the_action() {
        let a: ActionConfig = toml::from_str("name = 'crm'\nkind = 'webhook'\n").unwrap();
        let mut settings = Settings {
            actions: vec![a.clone()],
            ..Settings::default()
        };
        let err = Pipeline::build(&settings, None).unwrap_err();
        assert_eq!(err.to_string(), "action crm: a webhook needs url");
        let mut ok = a;
        ok.url = Some("https://hooks.example.com/".into());
        ok.secret = Some(SecretString::new("k"));
        settings.actions = vec![ok.clone(), ok];
        let err = Pipeline::build(&settings, None).unwrap_err();
        assert_eq!(err.to_string(), "actions: the name `crm` is used twice");
    }
}
