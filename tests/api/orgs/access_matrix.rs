//! Every caller against every org route.

use serde_json::json;

use super::{add_member, create_org, setup, sub};
use crate::both_backends;
use crate::helpers::{spec, Backend, Tokens};

both_backends!(cross_org_access_matrix);

async fn cross_org_access_matrix(b: Backend) {
    let (app, client) = setup(b).await;
    let owner = app.api_user(&client, "owner@example.com").await;
    create_org(&app, &owner, "Acme", "acme").await;
    let admin = app.api_user(&client, "admin@example.com").await;
    let member = app.api_user(&client, "member@example.com").await;
    let outsider = app.api_user(&client, "outsider@example.com").await;
    let other_owner = app.api_user(&client, "other@example.com").await;
    create_org(&app, &other_owner, "Other", "other").await;
    add_member(&app, "acme", &sub(&admin), "admin").await;
    add_member(&app, "acme", &sub(&member), "member").await;
    // Tokens without scope orgs, expired tokens, admin-mode tokens.
    let no_scope = app
        .login_with(&client, "member@example.com", "openid", "")
        .await;
    let mut m2m = spec("ops");
    m2m.grant_types = vec!["client_credentials".into()];
    m2m.scopes = vec!["manage".into()];
    let ops = app.register(m2m).await;
    let admin_mode: Tokens = app
        .token(
            &ops,
            &[("grant_type", "client_credentials"), ("scope", "manage")],
        )
        .await
        .json()
        .await
        .unwrap();

    let target = sub(&member);
    let routes: Vec<(&str, String, Option<serde_json::Value>)> = vec![
        ("GET", "/api/orgs/acme".into(), None),
        (
            "PATCH",
            "/api/orgs/acme".into(),
            Some(json!({"name": "Acme"})),
        ),
        ("GET", "/api/orgs/acme/members".into(), None),
        (
            "PATCH",
            format!("/api/orgs/acme/members/{target}"),
            Some(json!({"role": "member"})),
        ),
        ("DELETE", "/api/orgs/acme/members/not-a-member".into(), None),
        ("GET", "/api/orgs/acme/roles".into(), None),
        (
            "POST",
            "/api/orgs/acme/roles".into(),
            Some(json!({"name": "", "permissions": []})),
        ),
        ("GET", "/api/orgs/acme/audit-log".into(), None),
        (
            "POST",
            "/api/orgs/acme/transfer-ownership".into(),
            Some(json!({"user_id": "not-a-member"})),
        ),
        ("DELETE", "/api/orgs/acme".into(), None),
    ];
    // Expected status per caller, in route order.
    let callers: Vec<(&str, Option<String>, [u16; 10])> = vec![
        ("no token", None, [401; 10]),
        ("garbage token", Some("a.b.c".into()), [401; 10]),
        (
            "token without orgs",
            Some(no_scope.access_token.clone()),
            [403; 10],
        ),
        (
            "admin-mode client",
            Some(admin_mode.access_token.clone()),
            [403; 10],
        ),
        ("non-member", Some(outsider.access_token.clone()), [404; 10]),
        (
            "owner of another org",
            Some(other_owner.access_token.clone()),
            [404; 10],
        ),
        (
            "member",
            Some(member.access_token.clone()),
            [200, 403, 200, 403, 403, 403, 403, 403, 403, 403],
        ),
        (
            "admin",
            Some(admin.access_token.clone()),
            [200, 200, 200, 200, 404, 200, 422, 200, 403, 403],
        ),
    ];
    for (who, token, expected) in &callers {
        for ((method, path, body), want) in routes.iter().zip(expected.iter()) {
            let (got, resp) = app.api(method, path, token.as_deref(), body.clone()).await;
            assert_eq!(got, *want, "{who}: {method} {path} -> {resp}");
            if *want == 404 && who.contains("member") && !who.starts_with("member") {
                assert_eq!(resp["error"], "not_found");
                assert!(
                    !resp.to_string().contains("Acme"),
                    "no existence leak: {resp}"
                );
            }
            if *want == 401 {
                assert!(resp["error"].is_string());
            }
        }
    }
    // The owner can do all of it (delete last).
    let o = Some(owner.access_token.as_str());
    for (method, path, body) in routes.iter().take(8) {
        let (got, resp) = app.api(method, path, o, body.clone()).await;
        assert!(
            matches!(got, 200 | 204 | 404 | 422),
            "owner: {method} {path} -> {got} {resp}"
        );
    }
    // Expired token.
    app.clock.advance(chrono::Duration::hours(2));
    assert_eq!(app.api("GET", "/api/orgs/acme", o, None).await.0, 401);
    app.clock.advance(chrono::Duration::hours(-2));
    assert_eq!(app.api("DELETE", "/api/orgs/acme", o, None).await.0, 204);
    // A revoked access token.
    let res = app
        .client
        .post(app.url("/oauth/revoke"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("token", member.access_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.api("GET", "/api/me", Some(&member.access_token), None)
            .await
            .0,
        401
    );
}
