//! `AgentSessionActor`: one agent's socket. It authenticates, checks every subscription and
//! write exactly like the REST API, and hands conversation traffic to the conversation actors.
//!
//! Client frames are handled one at a time, in order (the actor waits on each store call), so
//! a client's sends are stored and acked in the order it sent them, and a client that sends
//! faster than the store answers is slowed by its own socket, not by a growing queue.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::http::StatusCode;
use actix_web_actors::ws;
use governor::{DefaultDirectRateLimiter, Quota};
use uuid::Uuid;

use super::MAX_FRAME_BYTES;
use crate::actors::conversation::{
    ConversationRegistry, Deliver, Disconnect, ListenerId, Subscribe, Unsubscribe,
};
use crate::actors::protocol::{
    AuthFrame, ClientFrame, CloseReason, CommentFrame, EncodedFrame, ErrorFrame, ReadFrame,
    SendFrame, ServerFrame, SubscribeFrame, TypingFrame, UnsubscribeFrame, parse_client_frame,
};
use crate::bus::topics;
use crate::domain::{ConversationId, ConversationStatus, Direction, NewItemContent};
use crate::http::extract::{Authenticated, authenticate_token};
use crate::http::params::visible_conversation;
use crate::http::timeline::{append_and_publish, comment_content};
use crate::http::{ApiError, AppState};

/// How often the server pings an idle socket.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
/// A socket that sent nothing (not even a pong) for this long is dead and is closed.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// A socket without a session cookie must send `auth` within this time.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames per second one socket may send; a burst of [`FRAME_BURST`] is allowed.
pub const FRAMES_PER_SECOND: u32 = 30;
pub const FRAME_BURST: u32 = 60;
/// Frames refused by the rate limit before the socket is closed for abuse.
pub const MAX_REFUSED_FRAMES: u32 = 20;
/// Frames waiting for one socket. Larger than one catch-up burst (a store page or the recent
/// cache of a conversation); a socket whose mailbox is full is closed as a slow consumer.
pub const MAILBOX_CAPACITY: usize = 1024;

type Ctx = ws::WebsocketContext<AgentSessionActor>;

pub struct AgentSessionActor {
    state: Arc<AppState>,
    registry: ConversationRegistry,
    /// `None` until the socket is authenticated.
    who: Option<Authenticated>,
    listener: ListenerId,
    subscriptions: HashMap<ConversationId, Recipient<Unsubscribe>>,
    last_heard: Instant,
    limiter: DefaultDirectRateLimiter,
    refused_frames: u32,
}

impl AgentSessionActor {
    pub fn new(
        state: Arc<AppState>,
        registry: ConversationRegistry,
        who: Option<Authenticated>,
    ) -> Self {
        let per_second = NonZeroU32::new(FRAMES_PER_SECOND).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(FRAME_BURST).unwrap_or(NonZeroU32::MIN);
        Self {
            state,
            registry,
            who,
            listener: ListenerId::next(),
            subscriptions: HashMap::new(),
            last_heard: Instant::now(),
            limiter: DefaultDirectRateLimiter::direct(
                Quota::per_second(per_second).allow_burst(burst),
            ),
            refused_frames: 0,
        }
    }

    fn send_frame(ctx: &mut Ctx, frame: &ServerFrame) {
        ctx.text(frame.encode().into_text());
    }

    fn send_error(ctx: &mut Ctx, error: ErrorFrame) {
        Self::send_frame(ctx, &ServerFrame::Error(error));
    }

    fn close(ctx: &mut Ctx, reason: CloseReason) {
        let code = match reason {
            CloseReason::FrameTooLarge => ws::CloseCode::Size,
            CloseReason::SlowConsumer | CloseReason::Resume => ws::CloseCode::Again,
            CloseReason::RateLimited
            | CloseReason::Unauthenticated
            | CloseReason::HeartbeatTimeout => ws::CloseCode::Policy,
        };
        ctx.close(Some(ws::CloseReason {
            code,
            description: Some(reason.code().to_owned()),
        }));
        ctx.stop();
    }

    fn heartbeat(&self, ctx: &mut Ctx) {
        ctx.run_interval(HEARTBEAT_INTERVAL, |act, ctx| {
            if act.last_heard.elapsed() > CLIENT_TIMEOUT {
                Self::close(ctx, CloseReason::HeartbeatTimeout);
            } else {
                ctx.ping(b"");
            }
        });
    }

