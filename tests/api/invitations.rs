//! Invitations: delivery, acceptance in the login redirect and by API, and
//! every way an invitation can be misused.

use serde_json::json;

use crate::both_backends;
use crate::fakes::{self, FakeUser};
use crate::helpers::{claims, org_claim, query_param, Backend, Pkce, TestApp, TestClient, Tokens};
use crate::smtp::{token_from, SmtpSink};

both_backends!(
    email_invitation_arrives_and_is_accepted_in_the_login,
    github_id_invitation_is_accepted_with_github_login,
    used_expired_revoked_resent_and_tampered_tokens,
    only_the_addressee_can_accept,
    no_escalation_and_permission_checks,
    concurrent_accepts_make_one_membership,
    smtp_down_keeps_the_invitation_and_resend_retries,
    bad_input_is_refused_and_stores_nothing,
    invitee_lists_and_declines,
);

fn smtp_config(port: u16) -> tessera::config::SmtpSettings {
    tessera::config::SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        tls: "none".parse().unwrap(),
        username: None,
        password: None,
        from: "Tessera <no-reply@tessera.test>".into(),
        timeout_secs: 2,
        attempts: 2,
        retry_backoff_ms: 10,
    }
}

/// An app with SMTP pointed at `port`, a web client, and an owner of org `acme`.
async fn setup(b: Backend, smtp_port: Option<u16>) -> (TestApp, TestClient, Tokens) {
    let app = TestApp::spawn_with(b, move |s| {
        s.smtp = smtp_port.map(smtp_config);
        s.invitations.default_client_id = Some("web".into());
    })
    .await;
    let client = app.web_client().await;
    let owner = app.api_user(&client, "owner@example.com").await;
    let (s, _) = app
        .api(
            "POST",
            "/api/orgs",
            Some(&owner.access_token),
            Some(json!({"name": "Acme Corp", "slug": "acme"})),
        )
        .await;
    assert_eq!(s, 201);
    (app, client, owner)
}

async fn invite(app: &TestApp, by: &Tokens, body: serde_json::Value) -> (u16, serde_json::Value) {
    app.api(
        "POST",
        "/api/orgs/acme/invitations",
        Some(&by.access_token),
        Some(body),
    )
    .await
}

async fn accept(app: &TestApp, who: &Tokens, token: &str) -> (u16, serde_json::Value) {
    app.api(
        "POST",
        "/api/invitations/accept",
        Some(&who.access_token),
        Some(json!({"token": token})),
    )
    .await
}

async fn members_of_acme(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) AS n FROM organization_members m JOIN organizations o ON o.id = m.org_id WHERE o.slug = 'acme'").await
}

async fn delivery_status(app: &TestApp, owner: &Tokens, id: &str) -> String {
    // The email goes out off the request path: wait for its outcome.
    for _ in 0..200 {
        let (_, list) = app
            .api(
                "GET",
                "/api/orgs/acme/invitations",
                Some(&owner.access_token),
                None,
            )
            .await;
        let status = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .map(|i| i["delivery_status"].as_str().unwrap().to_string());
        match status.as_deref() {
            Some("pending") | None => {
                tokio::time::sleep(std::time::Duration::from_millis(25)).await
            }
            Some(s) => return s.to_string(),
        }
    }
    panic!("delivery never finished");
}

