//! Adding and verifying a domain: the TXT record, what a failed check found,
//! one org per domain, input rules.

use serde_json::json;

use super::{add, setup, verified_acme, verify};
use crate::both_backends;
use crate::helpers::Backend;

both_backends!(
    add_publish_verify,
    failed_verifications_say_what_was_found,
    a_domain_belongs_to_one_org,
    free_mail_garbage_and_normalisation,
    public_suffixes_are_refused,
);

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

/// The Public Suffix List decides: a public suffix (ICANN or private) is no
/// one's domain; a registrable domain under it, or a name below that, is.
async fn public_suffixes_are_refused(b: Backend) {
    let (app, _client, owner, _dns) = setup(b).await;
    for suffix in ["co.uk", "github.io", "vercel.app", "Co.Uk."] {
        let (s, r) = add(&app, &owner, "acme", json!({"domain": suffix})).await;
        assert_eq!(s, 422, "{suffix}: {r}");
        let msg = r["error_description"].as_str().unwrap();
        assert!(
            msg.starts_with("domain") && msg.contains("public suffix"),
            "{suffix}: {r}"
        );
    }
    for ok in ["acme.co.uk", "eu.acme.com"] {
        let (s, d) = add(&app, &owner, "acme", json!({"domain": ok})).await;
        assert_eq!(s, 201, "{ok}: {d}");
        assert_eq!(d["domain"], ok);
    }
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM organization_domains")
            .await,
        2
    );
}
