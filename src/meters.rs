//! Prometheus metrics of a node (`/metrics`, docs/metrics.md): their names and descriptions,
//! the recorder, and the handles the instrumented code uses.
//!
//! The `metrics` facade has one recorder per process, so [`install`] sets it once and later
//! calls (a test process starts several nodes) get the same handle: every figure is then the
//! sum over the nodes of the process. The gauges sampled on scrape (pool, outbox backlog) are
//! those of the node that was scraped last.
//!
//! The hot paths (a frame written to a socket, a bus message) use handles registered once at
//! install, not the `counter!` macros, so they cost an atomic add rather than a registry lookup,
//! and every series is in the exposition from the start, at zero. Before [`install`] (a bench,
//! a node with `[metrics] enabled = false`) every call here does nothing.
//!
//! Must not: decide anything. Code records what happened; nothing reads the figures back.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Sockets open now, by kind.
pub const SOCKETS_OPEN: &str = "parley_sockets_open";
/// Text frames read from clients, by socket kind.
pub const FRAMES_RECEIVED: &str = "parley_socket_frames_received_total";
/// Text frames written to sockets, by socket kind.
pub const FRAMES_SENT: &str = "parley_socket_frames_sent_total";
/// Sockets closed because they could not keep up.
pub const SLOW_CONSUMERS: &str = "parley_slow_consumers_closed_total";
/// Publishes attempted on the bus, by backend.
pub const BUS_PUBLISHED: &str = "parley_bus_published_total";
/// Messages handed to local bus subscriptions, by backend.
pub const BUS_RECEIVED: &str = "parley_bus_received_total";
/// Store round trips, by backend and operation.
pub const STORE_SECONDS: &str = "parley_store_operation_duration_seconds";
/// Routing decisions, by outcome.
pub const ROUTING: &str = "parley_routing_decisions_total";
/// The PostgreSQL pool.
pub const POOL_SIZE: &str = "parley_store_pool_connections";
pub const POOL_AVAILABLE: &str = "parley_store_pool_available";
pub const POOL_WAITING: &str = "parley_store_pool_waiting";
/// Outbox rows waiting to be sent.
pub const OUTBOX_PENDING: &str = "parley_outbox_pending";

/// Upper bounds of the store latency buckets, in seconds: from a cached SQLite read (tens of
/// µs) to the pool's own wait limit.
const STORE_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// How often histograms are folded into their buckets between scrapes (the exporter's own
/// listener would do this; Parley serves `/metrics` itself, so it runs the upkeep).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    Agent,
    Visitor,
}

impl SocketKind {
    const ALL: [Self; 2] = [Self::Agent, Self::Visitor];

    fn label(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Visitor => "visitor",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusBackend {
    InProcess,
    Redis,
}

impl BusBackend {
    const ALL: [Self; 2] = [Self::InProcess, Self::Redis];

    fn label(self) -> &'static str {
        match self {
            Self::InProcess => "in_process",
            Self::Redis => "redis",
        }
    }
}

/// The store call timed: PostgreSQL's statement helpers, SQLite's transaction wrappers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOp {
    PostgresQuery,
    PostgresQueryOpt,
    PostgresQueryOne,
    PostgresExecute,
    SqliteRead,
    SqliteWrite,
}

impl StoreOp {
    const ALL: [Self; 6] = [
        Self::PostgresQuery,
        Self::PostgresQueryOpt,
        Self::PostgresQueryOne,
        Self::PostgresExecute,
        Self::SqliteRead,
        Self::SqliteWrite,
    ];

    /// `(backend, op)` labels.
    fn labels(self) -> (&'static str, &'static str) {
        match self {
            Self::PostgresQuery => ("postgres", "query"),
            Self::PostgresQueryOpt => ("postgres", "query_opt"),
            Self::PostgresQueryOne => ("postgres", "query_one"),
            Self::PostgresExecute => ("postgres", "execute"),
            Self::SqliteRead => ("sqlite", "read"),
            Self::SqliteWrite => ("sqlite", "write"),
        }
    }
}

