//! `ConversationActor`: one per live conversation per node. It listens to the conversation's
//! bus topic while it has local listeners and forwards every timeline item to each of them
//! exactly once, in `seq` order.
//!
//! Each listener has a cursor (the last `seq` it was given). An item is forwarded to a listener
//! only when it is the next one for that cursor; a listener that is behind (it subscribed with an
//! old `after_seq`, or an item arrived before an earlier one because two nodes published out of
//! order, or the bus dropped messages) is served from a small cache of recent frames and, past
//! it, from the store. Store reads run with the actor's mailbox paused, so nothing interleaves
//! with a catch-up and no item is sent twice.
//!
//! Fan-out uses `try_send` into the sessions' bounded mailboxes: a session that cannot keep up
//! is dropped from the conversation, told to close with `slow_consumer`, and counted. It resumes
//! from the store when it reconnects.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;

use super::protocol::{CloseReason, EncodedFrame, ErrorFrame, PublishedPeek, ServerFrame};
use crate::bus::{Bus, Received, topics};
use crate::domain::{AccountId, AgentId, ContactId, ConversationId, ItemKind, TimelineItem};
use crate::store::{DynStore, MAX_PAGE_SIZE};

/// How long a conversation actor with no listener lives on, so an agent flicking between
/// conversations or reconnecting does not restart it (and resubscribe the bus) each time.
pub const IDLE_STOP_AFTER: Duration = Duration::from_secs(30);
/// Recent frames kept to serve listeners a little behind without a store read.
pub const RECENT_FRAMES: usize = 256;
/// Pause before retrying a catch-up whose store read failed.
pub const CATCH_UP_RETRY: Duration = Duration::from_secs(1);
/// Messages a conversation actor's mailbox holds (subscribe, unsubscribe); senders wait when
/// it is full.
pub const MAILBOX_CAPACITY: usize = 1024;

/// Identifies one socket among a conversation's listeners (unique per node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

impl ListenerId {
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// Hand this frame to the client.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Deliver {
    pub frame: EncodedFrame,
}

/// Close the socket (the conversation dropped it).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct Disconnect {
    pub reason: CloseReason,
}

/// Whose socket a listener is: what it may see, and whose typing and read frames are its own
/// (never echoed back to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Agent(AgentId),
    /// The conversation's visitor: never given internal comments.
    Visitor(ContactId),
}

impl Audience {
    fn sees(self, kind: ItemKind) -> bool {
        !matches!((self, kind), (Self::Visitor(_), ItemKind::Comment))
    }
}

/// Add a listener: it gets `subscribed`, then the items after `after_seq`, then live ones.
/// Subscribing again with the same `listener` replaces its cursor.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe {
    pub listener: ListenerId,
    pub audience: Audience,
    pub after_seq: i64,
    pub deliver: Recipient<Deliver>,
    pub disconnect: Recipient<Disconnect>,
    /// For agents: whether the visitor was online when the socket asked, told in `subscribed`
    /// (changes after it come as `visitor` frames). `None`: not told (visitors, or unknown).
    pub visitor_online: Option<bool>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    pub listener: ListenerId,
}

/// Conversation actors of this node, shared by every worker thread.
#[derive(Clone)]
pub struct ConversationRegistry {
    inner: Arc<RegistryInner>,
}

struct RegistryInner {
    store: DynStore,
    bus: Arc<dyn Bus>,
    actors: Mutex<HashMap<ConversationId, Addr<ConversationActor>>>,
    /// Sockets closed because they could not keep up (for metrics).
    slow_consumers: AtomicU64,
    /// [`IDLE_STOP_AFTER`], shorter in tests.
    idle_stop_after: Duration,
}

impl ConversationRegistry {
    pub fn new(store: DynStore, bus: Arc<dyn Bus>) -> Self {
        Self::with_idle_stop_after(store, bus, IDLE_STOP_AFTER)
    }

    /// A registry whose idle actors stop after `idle` (tests use a short one).
    pub fn with_idle_stop_after(store: DynStore, bus: Arc<dyn Bus>, idle: Duration) -> Self {
        Self {
            inner: Arc::new(RegistryInner {
                store,
                bus,
                actors: Mutex::new(HashMap::new()),
                slow_consumers: AtomicU64::new(0),
                idle_stop_after: idle,
            }),
        }
    }

