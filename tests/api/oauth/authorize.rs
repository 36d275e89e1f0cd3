//! The authorization endpoint: redirect URI matching, errors sent back to the
//! client, and PKCE.

use crate::both_backends;
use crate::helpers::{query_param, spec, Backend, Pkce, TestApp, REDIRECT};

both_backends!(
    redirect_uri_must_match_exactly_and_bad_clients_never_redirect,
    authorize_errors_redirect_with_state,
    pkce_is_mandatory_for_public_clients_and_checked,
    pages_escape_and_use_the_served_stylesheet,
);

async fn redirect_uri_must_match_exactly_and_bad_clients_never_redirect(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let browser = app.browser();
    let pkce = Pkce::new();
    let good = app.authorize_url(&client, &pkce, "openid", "dev");
    for bad in [
        "http://127.0.0.1:9/cb/",
        "http://127.0.0.1:9/cb?x=1",
        "http://127.0.0.1:9/c",
        "http://127.0.0.1:9/cbx",
        "http://127.0.0.1:10/cb",
        "https://127.0.0.1:9/cb",
        "http://evil.example/cb",
    ] {
        let url = good.replace(
            &format!("redirect_uri={}", pages_qs(REDIRECT)),
            &format!("redirect_uri={}", pages_qs(bad)),
        );
        assert_ne!(url, good);
        let res = browser.get(&url).await;
        assert_eq!(res.status(), 400, "{bad}");
        assert!(
            res.headers().get("location").is_none(),
            "never redirect to {bad}"
        );
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
    }
    let unknown = good.replace("client_id=web", "client_id=nobody");
    let res = browser.get(&unknown).await;
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    // Repeated client_id is refused without redirecting too.
    let res = browser.get(&format!("{good}&client_id=web")).await;
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    // The exact URI works.
    assert_eq!(browser.get(&good).await.status(), 303);
}

fn pages_qs(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn authorize_errors_redirect_with_state(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let browser = app.browser();
    let pkce = Pkce::new();
    let base = app.authorize_url(&client, &pkce, "openid", "");
    for (change, error) in [
        (
            ("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (("scope=openid", "scope=openid+admin"), "invalid_scope"),
        (
            ("scope=openid", "scope=openid&connection=nope"),
            "invalid_request",
        ),
        (
            ("scope=openid", "scope=openid&max_age=-1"),
            "invalid_request",
        ),
        (
            ("scope=openid", "scope=openid&prompt=none+login"),
            "invalid_request",
        ),
        (
            ("scope=openid", "scope=openid&audience=https%3A%2F%2Fother"),
            "invalid_target",
        ),
    ] {
        let url = base.replace(change.0, change.1);
        let res = browser.get(&url).await;
        assert_eq!(res.status(), 303, "{change:?}");
        let loc = res.headers()["location"].to_str().unwrap();
        assert!(loc.starts_with(REDIRECT), "{loc}");
        assert_eq!(
            query_param(loc, "error").as_deref(),
            Some(error),
            "{change:?} -> {loc}"
        );
        assert!(query_param(loc, "error_description").is_some());
        assert_eq!(query_param(loc, "state").as_deref(), Some("st4te"));
    }
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM login_transactions")
            .await,
        0,
        "errors change nothing"
    );
}

async fn pkce_is_mandatory_for_public_clients_and_checked(b: Backend) {
    let app = TestApp::spawn(b).await;
    let mut s = spec("spa");
    s.public = true;
    let spa = app.register(s).await;
    let browser = app.browser();
    let pkce = Pkce::new();
    let url = app.authorize_url(&spa, &pkce, "openid", "dev");
    // Missing challenge.
    let no_pkce = url.split("&code_challenge=").next().unwrap().to_string() + "&connection=dev";
    let loc = browser.dev_login(&no_pkce, "a@example.com", true).await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("invalid_request")
    );
    // plain is refused.
    let plain = url.replace("code_challenge_method=S256", "code_challenge_method=plain");
    let loc = browser.dev_login(&plain, "a@example.com", true).await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("invalid_request")
    );
    assert!(query_param(&loc, "error_description")
        .unwrap()
        .contains("plain"));
    // Wrong and missing verifier.
    let loc = browser.dev_login(&url, "a@example.com", true).await;
    let code = query_param(&loc, "code").unwrap();
    let wrong = Pkce::new();
    let res = app
        .token(
            &spa,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &wrong.verifier),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let res = app
        .token(
            &spa,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    // A failed verification does not burn the code: the right verifier still works.
    let tokens = app.exchange(&spa, &code, &pkce).await;
    assert!(tokens.id_token.is_some());
    // A public client presenting a secret is refused.
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth("spa", Some("whatever"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

/// The hosted pages escape what they show, load their look from the binary's
/// stylesheet, and need no inline style or script (strict CSP).
async fn pages_escape_and_use_the_served_stylesheet(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let browser = app.browser();
    let pkce = Pkce::new();
    let url = format!(
        "{}&login_hint={}",
        app.authorize_url(&client, &pkce, "openid", "dev"),
        pages_qs(r#"<script>"x'@e.com"#)
    );
    let res = browser.get(&url).await;
    assert_eq!(res.status(), 303);
    let form = browser
        .get(res.headers()["location"].to_str().unwrap())
        .await;
    assert_eq!(form.status(), 200);
    let csp = form.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("style-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let html = form.text().await.unwrap();
    assert!(
        html.contains(r#"value="&lt;script&gt;&quot;x'@e.com""#),
        "{html}"
    );
    assert!(
        !html.contains("<script") && !html.contains("<style"),
        "{html}"
    );
    assert!(
        html.contains(r#"<link rel="stylesheet" href="/assets/tessera.css">"#),
        "{html}"
    );
    let css = browser.get("/assets/tessera.css").await;
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(css.headers()["x-content-type-options"], "nosniff");
    let css = css.text().await.unwrap();
    assert!(
        css.contains(".warning{") && css.contains("a.button,button{"),
        "{css}"
    );
}