    fn on_text(&mut self, text: &str, ctx: &mut Ctx) {
        if text.len() > MAX_FRAME_BYTES {
            Self::send_error(
                ctx,
                ErrorFrame::new(
                    "frame_too_large",
                    format!("frames may be at most {MAX_FRAME_BYTES} bytes"),
                ),
            );
            Self::close(ctx, CloseReason::FrameTooLarge);
            return;
        }
        if self.limiter.check().is_err() {
            self.refused_frames += 1;
            Self::send_error(
                ctx,
                ErrorFrame::new(
                    "rate_limited",
                    format!("at most {FRAMES_PER_SECOND} frames per second; this one was dropped"),
                ),
            );
            if self.refused_frames > MAX_REFUSED_FRAMES {
                Self::close(ctx, CloseReason::RateLimited);
            }
            return;
        }
        let frame = match parse_client_frame(text) {
            Ok(frame) => frame,
            Err(error) => return Self::send_error(ctx, error),
        };
        let who = match (&self.who, frame) {
            (None, ClientFrame::Auth(AuthFrame { token })) => return self.authenticate(token, ctx),
            (Some(_), ClientFrame::Auth(_)) => {
                return Self::send_error(
                    ctx,
                    ErrorFrame::new("already_authenticated", "this socket is authenticated"),
                );
            }
            (None, _) => {
                return Self::send_error(
                    ctx,
                    ErrorFrame::new("unauthenticated", "send an `auth` frame first"),
                );
            }
            (Some(who), frame) => (who.clone(), frame),
        };
        match who {
            (
                who,
                ClientFrame::Subscribe(SubscribeFrame {
                    conversation_id,
                    after_seq,
                }),
            ) => self.subscribe(who, conversation_id, after_seq, ctx),
            (_, ClientFrame::Unsubscribe(UnsubscribeFrame { conversation_id })) => {
                if let Some(conversation) = self.subscriptions.remove(&conversation_id) {
                    conversation.do_send(Unsubscribe {
                        listener: self.listener,
                    });
                }
            }
            (
                who,
                ClientFrame::Send(SendFrame {
                    conversation_id,
                    client_id,
                    body,
                }),
            ) => {
                let content = |_: &_| async move {
                    Ok(NewItemContent::Message {
                        direction: Direction::Out,
                        body,
                    })
                };
                self.write(who, conversation_id, client_id, content, ctx);
            }
            (
                who,
                ClientFrame::Comment(CommentFrame {
                    conversation_id,
                    client_id,
                    body,
                    mentions,
                }),
            ) => {
                let state = self.state.clone();
                let author = who.clone();
                let content = move |conversation: &crate::domain::Conversation| {
                    let conversation = conversation.clone();
                    async move { comment_content(&state, &author, &conversation, body, mentions).await }
                };
                self.write(who, conversation_id, client_id, content, ctx);
            }
            (
                who,
                ClientFrame::Typing(TypingFrame {
                    conversation_id,
                    state,
                }),
            ) => {
                let frame = ServerFrame::Typing {
                    conversation_id,
                    agent_id: who.agent_id(),
                    state,
                };
                self.publish_ephemeral(who, conversation_id, frame, ctx);
            }
            (
                who,
                ClientFrame::Read(ReadFrame {
                    conversation_id,
                    seq,
                }),
            ) => {
                if seq < 0 {
                    let mut error = ErrorFrame::new("invalid_field", "seq must be 0 or more")
                        .about(conversation_id, None);
                    error.field = Some("seq".into());
                    return Self::send_error(ctx, error);
                }
                let frame = ServerFrame::Read {
                    conversation_id,
                    agent_id: who.agent_id(),
                    seq,
                };
                self.publish_ephemeral(who, conversation_id, frame, ctx);
            }
            (_, ClientFrame::Auth(_)) => {}
        }
    }

    fn authenticate(&mut self, token: String, ctx: &mut Ctx) {
        let state = self.state.clone();
        let check = async move { authenticate_token(&state, &token).await };
        ctx.wait(check.into_actor(self).map(|result, act, ctx| match result {
            Ok(who) => {
                Self::send_frame(
                    ctx,
                    &ServerFrame::Hello {
                        agent: who.agent.clone(),
                    },
                );
                act.who = Some(who);
            }
            Err(e) => {
                Self::send_error(ctx, e.into());
                Self::close(ctx, CloseReason::Unauthenticated);
            }
        }));
    }

