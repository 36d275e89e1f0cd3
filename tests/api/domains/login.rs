//! What a verified domain does at login: auto-enrollment and home realm discovery.

use serde_json::json;

use super::{add, setup, verified_acme, verify};
use crate::both_backends;
use crate::helpers::{org_claim, Backend, Pkce, Tokens};

both_backends!(
    auto_enroll_only_verified_emails_and_only_once,
    home_realm_discovery,
);

async fn auto_enroll_only_verified_emails_and_only_once(b: Backend) {
    let (app, client, owner, dns) = setup(b).await;
    verified_acme(&app, &owner, &dns, true).await;
    let in_acme = |t: Tokens| {
        let app = &app;
        async move {
            let (_, me) = app.api("GET", "/api/me", Some(&t.access_token), None).await;
            me["memberships"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["organization"]["slug"] == "acme")
        }
    };
    // Verified email at the domain: joins.
    let alice = app.api_user(&client, "alice@ACME.com").await;
    assert!(in_acme(alice.clone()).await);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'member_auto_enrolled'")
            .await,
        1
    );
    // Unverified email: does not.
    let browser = app.browser();
    let pkce = Pkce::new();
    let loc = browser
        .dev_login(
            &app.authorize_url(&client, &pkce, "openid orgs offline_access", "dev"),
            "mallory@acme.com",
            false,
        )
        .await;
    let t = app
        .exchange(
            &client,
            &crate::helpers::query_param(&loc, "code").unwrap(),
            &pkce,
        )
        .await;
    assert!(!in_acme(t).await);
    // Removed: not re-enrolled at the next login.
    let alice_id = crate::helpers::claims(&alice.access_token)["sub"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        app.api(
            "DELETE",
            &format!("/api/orgs/acme/members/{alice_id}"),
            Some(&owner.access_token),
            None
        )
        .await
        .0,
        204
    );
    let again = app.api_user(&client, "alice@acme.com").await;
    assert!(!in_acme(again).await);
    // A domain without auto_enroll enrolls nobody.
    let (_, d) = add(
        &app,
        &owner,
        "acme",
        json!({"domain": "acme.org", "auto_enroll": false}),
    )
    .await;
    dns.set_txt(
        d["record"]["name"].as_str().unwrap(),
        &[d["record"]["value"].as_str().unwrap()],
    );
    verify(&app, &owner, "acme", d["id"].as_str().unwrap()).await;
    let bob = app.api_user(&client, "bob@acme.org").await;
    assert!(!in_acme(bob).await);
}

async fn home_realm_discovery(b: Backend) {
    let (app, client, owner, dns) = setup(b).await;
    verified_acme(&app, &owner, &dns, true).await;
    let (s, o) = app
        .api(
            "PATCH",
            "/api/orgs/acme",
            Some(&owner.access_token),
            Some(json!({"preferred_connection": "dev"})),
        )
        .await;
    assert_eq!(s, 200, "{o}");
    assert_eq!(
        app.api(
            "PATCH",
            "/api/orgs/acme",
            Some(&owner.access_token),
            Some(json!({"preferred_connection": "ldap"}))
        )
        .await
        .0,
        422
    );
    // login_hint at the verified domain skips the chooser.
    let pkce = Pkce::new();
    let url = format!(
        "{}&login_hint=carol%40acme.com",
        app.authorize_url(&client, &pkce, "openid orgs offline_access", "")
    );
    let res = app.browser().get(&url).await;
    let loc = res.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("/login/dev?"), "{loc}");
    let res = app
        .browser()
        .get(&format!(
            "{}&login_hint=carol%40elsewhere.com",
            app.authorize_url(&client, &pkce, "openid", "")
        ))
        .await;
    assert!(res.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login?"));
    // ...and selects that org for its members.
    let carol = app
        .login_with(
            &client,
            "carol@acme.com",
            "openid orgs offline_access",
            "&login_hint=carol%40acme.com",
        )
        .await;
    assert_eq!(org_claim(&app, &carol.access_token, "org_slug"), "acme");
}
