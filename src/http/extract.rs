//! Request extractors: JSON bodies parsed into domain types with the failing field named, and
//! the authenticated agent (session cookie with CSRF check, or bearer session/API token).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{Method, StatusCode, header};
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::state::AppState;
use crate::auth;
use crate::domain::{AccountId, Agent, AgentId, AgentRole, InboxId};

/// Name of the browser session cookie (HttpOnly; the CSRF token travels separately).
pub const SESSION_COOKIE: &str = "parley_session";
/// Header carrying the CSRF token on cookie-authenticated writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A JSON body deserialized straight into validated types. Errors name the field at fault.
///
/// Extraction itself never fails: the outcome is kept until the handler asks for it with
/// [`ApiJson::into_inner`]. actix runs a handler's extractors concurrently, so a body error
/// would otherwise race the credential check and a caller with a bad token could learn about
/// the body before hearing it is not authenticated; this way 401/403 always come first.
#[derive(Debug)]
pub struct ApiJson<T>(Result<T, ApiError>);

impl<T> ApiJson<T> {
    /// The parsed body, or the error that names what is wrong with it.
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let parsed = async {
                if !is_json {
                    return Err(ApiError::new(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "unsupported_media_type",
                        "send the body as JSON with Content-Type: application/json",
                    ));
                }
                let bytes = bytes.await.map_err(|e| payload_error(&e))?;
                parse_json(&bytes)
            };
            Ok(ApiJson(parsed.await))
        })
    }
}

/// Deserializes `bytes`, naming the path of the field that failed.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            // serde_json reports a number or list where an enum's word belongs as a syntax error
            // ("expected value"); when the body is valid JSON, it is that field's value at fault.
            serde_json::error::Category::Syntax
                if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() =>
            {
                ApiError::invalid_field(
                    path,
                    "this value has the wrong type; expected one of the allowed words",
                )
            }
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => ApiError::bad_request(
                "malformed_json",
                format!("the body is not valid JSON: {inner}"),
            ),
            serde_json::error::Category::Data => {
                let message = strip_position(&inner.to_string());
                // serde reports a missing field at the parent's path; name the field itself.
                let field = missing_field(&message)
                    .map(|name| {
                        if path == "." {
                            name.to_owned()
                        } else {
                            format!("{path}.{name}")
                        }
                    })
                    .unwrap_or(path);
                ApiError::invalid_field(field, message)
            }
        }
    })
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

fn payload_error(e: &actix_web::Error) -> ApiError {
    let status = e.as_response_error().status_code();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            status,
            "payload_too_large",
            "the body is larger than this server accepts (http.max_body_bytes)",
        )
    } else {
        ApiError::bad_request(
            "unreadable_body",
            format!("the body could not be read: {e}"),
        )
    }
}

/// Answers path-parameter errors (a malformed id) with the shared error shape.
pub fn path_error(err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request(
        "invalid_path",
        format!("a path parameter is malformed: {err}"),
    )
    .into()
}

/// Answers query-string errors with the shared error shape.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &HttpRequest,
) -> actix_web::Error {
    let message = err.to_string();
    let field = message.split('`').nth(1).map(str::to_owned);
    let e = ApiError::bad_request(
        "invalid_query",
        format!("the query string is invalid: {message}"),
    );
    match field {
        Some(f) => e.with_field(f),
        None => e,
    }
    .into()
}

/// Answers bodies that reach actix's own extractors (none should) with the shared shape.
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request("malformed_json", err.to_string()).into()
}

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// Browser session cookie; writes were CSRF-checked.
    Cookie,
    /// `Authorization: Bearer` with a session token.
    SessionToken,
    /// `Authorization: Bearer` with an API token.
    ApiToken,
}

/// The agent making the request. Extracting it refuses unauthenticated calls (401) and
/// cookie-authenticated writes without the session's CSRF token (403).
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub agent: Agent,
    pub credential: Credential,
    /// The session token's digest, when the caller used a session.
    pub session_digest: Option<String>,
}

impl Authenticated {
    pub fn account(&self) -> AccountId {
        self.agent.account_id
    }

