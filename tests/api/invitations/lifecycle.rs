//! An invitation's life: used, expired, revoked, resent, tampered, raced,
//! listed and declined by the invitee.

use serde_json::json;

use super::{accept, invite, members_of_acme, setup};
use crate::both_backends;
use crate::helpers::{claims, query_param, Backend, Pkce};

both_backends!(
    used_expired_revoked_resent_and_tampered_tokens,
    concurrent_accepts_make_one_membership,
    invitee_lists_and_declines,
);

async fn used_expired_revoked_resent_and_tampered_tokens(b: Backend) {
    let (app, client, owner) = setup(b, None).await;
    let alice = app.api_user(&client, "alice@example.com").await;
    let mk = |email: &'static str| {
        let app = &app;
        let owner = &owner;
        async move {
            let (s, c) = invite(app, owner, json!({"email": email, "role": "member"})).await;
            assert_eq!(s, 201, "{c}");
            (
                c["invitation"]["id"].as_str().unwrap().to_string(),
                c["token"].as_str().unwrap().to_string(),
            )
        }
    };
    // Used: replay gives 410 and no second membership.
    let (_, token) = mk("alice@example.com").await;
    let (s, body) = accept(&app, &alice, &token).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("joined")));
    assert_eq!(accept(&app, &alice, &token).await.0, 410);
    assert_eq!(members_of_acme(&app).await, 2);
    // Tampered and truncated: 404.
    let (_, token) = mk("bob@example.com").await;
    let bob = app.api_user(&client, "bob@example.com").await;
    let mut tampered = token.clone();
    tampered.replace_range(0..1, if token.starts_with('A') { "B" } else { "A" });
    assert_eq!(accept(&app, &bob, &tampered).await.0, 404);
    assert_eq!(accept(&app, &bob, &token[..20]).await.0, 404);
    assert_eq!(
        app.get(&format!("/invitations/{}", &token[..20]))
            .await
            .status(),
        404
    );
    // Revoked.
    let (id, token) = mk("carol@example.com").await;
    let carol = app.api_user(&client, "carol@example.com").await;
    assert_eq!(
        app.api(
            "DELETE",
            &format!("/api/orgs/acme/invitations/{id}"),
            Some(&owner.access_token),
            None
        )
        .await
        .0,
        204
    );
    let (s, body) = accept(&app, &carol, &token).await;
    assert_eq!(s, 410);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("revoked"));
    // Resent: the old token is dead, the new one works.
    let (id, old) = mk("dave@example.com").await;
    let dave = app.api_user(&client, "dave@example.com").await;
    let (s, resent) = app
        .api(
            "POST",
            &format!("/api/orgs/acme/invitations/{id}/resend"),
            Some(&owner.access_token),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let new = resent["token"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(accept(&app, &dave, &old).await.0, 404);
    assert_eq!(accept(&app, &dave, new).await.0, 200);
    // Expired (frozen clock, no sleeps).
    let (_, token) = mk("erin@example.com").await;
    app.clock.advance(chrono::Duration::days(8));
    let erin = app.api_user(&client, "erin@example.com").await;
    let (s, body) = accept(&app, &erin, &token).await;
    assert_eq!(s, 410);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("expired"));
    assert_eq!(
        app.get(&format!("/invitations/{token}")).await.status(),
        410
    );
    let owner = app.api_user(&client, "owner@example.com").await;
    let mk = |email: &'static str| {
        let app = &app;
        let owner = &owner;
        async move {
            let (s, c) = invite(app, owner, json!({"email": email, "role": "member"})).await;
            assert_eq!(s, 201, "{c}");
            (
                c["invitation"]["id"].as_str().unwrap().to_string(),
                c["token"].as_str().unwrap().to_string(),
            )
        }
    };
    // A second pending invitation to the same address replaces the first.
    let (_, first) = mk("fred@example.com").await;
    let (_, second) = mk("fred@example.com").await;
    let fred = app.api_user(&client, "fred@example.com").await;
    assert_eq!(accept(&app, &fred, &first).await.0, 410);
    assert_eq!(accept(&app, &fred, &second).await.0, 200);
    // Inviting an existing member: 409.
    let (s, _) = invite(
        &app,
        &owner,
        json!({"email": "fred@example.com", "role": "member"}),
    )
    .await;
    assert_eq!(s, 409);
    // In the login redirect, a bad token is access_denied and changes nothing.
    let loc = app
        .browser()
        .dev_login(
            &format!(
                "{}&invitation=nope",
                app.authorize_url(&client, &Pkce::new(), "openid orgs", "dev")
            ),
            "gina@example.com",
            true,
        )
        .await;
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"));
}

async fn concurrent_accepts_make_one_membership(b: Backend) {
    let (app, client, owner) = setup(b, None).await;
    let (_, c) = invite(
        &app,
        &owner,
        json!({"email": "race@example.com", "role": "member"}),
    )
    .await;
    let token = c["token"].as_str().unwrap().to_string();
    let racer = app.api_user(&client, "race@example.com").await;
    let (a, b2, c2, d) = tokio::join!(
        accept(&app, &racer, &token),
        accept(&app, &racer, &token),
        accept(&app, &racer, &token),
        accept(&app, &racer, &token)
    );
    let ok = [a.0, b2.0, c2.0, d.0].iter().filter(|s| **s == 200).count();
    assert_eq!(ok, 1, "{:?}", [a.0, b2.0, c2.0, d.0]);
    assert_eq!(members_of_acme(&app).await, 2);
}

async fn invitee_lists_and_declines(b: Backend) {
    let (app, client, owner) = setup(b, None).await;
    let (_, c) = invite(
        &app,
        &owner,
        json!({"email": "maybe@example.com", "role": "member"}),
    )
    .await;
    let token = c["token"].as_str().unwrap().to_string();
    let maybe = app.api_user(&client, "maybe@example.com").await;
    let (s, mine) = app
        .api(
            "GET",
            "/api/me/invitations",
            Some(&maybe.access_token),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(mine["data"].as_array().unwrap().len(), 1);
    assert_eq!(mine["data"][0]["organization_name"], "Acme Corp");
    assert!(!mine.to_string().contains(&token));
    let other = app.api_user(&client, "nobody@example.com").await;
    let (_, none) = app
        .api(
            "GET",
            "/api/me/invitations",
            Some(&other.access_token),
            None,
        )
        .await;
    assert_eq!(none["data"].as_array().unwrap().len(), 0);
    assert_eq!(
        app.api(
            "POST",
            "/api/invitations/decline",
            Some(&other.access_token),
            Some(json!({"token": token}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.api(
            "POST",
            "/api/invitations/decline",
            Some(&maybe.access_token),
            Some(json!({"token": token}))
        )
        .await
        .0,
        204
    );
    assert_eq!(accept(&app, &maybe, &token).await.0, 410);
    let (_, mine) = app
        .api(
            "GET",
            "/api/me/invitations",
            Some(&maybe.access_token),
            None,
        )
        .await;
    assert_eq!(mine["data"].as_array().unwrap().len(), 0);
    let _ = claims(&maybe.access_token);
}
