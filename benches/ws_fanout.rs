//! End-to-end fan-out through real WebSockets: an agent socket sends a `send` frame and the
//! time is taken until each of N other agent sockets subscribed to the conversation
//! (N = 1, 10, 100, 1000) has read the `item` frame.
//!
//! A Parley server runs in this process exactly as the test suite starts it (`tests/common`:
//! `config/test.toml`, two HTTP workers, SQLite in a temporary directory, in-process bus, one
//! node); the clients are `tokio-tungstenite` sockets over loopback (`tests/ws_fixtures`). Each
//! iteration is therefore: the client writes the frame, the server parses and checks it, stores
//! the message (one SQLite transaction), acknowledges it, publishes it, the conversation actor
//! fans it out to N session actors, each writes it to its socket, and each client task reads
//! it. The clients run on the same two cores as the server.
//!
//! A socket may send 30 frames per second, so sends rotate over several sender sockets and
//! each waits out its share of the rate limit; that waiting, and reading the sender's `ack`,
//! happen outside the timed part.
//!
//! One send is in flight at a time, so the figure is latency, not throughput. Needs nothing
//! but a writable temporary directory. `cargo test --all-targets` runs every case once, except
//! the 1000-socket one (see [`TEST_MODE_MAX`]).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/ws_fixtures/mod.rs"]
mod ws_fixtures;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Backend, TestApp, spawn_app};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use futures_util::StreamExt;
use parley::domain::{
    AccountId, Actor as Author, ChannelKind, ConversationId, Name, NewChannel, NewContact,
    NewConversation, NewInbox,
};
use tokio::runtime::Runtime;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use ws_fixtures::{Socket, send_frame, uuid};

const FANOUT: [usize; 4] = [1, 10, 100, 1000];
/// Sockets the test-mode run (`cargo test --all-targets`) goes up to: 1000 sockets take some
/// 2000 file descriptors in this one process (both ends), more than a default limit of 1024.
const TEST_MODE_MAX: usize = 100;

/// Sender sockets the sends rotate over.
const SENDERS: usize = 8;
/// Least time between two frames of one socket: under its 30 frames per second.
const SEND_GAP: Duration = Duration::from_millis(40);
/// A delivery slower than this means a lost frame, not a slow one: fail rather than hang.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// N subscribed sockets, each read by its own task; the last to read an item wakes the sender.
struct Listeners {
    remaining: Arc<AtomicUsize>,
    all_received: Arc<Notify>,
    tasks: Vec<JoinHandle<()>>,
}

impl Listeners {
    async fn start(app: &TestApp, conversation: ConversationId, n: usize) -> Self {
        let remaining = Arc::new(AtomicUsize::new(0));
        let all_received = Arc::new(Notify::new());
        let mut tasks = Vec::with_capacity(n);
        for _ in 0..n {
            let mut socket = Socket::agent(app, &app.admin_token).await;
            socket.subscribe(conversation, 0).await;
            let (remaining, all_received) = (remaining.clone(), all_received.clone());
            tasks.push(tokio::spawn(async move {
                while let Some(message) = socket.ws.next().await {
                    match message {
                        // As a client would, it reads the frame; presence frames pass by.
                        Ok(Message::Text(text)) => {
                            let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
                            if frame["type"] == "item"
                                && remaining.fetch_sub(1, Ordering::AcqRel) == 1
                            {
                                all_received.notify_one();
                            }
                        }
                        Ok(Message::Close(close)) => panic!("listener closed: {close:?}"),
                        Ok(_) => {}
                        Err(e) => panic!("listener socket failed: {e}"),
                    }
                }
            }));
        }
        Self {
            remaining,
            all_received,
            tasks,
        }
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

struct Senders {
    sockets: Vec<(Socket, Instant)>,
    next: usize,
}

impl Senders {
    async fn start(app: &TestApp) -> Self {
        let mut sockets = Vec::with_capacity(SENDERS);
        for _ in 0..SENDERS {
            let socket = Socket::agent(app, &app.admin_token).await;
            sockets.push((socket, Instant::now()));
        }
        Self { sockets, next: 0 }
    }

    /// Sends `iters` messages, each once the previous one reached every listener; returns the
    /// time from each send to its last delivery, summed.
    async fn run(
        &mut self,
        conversation: ConversationId,
        listeners: &Listeners,
        iters: u64,
    ) -> Duration {
        let n = listeners.tasks.len();
        let mut timed = Duration::ZERO;
        for _ in 0..iters {
            let (socket, last_sent) = &mut self.sockets[self.next];
            self.next = (self.next + 1) % SENDERS;
            tokio::time::sleep_until((*last_sent + SEND_GAP).into()).await;
            let frame = send_frame(conversation, &uuid(), "Thanks, I have refunded your order.");
            listeners.remaining.store(n, Ordering::Release);
            let start = Instant::now();
            socket.send(frame).await;
            tokio::time::timeout(DELIVERY_TIMEOUT, listeners.all_received.notified())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "{} of {n} listeners still waiting after {DELIVERY_TIMEOUT:?}",
                        listeners.remaining.load(Ordering::Acquire)
                    )
                });
            timed += start.elapsed();
            *last_sent = start;
            let ack = socket.next().await;
            assert_eq!(ack["type"], "ack", "{ack}");
        }
        timed
    }
}

/// A new conversation in the admin's account.
async fn conversation(app: &TestApp, account: AccountId) -> ConversationId {
    let store = &app.store;
    let inbox = store
        .create_inbox(
            account,
            NewInbox {
                name: Name::parse("Support").unwrap(),
                routing: Default::default(),
                notification_defaults: Default::default(),
                email_filters: Default::default(),
                member_ids: vec![app.admin.id],
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
    store
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
        .unwrap()
        .id
}

fn websockets(c: &mut Criterion) {
    // Two workers for the clients, as the server has two HTTP workers: all on two cores.
    let rt: Runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let app = rt.block_on(spawn_app(Backend::Sqlite));
    let account = app.admin.account_id;
    let mut senders = rt.block_on(Senders::start(&app));
    // criterion measures only when given `--bench` (as `cargo bench` does); otherwise each case
    // runs once as a test.
    let measuring = std::env::args().any(|arg| arg == "--bench");
    let mut group = c.benchmark_group("websockets");
    for n in FANOUT
        .into_iter()
        .filter(|n| measuring || *n <= TEST_MODE_MAX)
    {
        let id = rt.block_on(conversation(&app, account));
        let listeners = rt.block_on(Listeners::start(&app, id, n));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_custom(|iters| rt.block_on(senders.run(id, &listeners, iters)));
        });
        rt.block_on(async { drop(listeners) });
    }
    group.finish();
    rt.block_on(async {
        drop(senders);
        app.handle.stop(false).await;
    });
}

fn config() -> Criterion {
    // Each iteration stores a message and waits on the rate limit: few, short samples.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = websockets
}
criterion_main!(benches);
