//! Creating, updating and listing orgs: bad input, pagination.

use serde_json::json;

use super::{create_org, setup, sub};
use crate::both_backends;
use crate::helpers::Backend;

both_backends!(
    bad_input_is_refused_and_changes_nothing,
    list_endpoints_paginate,
);

async fn bad_input_is_refused_and_changes_nothing(b: Backend) {
    let (app, client) = setup(b).await;
    let owner = app.api_user(&client, "bad@example.com").await;
    create_org(&app, &owner, "Acme", "acme").await;
    let o = Some(owner.access_token.as_str());
    let orgs_before = app.count("SELECT COUNT(*) AS n FROM organizations").await;
    for (body, status, field) in [
        (json!({"name": "X", "slug": "Not A Slug"}), 422, "slug"),
        (json!({"name": "X", "slug": "a"}), 422, "slug"),
        (json!({"name": ""}), 422, "name"),
        (json!({"name": "x".repeat(101)}), 422, "name"),
        (json!({"slug": "only-slug"}), 422, "name"),
        (json!({"name": "X", "bogus": 1}), 422, "bogus"),
        (json!({"name": 5}), 422, "name"),
        (json!({"name": "X", "slug": "acme"}), 409, "slug"),
    ] {
        let (s, resp) = app.api("POST", "/api/orgs", o, Some(body.clone())).await;
        assert_eq!(s, status, "{body} -> {resp}");
        assert!(
            resp["error_description"].as_str().unwrap().contains(field),
            "{body} -> {resp}"
        );
    }
    // Malformed JSON and the wrong content type.
    let res = app
        .client
        .post(app.url("/api/orgs"))
        .bearer_auth(&owner.access_token)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let res = app
        .client
        .post(app.url("/api/orgs"))
        .bearer_auth(&owner.access_token)
        .form(&[("name", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(
        res.json::<serde_json::Value>().await.unwrap()["error_description"]
            .as_str()
            .unwrap()
            .contains("Content-Type")
    );
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM organizations").await,
        orgs_before
    );
    // Updates.
    assert_eq!(
        app.api(
            "PATCH",
            "/api/orgs/acme",
            o,
            Some(json!({"metadata": "not an object"}))
        )
        .await
        .0,
        422
    );
    assert_eq!(
        app.api(
            "PATCH",
            "/api/orgs/acme",
            o,
            Some(json!({"metadata": {"big": "x".repeat(9000)}}))
        )
        .await
        .0,
        422
    );
    assert_eq!(
        app.api(
            "PATCH",
            "/api/orgs/acme",
            o,
            Some(json!({"logo_url": "javascript:alert(1)"}))
        )
        .await
        .0,
        422
    );
    assert_eq!(
        app.api(
            "PATCH",
            "/api/orgs/acme",
            o,
            Some(json!({"logo_url": "https://cdn.example.com/l.png", "metadata": {"tier": "pro"}}))
        )
        .await
        .0,
        200
    );
    let (_, got) = app.api("GET", "/api/orgs/acme", o, None).await;
    assert_eq!(got["organization"]["metadata"]["tier"], "pro");
    // Roles and members.
    assert_eq!(
        app.api(
            "POST",
            "/api/orgs/acme/roles",
            o,
            Some(json!({"name": "x", "permissions": ["Bad Perm"]}))
        )
        .await
        .0,
        422
    );
    assert_eq!(
        app.api(
            "POST",
            "/api/orgs/acme/roles",
            o,
            Some(json!({"name": "Bad Name"}))
        )
        .await
        .0,
        422
    );
    assert_eq!(
        app.api(
            "PATCH",
            &format!("/api/orgs/acme/members/{}", sub(&owner)),
            o,
            Some(json!({"role": "no-such-role"}))
        )
        .await
        .0,
        422
    );
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM roles WHERE org_id IS NOT NULL")
            .await,
        0
    );
}

async fn list_endpoints_paginate(b: Backend) {
    let (app, client) = setup(b).await;
    let t = app.api_user(&client, "many@example.com").await;
    for i in 0..4 {
        create_org(&app, &t, &format!("Org {i}"), &format!("org-{i}")).await;
    }
    let tok = Some(t.access_token.as_str());
    let (_, p1) = app.api("GET", "/api/orgs?limit=3", tok, None).await;
    assert_eq!(p1["data"].as_array().unwrap().len(), 3);
    let c = p1["next_cursor"].as_str().unwrap();
    let (_, p2) = app
        .api("GET", &format!("/api/orgs?limit=3&cursor={c}"), tok, None)
        .await;
    assert_eq!(p2["data"].as_array().unwrap().len(), 2);
    assert!(p2["next_cursor"].is_null());
    let (_, m) = app
        .api("GET", "/api/orgs/org-0/members?limit=1", tok, None)
        .await;
    assert_eq!(m["data"].as_array().unwrap().len(), 1);
}
