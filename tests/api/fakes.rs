//! (The fakes stamp tokens with the real time: the RP libraries check it.)
#![allow(clippy::disallowed_methods)]

//! Fake Google (OIDC) and GitHub (OAuth 2.0 + REST) upstreams: real HTTP
//! servers on 127.0.0.1, in process, whose answers each test controls.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use josekit::jwk::KeyPair;
use serde::Deserialize;

#[derive(Clone, Debug)]
pub struct FakeUser {
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    /// GitHub only: the login.
    pub login: String,
}

impl FakeUser {
    pub fn new(sub: &str, email: &str, verified: bool) -> Self {
        Self {
            sub: sub.into(),
            email: email.into(),
            email_verified: verified,
            name: format!("User {sub}"),
            login: format!("user{sub}"),
        }
    }
}

pub struct FakeState {
    pub base: String,
    pub user: Mutex<FakeUser>,
    codes: Mutex<HashMap<String, (Option<String>, FakeUser)>>,
    key: Mutex<(Vec<u8>, serde_json::Value)>,
    /// When set, every endpoint answers 500 garbage.
    pub broken: Mutex<bool>,
}

pub struct Fake {
    pub base: String,
    pub state: Arc<FakeState>,
}

/// An RS256 key: (private PEM, JWKS holding its public half under `kid`).
fn new_key(kid: &str) -> (Vec<u8>, serde_json::Value) {
    let kp = josekit::jws::RS256.generate_key_pair(2048).unwrap();
    let mut jwk = kp.to_jwk_public_key();
    jwk.set_key_id(kid);
    jwk.set_algorithm("RS256");
    (
        kp.to_pem_private_key(),
        serde_json::json!({"keys": [serde_json::Value::Object(jwk.as_ref().clone())]}),
    )
}

impl Fake {
    /// The provider rotates its signing key (new kid, old key gone).
    pub fn rotate_key(&self) {
        *self.state.key.lock().unwrap() =
            new_key(&format!("fake-key-{}", uuid::Uuid::new_v4().simple()));
    }

    pub fn set_user(&self, u: FakeUser) {
        *self.state.user.lock().unwrap() = u;
    }
    pub fn break_it(&self) {
        *self.state.broken.lock().unwrap() = true;
    }
}

fn start(routes: fn(&mut web::ServiceConfig)) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let state = Arc::new(FakeState {
        base: base.clone(),
        user: Mutex::new(FakeUser::new("1", "someone@example.com", true)),
        codes: Mutex::new(HashMap::new()),
        key: Mutex::new(new_key("fake-key")),
        broken: Mutex::new(false),
    });
    let data = web::Data::from(state.clone());
    let server = HttpServer::new(move || App::new().app_data(data.clone()).configure(routes))
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
    tokio::spawn(server);
    Fake { base, state }
}

#[derive(Deserialize)]
struct AuthorizeQ {
    redirect_uri: String,
    state: String,
    nonce: Option<String>,
}

fn authorize(s: web::Data<FakeState>, q: web::Query<AuthorizeQ>) -> HttpResponse {
    let code = uuid::Uuid::new_v4().to_string();
    let user = s.user.lock().unwrap().clone();
    s.codes
        .lock()
        .unwrap()
        .insert(code.clone(), (q.nonce.clone(), user));
    let mut url = url::Url::parse(&q.redirect_uri).unwrap();
    url.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &q.state);
    HttpResponse::Found()
        .insert_header(("Location", url.to_string()))
        .finish()
}

fn broken(s: &FakeState) -> Option<HttpResponse> {
    (*s.broken.lock().unwrap())
        .then(|| HttpResponse::InternalServerError().body("<html>oops</html>"))
}

// ----- Google -----

