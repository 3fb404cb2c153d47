//! Fan-out through the actors: one timeline item published on a conversation's topic, timed
//! until each of N listening sessions (N = 1, 10, 100, 1000) has been handed its frame by the
//! conversation's [`ConversationActor`].
//!
//! - `actors_in_process/N`: [`InProcessBus`]; the publisher, the conversation actor and the
//!   listeners are on one node.
//! - `actors_redis_cross_node/N`: two [`RedisBus`] instances on one Redis, standing for two
//!   nodes. The item is published on the first; the conversation actor (through the second
//!   node's registry) and all N listeners are on the second. Each iteration is one cross-node
//!   hop followed by the actor's fan-out.
//!
//! The path measured is the production one: the publisher encodes the item frame as
//! `publish_item` does and publishes it; the conversation actor reads it from the bus, keeps it
//! in its recent-frames cache and `try_send`s a [`Deliver`] into each listener's mailbox. The
//! listeners are small actors with the sessions' mailbox size that take [`Deliver`] (and
//! [`Disconnect`]) as socket sessions do, count the frame and stop there: the socket write a
//! session does next is not measured. They are spread over two arbiters (threads), like
//! sessions over a two-worker server; the conversation actor runs on the first.
//!
//! Items are published in `seq` order, one at a time, each the one after every listener's
//! cursor, so the actor serves them from its cache and never reads the store. The items are
//! deliberately not stored: had the actor fallen back to the store, it would find nothing,
//! the listeners would never get the item and the bench would fail (delivery timeout) instead
//! of measuring a store read. The store (SQLite in a temporary directory) holds only the
//! account and conversations, which subscribing reads.
//!
//! One publish is in flight at a time, so the figure is latency, not throughput.
//!
//! Redis is named by `PARLEY_TEST_REDIS_URL`; without it the bench fails. `cargo test
//! --all-targets` runs every case once (criterion's test mode).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix::prelude::*;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use parley::actors::conversation::{
    Audience, ConversationActor, ConversationRegistry, Deliver, Disconnect, ListenerId, Subscribe,
    Unsubscribe,
};
use parley::actors::protocol::{EncodedFrame, ServerFrame};
use parley::actors::session::MAILBOX_CAPACITY;
use parley::bus::{Bus, InProcessBus, RedisBus, topics};
use parley::domain::{
    AccountId, Actor as Author, AgentId, Body, ChannelKind, ConversationId, Direction, Name,
    NewChannel, NewContact, NewConversation, NewInbox, NewItem, NewItemContent, TimelineItem,
};
use parley::store::{DynStore, SqliteStore};
use tokio::sync::Notify;

const FANOUT: [usize; 4] = [1, 10, 100, 1000];

/// A delivery slower than this means a lost frame (or a store read, see the module comment),
/// not a slow one: fail rather than hang.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Counts down to the last listener of one publish, which wakes the publisher.
#[derive(Clone)]
struct Countdown {
    remaining: Arc<AtomicUsize>,
    all_received: Arc<Notify>,
}

impl Countdown {
    fn new() -> Self {
        Self {
            remaining: Arc::new(AtomicUsize::new(0)),
            all_received: Arc::new(Notify::new()),
        }
    }

    fn arm(&self, n: usize) {
        self.remaining.store(n, Ordering::Release);
    }

    fn tick(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.all_received.notify_one();
        }
    }

    async fn wait(&self, n: usize, what: &str) {
        tokio::time::timeout(DELIVERY_TIMEOUT, self.all_received.notified())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{} of {n} listeners still waiting for {what} after {DELIVERY_TIMEOUT:?}",
                    self.remaining.load(Ordering::Acquire)
                )
            });
    }
}

/// Stands in for a socket session: takes what the conversation actor sends a session.
struct Listener {
    countdown: Countdown,
    frames: u64,
    last: Option<EncodedFrame>,
    disconnects: Arc<AtomicUsize>,
}

impl Actor for Listener {
    type Context = Context<Self>;
}

impl Handler<Deliver> for Listener {
    type Result = ();

    fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) {
        self.frames += 1;
        self.last = Some(msg.frame);
        self.countdown.tick();
    }
}

