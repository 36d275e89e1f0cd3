//! Logins through the upstream fakes: Google, GitHub, and an upstream that is down.

use crate::both_backends;
use crate::fakes::{self, FakeUser};
use crate::helpers::{claims, query_param, Backend, Pkce, TestApp};

both_backends!(
    google_login_and_linking_by_verified_email_only,
    github_login_and_no_verified_email,
    upstream_down_gives_an_error_page_and_no_user,
);

async fn google_login_and_linking_by_verified_email_only(b: Backend) {
    let google = fakes::google();
    let base = google.base.clone();
    let app = TestApp::spawn_with(b, move |s| {
        s.connectors.google = Some(tessera::config::GoogleConnector {
            client_id: "tessera-at-google".into(),
            client_secret: tessera::config::SecretString::new("google-secret"),
            issuer_url: base,
        })
    })
    .await;
    let client = app.web_client().await;
    // A dev user with a verified email.
    let first = app.login(&client, "bob@example.com").await;
    let bob = claims(&first.access_token)["sub"].clone();
    // Google with the same verified email links to bob.
    google.set_user(FakeUser::new("g-1", "Bob@Example.com", true));
    let browser = app.browser();
    let pkce = Pkce::new();
    let back = browser
        .follow(&app.authorize_url(&client, &pkce, "openid email", "google"))
        .await
        .expect("redirect back");
    let t = app
        .exchange(&client, &query_param(&back, "code").unwrap(), &pkce)
        .await;
    assert_eq!(
        claims(&t.access_token)["sub"],
        bob,
        "linked by verified email"
    );
    // Google with the same but unverified email does NOT link.
    google.set_user(FakeUser::new("g-2", "bob@example.com", false));
    let browser = app.browser();
    let pkce = Pkce::new();
    let back = browser
        .follow(&app.authorize_url(&client, &pkce, "openid email", "google"))
        .await
        .expect("redirect back");
    let t = app
        .exchange(&client, &query_param(&back, "code").unwrap(), &pkce)
        .await;
    assert_ne!(
        claims(&t.access_token)["sub"],
        bob,
        "an unverified email never links"
    );
    assert_eq!(
        claims(t.id_token.as_deref().unwrap())["email_verified"],
        false
    );
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM identities").await, 3);
    // Google rotates its key: the cached discovery is refetched and the login still works.
    google.rotate_key();
    let browser = app.browser();
    let pkce = Pkce::new();
    let back = browser
        .follow(&app.authorize_url(&client, &pkce, "openid email", "google"))
        .await
        .expect("redirect back after a key rotation");
    assert!(query_param(&back, "code").is_some(), "{back}");
    // The chooser lists the connection.
    let res = app
        .browser()
        .get(&app.authorize_url(&client, &pkce, "openid", ""))
        .await;
    let login = res.headers()["location"].to_str().unwrap().to_string();
    let page = app.browser().get(&login).await;
    assert_eq!(page.status(), 400, "another browser's transaction");
    let b2 = app.browser();
    let res = b2
        .get(&app.authorize_url(&client, &pkce, "openid", ""))
        .await;
    let page = b2
        .get(res.headers()["location"].to_str().unwrap())
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Continue with Google") && page.contains("Dev login"),
        "{page}"
    );
}

async fn github_login_and_no_verified_email(b: Backend) {
    let github = fakes::github();
    let base = github.base.clone();
    let app = TestApp::spawn_with(b, move |s| {
        s.connectors.github = Some(tessera::config::GithubConnector {
            client_id: "gh-client".into(),
            client_secret: tessera::config::SecretString::new("gh-secret"),
            base_url: base.clone(),
            api_url: base,
        })
    })
    .await;
    let client = app.web_client().await;
    github.set_user(FakeUser::new("4242", "octo@example.com", true));
    let browser = app.browser();
    let pkce = Pkce::new();
    let back = browser
        .follow(&app.authorize_url(&client, &pkce, "openid email profile", "github"))
        .await
        .expect("back");
    let t = app
        .exchange(&client, &query_param(&back, "code").unwrap(), &pkce)
        .await;
    let id = claims(t.id_token.as_deref().unwrap());
    assert_eq!(id["email"], "octo@example.com");
    assert_eq!(id["name"], "User 4242");
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM identities WHERE provider = 'github' AND subject = '4242' AND login = 'user4242'").await, 1);
    // No verified primary email: a clear page, no user.
    github.set_user(FakeUser::new("77", "unverified@example.com", false));
    let browser = app.browser();
    let res = browser
        .follow(&app.authorize_url(&client, &pkce, "openid", "github"))
        .await
        .expect_err("error page");
    assert_eq!(res.status(), 403);
    let text = res.text().await.unwrap();
    assert!(text.contains("no verified primary email"), "{text}");
    assert!(text.contains("Try again"));
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM identities WHERE subject = '77'")
            .await,
        0
    );
}

async fn upstream_down_gives_an_error_page_and_no_user(b: Backend) {
    let google = fakes::google();
    let base = google.base.clone();
    let app = TestApp::spawn_with(b, move |s| {
        s.connectors.google = Some(tessera::config::GoogleConnector {
            client_id: "c".into(),
            client_secret: tessera::config::SecretString::new("s"),
            issuer_url: base,
        })
    })
    .await;
    let client = app.web_client().await;
    google.break_it();
    let pkce = Pkce::new();
    let res = app
        .browser()
        .follow(&app.authorize_url(&client, &pkce, "openid", "google"))
        .await
        .expect_err("page");
    assert_eq!(res.status(), 502);
    let text = res.text().await.unwrap();
    assert!(
        text.contains("Try again") && text.contains("/login?tx="),
        "{text}"
    );
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 0);
}