async fn email_invitation_arrives_and_is_accepted_in_the_login(b: Backend) {
    let mut sink = SmtpSink::start().await;
    let (app, client, owner) = setup(b, Some(sink.port)).await;
    let (s, created) = invite(
        &app,
        &owner,
        json!({"email": "New.Hire@Example.com", "role": "admin"}),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["invitation"]["email"], "new.hire@example.com");
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.len() >= 43, "≥ 256 bits");
    assert_eq!(
        created["link"],
        format!("{}/invitations/{token}", app.address)
    );
    // The email names the org and the inviter, and carries the link.
    let raw = sink.next().await;
    let text = crate::smtp::decoded(&raw);
    assert!(text.contains("Acme Corp"), "{text}");
    assert!(
        text.contains("owner@example.com") || text.contains("Dev User"),
        "{text}"
    );
    assert!(
        text.to_lowercase().contains("to: new.hire@example.com"),
        "{text}"
    );
    assert_eq!(token_from(&raw), token);
    assert_eq!(
        delivery_status(&app, &owner, created["invitation"]["id"].as_str().unwrap()).await,
        "sent"
    );
    // Only the hash is stored.
    let plain =
        format!("SELECT COUNT(*) AS n FROM organization_invitations WHERE token_hash = '{token}'");
    assert_eq!(app.count(plain).await, 0);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM organization_invitations WHERE LENGTH(token_hash) = 64"
        )
        .await,
        1
    );
    // The page names org, inviter and role and continues into /authorize.
    let page = app.get(&format!("/invitations/{token}")).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Acme Corp") && html.contains("admin") && html.contains("invitation="),
        "{html}"
    );
    // The invitee logs in through the login redirect with invitation=…
    let t = app
        .login_with(
            &client,
            "new.hire@example.com",
            "openid email orgs offline_access",
            &format!("&invitation={token}"),
        )
        .await;
    assert_eq!(org_claim(&app, &t.access_token, "org_slug"), "acme");
    assert_eq!(
        org_claim(&app, &t.access_token, "org_role"),
        "admin",
        "role from the row"
    );
    assert_eq!(members_of_acme(&app).await, 2);
    for action in ["invitation_sent", "invitation_accepted", "member_added"] {
        let sql = format!("SELECT COUNT(*) AS n FROM audit_events WHERE action = '{action}'");
        assert!(app.count(sql).await >= 1, "{action}");
    }
    // The link is single use.
    let page = app.get(&format!("/invitations/{token}")).await;
    assert_eq!(page.status(), 410);
}

async fn github_id_invitation_is_accepted_with_github_login(b: Backend) {
    let github = fakes::github();
    let base = github.base.clone();
    let app = TestApp::spawn_with(b, move |s| {
        s.connectors.github = Some(tessera::config::GithubConnector {
            client_id: "gh".into(),
            client_secret: tessera::config::SecretString::new("gh-secret"),
            base_url: base.clone(),
            api_url: base,
        })
    })
    .await;
    let client = app.web_client().await;
    let owner = app.api_user(&client, "owner@example.com").await;
    app.api(
        "POST",
        "/api/orgs",
        Some(&owner.access_token),
        Some(json!({"name": "Acme", "slug": "acme"})),
    )
    .await;
    let (s, created) = invite(&app, &owner, json!({"github_id": 4242, "role": "member"})).await;
    assert_eq!(s, 201);
    assert_eq!(created["invitation"]["delivery_status"], "not_emailed");
    let token = created["token"].as_str().unwrap().to_string();
    github.set_user(FakeUser::new("4242", "octo@example.com", true));
    let browser = app.browser();
    let pkce = Pkce::new();
    let url = format!(
        "{}&invitation={token}",
        app.authorize_url(&client, &pkce, "openid orgs", "github")
    );
    let back = browser.follow(&url).await.expect("back to the client");
    let t = app
        .exchange(&client, &query_param(&back, "code").unwrap(), &pkce)
        .await;
    assert_eq!(org_claim(&app, &t.access_token, "org_slug"), "acme");
    // By login too, resolved to the numeric id at acceptance.
    let (_, created) = invite(
        &app,
        &owner,
        json!({"github_login": "User77", "role": "member"}),
    )
    .await;
    let token = created["token"].as_str().unwrap().to_string();
    github.set_user(FakeUser::new("77", "seven@example.com", true));
    let browser = app.browser();
    let url = format!(
        "{}&invitation={token}",
        app.authorize_url(&client, &pkce, "openid orgs", "github")
    );
    let back = browser.follow(&url).await.expect("back");
    let t = app
        .exchange(&client, &query_param(&back, "code").unwrap(), &pkce)
        .await;
    assert_eq!(org_claim(&app, &t.access_token, "org_slug"), "acme");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM organization_invitations WHERE github_login = 'user77' AND github_id = '77'").await, 1);
    // A GitHub id mismatch is refused.
    let (_, created) = invite(&app, &owner, json!({"github_id": "999", "role": "member"})).await;
    let token = created["token"].as_str().unwrap().to_string();
    github.set_user(FakeUser::new("1000", "other@example.com", true));
    let browser = app.browser();
    let url = format!(
        "{}&invitation={token}",
        app.authorize_url(&client, &pkce, "openid orgs", "github")
    );
    let back = browser.follow(&url).await.expect("back");
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("access_denied")
    );
    assert!(query_param(&back, "error_description")
        .unwrap()
        .contains("different"));
}