    /// The conversation's actor on this node, started (on the calling thread's arbiter) when
    /// there is none. The caller has checked that `account` may see the conversation.
    pub fn conversation(&self, account: AccountId, id: ConversationId) -> Addr<ConversationActor> {
        let mut actors = match self.inner.actors.lock() {
            Ok(actors) => actors,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(addr) = actors.get(&id).filter(|a| a.connected()) {
            return addr.clone();
        }
        let actor = ConversationActor {
            id,
            account,
            registry: self.clone(),
            listeners: HashMap::new(),
            head: 0,
            recent: BTreeMap::new(),
        };
        let addr = actor.start();
        actors.insert(id, addr.clone());
        addr
    }

    /// Conversation actors alive on this node.
    pub fn live_conversations(&self) -> usize {
        self.inner.actors.lock().map_or(0, |a| a.len())
    }

    /// Sockets closed so far because they could not keep up.
    pub fn slow_consumers(&self) -> u64 {
        self.inner.slow_consumers.load(Ordering::Relaxed)
    }

    fn forget(&self, id: ConversationId, addr: &Addr<ConversationActor>) {
        if let Ok(mut actors) = self.inner.actors.lock()
            && actors.get(&id) == Some(addr)
        {
            actors.remove(&id);
        }
    }
}

struct Listener {
    audience: Audience,
    /// The last `seq` this listener was given.
    delivered: i64,
    deliver: Recipient<Deliver>,
    disconnect: Recipient<Disconnect>,
}

pub struct ConversationActor {
    id: ConversationId,
    account: AccountId,
    registry: ConversationRegistry,
    listeners: HashMap<ListenerId, Listener>,
    /// The highest `seq` known to be stored.
    head: i64,
    recent: BTreeMap<i64, Recent>,
}

/// A recent item's frame, with its kind so a visitor's cursor can pass over comments.
#[derive(Clone)]
struct Recent {
    kind: ItemKind,
    frame: EncodedFrame,
}

impl Actor for ConversationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        // Subscribing here, before any Subscribe is handled, means every item stored after a
        // listener's head read (see `Subscribe`) also arrives on this stream.
        let subscription = self
            .registry
            .inner
            .bus
            .subscribe(&topics::conversation(self.id));
        let stream = futures_util::stream::unfold(subscription, |mut sub| async move {
            match sub.recv().await {
                Received::Closed => None,
                received => Some((received, sub)),
            }
        });
        ctx.add_stream(stream);
        self.stop_when_idle(ctx);
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        self.registry.forget(self.id, &ctx.address());
    }
}

impl ConversationActor {
    fn stop_when_idle(&self, ctx: &mut Context<Self>) {
        ctx.run_later(self.registry.inner.idle_stop_after, |act, ctx| {
            if act.listeners.is_empty() {
                // Forget first: a session asking the registry from now on starts a new actor.
                act.registry.forget(act.id, &ctx.address());
                ctx.stop();
            }
        });
    }

    /// Gives a listener the item `seq` (sent only when its audience may see it) and moves its
    /// cursor past it.
    fn give(&mut self, id: ListenerId, seq: i64, kind: ItemKind, frame: &EncodedFrame) {
        let Some(listener) = self.listeners.get_mut(&id) else {
            return;
        };
        listener.delivered = seq;
        if listener.audience.sees(kind) {
            self.send(id, frame);
        }
    }

    /// Sends to one listener; drops it when its mailbox is full (slow) or gone.
    fn send(&mut self, id: ListenerId, frame: &EncodedFrame) {
        let Some(listener) = self.listeners.get(&id) else {
            return;
        };
        match listener.deliver.try_send(Deliver {
            frame: frame.clone(),
        }) {
            Ok(()) => {}
            Err(SendError::Full(_)) => {
                // A control message past the mailbox limit: the session is told once, then
                // forgotten here, so a slow socket costs nothing more.
                listener.disconnect.do_send(Disconnect {
                    reason: CloseReason::SlowConsumer,
                });
                self.registry
                    .inner
                    .slow_consumers
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(conversation = %self.id, "closing a slow socket");
                self.listeners.remove(&id);
            }
            Err(SendError::Closed(_)) => {
                self.listeners.remove(&id);
            }
        }
    }

    /// Forwards, to each listener, every frame it is due that is at hand; then, when a listener
    /// is still behind `head`, reads the missing items from the store and repeats.
    fn deliver_ready(&mut self, ctx: &mut Context<Self>) {
        let ids: Vec<ListenerId> = self.listeners.keys().copied().collect();
        for id in ids {
            while let Some(next) = self.listeners.get(&id).map(|l| l.delivered + 1) {
                let Some(recent) = self.recent.get(&next).cloned() else {
                    break;
                };
                self.give(id, next, recent.kind, &recent.frame);
            }
        }
        let behind = self
            .listeners
            .values()
            .map(|l| l.delivered)
            .filter(|d| *d < self.head)
            .min();
        if let Some(after) = behind {
            self.catch_up(after, ctx);
        }
    }

