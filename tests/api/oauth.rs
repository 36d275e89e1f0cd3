//! The OAuth 2.0 / OIDC provider: one test per rule, on both backends.

use crate::both_backends;
use crate::fakes::{self, FakeUser};
use crate::helpers::{claims, query_param, spec, Backend, Pkce, TestApp, TestClient, REDIRECT};

both_backends!(
    full_flow_with_the_openidconnect_crate,
    every_discovered_endpoint_exists,
    redirect_uri_must_match_exactly_and_bad_clients_never_redirect,
    authorize_errors_redirect_with_state,
    pkce_is_mandatory_for_public_clients_and_checked,
    code_replay_revokes_issued_tokens,
    code_expires_after_a_minute,
    refresh_rotation_and_reuse_detection,
    refresh_down_scoping,
    client_authentication_errors,
    token_endpoint_bad_input,
    client_credentials_scope_and_audience_limits,
    prompt_none_and_session_reuse,
    max_age_forces_a_new_login,
    login_transaction_is_bound_to_the_browser,
    google_login_and_linking_by_verified_email_only,
    github_login_and_no_verified_email,
    upstream_down_gives_an_error_page_and_no_user,
    introspection_semantics,
    revocation_semantics,
    logout_validates_the_redirect,
    userinfo_needs_a_valid_token,
    cors_only_for_registered_origins,
    concurrent_refreshes_all_succeed,
    expired_rows_are_purged,
);

async fn full_flow_with_the_openidconnect_crate(b: Backend) {
    use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
    use openidconnect::{
        AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
        OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
    };
    let app = TestApp::spawn_with(b, |s| s.keys.algorithm = "RS256".parse().unwrap()).await;
    let client = app.web_client().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.address.clone()).unwrap(), &http)
            .await
            .unwrap();
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client.id.clone()),
        Some(ClientSecret::new(client.secret.clone().unwrap())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("offline_access".into()))
        .add_extra_param("connection", "dev")
        .set_pkce_challenge(challenge)
        .url();
    let browser = app.browser();
    let back = browser
        .dev_login(url.as_str(), "Alice@Example.com", true)
        .await;
    assert_eq!(
        query_param(&back, "state").as_deref(),
        Some(csrf.secret().as_str())
    );
    assert_eq!(
        query_param(&back, "iss").as_deref(),
        Some(app.address.as_str()),
        "RFC 9207 iss"
    );
    let code = query_param(&back, "code").unwrap();
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let id_token = tokens.id_token().expect("id_token");
    let id = id_token
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("ID token validates");
    assert_eq!(id.email().unwrap().as_str(), "alice@example.com");
    assert_eq!(id.email_verified(), Some(true));
    assert!(id.auth_time().is_some());
    // at_hash matches the access token.
    let at = tokens.access_token().secret();
    let expected = openidconnect::AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&rp.id_token_verifier()).unwrap(),
    )
    .unwrap();
    assert_eq!(id.access_token_hash(), Some(&expected));
    assert!(tokens.refresh_token().is_some());

    // The access token is an RFC 9068 JWT that any JOSE library verifies.
    let header = jsonwebtoken::decode_header(at).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwks: jsonwebtoken::jwk::JwkSet = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let key =
        jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap())
            .unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&["https://api.example.com"]);
    v.set_issuer(&[&app.address]);
    let c = jsonwebtoken::decode::<serde_json::Value>(at, &key, &v)
        .unwrap()
        .claims;
    for k in [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "jti",
        "client_id",
        "scope",
        "auth_time",
    ] {
        assert!(c.get(k).is_some(), "access token lacks {k}");
    }
    assert_eq!(c["client_id"], client.id);
    assert_eq!(c["sub"], id.subject().as_str());

    // userinfo with the access token.
    let info: serde_json::Value = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], id.subject().as_str());
    assert_eq!(info["email"], "alice@example.com");
}

async fn every_discovered_endpoint_exists(b: Backend) {
    let app = TestApp::spawn(b).await;
    let doc = app.get_json("/.well-known/openid-configuration").await;
    for key in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
        "end_session_endpoint",
    ] {
        let url = doc[key].as_str().unwrap();
        let get = app.client.get(url).send().await.unwrap().status();
        let post = app.client.post(url).send().await.unwrap().status();
        assert!(get != 404 || post != 404, "{key} {url} is not served");
    }
}

