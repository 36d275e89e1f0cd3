//! The client-credentials grant: scope and audience limits.

use crate::both_backends;
use crate::helpers::{claims, spec, Backend, TestApp};

both_backends!(client_credentials_scope_and_audience_limits);

async fn client_credentials_scope_and_audience_limits(b: Backend) {
    let app = TestApp::spawn(b).await;
    let mut s = spec("m2m");
    s.grant_types = vec!["client_credentials".into()];
    s.scopes = vec!["reports:read".into(), "manage".into()];
    s.audiences = vec![
        "https://api.example.com".into(),
        "https://other.example.com".into(),
    ];
    let m2m = app.register(s).await;
    let res = app
        .token(
            &m2m,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "reports:read"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let t: crate::helpers::Tokens = res.json().await.unwrap();
    assert!(t.refresh_token.is_none() && t.id_token.is_none());
    let c = claims(&t.access_token);
    assert_eq!(c["sub"], "m2m");
    assert_eq!(c["scope"], "reports:read");
    assert_eq!(c["aud"], "https://api.example.com");
    assert!(c.get("auth_time").is_none());
    let res = app
        .token(
            &m2m,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "reports:write"),
            ],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_scope"
    );
    let res = app
        .token(
            &m2m,
            &[("grant_type", "client_credentials"), ("scope", "openid")],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_scope"
    );
    let res = app
        .token(
            &m2m,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "reports:read"),
                ("audience", "https://other.example.com"),
            ],
        )
        .await;
    assert_eq!(
        claims(
            &res.json::<crate::helpers::Tokens>()
                .await
                .unwrap()
                .access_token
        )["aud"],
        "https://other.example.com"
    );
    let res = app
        .token(
            &m2m,
            &[
                ("grant_type", "client_credentials"),
                ("audience", "https://evil.example.com"),
            ],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_target"
    );
    // A client without the grant.
    let web = app.web_client().await;
    let res = app
        .token(&web, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"tessera_tokens_issued_total{grant_type="client_credentials"} 2"#),
        "{metrics}"
    );
}
