//! Roles: no privilege escalation, custom roles, default roles from config.

use serde_json::json;

use super::{add_member, create_org, org_id, setup, sub};
use crate::both_backends;
use crate::helpers::{org_claim, refresh, Backend, TestApp, Tokens};

both_backends!(
    no_privilege_escalation,
    custom_roles_lifecycle,
    default_roles_from_config,
);

async fn no_privilege_escalation(b: Backend) {
    let (app, client) = setup(b).await;
    let owner = app.api_user(&client, "own@example.com").await;
    create_org(&app, &owner, "Acme", "acme").await;
    let admin = app.api_user(&client, "adm@example.com").await;
    let member = app.api_user(&client, "mem@example.com").await;
    add_member(&app, "acme", &sub(&admin), "admin").await;
    add_member(&app, "acme", &sub(&member), "member").await;
    let a = Some(admin.access_token.as_str());
    let m = Some(member.access_token.as_str());
    // Admin granting owner (holds org:delete, which admins lack).
    assert_eq!(
        app.api(
            "PATCH",
            &format!("/api/orgs/acme/members/{}", sub(&member)),
            a,
            Some(json!({"role": "owner"}))
        )
        .await
        .0,
        403
    );
    // Admin demoting or removing the owner.
    assert_eq!(
        app.api(
            "PATCH",
            &format!("/api/orgs/acme/members/{}", sub(&owner)),
            a,
            Some(json!({"role": "member"}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.api(
            "DELETE",
            &format!("/api/orgs/acme/members/{}", sub(&owner)),
            a,
            None
        )
        .await
        .0,
        403
    );
    // Admin creating a role holding org:delete.
    assert_eq!(
        app.api(
            "POST",
            "/api/orgs/acme/roles",
            a,
            Some(json!({"name": "deleter", "permissions": ["org:delete"]}))
        )
        .await
        .0,
        403
    );
    // Member creating a role with org:manage / promoting themselves.
    assert_eq!(
        app.api(
            "POST",
            "/api/orgs/acme/roles",
            m,
            Some(json!({"name": "boss", "permissions": ["org:manage"]}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.api(
            "PATCH",
            &format!("/api/orgs/acme/members/{}", sub(&member)),
            m,
            Some(json!({"role": "admin"}))
        )
        .await
        .0,
        403
    );
    // Admin may grant admin and app-defined permissions.
    assert_eq!(
        app.api(
            "POST",
            "/api/orgs/acme/roles",
            a,
            Some(json!({"name": "artist", "permissions": ["images:generate", "org:read"]}))
        )
        .await
        .0,
        201
    );
    assert_eq!(
        app.api(
            "PATCH",
            &format!("/api/orgs/acme/members/{}", sub(&member)),
            a,
            Some(json!({"role": "artist"}))
        )
        .await
        .0,
        200
    );
    let mt: Tokens = refresh(&app, &client, &member, Some("acme"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        org_claim(&app, &mt.access_token, "org_permissions"),
        json!(["images:generate", "org:read"])
    );
    assert_eq!(org_claim(&app, &mt.access_token, "org_role"), "artist");
    // An artist cannot make a role with org:manage either (lacks org:roles at all).
    assert_eq!(
        app.api(
            "POST",
            "/api/orgs/acme/roles",
            Some(&mt.access_token),
            Some(json!({"name": "x", "permissions": []}))
        )
        .await
        .0,
        403
    );
    // Nothing changed for the owner.
    let (_, list) = app
        .api(
            "GET",
            "/api/orgs/acme/members",
            Some(&owner.access_token),
            None,
        )
        .await;
    let owners = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "owner")
        .count();
    assert_eq!(owners, 1);
}

async fn custom_roles_lifecycle(b: Backend) {
    let (app, client) = setup(b).await;
    let owner = app.api_user(&client, "own@example.com").await;
    create_org(&app, &owner, "Acme", "acme").await;
    let o = Some(owner.access_token.as_str());
    let (s, role) = app.api("POST", "/api/orgs/acme/roles", o, Some(json!({"name": "billing", "description": "Billing", "permissions": ["billing:read"]}))).await;
    assert_eq!(s, 201);
    let rid = role["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.api(
            "POST",
            "/api/orgs/acme/roles",
            o,
            Some(json!({"name": "billing"}))
        )
        .await
        .0,
        409,
        "duplicate name"
    );
    assert_eq!(
        app.api(
            "POST",
            "/api/orgs/acme/roles",
            o,
            Some(json!({"name": "admin"}))
        )
        .await
        .0,
        409,
        "built-in name"
    );
    let (s, renamed) = app
        .api(
            "PATCH",
            &format!("/api/orgs/acme/roles/{rid}"),
            o,
            Some(json!({"name": "finance", "permissions": ["billing:read", "billing:write"]})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(renamed["name"], "finance");
    assert_eq!(
        renamed["permissions"],
        json!(["billing:read", "billing:write"])
    );
    assert_eq!(
        app.api(
            "PATCH",
            "/api/orgs/acme/roles/admin",
            o,
            Some(json!({"name": "boss"}))
        )
        .await
        .0,
        409,
        "built-in roles are fixed"
    );
    let (_, roles) = app.api("GET", "/api/orgs/acme/roles", o, None).await;
    assert_eq!(roles["data"].as_array().unwrap().len(), 4);
    // In use: refused.
    let user = app.api_user(&client, "fin@example.com").await;
    add_member(&app, "acme", &sub(&user), &rid).await;
    assert_eq!(
        app.api("DELETE", &format!("/api/orgs/acme/roles/{rid}"), o, None)
            .await
            .0,
        409
    );
    assert_eq!(
        app.api(
            "PATCH",
            &format!("/api/orgs/acme/members/{}", sub(&user)),
            o,
            Some(json!({"role": "member"}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        app.api("DELETE", &format!("/api/orgs/acme/roles/{rid}"), o, None)
            .await
            .0,
        204
    );
    assert_eq!(
        app.api("DELETE", &format!("/api/orgs/acme/roles/{rid}"), o, None)
            .await
            .0,
        404
    );
    // Another org's role cannot be used here.
    let other = app.api_user(&client, "other@example.com").await;
    create_org(&app, &other, "Other", "other").await;
    let (_, r) = app
        .api(
            "POST",
            "/api/orgs/other/roles",
            Some(&other.access_token),
            Some(json!({"name": "spy"})),
        )
        .await;
    let spy = r["id"].as_str().unwrap().to_string();
    let (s, body) = app
        .api(
            "PATCH",
            &format!("/api/orgs/acme/members/{}", sub(&user)),
            o,
            Some(json!({"role": spy})),
        )
        .await;
    assert_eq!(s, 422, "{body}");
}

async fn default_roles_from_config(b: Backend) {
    let app = TestApp::spawn_with(b, |s| {
        s.orgs.default_roles = vec![tessera::config::DefaultRole {
            name: "billing".into(),
            description: "Invoices".into(),
            permissions: vec!["org:read".into(), "billing:read".into()],
        }]
    })
    .await;
    let client = app.web_client().await;
    let t = app.api_user(&client, "roles@example.com").await;
    create_org(&app, &t, "Acme", "acme").await;
    for org in ["acme", org_id(&app, &t).as_str()] {
        let (_, roles) = app
            .api(
                "GET",
                &format!("/api/orgs/{org}/roles"),
                Some(&t.access_token),
                None,
            )
            .await;
        let billing = roles["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "billing")
            .expect("default role");
        assert_eq!(billing["permissions"], json!(["org:read", "billing:read"]));
        assert_eq!(billing["built_in"], false);
    }
}
