//! CORS: only registered origins get the headers.

use crate::both_backends;
use crate::helpers::{Backend, TestApp};

both_backends!(cors_only_for_registered_origins);

async fn cors_only_for_registered_origins(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.web_client().await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/oauth/token"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
    };
    let res = preflight("http://127.0.0.1:9").await.unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://127.0.0.1:9"
    );
    let res = preflight("http://evil.example").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    let res = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("Origin", "http://127.0.0.1:9")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://127.0.0.1:9"
    );
    let res = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}
