//! Findings of the round-2 security review fixed so far (issue 11): each
//! test fails without its fix.

use serde_json::json;

use crate::both_backends;
use crate::helpers::{owner_with_org, query_param, spec, Backend, Pkce, TestApp, REDIRECT};

both_backends!(
    a_code_replayed_by_another_client_revokes_nothing,
    slugs_cannot_look_like_ids,
    roles_in_use_by_a_domain_or_past_invitations,
    undecodable_cursors_are_400,
    third_party_org_tokens_carry_the_org_api_audience_alone,
);

/// Finding 10: the SQLite database, its directory and key metadata are
/// private to the owner (the PEM already was).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_and_key_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let (data, keys) = (dir.path().join("data"), dir.path().join("keys"));
    let db_url = data.join("tessera.db").display().to_string();
    let k = keys.clone();
    let app = TestApp::spawn_with(Backend::Sqlite, move |s| {
        s.database.url = tessera::config::SecretString::new(db_url);
        s.keys.dir = k;
    })
    .await;
    assert_eq!(mode(&data), 0o700, "data/");
    assert_eq!(mode(&data.join("tessera.db")), 0o600);
    assert_eq!(mode(&keys), 0o700, "keys/");
    let kid = app.state.keys.current().active.meta.kid.clone();
    assert_eq!(mode(&keys.join(format!("{kid}.pem"))), 0o600);
    assert_eq!(mode(&keys.join(format!("{kid}.json"))), 0o600);
}

