//! Verified domains against a real DNS server on 127.0.0.1.

use serde_json::json;

use crate::both_backends;
use crate::dns::DnsServer;
use crate::helpers::{org_claim, Backend, Pkce, TestApp, TestClient, Tokens};

both_backends!(
    add_publish_verify,
    failed_verifications_say_what_was_found,
    a_domain_belongs_to_one_org,
    free_mail_garbage_and_normalisation,
    reverification_goes_failing_then_unverified_and_back,
    auto_enroll_only_verified_emails_and_only_once,
    home_realm_discovery,
    domain_permissions,
    recheck_lease_has_one_holder,
);

async fn setup(b: Backend) -> (TestApp, TestClient, Tokens, DnsServer) {
    let dns = DnsServer::start().await;
    let ns = dns.addr.clone();
    let app = TestApp::spawn_with(b, move |s| {
        s.domains.nameservers = vec![ns];
        s.domains.timeout_ms = 300;
        s.domains.attempts = 1;
    })
    .await;
    let client = app.web_client().await;
    let owner = app.api_user(&client, "owner@acme.com").await;
    let (s, _) = app
        .api(
            "POST",
            "/api/orgs",
            Some(&owner.access_token),
            Some(json!({"name": "Acme", "slug": "acme"})),
        )
        .await;
    assert_eq!(s, 201);
    (app, client, owner, dns)
}

async fn add(
    app: &TestApp,
    t: &Tokens,
    org: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    app.api(
        "POST",
        &format!("/api/orgs/{org}/domains"),
        Some(&t.access_token),
        Some(body),
    )
    .await
}

async fn verify(app: &TestApp, t: &Tokens, org: &str, id: &str) -> (u16, serde_json::Value) {
    app.api(
        "POST",
        &format!("/api/orgs/{org}/domains/{id}/verify"),
        Some(&t.access_token),
        None,
    )
    .await
}

/// Adds acme.com to `acme`, publishes the record and verifies it.
async fn verified_acme(
    app: &TestApp,
    owner: &Tokens,
    dns: &DnsServer,
    auto_enroll: bool,
) -> String {
    let (s, d) = add(
        app,
        owner,
        "acme",
        json!({"domain": "acme.com", "auto_enroll": auto_enroll, "enroll_role": "member"}),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    dns.set_txt(
        d["record"]["name"].as_str().unwrap(),
        &[d["record"]["value"].as_str().unwrap()],
    );
    let id = d["id"].as_str().unwrap().to_string();
    assert_eq!(verify(app, owner, "acme", &id).await.0, 200);
    id
}

async fn add_publish_verify(b: Backend) {
    let (app, _client, owner, dns) = setup(b).await;
    let (s, d) = add(
        &app,
        &owner,
        "acme",
        json!({"domain": "acme.com", "auto_enroll": true}),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["status"], "pending");
    assert_eq!(d["record"]["type"], "TXT");
    assert_eq!(d["record"]["name"], "_tessera-challenge.acme.com");
    let value = d["record"]["value"].as_str().unwrap().to_string();
    let token = value.strip_prefix("tessera-domain-verification=").unwrap();
    assert!(token.len() >= 22, "≥ 128 bits");
    // A multi-string TXT record is joined before comparing; other records are ignored.
    let (a, b2) = value.split_at(20);
    dns.set_txt_strings(
        "_tessera-challenge.acme.com",
        &[a.as_bytes().to_vec(), b2.as_bytes().to_vec()],
    );
    let id = d["id"].as_str().unwrap();
    let (s, v) = verify(&app, &owner, "acme", id).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "verified");
    assert_eq!(v["record_seen"], value);
    assert!(v["verified_at"].is_string());
    let (_, list) = app
        .api(
            "GET",
            "/api/orgs/acme/domains",
            Some(&owner.access_token),
            None,
        )
        .await;
    assert_eq!(list["data"][0]["status"], "verified");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM audit_events WHERE action IN ('domain_added', 'domain_verified')").await, 2);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"tessera_dns_checks_total{kind="verify",outcome="records"} 1"#),
        "{metrics}"
    );
    assert_eq!(
        app.api(
            "DELETE",
            &format!("/api/orgs/acme/domains/{id}"),
            Some(&owner.access_token),
            None
        )
        .await
        .0,
        204
    );
}

