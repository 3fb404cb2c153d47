//! `VisitorSessionActor`: one website visitor's socket (`/ws/visitor`). The visitor writes to
//! their own open conversation (started by their first message), reads it without internal
//! comments, and can touch no other.
//!
//! Frames are handled one at a time, in order, like the agent socket's. The upgrade names the
//! chat channel (`?account_id=…&channel_id=…`, as in the embed snippet) so the page's `Origin`
//! can be checked against the channel before any frame is read.

use std::sync::Arc;

use actix::prelude::*;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_web_actors::ws;
use serde::Deserialize;
use uuid::Uuid;

use super::{
    CODEC_MAX_FRAME_BYTES, Guard, Session, close, join, on_message, publish_ephemeral, send_error,
    send_frame, start, write_text,
};
use crate::actors::assignments::announce;
use crate::actors::bots;
use crate::actors::conversation::{
    Audience, ConversationRegistry, Deliver, Disconnect, ListenerId, Subscribe, Unsubscribe,
};
use crate::actors::notifications::notify;
use crate::actors::protocol::{
    AuthFrame, CloseReason, ErrorFrame, NotificationReason, ServerFrame, VisitorConversation,
    VisitorFrame, VisitorReadFrame, VisitorSendFrame, VisitorSubscribeFrame, VisitorTypingFrame,
    parse_visitor_frame,
};
use crate::auth::token_digest;
use crate::domain::{
    AccountId, Actor as Author, ChannelId, Chatflow, ChatflowId, ContactId, Conversation,
    ConversationId, Direction, NewConversation, NewItemContent, Visitor,
};
use crate::http::params::{id_param, invalid_query};
use crate::http::timeline::append_and_publish_as;
use crate::http::widget::widget_channel;
use crate::http::{ApiError, AppState};
use crate::meters::{self, SocketKind};
use crate::store::StoreError;

type Ctx = ws::WebsocketContext<VisitorSessionActor>;

#[derive(Debug, Deserialize)]
struct VisitorSocketQuery {
    account_id: Option<String>,
    channel_id: Option<String>,
}

/// A required id of the upgrade's query; 400 `invalid_query` naming it.
fn required_id<T>(field: &str, raw: Option<&str>) -> Result<T, ApiError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    id_param(field, raw)?.ok_or_else(|| invalid_query(field, "required (from the embed snippet)"))
}

/// Upgrades to the visitor socket once the channel exists and allows the page's `Origin`
/// (else 404 or 403, and no socket). The visitor token comes in the first frame, never in the
/// URL, which proxies and logs keep.
pub(super) async fn visitor_socket(
    req: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
    registry: web::Data<ConversationRegistry>,
) -> Result<HttpResponse, actix_web::Error> {
    super::check_connect_rate(&req, &state)?;
    let query = web::Query::<VisitorSocketQuery>::from_query(req.query_string())
        .map_err(|e| invalid_query("account_id", e))?;
    let account: AccountId = required_id("account_id", query.account_id.as_deref())?;
    let channel: ChannelId = required_id("channel_id", query.channel_id.as_deref())?;
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    widget_channel(&state, account, channel, origin).await?;
    let guard = Guard::new(&state.settings.auth);
    let actor = VisitorSessionActor {
        state: state.into_inner(),
        registry: registry.get_ref().clone(),
        account,
        channel,
        visitor: None,
        listener: ListenerId::next(),
        subscription: None,
        guard,
        presence_socket: Uuid::new_v4(),
        online_in: None,
        open: None,
    };
    ws::WsResponseBuilder::new(actor, &req, stream)
        .frame_size(CODEC_MAX_FRAME_BYTES)
        .start()
}

