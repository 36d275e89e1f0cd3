//! Post-login actions: a real webhook receiver on 127.0.0.1 that checks the
//! signature, and script actions from files.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tessera::config::{ActionConfig, SecretString, Settings};

use crate::both_backends;
use crate::helpers::{
    claims, org_claim, query_param, refresh, spec, Backend, Pkce, TestApp, TestClient, Tokens,
};

both_backends!(
    webhook_adds_claims_at_login_refresh_and_switch,
    webhook_deny_at_login_and_refresh,
    webhook_failures_follow_on_error,
    wrong_signature_secret_is_detected,
    script_claims_deny_and_app_metadata,
    auth0_action_runs_unchanged,
    forbidden_claims_are_action_errors,
    credentials_exchange_trigger,
    dry_run_matches_a_real_login,
);

const SECRET: &str = "hook-secret-0123456789";

#[derive(Clone)]
enum Mode {
    Reply(Value),
    Status(u16),
    Sleep(u64),
}

struct Receiver {
    url: String,
    mode: Arc<Mutex<Mode>>,
    events: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    fn set(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }
    fn last(&self) -> Value {
        self.events
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or(Value::Null)
    }
}

fn start_receiver() -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/hook",
        listener.local_addr().unwrap().port()
    );
    let mode = Arc::new(Mutex::new(Mode::Reply(json!({}))));
    let events: Arc<Mutex<Vec<Value>>> = Arc::default();
    let (m, e) = (mode.clone(), events.clone());
    let server = HttpServer::new(move || {
        let (m, e) = (m.clone(), e.clone());
        App::new().route(
            "/hook",
            web::post().to(move |req: HttpRequest, body: web::Bytes| {
                let (m, e) = (m.clone(), e.clone());
                async move {
                    // Verify Tessera-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">.
                    let header = req
                        .headers()
                        .get("tessera-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    let t = header
                        .split(',')
                        .find_map(|p| p.strip_prefix("t="))
                        .unwrap_or("");
                    let v1 = header
                        .split(',')
                        .find_map(|p| p.strip_prefix("v1="))
                        .unwrap_or("");
                    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
                    mac.update(format!("{t}.").as_bytes());
                    mac.update(&body);
                    let expected = hex::encode(mac.finalize().into_bytes());
                    if expected != v1 {
                        return HttpResponse::Unauthorized().body("bad signature");
                    }
                    e.lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                    let mode = m.lock().unwrap().clone();
                    match mode {
                        Mode::Reply(v) => HttpResponse::Ok().json(v),
                        Mode::Status(s) => {
                            HttpResponse::build(actix_web::http::StatusCode::from_u16(s).unwrap())
                                .body("oops")
                        }
                        Mode::Sleep(ms) => {
                            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                            HttpResponse::Ok().json(json!({}))
                        }
                    }
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    Receiver { url, mode, events }
}

fn action(name: &str, kind: &str) -> ActionConfig {
    ActionConfig {
        name: name.into(),
        kind: kind.parse().unwrap(),
        triggers: vec!["post_login".parse().unwrap()],
        on_error: "deny".parse().unwrap(),
        url: None,
        secret: None,
        timeout_ms: 300,
        script: None,
        time_limit_ms: 200,
        memory_limit_bytes: 16 * 1024 * 1024,
        stack_limit_bytes: 256 * 1024,
        secrets: Default::default(),
    }
}

fn webhook(url: &str, on_error: &str, secret: &str) -> ActionConfig {
    let mut a = action("hook", "webhook");
    a.url = Some(url.into());
    a.secret = Some(SecretString::new(secret));
    a.on_error = on_error.parse().unwrap();
    a
}

fn script(dir: &std::path::Path, name: &str, source: &str) -> ActionConfig {
    let path = dir.join(format!("{name}.js"));
    std::fs::write(&path, source).unwrap();
    let mut a = action(name, "script");
    a.script = Some(path);
    a
}

async fn app_with(b: Backend, actions: Vec<ActionConfig>) -> (TestApp, TestClient) {
    let app = TestApp::spawn_with(b, move |s: &mut Settings| s.actions = actions).await;
    let client = app.web_client().await;
    (app, client)
}

async fn login_result(app: &TestApp, client: &TestClient, email: &str) -> Result<Tokens, String> {
    let pkce = Pkce::new();
    let loc = app
        .browser()
        .dev_login(
            &app.authorize_url(client, &pkce, "openid email orgs offline_access", "dev"),
            email,
            true,
        )
        .await;
    match query_param(&loc, "code") {
        Some(code) => Ok(app.exchange(client, &code, &pkce).await),
        None => {
            assert_eq!(
                query_param(&loc, "error").as_deref(),
                Some("access_denied"),
                "{loc}"
            );
            Err(query_param(&loc, "error_description").unwrap_or_default())
        }
    }
}

async fn webhook_adds_claims_at_login_refresh_and_switch(b: Backend) {
    let rx = start_receiver();
    let (app, client) = app_with(b, vec![webhook(&rx.url, "deny", SECRET)]).await;
    rx.set(Mode::Reply(json!({
        "access_token_claims": {"https://hooks.example/plan": "pro"},
        "id_token_claims": {"https://hooks.example/greeting": "hi"},
    })));
    let t = login_result(&app, &client, "wh@example.com").await.unwrap();
    assert_eq!(claims(&t.access_token)["https://hooks.example/plan"], "pro");
    assert_eq!(
        claims(t.id_token.as_deref().unwrap())["https://hooks.example/greeting"],
        "hi"
    );
    assert!(claims(&t.access_token)
        .get("https://hooks.example/greeting")
        .is_none());
    let ev = rx.last();
    assert_eq!(ev["trigger"], "post_login");
    assert_eq!(ev["transaction"]["kind"], "login");
    assert_eq!(ev["user"]["email"], "wh@example.com");
    assert_eq!(ev["client"]["client_id"], "web");
    assert_eq!(ev["organization"]["role"], "owner");
    assert_eq!(ev["connection"], "dev");
    assert!(ev["memberships"].as_array().unwrap().len() == 1);
    // Tokens verify with the JWKS.
    assert!(app.state.keys.verify(&t.access_token).is_ok());
    // Refresh runs the actions again.
    rx.set(Mode::Reply(
        json!({"access_token_claims": {"https://hooks.example/plan": "enterprise"}}),
    ));
    let t2: Tokens = refresh(&app, &client, &t, None).await.json().await.unwrap();
    assert_eq!(
        claims(&t2.access_token)["https://hooks.example/plan"],
        "enterprise"
    );
    assert_eq!(rx.last()["transaction"]["kind"], "refresh");
    // Switch: the event carries the new org.
    let (_, org) = app
        .api(
            "POST",
            "/api/orgs",
            Some(&t2.access_token),
            Some(json!({"name": "Next", "slug": "next"})),
        )
        .await;
    let t3: Tokens = refresh(&app, &client, &t2, Some("next"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(org_claim(&app, &t3.access_token, "org_slug"), "next");
    let ev = rx.last();
    assert_eq!(ev["transaction"]["kind"], "switch");
    assert_eq!(ev["organization"]["id"], org["id"]);
    assert_eq!(ev["request"]["organization"], "next");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"tessera_action_runs_total{action="hook",outcome="continue"} 3"#),
        "{metrics}"
    );
}

async fn webhook_deny_at_login_and_refresh(b: Backend) {
    let rx = start_receiver();
    let (app, client) = app_with(b, vec![webhook(&rx.url, "deny", SECRET)]).await;
    rx.set(Mode::Reply(json!({"deny": "Not on the list"})));
    let err = login_result(&app, &client, "no@example.com")
        .await
        .unwrap_err();
    assert_eq!(err, "Not on the list");
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'login_denied'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM authorization_codes")
            .await,
        0,
        "the code was withdrawn"
    );
    rx.set(Mode::Reply(json!({})));
    let t = login_result(&app, &client, "yes@example.com")
        .await
        .unwrap();
    rx.set(Mode::Reply(json!({"deny": "Subscription ended"})));
    let res = refresh(&app, &client, &t, None).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_description"], "Subscription ended");
    // The denial changed nothing: once allowed again, the same refresh token works.
    rx.set(Mode::Reply(json!({})));
    assert_eq!(refresh(&app, &client, &t, None).await.status(), 200);
}

async fn webhook_failures_follow_on_error(b: Backend) {
    let rx = start_receiver();
    for (mode, on_error, ok) in [
        (Mode::Status(500), "deny", false),
        (Mode::Status(500), "continue", true),
        (Mode::Sleep(1000), "deny", false),
        (Mode::Sleep(1000), "continue", true),
        (Mode::Reply(json!("not an object")), "deny", false),
    ] {
        let (app, client) = app_with(b, vec![webhook(&rx.url, on_error, SECRET)]).await;
        rx.set(mode);
        let r = login_result(&app, &client, "f@example.com").await;
        assert_eq!(r.is_ok(), ok, "{on_error}: {r:?}");
    }
    // An unreachable URL.
    let (app, client) = app_with(b, vec![webhook("http://127.0.0.1:9/hook", "deny", SECRET)]).await;
    assert!(login_result(&app, &client, "u@example.com").await.is_err());
}

async fn wrong_signature_secret_is_detected(b: Backend) {
    let rx = start_receiver();
    let (app, client) = app_with(b, vec![webhook(&rx.url, "deny", "some-other-secret")]).await;
    assert!(login_result(&app, &client, "sig@example.com")
        .await
        .is_err());
    assert!(
        rx.events.lock().unwrap().is_empty(),
        "the receiver refused the unsigned event"
    );
}

async fn script_claims_deny_and_app_metadata(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let first = script(
        dir.path(),
        "count",
        r#"
        exports.onExecutePostLogin = async (event, api) => {
          const n = (event.user.app_metadata.logins_seen || 0) + 1;
          api.user.setAppMetadata("logins_seen", n);
          if (event.user.email === "blocked@example.com") { api.access.deny("blocked by script"); }
        };"#,
    );
    let second = script(
        dir.path(),
        "claims",
        r#"
        exports.onExecutePostLogin = async (event, api) => {
          // Runs after "count" and sees what it set.
          api.accessToken.setCustomClaim("https://s.example/seen", event.user.app_metadata.logins_seen);
          api.idToken.setCustomClaim("https://s.example/org", event.organization ? event.organization.slug : null);
        };"#,
    );
    let (app, client) = app_with(b, vec![first, second]).await;
    let t = login_result(&app, &client, "s@example.com").await.unwrap();
    assert_eq!(claims(&t.access_token)["https://s.example/seen"], 1);
    assert!(claims(t.id_token.as_deref().unwrap())["https://s.example/org"].is_string());
    // app_metadata was persisted and the next run sees it.
    let t2: Tokens = refresh(&app, &client, &t, None).await.json().await.unwrap();
    assert_eq!(claims(&t2.access_token)["https://s.example/seen"], 2);
    assert!(login_result(&app, &client, "blocked@example.com")
        .await
        .unwrap_err()
        .contains("blocked by script"));
    // Infinite loops and huge allocations are stopped; with on_error=deny the login is refused.
    for body in [
        "while (true) {}",
        "let a = []; while (true) { a.push(new Array(1e5).fill(1)); }",
        "require('fs');",
    ] {
        let bad = script(
            dir.path(),
            "bad",
            &format!("exports.onExecutePostLogin = async () => {{ {body} }};"),
        );
        let (app, client) = app_with(b, vec![bad]).await;
        assert!(
            login_result(&app, &client, "x@example.com").await.is_err(),
            "{body}"
        );
    }
}

async fn auth0_action_runs_unchanged(b: Backend) {
    let mut a = action("auth0", "script");
    a.script = Some(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/actions/auth0-post-login.js"),
    );
    let (app, client) = app_with(b, vec![a]).await;
    let t = login_result(&app, &client, "a0@example.com").await.unwrap();
    let c = claims(&t.access_token);
    assert_eq!(c["https://myapp.example.com/roles"], json!([]));
    assert_eq!(c["https://myapp.example.com/email"], "a0@example.com");
    assert!(c["https://myapp.example.com/org_name"].is_string());
    assert_eq!(
        claims(t.id_token.as_deref().unwrap())["https://myapp.example.com/roles"],
        json!([])
    );
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM users WHERE app_metadata LIKE '%last_login_client%'")
            .await,
        1
    );
}

async fn forbidden_claims_are_action_errors(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    for (claim, on_error, ok) in [
        ("sub", "deny", false),
        ("plain_name", "deny", false),
        ("sub", "continue", true),
    ] {
        let mut s = script(dir.path(), "c", &format!("exports.onExecutePostLogin = async (e, api) => {{ api.accessToken.setCustomClaim('{claim}', 'x'); }};"));
        s.on_error = on_error.parse().unwrap();
        let (app, client) = app_with(b, vec![s]).await;
        let r = login_result(&app, &client, "c@example.com").await;
        assert_eq!(r.is_ok(), ok, "{claim} {on_error}");
        if let Ok(t) = r {
            assert_ne!(claims(&t.access_token)["sub"], "x", "never overridden");
        }
    }
    // Claims are bounded in size per token.
    let big = script(dir.path(), "big", "exports.onExecutePostLogin = async (e, api) => { api.accessToken.setCustomClaim('https://big.example/x', 'y'.repeat(5000)); };");
    let (app, client) = app_with(b, vec![big]).await;
    assert!(login_result(&app, &client, "big@example.com")
        .await
        .unwrap_err()
        .contains("limit"));
    // The org claims are reserved too.
    let ns_claim = "org_id";
    let s = script(dir.path(), "o", &format!("exports.onExecutePostLogin = async (e, api) => {{ api.accessToken.setCustomClaim('http://127.0.0.1:' + 'x/{ns_claim}', 'x'); }};"));
    let (app, client) = app_with(b, vec![s]).await;
    // A URL claim (different host) is allowed; the real org claim is untouched.
    let t = login_result(&app, &client, "o@example.com").await.unwrap();
    assert_ne!(org_claim(&app, &t.access_token, "org_id"), "x");
}

async fn credentials_exchange_trigger(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = script(
        dir.path(),
        "m2m",
        r#"
        exports.onExecuteCredentialsExchange = async (event, api) => {
          if (event.client.client_id === "denied-m2m") { api.access.deny("no machines today"); return; }
          api.accessToken.setCustomClaim("https://m2m.example/tier", "gold");
        };"#,
    );
    s.triggers = vec!["credentials_exchange".parse().unwrap()];
    let (app, _client) = app_with(b, vec![s]).await;
    let mut sp = spec("m2m");
    sp.grant_types = vec!["client_credentials".into()];
    sp.scopes = vec!["reports:read".into()];
    let m2m = app.register(sp.clone()).await;
    let t: Tokens = app
        .token(&m2m, &[("grant_type", "client_credentials")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(claims(&t.access_token)["https://m2m.example/tier"], "gold");
    sp.client_id = "denied-m2m".into();
    let denied = app.register(sp).await;
    let body: Value = app
        .token(&denied, &[("grant_type", "client_credentials")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["error"], "unauthorized_client");
    assert_eq!(body["error_description"], "no machines today");
}

async fn dry_run_matches_a_real_login(b: Backend) {
    let rx = start_receiver();
    rx.set(Mode::Reply(json!({"access_token_claims": {"https://hooks.example/x": 1}, "id_token_claims": {"https://hooks.example/y": 2}})));
    let (app, client) = app_with(b, vec![webhook(&rx.url, "deny", SECRET)]).await;
    let t = login_result(&app, &client, "dry@example.com")
        .await
        .unwrap();
    let mut sp = spec("ops");
    sp.grant_types = vec!["client_credentials".into()];
    sp.scopes = vec!["manage".into()];
    let ops = app.register(sp).await;
    let admin: Tokens = app
        .token(
            &ops,
            &[("grant_type", "client_credentials"), ("scope", "manage")],
        )
        .await
        .json()
        .await
        .unwrap();
    let calls_before = rx.events.lock().unwrap().len();
    let sub = claims(&t.access_token)["sub"].as_str().unwrap().to_string();
    let (s, r) = app
        .api(
            "POST",
            "/api/admin/hooks/dry-run",
            Some(&admin.access_token),
            Some(json!({"user_id": sub, "client_id": "web"})),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["allowed"], true);
    assert_eq!(
        r["access_token_claims"]["https://hooks.example/x"],
        claims(&t.access_token)["https://hooks.example/x"]
    );
    assert_eq!(r["id_token_claims"]["https://hooks.example/y"], 2);
    assert_eq!(r["actions"][0]["action"], "hook");
    assert!(r["actions"][0]["duration_ms"].is_number());
    assert_eq!(rx.events.lock().unwrap().len(), calls_before + 1);
    // Nothing was written: no new codes or tokens.
    let tokens = app.count("SELECT COUNT(*) AS n FROM refresh_tokens").await;
    rx.set(Mode::Reply(json!({"deny": "nope"})));
    let (_, r) = app
        .api(
            "POST",
            "/api/admin/hooks/dry-run",
            Some(&admin.access_token),
            Some(json!({"event": {"user": {"email": "x"}}})),
        )
        .await;
    assert_eq!(r["allowed"], false);
    assert_eq!(r["denied"]["reason"], "nope");
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM refresh_tokens").await,
        tokens
    );
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'login_denied'")
            .await,
        0
    );
    // User tokens cannot dry-run.
    assert_eq!(
        app.api(
            "POST",
            "/api/admin/hooks/dry-run",
            Some(&t.access_token),
            Some(json!({"event": {}}))
        )
        .await
        .0,
        403
    );
}

#[tokio::test]
async fn a_script_that_does_not_compile_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(
        dir.path(),
        "broken",
        "exports.onExecutePostLogin = async (e, api) => {",
    );
    let mut settings =
        crate::helpers::base_settings(dir.path(), &dir.path().join("t.db").display().to_string());
    settings.actions = vec![s];
    let clock = std::sync::Arc::new(tessera::clock::FixedClock::starting_now());
    let err = match tessera::app::AppState::build(settings, clock).await {
        Ok(_) => panic!("must not start"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("action broken") && err.contains("does not compile"),
        "{err}"
    );
}