async fn failed_verifications_say_what_was_found(b: Backend) {
    let (app, _client, owner, dns) = setup(b).await;
    let (_, d) = add(&app, &owner, "acme", json!({"domain": "acme.com"})).await;
    let id = d["id"].as_str().unwrap().to_string();
    let name = "_tessera-challenge.acme.com";
    // NXDOMAIN.
    let (s, r) = verify(&app, &owner, "acme", &id).await;
    assert_eq!(s, 422, "{r}");
    assert_eq!(r["found"]["result"], "nxdomain");
    // Other values.
    dns.set_txt(name, &["v=spf1 -all", "tessera-domain-verification=wrong"]);
    let (s, r) = verify(&app, &owner, "acme", &id).await;
    assert_eq!(s, 422);
    assert_eq!(r["found"]["result"], "records");
    assert_eq!(
        r["found"]["values"],
        json!(["v=spf1 -all", "tessera-domain-verification=wrong"])
    );
    assert_eq!(r["expected"]["value"], d["record"]["value"]);
    // The name exists without TXT records.
    dns.zone.lock().unwrap().txt.insert(name.into(), vec![]);
    let (_, r) = verify(&app, &owner, "acme", &id).await;
    assert_eq!(r["found"]["result"], "no_record", "{r}");
    // A server that never answers: within the configured timeout.
    dns.silent(true);
    let started = std::time::Instant::now();
    let (s, r) = verify(&app, &owner, "acme", &id).await;
    assert_eq!(s, 422);
    assert_eq!(r["found"]["result"], "timeout");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    dns.silent(false);
    // Garbage and huge answers are handled without a panic.
    dns.garbage(true);
    let (s, _) = verify(&app, &owner, "acme", &id).await;
    assert_eq!(s, 422);
    dns.garbage(false);
    let huge: Vec<Vec<u8>> = (0..20).map(|_| vec![b'x'; 255]).collect();
    dns.set_txt_strings(name, &huge);
    let (s, _) = verify(&app, &owner, "acme", &id).await;
    assert_eq!(s, 422);
    dns.set_txt_strings(name, &[vec![0xff, 0xfe, 0x00, b'\n']]);
    let (s, _) = verify(&app, &owner, "acme", &id).await;
    assert_eq!(s, 422);
    // Still pending.
    let (_, list) = app
        .api(
            "GET",
            "/api/orgs/acme/domains",
            Some(&owner.access_token),
            None,
        )
        .await;
    assert_eq!(list["data"][0]["status"], "pending");
    assert!(app.get("/healthz").await.status().is_success());
}

async fn a_domain_belongs_to_one_org(b: Backend) {
    let (app, client, owner, dns) = setup(b).await;
    let rival = app.api_user(&client, "boss@rival.com").await;
    app.api(
        "POST",
        "/api/orgs",
        Some(&rival.access_token),
        Some(json!({"name": "Rival", "slug": "rival"})),
    )
    .await;
    // Pending claims by several orgs are allowed.
    let (s, theirs) = add(&app, &rival, "rival", json!({"domain": "acme.com"})).await;
    assert_eq!(s, 201);
    verified_acme(&app, &owner, &dns, false).await;
    // The rival publishes its own record too: still 409, first to verify wins.
    dns.set_txt(
        theirs["record"]["name"].as_str().unwrap(),
        &[theirs["record"]["value"].as_str().unwrap()],
    );
    let (s, r) = verify(&app, &rival, "rival", theirs["id"].as_str().unwrap()).await;
    assert_eq!(s, 409, "{r}");
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM organization_domains WHERE status = 'verified'")
            .await,
        1
    );
    // Adding the same domain twice to one org.
    assert_eq!(
        add(&app, &owner, "acme", json!({"domain": "ACME.com"}))
            .await
            .0,
        409
    );
}