async fn a_code_replayed_by_another_client_revokes_nothing(b: Backend) {
    let app = TestApp::spawn(b).await;
    let web = app.web_client().await;
    let other = app.register(spec("other")).await;
    let browser = app.browser();
    let pkce = Pkce::new();
    let loc = browser
        .dev_login(
            &app.authorize_url(&web, &pkce, "openid offline_access", "dev"),
            "victim@example.com",
            true,
        )
        .await;
    let code = query_param(&loc, "code").unwrap();
    let tokens = app.exchange(&web, &code, &pkce).await;
    // Someone who saw the used code (history, a Referer) replays it with
    // their own client: refused, and the victim's tokens live on.
    let res = app
        .token(
            &other,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    let rt = tokens.refresh_token.clone().unwrap();
    let res = app
        .token(
            &web,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await;
    assert_eq!(
        res.status(),
        200,
        "the real client's refresh token still works"
    );
    // The real client's own replay still revokes (RFC 6749 §4.1.2).
    let res = app
        .token(
            &web,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
}

async fn slugs_cannot_look_like_ids(b: Backend) {
    let (app, _client, owner) = owner_with_org(b, "acme").await;
    let t = Some(owner.access_token.as_str());
    let (s, acme) = app.api("GET", "/api/orgs/acme", t, None).await;
    assert_eq!(s, 200);
    let id = acme["organization"]["id"].as_str().unwrap();
    for body in [
        json!({"name": "Evil", "slug": id}),
        json!({"name": "Evil", "slug": "01a233a2-d077-704b-b488-1270279712ec"}),
    ] {
        let (s, e) = app.api("POST", "/api/orgs", t, Some(body)).await;
        assert_eq!(s, 422, "{e}");
    }
    let (s, _) = app
        .api("PATCH", "/api/orgs/acme", t, Some(json!({ "slug": id })))
        .await;
    assert_eq!(s, 422);
    // A name that looks like an id gets a slug that does not.
    let (s, o) = app
        .api("POST", "/api/orgs", t, Some(json!({ "name": id })))
        .await;
    assert_eq!(s, 201, "{o}");
    assert_ne!(o["slug"], id);
    let (s, got) = app.api("GET", &format!("/api/orgs/{id}"), t, None).await;
    assert_eq!(
        (s, got["organization"]["slug"].as_str()),
        (200, Some("acme"))
    );
}

async fn roles_in_use_by_a_domain_or_past_invitations(b: Backend) {
    let (app, _client, owner) = owner_with_org(b, "acme").await;
    let t = Some(owner.access_token.as_str());
    let mut roles = Vec::new();
    for name in ["artist", "guest"] {
        let (s, r) = app
            .api(
                "POST",
                "/api/orgs/acme/roles",
                t,
                Some(json!({"name": name, "permissions": ["org:read"]})),
            )
            .await;
        assert_eq!(s, 201, "{r}");
        roles.push(r["id"].as_str().unwrap().to_string());
    }
    let (s, d) = app
        .api(
            "POST",
            "/api/orgs/acme/domains",
            t,
            Some(json!({"domain": "acme.com", "auto_enroll": true, "enroll_role": "artist"})),
        )
        .await;
    assert_eq!(s, 201, "{d}");
    let (s, e) = app
        .api(
            "DELETE",
            &format!("/api/orgs/acme/roles/{}", roles[0]),
            t,
            None,
        )
        .await;
    assert_eq!(s, 409, "{e}");
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .contains("acme.com"),
        "{e}"
    );

    // A revoked invitation does not keep a role alive.
    let (s, inv) = app
        .api(
            "POST",
            "/api/orgs/acme/invitations",
            t,
            Some(json!({"email": "g@acme.com", "role": "guest"})),
        )
        .await;
    assert_eq!(s, 201, "{inv}");
    let inv_id = inv["invitation"]["id"].as_str().unwrap();
    let (s, e) = app
        .api(
            "DELETE",
            &format!("/api/orgs/acme/roles/{}", roles[1]),
            t,
            None,
        )
        .await;
    assert_eq!(s, 409, "pending invitation: {e}");
    let (s, _) = app
        .api(
            "DELETE",
            &format!("/api/orgs/acme/invitations/{inv_id}"),
            t,
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, e) = app
        .api(
            "DELETE",
            &format!("/api/orgs/acme/roles/{}", roles[1]),
            t,
            None,
        )
        .await;
    assert_eq!(s, 204, "{e}");
}

async fn undecodable_cursors_are_400(b: Backend) {
    let (app, _client, owner) = owner_with_org(b, "acme").await;
    let t = Some(owner.access_token.as_str());
    for cursor in ["garbage", "-1", &"9".repeat(40), "%00"] {
        for path in [
            "/api/orgs/acme/audit-log",
            "/api/orgs/acme/members",
            "/api/orgs",
        ] {
            let (s, e) = app
                .api("GET", &format!("{path}?cursor={cursor}"), t, None)
                .await;
            assert_eq!(s, 400, "{path}?cursor={cursor}: {e}");
            assert_eq!(e["error"], "invalid_request");
        }
    }
    let (s, log) = app
        .api("GET", "/api/orgs/acme/audit-log?limit=1", t, None)
        .await;
    assert_eq!(s, 200);
    let next = log["next_cursor"].as_str().expect("a next page");
    let (s, _) = app
        .api(
            "GET",
            &format!("/api/orgs/acme/audit-log?limit=1&cursor={next}"),
            t,
            None,
        )
        .await;
    assert_eq!(s, 200, "a real cursor still pages");
}

/// Finding 4 / SPEC §2 (round 2): a third-party app's `orgs` token is not an
/// org-API token unless it asks for one, and then it is nothing else.
async fn third_party_org_tokens_carry_the_org_api_audience_alone(b: Backend) {
    use crate::helpers::claims;
    let app = TestApp::spawn(b).await;
    let mut sp = spec("third");
    sp.first_party = false;
    let third = app.register(sp).await;
    let scope = "openid offline_access orgs";
    let api = format!("{}/api", app.address);
    let t = app.login_with(&third, "u@example.com", scope, "").await;
    assert_eq!(claims(&t.access_token)["aud"], "https://api.example.com");
    let (s, _) = app.api("GET", "/api/me", Some(&t.access_token), None).await;
    assert_eq!(s, 401, "an app's token is no org-API token");
    let extra = format!(
        "&audience={}",
        url::form_urlencoded::byte_serialize(api.as_bytes()).collect::<String>()
    );
    let t = app.login_with(&third, "u@example.com", scope, &extra).await;
    assert_eq!(
        claims(&t.access_token)["aud"],
        api.as_str(),
        "the org API alone"
    );
    let (s, _) = app.api("GET", "/api/me", Some(&t.access_token), None).await;
    assert_eq!(s, 200);
    // A first-party app keeps the mixed audience (round 1 behaviour).
    let web = app.web_client().await;
    let t = app.login_with(&web, "u@example.com", scope, "").await;
    assert_eq!(
        claims(&t.access_token)["aud"],
        json!(["https://api.example.com", api])
    );
}
