//! The authorization-code and refresh-token grants: single use, expiry,
//! rotation, reuse detection, down-scoping, concurrency.

use super::introspect;
use crate::both_backends;
use crate::helpers::{claims, query_param, spec, Backend, Pkce, TestApp, REDIRECT};

both_backends!(
    code_replay_revokes_issued_tokens,
    code_expires_after_a_minute,
    refresh_rotation_and_reuse_detection,
    refresh_down_scoping,
    concurrent_refreshes_all_succeed,
);

async fn code_replay_revokes_issued_tokens(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let pkce = Pkce::new();
    let loc = app
        .browser()
        .dev_login(
            &app.authorize_url(&client, &pkce, "openid offline_access", "dev"),
            "r@example.com",
            true,
        )
        .await;
    let code = query_param(&loc, "code").unwrap();
    let tokens = app.exchange(&client, &code, &pkce).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    let res = app.token(&client, &form).await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    // Everything issued from the code is dead.
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens.refresh_token.as_deref().unwrap()),
            ],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let intro = introspect(&app, &client, &tokens.access_token).await;
    assert_eq!(intro["active"], false);
    let res = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

async fn code_expires_after_a_minute(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let pkce = Pkce::new();
    let loc = app
        .browser()
        .dev_login(
            &app.authorize_url(&client, &pkce, "openid", "dev"),
            "e@example.com",
            true,
        )
        .await;
    let code = query_param(&loc, "code").unwrap();
    app.clock.advance(chrono::Duration::seconds(61));
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("expired"));
}

async fn refresh_rotation_and_reuse_detection(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let t0 = app.login(&client, "rot@example.com").await;
    let rt0 = t0.refresh_token.clone().unwrap();
    let res = app
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt0)],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let t1: crate::helpers::Tokens = res.json().await.unwrap();
    let rt1 = t1.refresh_token.clone().unwrap();
    assert_ne!(rt0, rt1, "rotated");
    assert_eq!((t1.token_type.as_str(), t1.expires_in), ("Bearer", 3600));
    assert!(t1.id_token.is_some());
    assert_eq!(
        claims(&t1.access_token)["auth_time"],
        claims(&t0.access_token)["auth_time"]
    );
    // Reuse of the rotated token kills the family, including the new token.
    let res = app
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt0)],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let res = app
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    assert_eq!(
        introspect(&app, &client, &t1.access_token).await["active"],
        false
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'refresh_token_reuse_detected'"
        )
        .await,
        1
    );
    // Idle expiry.
    let t2 = app.login(&client, "idle@example.com").await;
    app.clock.advance(chrono::Duration::days(8));
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t2.refresh_token.as_deref().unwrap()),
            ],
        )
        .await;
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("expired"));
    // Another client cannot use it.
    let other = app.register(spec("other")).await;
    let t3 = app.login(&client, "x@example.com").await;
    let res = app
        .token(
            &other,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t3.refresh_token.as_deref().unwrap()),
            ],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    // ...and that did not burn it.
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t3.refresh_token.as_deref().unwrap()),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
}

async fn refresh_down_scoping(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let t = app.login(&client, "scope@example.com").await;
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t.refresh_token.as_deref().unwrap()),
                ("scope", "openid"),
            ],
        )
        .await;
    let t1: crate::helpers::Tokens = res.json().await.unwrap();
    assert_eq!(t1.scope, "openid");
    // The refresh token keeps the original grant.
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t1.refresh_token.as_deref().unwrap()),
                ("scope", "openid email"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let t2: crate::helpers::Tokens = res.json().await.unwrap();
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t2.refresh_token.as_deref().unwrap()),
                ("scope", "openid admin"),
            ],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_scope"
    );
}

async fn concurrent_refreshes_all_succeed(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.server.workers = 2).await;
    let client = app.web_client().await;
    let mut tokens = Vec::new();
    for i in 0..12 {
        tokens.push(
            app.login(&client, &format!("c{i}@example.com"))
                .await
                .refresh_token
                .unwrap(),
        );
    }
    for _round in 0..3 {
        let calls = tokens.iter().map(|rt| {
            let app = &app;
            let client = &client;
            async move {
                app.token(
                    client,
                    &[("grant_type", "refresh_token"), ("refresh_token", rt)],
                )
                .await
            }
        });
        let results = futures_util::future::join_all(calls).await;
        let mut next = Vec::new();
        for r in results {
            assert_eq!(r.status(), 200, "a concurrent refresh failed");
            next.push(
                r.json::<crate::helpers::Tokens>()
                    .await
                    .unwrap()
                    .refresh_token
                    .unwrap(),
            );
        }
        tokens = next;
    }
}