    pub fn agent_id(&self) -> AgentId {
        self.agent.id
    }

    pub fn is_admin(&self) -> bool {
        self.agent.role == AgentRole::Admin
    }

    /// Refuses non-admins with 403.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("only admins may do this"))
        }
    }

    /// Refuses with 403 unless the caller is an admin or a member of `inbox`. The inbox must be
    /// known to belong to the caller's account (look it up first: another account's is 404).
    pub async fn require_inbox(&self, state: &AppState, inbox: InboxId) -> Result<(), ApiError> {
        if self.is_admin() {
            return Ok(());
        }
        let inbox = state.store.get_inbox(self.account(), inbox).await?;
        if inbox.member_ids.contains(&self.agent.id) {
            Ok(())
        } else {
            Err(ApiError::forbidden("you are not a member of this inbox"))
        }
    }

    /// The inboxes the caller may see: `None` for admins (all of them).
    pub async fn visible_inboxes(
        &self,
        state: &AppState,
    ) -> Result<Option<Vec<InboxId>>, ApiError> {
        if self.is_admin() {
            return Ok(None);
        }
        let inboxes = state
            .store
            .list_inboxes(self.account(), Some(self.agent.id))
            .await?;
        Ok(Some(inboxes.into_iter().map(|i| i.id).collect()))
    }
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

async fn authenticate(req: &HttpRequest) -> Result<Authenticated, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal(&"AppState missing from the app"))?;

    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthenticated("the Authorization header must be 'Bearer TOKEN'")
            })?;
        return authenticate_token(state, token).await;
    }

    let cookie = req.cookie(SESSION_COOKIE).ok_or_else(|| {
        ApiError::unauthenticated("log in first, or send 'Authorization: Bearer TOKEN'")
    })?;
    let (session, authenticated) = authenticate_cookie(state, cookie.value()).await?;
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let sent = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !auth::secrets_equal(sent, &session.csrf_token) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf_failed",
                "cookie-authenticated writes need the X-CSRF-Token header from login",
            ));
        }
    }
    Ok(authenticated)
}

/// The agent behind a bearer token: an API token (`plt_…`) or a session token (`pls_…`).
/// Shared by the HTTP API and the agent socket's `auth` frame.
pub async fn authenticate_token(state: &AppState, token: &str) -> Result<Authenticated, ApiError> {
    let now = time::OffsetDateTime::now_utc();
    let digest = auth::token_digest(token);
    if token.starts_with(auth::API_TOKEN_PREFIX) {
        let (_, agent) =
            state.store.find_api_token(&digest).await?.ok_or_else(|| {
                ApiError::unauthenticated("the API token is unknown or was revoked")
            })?;
        return active(agent, Credential::ApiToken, None);
    }
    let (_, agent) = state
        .store
        .find_session(&digest, now)
        .await?
        .ok_or_else(|| {
            ApiError::unauthenticated("the session token is unknown or expired; log in again")
        })?;
    active(agent, Credential::SessionToken, Some(digest))
}

/// The agent behind a session cookie's value, with the session (whose CSRF token the caller
/// checks on writes). Shared by the HTTP API and the agent socket's upgrade.
pub async fn authenticate_cookie(
    state: &AppState,
    value: &str,
) -> Result<(crate::domain::Session, Authenticated), ApiError> {
    let now = time::OffsetDateTime::now_utc();
    let digest = auth::token_digest(value);
    let (session, agent) = state
        .store
        .find_session(&digest, now)
        .await?
        .ok_or_else(|| {
            ApiError::unauthenticated("the session is unknown or expired; log in again")
        })?;
    let authenticated = active(agent, Credential::Cookie, Some(digest))?;
    Ok((session, authenticated))
}

fn active(
    agent: Agent,
    credential: Credential,
    session_digest: Option<String>,
) -> Result<Authenticated, ApiError> {
    if !agent.active {
        return Err(ApiError::unauthenticated("this agent has been deactivated"));
    }
    Ok(Authenticated {
        agent,
        credential,
        session_digest,
    })
}
