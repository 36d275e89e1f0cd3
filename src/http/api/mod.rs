//! The org API (SPEC §5): JSON in and out, Bearer tokens from Tessera.
//!
//! * user mode: an access token with scope `orgs` and audience `{issuer}/api`;
//! * admin mode: a client-credentials token of a client allowed scope `manage`.
//!
//! Org-scoped handlers take [`Member`], which exists only after the caller's
//! membership was loaded; a non-member gets 404 for every org route.

pub mod admin;
pub mod domains;
pub mod invitations;
pub mod me;
pub mod openapi;
pub mod orgs;

/// One row of the org API's route table: what the OpenAPI document is built from.
#[derive(Debug, Clone, Copy)]
pub struct ApiRoute {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    /// `user`, `admin` or `member:<permission>`.
    pub access: &'static str,
    pub request: Option<&'static str>,
    pub success: u16,
}

/// Declares the routes once: registers the handlers and lists them for OpenAPI,
/// so the published document cannot drift from what is served.
macro_rules! api_routes {
    ($( $method:ident $path:literal => $handler:path, $success:literal, $access:literal, $request:expr, $summary:literal; )*) => {
        pub fn routes(cfg: &mut web::ServiceConfig) {
            $( cfg.route($path, web::$method().to($handler)); )*
        }
        pub const ROUTES: &[ApiRoute] = &[
            $( ApiRoute {
                method: stringify!($method),
                path: $path,
                summary: $summary,
                access: $access,
                request: $request,
                success: $success,
            }, )*
        ];
    };
}

api_routes! {
    get "/me" => me::me, 200, "user", None, "Profile, memberships with role and permissions, active org";
    post "/switch-org" => me::switch_org, 200, "user", Some("SwitchOrg"), "Rotate the refresh token and get tokens for another org";
    post "/orgs" => orgs::create, 201, "user", Some("CreateOrg"), "Create an org; the caller becomes its owner";
    get "/orgs" => orgs::list_mine, 200, "user", None, "The caller's orgs (paged)";
    get "/orgs/{org}" => orgs::get, 200, "member:org:read", None, "Read an org";
    patch "/orgs/{org}" => orgs::update, 200, "member:org:manage", Some("OrgChanges"), "Update name, slug, logo_url, metadata";
    delete "/orgs/{org}" => orgs::delete, 204, "member:org:delete", None, "Delete the org (memberships, roles, invitations, domains cascade)";
    get "/orgs/{org}/members" => orgs::list_members, 200, "member:org:members:read", None, "List members (paged)";
    patch "/orgs/{org}/members/{user_id}" => orgs::change_role, 200, "member:org:members:write", Some("RoleChange"), "Change a member's role";
    delete "/orgs/{org}/members/{user_id}" => orgs::remove_member, 204, "member:org:members:write", None, "Remove a member";
    post "/orgs/{org}/leave" => orgs::leave, 204, "member", None, "Leave the org";
    post "/orgs/{org}/transfer-ownership" => orgs::transfer, 204, "member:owner", Some("Transfer"), "Make another member the owner; the caller becomes admin";
    get "/orgs/{org}/roles" => orgs::list_roles, 200, "member:org:roles", None, "Built-in and custom roles";
    post "/orgs/{org}/roles" => orgs::create_role, 201, "member:org:roles", Some("RoleInput"), "Create a custom role";
    patch "/orgs/{org}/roles/{role_id}" => orgs::update_role, 200, "member:org:roles", Some("RoleInput"), "Rename a custom role or change its permissions";
    delete "/orgs/{org}/roles/{role_id}" => orgs::delete_role, 204, "member:org:roles", None, "Delete a custom role (refused while assigned)";
    get "/orgs/{org}/audit-log" => orgs::audit_log, 200, "member:org:audit:read", None, "Audit events, newest first (paged)";
    get "/orgs/{org}/invitations" => invitations::list, 200, "member:org:invitations", None, "Pending invitations (never the token)";
    post "/orgs/{org}/invitations" => invitations::create, 201, "member:org:invitations", Some("InvitationInput"), "Invite by email, github_login or github_id with a role; the token is in this response only";
    delete "/orgs/{org}/invitations/{id}" => invitations::revoke, 204, "member:org:invitations", None, "Revoke a pending invitation";
    post "/orgs/{org}/invitations/{id}/resend" => invitations::resend, 200, "member:org:invitations", None, "New token (the old one dies), expiry reset, email sent again";
    get "/orgs/{org}/domains" => domains::list, 200, "member:org:domains", None, "Domains with their status and the TXT record to publish";
    post "/orgs/{org}/domains" => domains::add, 201, "member:org:domains", Some("DomainInput"), "Claim a domain; answers the TXT record to publish";
    post "/orgs/{org}/domains/{id}/verify" => domains::verify, 200, "member:org:domains", None, "Resolve the TXT record now (422 with what was found)";
    delete "/orgs/{org}/domains/{id}" => domains::delete, 204, "member:org:domains", None, "Remove a domain";
    get "/me/invitations" => invitations::mine, 200, "user", None, "Pending invitations addressed to my verified emails or GitHub identity";
    post "/invitations/accept" => invitations::accept, 200, "user", Some("TokenBody"), "Accept an invitation addressed to me";
    post "/invitations/decline" => invitations::decline, 204, "user", Some("TokenBody"), "Decline an invitation addressed to me";
    get "/admin/users" => admin::users, 200, "admin", None, "Find users by ?email= or ?id=, with owned orgs and memberships";
    get "/admin/orgs" => admin::list_orgs, 200, "admin", None, "All orgs (paged)";
    post "/admin/orgs" => admin::create_org, 201, "admin", Some("AdminCreateOrg"), "Create an org for an owner";
    get "/admin/orgs/{org}" => admin::org, 200, "admin", None, "An org with its owners and members";
    post "/admin/hooks/dry-run" => admin::dry_run, 200, "admin", Some("DryRun"), "Run the actions on an event (or one built from user_id + client_id) without issuing or writing anything";
}

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::http::error::ApiError;
use crate::oauth::revoke::is_denied;
use crate::orgs::OrgMember;
use crate::tokens::verify::{audiences, verify_access_token};

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Caller {
    User { user_id: String, client_id: String },
    Admin { client_id: String },
}

