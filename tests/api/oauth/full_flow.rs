//! A standard OIDC client library completes the whole flow, and discovery
//! only names endpoints that exist.

use crate::both_backends;
use crate::helpers::{query_param, Backend, TestApp, REDIRECT};

both_backends!(
    full_flow_with_the_openidconnect_crate,
    every_discovered_endpoint_exists,
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
