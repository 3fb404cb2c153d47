//! Widget identity (docs/api.md "Widget identity"): the identity a host page vouches for when a
//! browser becomes a visitor, and the email an anonymous visitor gives.
//!
//! A verified identity can reach a contact's history, so only a signed value ever finds an
//! existing contact. An email a visitor types is unverified: it is stored on their own contact
//! when free, and never attaches them to another contact.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ApiJson;
use super::state::AppState;
use super::widget::{VISITOR_TOKEN_PREFIX, widget_channel};
use crate::auth::token_digest;
use crate::channels::{IDENTITY_SECRET, identity_verified};
use crate::domain::{Channel, EmailAddress, ExternalId, Visitor, VisitorIdentity};

/// Who the host page says the visitor is, signed by the site's backend.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityClaim {
    /// The site's own id for the person. When present, it is the signed value.
    pub user_id: Option<String>,
    /// Their email. The signed value only when there is no `user_id`.
    pub email: Option<String>,
    /// Hex HMAC-SHA256 of `user_id` (else of `email`), exactly as sent here, keyed with the
    /// channel's `identity_secret`.
    pub hash: String,
}

/// The identity a new visitor may be trusted with, `None` for an anonymous visitor.
///
/// 422 for a malformed claim (the field named), 403 `identity_invalid` when the hash does not
/// sign it, 403 `identity_required` when the channel requires verification and none came.
/// Empty strings count as absent, so a page can pass `""` for a logged-out user.
pub(crate) fn verified_identity(
    channel: &Channel,
    claim: Option<IdentityClaim>,
) -> ApiResult<Option<VisitorIdentity>> {
    let required = channel
        .settings
        .get("require_identity_verification")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let Some(claim) = claim else {
        return if required {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "identity_required",
                "this chat requires a verified identity: send identity {user_id or email, hash} \
                 signed by the site",
            )
            .with_field("identity"))
        } else {
            Ok(None)
        };
    };
    let user_id = claim
        .user_id
        .filter(|u| !u.is_empty())
        .map(|u| ExternalId::parse(&u).map(|id| (u, id)))
        .transpose()
        .map_err(ApiError::from_invalid("identity.user_id"))?;
    let email = claim
        .email
        .filter(|e| !e.is_empty())
        .map(|e| EmailAddress::parse(&e).map(|address| (e, address)))
        .transpose()
        .map_err(ApiError::from_invalid("identity.email"))?;
    let (signed, identity) = match (user_id, email) {
        (Some((raw, external_id)), email) => (
            raw,
            VisitorIdentity::User {
                external_id,
                email: email.map(|(_, address)| address),
            },
        ),
        (None, Some((raw, address))) => (raw, VisitorIdentity::Email(address)),
        (None, None) => {
            return Err(ApiError::invalid_field(
                "identity",
                "an identity needs a user_id or an email",
            ));
        }
    };
    let secret = channel
        .settings
        .get(IDENTITY_SECRET)
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !identity_verified(secret, &signed, &claim.hash) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "identity_invalid",
            "the identity hash does not match: it must be the hex HMAC-SHA256 of the user_id \
             (or, without one, the email) keyed with this channel's identity secret",
        )
        .with_field("identity.hash"));
    }
    Ok(Some(identity))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitorEmailRequest {
    pub email: String,
}

/// The visitor gives their email (e.g. on the away message). It becomes their contact's email
/// (marked `email_unverified`) when the contact has none and no other contact of the account
/// holds it; otherwise it is kept in the contact property `given_email` for an agent. The answer
/// is the same either way, so it tells no one whether an address is known, and the visitor
/// never joins another contact.
#[utoipa::path(tag = "widget", security(("bearer" = [])), request_body = VisitorEmailRequest,
    responses(
        (status = 204, description = "Noted on the visitor's contact"),
        (status = 400, body = ErrorBody, description = "Malformed JSON"),
        (status = 401, body = ErrorBody, description = "No or unknown visitor token"),
        (status = 403, body = ErrorBody, description = "The page's origin is not allowed for this channel"),
        (status = 422, body = ErrorBody, description = "Not an email address (field `email`)"),
        (status = 429, body = ErrorBody, description = "Too many requests from this address"),
))]
#[post("/visitor/email")]
async fn give_email(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<VisitorEmailRequest>,
) -> ApiResult<HttpResponse> {
    if let Some(ip) = req.peer_addr().map(|a| a.ip())
        && state.widget_limits.check_key(&ip).is_err()
    {
        return Err(ApiError::too_many_requests(
            "too many widget requests from this address; try again in a minute",
        ));
    }
    let visitor = bearer_visitor(&state, &req).await?;
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    widget_channel(&state, visitor.account_id, visitor.channel_id, origin).await?;
    let email =
        EmailAddress::parse(&body.into_inner()?.email).map_err(ApiError::from_invalid("email"))?;

    state
        .store
        .set_visitor_email(visitor.account_id, visitor.id, email)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The visitor whose token is in `Authorization: Bearer plv_…`.
async fn bearer_visitor(state: &AppState, req: &HttpRequest) -> ApiResult<Visitor> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| t.starts_with(VISITOR_TOKEN_PREFIX))
        .ok_or_else(|| {
            ApiError::unauthenticated("send the visitor token: 'Authorization: Bearer plv_…'")
        })?;
    state
        .store
        .find_visitor(&token_digest(token))
        .await?
        .ok_or_else(|| ApiError::unauthenticated("unknown visitor token"))
}

/// Mounted with the other widget routes at `/api/v1/widget`.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(give_email);
}