/// RFC 6750 errors for the API: JSON body plus `WWW-Authenticate`.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Missing(&'static str),
    #[error("{0}")]
    InvalidToken(String),
    #[error("{0}")]
    InsufficientScope(&'static str),
    #[error(transparent)]
    Api(#[from] ApiError),
}

async fn authenticate(req: HttpRequest) -> Result<Caller, AuthError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AuthError::Api(ApiError::internal("no app state")))?
        .clone();
    let token = crate::http::userinfo::bearer_header(&req)
        .ok_or(AuthError::Missing("a Bearer access token is required"))?;
    let claims = verify_access_token(&state.keys, &state.settings, &token, state.clock.unix())
        .map_err(|e| AuthError::InvalidToken(e.to_string()))?;
    let jti = claims
        .get("jti")
        .and_then(|j| j.as_str())
        .unwrap_or("")
        .to_string();
    let denied = state
        .db
        .run(move |conn| is_denied(conn, &jti).map_err(crate::db::DbError::from))
        .await
        .map_err(|e| AuthError::Api(ApiError::from(e)))?;
    if denied {
        return Err(AuthError::InvalidToken("the token was revoked".into()));
    }
    let s = |k: &str| {
        claims
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let (sub, client_id, scope) = (s("sub"), s("client_id"), s("scope"));
    let has = |t: &str| scope.split(' ').any(|x| x == t);
    let is_user_token = claims.contains_key("auth_time");
    if !has("orgs") && !has("manage") {
        return Err(AuthError::InsufficientScope(
            "the token needs scope `orgs` (user mode) or `manage` (admin mode)",
        ));
    }
    let api = state.settings.api_audience();
    if !audiences(&claims).contains(&api.as_str()) {
        return Err(AuthError::InvalidToken(format!(
            "the token's audience does not include {api}"
        )));
    }
    if !is_user_token && sub == client_id && has("manage") {
        return Ok(Caller::Admin { client_id });
    }
    if is_user_token && has("orgs") {
        return Ok(Caller::User {
            user_id: sub,
            client_id,
        });
    }
    Err(AuthError::InsufficientScope(
        "the token needs scope `orgs` (user mode) or be a client-credentials token with scope `manage` (admin mode)",
    ))
}

impl FromRequest for Caller {
    type Error = AuthError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(authenticate(req.clone()))
    }
}

/// A user-mode caller.
#[derive(Debug, Clone)]
pub struct UserCaller {
    pub user_id: String,
    pub client_id: String,
}

