//! Token introspection (RFC 7662) and revocation (RFC 7009).

use super::introspect;
use crate::both_backends;
use crate::helpers::{spec, Backend, TestApp};

both_backends!(introspection_semantics, revocation_semantics);

async fn introspection_semantics(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let t = app.login(&client, "i@example.com").await;
    let a = introspect(&app, &client, &t.access_token).await;
    assert_eq!(a["active"], true);
    assert_eq!(a["client_id"], "web");
    assert_eq!(a["token_type"], "Bearer");
    assert!(a["exp"].is_number() && a["sub"].is_string() && a["scope"].is_string());
    let r = introspect(&app, &client, t.refresh_token.as_deref().unwrap()).await;
    assert_eq!(r["active"], true);
    assert_eq!(r["token_type"], "refresh_token");
    assert_eq!(
        introspect(&app, &client, "garbage").await,
        serde_json::json!({"active": false})
    );
    assert_eq!(
        introspect(&app, &client, "a.b.c").await,
        serde_json::json!({"active": false})
    );
    // Refresh tokens only for their own client; access tokens for any resource server.
    let other = app.register(spec("rs")).await;
    assert_eq!(
        introspect(&app, &other, t.refresh_token.as_deref().unwrap()).await["active"],
        false
    );
    assert_eq!(
        introspect(&app, &other, &t.access_token).await["active"],
        true
    );
    // Expired.
    app.clock.advance(chrono::Duration::seconds(3601));
    assert_eq!(
        introspect(&app, &client, &t.access_token).await["active"],
        false
    );
    // Public clients cannot introspect.
    let mut s = spec("pub");
    s.public = true;
    app.register(s).await;
    let res = app
        .client
        .post(app.url("/oauth/introspect"))
        .form(&[("token", "x"), ("client_id", "pub")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .client
        .post(app.url("/oauth/introspect"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

async fn revocation_semantics(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let t = app.login(&client, "rv@example.com").await;
    let revoke = |token: String| {
        let app = &app;
        let client = client.clone();
        async move {
            app.client
                .post(app.url("/oauth/revoke"))
                .basic_auth(&client.id, client.secret.as_deref())
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(revoke("unknown-token".into()).await.status(), 200);
    let res = revoke(t.access_token.clone()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        introspect(&app, &client, &t.access_token).await["active"],
        false
    );
    let res = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(&t.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // Refresh token: the family is revoked.
    assert_eq!(revoke(t.refresh_token.clone().unwrap()).await.status(), 200);
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t.refresh_token.as_deref().unwrap()),
            ],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    // Another client's token is refused and stays valid.
    let t2 = app.login(&client, "rv2@example.com").await;
    let other = app.register(spec("other")).await;
    let res = app
        .client
        .post(app.url("/oauth/revoke"))
        .basic_auth(&other.id, other.secret.as_deref())
        .form(&[("token", t2.refresh_token.as_deref().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        introspect(&app, &client, t2.refresh_token.as_deref().unwrap()).await["active"],
        true
    );
    // Missing token parameter.
    let res = app
        .client
        .post(app.url("/oauth/revoke"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
}
