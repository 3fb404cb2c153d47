//! Socket sessions: one actor per WebSocket (`/ws/agent`, `/ws/visitor`), the upgrades, and
//! what every socket shares: heartbeats, the authentication deadline, the frame size and rate
//! limits, and closing with a reason.
//!
//! The transport (`actix-web-actors`, published as deprecated) is used only in this module:
//! the rest of the crate talks to sessions through Parley's own messages
//! ([`Deliver`](super::conversation::Deliver), [`Disconnect`](super::conversation::Disconnect))
//! and frames ([`super::protocol`]), so moving to another transport touches nothing else.
//!
//! Must not: store or publish anything except through the same functions the REST API uses.

mod agent;
mod visitor;

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use actix_web_actors::ws;
use governor::{DefaultDirectRateLimiter, Quota};

pub use agent::AgentSessionActor;
pub use visitor::VisitorSessionActor;

use super::conversation::{ConversationRegistry, Subscribe, Unsubscribe};
use super::protocol::{CloseReason, ErrorFrame, ServerFrame};
use crate::bus::topics;
use crate::config::AuthSettings;
use crate::domain::{AccountId, ConversationId};
use crate::http::extract::{SESSION_COOKIE, authenticate_cookie};
use crate::http::{ApiError, AppState};
use crate::meters::{self, SocketKind};

/// How often the server pings an idle socket.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
/// A socket that sent nothing (not even a pong) for this long is dead and is closed.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// A socket not authenticated at the upgrade must send `auth` within this time.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames refused by the rate limit before the socket is closed for abuse.
pub const MAX_REFUSED_FRAMES: u32 = 20;
/// Frames waiting for one socket. Larger than one catch-up burst (a store page or the recent
/// cache of a conversation); a socket whose mailbox is full is closed as a slow consumer.
pub const MAILBOX_CAPACITY: usize = 1024;

/// Frames larger than this are refused with `frame_too_large` and the socket is closed. A body
/// at its limit (20,000 characters) fits with room for JSON escaping.
pub const MAX_FRAME_BYTES: usize = 128 * 1024;
/// What the WebSocket codec accepts at all; frames between [`MAX_FRAME_BYTES`] and this are
/// still read so the client hears why it is closed.
const CODEC_MAX_FRAME_BYTES: usize = 2 * MAX_FRAME_BYTES;

type Ctx<A> = ws::WebsocketContext<A>;

/// One socket actor, as the shared transport code sees it.
trait Session: Actor<Context = Ctx<Self>> {
    /// Its label in `/metrics`.
    const KIND: SocketKind;
    fn guard(&mut self) -> &mut Guard;
    fn authenticated(&self) -> bool;
    /// A text frame that passed the size and rate limits.
    fn on_text(&mut self, text: &str, ctx: &mut Ctx<Self>);
}

/// Liveness and rate limit of one socket.
struct Guard {
    last_heard: Instant,
    /// Heartbeat ticks in a row in which the client sent nothing (see [`Guard::tick`]).
    silent_ticks: u32,
    last_tick: Instant,
    limiter: DefaultDirectRateLimiter,
    frames_per_second: u32,
    refused_frames: u32,
}

