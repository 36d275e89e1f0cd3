//! Purging expired rows.

use crate::both_backends;
use crate::helpers::{Backend, Pkce, TestApp};

both_backends!(expired_rows_are_purged);

async fn expired_rows_are_purged(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let live = app.login(&client, "live@example.com").await;
    // An abandoned login transaction and a revoked access token.
    app.browser()
        .get(&app.authorize_url(&client, &Pkce::new(), "openid", "dev"))
        .await;
    let t = app.login(&client, "old@example.com").await;
    let res = app
        .client
        .post(app.url("/oauth/revoke"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("token", t.access_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let nothing = tessera::app::purge_expired(&app.state)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        nothing,
        tessera::maintenance::Purged::default(),
        "nothing is expired yet"
    );
    // Two hours on: transactions, codes and the deny-list entry are gone, refresh families live on.
    app.clock.advance(chrono::Duration::hours(2));
    let p = tessera::app::purge_expired(&app.state)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.login_transactions, 1);
    assert_eq!(p.authorization_codes, 2);
    assert_eq!(p.revoked_tokens, 1);
    assert_eq!(p.refresh_tokens, 0);
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", live.refresh_token.as_deref().unwrap()),
            ],
        )
        .await;
    assert_eq!(res.status(), 200, "live refresh tokens survive");
    // After the families' absolute lifetime, refresh tokens and sessions go too.
    app.clock.advance(chrono::Duration::days(31));
    let p = tessera::app::purge_expired(&app.state)
        .await
        .unwrap()
        .unwrap();
    assert!(p.refresh_tokens >= 2 && p.sessions >= 2, "{p:?}");
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM refresh_tokens").await,
        0
    );
}