    fn subscribe(
        &mut self,
        who: Authenticated,
        conversation_id: ConversationId,
        after_seq: i64,
        ctx: &mut Ctx,
    ) {
        let state = self.state.clone();
        let registry = self.registry.clone();
        let subscribe = Subscribe {
            listener: self.listener,
            agent_id: who.agent_id(),
            after_seq,
            deliver: ctx.address().recipient(),
            disconnect: ctx.address().recipient(),
        };
        let join = async move {
            let conversation = visible_conversation(&state, &who, conversation_id).await?;
            // A conversation actor may be stopping for idleness just as we ask; then the
            // registry hands out a fresh one on the second try.
            for _ in 0..2 {
                let actor = registry.conversation(who.account(), conversation.id);
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
        };
        ctx.wait(
            join.into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok(conversation) => {
                        act.subscriptions.insert(conversation_id, conversation);
                    }
                    Err(e) => {
                        Self::send_error(ctx, ErrorFrame::from(e).about(conversation_id, None))
                    }
                }),
        );
    }

    /// Stores a reply or comment (idempotent on `client_id`), publishes it, then acks.
    fn write<F, Fut>(
        &mut self,
        who: Authenticated,
        conversation_id: ConversationId,
        client_id: Uuid,
        content: F,
        ctx: &mut Ctx,
    ) where
        F: FnOnce(&crate::domain::Conversation) -> Fut + 'static,
        Fut: Future<Output = Result<NewItemContent, ApiError>>,
    {
        let state = self.state.clone();
        let store = async move {
            let conversation = visible_conversation(&state, &who, conversation_id).await?;
            if conversation.status == ConversationStatus::Closed {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "conversation_closed",
                    "the conversation is closed; reopen it to write",
                ));
            }
            let content = content(&conversation).await?;
            append_and_publish(&state, &who, conversation.id, client_id, content).await
        };
        ctx.wait(
            store
                .into_actor(self)
                .map(move |result, _, ctx| match result {
                    Ok(appended) => Self::send_frame(
                        ctx,
                        &ServerFrame::Ack {
                            conversation_id,
                            client_id,
                            seq: appended.item.seq,
                        },
                    ),
                    Err(e) => Self::send_error(
                        ctx,
                        ErrorFrame::from(e).about(conversation_id, Some(client_id)),
                    ),
                }),
        );
    }

    /// Typing and read receipts: checked like a read, published, never stored.
    fn publish_ephemeral(
        &mut self,
        who: Authenticated,
        conversation_id: ConversationId,
        frame: ServerFrame,
        ctx: &mut Ctx,
    ) {
        let state = self.state.clone();
        let subscribed = self.subscriptions.contains_key(&conversation_id);
        let publish = async move {
            if !subscribed {
                visible_conversation(&state, &who, conversation_id).await?;
            }
            let frame: EncodedFrame = frame.encode();
            state
                .bus
                .publish(&topics::conversation(conversation_id), frame.into_bytes())
                .await
                .map_err(|e| {
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        e.to_string(),
                    )
                })
        };
        ctx.wait(publish.into_actor(self).map(move |result, _, ctx| {
            if let Err(e) = result {
                Self::send_error(ctx, ErrorFrame::from(e).about(conversation_id, None));
            }
        }));
    }
}

impl Actor for AgentSessionActor {
    type Context = Ctx;

    fn started(&mut self, ctx: &mut Ctx) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        self.heartbeat(ctx);
        match &self.who {
            Some(who) => Self::send_frame(
                ctx,
                &ServerFrame::Hello {
                    agent: who.agent.clone(),
                },
            ),
            None => {
                ctx.run_later(AUTH_TIMEOUT, |act, ctx| {
                    if act.who.is_none() {
                        Self::send_error(
                            ctx,
                            ErrorFrame::new("unauthenticated", "no `auth` frame in time"),
                        );
                        Self::close(ctx, CloseReason::Unauthenticated);
                    }
                });
            }
        }
    }

    fn stopped(&mut self, _: &mut Ctx) {
        for (_, conversation) in self.subscriptions.drain() {
            conversation.do_send(Unsubscribe {
                listener: self.listener,
            });
        }
    }
}

impl Handler<Deliver> for AgentSessionActor {
    type Result = ();

    fn handle(&mut self, msg: Deliver, ctx: &mut Ctx) {
        ctx.text(msg.frame.into_text());
    }
}

impl Handler<Disconnect> for AgentSessionActor {
    type Result = ();

    fn handle(&mut self, msg: Disconnect, ctx: &mut Ctx) {
        // `stopped` unsubscribes from every conversation (the one that sent this has already
        // forgotten the socket and ignores it).
        Self::close(ctx, msg.reason);
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for AgentSessionActor {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Ctx) {
        self.last_heard = Instant::now();
        match msg {
            Ok(ws::Message::Text(text)) => self.on_text(&text, ctx),
            Ok(ws::Message::Ping(payload)) => ctx.pong(&payload),
            Ok(ws::Message::Pong(_)) | Ok(ws::Message::Nop) => {}
            Ok(ws::Message::Binary(_)) | Ok(ws::Message::Continuation(_)) => Self::send_error(
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
            Err(ws::ProtocolError::Overflow) => {
                Self::send_error(
                    ctx,
                    ErrorFrame::new(
                        "frame_too_large",
                        format!("frames may be at most {MAX_FRAME_BYTES} bytes"),
                    ),
                );
                Self::close(ctx, CloseReason::FrameTooLarge);
            }
            Err(e) => {
                tracing::debug!(error = %e, "agent socket protocol error");
                ctx.stop();
            }
        }
    }
}
