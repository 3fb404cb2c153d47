//! Presence as other agents see it: `online()` and the events on `presence.{account}`, for the
//! memory tracker (one node) and the Redis tracker (a cluster, at `PARLEY_TEST_REDIS_URL`).
//!
//! Redis nodes of this file share one in-process bus, as nodes of a cluster share the Redis bus:
//! whichever node notices a change first publishes it, and every listener hears it. Each test
//! uses its own account, so tests running at once do not see each other's agents.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use parley::bus::{Bus, InProcessBus, Received, Subscription, topics};
use parley::domain::{AccountId, AgentId, AgentStatus, ConversationId};
use parley::presence::{
    AgentPresence, MemoryPresence, Presence, PresenceError, PresenceEvent, RedisPresence,
    RedisPresenceOptions,
};
use uuid::Uuid;

const GRACE: Duration = Duration::from_millis(200);
const SWEEP: Duration = Duration::from_millis(200);
/// Long enough for a publish that should happen to have happened.
const QUIET: Duration = Duration::from_millis(400);

static CLUSTER_BUS: LazyLock<Arc<InProcessBus>> = LazyLock::new(|| Arc::new(InProcessBus::new()));

fn redis_url() -> String {
    std::env::var("PARLEY_TEST_REDIS_URL").expect("PARLEY_TEST_REDIS_URL must name a Redis")
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Memory,
    Redis,
}

/// A tracker of the given kind and the bus its events go out on.
fn tracker(kind: Kind) -> (Arc<dyn Presence>, Arc<InProcessBus>) {
    match kind {
        Kind::Memory => {
            let bus = Arc::new(InProcessBus::new());
            let presence = MemoryPresence::new(bus.clone(), GRACE);
            (Arc::new(presence), bus)
        }
        Kind::Redis => (redis_node(Duration::from_secs(30)), CLUSTER_BUS.clone()),
    }
}

fn redis_node(ttl: Duration) -> Arc<dyn Presence> {
    let options = RedisPresenceOptions {
        ttl,
        grace: GRACE,
        sweep_interval: SWEEP,
    };
    Arc::new(RedisPresence::with_options(&redis_url(), CLUSTER_BUS.clone(), options).unwrap())
}

struct Listener(Subscription);

impl Listener {
    fn new(bus: &InProcessBus, account: AccountId) -> Self {
        Self(bus.subscribe(&topics::presence(account)))
    }

    async fn next_within(&mut self, limit: Duration) -> Option<PresenceEvent> {
        match tokio::time::timeout(limit, self.0.recv()).await {
            Ok(Received::Message(m)) => {
                let raw: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
                assert_eq!(raw["type"], "presence", "{raw}");
                Some(serde_json::from_value(raw).unwrap())
            }
            Ok(other) => panic!("bus: {other:?}"),
            Err(_) => None,
        }
    }

    async fn expect(&mut self, agent: AgentId, status: AgentStatus, online: bool) {
        let event = self.next_within(Duration::from_secs(3)).await;
        let expected = PresenceEvent {
            agent_id: agent,
            status,
            online,
        };
        assert_eq!(event, Some(expected));
    }

    async fn expect_silence(&mut self) {
        let event = self.next_within(QUIET).await;
        assert_eq!(
            event, None,
            "nothing visible changed, nothing should be published"
        );
    }
}

fn shown(agent: AgentId, status: AgentStatus) -> Vec<AgentPresence> {
    vec![AgentPresence {
        agent_id: agent,
        status,
        online: true,
    }]
}

async fn connecting_shows_the_agent_online_once(kind: Kind) {
    let (presence, bus) = tracker(kind);
    let (account, agent) = (AccountId::new(), AgentId::new());
    let mut events = Listener::new(&bus, account);
    assert_eq!(presence.online(account).await.unwrap(), vec![]);

    let first = Uuid::now_v7();
    presence
        .heartbeat(account, agent, first, AgentStatus::Available)
        .await
        .unwrap();
    events.expect(agent, AgentStatus::Available, true).await;
    assert_eq!(
        presence.online(account).await.unwrap(),
        shown(agent, AgentStatus::Available)
    );

    // The periodic heartbeat of the same socket and a second tab change nothing others see.
    presence
        .heartbeat(account, agent, first, AgentStatus::Available)
        .await
        .unwrap();
    presence
        .heartbeat(account, agent, Uuid::now_v7(), AgentStatus::Available)
        .await
        .unwrap();
    events.expect_silence().await;
    assert_eq!(
        presence.online(account).await.unwrap(),
        shown(agent, AgentStatus::Available)
    );
    assert_eq!(presence.online(AccountId::new()).await.unwrap(), vec![]);
}