    /// Reads items after `after` and hands each to the listeners whose next item it is.
    fn catch_up(&mut self, after: i64, ctx: &mut Context<Self>) {
        let store = self.registry.inner.store.clone();
        let (account, id) = (self.account, self.id);
        let limit = u32::try_from(self.head - after)
            .unwrap_or(MAX_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE);
        let read = async move { store.list_items(account, id, after, limit).await };
        ctx.wait(read.into_actor(self).map(move |result, act, ctx| match result {
            Ok(items) if !items.is_empty() => {
                act.forward_read(&items);
                act.deliver_ready(ctx);
            }
            Ok(_) => {
                // The store has nothing after `after` although `head` says otherwise: trust
                // the store, and let the next item move things on.
                act.head = after;
                act.deliver_ready(ctx);
            }
            Err(e) => {
                tracing::warn!(error = %e, conversation = %act.id, "catch-up read failed; retrying");
                ctx.run_later(CATCH_UP_RETRY, |act, ctx| act.deliver_ready(ctx));
            }
        }));
    }

    fn forward_read(&mut self, items: &[TimelineItem]) {
        for item in items {
            self.head = self.head.max(item.seq);
            let frame = ServerFrame::Item { item: item.clone() }.encode();
            let due: Vec<ListenerId> = self
                .listeners
                .iter()
                .filter(|(_, l)| l.delivered + 1 == item.seq)
                .map(|(id, _)| *id)
                .collect();
            for id in due {
                self.give(id, item.seq, item.kind, &frame);
            }
        }
    }

    fn remember(&mut self, seq: i64, recent: Recent) {
        self.recent.insert(seq, recent);
        while self.recent.len() > RECENT_FRAMES {
            self.recent.pop_first();
        }
    }

    /// Typing and read frames: not stored, not ordered; to every listener but the origin's.
    fn broadcast_ephemeral(&mut self, origin: Option<Audience>, frame: &EncodedFrame) {
        let due: Vec<ListenerId> = self
            .listeners
            .iter()
            .filter(|(_, l)| Some(l.audience) != origin)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.send(id, frame);
        }
    }

    /// The store's newest `seq`, then catch everyone up to it (after the bus dropped messages).
    fn refresh_head(&mut self, ctx: &mut Context<Self>) {
        let store = self.registry.inner.store.clone();
        let (account, id) = (self.account, self.id);
        let read = async move { store.get_conversation(account, id).await };
        ctx.wait(read.into_actor(self).map(|result, act, ctx| {
            match result {
                Ok(conversation) => act.head = act.head.max(conversation.last_seq),
                Err(e) => tracing::warn!(error = %e, conversation = %act.id, "head read failed"),
            }
            act.deliver_ready(ctx);
        }));
    }
}

