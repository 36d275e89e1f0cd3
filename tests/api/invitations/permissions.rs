//! Who may invite and accept, and what bad input changes (nothing).

use serde_json::json;

use super::{accept, invite, members_of_acme, setup};
use crate::both_backends;
use crate::helpers::{query_param, Backend, Pkce, Tokens};

both_backends!(
    only_the_addressee_can_accept,
    no_escalation_and_permission_checks,
    bad_input_is_refused_and_stores_nothing,
    invitations_and_the_dev_form_parse_emails_alike,
);

async fn only_the_addressee_can_accept(b: Backend) {
    let (app, client, owner) = setup(b, None).await;
    let (_, c) = invite(
        &app,
        &owner,
        json!({"email": "target@example.com", "role": "member"}),
    )
    .await;
    let token = c["token"].as_str().unwrap().to_string();
    // Someone else.
    let mallory = app.api_user(&client, "mallory@example.com").await;
    let (s, body) = accept(&app, &mallory, &token).await;
    assert_eq!(s, 403, "{body}");
    // The right address, but not verified by the upstream.
    let browser = app.browser();
    let pkce = Pkce::new();
    let url = format!(
        "{}&invitation={token}",
        app.authorize_url(&client, &pkce, "openid orgs", "dev")
    );
    let loc = browser.dev_login(&url, "target@example.com", false).await;
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"));
    assert_eq!(members_of_acme(&app).await, 1, "nothing changed");
    // The real addressee still can.
    let target = app.api_user(&client, "TARGET@example.com").await;
    assert_eq!(accept(&app, &target, &token).await.0, 200);
}

async fn no_escalation_and_permission_checks(b: Backend) {
    let (app, client, owner) = setup(b, None).await;
    let admin = app.api_user(&client, "admin@example.com").await;
    let (_, c) = invite(
        &app,
        &owner,
        json!({"email": "admin@example.com", "role": "admin"}),
    )
    .await;
    accept(&app, &admin, c["token"].as_str().unwrap()).await;
    // An admin cannot invite an owner.
    let (s, _) = invite(
        &app,
        &admin,
        json!({"email": "x@example.com", "role": "owner"}),
    )
    .await;
    assert_eq!(s, 403);
    // A member lacks org:invitations; a non-member sees nothing.
    let member = app.api_user(&client, "member@example.com").await;
    let (_, c) = invite(
        &app,
        &owner,
        json!({"email": "member@example.com", "role": "member"}),
    )
    .await;
    accept(&app, &member, c["token"].as_str().unwrap()).await;
    let member: Tokens = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", member.refresh_token.as_deref().unwrap()),
                ("organization", "acme"),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        invite(
            &app,
            &member,
            json!({"email": "y@example.com", "role": "member"})
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.api(
            "GET",
            "/api/orgs/acme/invitations",
            Some(&member.access_token),
            None
        )
        .await
        .0,
        403
    );
    let outsider = app.api_user(&client, "out@example.com").await;
    assert_eq!(
        invite(
            &app,
            &outsider,
            json!({"email": "y@example.com", "role": "member"})
        )
        .await
        .0,
        404
    );
    // The role is the row's, whatever the link or request says.
    let (_, c) = invite(
        &app,
        &owner,
        json!({"email": "z@example.com", "role": "member"}),
    )
    .await;
    let z = app.api_user(&client, "z@example.com").await;
    let (s, body) = app
        .api(
            "POST",
            "/api/invitations/accept",
            Some(&z.access_token),
            Some(json!({"token": c["token"], "role": "owner"})),
        )
        .await;
    assert_eq!(s, 422, "unknown fields are refused: {body}");
    let (_, body) = accept(&app, &z, c["token"].as_str().unwrap()).await;
    assert_eq!(body["role"], "member");
    // The list never shows tokens.
    let (_, list) = app
        .api(
            "GET",
            "/api/orgs/acme/invitations",
            Some(&owner.access_token),
            None,
        )
        .await;
    assert!(!list.to_string().contains("token"));
}

async fn bad_input_is_refused_and_stores_nothing(b: Backend) {
    let (app, _client, owner) = setup(b, None).await;
    for (body, field) in [
        (json!({"email": "not-an-email", "role": "member"}), "email"),
        (
            json!({"email": "a b@example.com", "role": "member"}),
            "email",
        ),
        (
            json!({"email": format!("{}@example.com", "x".repeat(320)), "role": "member"}),
            "email",
        ),
        (
            json!({"github_login": "-bad-", "role": "member"}),
            "github_login",
        ),
        (
            json!({"github_login": "x".repeat(40), "role": "member"}),
            "github_login",
        ),
        (json!({"github_id": "12a", "role": "member"}), "github_id"),
        (json!({"github_id": -5, "role": "member"}), "github_id"),
        (
            json!({"email": "a@example.com", "github_id": 5, "role": "member"}),
            "email",
        ),
        (json!({"role": "member"}), "email"),
        (json!({"email": "a@example.com", "role": "nope"}), "role"),
        (json!({"email": "a@example.com"}), "role"),
        (
            json!({"email": "a@example.com", "role": "member", "extra": 1}),
            "extra",
        ),
    ] {
        let (s, resp) = invite(&app, &owner, body.clone()).await;
        assert_eq!(s, 422, "{body} -> {resp}");
        assert!(
            resp["error_description"].as_str().unwrap().contains(field),
            "{body} -> {resp}"
        );
    }
    let res = app
        .client
        .post(app.url("/api/orgs/acme/invitations"))
        .bearer_auth(&owner.access_token)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM organization_invitations")
            .await,
        0
    );
}

/// One `Email` parser behind the invitation API and the dev form: the same
/// addresses are refused with the same messages as before, and the same
/// spelling variants meet as one address.
async fn invitations_and_the_dev_form_parse_emails_alike(b: Backend) {
    let (app, client, owner) = setup(b, None).await;
    let refused = [
        "Bob <bob@example.com>",
        "bob@[127.0.0.1]",
        "bob@example",
        "\"b,ob\"@example.com",
        "bo\u{202E}b@example.com",
        "bob@example.com; eve@example.com",
    ];
    for bad in refused {
        let (s, r) = invite(&app, &owner, json!({"email": bad, "role": "member"})).await;
        assert_eq!(s, 422, "{bad}: {r}");
        assert_eq!(
            r["error_description"], "email: not a valid email address",
            "{bad}"
        );
    }
    let (s, c) = invite(
        &app,
        &owner,
        json!({"email": "  New.Hire+ops@Example.COM ", "role": "member"}),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["invitation"]["email"], "new.hire+ops@example.com");

    // The dev form refuses what the invitation API refuses.
    let browser = app.browser();
    let pkce = Pkce::new();
    let res = browser
        .get(&app.authorize_url(&client, &pkce, "openid", "dev"))
        .await;
    assert_eq!(res.status(), 303);
    let loc = res.headers()["location"].to_str().unwrap().to_string();
    let tx = query_param(&format!("{}{loc}", app.address), "tx").unwrap();
    for bad in refused {
        let res = browser
            .http
            .post(app.url("/callback/dev"))
            .form(&[
                ("tx", tx.as_str()),
                ("email", bad),
                ("email_verified", "true"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{bad}");
        assert!(
            res.text()
                .await
                .unwrap()
                .contains("Enter a valid email address."),
            "{bad}"
        );
    }
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 1);
    // …and a differently spelt login is the invited address.
    let hire = app.api_user(&client, "NEW.HIRE+OPS@example.com").await;
    let (s, body) = accept(&app, &hire, c["token"].as_str().unwrap()).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(members_of_acme(&app).await, 2);
}
