//! The OpenAPI document lists every org API route.

use crate::both_backends;
use crate::helpers::{Backend, TestApp};

both_backends!(openapi_lists_every_route);

async fn openapi_lists_every_route(b: Backend) {
    let app = TestApp::spawn(b).await;
    let doc = app.get_json("/api/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut n = 0;
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            n += 1;
            assert!(op["summary"].is_string());
            // Every documented route is served (and wants a token).
            let url = path
                .replace("{org}", "acme")
                .replace("{user_id}", "u")
                .replace("{role_id}", "r");
            let (status, body) = app.api(&method.to_uppercase(), &url, None, None).await;
            assert_eq!(status, 401, "{method} {path}: {body}");
        }
    }
    assert_eq!(n, tessera::http::api::ROUTES.len());
    assert!(paths.contains_key("/api/orgs/{org}/members/{user_id}"));
}