impl Handler<Disconnect> for Listener {
    type Result = ();

    fn handle(&mut self, _: Disconnect, _: &mut Context<Self>) {
        self.disconnects.fetch_add(1, Ordering::Relaxed);
    }
}

/// What a listener received: how many frames, and the last one.
#[derive(Message)]
#[rtype(result = "(u64, Option<EncodedFrame>)")]
struct Report;

impl Handler<Report> for Listener {
    type Result = MessageResult<Report>;

    fn handle(&mut self, _: Report, _: &mut Context<Self>) -> Self::Result {
        MessageResult((self.frames, self.last.clone()))
    }
}

/// One conversation with N listeners subscribed through a node's registry.
struct Fanout {
    id: ConversationId,
    actor: Addr<ConversationActor>,
    listeners: Vec<(ListenerId, Addr<Listener>)>,
    countdown: Countdown,
    disconnects: Arc<AtomicUsize>,
    /// A stored message item; each publish is a copy with the next `seq`.
    template: TimelineItem,
    first_seq: i64,
    next_seq: i64,
}

impl Fanout {
    async fn start(
        store: &DynStore,
        account: AccountId,
        registry: &ConversationRegistry,
        arbiters: &[ArbiterHandle],
        n: usize,
    ) -> Self {
        let (id, template) = conversation(store, account).await;
        let actor = registry.conversation(account, id);
        let countdown = Countdown::new();
        let disconnects = Arc::new(AtomicUsize::new(0));
        // Each listener is first sent `subscribed`; waiting for all of them means every
        // listener's cursor is at the head before the first publish.
        countdown.arm(n);
        let mut listeners = Vec::with_capacity(n);
        for i in 0..n {
            let (countdown, disconnects) = (countdown.clone(), disconnects.clone());
            let listener = Listener::start_in_arbiter(&arbiters[i % arbiters.len()], move |ctx| {
                ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
                Listener {
                    countdown,
                    frames: 0,
                    last: None,
                    disconnects,
                }
            });
            let listener_id = ListenerId::next();
            actor
                .send(Subscribe {
                    listener: listener_id,
                    audience: Audience::Agent(AgentId::new()),
                    after_seq: template.seq,
                    deliver: listener.clone().recipient(),
                    disconnect: listener.clone().recipient(),
                    visitor_online: None,
                })
                .await
                .expect("the conversation actor stopped");
            listeners.push((listener_id, listener));
        }
        countdown.wait(n, "`subscribed`").await;
        Self {
            id,
            actor,
            listeners,
            countdown,
            disconnects,
            first_seq: template.seq + 1,
            next_seq: template.seq + 1,
            template,
        }
    }

    /// Publishes `iters` items, each once the previous one reached every listener.
    async fn run(&mut self, publisher: &dyn Bus, iters: u64) -> Duration {
        let n = self.listeners.len();
        let topic = topics::conversation(self.id);
        let start = Instant::now();
        for _ in 0..iters {
            self.countdown.arm(n);
            let mut item = self.template.clone();
            item.seq = self.next_seq;
            self.next_seq += 1;
            let frame = ServerFrame::Item { item }.encode();
            publisher
                .publish(&topic, frame.into_bytes())
                .await
                .expect("publish failed");
            self.countdown.wait(n, "the item").await;
        }
        start.elapsed()
    }

    /// Checks that every listener got `subscribed` and then every item, the last one last,
    /// and nobody was dropped; then unsubscribes them all.
    async fn finish(self, registry: &ConversationRegistry) {
        let published = u64::try_from(self.next_seq - self.first_seq).unwrap();
        let last_seq = self.next_seq - 1;
        for (listener_id, listener) in &self.listeners {
            let (frames, last) = listener.send(Report).await.unwrap();
            assert_eq!(
                frames,
                1 + published,
                "`subscribed` then one frame per item"
            );
            if published > 0 {
                let last: serde_json::Value = serde_json::from_str(last.unwrap().as_str()).unwrap();
                assert_eq!(last["type"], "item");
                assert_eq!(
                    last["item"]["seq"], last_seq,
                    "items in seq order, none lost"
                );
            }
            self.actor.do_send(Unsubscribe {
                listener: *listener_id,
            });
        }
        assert_eq!(
            self.disconnects.load(Ordering::Relaxed),
            0,
            "no listener dropped"
        );
        assert_eq!(registry.slow_consumers(), 0, "no slow consumer");
    }
}

