//! The token endpoint refuses bad client authentication and bad input.

use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestClient};

both_backends!(client_authentication_errors, token_endpoint_bad_input);

async fn client_authentication_errors(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let bad = TestClient {
        id: client.id.clone(),
        secret: Some("wrong-secret".into()),
    };
    let res = app
        .token(
            &bad,
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        )
        .await;
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_client"
    );
    let unknown = TestClient {
        id: "ghost".into(),
        secret: Some("x".into()),
    };
    let res = app
        .token(
            &unknown,
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        )
        .await;
    assert_eq!(res.status(), 401);
    // client_secret_post works.
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", &client.id),
            ("client_secret", client.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    // Two methods at once.
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_secret", client.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    // No credentials.
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // The secret is stored hashed.
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM clients WHERE secret_hash LIKE 'hmac-sha256$%'")
            .await,
        1
    );
}

async fn token_endpoint_bad_input(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let res = app
        .token(&client, &[("grant_type", "password"), ("username", "a")])
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    let res = app.token(&client, &[("code", "x")]).await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let res = app
        .token(&client, &[("grant_type", "authorization_code")])
        .await;
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"].as_str().unwrap().contains("code"));
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "a"),
                ("refresh_token", "b"),
            ],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let huge = "x".repeat(5000);
    let res = app
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", &huge)],
        )
        .await;
    assert_eq!(res.status(), 400);
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // GET is not allowed on the token endpoint.
    assert_ne!(app.get("/oauth/token").await.status(), 200);
}
