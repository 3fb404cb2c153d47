//! `AgentSessionActor`: one agent's socket. It authenticates, checks every subscription and
//! write exactly like the REST API, and hands conversation traffic to the conversation actors.
//!
//! Client frames are handled one at a time, in order (the actor waits on each store call), so
//! a client's sends are stored and acked in the order it sent them, and a client that sends
//! faster than the store answers is slowed by its own socket, not by a growing queue.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use actix_web::http::StatusCode;
use actix_web_actors::ws;
use uuid::Uuid;

use super::{
    Guard, Session, close, join, on_message, publish_ephemeral, send_error, send_frame, start,
    write_text,
};
use crate::actors::conversation::{
    Audience, ConversationRegistry, Deliver, Disconnect, ListenerId, Subscribe, Unsubscribe,
};
use crate::actors::protocol::{
    AssignFrame, AuthFrame, ClientFrame, CloseReason, CommentFrame, ErrorFrame, ReadFrame,
    SendFrame, ServerFrame, SetStatusFrame, SubscribeFrame, TypingFrame, UnsubscribeFrame,
    parse_client_frame,
};
use crate::domain::{AgentStatus, ConversationId, ConversationStatus, Direction, NewItemContent};
use crate::http::agents::set_own_status;
use crate::http::conversations::assign_conversation;
use crate::http::extract::{Authenticated, authenticate_token};
use crate::http::params::visible_conversation;
use crate::http::timeline::{append_and_publish, comment_content};
use crate::http::{ApiError, AppState};
use crate::meters::{self, SocketKind};
use crate::presence::PresenceEvent;

type Ctx = ws::WebsocketContext<AgentSessionActor>;

pub struct AgentSessionActor {
    state: Arc<AppState>,
    registry: ConversationRegistry,
    /// `None` until the socket is authenticated.
    who: Option<Authenticated>,
    listener: ListenerId,
    subscriptions: HashMap<ConversationId, Recipient<Unsubscribe>>,
    guard: Guard,
    /// This socket in the presence tracker (an agent is online while any socket is alive).
    presence_socket: Uuid,
    /// The agent's chosen status as this socket last heard it (told to presence on every
    /// heartbeat, so a tracker that lost it, e.g. a restarted Redis, gets it back).
    status: AgentStatus,
    /// This socket in the open-sockets gauge of `/metrics`, from `started` on.
    open: Option<meters::OpenSocket>,
}

/// A frame published for this agent (`agent.{id}`) or the account's presence
/// (`presence.{account}`), already encoded by its publisher.
#[derive(Message)]
#[rtype(result = "()")]
struct TopicFrame {
    payload: bytes::Bytes,
}

/// How often a socket tells the presence tracker it is alive; well inside the tracker's TTL.
const PRESENCE_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(10);

impl AgentSessionActor {
    pub fn new(
        state: Arc<AppState>,
        registry: ConversationRegistry,
        who: Option<Authenticated>,
    ) -> Self {
        let guard = Guard::new(&state.settings.auth);
        Self {
            state,
            registry,
            who,
            listener: ListenerId::next(),
            subscriptions: HashMap::new(),
            guard,
            presence_socket: Uuid::new_v4(),
            status: AgentStatus::Away,
            open: None,
        }
    }