/// A new conversation with one stored message (the template of the published items).
async fn conversation(store: &DynStore, account: AccountId) -> (ConversationId, TimelineItem) {
    let inbox = store
        .create_inbox(
            account,
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
            account,
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
        .create_contact(account, NewContact::default())
        .await
        .unwrap();
    let conversation = store
        .create_conversation(
            account,
            NewConversation {
                channel_id: channel.id,
                contact_id: contact.id,
                subject: None,
            },
            Author::System,
        )
        .await
        .unwrap();
    let message = store
        .append_item(
            account,
            conversation.id,
            NewItem {
                client_id: None,
                author: Author::System,
                content: NewItemContent::Message {
                    direction: Direction::Out,
                    body: Body::parse("Thanks, I have refunded your order.").unwrap(),
                },
            },
        )
        .await
        .unwrap();
    (conversation.id, message.item)
}

fn redis_url() -> String {
    std::env::var("PARLEY_TEST_REDIS_URL").expect(
        "PARLEY_TEST_REDIS_URL is not set: the actor_fanout bench needs a Redis server \
         (e.g. PARLEY_TEST_REDIS_URL=redis://127.0.0.1:6379/)",
    )
}

fn fanout(c: &mut Criterion) {
    // Checked first, so a missing Redis fails before anything is measured.
    let url = redis_url();
    let system = System::new();
    // The System's own arbiter (this thread, driven while `block_on` runs) and one more: two
    // workers, like a node on this two-core machine.
    let second = Arbiter::new();
    let arbiters = [Arbiter::current(), second.handle()];
    let dir = tempfile::tempdir().unwrap();
    let (store, account) = system.block_on(async {
        let store: DynStore = Arc::new(
            SqliteStore::open(&dir.path().join("bench.db"))
                .await
                .unwrap(),
        );
        let account = store
            .create_account(Name::parse("Acme").unwrap())
            .await
            .unwrap();
        (store, account.id)
    });

    // One node: publisher and listeners share the bus.
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let registry = ConversationRegistry::new(store.clone(), bus.clone());
    let mut group = c.benchmark_group("actors_in_process");
    for n in FANOUT {
        let mut fanout = system.block_on(Fanout::start(&store, account, &registry, &arbiters, n));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_custom(|iters| system.block_on(fanout.run(&*bus, iters)));
        });
        system.block_on(fanout.finish(&registry));
    }
    group.finish();

    // Two nodes on one Redis: published on A, fanned out on B.
    let (node_a, node_b) = system.block_on(async {
        let connect = |url: &str| {
            RedisBus::connect(url).expect("PARLEY_TEST_REDIS_URL is not a usable Redis URL")
        };
        let (a, b): (Arc<dyn Bus>, Arc<dyn Bus>) =
            (Arc::new(connect(&url)), Arc::new(connect(&url)));
        (a, b)
    });
    let registry_b = ConversationRegistry::new(store.clone(), node_b.clone());
    let mut group = c.benchmark_group("actors_redis_cross_node");
    for n in FANOUT {
        // The conversation actor waits for its Redis subscription before answering a
        // subscribe, so the topic is live on B once this returns.
        let mut fanout = system.block_on(Fanout::start(&store, account, &registry_b, &arbiters, n));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_custom(|iters| system.block_on(fanout.run(&*node_a, iters)));
        });
        system.block_on(fanout.finish(&registry_b));
    }
    group.finish();

    second.stop();
    second.join().ok();
    system.block_on(async { drop((node_a, node_b, registry, registry_b, store)) });
}

fn config() -> Criterion {
    // Short: the spread between runs on a shared machine is larger than what longer sampling
    // would gain. 50 samples keep the 1000-listener cases within the measurement time.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = fanout
}
criterion_main!(benches);