async fn used_expired_revoked_resent_and_tampered_tokens(b: Backend) {
    let (app, client, owner) = setup(b, None).await;
    let alice = app.api_user(&client, "alice@example.com").await;
    let mk = |email: &'static str| {
        let app = &app;
        let owner = &owner;
        async move {
            let (s, c) = invite(app, owner, json!({"email": email, "role": "member"})).await;
            assert_eq!(s, 201, "{c}");
            (
                c["invitation"]["id"].as_str().unwrap().to_string(),
                c["token"].as_str().unwrap().to_string(),
            )
        }
    };
    // Used: replay gives 410 and no second membership.
    let (_, token) = mk("alice@example.com").await;
    let (s, body) = accept(&app, &alice, &token).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("joined")));
    assert_eq!(accept(&app, &alice, &token).await.0, 410);
    assert_eq!(members_of_acme(&app).await, 2);
    // Tampered and truncated: 404.
    let (_, token) = mk("bob@example.com").await;
    let bob = app.api_user(&client, "bob@example.com").await;
    let mut tampered = token.clone();
    tampered.replace_range(0..1, if token.starts_with('A') { "B" } else { "A" });
    assert_eq!(accept(&app, &bob, &tampered).await.0, 404);
    assert_eq!(accept(&app, &bob, &token[..20]).await.0, 404);
    assert_eq!(
        app.get(&format!("/invitations/{}", &token[..20]))
            .await
            .status(),
        404
    );
    // Revoked.
    let (id, token) = mk("carol@example.com").await;
    let carol = app.api_user(&client, "carol@example.com").await;
    assert_eq!(
        app.api(
            "DELETE",
            &format!("/api/orgs/acme/invitations/{id}"),
            Some(&owner.access_token),
            None
        )
        .await
        .0,
        204
    );
    let (s, body) = accept(&app, &carol, &token).await;
    assert_eq!(s, 410);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("revoked"));
    // Resent: the old token is dead, the new one works.
    let (id, old) = mk("dave@example.com").await;
    let dave = app.api_user(&client, "dave@example.com").await;
    let (s, resent) = app
        .api(
            "POST",
            &format!("/api/orgs/acme/invitations/{id}/resend"),
            Some(&owner.access_token),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let new = resent["token"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(accept(&app, &dave, &old).await.0, 404);
    assert_eq!(accept(&app, &dave, new).await.0, 200);
    // Expired (frozen clock, no sleeps).
    let (_, token) = mk("erin@example.com").await;
    app.clock.advance(chrono::Duration::days(8));
    let erin = app.api_user(&client, "erin@example.com").await;
    let (s, body) = accept(&app, &erin, &token).await;
    assert_eq!(s, 410);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("expired"));
    assert_eq!(
        app.get(&format!("/invitations/{token}")).await.status(),
        410
    );
    let owner = app.api_user(&client, "owner@example.com").await;
    let mk = |email: &'static str| {
        let app = &app;
        let owner = &owner;
        async move {
            let (s, c) = invite(app, owner, json!({"email": email, "role": "member"})).await;
            assert_eq!(s, 201, "{c}");
            (
                c["invitation"]["id"].as_str().unwrap().to_string(),
                c["token"].as_str().unwrap().to_string(),
            )
        }
    };
    // A second pending invitation to the same address replaces the first.
    let (_, first) = mk("fred@example.com").await;
    let (_, second) = mk("fred@example.com").await;
    let fred = app.api_user(&client, "fred@example.com").await;
    assert_eq!(accept(&app, &fred, &first).await.0, 410);
    assert_eq!(accept(&app, &fred, &second).await.0, 200);
    // Inviting an existing member: 409.
    let (s, _) = invite(
        &app,
        &owner,
        json!({"email": "fred@example.com", "role": "member"}),
    )
    .await;
    assert_eq!(s, 409);
    // In the login redirect, a bad token is access_denied and changes nothing.
    let loc = app
        .browser()
        .dev_login(
            &format!(
                "{}&invitation=nope",
                app.authorize_url(&client, &Pkce::new(), "openid orgs", "dev")
            ),
            "gina@example.com",
            true,
        )
        .await;
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"));
}

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

