//! Fan-out through the bus: one ~300-byte frame published to a conversation topic, timed until
//! every one of N subscribers (N = 1, 10, 100) has received it.
//!
//! - `in_process/N`: [`InProcessBus`], subscribers on the publishing node.
//! - `redis_cross_node/N`: two [`RedisBus`] instances on one Redis, standing for two nodes; the
//!   frame is published on the first and all N subscribers listen on the second, so each
//!   iteration is one cross-node hop (PUBLISH, Redis, the second node's pub/sub connection,
//!   its local broadcast).
//!
//! Each subscriber is its own task, as each socket actor will be, and counts down a shared
//! counter; the last one wakes the publisher. One publish is in flight at a time, so the figure
//! is latency, not throughput.
//!
//! Redis is named by `PARLEY_TEST_REDIS_URL`; without it the bench fails. `cargo test
//! --all-targets` runs every case once (criterion's test mode).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use parley::bus::{Bus, InProcessBus, Received, RedisBus, topics};
use parley::domain::ConversationId;
use tokio::runtime::Runtime;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

const FANOUT: [usize; 3] = [1, 10, 100];

/// A delivery slower than this means a lost message, not a slow one: fail rather than hang.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// A message event roughly as a socket would receive it.
fn frame() -> Bytes {
    let frame = format!(
        concat!(
            r#"{{"type":"message.created","conversation_id":"{}","seq":1042,"#,
            r#""message":{{"id":"{}","author":{{"kind":"agent","id":"{}"}},"#,
            r#""body":"Thanks, I have refunded your order.","#,
            r#""created_at":"2026-11-25T11:00:00Z"}}}}"#
        ),
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
    );
    Bytes::from(frame)
}

/// N subscriber tasks on one topic; `remaining` counts down to the last delivery.
struct Subscribers {
    remaining: Arc<AtomicUsize>,
    all_received: Arc<Notify>,
    tasks: Vec<JoinHandle<()>>,
}

impl Subscribers {
    /// Subscribes N times to `topic` on `bus` and waits until the subscription is confirmed.
    async fn start(bus: &dyn Bus, topic: &str, n: usize) -> Self {
        let remaining = Arc::new(AtomicUsize::new(0));
        let all_received = Arc::new(Notify::new());
        let tasks = (0..n)
            .map(|_| {
                let mut subscription = bus.subscribe(topic);
                let remaining = remaining.clone();
                let all_received = all_received.clone();
                tokio::spawn(async move {
                    loop {
                        match subscription.recv().await {
                            Received::Message(message) => {
                                std::hint::black_box(message.payload.len());
                                if remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                                    all_received.notify_one();
                                }
                            }
                            // Cannot happen with one publish in flight; reaching it would make
                            // the figures meaningless, so stop loudly.
                            Received::Lagged(n) => panic!("subscriber lagged by {n}"),
                            Received::Closed => return,
                        }
                    }
                })
            })
            .collect();
        bus.subscribed(topic)
            .await
            .expect("the bus did not confirm the subscription");
        Self {
            remaining,
            all_received,
            tasks,
        }
    }

    /// Publishes `iters` times, each once the previous one reached every subscriber.
    async fn run(&self, publisher: &dyn Bus, topic: &str, payload: &Bytes, iters: u64) -> Duration {
        let n = self.tasks.len();
        let start = Instant::now();
        for _ in 0..iters {
            self.remaining.store(n, Ordering::Release);
            publisher
                .publish(topic, payload.clone())
                .await
                .expect("publish failed");
            tokio::time::timeout(DELIVERY_TIMEOUT, self.all_received.notified())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "{} of {n} subscribers still waiting after {DELIVERY_TIMEOUT:?}",
                        self.remaining.load(Ordering::Acquire)
                    )
                });
        }
        start.elapsed()
    }
}

impl Drop for Subscribers {
    fn drop(&mut self) {
        // Aborting drops each task's subscription, so the topic is released on the bus.
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn redis_url() -> String {
    std::env::var("PARLEY_TEST_REDIS_URL").expect(
        "PARLEY_TEST_REDIS_URL is not set: the bus_fanout bench needs a Redis server \
         (e.g. PARLEY_TEST_REDIS_URL=redis://127.0.0.1:6379/)",
    )
}

fn runtime() -> Runtime {
    // Two workers, like a node on this two-core machine: publisher and subscribers run in
    // parallel as they would in a server.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn in_process(c: &mut Criterion) {
    let rt = runtime();
    let payload = frame();
    let mut group = c.benchmark_group("in_process");
    for n in FANOUT {
        let bus = InProcessBus::new();
        let topic = topics::conversation(ConversationId::new());
        let subscribers = rt.block_on(Subscribers::start(&bus, &topic, n));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_custom(|iters| rt.block_on(subscribers.run(&bus, &topic, &payload, iters)));
        });
        drop(subscribers);
    }
    group.finish();
}

fn redis_cross_node(c: &mut Criterion) {
    let url = redis_url();
    let rt = runtime();
    let payload = frame();
    let (node_a, node_b) = rt.block_on(async {
        let connect = |url: &str| {
            RedisBus::connect(url).expect("PARLEY_TEST_REDIS_URL is not a usable Redis URL")
        };
        (connect(&url), connect(&url))
    });
    let mut group = c.benchmark_group("redis_cross_node");
    for n in FANOUT {
        let topic = topics::conversation(ConversationId::new());
        // A Redis that is down fails here (the subscription is never confirmed), not as a hang.
        let subscribers = rt.block_on(Subscribers::start(&node_b, &topic, n));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_custom(|iters| rt.block_on(subscribers.run(&node_a, &topic, &payload, iters)));
        });
        drop(subscribers);
    }
    group.finish();
    // The buses' background tasks end with the runtime.
    rt.block_on(async { drop((node_a, node_b)) });
}

fn config() -> Criterion {
    // Short by default: the spread between runs on a shared machine is larger than what
    // longer sampling would gain.
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = in_process, redis_cross_node
}
criterion_main!(benches);
