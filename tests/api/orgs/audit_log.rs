//! The org audit log: written, ordered, paged, guarded.

use serde_json::json;

use super::{add_member, create_org, setup, sub};
use crate::both_backends;
use crate::helpers::Backend;

both_backends!(audit_log_is_written_and_guarded);

async fn audit_log_is_written_and_guarded(b: Backend) {
    let (app, client) = setup(b).await;
    let owner = app.api_user(&client, "aud@example.com").await;
    create_org(&app, &owner, "Acme", "acme").await;
    let member = app.api_user(&client, "m@example.com").await;
    add_member(&app, "acme", &sub(&member), "member").await;
    let o = Some(owner.access_token.as_str());
    app.api(
        "PATCH",
        "/api/orgs/acme",
        o,
        Some(json!({"name": "Acme 2"})),
    )
    .await;
    app.api(
        "POST",
        "/api/orgs/acme/roles",
        o,
        Some(json!({"name": "r1"})),
    )
    .await;
    app.api(
        "PATCH",
        &format!("/api/orgs/acme/members/{}", sub(&member)),
        o,
        Some(json!({"role": "r1"})),
    )
    .await;
    let (s, log) = app.api("GET", "/api/orgs/acme/audit-log", o, None).await;
    assert_eq!(s, 200);
    let actions: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "member_role_changed",
            "role_created",
            "org_updated",
            "member_added",
            "org_created"
        ],
        "newest first"
    );
    let e = &log["data"][0];
    assert_eq!(e["actor"]["id"], sub(&owner).as_str());
    assert_eq!(e["target"]["id"], sub(&member).as_str());
    assert_eq!(e["detail"]["to"], "r1");
    assert!(e["ip"].as_str().unwrap().starts_with("127.0.0.1"));
    assert_eq!(
        app.api(
            "GET",
            "/api/orgs/acme/audit-log",
            Some(&member.access_token),
            None
        )
        .await
        .0,
        403
    );
    // Paging.
    let (_, page1) = app
        .api("GET", "/api/orgs/acme/audit-log?limit=2", o, None)
        .await;
    assert_eq!(page1["data"].as_array().unwrap().len(), 2);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (_, page2) = app
        .api(
            "GET",
            &format!("/api/orgs/acme/audit-log?limit=2&cursor={cursor}"),
            o,
            None,
        )
        .await;
    assert_eq!(page2["data"][0]["action"], "org_updated");
    assert_eq!(
        app.api("GET", "/api/orgs/acme/audit-log?limit=5000", o, None)
            .await
            .0,
        400
    );
    assert_eq!(
        app.api("GET", "/api/orgs/acme/audit-log?limit=abc", o, None)
            .await
            .0,
        400
    );
}