async fn redirect_uri_must_match_exactly_and_bad_clients_never_redirect(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let browser = app.browser();
    let pkce = Pkce::new();
    let good = app.authorize_url(&client, &pkce, "openid", "dev");
    for bad in [
        "http://127.0.0.1:9/cb/",
        "http://127.0.0.1:9/cb?x=1",
        "http://127.0.0.1:9/c",
        "http://127.0.0.1:9/cbx",
        "http://127.0.0.1:10/cb",
        "https://127.0.0.1:9/cb",
        "http://evil.example/cb",
    ] {
        let url = good.replace(
            &format!("redirect_uri={}", pages_qs(REDIRECT)),
            &format!("redirect_uri={}", pages_qs(bad)),
        );
        assert_ne!(url, good);
        let res = browser.get(&url).await;
        assert_eq!(res.status(), 400, "{bad}");
        assert!(
            res.headers().get("location").is_none(),
            "never redirect to {bad}"
        );
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
    }
    let unknown = good.replace("client_id=web", "client_id=nobody");
    let res = browser.get(&unknown).await;
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    // Repeated client_id is refused without redirecting too.
    let res = browser.get(&format!("{good}&client_id=web")).await;
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    // The exact URI works.
    assert_eq!(browser.get(&good).await.status(), 303);
}

fn pages_qs(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn authorize_errors_redirect_with_state(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let browser = app.browser();
    let pkce = Pkce::new();
    let base = app.authorize_url(&client, &pkce, "openid", "");
    for (change, error) in [
        (
            ("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (("scope=openid", "scope=openid+admin"), "invalid_scope"),
        (
            ("scope=openid", "scope=openid&connection=nope"),
            "invalid_request",
        ),
        (
            ("scope=openid", "scope=openid&max_age=-1"),
            "invalid_request",
        ),
        (
            ("scope=openid", "scope=openid&prompt=none+login"),
            "invalid_request",
        ),
        (
            ("scope=openid", "scope=openid&audience=https%3A%2F%2Fother"),
            "invalid_target",
        ),
    ] {
        let url = base.replace(change.0, change.1);
        let res = browser.get(&url).await;
        assert_eq!(res.status(), 303, "{change:?}");
        let loc = res.headers()["location"].to_str().unwrap();
        assert!(loc.starts_with(REDIRECT), "{loc}");
        assert_eq!(
            query_param(loc, "error").as_deref(),
            Some(error),
            "{change:?} -> {loc}"
        );
        assert!(query_param(loc, "error_description").is_some());
        assert_eq!(query_param(loc, "state").as_deref(), Some("st4te"));
    }
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM login_transactions")
            .await,
        0,
        "errors change nothing"
    );
}

async fn pkce_is_mandatory_for_public_clients_and_checked(b: Backend) {
    let app = TestApp::spawn(b).await;
    let mut s = spec("spa");
    s.public = true;
    let spa = app.register(s).await;
    let browser = app.browser();
    let pkce = Pkce::new();
    let url = app.authorize_url(&spa, &pkce, "openid", "dev");
    // Missing challenge.
    let no_pkce = url.split("&code_challenge=").next().unwrap().to_string() + "&connection=dev";
    let loc = browser.dev_login(&no_pkce, "a@example.com", true).await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("invalid_request")
    );
    // plain is refused.
    let plain = url.replace("code_challenge_method=S256", "code_challenge_method=plain");
    let loc = browser.dev_login(&plain, "a@example.com", true).await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("invalid_request")
    );
    assert!(query_param(&loc, "error_description")
        .unwrap()
        .contains("plain"));
    // Wrong and missing verifier.
    let loc = browser.dev_login(&url, "a@example.com", true).await;
    let code = query_param(&loc, "code").unwrap();
    let wrong = Pkce::new();
    let res = app
        .token(
            &spa,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &wrong.verifier),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let res = app
        .token(
            &spa,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    // A failed verification does not burn the code: the right verifier still works.
    let tokens = app.exchange(&spa, &code, &pkce).await;
    assert!(tokens.id_token.is_some());
    // A public client presenting a secret is refused.
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth("spa", Some("whatever"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

async fn code_replay_revokes_issued_tokens(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let pkce = Pkce::new();
    let loc = app
        .browser()
        .dev_login(
            &app.authorize_url(&client, &pkce, "openid offline_access", "dev"),
            "r@example.com",
            true,
        )
        .await;
    let code = query_param(&loc, "code").unwrap();
    let tokens = app.exchange(&client, &code, &pkce).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    let res = app.token(&client, &form).await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    // Everything issued from the code is dead.
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens.refresh_token.as_deref().unwrap()),
            ],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let intro = introspect(&app, &client, &tokens.access_token).await;
    assert_eq!(intro["active"], false);
    let res = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(&tokens.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

async fn code_expires_after_a_minute(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let pkce = Pkce::new();
    let loc = app
        .browser()
        .dev_login(
            &app.authorize_url(&client, &pkce, "openid", "dev"),
            "e@example.com",
            true,
        )
        .await;
    let code = query_param(&loc, "code").unwrap();
    app.clock.advance(chrono::Duration::seconds(61));
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("expired"));
}

async fn refresh_rotation_and_reuse_detection(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let t0 = app.login(&client, "rot@example.com").await;
    let rt0 = t0.refresh_token.clone().unwrap();
    let res = app
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt0)],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let t1: crate::helpers::Tokens = res.json().await.unwrap();
    let rt1 = t1.refresh_token.clone().unwrap();
    assert_ne!(rt0, rt1, "rotated");
    assert_eq!((t1.token_type.as_str(), t1.expires_in), ("Bearer", 3600));
    assert!(t1.id_token.is_some());
    assert_eq!(
        claims(&t1.access_token)["auth_time"],
        claims(&t0.access_token)["auth_time"]
    );
    // Reuse of the rotated token kills the family, including the new token.
    let res = app
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt0)],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let res = app
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    assert_eq!(
        introspect(&app, &client, &t1.access_token).await["active"],
        false
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'refresh_token_reuse_detected'"
        )
        .await,
        1
    );
    // Idle expiry.
    let t2 = app.login(&client, "idle@example.com").await;
    app.clock.advance(chrono::Duration::days(8));
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t2.refresh_token.as_deref().unwrap()),
            ],
        )
        .await;
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("expired"));
    // Another client cannot use it.
    let other = app.register(spec("other")).await;
    let t3 = app.login(&client, "x@example.com").await;
    let res = app
        .token(
            &other,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t3.refresh_token.as_deref().unwrap()),
            ],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    // ...and that did not burn it.
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t3.refresh_token.as_deref().unwrap()),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
}

