//! Org claims in tokens: the personal org, the claim namespace.

use super::{create_org, org_id, setup};
use crate::both_backends;
use crate::helpers::{claims, org_claim, refresh, Backend, TestApp, Tokens};

both_backends!(
    login_lands_in_the_personal_org_with_verifiable_claims,
    claim_namespace_is_configurable,
    personal_org_can_be_turned_off,
);

async fn login_lands_in_the_personal_org_with_verifiable_claims(b: Backend) {
    let (app, client) = setup(b).await;
    let t = app.api_user(&client, "ann@example.com").await;
    let id = org_id(&app, &t);
    assert_eq!(org_claim(&app, &t.access_token, "org_role"), "owner");
    let perms = org_claim(&app, &t.access_token, "org_permissions");
    assert!(perms.as_array().unwrap().iter().any(|p| p == "org:delete"));
    assert!(org_claim(&app, &t.access_token, "org_slug").is_string());
    // ID token carries them too.
    assert_eq!(
        org_claim(&app, t.id_token.as_deref().unwrap(), "org_id"),
        id.as_str()
    );
    // Verified with the JWKS by an independent library, audience includes the API.
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(&t.access_token).unwrap();
    let key =
        jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap())
            .unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&[format!("{}/api", app.address)]);
    let verified = jsonwebtoken::decode::<serde_json::Value>(&t.access_token, &key, &v)
        .unwrap()
        .claims;
    assert_eq!(verified[format!("{}/org_id", app.address)], id.as_str());
    // /api/me agrees.
    let (s, me) = app.api("GET", "/api/me", Some(&t.access_token), None).await;
    assert_eq!(s, 200);
    assert_eq!(me["active_organization"]["organization"]["id"], id.as_str());
    assert_eq!(me["memberships"].as_array().unwrap().len(), 1);
    assert_eq!(me["memberships"][0]["organization"]["personal"], true);
    // A second login does not create a second personal org.
    let t2 = app.api_user(&client, "ann@example.com").await;
    assert_eq!(org_id(&app, &t2), id);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM organizations").await,
        1
    );
}

async fn claim_namespace_is_configurable(b: Backend) {
    for (ns, prefix) in [
        (
            "https://acme.example/claims/",
            "https://acme.example/claims/",
        ),
        ("", ""),
    ] {
        let ns = ns.to_string();
        let app = TestApp::spawn_with(b, move |s| s.claims.namespace = Some(ns)).await;
        let client = app.web_client().await;
        let t = app.api_user(&client, "ns@example.com").await;
        let c = claims(&t.access_token);
        assert!(c[format!("{prefix}org_id")].is_string(), "{c}");
        assert!(c[format!("{prefix}org_permissions")].is_array());
        let doc = app.get_json("/.well-known/openid-configuration").await;
        assert_eq!(doc["organization_claims_namespace"], prefix);
    }
}

async fn personal_org_can_be_turned_off(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.orgs.personal_org = false).await;
    let client = app.web_client().await;
    let t = app.api_user(&client, "solo@example.com").await;
    assert!(org_claim(&app, &t.access_token, "org_id").is_null());
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM organizations").await,
        0
    );
    let id = create_org(&app, &t, "First", "first").await;
    let t2: Tokens = refresh(&app, &client, &t, None).await.json().await.unwrap();
    assert_eq!(org_id(&app, &t2), id, "the first membership becomes active");
}
