//! Email invitations: the message, acceptance in the login, SMTP outages.

use serde_json::json;

use super::{invite, members_of_acme, setup};
use crate::both_backends;
use crate::helpers::{org_claim, Backend, TestApp, Tokens};
use crate::smtp::{token_from, SmtpSink};

both_backends!(
    email_invitation_arrives_and_is_accepted_in_the_login,
    smtp_down_keeps_the_invitation_and_resend_retries,
);

async fn delivery_status(app: &TestApp, owner: &Tokens, id: &str) -> String {
    // The email goes out off the request path: wait for its outcome, woken
    // by the server's delivery signal (subscribed before the first look, so
    // a delivery that finishes in between is not missed).
    let mut finished = app.state.deliveries.subscribe();
    loop {
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
                tokio::time::timeout(std::time::Duration::from_secs(30), finished.changed())
                    .await
                    .expect("delivery never finished")
                    .expect("server gone");
            }
            Some(s) => return s.to_string(),
        }
    }
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