/// What one routing request came to (see `routing::Routed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutingOutcome {
    Assigned,
    Queued,
    NotRouted,
    Skipped,
    Failed,
}

impl RoutingOutcome {
    const ALL: [Self; 5] = [
        Self::Assigned,
        Self::Queued,
        Self::NotRouted,
        Self::Skipped,
        Self::Failed,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Assigned => "assigned",
            Self::Queued => "queued",
            Self::NotRouted => "not_routed",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetersError {
    /// Another recorder was set first (a program embedding Parley with its own metrics).
    #[error("a metrics recorder is already installed in this process: {0}")]
    RecorderTaken(String),
}

/// Every series, registered once.
struct Handles {
    sockets_open: [Gauge; 2],
    frames_received: [Counter; 2],
    frames_sent: [Counter; 2],
    slow_consumers: [Counter; 2],
    bus_published: [Counter; 2],
    bus_received: [Counter; 2],
    store_seconds: [Histogram; 6],
    routing: [Counter; 5],
    outbox_pending: Gauge,
}

struct Installed {
    handle: PrometheusHandle,
    handles: Handles,
}

static INSTALLED: OnceLock<Result<Installed, String>> = OnceLock::new();

/// Installs the process's recorder the first time; afterwards answers the same handle.
pub fn install() -> Result<PrometheusHandle, MetersError> {
    INSTALLED
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(STORE_SECONDS.into()), STORE_BUCKETS)
                .map_err(|e| e.to_string())?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
            describe();
            let upkeep = handle.clone();
            // A thread of its own rather than a task: the runtime of the node that installed
            // the recorder may stop while others go on (tests).
            let spawned = std::thread::Builder::new()
                .name("parley-metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "metrics upkeep thread not started; histograms fold at scrape");
            }
            Ok(Installed {
                handle,
                handles: register(),
            })
        })
        .as_ref()
        .map(|installed| installed.handle.clone())
        .map_err(|e| MetersError::RecorderTaken(e.clone()))
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(
        SOCKETS_OPEN,
        "WebSocket sessions open now (agent, visitor), counted from start to stop of the session actor"
    );
    describe_counter!(
        FRAMES_RECEIVED,
        "Text frames read from clients, before the size and rate limits"
    );
    describe_counter!(
        FRAMES_SENT,
        "Text frames written to sockets: timeline items, acks, errors, notifications, presence"
    );
    describe_counter!(
        SLOW_CONSUMERS,
        "Sockets closed as slow consumers (their mailbox was full); their clients resume"
    );
    describe_counter!(
        BUS_PUBLISHED,
        "Publishes attempted on the bus by this process (failed ones included)"
    );
    describe_counter!(
        BUS_RECEIVED,
        "Bus messages handed to a local subscription (one per subscription per message)"
    );
    describe_histogram!(
        STORE_SECONDS,
        Unit::Seconds,
        "Store round trips: PostgreSQL statements (prepare and run), SQLite transactions (lock wait included)"
    );
    describe_counter!(
        ROUTING,
        "Routing requests by what became of the conversation"
    );
    describe_gauge!(
        POOL_SIZE,
        "PostgreSQL connections open in the pool (sampled at scrape; absent on SQLite)"
    );
    describe_gauge!(
        POOL_AVAILABLE,
        "PostgreSQL connections idle in the pool (sampled at scrape; absent on SQLite)"
    );
    describe_gauge!(
        POOL_WAITING,
        "Requests waiting for a PostgreSQL connection (sampled at scrape; absent on SQLite)"
    );
    describe_gauge!(
        OUTBOX_PENDING,
        "Email and Messenger replies not yet sent, of every account (sampled at scrape)"
    );
}