    /// Once the agent is known: listen to their own topic, the account's presence and the
    /// topics of the inboxes they see (new and changed conversations), say `hello` once those
    /// subscriptions are live (so nothing published after it is missed), and count this socket
    /// in the presence tracker for as long as it lives.
    ///
    /// The inboxes are those of the moment of connecting: a membership given later is heard
    /// from the next connection on (the app's list also reloads on its own).
    fn on_authenticated(&mut self, who: &Authenticated, ctx: &mut Ctx) {
        use crate::bus::topics;
        let (store, account) = (self.state.store.clone(), who.account());
        let member = (!who.is_admin()).then_some(who.agent.id);
        let mut names = vec![topics::agent(who.agent.id), topics::presence(account)];
        let hello = ServerFrame::Hello {
            agent: who.agent.clone(),
        };
        self.status = who.agent.status;
        let (account, agent, socket) = (who.account(), who.agent.id, self.presence_socket);
        let beat = move |act: &mut Self, _: &mut Ctx, first: bool| {
            let (presence, status) = (act.state.presence.clone(), act.status);
            let assignments = act.state.assignments.clone();
            // A task of its own, not a future of this actor's context: while the session waits
            // on something (`ctx.wait`, e.g. a `set_status`, which takes the presence lock too)
            // its context polls nothing else, and a fair lock handed to a future that is not
            // polled is never released: every presence reader, routing included, then waited
            // for good (seen under load: docs/performance.md "Load tests").
            actix::spawn(async move {
                if let Err(e) = presence.heartbeat(account, agent, socket, status).await {
                    return tracing::warn!(error = %e, "presence heartbeat failed");
                }
                // Online now (routing reads presence): waiting conversations may be theirs.
                if first && status == AgentStatus::Available {
                    assignments.agent_can_take_work(account, agent);
                }
            });
        };
        // Counted once `hello` is out, so the socket's own subscriptions hear its arrival.
        let counted = move |act: &mut Self, ctx: &mut Ctx| {
            beat(act, ctx, true);
            ctx.run_interval(PRESENCE_HEARTBEAT, move |act, ctx| beat(act, ctx, false));
        };
        let inboxes = async move { store.list_inboxes(account, member).await };
        ctx.wait(inboxes.into_actor(self).map(move |inboxes, act, ctx| {
            match inboxes {
                Ok(inboxes) => names.extend(inboxes.iter().map(|i| topics::inbox(i.id))),
                Err(e) => tracing::warn!(error = %e, "inbox topics unknown; lists will poll"),
            }
            act.listen(names, hello, counted, ctx);
        }));
    }

    /// Streams every frame published on `topics` to the socket; `hello` follows once the bus
    /// confirms the subscriptions, then `then`.
    fn listen(
        &mut self,
        topics: Vec<String>,
        hello: ServerFrame,
        then: impl FnOnce(&mut Self, &mut Ctx) + 'static,
        ctx: &mut Ctx,
    ) {
        use crate::bus::Received;
        for topic in &topics {
            let subscription = self.state.bus.subscribe(topic);
            let frames = futures_util::stream::unfold(subscription, |mut sub| async move {
                loop {
                    match sub.recv().await {
                        Received::Message(m) => {
                            return Some((TopicFrame { payload: m.payload }, sub));
                        }
                        // Missed notifications are not replayed: the app reloads its lists.
                        Received::Lagged(_) => continue,
                        Received::Closed => return None,
                    }
                }
            });
            ctx.add_message_stream(frames);
        }
        let bus = self.state.bus.clone();
        let live = async move {
            for topic in &topics {
                // Unconfirmed (bus down): carry on; the app reloads what it may have missed.
                let _ = bus.subscribed(topic).await;
            }
        };
        ctx.wait(live.into_actor(self).map(move |_, act, ctx| {
            Self::send_frame(ctx, &hello);
            then(act, ctx);
        }));
    }

    fn send_frame(ctx: &mut Ctx, frame: &ServerFrame) {
        send_frame(ctx, frame);
    }

    fn send_error(ctx: &mut Ctx, error: ErrorFrame) {
        send_error(ctx, error);
    }