impl Guard {
    /// Limits from `auth.socket_frames_per_second` and `auth.socket_frame_burst`.
    fn new(auth: &AuthSettings) -> Self {
        let per_second = NonZeroU32::new(auth.socket_frames_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(auth.socket_frame_burst).unwrap_or(NonZeroU32::MIN);
        Self {
            last_heard: Instant::now(),
            silent_ticks: 0,
            last_tick: Instant::now(),
            limiter: DefaultDirectRateLimiter::direct(
                Quota::per_second(per_second).allow_burst(burst),
            ),
            frames_per_second: per_second.get(),
            refused_frames: 0,
        }
    }

    /// One heartbeat tick: whether the client has been silent for [`CLIENT_TIMEOUT`].
    ///
    /// Silence is counted in ticks that ran, not in wall-clock time since the last frame: while
    /// the session waits on the store (`ctx.wait`) it neither reads frames nor ticks, so under
    /// load a wait of seconds would otherwise close a client that kept talking (its frames are
    /// in the socket, unread). Ticks that come in a burst after such a wait count once.
    fn tick(&mut self) -> bool {
        let now = Instant::now();
        if self.last_heard >= self.last_tick {
            self.silent_ticks = 0;
        } else if now.duration_since(self.last_tick) >= HEARTBEAT_INTERVAL / 2 {
            self.silent_ticks += 1;
        }
        self.last_tick = now;
        HEARTBEAT_INTERVAL * self.silent_ticks > CLIENT_TIMEOUT
    }

    /// Answers a frame a limit refused with `rate_limited`; a socket refused too often is
    /// closed for abuse.
    fn refuse<S: Session>(&mut self, ctx: &mut Ctx<S>, error: ErrorFrame) {
        self.refused_frames += 1;
        send_error(ctx, error);
        if self.refused_frames > MAX_REFUSED_FRAMES {
            close(ctx, CloseReason::RateLimited);
        }
    }
}

/// Writes one text frame to the socket (every frame a session sends goes through here).
fn write_text<S: Session>(ctx: &mut Ctx<S>, text: impl Into<bytestring::ByteString>) {
    meters::frame_sent(S::KIND);
    ctx.text(text);
}

fn send_frame<S: Session>(ctx: &mut Ctx<S>, frame: &ServerFrame) {
    write_text(ctx, frame.encode().into_text());
}

fn send_error<S: Session>(ctx: &mut Ctx<S>, error: ErrorFrame) {
    send_frame(ctx, &ServerFrame::Error(error));
}

fn close<S: Session>(ctx: &mut Ctx<S>, reason: CloseReason) {
    if reason == CloseReason::SlowConsumer {
        meters::slow_consumer_closed(S::KIND);
    }
    let code = match reason {
        CloseReason::FrameTooLarge => ws::CloseCode::Size,
        CloseReason::SlowConsumer | CloseReason::Resume => ws::CloseCode::Again,
        CloseReason::RateLimited | CloseReason::Unauthenticated | CloseReason::HeartbeatTimeout => {
            ws::CloseCode::Policy
        }
    };
    ctx.close(Some(ws::CloseReason {
        code,
        description: Some(reason.code().to_owned()),
    }));
    ctx.stop();
}

/// Starts the heartbeat and, for a socket not yet authenticated, the `auth` deadline. Answers
/// the socket's place in the open-sockets gauge, which the session keeps until it is dropped.
fn start<S: Session>(session: &S, ctx: &mut Ctx<S>) -> meters::OpenSocket {
    ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
    ctx.run_interval(HEARTBEAT_INTERVAL, |act: &mut S, ctx| {
        if act.guard().tick() {
            close(ctx, CloseReason::HeartbeatTimeout);
        } else {
            ctx.ping(b"");
        }
    });
    if !session.authenticated() {
        ctx.run_later(AUTH_TIMEOUT, |act: &mut S, ctx| {
            if !act.authenticated() {
                send_error(
                    ctx,
                    ErrorFrame::new("unauthenticated", "no `auth` frame in time"),
                );
                close(ctx, CloseReason::Unauthenticated);
            }
        });
    }
    meters::socket_opened(S::KIND)
}

fn frame_too_large<S: Session>(ctx: &mut Ctx<S>) {
    send_error(
        ctx,
        ErrorFrame::new(
            "frame_too_large",
            format!("frames may be at most {MAX_FRAME_BYTES} bytes"),
        ),
    );
    close(ctx, CloseReason::FrameTooLarge);
}

/// What every socket does with what the transport hands it.
fn on_message<S: Session>(
    session: &mut S,
    msg: Result<ws::Message, ws::ProtocolError>,
    ctx: &mut Ctx<S>,
) {
    session.guard().last_heard = Instant::now();
    match msg {
        Ok(ws::Message::Text(text)) => {
            meters::frame_received(S::KIND);
            if text.len() > MAX_FRAME_BYTES {
                return frame_too_large(ctx);
            }
            let guard = session.guard();
            if guard.limiter.check().is_err() {
                let message = format!(
                    "at most {} frames per second; this one was dropped",
                    guard.frames_per_second
                );
                guard.refuse(ctx, ErrorFrame::new("rate_limited", message));
                return;
            }
            session.on_text(&text, ctx);
        }
        Ok(ws::Message::Ping(payload)) => ctx.pong(&payload),
        Ok(ws::Message::Pong(_)) | Ok(ws::Message::Nop) => {}
        Ok(ws::Message::Binary(_)) | Ok(ws::Message::Continuation(_)) => send_error(
            ctx,
            ErrorFrame::new(
                "unsupported_frame",
                "send each frame as one JSON text frame",
            ),
        ),
        Ok(ws::Message::Close(reason)) => {
            ctx.close(reason);
            ctx.stop();
        }
        Err(ws::ProtocolError::Overflow) => frame_too_large(ctx),
        Err(e) => {
            tracing::debug!(error = %e, "socket protocol error");
            ctx.stop();
        }
    }
}

/// Adds a socket to the conversation's actor on this node. The caller has checked that the
/// socket may see the conversation.
async fn join(
    registry: &ConversationRegistry,
    account: AccountId,
    conversation: ConversationId,
    subscribe: Subscribe,
) -> Result<Recipient<Unsubscribe>, ApiError> {
    // A conversation actor may be stopping for idleness just as we ask; then the registry
    // hands out a fresh one on the second try.
    for _ in 0..2 {
        let actor = registry.conversation(account, conversation);
        let message = Subscribe {
            deliver: subscribe.deliver.clone(),
            disconnect: subscribe.disconnect.clone(),
            ..subscribe
        };
        if actor.send(message).await.is_ok() {
            return Ok(actor.recipient::<Unsubscribe>());
        }
    }
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the conversation could not be opened; retry",
    ))
}