async fn refresh_down_scoping(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let t = app.login(&client, "scope@example.com").await;
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t.refresh_token.as_deref().unwrap()),
                ("scope", "openid"),
            ],
        )
        .await;
    let t1: crate::helpers::Tokens = res.json().await.unwrap();
    assert_eq!(t1.scope, "openid");
    // The refresh token keeps the original grant.
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t1.refresh_token.as_deref().unwrap()),
                ("scope", "openid email"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let t2: crate::helpers::Tokens = res.json().await.unwrap();
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t2.refresh_token.as_deref().unwrap()),
                ("scope", "openid admin"),
            ],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_scope"
    );
}

async fn client_authentication_errors(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let bad = TestClient {
        id: client.id.clone(),
        secret: Some("wrong-secret".into()),
    };
    let res = app
        .token(
            &bad,
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        )
        .await;
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_client"
    );
    let unknown = TestClient {
        id: "ghost".into(),
        secret: Some("x".into()),
    };
    let res = app
        .token(
            &unknown,
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        )
        .await;
    assert_eq!(res.status(), 401);
    // client_secret_post works.
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", &client.id),
            ("client_secret", client.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    // Two methods at once.
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_secret", client.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    // No credentials.
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // The secret is stored hashed.
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM clients WHERE secret_hash LIKE 'hmac-sha256$%'")
            .await,
        1
    );
}

async fn token_endpoint_bad_input(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let res = app
        .token(&client, &[("grant_type", "password"), ("username", "a")])
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    let res = app.token(&client, &[("code", "x")]).await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let res = app
        .token(&client, &[("grant_type", "authorization_code")])
        .await;
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"].as_str().unwrap().contains("code"));
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "a"),
                ("refresh_token", "b"),
            ],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let huge = "x".repeat(5000);
    let res = app
        .token(
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", &huge)],
        )
        .await;
    assert_eq!(res.status(), 400);
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // GET is not allowed on the token endpoint.
    assert_ne!(app.get("/oauth/token").await.status(), 200);
}

