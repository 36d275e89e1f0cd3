//! Machine-to-machine org tokens and the admin API.

use serde_json::json;

use super::{create_org, setup, sub};
use crate::both_backends;
use crate::helpers::{claims, spec, Backend, Tokens};

both_backends!(machine_to_machine_org_tokens_and_admin_search);

async fn machine_to_machine_org_tokens_and_admin_search(b: Backend) {
    let (app, client) = setup(b).await;
    let owner = app.api_user(&client, "search@example.com").await;
    let acme = create_org(&app, &owner, "Acme", "acme").await;
    let mut s = spec("ops");
    s.grant_types = vec!["client_credentials".into()];
    s.scopes = vec!["manage".into(), "reports:read".into()];
    let ops = app.register(s).await;
    // Not granted yet.
    let res = app
        .token(
            &ops,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "reports:read"),
                ("organization", "acme"),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
    {
        let db = app.state.db.clone();
        let now = tessera::clock::Clock::now_naive(app.clock.as_ref());
        tokio::task::spawn_blocking(move || {
            let mut conn = db.get().unwrap();
            tessera::orgs::claims::grant_client(&mut conn, "ops", "acme", now).unwrap();
        })
        .await
        .unwrap();
    }
    let t: Tokens = app
        .token(
            &ops,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "reports:read"),
                ("organization", "acme"),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    let c = claims(&t.access_token);
    assert_eq!(c[format!("{}/org_id", app.address)], acme.as_str());
    assert!(
        c.get(format!("{}/org_role", app.address)).is_none(),
        "org_id only"
    );
    // Admin search.
    let admin: Tokens = app
        .token(
            &ops,
            &[("grant_type", "client_credentials"), ("scope", "manage")],
        )
        .await
        .json()
        .await
        .unwrap();
    let a = Some(admin.access_token.as_str());
    let (s, users) = app
        .api("GET", "/api/admin/users?email=SEARCH@example.com", a, None)
        .await;
    assert_eq!(s, 200);
    let u = &users["data"][0];
    assert_eq!(u["id"], sub(&owner).as_str());
    assert_eq!(u["owned_organizations"].as_array().unwrap().len(), 2);
    assert_eq!(u["identities"][0]["provider"], "dev");
    let (_, by_id) = app
        .api(
            "GET",
            &format!("/api/admin/users?id={}", sub(&owner)),
            a,
            None,
        )
        .await;
    assert_eq!(by_id["data"][0]["email"], "search@example.com");
    assert_eq!(app.api("GET", "/api/admin/users", a, None).await.0, 422);
    let (s, org) = app.api("GET", "/api/admin/orgs/acme", a, None).await;
    assert_eq!(s, 200);
    assert_eq!(org["owners"][0]["user_id"], sub(&owner).as_str());
    assert_eq!(org["member_count"], 1);
    assert_eq!(app.api("GET", "/api/admin/orgs/nope", a, None).await.0, 404);
    let (s, created) = app
        .api(
            "POST",
            "/api/admin/orgs",
            a,
            Some(json!({"name": "Made by ops", "owner_id": sub(&owner)})),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let (_, all) = app.api("GET", "/api/admin/orgs", a, None).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 3);
    // User tokens cannot use admin routes.
    assert_eq!(
        app.api("GET", "/api/admin/orgs", Some(&owner.access_token), None)
            .await
            .0,
        403
    );
}
