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
    send_frame, start,
};
use crate::actors::conversation::{
    Audience, ConversationRegistry, Deliver, Disconnect, ListenerId, Subscribe, Unsubscribe,
};
use crate::actors::protocol::{
    AuthFrame, CloseReason, ErrorFrame, ServerFrame, VisitorConversation, VisitorFrame,
    VisitorReadFrame, VisitorSendFrame, VisitorSubscribeFrame, VisitorTypingFrame,
    parse_visitor_frame,
};
use crate::auth::token_digest;
use crate::bus::topics;
use crate::domain::{
    AccountId, Actor as Author, ChannelId, ContactId, Conversation, ConversationId, Direction,
    NewConversation, NewItemContent, Visitor,
};
use crate::http::params::{id_param, invalid_query};
use crate::http::timeline::{append_and_publish_as, publish_item};
use crate::http::widget::widget_channel;
use crate::http::{ApiError, AppState};
use crate::routing::actor::{Routed, Router};
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
    let actor = VisitorSessionActor {
        state: state.into_inner(),
        registry: registry.get_ref().clone(),
        account,
        channel,
        visitor: None,
        listener: ListenerId::next(),
        subscription: None,
        guard: Guard::new(),
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
}

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
            (visitor, VisitorFrame::Send(VisitorSendFrame { client_id, body })) => self.send(
                visitor,
                client_id,
                NewItemContent::Message {
                    direction: Direction::In,
                    body,
                },
                ctx,
            ),
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
                    Ok(subscription) => act.subscription = Some(subscription),
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
    fn send(&mut self, visitor: Visitor, client_id: Uuid, content: NewItemContent, ctx: &mut Ctx) {
        let state = self.state.clone();
        let routing = state.clone();
        let store = async move {
            let author = Author::Contact(visitor.contact_id);
            let account = visitor.account_id;
            let open = state
                .store
                .open_visitor_conversation(account, visitor.id)
                .await?;
            let (conversation, started) = match open {
                Some(conversation) => (conversation, false),
                None => {
                    let new = NewConversation {
                        channel_id: visitor.channel_id,
                        contact_id: visitor.contact_id,
                        subject: None,
                    };
                    let conversation = state
                        .store
                        .create_conversation(account, new, author)
                        .await?;
                    (conversation, true)
                }
            };
            let appended =
                append_and_publish_as(&state, account, author, conversation.id, client_id, content)
                    .await?;
            Ok::<_, ApiError>((conversation, appended.item.seq, started))
        };
        ctx.wait(
            store
                .into_actor(self)
                .map(move |result, _, ctx| match result {
                    Ok((conversation, seq, started)) => {
                        send_frame(
                            ctx,
                            &ServerFrame::Ack {
                                conversation_id: conversation.id,
                                client_id,
                                seq,
                            },
                        );
                        if started {
                            // After the ack: the visitor need not wait for routing.
                            actix::spawn(route(routing, conversation));
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

/// Routes a conversation the visitor just started and fans the assignment out: the `assigned`
/// event on the conversation's topic, and an `assigned` frame on the assignee's topic. A
/// failure leaves the conversation waiting in its queue, to be assigned when the queue drains.
async fn route(state: Arc<AppState>, conversation: Conversation) {
    let router = Router::new(state.store.clone(), state.presence.clone());
    let account = conversation.account_id;
    let assignment = match router.route(account, conversation.id).await {
        Ok(Routed::Assigned(assignment)) => assignment,
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(error = %e, conversation = %conversation.id, "routing failed");
            return;
        }
    };
    publish_item(&state, &assignment.item).await;
    if let Some(agent) = assignment.conversation.assignee_id {
        let frame = ServerFrame::Assigned {
            conversation: assignment.conversation.clone(),
        };
        if let Err(e) = state
            .bus
            .publish(&topics::agent(agent), frame.encode().into_bytes())
            .await
        {
            tracing::warn!(error = %e, conversation = %conversation.id, "could not publish an assignment");
        }
    }
}

impl Session for VisitorSessionActor {
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
        start(self, ctx);
    }

    fn stopped(&mut self, _: &mut Ctx) {
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
        ctx.text(msg.frame.into_text());
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