fn register() -> Handles {
    use metrics::{counter, gauge, histogram};
    Handles {
        sockets_open: SocketKind::ALL.map(|k| gauge!(SOCKETS_OPEN, "kind" => k.label())),
        frames_received: SocketKind::ALL.map(|k| counter!(FRAMES_RECEIVED, "kind" => k.label())),
        frames_sent: SocketKind::ALL.map(|k| counter!(FRAMES_SENT, "kind" => k.label())),
        slow_consumers: SocketKind::ALL.map(|k| counter!(SLOW_CONSUMERS, "kind" => k.label())),
        bus_published: BusBackend::ALL.map(|b| counter!(BUS_PUBLISHED, "backend" => b.label())),
        bus_received: BusBackend::ALL.map(|b| counter!(BUS_RECEIVED, "backend" => b.label())),
        store_seconds: StoreOp::ALL.map(|op| {
            let (backend, op) = op.labels();
            histogram!(STORE_SECONDS, "backend" => backend, "op" => op)
        }),
        routing: RoutingOutcome::ALL.map(|o| counter!(ROUTING, "outcome" => o.label())),
        outbox_pending: gauge!(OUTBOX_PENDING),
    }
}

fn handles() -> Option<&'static Handles> {
    INSTALLED
        .get()
        .and_then(|installed| installed.as_ref().ok())
        .map(|installed| &installed.handles)
}

fn index<T: PartialEq + Copy>(all: &[T], one: T) -> usize {
    all.iter().position(|x| *x == one).unwrap_or(0)
}

/// Counts a socket as open for as long as this lives (a session holds it from `started`).
pub struct OpenSocket(Option<Gauge>);

impl Drop for OpenSocket {
    fn drop(&mut self) {
        if let Some(gauge) = &self.0 {
            gauge.decrement(1.0);
        }
    }
}

pub fn socket_opened(kind: SocketKind) -> OpenSocket {
    let gauge = handles().map(|h| h.sockets_open[index(&SocketKind::ALL, kind)].clone());
    if let Some(gauge) = &gauge {
        gauge.increment(1.0);
    }
    OpenSocket(gauge)
}

pub fn frame_received(kind: SocketKind) {
    if let Some(h) = handles() {
        h.frames_received[index(&SocketKind::ALL, kind)].increment(1);
    }
}

pub fn frame_sent(kind: SocketKind) {
    if let Some(h) = handles() {
        h.frames_sent[index(&SocketKind::ALL, kind)].increment(1);
    }
}

pub fn slow_consumer_closed(kind: SocketKind) {
    if let Some(h) = handles() {
        h.slow_consumers[index(&SocketKind::ALL, kind)].increment(1);
    }
}

pub fn bus_published(backend: BusBackend) {
    if let Some(h) = handles() {
        h.bus_published[index(&BusBackend::ALL, backend)].increment(1);
    }
}

/// `subscriptions`: how many local subscriptions one message was handed to.
pub fn bus_received(backend: BusBackend, subscriptions: usize) {
    if let Some(h) = handles() {
        h.bus_received[index(&BusBackend::ALL, backend)].increment(subscriptions as u64);
    }
}

/// Records the time from now until it is dropped as one `op` of the store.
pub struct StoreTimer {
    op: StoreOp,
    started: Instant,
}

impl Drop for StoreTimer {
    fn drop(&mut self) {
        if let Some(h) = handles() {
            h.store_seconds[index(&StoreOp::ALL, self.op)].record(self.started.elapsed());
        }
    }
}

pub fn store_timer(op: StoreOp) -> StoreTimer {
    StoreTimer {
        op,
        started: Instant::now(),
    }
}

pub fn routed(outcome: RoutingOutcome) {
    if let Some(h) = handles() {
        h.routing[index(&RoutingOutcome::ALL, outcome)].increment(1);
    }
}

/// The scraped node's pool (`None`: no pool, e.g. SQLite) and outbox backlog.
pub fn sample(pool: Option<crate::store::PoolStatus>, outbox_pending: Option<u64>) {
    let Some(h) = handles() else {
        return;
    };
    // Registered on the first sample of a pool, so a node without one shows no pool series.
    if let Some(pool) = pool {
        metrics::gauge!(POOL_SIZE).set(pool.size as f64);
        metrics::gauge!(POOL_AVAILABLE).set(pool.available as f64);
        metrics::gauge!(POOL_WAITING).set(pool.waiting as f64);
    }
    if let Some(pending) = outbox_pending {
        h.outbox_pending.set(pending as f64);
    }
}