pub struct VisitorSessionActor {
    state: Arc<AppState>,
    registry: ConversationRegistry,
    /// The channel named at the upgrade; the token must be of a visitor of it.
    account: AccountId,
    channel: ChannelId,
    /// `None` until the socket is authenticated.
    visitor: Option<Visitor>,
    listener: ListenerId,
    /// A visitor follows one conversation at a time.
    subscription: Option<(ConversationId, Recipient<Unsubscribe>)>,
    guard: Guard,
    /// This socket in the visitor presence tracker, and the conversation it counts in (the
    /// one it last subscribed or wrote to): agents see that conversation's visitor online.
    presence_socket: Uuid,
    online_in: Option<ConversationId>,
    /// This socket in the open-sockets gauge of `/metrics`, from `started` on.
    open: Option<meters::OpenSocket>,
}

/// How often a visitor socket tells presence it is alive; well inside the tracker's TTL.
const PRESENCE_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(10);

impl VisitorSessionActor {
    fn on_frame(&mut self, text: &str, ctx: &mut Ctx) {
        let frame = match parse_visitor_frame(text) {
            Ok(frame) => frame,
            Err(error) => return send_error(ctx, error),
        };
        let visitor = match (&self.visitor, frame) {
            (None, VisitorFrame::Auth(AuthFrame { token })) => {
                return self.authenticate(&token, ctx);
            }
            (Some(_), VisitorFrame::Auth(_)) => {
                return send_error(
                    ctx,
                    ErrorFrame::new("already_authenticated", "this socket is authenticated"),
                );
            }
            (None, _) => {
                return send_error(
                    ctx,
                    ErrorFrame::new("unauthenticated", "send an `auth` frame first"),
                );
            }
            (Some(visitor), frame) => (visitor.clone(), frame),
        };
        match visitor {
            (
                visitor,
                VisitorFrame::Subscribe(VisitorSubscribeFrame {
                    conversation_id,
                    after_seq,
                }),
            ) => self.subscribe(visitor, conversation_id, after_seq, ctx),
            (
                visitor,
                VisitorFrame::Send(VisitorSendFrame {
                    client_id,
                    body,
                    chatflow_id,
                }),
            ) => {
                if self.state.visitor_messages.check_key(&visitor.id).is_err() {
                    let auth = &self.state.settings.auth;
                    let mut error = ErrorFrame::new(
                        "rate_limited",
                        format!(
                            "at most {} messages per second (bursts of {}); this one was not stored",
                            auth.visitor_messages_per_second, auth.visitor_message_burst
                        ),
                    );
                    error.client_id = Some(client_id);
                    return self.guard.refuse(ctx, error);
                }
                let content = NewItemContent::Message {
                    direction: Direction::In,
                    body,
                };
                self.send(visitor, client_id, content, chatflow_id, ctx)
            }
            (
                visitor,
                VisitorFrame::Typing(VisitorTypingFrame {
                    conversation_id,
                    state,
                }),
            ) => self.publish(
                visitor,
                conversation_id,
                ctx,
                move |conversation_id, contact| ServerFrame::Typing {
                    conversation_id,
                    agent_id: None,
                    contact_id: Some(contact),
                    state,
                },
            ),
            (
                visitor,
                VisitorFrame::Read(VisitorReadFrame {
                    conversation_id,
                    seq,
                }),
            ) => {
                if seq < 0 {
                    let error = ApiError::invalid_field("seq", "seq must be 0 or more");
                    return send_error(ctx, error.into());
                }
                self.publish(
                    visitor,
                    conversation_id,
                    ctx,
                    move |conversation_id, contact| ServerFrame::Read {
                        conversation_id,
                        agent_id: None,
                        contact_id: Some(contact),
                        seq,
                    },
                )
            }
            (_, VisitorFrame::Auth(_)) => {}
        }
    }