impl StreamHandler<Received> for ConversationActor {
    fn handle(&mut self, received: Received, ctx: &mut Context<Self>) {
        let message = match received {
            Received::Message(message) => message,
            Received::Lagged(missed) => {
                tracing::info!(conversation = %self.id, missed, "bus lagged; reading the store");
                self.refresh_head(ctx);
                return;
            }
            Received::Closed => return,
        };
        let Ok(peek) = serde_json::from_slice::<PublishedPeek>(&message.payload) else {
            tracing::warn!(conversation = %self.id, "ignoring an unreadable bus message");
            return;
        };
        let Some(frame) = EncodedFrame::from_bytes(message.payload) else {
            return;
        };
        match (peek.kind.as_str(), peek.item) {
            ("item", Some(item)) => {
                self.head = self.head.max(item.seq);
                let kind = item.kind;
                self.remember(item.seq, Recent { kind, frame });
                self.deliver_ready(ctx);
            }
            ("typing" | "read", _) => {
                let origin = match (peek.agent_id, peek.contact_id) {
                    (Some(agent), _) => Some(Audience::Agent(agent)),
                    (None, Some(contact)) => Some(Audience::Visitor(contact)),
                    (None, None) => None,
                };
                self.broadcast_ephemeral(origin, &frame);
            }
            // Agents only: the visitor's presence, and delivery of replies sent elsewhere.
            ("visitor" | "delivery", _) => {
                let agents: Vec<ListenerId> = self
                    .listeners
                    .iter()
                    .filter(|(_, l)| matches!(l.audience, Audience::Agent(_)))
                    .map(|(id, _)| *id)
                    .collect();
                for id in agents {
                    self.send(id, &frame);
                }
            }
            _ => {}
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        // The bus is gone: without a live feed this actor would silently stall its listeners.
        // They reconnect and resume from the store (on a fresh actor).
        for listener in self.listeners.values() {
            listener.disconnect.do_send(Disconnect {
                reason: CloseReason::Resume,
            });
        }
        self.listeners.clear();
        ctx.stop();
    }
}

impl Handler<Subscribe> for ConversationActor {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, ctx: &mut Context<Self>) {
        let store = self.registry.inner.store.clone();
        let bus = self.registry.inner.bus.clone();
        let (account, id) = (self.account, self.id);
        let read = async move {
            // Across nodes the bus subscription made in `started` is confirmed later: the head
            // is read only once it is live, so an item written elsewhere right after
            // `subscribed` is not missed. Unconfirmed (bus down): carry on, clients resume.
            let _ = bus.subscribed(&topics::conversation(id)).await;
            store.get_conversation(account, id).await
        };
        ctx.wait(read.into_actor(self).map(move |result, act, ctx| {
            let conversation = match result {
                Ok(conversation) => conversation,
                Err(e) => {
                    tracing::warn!(error = %e, conversation = %act.id, "subscribe: head read failed");
                    let error = ErrorFrame::new("unavailable", "the store did not answer; retry")
                        .about(act.id, None);
                    let _ = msg.deliver.try_send(Deliver {
                        frame: ServerFrame::Error(error).encode(),
                    });
                    return;
                }
            };
            act.head = act.head.max(conversation.last_seq);
            act.listeners.insert(
                msg.listener,
                Listener {
                    audience: msg.audience,
                    delivered: msg.after_seq.max(0),
                    deliver: msg.deliver,
                    disconnect: msg.disconnect,
                },
            );
            let subscribed = ServerFrame::Subscribed {
                conversation_id: act.id,
                last_seq: act.head,
                visitor_online: msg.visitor_online,
            }
            .encode();
            act.send(msg.listener, &subscribed);
            act.deliver_ready(ctx);
        }));
    }
}