async fn closing_one_of_two_sockets_keeps_the_agent_online(kind: Kind) {
    let (presence, bus) = tracker(kind);
    let (account, agent) = (AccountId::new(), AgentId::new());
    let mut events = Listener::new(&bus, account);
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    for socket in [a, b] {
        presence
            .heartbeat(account, agent, socket, AgentStatus::Available)
            .await
            .unwrap();
    }
    events.expect(agent, AgentStatus::Available, true).await;

    presence.disconnected(account, agent, a).await.unwrap();
    tokio::time::sleep(GRACE * 2).await;
    events.expect_silence().await;
    assert_eq!(
        presence.online(account).await.unwrap(),
        shown(agent, AgentStatus::Available)
    );
}

async fn closing_the_last_socket_goes_offline_after_the_grace_period(kind: Kind) {
    let (presence, bus) = tracker(kind);
    let (account, agent) = (AccountId::new(), AgentId::new());
    let mut events = Listener::new(&bus, account);
    let socket = Uuid::now_v7();
    presence
        .heartbeat(account, agent, socket, AgentStatus::Away)
        .await
        .unwrap();
    events.expect(agent, AgentStatus::Away, true).await;

    let closed = Instant::now();
    presence.disconnected(account, agent, socket).await.unwrap();
    assert_eq!(
        presence.online(account).await.unwrap(),
        shown(agent, AgentStatus::Away),
        "still online during the grace period"
    );
    events.expect(agent, AgentStatus::Away, false).await;
    let after = closed.elapsed();
    assert!(
        after >= GRACE,
        "offline after {after:?}, before the grace ended"
    );
    assert_eq!(presence.online(account).await.unwrap(), vec![]);
    events.expect_silence().await;

    // A late close of a socket already gone changes nothing.
    presence.disconnected(account, agent, socket).await.unwrap();
    events.expect_silence().await;
}

async fn reconnecting_within_the_grace_period_never_goes_offline(kind: Kind) {
    let (presence, bus) = tracker(kind);
    let (account, agent) = (AccountId::new(), AgentId::new());
    let mut events = Listener::new(&bus, account);
    let before = Uuid::now_v7();
    presence
        .heartbeat(account, agent, before, AgentStatus::Available)
        .await
        .unwrap();
    events.expect(agent, AgentStatus::Available, true).await;

    // A page reload: the socket closes and a new one opens a moment later.
    presence.disconnected(account, agent, before).await.unwrap();
    tokio::time::sleep(GRACE / 4).await;
    presence
        .heartbeat(account, agent, Uuid::now_v7(), AgentStatus::Available)
        .await
        .unwrap();
    tokio::time::sleep(GRACE * 2).await;
    events.expect_silence().await;
    assert_eq!(
        presence.online(account).await.unwrap(),
        shown(agent, AgentStatus::Available)
    );
}

async fn each_close_of_the_last_socket_gets_a_full_grace_period(kind: Kind) {
    let (presence, bus) = tracker(kind);
    let (account, agent) = (AccountId::new(), AgentId::new());
    let mut events = Listener::new(&bus, account);
    let first = Uuid::now_v7();
    presence
        .heartbeat(account, agent, first, AgentStatus::Available)
        .await
        .unwrap();
    events.expect(agent, AgentStatus::Available, true).await;

    // Reloaded, then the reloaded page is closed too: the first grace period must not end it.
    presence.disconnected(account, agent, first).await.unwrap();
    tokio::time::sleep(GRACE / 2).await;
    let second = Uuid::now_v7();
    presence
        .heartbeat(account, agent, second, AgentStatus::Available)
        .await
        .unwrap();
    let closed = Instant::now();
    presence.disconnected(account, agent, second).await.unwrap();
    events.expect(agent, AgentStatus::Available, false).await;
    let after = closed.elapsed();
    assert!(after >= GRACE, "offline {after:?} after the last close");
    events.expect_silence().await;
}