    /// The token must be of a visitor of the channel named at the upgrade.
    fn authenticate(&mut self, token: &str, ctx: &mut Ctx) {
        let state = self.state.clone();
        let (account, channel) = (self.account, self.channel);
        let digest = token_digest(token);
        let check = async move {
            let visitor = state
                .store
                .find_visitor(&digest)
                .await?
                .filter(|v| v.account_id == account && v.channel_id == channel)
                .ok_or_else(|| ApiError::unauthenticated("unknown visitor token"))?;
            let open = state
                .store
                .open_visitor_conversation(account, visitor.id)
                .await?;
            Ok::<_, ApiError>((visitor, open))
        };
        ctx.wait(check.into_actor(self).map(|result, act, ctx| match result {
            Ok((visitor, open)) => {
                send_frame(
                    ctx,
                    &ServerFrame::VisitorHello {
                        visitor: visitor.clone(),
                        conversation: open.as_ref().map(VisitorConversation::from),
                    },
                );
                act.visitor = Some(visitor);
            }
            Err(e) => {
                send_error(ctx, e.into());
                close(ctx, CloseReason::Unauthenticated);
            }
        }));
    }

    fn subscribe(
        &mut self,
        visitor: Visitor,
        named: Option<ConversationId>,
        after_seq: i64,
        ctx: &mut Ctx,
    ) {
        let registry = self.registry.clone();
        let account = visitor.account_id;
        let subscribe = Subscribe {
            listener: self.listener,
            audience: Audience::Visitor(visitor.contact_id),
            after_seq,
            deliver: ctx.address().recipient(),
            disconnect: ctx.address().recipient(),
            visitor_online: None,
        };
        let state = self.state.clone();
        // Not the followed conversation: subscribing again moves the socket to a newer one.
        let target = async move { target(&state, &visitor, named, None).await };
        let previous = self.subscription.take();
        let listener = self.listener;
        let join = async move {
            let id = target.await?;
            if let Some((old, conversation)) = previous
                && old != id
            {
                conversation.do_send(Unsubscribe { listener });
            }
            let conversation = join(&registry, account, id, subscribe).await?;
            Ok::<_, ApiError>((id, conversation))
        };
        ctx.wait(
            join.into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok(subscription) => {
                        act.be_online_in(subscription.0, ctx);
                        act.subscription = Some(subscription);
                    }
                    Err(e) => {
                        let mut error = ErrorFrame::from(e);
                        error.conversation_id = named;
                        send_error(ctx, error);
                    }
                }),
        );
    }

    /// Stores the visitor's message in their open conversation, starting one when there is
    /// none, then acks; a new conversation is then routed.
    fn send(
        &mut self,
        visitor: Visitor,
        client_id: Uuid,
        content: NewItemContent,
        chatflow_id: Option<ChatflowId>,
        ctx: &mut Ctx,
    ) {
        let state = self.state.clone();
        let routing = state.clone();
        let store = async move {
            let author = Author::Contact(visitor.contact_id);
            let account = visitor.account_id;
            let open = state
                .store
                .open_visitor_conversation(account, visitor.id)
                .await?;
            let text = match &content {
                NewItemContent::Message { body, .. } => body.as_str().to_owned(),
                _ => String::new(),
            };
            let (conversation, started) = match open {
                Some(conversation) => (conversation, false),
                None => {
                    // Checked before anything is stored, so a bad id starts nothing.
                    if let Some(id) = chatflow_id {
                        widget_chatflow(&state, &visitor, id).await?;
                    }
                    let new = NewConversation {
                        channel_id: visitor.channel_id,
                        contact_id: visitor.contact_id,
                        subject: None,
                    };
                    let conversation = state
                        .store
                        .create_conversation(account, new, author)
                        .await?;
                    announce(state.bus.as_ref(), &conversation).await;
                    (conversation, true)
                }
            };
            let appended =
                append_and_publish_as(&state, account, author, conversation.id, client_id, content)
                    .await?;
            // A bot answers before the ack, so one socket's messages reach it one at a time.
            let bot_runs = match (appended.created, started, chatflow_id) {
                (false, _, _) => false,
                (true, true, Some(id)) => {
                    let chatflow = widget_chatflow(&state, &visitor, id).await?;
                    log_bot(bots::start(&state, &conversation, &chatflow).await)
                }
                (true, true, None) => false,
                (true, false, _) => {
                    log_bot(bots::on_contact_message(&state, &conversation, &text).await)
                }
            };
            if let (true, false, Some(agent)) =
                (appended.created, bot_runs, conversation.assignee_id)
            {
                let reason = NotificationReason::Message;
                notify(state.bus.as_ref(), agent, reason, &appended.item).await;
            }
            Ok::<_, ApiError>((conversation, appended.item.seq, started && !bot_runs))
        };
        ctx.wait(
            store
                .into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok((conversation, seq, route)) => {
                        act.be_online_in(conversation.id, ctx);
                        send_frame(
                            ctx,
                            &ServerFrame::Ack {
                                conversation_id: conversation.id,
                                client_id,
                                seq,
                            },
                        );
                        if route {
                            // After the ack: the visitor need not wait for routing.
                            let (account, id) = (conversation.account_id, conversation.id);
                            actix::spawn(async move {
                                routing.assignments.route(account, id).await;
                            });
                        }
                    }
                    Err(e) => {
                        let mut error = ErrorFrame::from(e);
                        error.client_id = Some(client_id);
                        send_error(ctx, error);
                    }
                }),
        );
    }

    /// Typing and read receipts on the visitor's conversation: published, never stored.
    fn publish(
        &mut self,
        visitor: Visitor,
        named: Option<ConversationId>,
        ctx: &mut Ctx,
        frame: impl FnOnce(ConversationId, ContactId) -> ServerFrame + 'static,
    ) {
        let state = self.state.clone();
        let contact = visitor.contact_id;
        let followed = self.subscription.as_ref().map(|(id, _)| *id);
        let publish = async move {
            let id = target(&state, &visitor, named, followed).await?;
            publish_ephemeral(&state, id, frame(id, contact)).await
        };
        ctx.wait(publish.into_actor(self).map(move |result, _, ctx| {
            if let Err(e) = result {
                let mut error = ErrorFrame::from(e);
                error.conversation_id = named;
                send_error(ctx, error);
            }
        }));
    }
}

