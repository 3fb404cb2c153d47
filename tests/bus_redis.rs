//! The Redis bus against real Redis servers: fan-out between two nodes, subscribing in Redis only
//! while a node has local listeners, and riding out a Redis that stops and comes back.
//!
//! The shared Redis is named by `PARLEY_TEST_REDIS_URL`; tests that stop Redis start their own
//! `redis-server` on a free port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Backend, send, spawn_app_with};
use parley::bus::{Bus, BusError, Received, RedisBus, Subscription};

fn shared_redis_url() -> String {
    std::env::var("PARLEY_TEST_REDIS_URL").expect(
        "PARLEY_TEST_REDIS_URL is not set: point it at a Redis server (redis://127.0.0.1:6379/)",
    )
}

/// A topic no other test (or test run) uses.
fn fresh_topic(prefix: &str) -> String {
    format!("{prefix}.{}", uuid::Uuid::new_v4().simple())
}

/// A `redis-server` of this test's own, so it can be stopped and started again on one port.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl OwnRedis {
    async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self {
            port,
            child: None,
            dir: tempfile::tempdir().unwrap(),
        };
        redis.restart().await;
        redis
    }

    /// A port nobody listens on yet; `restart` starts Redis there.
    fn not_started() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self {
            port,
            child: None,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(client) = redis::Client::open(self.url())
                && let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends `signal` (`STOP`, `CONT`) to the server: a stopped Redis keeps its sockets open
    /// but never answers, like a peer behind a network partition.
    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until `check` holds, failing with `what` after `within`.
async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many connections Redis has subscribed to `channel` (across all nodes).
async fn subscribers_in_redis(url: &str, channel: &str) -> i64 {
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let (_, count): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(&mut conn)
        .await
        .unwrap();
    count
}

/// Whether `channel` is among Redis's active channels.
async fn channel_active(url: &str, channel: &str) -> bool {
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let channels: Vec<String> = redis::cmd("PUBSUB")
        .arg("CHANNELS")
        .arg(channel)
        .query_async(&mut conn)
        .await
        .unwrap();
    channels.iter().any(|c| c == channel)
}

async fn wait_ready(bus: &RedisBus) {
    eventually(Duration::from_secs(10), "bus ready", || async {
        bus.health().ready
    })
    .await;
}

/// The next message of `sub`, as (topic, payload).
async fn next(sub: &mut Subscription) -> (String, String) {
    match tokio::time::timeout(Duration::from_secs(5), sub.recv()).await {
        Ok(Received::Message(m)) => (m.topic, String::from_utf8(m.payload.to_vec()).unwrap()),
        Ok(other) => panic!("expected a message, got {other:?}"),
        Err(_) => panic!("no message within 5 s"),
    }
}

fn text(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

#[tokio::test]
async fn a_publish_on_one_node_reaches_the_topic_subscribers_of_both_nodes_only() {
    let url = shared_redis_url();
    let (a, b) = (
        RedisBus::connect(&url).unwrap(),
        RedisBus::connect(&url).unwrap(),
    );
    wait_ready(&a).await;
    wait_ready(&b).await;
    assert_eq!(a.health().kind, "redis");
    let (topic, other) = (fresh_topic("conv"), fresh_topic("conv"));
    let mut on_a = a.subscribe(&topic);
    let mut on_b = b.subscribe(&topic);
    let mut other_on_a = a.subscribe(&other);
    let mut other_on_b = b.subscribe(&other);
    for (node, topic) in [(&a, &topic), (&b, &topic), (&a, &other), (&b, &other)] {
        node.subscribed(topic).await.unwrap();
    }
    // Once `subscribed` returns, Redis has the subscription: no waiting needed.
    assert_eq!(subscribers_in_redis(&url, &topic).await, 2);
    assert_eq!(subscribers_in_redis(&url, &other).await, 2);

    a.publish(&topic, text("hello")).await.unwrap();
    a.publish(&other, text("marker")).await.unwrap();

    assert_eq!(next(&mut on_a).await, (topic.clone(), "hello".into()));
    assert_eq!(next(&mut on_b).await, (topic.clone(), "hello".into()));
    // Redis keeps one connection's messages in order, so had "hello" leaked onto the other
    // topic it would arrive before the marker.
    assert_eq!(
        next(&mut other_on_a).await,
        (other.clone(), "marker".into())
    );
    assert_eq!(
        next(&mut other_on_b).await,
        (other.clone(), "marker".into())
    );
}

#[tokio::test]
async fn a_node_is_subscribed_in_redis_only_while_it_has_local_listeners() {
    let url = shared_redis_url();
    let node = RedisBus::connect(&url).unwrap();
    wait_ready(&node).await;
    let topic = fresh_topic("conv");
    assert!(!channel_active(&url, &topic).await);

    assert!(
        node.subscribed(&topic).await.is_err(),
        "no local subscription yet"
    );
    let first = node.subscribe(&topic);
    let second = node.subscribe(&topic);
    eventually(Duration::from_secs(5), "subscribed", || async {
        channel_active(&url, &topic).await
    })
    .await;
    // One Redis subscription per node, however many local listeners.
    assert_eq!(subscribers_in_redis(&url, &topic).await, 1);

    drop(first);
    // Give an (unwanted) UNSUBSCRIBE time to land before checking it did not happen.
    let probe = fresh_topic("probe");
    let _probe = node.subscribe(&probe);
    eventually(Duration::from_secs(5), "probe subscribed", || async {
        channel_active(&url, &probe).await
    })
    .await;
    assert!(
        channel_active(&url, &topic).await,
        "a listener remains on this node"
    );

    drop(second);
    eventually(Duration::from_secs(5), "unsubscribed", || async {
        !channel_active(&url, &topic).await
    })
    .await;
    assert_eq!(node.topic_count(), 1, "only the probe is left");
}

#[tokio::test]
async fn when_redis_stops_publishing_fails_fast_and_after_restart_old_subscriptions_flow_again() {
    let mut redis = OwnRedis::start().await;
    let url = redis.url();
    let (a, b) = (
        RedisBus::connect(&url).unwrap(),
        RedisBus::connect(&url).unwrap(),
    );
    wait_ready(&a).await;
    wait_ready(&b).await;
    let topic = fresh_topic("conv");
    let mut on_a = a.subscribe(&topic);
    let mut on_b = b.subscribe(&topic);
    eventually(Duration::from_secs(5), "both subscribed", || async {
        subscribers_in_redis(&url, &topic).await == 2
    })
    .await;
    a.publish(&topic, text("before")).await.unwrap();
    assert_eq!(next(&mut on_a).await.1, "before");
    assert_eq!(next(&mut on_b).await.1, "before");

    redis.stop();
    eventually(Duration::from_secs(5), "both report not ready", || async {
        !a.health().ready && !b.health().ready
    })
    .await;
    let health = a.health();
    assert!(health.detail.contains("redis"), "{health:?}");
    assert!(matches!(
        a.subscribed(&topic).await,
        Err(BusError::Unavailable(_))
    ));
    let started = Instant::now();
    let published = a.publish(&topic, text("during")).await;
    assert!(
        matches!(published, Err(BusError::Unavailable(_))),
        "{published:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "publish took {:?}",
        started.elapsed()
    );
    // Listeners on the publishing node still hear it; the other node's will resume from the
    // store.
    assert_eq!(next(&mut on_a).await.1, "during");

    redis.restart().await;
    let restarted = Instant::now();
    wait_ready(&a).await;
    wait_ready(&b).await;
    assert!(
        restarted.elapsed() < Duration::from_secs(8),
        "ready again after {:?}",
        restarted.elapsed()
    );
    a.subscribed(&topic).await.unwrap();
    b.subscribed(&topic).await.unwrap();
    assert_eq!(subscribers_in_redis(&url, &topic).await, 2, "re-subscribed");
    b.publish(&topic, text("after")).await.unwrap();
    assert_eq!(next(&mut on_a).await.1, "after");
    // Not told about "during": it never reached Redis.
    assert_eq!(next(&mut on_b).await.1, "after");
    assert_eq!(a.health().detail, "ok");
}

#[tokio::test]
async fn a_redis_that_stops_answering_is_noticed_and_publish_does_not_hang() {
    let redis = OwnRedis::start().await;
    let url = redis.url();
    let node = RedisBus::connect(&url).unwrap();
    wait_ready(&node).await;
    let topic = fresh_topic("conv");
    let mut sub = node.subscribe(&topic);
    eventually(Duration::from_secs(5), "subscribed", || async {
        subscribers_in_redis(&url, &topic).await == 1
    })
    .await;

    redis.signal("STOP");
    let started = Instant::now();
    let published = node.publish(&topic, text("into the void")).await;
    assert!(
        matches!(published, Err(BusError::Unavailable(_))),
        "{published:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "publish took {:?}",
        started.elapsed()
    );
    assert_eq!(next(&mut sub).await.1, "into the void");
    eventually(Duration::from_secs(15), "silence noticed", || async {
        !node.health().ready
    })
    .await;

    redis.signal("CONT");
    wait_ready(&node).await;
    eventually(Duration::from_secs(5), "re-subscribed", || async {
        subscribers_in_redis(&url, &topic).await >= 1
    })
    .await;
    eventually(Duration::from_secs(5), "publish works again", || async {
        node.publish(&topic, text("back")).await.is_ok()
    })
    .await;
    // Failed attempts were handed to local listeners; this one can only come through Redis.
    node.publish(&topic, text("through redis")).await.unwrap();
    loop {
        if next(&mut sub).await.1 == "through redis" {
            break;
        }
    }
}

#[tokio::test]
async fn subscribed_waits_until_redis_has_the_subscription() {
    let redis = OwnRedis::start().await;
    let url = redis.url();
    let node = RedisBus::connect(&url).unwrap();
    wait_ready(&node).await;
    let mut admin = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // Redis holds every client's commands (the SUBSCRIBE too) for 600 ms.
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(600)
        .arg("ALL")
        .query_async(&mut admin)
        .await
        .unwrap();
    let paused = Instant::now();
    let topic = fresh_topic("conv");
    let _sub = node.subscribe(&topic);
    node.subscribed(&topic).await.unwrap();
    assert!(
        paused.elapsed() >= Duration::from_millis(500),
        "returned after {:?}, before Redis could have confirmed",
        paused.elapsed()
    );
    assert_eq!(subscribers_in_redis(&url, &topic).await, 1);
}

#[tokio::test]
async fn dropping_the_bus_closes_its_subscriptions_and_its_redis_connection() {
    let url = shared_redis_url();
    let node = RedisBus::connect(&url).unwrap();
    let topic = fresh_topic("conv");
    let mut sub = node.subscribe(&topic);
    node.subscribed(&topic).await.unwrap();
    assert_eq!(subscribers_in_redis(&url, &topic).await, 1);

    drop(node);
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(5), sub.recv()).await,
        Ok(Received::Closed)
    ));
    eventually(
        Duration::from_secs(5),
        "pub/sub connection closed",
        || async { subscribers_in_redis(&url, &topic).await == 0 },
    )
    .await;
}