impl Handler<Unsubscribe> for ConversationActor {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, ctx: &mut Context<Self>) {
        self.listeners.remove(&msg.listener);
        if self.listeners.is_empty() {
            self.stop_when_idle(ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::bus::InProcessBus;
    use crate::domain::{
        Actor as Author, Body, ChannelKind, Name, NewChannel, NewContact, NewConversation,
        NewInbox, NewItem, NewItemContent,
    };
    use crate::store::SqliteStore;

    /// Records what a socket would be sent.
    struct Collector {
        seqs: Arc<Mutex<Vec<i64>>>,
    }

    impl Actor for Collector {
        type Context = Context<Self>;
    }

    impl Handler<Deliver> for Collector {
        type Result = ();
        fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) {
            let frame: serde_json::Value = serde_json::from_str(msg.frame.as_str()).unwrap();
            if frame["type"] == "item" {
                let seq = frame["item"]["seq"].as_i64().unwrap();
                self.seqs.lock().unwrap().push(seq);
            }
        }
    }

    impl Handler<Disconnect> for Collector {
        type Result = ();
        fn handle(&mut self, msg: Disconnect, _: &mut Context<Self>) {
            panic!("unexpected disconnect: {msg:?}");
        }
    }

    async fn conversation(store: &DynStore) -> (AccountId, ConversationId) {
        let account = store
            .create_account(Name::parse("Acme").unwrap())
            .await
            .unwrap();
        let inbox = store
            .create_inbox(
                account.id,
                NewInbox {
                    name: Name::parse("Support").unwrap(),
                    routing: Default::default(),
                    notification_defaults: Default::default(),
                    email_filters: Default::default(),
                    member_ids: vec![],
                },
            )
            .await
            .unwrap();
        let channel = store
            .create_channel(
                account.id,
                NewChannel {
                    inbox_id: inbox.id,
                    kind: ChannelKind::Chat,
                    name: Name::parse("Chat").unwrap(),
                    settings: Default::default(),
                },
            )
            .await
            .unwrap();
        let contact = store
            .create_contact(account.id, NewContact::default())
            .await
            .unwrap();
        let conversation = store
            .create_conversation(
                account.id,
                NewConversation {
                    channel_id: channel.id,
                    contact_id: contact.id,
                    subject: None,
                },
                Author::System,
            )
            .await
            .unwrap();
        (account.id, conversation.id)
    }

    async fn append(store: &DynStore, account: AccountId, id: ConversationId) -> TimelineItem {
        store
            .append_item(
                account,
                id,
                NewItem {
                    client_id: None,
                    author: Author::System,
                    content: NewItemContent::Comment {
                        body: Body::parse("note").unwrap(),
                        mentions: vec![],
                    },
                },
            )
            .await
            .unwrap()
            .item
    }

    async fn publish(bus: &Arc<dyn Bus>, item: &TimelineItem) {
        let frame = ServerFrame::Item { item: item.clone() }.encode();
        bus.publish(
            &topics::conversation(item.conversation_id),
            frame.into_bytes(),
        )
        .await
        .unwrap();
    }

    async fn seen_after_settling(seqs: &Arc<Mutex<Vec<i64>>>, want: usize) -> Vec<i64> {
        for _ in 0..100 {
            if seqs.lock().unwrap().len() >= want {
                break;
            }
            actix::clock::sleep(Duration::from_millis(20)).await;
        }
        // Long enough for a duplicate to show up if one were coming.
        actix::clock::sleep(Duration::from_millis(200)).await;
        seqs.lock().unwrap().clone()
    }

    #[actix::test]
    async fn items_published_out_of_order_or_twice_reach_a_listener_once_in_seq_order() {
        let dir = tempfile::tempdir().unwrap();
        let store: DynStore = Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());
        let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
        let (account, id) = conversation(&store).await;
        let mut items = Vec::new();
        for _ in 0..3 {
            items.push(append(&store, account, id).await);
        }
        let registry = ConversationRegistry::new(store.clone(), bus.clone());
        let seqs = Arc::new(Mutex::new(Vec::new()));
        let collector = Collector { seqs: seqs.clone() }.start();
        let actor = registry.conversation(account, id);
        actor
            .send(Subscribe {
                listener: ListenerId::next(),
                audience: Audience::Agent(AgentId::new()),
                after_seq: 1,
                deliver: collector.clone().recipient(),
                disconnect: collector.recipient(),
                visitor_online: None,
            })
            .await
            .unwrap();
        assert_eq!(
            seen_after_settling(&seqs, 2).await,
            vec![2, 3],
            "after after_seq"
        );

        // Two writers on two nodes: 5 is published before 4, and 4 never arrives on the bus.
        items.push(append(&store, account, id).await);
        items.push(append(&store, account, id).await);
        publish(&bus, &items[4]).await;
        assert_eq!(
            seen_after_settling(&seqs, 4).await,
            vec![2, 3, 4, 5],
            "4 read from the store"
        );

        // Late and repeated publications change nothing.
        publish(&bus, &items[3]).await;
        publish(&bus, &items[4]).await;
        publish(&bus, &items[1]).await;
        items.push(append(&store, account, id).await);
        publish(&bus, &items[5]).await;
        assert_eq!(seen_after_settling(&seqs, 5).await, vec![2, 3, 4, 5, 6]);
        assert_eq!(registry.live_conversations(), 1);
        assert_eq!(registry.slow_consumers(), 0);
    }