async fn free_mail_garbage_and_normalisation(b: Backend) {
    let (app, _client, owner, _dns) = setup(b).await;
    for bad in ["gmail.com", "Outlook.com", "proton.me"] {
        let (s, r) = add(&app, &owner, "acme", json!({"domain": bad})).await;
        assert_eq!(s, 422, "{bad}: {r}");
        assert!(r["error_description"]
            .as_str()
            .unwrap()
            .contains("free-mail"));
    }
    let long = format!("{}.com", "a".repeat(300));
    for bad in [
        "http://x",
        "..",
        long.as_str(),
        "10.0.0.1",
        "[::1]",
        "localhost",
        "аcme.com",
        "acme.com:8080",
        "acme.com/x",
        "acme",
        "",
    ] {
        let (s, r) = add(&app, &owner, "acme", json!({"domain": bad})).await;
        assert_eq!(s, 422, "{bad}: {r}");
        assert!(
            r["error_description"]
                .as_str()
                .unwrap()
                .starts_with("domain"),
            "{bad}: {r}"
        );
    }
    let (s, d) = add(
        &app,
        &owner,
        "acme",
        json!({"domain": "Bücher.Example.COM."}),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["domain"], "xn--bcher-kva.example.com");
    assert_eq!(
        d["record"]["name"],
        "_tessera-challenge.xn--bcher-kva.example.com"
    );
    assert_eq!(
        add(
            &app,
            &owner,
            "acme",
            json!({"domain": "x.com", "enroll_role": "nope"})
        )
        .await
        .0,
        422
    );
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM organization_domains")
            .await,
        1
    );
}

async fn reverification_goes_failing_then_unverified_and_back(b: Backend) {
    let (app, _client, owner, dns) = setup(b).await;
    verified_acme(&app, &owner, &dns, true).await;
    // Read from the database: the owner's access token expires as the clock moves.
    let status = || async {
        for st in ["pending", "verified", "failing", "unverified"] {
            let sql =
                format!("SELECT COUNT(*) AS n FROM organization_domains WHERE status = '{st}'");
            if app.count(sql).await == 1 {
                return st.to_string();
            }
        }
        panic!("no domain");
    };
    let hour = chrono::Duration::hours(1);
    // Not due yet.
    assert_eq!(tessera::app::recheck_domains(&app.state).await.unwrap(), 0);
    // The record disappears: failing.
    let name = "_tessera-challenge.acme.com";
    let value = dns.zone.lock().unwrap().txt[name].clone();
    dns.remove(name);
    app.clock.advance(hour);
    assert_eq!(tessera::app::recheck_domains(&app.state).await.unwrap(), 1);
    assert_eq!(status().await, "failing");
    // It comes back: verified again.
    dns.zone
        .lock()
        .unwrap()
        .txt
        .insert(name.into(), value.clone());
    app.clock.advance(hour);
    tessera::app::recheck_domains(&app.state).await.unwrap();
    assert_eq!(status().await, "verified");
    // Gone for longer than the grace period: unverified.
    dns.remove(name);
    app.clock.advance(hour);
    tessera::app::recheck_domains(&app.state).await.unwrap();
    assert_eq!(status().await, "failing");
    app.clock.advance(chrono::Duration::hours(71));
    tessera::app::recheck_domains(&app.state).await.unwrap();
    assert_eq!(status().await, "failing", "still in grace");
    app.clock.advance(hour);
    tessera::app::recheck_domains(&app.state).await.unwrap();
    assert_eq!(status().await, "unverified");
    // No more re-checks for it, and auto-enroll stops.
    app.clock.advance(hour);
    assert_eq!(tessera::app::recheck_domains(&app.state).await.unwrap(), 0);
    for (action, n) in [
        ("domain_failing", 2),
        ("domain_verified", 2),
        ("domain_unverified", 1),
    ] {
        let sql = format!("SELECT COUNT(*) AS n FROM audit_events WHERE action = '{action}'");
        assert_eq!(app.count(sql).await, n, "{action}");
    }
}

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

async fn recheck_lease_has_one_holder(b: Backend) {
    let (app, _client, _owner, _dns) = setup(b).await;
    let db = app.state.db.clone();
    let now = tessera::clock::Clock::now_naive(app.clock.as_ref());
    tokio::task::spawn_blocking(move || {
        use tessera::orgs::domains::take_lease;
        let mut conn = db.get().unwrap();
        let ttl = chrono::Duration::minutes(10);
        assert!(take_lease(&mut conn, "job", "a", ttl, now).unwrap());
        assert!(
            !take_lease(&mut conn, "job", "b", ttl, now).unwrap(),
            "held by a"
        );
        assert!(
            take_lease(&mut conn, "job", "a", ttl, now).unwrap(),
            "a renews"
        );
        assert!(
            take_lease(
                &mut conn,
                "job",
                "b",
                ttl,
                now + chrono::Duration::minutes(11)
            )
            .unwrap(),
            "expired: b takes over"
        );
        assert!(!take_lease(
            &mut conn,
            "job",
            "a",
            ttl,
            now + chrono::Duration::minutes(12)
        )
        .unwrap());
    })
    .await
    .unwrap();
}
