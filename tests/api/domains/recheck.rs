//! Periodic re-verification and the lease that gives it one runner.

use super::{setup, verified_acme};
use crate::both_backends;
use crate::helpers::Backend;

both_backends!(
    reverification_goes_failing_then_unverified_and_back,
    recheck_lease_has_one_holder,
);

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

async fn recheck_lease_has_one_holder(b: Backend) {
    let (app, _client, _owner, _dns) = setup(b).await;
    let db = app.state.db.clone();
    let now = tessera::clock::Clock::now_naive(app.clock.as_ref());
    tokio::task::spawn_blocking(move || {
        use tessera::db::lease::take as take_lease;
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