#[tokio::test]
async fn a_malformed_url_is_refused_without_echoing_its_password() {
    for url in [
        "http://127.0.0.1:6379/",
        "redis://:hunter2@127.0.0.1:notaport/",
    ] {
        let error = RedisBus::connect(url).err().expect(url).to_string();
        assert!(error.contains("bus.redis_url"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
}

#[tokio::test]
async fn a_node_with_a_malformed_redis_url_does_not_start() {
    let db = common::TestDb::new(Backend::Sqlite).await;
    let settings = common::test_settings(&db.url, &[("PARLEY__BUS__REDIS_URL", "http://x/")]);
    let error = parley::startup::Application::build(settings)
        .await
        .err()
        .expect("must not start");
    assert!(error.to_string().contains("bus.redis_url"), "{error}");
}

/// A node starts with Redis down (not ready), becomes ready once Redis is up, and reports it
/// again when Redis goes away, while still answering.
async fn readyz_follows_redis(backend: Backend) {
    let mut redis = OwnRedis::not_started();
    let url = redis.url();
    let app = spawn_app_with(backend, &[("PARLEY__BUS__REDIS_URL", &url)]).await;
    let readyz = || send(&app.address, "GET", "/readyz", None, None);

    let down = readyz().await;
    assert_eq!(down.status, 503, "{:?}", down.body);
    assert_eq!(down.body["bus"]["kind"], "redis");
    assert_eq!(down.body["bus"]["ready"], false);
    assert_eq!(down.body["store"], "ok");

    redis.restart().await;
    eventually(Duration::from_secs(10), "readyz 200", || async {
        readyz().await.status == 200
    })
    .await;
    let up = readyz().await;
    assert_eq!(
        (&up.body["bus"]["kind"], &up.body["bus"]["detail"]),
        (&"redis".into(), &"ok".into())
    );

    redis.stop();
    eventually(Duration::from_secs(5), "readyz 503", || async {
        readyz().await.status == 503
    })
    .await;
    let down = readyz().await;
    assert_eq!(down.body["bus"]["ready"], false);
    assert!(
        down.body["bus"]["detail"]
            .as_str()
            .unwrap()
            .contains("redis"),
        "{:?}",
        down.body
    );
    // Still serving: the API answers while the bus is down.
    let me = app.get("/api/v1/auth/me", &app.admin_token).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
}

on_both_backends!(readyz_follows_redis);