pub fn google() -> Fake {
    start(|cfg| {
        cfg.route(
            "/.well-known/openid-configuration",
            web::get().to(|s: web::Data<FakeState>| async move {
                if let Some(r) = broken(&s) {
                    return r;
                }
                HttpResponse::Ok().json(serde_json::json!({
                    "issuer": s.base,
                    "authorization_endpoint": format!("{}/authorize", s.base),
                    "token_endpoint": format!("{}/token", s.base),
                    "jwks_uri": format!("{}/jwks", s.base),
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                }))
            }),
        )
        .route("/jwks", web::get().to(|s: web::Data<FakeState>| async move { HttpResponse::Ok().json(s.key.lock().unwrap().1.clone()) }))
        .route(
            "/authorize",
            web::get().to(|s: web::Data<FakeState>, q: web::Query<AuthorizeQ>| async move { authorize(s, q) }),
        )
        .route(
            "/token",
            web::post().to(|s: web::Data<FakeState>, form: web::Form<HashMap<String, String>>, req: actix_web::HttpRequest| async move {
                if let Some(r) = broken(&s) {
                    return r;
                }
                let code = form.get("code").cloned().unwrap_or_default();
                let Some((nonce, user)) = s.codes.lock().unwrap().remove(&code) else {
                    return HttpResponse::BadRequest().json(serde_json::json!({"error": "invalid_grant"}));
                };
                // client_secret_basic
                let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
                let decoded = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, auth.trim_start_matches("Basic ")).unwrap_or_default();
                let client_id = String::from_utf8_lossy(&decoded).split(':').next().unwrap_or("").to_string();
                let now = chrono::Utc::now().timestamp();
                let claims = serde_json::json!({
                    "iss": s.base, "sub": user.sub, "aud": client_id, "exp": now + 300, "iat": now,
                    "nonce": nonce, "email": user.email, "email_verified": user.email_verified, "name": user.name,
                });
                let (pem, jwks) = s.key.lock().unwrap().clone();
                let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
                header.kid = jwks["keys"][0]["kid"].as_str().map(str::to_string);
                let key = jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap();
                let id_token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
                HttpResponse::Ok().json(serde_json::json!({
                    "access_token": "ya29.fake", "token_type": "Bearer", "expires_in": 300, "id_token": id_token,
                }))
            }),
        );
    })
}

// ----- GitHub -----

pub fn github() -> Fake {
    start(|cfg| {
        cfg.route(
            "/login/oauth/authorize",
            web::get().to(
                |s: web::Data<FakeState>, q: web::Query<AuthorizeQ>| async move { authorize(s, q) },
            ),
        )
        .route(
            "/login/oauth/access_token",
            web::post().to(
                |s: web::Data<FakeState>, form: web::Form<HashMap<String, String>>| async move {
                    if let Some(r) = broken(&s) {
                        return r;
                    }
                    let code = form.get("code").cloned().unwrap_or_default();
                    let Some((_, user)) = s.codes.lock().unwrap().remove(&code) else {
                        return HttpResponse::Ok()
                            .json(serde_json::json!({"error": "bad_verification_code"}));
                    };
                    let token = format!("gho_{}", user.sub);
                    s.codes.lock().unwrap().insert(token.clone(), (None, user));
                    HttpResponse::Ok().json(serde_json::json!({
                    "access_token": token, "token_type": "bearer", "scope": "read:user,user:email",
                }))
                },
            ),
        )
        .route(
            "/user",
            web::get().to(
                |s: web::Data<FakeState>, req: actix_web::HttpRequest| async move {
                    match github_user(&s, &req) {
                    Some(u) => HttpResponse::Ok().json(serde_json::json!({
                        "id": u.sub.parse::<i64>().unwrap_or(0), "login": u.login, "name": u.name,
                        "avatar_url": "https://avatars.example.com/u.png",
                    })),
                    None => HttpResponse::Unauthorized().finish(),
                }
                },
            ),
        )
        .route(
            "/user/emails",
            web::get().to(
                |s: web::Data<FakeState>, req: actix_web::HttpRequest| async move {
                    match github_user(&s, &req) {
                        Some(u) => HttpResponse::Ok().json(serde_json::json!([
                            {"email": "secondary@example.com", "primary": false, "verified": true},
                            {"email": u.email, "primary": true, "verified": u.email_verified},
                        ])),
                        None => HttpResponse::Unauthorized().finish(),
                    }
                },
            ),
        );
    })
}

fn github_user(s: &FakeState, req: &actix_web::HttpRequest) -> Option<FakeUser> {
    let token = req
        .headers()
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?
        .to_string();
    s.codes.lock().unwrap().get(&token).map(|(_, u)| u.clone())
}