async fn choosing_a_status_is_published_once(kind: Kind) {
    let (presence, bus) = tracker(kind);
    let (account, agent) = (AccountId::new(), AgentId::new());
    let mut events = Listener::new(&bus, account);
    presence
        .heartbeat(account, agent, Uuid::now_v7(), AgentStatus::Available)
        .await
        .unwrap();
    events.expect(agent, AgentStatus::Available, true).await;

    presence
        .set_status(account, agent, AgentStatus::Away)
        .await
        .unwrap();
    events.expect(agent, AgentStatus::Away, true).await;
    assert_eq!(
        presence.online(account).await.unwrap(),
        shown(agent, AgentStatus::Away)
    );
    presence
        .set_status(account, agent, AgentStatus::Away)
        .await
        .unwrap();
    events.expect_silence().await;

    // An agent with no socket stays invisible whatever they choose.
    let offline = AgentId::new();
    presence
        .set_status(account, offline, AgentStatus::Available)
        .await
        .unwrap();
    events.expect_silence().await;
    assert_eq!(
        presence.online(account).await.unwrap(),
        shown(agent, AgentStatus::Away)
    );
}

/// A visitor is online while any of their sockets on the conversation lives; only the first
/// socket coming and the last one going are changes.
async fn a_visitor_is_online_while_any_socket_on_the_conversation_lives(kind: Kind) {
    let (presence, _) = tracker(kind);
    let (conversation, other) = (ConversationId::new(), ConversationId::new());
    let (tab1, tab2) = (Uuid::now_v7(), Uuid::now_v7());
    assert!(!presence.visitor_online(conversation).await.unwrap());
    assert!(
        presence
            .visitor_heartbeat(conversation, tab1)
            .await
            .unwrap(),
        "the first socket brings the visitor online"
    );
    assert!(
        !presence
            .visitor_heartbeat(conversation, tab1)
            .await
            .unwrap(),
        "a heartbeat of a counted socket changes nothing"
    );
    assert!(
        !presence
            .visitor_heartbeat(conversation, tab2)
            .await
            .unwrap(),
        "a second tab changes nothing"
    );
    assert!(presence.visitor_online(conversation).await.unwrap());
    assert!(
        !presence.visitor_online(other).await.unwrap(),
        "per conversation"
    );
    assert!(
        !presence
            .visitor_disconnected(conversation, tab1)
            .await
            .unwrap()
    );
    assert!(presence.visitor_online(conversation).await.unwrap());
    assert!(
        !presence.visitor_disconnected(other, tab2).await.unwrap(),
        "a socket of another conversation is not this one's"
    );
    assert!(
        presence
            .visitor_disconnected(conversation, tab2)
            .await
            .unwrap(),
        "the last socket leaving is the visitor leaving"
    );
    assert!(!presence.visitor_online(conversation).await.unwrap());
    assert!(
        !presence
            .visitor_disconnected(conversation, tab2)
            .await
            .unwrap(),
        "closing twice is one leave"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_nodes_visitor_goes_offline_within_the_ttl_and_counts_again_on_return() {
    let crashing = redis_node(Duration::from_secs(1));
    let other = redis_node(Duration::from_secs(30));
    let conversation = ConversationId::new();
    assert!(
        crashing
            .visitor_heartbeat(conversation, Uuid::now_v7())
            .await
            .unwrap()
    );
    assert!(other.visitor_online(conversation).await.unwrap());
    drop(crashing); // no disconnect, no more heartbeats
    let deadline = Instant::now() + Duration::from_secs(3);
    while other.visitor_online(conversation).await.unwrap() {
        assert!(Instant::now() < deadline, "still online after the TTL");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        other
            .visitor_heartbeat(conversation, Uuid::now_v7())
            .await
            .unwrap(),
        "after the expiry, a new socket is the visitor coming back"
    );
}

macro_rules! on_both_trackers {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Kind::Memory).await }
            )*
        }
        mod redis {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Kind::Redis).await }
            )*
        }
    };
}