async fn concurrent_accepts_make_one_membership(b: Backend) {
    let (app, client, owner) = setup(b, None).await;
    let (_, c) = invite(
        &app,
        &owner,
        json!({"email": "race@example.com", "role": "member"}),
    )
    .await;
    let token = c["token"].as_str().unwrap().to_string();
    let racer = app.api_user(&client, "race@example.com").await;
    let (a, b2, c2, d) = tokio::join!(
        accept(&app, &racer, &token),
        accept(&app, &racer, &token),
        accept(&app, &racer, &token),
        accept(&app, &racer, &token)
    );
    let ok = [a.0, b2.0, c2.0, d.0].iter().filter(|s| **s == 200).count();
    assert_eq!(ok, 1, "{:?}", [a.0, b2.0, c2.0, d.0]);
    assert_eq!(members_of_acme(&app).await, 2);
}

async fn smtp_down_keeps_the_invitation_and_resend_retries(b: Backend) {
    // A port with nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (app, _client, owner) = setup(b, Some(port)).await;
    let (s, c) = invite(
        &app,
        &owner,
        json!({"email": "later@example.com", "role": "member"}),
    )
    .await;
    assert_eq!(s, 201, "the invitation is created even if mail is down");
    let id = c["invitation"]["id"].as_str().unwrap().to_string();
    assert_eq!(delivery_status(&app, &owner, &id).await, "delivery_failed");
    // The server comes back; resend delivers.
    let mut sink = SmtpSink::start_on(port).await;
    let (s, resent) = app
        .api(
            "POST",
            &format!("/api/orgs/acme/invitations/{id}/resend"),
            Some(&owner.access_token),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let raw = sink.next().await;
    assert_eq!(token_from(&raw), resent["token"].as_str().unwrap());
    assert_eq!(delivery_status(&app, &owner, &id).await, "sent");
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

async fn invitee_lists_and_declines(b: Backend) {
    let (app, client, owner) = setup(b, None).await;
    let (_, c) = invite(
        &app,
        &owner,
        json!({"email": "maybe@example.com", "role": "member"}),
    )
    .await;
    let token = c["token"].as_str().unwrap().to_string();
    let maybe = app.api_user(&client, "maybe@example.com").await;
    let (s, mine) = app
        .api(
            "GET",
            "/api/me/invitations",
            Some(&maybe.access_token),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(mine["data"].as_array().unwrap().len(), 1);
    assert_eq!(mine["data"][0]["organization_name"], "Acme Corp");
    assert!(!mine.to_string().contains(&token));
    let other = app.api_user(&client, "nobody@example.com").await;
    let (_, none) = app
        .api(
            "GET",
            "/api/me/invitations",
            Some(&other.access_token),
            None,
        )
        .await;
    assert_eq!(none["data"].as_array().unwrap().len(), 0);
    assert_eq!(
        app.api(
            "POST",
            "/api/invitations/decline",
            Some(&other.access_token),
            Some(json!({"token": token}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.api(
            "POST",
            "/api/invitations/decline",
            Some(&maybe.access_token),
            Some(json!({"token": token}))
        )
        .await
        .0,
        204
    );
    assert_eq!(accept(&app, &maybe, &token).await.0, 410);
    let (_, mine) = app
        .api(
            "GET",
            "/api/me/invitations",
            Some(&maybe.access_token),
            None,
        )
        .await;
    assert_eq!(mine["data"].as_array().unwrap().len(), 0);
    let _ = claims(&maybe.access_token);
}
