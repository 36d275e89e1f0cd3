//! Switching the active org without a new login.

use serde_json::json;

use super::{create_org, org_id, setup};
use crate::both_backends;
use crate::helpers::{claims, org_claim, refresh, Backend, Tokens};

both_backends!(
    switching_without_relogin_both_paths,
    switch_org_needs_the_secret_of_a_confidential_client
);

/// SPEC §3 (round 2): a leaked refresh token plus one of the user's access
/// tokens (every resource server sees one) must not yield fresh tokens.
async fn switch_org_needs_the_secret_of_a_confidential_client(b: Backend) {
    let (app, client) = setup(b).await;
    let t = app.api_user(&client, "leak@example.com").await;
    create_org(&app, &t, "Second", "second").await;
    for extra in [
        json!({}),
        json!({"client_id": client.id}),
        json!({"client_id": client.id, "client_secret": "wrong-secret-wrong-secret-wrong!!"}),
        json!({"client_id": "someone-else", "client_secret": client.secret}),
    ] {
        let mut body = json!({"organization": "second", "refresh_token": t.refresh_token});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (s, e) = app
            .api("POST", "/api/switch-org", Some(&t.access_token), Some(body))
            .await;
        assert_eq!(
            (s, e["error"].as_str()),
            (401, Some("invalid_client")),
            "{e}"
        );
    }
    // Nothing rotated: the refresh token still works.
    let res = refresh(&app, &client, &t, None).await;
    assert_eq!(res.status(), 200);
}

async fn switching_without_relogin_both_paths(b: Backend) {
    let (app, client) = setup(b).await;
    let t = app.api_user(&client, "sw@example.com").await;
    let personal = org_id(&app, &t);
    let second = create_org(&app, &t, "Second", "second").await;
    // Path 1: /api/switch-org.
    let (s, body) = app
        .api(
            "POST",
            "/api/switch-org",
            Some(&t.access_token),
            Some(
                json!({"organization": "second", "refresh_token": t.refresh_token,
                "client_id": client.id, "client_secret": client.secret}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let t2: Tokens = serde_json::from_value(body).unwrap();
    assert_eq!(org_id(&app, &t2), second);
    assert_eq!(
        org_claim(&app, t2.id_token.as_deref().unwrap(), "org_id"),
        second.as_str()
    );
    assert_eq!(
        claims(&t2.access_token)["auth_time"],
        claims(&t.access_token)["auth_time"],
        "no re-login"
    );
    // The old refresh token is dead (rotated; reusing it revokes the family).
    assert_ne!(t2.refresh_token, t.refresh_token);
    // Path 2: the token endpoint.
    let res = refresh(&app, &client, &t2, Some(&personal)).await;
    assert_eq!(res.status(), 200);
    let t3: Tokens = res.json().await.unwrap();
    assert_eq!(org_id(&app, &t3), personal);
    // A plain refresh stays in the current org.
    let t4: Tokens = refresh(&app, &client, &t3, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(org_id(&app, &t4), personal);
    // Switching to an org the user is not in: invalid_grant, and the refresh token survives.
    let stranger = app.api_user(&client, "x@example.com").await;
    let res = refresh(&app, &client, &t4, Some(&org_id(&app, &stranger))).await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let (s, body) = app
        .api(
            "POST",
            "/api/switch-org",
            Some(&t4.access_token),
            Some(
                json!({"organization": org_id(&app, &stranger), "refresh_token": t4.refresh_token,
                    "client_id": client.id, "client_secret": client.secret}),
            ),
        )
        .await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
    let t5: Tokens = refresh(&app, &client, &t4, Some("second"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(org_id(&app, &t5), second);
    // Someone else's refresh token cannot be switched with my bearer token.
    let (s, _) = app
        .api(
            "POST",
            "/api/switch-org",
            Some(&stranger.access_token),
            Some(json!({"organization": "second", "refresh_token": t5.refresh_token})),
        )
        .await;
    assert_eq!(s, 400);
    // The last active org is remembered across a new login.
    let fresh = app.api_user(&client, "sw@example.com").await;
    assert_eq!(org_id(&app, &fresh), second);
}
