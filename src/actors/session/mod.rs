//! Socket sessions: one actor per WebSocket, and the `/ws/agent` upgrade.
//!
//! The transport (`actix-web-actors`, published as deprecated) is used only in this module:
//! the rest of the crate talks to sessions through Parley's own messages
//! ([`Deliver`](super::conversation::Deliver), [`Disconnect`](super::conversation::Disconnect))
//! and frames ([`super::protocol`]), so moving to another transport touches nothing else.
//!
//! Must not: store or publish anything except through the same functions the REST API uses.

mod agent;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_web_actors::ws;

pub use agent::AgentSessionActor;

use super::conversation::ConversationRegistry;
use crate::http::AppState;
use crate::http::extract::{SESSION_COOKIE, authenticate_cookie};

/// Frames larger than this are refused with `frame_too_large` and the socket is closed. A body
/// at its limit (20,000 characters) fits with room for JSON escaping.
pub const MAX_FRAME_BYTES: usize = 128 * 1024;
/// What the WebSocket codec accepts at all; frames between [`MAX_FRAME_BYTES`] and this are
/// still read so the client hears why it is closed.
const CODEC_MAX_FRAME_BYTES: usize = 2 * MAX_FRAME_BYTES;

/// Upgrades to the agent socket. A session cookie authenticates it at once (only from the
/// server's own origin, so another site cannot ride a logged-in browser's cookie); otherwise
/// the first frame must be `auth`.
async fn agent_socket(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
    registry: web::Data<ConversationRegistry>,
) -> Result<HttpResponse, actix_web::Error> {
    let mut who = None;
    if let Some(cookie) = req.cookie(SESSION_COOKIE)
        && same_origin(&req)
    {
        // A stale cookie is not an error here: the client may still send an `auth` frame.
        who = authenticate_cookie(&state, cookie.value())
            .await
            .ok()
            .map(|(_, who)| who);
    }
    let actor = AgentSessionActor::new(state.into_inner(), registry.get_ref().clone(), who);
    ws::WsResponseBuilder::new(actor, &req, stream)
        .frame_size(CODEC_MAX_FRAME_BYTES)
        .start()
}

/// True when the request has no `Origin` (not a browser) or its host is the `Host` it was sent to.
fn same_origin(req: &HttpRequest) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// Registers the socket endpoints. Not part of the OpenAPI document (sockets are described in
/// `docs/protocol.md`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws/agent", web::get().to(agent_socket));
}