/// The conversation a frame means: the named one when it is the visitor's own, else the one
/// the socket follows, else the visitor's open one.
async fn target(
    state: &AppState,
    visitor: &Visitor,
    named: Option<ConversationId>,
    followed: Option<ConversationId>,
) -> Result<ConversationId, ApiError> {
    match (named, followed) {
        (Some(id), _) => own_conversation(state, visitor, id).await.map(|c| c.id),
        (None, Some(id)) => Ok(id),
        (None, None) => state
            .store
            .open_visitor_conversation(visitor.account_id, visitor.id)
            .await?
            .map(|c| c.id)
            .ok_or_else(no_conversation_yet),
    }
}

/// The conversation `id` when it is the visitor's (their contact's, on their channel); any
/// other, of this account or not, is `forbidden`, so a guessed id tells nothing.
async fn own_conversation(
    state: &AppState,
    visitor: &Visitor,
    id: ConversationId,
) -> Result<Conversation, ApiError> {
    let forbidden = || ApiError::forbidden("this is not your conversation");
    match state.store.get_conversation(visitor.account_id, id).await {
        Ok(c) if c.contact_id == visitor.contact_id && c.channel_id == visitor.channel_id => Ok(c),
        Ok(_) | Err(StoreError::NotFound { .. }) => Err(forbidden()),
        Err(e) => Err(e.into()),
    }
}

fn no_conversation_yet() -> ApiError {
    let mut error = ApiError::not_found("conversation");
    error.message = "you have no conversation yet; send a message to start one".into();
    error
}

/// A chatflow the visitor may start a conversation on: one of their channel's, enabled.
async fn widget_chatflow(
    state: &AppState,
    visitor: &Visitor,
    id: ChatflowId,
) -> Result<Chatflow, ApiError> {
    let refused =
        || ApiError::invalid_field("chatflow_id", "not an enabled chatflow of this channel");
    match state.store.get_chatflow(visitor.account_id, id).await {
        Ok(c) if c.channel_id == visitor.channel_id && c.enabled => Ok(c),
        Ok(_) | Err(StoreError::NotFound { .. }) => Err(refused()),
        Err(e) => Err(e.into()),
    }
}