async fn client_credentials_scope_and_audience_limits(b: Backend) {
    let app = TestApp::spawn(b).await;
    let mut s = spec("m2m");
    s.grant_types = vec!["client_credentials".into()];
    s.scopes = vec!["reports:read".into(), "manage".into()];
    s.audiences = vec![
        "https://api.example.com".into(),
        "https://other.example.com".into(),
    ];
    let m2m = app.register(s).await;
    let res = app
        .token(
            &m2m,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "reports:read"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    let t: crate::helpers::Tokens = res.json().await.unwrap();
    assert!(t.refresh_token.is_none() && t.id_token.is_none());
    let c = claims(&t.access_token);
    assert_eq!(c["sub"], "m2m");
    assert_eq!(c["scope"], "reports:read");
    assert_eq!(c["aud"], "https://api.example.com");
    assert!(c.get("auth_time").is_none());
    let res = app
        .token(
            &m2m,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "reports:write"),
            ],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_scope"
    );
    let res = app
        .token(
            &m2m,
            &[("grant_type", "client_credentials"), ("scope", "openid")],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_scope"
    );
    let res = app
        .token(
            &m2m,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "reports:read"),
                ("audience", "https://other.example.com"),
            ],
        )
        .await;
    assert_eq!(
        claims(
            &res.json::<crate::helpers::Tokens>()
                .await
                .unwrap()
                .access_token
        )["aud"],
        "https://other.example.com"
    );
    let res = app
        .token(
            &m2m,
            &[
                ("grant_type", "client_credentials"),
                ("audience", "https://evil.example.com"),
            ],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_target"
    );
    // A client without the grant.
    let web = app.web_client().await;
    let res = app
        .token(&web, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"tessera_tokens_issued_total{grant_type="client_credentials"} 2"#),
        "{metrics}"
    );
}

async fn prompt_none_and_session_reuse(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let browser = app.browser();
    let pkce = Pkce::new();
    let url = app.authorize_url(&client, &pkce, "openid", "dev");
    let res = browser.get(&format!("{url}&prompt=none")).await;
    let loc = res.headers()["location"].to_str().unwrap();
    assert_eq!(query_param(loc, "error").as_deref(), Some("login_required"));
    assert_eq!(query_param(loc, "state").as_deref(), Some("st4te"));
    // Log in, then the session skips the upstream.
    let first = browser.dev_login(&url, "sso@example.com", true).await;
    assert!(query_param(&first, "code").is_some());
    let res = browser.get(&format!("{url}&prompt=none")).await;
    let loc = res.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with(REDIRECT));
    let code = query_param(&loc, "code").expect("code from the session");
    let t = app.exchange(&client, &code, &pkce).await;
    assert_eq!(
        claims(t.id_token.as_deref().unwrap())["email"],
        serde_json::Value::Null,
        "no email scope"
    );
    // Session cookie flags.
    let res = app.browser().get(&url).await;
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "http://127.0.0.1 issuer: no Secure flag"
    );
    // prompt=login forces the form again.
    let res = browser.get(&format!("{url}&prompt=login")).await;
    assert!(res.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login/dev"));
}

async fn max_age_forces_a_new_login(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let browser = app.browser();
    let pkce = Pkce::new();
    let url = app.authorize_url(&client, &pkce, "openid", "dev");
    browser.dev_login(&url, "age@example.com", true).await;
    app.clock.advance(chrono::Duration::seconds(120));
    let res = browser.get(&format!("{url}&max_age=300")).await;
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(REDIRECT),
        "fresh enough"
    );
    let res = browser.get(&format!("{url}&max_age=60")).await;
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login/dev"),
        "too old"
    );
    let res = browser.get(&format!("{url}&max_age=60&prompt=none")).await;
    assert_eq!(
        query_param(res.headers()["location"].to_str().unwrap(), "error").as_deref(),
        Some("login_required")
    );
}