    #[actix::test]
    async fn a_visitor_listener_is_never_given_comments_and_misses_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let store: DynStore = Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());
        let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
        let (account, id) = conversation(&store).await;
        let message = |body: &str| NewItem {
            client_id: None,
            author: Author::System,
            content: NewItemContent::Message {
                direction: crate::domain::Direction::Out,
                body: Body::parse(body).unwrap(),
            },
        };
        let base = store.get_conversation(account, id).await.unwrap().last_seq;
        // Stored before the subscription (read from the store) and after it (live).
        let early = store
            .append_item(account, id, message("early"))
            .await
            .unwrap();
        append(&store, account, id).await;
        let registry = ConversationRegistry::new(store.clone(), bus.clone());
        let seqs = Arc::new(Mutex::new(Vec::new()));
        let visitor = Collector { seqs: seqs.clone() }.start();
        registry
            .conversation(account, id)
            .send(Subscribe {
                listener: ListenerId::next(),
                audience: Audience::Visitor(crate::domain::ContactId::new()),
                after_seq: base,
                deliver: visitor.clone().recipient(),
                disconnect: visitor.recipient(),
                visitor_online: None,
            })
            .await
            .unwrap();
        let comment = append(&store, account, id).await;
        publish(&bus, &comment).await;
        let late = store
            .append_item(account, id, message("late"))
            .await
            .unwrap();
        publish(&bus, &late.item).await;
        assert_eq!(
            seen_after_settling(&seqs, 2).await,
            vec![early.item.seq, late.item.seq]
        );
    }

    /// A socket that reads far slower than frames arrive.
    struct SlowSocket {
        closed_with: Arc<Mutex<Option<CloseReason>>>,
    }

    impl Actor for SlowSocket {
        type Context = Context<Self>;
    }

    impl Handler<Deliver> for SlowSocket {
        type Result = ();
        fn handle(&mut self, _: Deliver, _: &mut Context<Self>) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    impl Handler<Disconnect> for SlowSocket {
        type Result = ();
        fn handle(&mut self, msg: Disconnect, _: &mut Context<Self>) {
            *self.closed_with.lock().unwrap() = Some(msg.reason);
        }
    }

    #[actix::test]
    async fn a_listener_that_cannot_keep_up_is_dropped_told_why_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let store: DynStore = Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());
        let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
        let (account, id) = conversation(&store).await;
        let registry = ConversationRegistry::new(store.clone(), bus.clone());
        let closed_with = Arc::new(Mutex::new(None));
        // Its own thread, so its slowness does not hold up the conversation actor.
        let arbiter = Arbiter::new();
        let slow_closed = closed_with.clone();
        let slow = SlowSocket::start_in_arbiter(&arbiter.handle(), move |ctx| {
            ctx.set_mailbox_capacity(2);
            SlowSocket {
                closed_with: slow_closed,
            }
        });
        let seqs = Arc::new(Mutex::new(Vec::new()));
        let fast = Collector { seqs: seqs.clone() }.start();
        let actor = registry.conversation(account, id);
        for (socket_deliver, socket_disconnect) in [
            (slow.clone().recipient(), slow.clone().recipient()),
            (fast.clone().recipient(), fast.clone().recipient()),
        ] {
            actor
                .send(Subscribe {
                    listener: ListenerId::next(),
                    audience: Audience::Agent(AgentId::new()),
                    after_seq: 0,
                    deliver: socket_deliver,
                    disconnect: socket_disconnect,
                    visitor_online: None,
                })
                .await
                .unwrap();
        }
        for _ in 0..20 {
            let item = append(&store, account, id).await;
            publish(&bus, &item).await;
        }
        let fast_saw = seen_after_settling(&seqs, 20).await;
        assert_eq!(
            fast_saw,
            (1..=20).collect::<Vec<_>>(),
            "others are not held up"
        );
        assert_eq!(
            *closed_with.lock().unwrap(),
            Some(CloseReason::SlowConsumer)
        );
        assert_eq!(registry.slow_consumers(), 1, "counted once");
        arbiter.stop();
    }

    #[actix::test]
    async fn a_conversation_without_listeners_stops_and_leaves_its_topic() {
        let dir = tempfile::tempdir().unwrap();
        let store: DynStore = Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());
        let in_process = Arc::new(InProcessBus::new());
        let bus: Arc<dyn Bus> = in_process.clone();
        let (account, id) = conversation(&store).await;
        let idle = Duration::from_millis(200);
        let registry = ConversationRegistry::with_idle_stop_after(store.clone(), bus, idle);
        let seqs = Arc::new(Mutex::new(Vec::new()));
        let socket = Collector { seqs }.start();
        let listener = ListenerId::next();
        let actor = registry.conversation(account, id);
        actor
            .send(Subscribe {
                listener,
                audience: Audience::Agent(AgentId::new()),
                after_seq: 0,
                deliver: socket.clone().recipient(),
                disconnect: socket.recipient(),
                visitor_online: None,
            })
            .await
            .unwrap();
        assert_eq!(
            in_process.topic_count(),
            1,
            "listening while it has a listener"
        );
        actix::clock::sleep(idle * 3).await;
        assert_eq!(
            registry.live_conversations(),
            1,
            "a listener keeps it alive"
        );

        actor.send(Unsubscribe { listener }).await.unwrap();
        actix::clock::sleep(idle * 3).await;
        assert_eq!(registry.live_conversations(), 0);
        assert!(!actor.connected());
        assert_eq!(in_process.topic_count(), 0, "the topic is left");
        let again = registry.conversation(account, id);
        assert!(again.connected(), "a new subscription starts a new actor");
    }
}