/// Whether a bot took the message. A bot that fails leaves the message to people (it is
/// stored either way); the failure is logged.
fn log_bot(result: Result<bool, ApiError>) -> bool {
    result.unwrap_or_else(|e| {
        tracing::warn!(code = e.code, message = %e.message, "bot turn failed");
        false
    })
}

impl VisitorSessionActor {
    /// Counts this socket as the visitor of `conversation` (leaving the one it counted in
    /// before), telling the conversation's agents when that changes whether the visitor is online.
    fn be_online_in(&mut self, conversation: ConversationId, ctx: &mut Ctx) {
        if self.online_in == Some(conversation) {
            return;
        }
        let left = self.online_in.replace(conversation);
        let (state, socket) = (self.state.clone(), self.presence_socket);
        ctx.spawn(
            async move {
                if let Some(old) = left {
                    visitor_left(&state, old, socket).await;
                }
                visitor_seen(&state, conversation, socket).await;
            }
            .into_actor(self),
        );
    }
}

/// A heartbeat of a visitor socket; the first that makes the visitor online is announced.
async fn visitor_seen(state: &AppState, conversation: ConversationId, socket: Uuid) {
    match state.presence.visitor_heartbeat(conversation, socket).await {
        Ok(true) => announce_visitor(state, conversation, true).await,
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, %conversation, "visitor presence heartbeat failed"),
    }
}

async fn visitor_left(state: &AppState, conversation: ConversationId, socket: Uuid) {
    match state
        .presence
        .visitor_disconnected(conversation, socket)
        .await
    {
        Ok(true) => announce_visitor(state, conversation, false).await,
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, %conversation, "visitor presence disconnect failed"),
    }
}

async fn announce_visitor(state: &AppState, conversation_id: ConversationId, online: bool) {
    let frame = ServerFrame::Visitor {
        conversation_id,
        online,
    };
    if let Err(e) = publish_ephemeral(state, conversation_id, frame).await {
        tracing::warn!(error = ?e, %conversation_id, "could not announce the visitor's presence");
    }
}

impl Session for VisitorSessionActor {
    const KIND: SocketKind = SocketKind::Visitor;

    fn guard(&mut self) -> &mut Guard {
        &mut self.guard
    }

    fn authenticated(&self) -> bool {
        self.visitor.is_some()
    }

    fn on_text(&mut self, text: &str, ctx: &mut Ctx) {
        self.on_frame(text, ctx);
    }
}

impl Actor for VisitorSessionActor {
    type Context = Ctx;

    fn started(&mut self, ctx: &mut Ctx) {
        self.open = Some(start(self, ctx));
        ctx.run_interval(PRESENCE_HEARTBEAT, |act, ctx| {
            if let Some(conversation) = act.online_in {
                let (state, socket) = (act.state.clone(), act.presence_socket);
                ctx.spawn(
                    async move { visitor_seen(&state, conversation, socket).await }.into_actor(act),
                );
            }
        });
    }

    fn stopped(&mut self, _: &mut Ctx) {
        if let Some(conversation) = self.online_in.take() {
            let (state, socket) = (self.state.clone(), self.presence_socket);
            // The actor is gone; presence still has to hear that this socket closed.
            actix::spawn(async move { visitor_left(&state, conversation, socket).await });
        }
        if let Some((_, conversation)) = self.subscription.take() {
            conversation.do_send(Unsubscribe {
                listener: self.listener,
            });
        }
    }
}

impl Handler<Deliver> for VisitorSessionActor {
    type Result = ();

    fn handle(&mut self, msg: Deliver, ctx: &mut Ctx) {
        write_text(ctx, msg.frame.into_text());
    }
}

impl Handler<Disconnect> for VisitorSessionActor {
    type Result = ();

    fn handle(&mut self, msg: Disconnect, ctx: &mut Ctx) {
        close(ctx, msg.reason);
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for VisitorSessionActor {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Ctx) {
        on_message(self, msg, ctx);
    }
}
