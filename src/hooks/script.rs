//! Script actions: JavaScript in QuickJS (rquickjs), Auth0's post-login API
//! shape. No `require`, no network, no filesystem, no timers: the context has
//! only the language's own objects. Time (interrupt handler), memory and stack
//! are limited per run. A fresh context per run (no state leaks between runs)
//! on a runtime reused per thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use rquickjs::{Context, Runtime};

use super::ActionResult;

/// Why a script could not be checked or run. The texts are what traces, the
/// dry run and the log show; a start-up check error names the action.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("cannot start the JavaScript engine: {0}")]
    Start(#[source] rquickjs::Error),
    #[error("runtime vanished")]
    RuntimeVanished,
    #[error("engine: {0}")]
    Engine(#[source] rquickjs::Error),
    #[error("action {name}: the script exports neither onExecutePostLogin nor onExecuteCredentialsExchange")]
    NoHandler { name: String },
    #[error("action {name}: the script does not compile: {message}")]
    Compile { name: String, message: String },
    /// What the script threw (or the engine reported), at most 500 characters.
    #[error("{0}")]
    Failed(String),
    #[error("the time limit was exceeded")]
    TimeLimit,
    #[error("bad result: {0}")]
    BadResult(#[source] serde_json::Error),
    #[error("the handler did not finish (a promise never settled)")]
    Unsettled,
}

/// Limits of one script run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub time: Duration,
    pub memory_bytes: usize,
    pub stack_bytes: usize,
}

/// The JavaScript around the user's script: `exports`, the `api` object
/// recording calls, and a driver that awaits the exported handler.
const PRELUDE: &str = r#""use strict";
var exports = {};
var module = { exports: exports };
var __r = { access: {}, id: {}, app_metadata: {}, deny: null, done: false, error: null };
var api = {
  accessToken: { setCustomClaim: function (k, v) { __r.access[String(k)] = v; } },
  idToken: { setCustomClaim: function (k, v) { __r.id[String(k)] = v; } },
  access: { deny: function (reason) { if (__r.deny === null) { __r.deny = String(reason); } } },
  user: { setAppMetadata: function (k, v) { __r.app_metadata[String(k)] = v; } }
};
"#;

fn driver(handler: &str, event_json: &str) -> String {
    format!(
        r#"
var __event = {event_json};
var __exp = module.exports && module.exports.{handler} ? module.exports : exports;
var __f = __exp.{handler};
if (typeof __f !== "function") {{ __r.error = "the script does not export {handler}"; __r.done = true; }}
else {{
  Promise.resolve().then(function () {{ return __f(__event, api); }})
    .then(function () {{ __r.done = true; }}, function (e) {{ __r.error = String(e) + (e && e.stack ? "\n" + e.stack : ""); __r.done = true; }});
}}
"#
    )
}

thread_local! {
    /// One runtime per (thread, action), reused across runs.
    static RUNTIMES: RefCell<HashMap<String, Runtime>> = RefCell::new(HashMap::new());
}

fn with_runtime<T>(
    key: &str,
    limits: Limits,
    f: impl FnOnce(&Runtime) -> T,
) -> Result<T, ScriptError> {
    RUNTIMES.with(|cell| {
        let mut map = cell.borrow_mut();
        if !map.contains_key(key) {
            let rt = Runtime::new().map_err(ScriptError::Start)?;
            rt.set_memory_limit(limits.memory_bytes);
            rt.set_max_stack_size(limits.stack_bytes);
            map.insert(key.to_string(), rt);
        }
        let rt = map.get(key).ok_or(ScriptError::RuntimeVanished)?;
        Ok(f(rt))
    })
}

/// Checks at start-up that the script compiles and exports at least one handler.
pub fn check(name: &str, source: &str, limits: Limits) -> Result<(), ScriptError> {
    let rt = Runtime::new().map_err(ScriptError::Start)?;
    rt.set_memory_limit(limits.memory_bytes);
    rt.set_max_stack_size(limits.stack_bytes);
    let deadline = Instant::now() + Duration::from_secs(2);
    rt.set_interrupt_handler(Some(Box::new(move || Instant::now() > deadline)));
    let ctx = Context::full(&rt).map_err(ScriptError::Engine)?;
    ctx.with(|ctx| {
        let script = format!("{PRELUDE}\n{source}\n;(typeof (module.exports.onExecutePostLogin || exports.onExecutePostLogin) === 'function' || typeof (module.exports.onExecuteCredentialsExchange || exports.onExecuteCredentialsExchange) === 'function')");
        match ctx.eval::<bool, _>(script) {
            Ok(true) => Ok(()),
            Ok(false) => Err(ScriptError::NoHandler {
                name: name.to_string(),
            }),
            Err(_) => {
                let e = ctx.catch();
                let msg = e
                    .as_exception()
                    .map(|x| x.message().unwrap_or_default())
                    .unwrap_or_else(|| format!("{e:?}"));
                Err(ScriptError::Compile {
                    name: name.to_string(),
                    message: msg,
                })
            }
        }
    })
}

/// Runs the script's `handler` with `event`; returns what the api calls recorded.
pub fn run(
    name: &str,
    source: &str,
    handler: &str,
    event: &serde_json::Value,
    limits: Limits,
) -> Result<ActionResult, ScriptError> {
    let event_json = event.to_string();
    with_runtime(name, limits, |rt| {
        let deadline = Instant::now() + limits.time;
        rt.set_interrupt_handler(Some(Box::new(move || Instant::now() > deadline)));
        let ctx = Context::full(rt).map_err(ScriptError::Engine)?;
        let evaluated: Result<(), ScriptError> = ctx.with(|ctx| {
            let script = format!("{PRELUDE}\n{source}\n{}", driver(handler, &event_json));
            ctx.eval::<(), _>(script).map_err(|_| exception(&ctx))
        });
        // Drive promises (async handlers) until none is pending or time is up.
        let mut failure = evaluated.err();
        while failure.is_none() && rt.is_job_pending() {
            if Instant::now() > deadline {
                failure = Some(ScriptError::TimeLimit);
                break;
            }
            if rt.execute_pending_job().is_err() {
                failure = Some(ctx.with(|ctx| exception(&ctx)));
            }
        }
        let out = ctx.with(|ctx| -> Result<String, ScriptError> {
            if let Some(f) = failure {
                return Err(f);
            }
            ctx.eval::<String, _>("JSON.stringify(__r)")
                .map_err(|_| exception(&ctx))
        });
        rt.set_interrupt_handler(None);
        drop(ctx);
        rt.run_gc();
        let out = out.map_err(|e| {
            if Instant::now() > deadline {
                ScriptError::TimeLimit
            } else {
                e
            }
        })?;
        let r: serde_json::Value = serde_json::from_str(&out).map_err(ScriptError::BadResult)?;
        if let Some(err) = r.get("error").and_then(|e| e.as_str()) {
            return Err(ScriptError::Failed(err.chars().take(500).collect()));
        }
        if r.get("done") != Some(&serde_json::Value::Bool(true)) {
            return Err(ScriptError::Unsettled);
        }
        let map = |k: &str| {
            r.get(k)
                .and_then(|v| v.as_object())
                .cloned()
                .unwrap_or_default()
        };
        let app_metadata = map("app_metadata");
        Ok(ActionResult {
            access: map("access"),
            id: map("id"),
            app_metadata: (!app_metadata.is_empty()).then_some(app_metadata),
            deny: r.get("deny").and_then(|d| d.as_str()).map(str::to_string),
        })
    })?
}

fn exception(ctx: &rquickjs::Ctx<'_>) -> ScriptError {
    ScriptError::Failed(exception_message(ctx))
}

fn exception_message(ctx: &rquickjs::Ctx<'_>) -> String {
    let e = ctx.catch();
    if let Some(x) = e.as_exception() {
        let m = x.message().unwrap_or_default();
        if m.is_empty() {
            return "the script was interrupted (time limit)".into();
        }
        return m.chars().take(500).collect();
    }
    if e.is_null() || e.is_undefined() {
        return "out of memory, stack or time".into();
    }
    format!("{e:?}").chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            time: Duration::from_millis(100),
            memory_bytes: 16 * 1024 * 1024,
            stack_bytes: 256 * 1024,
        }
    }

    fn ev() -> serde_json::Value {
        serde_json::json!({"user": {"email": "a@acme.com", "app_metadata": {"plan": "pro"}}, "organization": {"id": "o1"}})
    }

    #[test]
    fn sets_claims_denies_and_metadata() {
        let src = r#"exports.onExecutePostLogin = async (event, api) => {
            api.accessToken.setCustomClaim("https://x.example/plan", event.user.app_metadata.plan);
            api.idToken.setCustomClaim("https://x.example/org", event.organization.id);
            api.user.setAppMetadata("seen", true);
        };"#;
        let r = run("t1", src, "onExecutePostLogin", &ev(), limits()).unwrap();
        assert_eq!(r.access["https://x.example/plan"], "pro");
        assert_eq!(r.id["https://x.example/org"], "o1");
        assert_eq!(r.app_metadata.unwrap()["seen"], true);
        assert!(r.deny.is_none());
        let deny = r#"exports.onExecutePostLogin = async (event, api) => { await Promise.resolve(); api.access.deny("blocked"); };"#;
        assert_eq!(
            run("t2", deny, "onExecutePostLogin", &ev(), limits())
                .unwrap()
                .deny
                .as_deref(),
            Some("blocked")
        );
    }

    #[test]
    fn limits_and_sandbox() {
        let spin = "exports.onExecutePostLogin = async () => { while (true) {} };";
        let started = Instant::now();
        assert!(run("spin", spin, "onExecutePostLogin", &ev(), limits()).is_err());
        assert!(started.elapsed() < Duration::from_secs(2));
        let hog = "exports.onExecutePostLogin = async () => { let a = []; while (true) { a.push(new Array(100000).fill('x')); } };";
        assert!(run("hog", hog, "onExecutePostLogin", &ev(), limits()).is_err());
        let deep = "function f(n) { return f(n + 1) + 1; } exports.onExecutePostLogin = async () => { f(0); };";
        assert!(run("deep", deep, "onExecutePostLogin", &ev(), limits()).is_err());
        for io in [
            "require('fs')",
            "fetch('http://127.0.0.1/')",
            "setTimeout(() => {}, 1)",
            "std.open('/etc/passwd')",
            "os.exec(['ls'])",
        ] {
            let src = format!("exports.onExecutePostLogin = async () => {{ {io}; }};");
            let err = run("io", &src, "onExecutePostLogin", &ev(), limits())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("not defined") || err.contains("ReferenceError"),
                "{io}: {err}"
            );
        }
        // The runtime is still usable after all that.
        let ok = r#"exports.onExecutePostLogin = async (e, api) => { api.accessToken.setCustomClaim("https://x/y", 1); };"#;
        assert!(run("spin", ok, "onExecutePostLogin", &ev(), limits()).is_ok());
        // No state leaks between runs.
        let leak = "var counter = (typeof counter === 'number' ? counter : 0) + 1; exports.onExecutePostLogin = async (e, api) => { api.accessToken.setCustomClaim('https://x/c', counter); };";
        let a = run("leak", leak, "onExecutePostLogin", &ev(), limits()).unwrap();
        let b = run("leak", leak, "onExecutePostLogin", &ev(), limits()).unwrap();
        assert_eq!(a.access["https://x/c"], 1);
        assert_eq!(b.access["https://x/c"], 1);
    }

    #[test]
    fn compile_check() {
        assert!(check(
            "bad",
            "exports.onExecutePostLogin = async (e, api) => {",
            limits()
        )
        .is_err());
        assert!(check("none", "var x = 1;", limits()).is_err());
        assert!(check(
            "good",
            "exports.onExecutePostLogin = async () => {};",
            limits()
        )
        .is_ok());
        let thrown = "exports.onExecutePostLogin = async () => { throw new Error('boom'); };";
        assert!(run("throw", thrown, "onExecutePostLogin", &ev(), limits())
            .unwrap_err()
            .to_string()
            .contains("boom"));
    }
}
