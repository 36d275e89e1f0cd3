//! Members: changes reach tokens on refresh, the last-owner and transfer
//! invariants, concurrent demotions.

use serde_json::json;

use super::{add_member, create_org, org_id, setup, sub};
use crate::both_backends;
use crate::helpers::{org_claim, refresh, Backend, Tokens};

both_backends!(
    removed_members_and_role_changes_take_effect_on_refresh,
    last_owner_and_transfer_invariants,
    concurrent_demotions_keep_an_owner,
);

async fn removed_members_and_role_changes_take_effect_on_refresh(b: Backend) {
    let (app, client) = setup(b).await;
    let owner = app.api_user(&client, "boss@example.com").await;
    let team = create_org(&app, &owner, "Team", "team").await;
    let dev = app.api_user(&client, "dev@example.com").await;
    add_member(&app, &team, &sub(&dev), "member").await;
    let dt: Tokens = refresh(&app, &client, &dev, Some("team"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(org_claim(&app, &dt.access_token, "org_role"), "member");
    // Promote: the next refresh carries the new role.
    let (s, _) = app
        .api(
            "PATCH",
            &format!("/api/orgs/team/members/{}", sub(&dev)),
            Some(&owner.access_token),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(s, 200);
    let dt2: Tokens = refresh(&app, &client, &dt, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(org_claim(&app, &dt2.access_token, "org_role"), "admin");
    // Remove: the next refresh fails, and so does a switch.
    let (s, _) = app
        .api(
            "DELETE",
            &format!("/api/orgs/team/members/{}", sub(&dev)),
            Some(&owner.access_token),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let res = refresh(&app, &client, &dt2, None).await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let (s, body) = app
        .api(
            "POST",
            "/api/switch-org",
            Some(&dt2.access_token),
            Some(
                json!({"organization": "team", "refresh_token": dt2.refresh_token,
                "client_id": client.id, "client_secret": client.secret}),
            ),
        )
        .await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
    // Switching back to their own org still works with the same refresh token.
    let personal = org_id(&app, &dev);
    let res = refresh(&app, &client, &dt2, Some(&personal)).await;
    assert_eq!(res.status(), 200);
    let (s, _) = app
        .api("GET", "/api/orgs/team", Some(&dt2.access_token), None)
        .await;
    assert_eq!(s, 404, "no longer a member");
}

async fn last_owner_and_transfer_invariants(b: Backend) {
    let (app, client) = setup(b).await;
    let owner = app.api_user(&client, "o@example.com").await;
    let me = sub(&owner);
    create_org(&app, &owner, "Acme", "acme").await;
    let tok = Some(owner.access_token.as_str());
    assert_eq!(
        app.api("POST", "/api/orgs/acme/leave", tok, None).await.0,
        409
    );
    assert_eq!(
        app.api(
            "PATCH",
            &format!("/api/orgs/acme/members/{me}"),
            tok,
            Some(json!({"role": "admin"}))
        )
        .await
        .0,
        409
    );
    assert_eq!(
        app.api("DELETE", &format!("/api/orgs/acme/members/{me}"), tok, None)
            .await
            .0,
        409
    );
    // Transfer to a member: they own it, the old owner is an admin, and can now leave.
    let heir = app.api_user(&client, "heir@example.com").await;
    add_member(&app, "acme", &sub(&heir), "member").await;
    assert_eq!(
        app.api(
            "POST",
            "/api/orgs/acme/transfer-ownership",
            Some(&heir.access_token),
            Some(json!({"user_id": me}))
        )
        .await
        .0,
        403,
        "only the owner transfers"
    );
    assert_eq!(
        app.api(
            "POST",
            "/api/orgs/acme/transfer-ownership",
            tok,
            Some(json!({"user_id": "not-a-member"}))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        app.api(
            "POST",
            "/api/orgs/acme/transfer-ownership",
            tok,
            Some(json!({"user_id": sub(&heir)}))
        )
        .await
        .0,
        204
    );
    let (_, members) = app.api("GET", "/api/orgs/acme/members", tok, None).await;
    let role_of = |id: &str| {
        members["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["user_id"] == id)
            .unwrap()["role"]
            .clone()
    };
    assert_eq!(role_of(&sub(&heir)), "owner");
    assert_eq!(role_of(&me), "admin");
    assert_eq!(
        app.api("POST", "/api/orgs/acme/leave", tok, None).await.0,
        204
    );
    assert_eq!(
        app.api(
            "POST",
            "/api/orgs/acme/leave",
            Some(&heir.access_token),
            None
        )
        .await
        .0,
        409
    );
    // Deleting cascades, the audit trail survives.
    assert_eq!(
        app.api("DELETE", "/api/orgs/acme", Some(&heir.access_token), None)
            .await
            .0,
        204
    );
    assert_eq!(
        app.api("GET", "/api/orgs/acme", Some(&heir.access_token), None)
            .await
            .0,
        404
    );
    assert!(
        app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'org_deleted'")
            .await
            == 1
    );
    assert!(
        app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'ownership_transferred'")
            .await
            == 1
    );
}

async fn concurrent_demotions_keep_an_owner(b: Backend) {
    let (app, client) = setup(b).await;
    let a = app.api_user(&client, "a@example.com").await;
    create_org(&app, &a, "Duo", "duo").await;
    let bb = app.api_user(&client, "b@example.com").await;
    add_member(&app, "duo", &sub(&bb), "owner").await;
    for _ in 0..3 {
        // Each owner demotes the other at the same time; then both try to leave.
        let p1 = format!("/api/orgs/duo/members/{}", sub(&bb));
        let p2 = format!("/api/orgs/duo/members/{}", sub(&a));
        let (r1, r2, r3, r4) = tokio::join!(
            app.api(
                "PATCH",
                &p1,
                Some(&a.access_token),
                Some(json!({"role": "admin"}))
            ),
            app.api(
                "PATCH",
                &p2,
                Some(&bb.access_token),
                Some(json!({"role": "admin"}))
            ),
            app.api("POST", "/api/orgs/duo/leave", Some(&a.access_token), None),
            app.api("POST", "/api/orgs/duo/leave", Some(&bb.access_token), None),
        );
        let statuses = [r1.0, r2.0, r3.0, r4.0];
        assert!(
            statuses
                .iter()
                .all(|s| matches!(s, 200 | 204 | 403 | 404 | 409)),
            "{statuses:?}"
        );
        let owners = app.count("SELECT COUNT(*) AS n FROM organization_members m JOIN organizations o ON o.id = m.org_id WHERE o.slug = 'duo' AND m.role_id = 'owner'").await;
        assert!(owners >= 1, "the org lost its last owner: {statuses:?}");
        // Put both back as owners when possible for the next round.
        let members = app.count("SELECT COUNT(*) AS n FROM organization_members m JOIN organizations o ON o.id = m.org_id WHERE o.slug = 'duo'").await;
        if members < 2 {
            break;
        }
    }
}