on_both_trackers!(
    connecting_shows_the_agent_online_once,
    closing_one_of_two_sockets_keeps_the_agent_online,
    closing_the_last_socket_goes_offline_after_the_grace_period,
    reconnecting_within_the_grace_period_never_goes_offline,
    each_close_of_the_last_socket_gets_a_full_grace_period,
    choosing_a_status_is_published_once,
    a_visitor_is_online_while_any_socket_on_the_conversation_lives,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_redis_nodes_see_the_same_agents() {
    let (a, b) = (
        redis_node(Duration::from_secs(30)),
        redis_node(Duration::from_secs(30)),
    );
    let (account, agent) = (AccountId::new(), AgentId::new());
    let mut events = Listener::new(&CLUSTER_BUS, account);
    let socket = Uuid::now_v7();
    a.heartbeat(account, agent, socket, AgentStatus::Available)
        .await
        .unwrap();
    events.expect(agent, AgentStatus::Available, true).await;
    assert_eq!(
        b.online(account).await.unwrap(),
        shown(agent, AgentStatus::Available)
    );

    b.set_status(account, agent, AgentStatus::Away)
        .await
        .unwrap();
    events.expect(agent, AgentStatus::Away, true).await;
    assert_eq!(
        a.online(account).await.unwrap(),
        shown(agent, AgentStatus::Away)
    );

    // Both nodes sweep; the agent leaving is still announced once.
    a.disconnected(account, agent, socket).await.unwrap();
    events.expect(agent, AgentStatus::Away, false).await;
    events.expect_silence().await;
    assert_eq!(a.online(account).await.unwrap(), vec![]);
    assert_eq!(b.online(account).await.unwrap(), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_of_a_crashed_node_go_offline_within_the_ttl_on_the_others() {
    let ttl = Duration::from_secs(1);
    let crashing = redis_node(ttl);
    let survivor = redis_node(Duration::from_secs(30));
    let (account, agent) = (AccountId::new(), AgentId::new());
    let mut events = Listener::new(&CLUSTER_BUS, account);
    crashing
        .heartbeat(account, agent, Uuid::now_v7(), AgentStatus::Available)
        .await
        .unwrap();
    events.expect(agent, AgentStatus::Available, true).await;
    let last_heartbeat = Instant::now();

    // The node dies: no disconnect, no more heartbeats, no sweep of its own.
    drop(crashing);
    assert_eq!(
        survivor.online(account).await.unwrap(),
        shown(agent, AgentStatus::Available),
        "online until the TTL runs out"
    );
    events.expect(agent, AgentStatus::Available, false).await;
    let after = last_heartbeat.elapsed();
    assert!(
        after >= ttl / 2,
        "offline after {after:?}, long before the TTL"
    );
    assert!(after <= ttl + SWEEP * 3, "offline only after {after:?}");
    assert_eq!(survivor.online(account).await.unwrap(), vec![]);
    events.expect_silence().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_is_reported_as_unavailable() {
    // Nothing listens on port 1; the node still starts and answers with an error.
    let bus = Arc::new(InProcessBus::new());
    let presence = RedisPresence::new("redis://127.0.0.1:1/", bus, Duration::from_secs(30))
        .expect("a node starts while Redis is down");
    let result = tokio::time::timeout(Duration::from_secs(3), presence.online(AccountId::new()))
        .await
        .expect("fails fast rather than stalling the caller");
    assert!(
        matches!(result, Err(PresenceError::Unavailable(_))),
        "{result:?}"
    );
}

/// A Redis of this test's own on a free port, stopped when dropped.
struct OwnRedis(std::process::Child);

impl OwnRedis {
    fn start(port: u16) -> Self {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        Self(child)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_works_again_once_redis_is_back() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bus = Arc::new(InProcessBus::new());
    let url = format!("redis://127.0.0.1:{port}/");
    let presence = RedisPresence::new(&url, bus.clone(), Duration::from_secs(30)).unwrap();
    let (account, agent) = (AccountId::new(), AgentId::new());
    let mut events = Listener::new(&bus, account);
    let socket = Uuid::now_v7();
    let down = presence
        .heartbeat(account, agent, socket, AgentStatus::Available)
        .await;
    assert!(
        matches!(down, Err(PresenceError::Unavailable(_))),
        "{down:?}"
    );

    let _redis = OwnRedis::start(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let result = presence
            .heartbeat(account, agent, socket, AgentStatus::Available)
            .await;
        if result.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "still failing: {result:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    events.expect(agent, AgentStatus::Available, true).await;
    assert_eq!(
        presence.online(account).await.unwrap(),
        shown(agent, AgentStatus::Available)
    );
}