    fn on_frame(&mut self, text: &str, ctx: &mut Ctx) {
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
                    agent_id: Some(who.agent_id()),
                    contact_id: None,
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
                    agent_id: Some(who.agent_id()),
                    contact_id: None,
                    seq,
                };
                self.publish_ephemeral(who, conversation_id, frame, ctx);
            }
            (
                who,
                ClientFrame::Assign(AssignFrame {
                    conversation_id,
                    assignee_id,
                    team_id,
                }),
            ) => {
                let state = self.state.clone();
                let (assignee_id, team_id) = (assignee_id.flatten(), team_id.flatten());
                let assign = async move {
                    let conversation = visible_conversation(&state, &who, conversation_id).await?;
                    assign_conversation(&state, &who, conversation, assignee_id, team_id).await
                };
                ctx.wait(
                    assign
                        .into_actor(self)
                        .map(move |result, _, ctx| match result {
                            Ok(changed) => Self::send_frame(
                                ctx,
                                &ServerFrame::Updated {
                                    conversation: changed.conversation,
                                    event: changed.event,
                                },
                            ),
                            Err(e) => Self::send_error(
                                ctx,
                                ErrorFrame::from(e).about(conversation_id, None),
                            ),
                        }),
                );
            }
            (who, ClientFrame::SetStatus(SetStatusFrame { status })) => {
                let state = self.state.clone();
                let set = async move { set_own_status(&state, &who, status).await };
                ctx.wait(set.into_actor(self).map(|result, act, ctx| match result {
                    Ok(agent) => act.status = agent.status,
                    Err(e) => Self::send_error(ctx, e.into()),
                }));
            }
            (_, ClientFrame::Auth(_)) => {}
        }
    }

    fn authenticate(&mut self, token: String, ctx: &mut Ctx) {
        let state = self.state.clone();
        let check = async move { authenticate_token(&state, &token).await };
        ctx.wait(check.into_actor(self).map(|result, act, ctx| match result {
            Ok(who) => {
                act.on_authenticated(&who, ctx);
                act.who = Some(who);
            }
            Err(e) => {
                Self::send_error(ctx, e.into());
                close(ctx, CloseReason::Unauthenticated);
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
        let (deliver, disconnect) = (ctx.address().recipient(), ctx.address().recipient());
        let (listener, agent) = (self.listener, who.agent_id());
        let join = async move {
            let conversation = visible_conversation(&state, &who, conversation_id).await?;
            let visitor_online = match state.presence.visitor_online(conversation.id).await {
                Ok(online) => Some(online),
                Err(e) => {
                    tracing::warn!(error = %e, %conversation_id, "visitor presence unknown");
                    None
                }
            };
            let subscribe = Subscribe {
                listener,
                audience: Audience::Agent(agent),
                after_seq,
                deliver,
                disconnect,
                visitor_online,
            };
            join(&registry, who.account(), conversation.id, subscribe).await
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
            publish_ephemeral(&state, conversation_id, frame).await
        };
        ctx.wait(publish.into_actor(self).map(move |result, _, ctx| {
            if let Err(e) = result {
                Self::send_error(ctx, ErrorFrame::from(e).about(conversation_id, None));
            }
        }));
    }
}

impl AgentSessionActor {
    /// The agent's status changed elsewhere (another device, the REST API): later heartbeats
    /// carry the new one. Presence frames are rare, so reading each one costs little.
    fn hear_own_status(&mut self, payload: &[u8]) {
        if !payload.starts_with(br#"{"type":"presence""#) {
            return;
        }
        let me = self.who.as_ref().map(|w| w.agent_id());
        if let Ok(event) = serde_json::from_slice::<PresenceEvent>(payload)
            && Some(event.agent_id) == me
        {
            self.status = event.status;
        }
    }
}

impl Session for AgentSessionActor {
    const KIND: SocketKind = SocketKind::Agent;

    fn guard(&mut self) -> &mut Guard {
        &mut self.guard
    }

    fn authenticated(&self) -> bool {
        self.who.is_some()
    }

    fn on_text(&mut self, text: &str, ctx: &mut Ctx) {
        self.on_frame(text, ctx);
    }
}

impl Actor for AgentSessionActor {
    type Context = Ctx;

    fn started(&mut self, ctx: &mut Ctx) {
        self.open = Some(start(self, ctx));
        if let Some(who) = self.who.clone() {
            self.on_authenticated(&who, ctx);
        }
    }

    fn stopped(&mut self, _: &mut Ctx) {
        if let Some(who) = &self.who {
            let (presence, account, agent, socket) = (
                self.state.presence.clone(),
                who.account(),
                who.agent.id,
                self.presence_socket,
            );
            // The actor is gone; the tracker still has to hear that this socket closed.
            actix::spawn(async move {
                if let Err(e) = presence.disconnected(account, agent, socket).await {
                    tracing::warn!(error = %e, "presence disconnect failed");
                }
            });
        }
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
        write_text(ctx, msg.frame.into_text());
    }
}

impl Handler<TopicFrame> for AgentSessionActor {
    type Result = ();

    fn handle(&mut self, msg: TopicFrame, ctx: &mut Ctx) {
        self.hear_own_status(&msg.payload);
        match std::str::from_utf8(&msg.payload) {
            Ok(text) => write_text(ctx, text),
            Err(_) => tracing::warn!("dropped a non-UTF-8 frame from the bus"),
        }
    }
}

impl Handler<Disconnect> for AgentSessionActor {
    type Result = ();

    fn handle(&mut self, msg: Disconnect, ctx: &mut Ctx) {
        // `stopped` unsubscribes from every conversation (the one that sent this has already
        // forgotten the socket and ignores it).
        close(ctx, msg.reason);
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for AgentSessionActor {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Ctx) {
        on_message(self, msg, ctx);
    }
}
