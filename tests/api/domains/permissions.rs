//! Who may manage domains, and which enroll role they may set.

use serde_json::json;

use super::{add, setup, verified_acme, verify};
use crate::both_backends;
use crate::helpers::Backend;

both_backends!(domain_permissions);

async fn domain_permissions(b: Backend) {
    let (app, client, owner, dns) = setup(b).await;
    let id = verified_acme(&app, &owner, &dns, false).await;
    let outsider = app.api_user(&client, "x@other.com").await;
    assert_eq!(
        app.api(
            "GET",
            "/api/orgs/acme/domains",
            Some(&outsider.access_token),
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(verify(&app, &outsider, "acme", &id).await.0, 404);
    // A member (auto-enrolled) cannot manage domains.
    let (_, d) = add(
        &app,
        &owner,
        "acme",
        json!({"domain": "acme.net", "auto_enroll": true}),
    )
    .await;
    dns.set_txt(
        d["record"]["name"].as_str().unwrap(),
        &[d["record"]["value"].as_str().unwrap()],
    );
    verify(&app, &owner, "acme", d["id"].as_str().unwrap()).await;
    let m = app.api_user(&client, "m@acme.net").await;
    assert_eq!(
        app.api("GET", "/api/orgs/acme/domains", Some(&m.access_token), None)
            .await
            .0,
        403
    );
    assert_eq!(
        add(&app, &m, "acme", json!({"domain": "m.com"})).await.0,
        403
    );
    assert_eq!(
        app.api(
            "DELETE",
            &format!("/api/orgs/acme/domains/{id}"),
            Some(&m.access_token),
            None
        )
        .await
        .0,
        403
    );
    // enroll_role may not exceed the caller's permissions.
    let m_id = crate::helpers::claims(&m.access_token)["sub"]
        .as_str()
        .unwrap()
        .to_string();
    app.api(
        "PATCH",
        &format!("/api/orgs/acme/members/{m_id}"),
        Some(&owner.access_token),
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(
        add(
            &app,
            &m,
            "acme",
            json!({"domain": "m.com", "enroll_role": "owner"})
        )
        .await
        .0,
        403
    );
    assert_eq!(
        add(
            &app,
            &m,
            "acme",
            json!({"domain": "m.com", "enroll_role": "admin"})
        )
        .await
        .0,
        201
    );
}