async fn login_transaction_is_bound_to_the_browser(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let victim = app.browser();
    let attacker = app.browser();
    let pkce = Pkce::new();
    let res = attacker
        .get(&app.authorize_url(&client, &pkce, "openid", "dev"))
        .await;
    let loc = res.headers()["location"].to_str().unwrap().to_string();
    let tx = query_param(&format!("{}{loc}", app.address), "tx").unwrap();
    // The victim's browser submits the attacker's transaction: refused.
    let res = victim
        .http
        .post(app.url("/callback/dev"))
        .form(&[
            ("tx", tx.as_str()),
            ("email", "victim@example.com"),
            ("email_verified", "true"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    assert!(res.text().await.unwrap().contains("another browser"));
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM users").await, 0);
    // Unknown transaction.
    let res = victim.get("/login?tx=nope").await;
    assert_eq!(res.status(), 400);
}

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

async fn introspect(app: &TestApp, client: &TestClient, token: &str) -> serde_json::Value {
    app.client
        .post(app.url("/oauth/introspect"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn introspection_semantics(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let t = app.login(&client, "i@example.com").await;
    let a = introspect(&app, &client, &t.access_token).await;
    assert_eq!(a["active"], true);
    assert_eq!(a["client_id"], "web");
    assert_eq!(a["token_type"], "Bearer");
    assert!(a["exp"].is_number() && a["sub"].is_string() && a["scope"].is_string());
    let r = introspect(&app, &client, t.refresh_token.as_deref().unwrap()).await;
    assert_eq!(r["active"], true);
    assert_eq!(r["token_type"], "refresh_token");
    assert_eq!(
        introspect(&app, &client, "garbage").await,
        serde_json::json!({"active": false})
    );
    assert_eq!(
        introspect(&app, &client, "a.b.c").await,
        serde_json::json!({"active": false})
    );
    // Refresh tokens only for their own client; access tokens for any resource server.
    let other = app.register(spec("rs")).await;
    assert_eq!(
        introspect(&app, &other, t.refresh_token.as_deref().unwrap()).await["active"],
        false
    );
    assert_eq!(
        introspect(&app, &other, &t.access_token).await["active"],
        true
    );
    // Expired.
    app.clock.advance(chrono::Duration::seconds(3601));
    assert_eq!(
        introspect(&app, &client, &t.access_token).await["active"],
        false
    );
    // Public clients cannot introspect.
    let mut s = spec("pub");
    s.public = true;
    app.register(s).await;
    let res = app
        .client
        .post(app.url("/oauth/introspect"))
        .form(&[("token", "x"), ("client_id", "pub")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .client
        .post(app.url("/oauth/introspect"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

async fn revocation_semantics(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let t = app.login(&client, "rv@example.com").await;
    let revoke = |token: String| {
        let app = &app;
        let client = client.clone();
        async move {
            app.client
                .post(app.url("/oauth/revoke"))
                .basic_auth(&client.id, client.secret.as_deref())
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(revoke("unknown-token".into()).await.status(), 200);
    let res = revoke(t.access_token.clone()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        introspect(&app, &client, &t.access_token).await["active"],
        false
    );
    let res = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(&t.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // Refresh token: the family is revoked.
    assert_eq!(revoke(t.refresh_token.clone().unwrap()).await.status(), 200);
    let res = app
        .token(
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t.refresh_token.as_deref().unwrap()),
            ],
        )
        .await;
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    // Another client's token is refused and stays valid.
    let t2 = app.login(&client, "rv2@example.com").await;
    let other = app.register(spec("other")).await;
    let res = app
        .client
        .post(app.url("/oauth/revoke"))
        .basic_auth(&other.id, other.secret.as_deref())
        .form(&[("token", t2.refresh_token.as_deref().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        introspect(&app, &client, t2.refresh_token.as_deref().unwrap()).await["active"],
        true
    );
    // Missing token parameter.
    let res = app
        .client
        .post(app.url("/oauth/revoke"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("x", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_request"
    );
}

async fn logout_validates_the_redirect(b: Backend) {
    let app = TestApp::spawn(b).await;
    let client = app.web_client().await;
    let browser = app.browser();
    let pkce = Pkce::new();
    let url = app.authorize_url(&client, &pkce, "openid", "dev");
    let loc = browser.dev_login(&url, "lo@example.com", true).await;
    let t = app
        .exchange(&client, &query_param(&loc, "code").unwrap(), &pkce)
        .await;
    let hint = t.id_token.unwrap();
    // Unregistered post-logout URI: a page, no redirect, session kept.
    let res = browser
        .get(&format!(
            "/logout?id_token_hint={hint}&post_logout_redirect_uri=http%3A%2F%2Fevil.example%2F"
        ))
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    // No client to check against.
    let res = browser
        .get("/logout?post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fbye")
        .await;
    assert_eq!(res.status(), 400);
    // Forged hint.
    let res = browser.get("/logout?id_token_hint=a.b.c").await;
    assert_eq!(res.status(), 400);
    let res = browser.get(&format!("{url}&prompt=none")).await;
    assert!(
        query_param(res.headers()["location"].to_str().unwrap(), "code").is_some(),
        "still logged in"
    );
    // Registered URI with state.
    let res = browser
        .get(&format!("/logout?id_token_hint={hint}&post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fbye&state=s1"))
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "http://127.0.0.1:9/bye?state=s1");
    let res = browser.get(&format!("{url}&prompt=none")).await;
    assert_eq!(
        query_param(res.headers()["location"].to_str().unwrap(), "error").as_deref(),
        Some("login_required")
    );
}

async fn userinfo_needs_a_valid_token(b: Backend) {
    let app = TestApp::spawn(b).await;
    let res = app.get("/userinfo").await;
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let res = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth("a.b.c")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    // An ID token is not an access token.
    let client = app.web_client().await;
    let t = app.login(&client, "u@example.com").await;
    let res = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(t.id_token.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // POST with the token in the body.
    let res = app
        .client
        .post(app.url("/userinfo"))
        .form(&[("access_token", t.access_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // A client-credentials token has no openid scope.
    let mut s = spec("m2m");
    s.grant_types = vec!["client_credentials".into()];
    s.scopes = vec!["x".into()];
    let m2m = app.register(s).await;
    let cc: crate::helpers::Tokens = app
        .token(&m2m, &[("grant_type", "client_credentials")])
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(cc.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

async fn cors_only_for_registered_origins(b: Backend) {
    let app = TestApp::spawn(b).await;
    app.web_client().await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/oauth/token"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
    };
    let res = preflight("http://127.0.0.1:9").await.unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://127.0.0.1:9"
    );
    let res = preflight("http://evil.example").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    let res = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("Origin", "http://127.0.0.1:9")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://127.0.0.1:9"
    );
    let res = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[test]
fn clients_cli_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .env("DATABASE_URL", dir.path().join("t.db"))
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = run(&[
        "clients",
        "add",
        "--id",
        "cli-app",
        "--name",
        "CLI App",
        "--redirect-uri",
        "http://127.0.0.1:9/cb",
        "--organization-usage",
        "require",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let secret = text
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .expect("secret printed once");
    assert!(secret.len() >= 43);
    let list = String::from_utf8_lossy(&run(&["clients", "list"]).stdout).to_string();
    assert!(list.contains("cli-app\tCLI App") && !list.contains(secret));
    assert!(!run(&[
        "clients",
        "add",
        "--id",
        "cli-app",
        "--name",
        "Again",
        "--redirect-uri",
        "http://127.0.0.1:9/cb"
    ])
    .status
    .success());
    let bad = run(&[
        "clients",
        "add",
        "--name",
        "Bad",
        "--redirect-uri",
        "not a url",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an absolute URI"));
    let bad = run(&[
        "clients",
        "add",
        "--name",
        "Bad",
        "--public",
        "--grant",
        "client_credentials",
    ]);
    assert!(!bad.status.success());
    let public = run(&[
        "clients",
        "add",
        "--id",
        "spa",
        "--name",
        "SPA",
        "--public",
        "--redirect-uri",
        "http://127.0.0.1:9/cb",
    ]);
    assert!(String::from_utf8_lossy(&public.stdout).contains("PKCE is mandatory"));
    assert!(run(&["clients", "remove", "cli-app"]).status.success());
    assert!(!run(&["clients", "remove", "cli-app"]).status.success());
    let orgs = run(&["orgs", "list"]);
    assert!(orgs.status.success());
    assert!(!run(&["orgs", "show", "nope"]).status.success());
}

async fn concurrent_refreshes_all_succeed(b: Backend) {
    let app = TestApp::spawn_with(b, |s| s.server.workers = 2).await;
    let client = app.web_client().await;
    let mut tokens = Vec::new();
    for i in 0..12 {
        tokens.push(
            app.login(&client, &format!("c{i}@example.com"))
                .await
                .refresh_token
                .unwrap(),
        );
    }
    for _round in 0..3 {
        let calls = tokens.iter().map(|rt| {
            let app = &app;
            let client = &client;
            async move {
                app.token(
                    client,
                    &[("grant_type", "refresh_token"), ("refresh_token", rt)],
                )
                .await
            }
        });
        let results = futures_util::future::join_all(calls).await;
        let mut next = Vec::new();
        for r in results {
            assert_eq!(r.status(), 200, "a concurrent refresh failed");
            next.push(
                r.json::<crate::helpers::Tokens>()
                    .await
                    .unwrap()
                    .refresh_token
                    .unwrap(),
            );
        }
        tokens = next;
    }
}

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