impl FromRequest for UserCaller {
    type Error = AuthError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match authenticate(req).await? {
                Caller::User { user_id, client_id } => Ok(Self { user_id, client_id }),
                Caller::Admin { .. } => Err(AuthError::InsufficientScope(
                    "this endpoint acts for a user: use a user token with scope `orgs`",
                )),
            }
        })
    }
}

/// An admin-mode caller (client credentials with scope `manage`).
#[derive(Debug, Clone)]
pub struct AdminCaller {
    pub client_id: String,
}

impl FromRequest for AdminCaller {
    type Error = AuthError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            match authenticate(req).await? {
                Caller::Admin { client_id } => Ok(Self { client_id }),
                Caller::User { .. } => Err(AuthError::InsufficientScope(
                    "admin endpoints need a client-credentials token with scope `manage`",
                )),
            }
        })
    }
}

/// The caller's membership of the `{org}` in the path (id or slug).
#[derive(Debug, Clone)]
pub struct Member(pub OrgMember);

impl FromRequest for Member {
    type Error = AuthError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let caller = UserCaller::from_request(&req, payload);
        Box::pin(async move {
            let caller = caller.await?;
            let org = req.match_info().get("org").unwrap_or("").to_string();
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| AuthError::Api(ApiError::internal("no app state")))?
                .clone();
            let member = state
                .db
                .run(move |conn| {
                    OrgMember::load(conn, &caller.user_id, &org).map_err(crate::db::DbError::from)
                })
                .await
                .map_err(|e| AuthError::Api(ApiError::from(e)))?;
            member
                .map(Member)
                .ok_or_else(|| AuthError::Api(ApiError::not_found("organization not found")))
        })
    }
}

/// `?cursor=&limit=` of list endpoints.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

impl PageQuery {
    pub const MAX: i64 = 200;

    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(50),
            Some(n) if (1..=Self::MAX).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::bad_request(format!(
                "limit must be between 1 and {}",
                Self::MAX
            ))),
        }
    }

    /// The `next_cursor` of an earlier page: every list pages by an id (a
    /// UUID), so anything else is a client's mistake — 400, never a page
    /// that silently ends the listing.
    pub fn cursor(&self) -> Result<Option<&str>, ApiError> {
        match self.cursor.as_deref() {
            Some(c) if uuid::Uuid::try_parse(c).is_err() => {
                Err(ApiError::bad_request("cursor is malformed"))
            }
            other => Ok(other),
        }
    }
}

/// A page of a list: `data` and the cursor of the next page, if any.
#[derive(Debug, Serialize)]
pub struct Page<T: Serialize> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T: Serialize> Page<T> {
    pub fn new(data: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> String) -> Self {
        let next_cursor = (data.len() as i64 == limit)
            .then(|| data.last().map(&cursor_of))
            .flatten();
        Self { data, next_cursor }
    }
}

pub use crate::http::peer_ip as ip;

/// Runs an org operation on the blocking pool and maps its error.
pub async fn run<T, F>(state: &AppState, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut crate::db::DbConn) -> Result<T, crate::orgs::OrgError> + Send + 'static,
    T: Send + 'static,
{
    state.db.run(f).await.map_err(ApiError::from)
}

/// JSON bodies of the org API: `Content-Type: application/json`, at most
/// 64 KiB, and deserialization errors that name the field (`name: invalid type…`).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T> ApiJson<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for ApiJson<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

pub const MAX_JSON: usize = 64 * 1024;

impl<T: serde::de::DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/json"));
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::bad_request("Content-Type must be application/json").into());
            }
            let bytes = body
                .await
                .map_err(|_| ApiError::bad_request("the body could not be read"))?;
            if bytes.len() > MAX_JSON {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "invalid_request",
                    "the body is too large",
                )
                .into());
            }
            let de = &mut serde_json::Deserializer::from_slice(&bytes);
            match serde_path_to_error::deserialize::<_, T>(de) {
                Ok(v) => Ok(ApiJson(v)),
                Err(e) => {
                    let path = e.path().to_string();
                    let inner = e.into_inner();
                    let msg = if path == "." || path.is_empty() {
                        inner.to_string()
                    } else {
                        format!("{path}: {inner}")
                    };
                    Err(if inner.is_data() {
                        ApiError::unprocessable(msg)
                    } else {
                        ApiError::bad_request(format!("malformed JSON: {msg}"))
                    }
                    .into())
                }
            }
        })
    }
}