/// Publishes a typing or read frame on the conversation's topic (never stored). The caller has
/// checked that the socket may see the conversation.
async fn publish_ephemeral(
    state: &AppState,
    conversation: ConversationId,
    frame: ServerFrame,
) -> Result<(), ApiError> {
    state
        .bus
        .publish(
            &topics::conversation(conversation),
            frame.encode().into_bytes(),
        )
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            )
        })
}

/// Upgrades to the agent socket. A session cookie authenticates it at once (only from the
/// server's own origin, so another site cannot ride a logged-in browser's cookie); otherwise
/// the first frame must be `auth`.
async fn agent_socket(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
    registry: web::Data<ConversationRegistry>,
) -> Result<HttpResponse, actix_web::Error> {
    check_connect_rate(&req, &state)?;
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

/// Refuses a connection attempt over the per-IP limit with 429 before anything else is done.
pub(super) fn check_connect_rate(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    match req.peer_addr() {
        Some(addr) if state.socket_limits.check_key(&addr.ip()).is_err() => {
            Err(ApiError::too_many_requests(
                "too many connection attempts from this address; wait a minute",
            ))
        }
        _ => Ok(()),
    }
}

/// Registers the socket endpoints. Not part of the OpenAPI document (sockets are described in
/// `docs/protocol.md`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws/agent", web::get().to(agent_socket))
        .route("/ws/visitor", web::get().to(visitor::visitor_socket));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let auth: AuthSettings = crate::config::Settings::load_from(&dir, "none", [])
            .map(|s| s.auth)
            .unwrap_or_else(|e| panic!("default settings: {e}"));
        Guard::new(&auth)
    }

    /// Moves the guard's clock back by `by`, as if that much time had passed.
    fn age(g: &mut Guard, by: Duration) {
        g.last_tick -= by;
        g.last_heard -= by;
    }

    #[test]
    fn a_silent_client_times_out_after_the_client_timeout_in_ticks_that_ran() {
        let mut g = guard();
        let mut closed_at = None;
        for tick in 1..=5 {
            age(&mut g, HEARTBEAT_INTERVAL);
            if g.tick() {
                closed_at = Some(tick);
                break;
            }
        }
        assert_eq!(
            closed_at,
            Some(4),
            "more than 30 s of 10 s ticks without a frame"
        );
    }

    #[test]
    fn a_burst_of_ticks_after_a_long_wait_counts_once_and_a_frame_resets() {
        let mut g = guard();
        // A 40 s wait on the store: no tick ran; then the interval catches up at once.
        age(&mut g, Duration::from_secs(40));
        assert!(!g.tick());
        assert!(!g.tick(), "a tick right after another is not more silence");
        assert!(!g.tick());
        assert_eq!(g.silent_ticks, 1);
        // The client's frames, buffered during the wait, are read: silence starts over.
        g.last_heard = Instant::now();
        age(&mut g, HEARTBEAT_INTERVAL);
        assert!(!g.tick());
        assert_eq!(g.silent_ticks, 0);
    }
}
