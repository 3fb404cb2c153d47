//! Several `parley` processes sharing one PostgreSQL database and one Redis: items written on one
//! node reach sockets on the others live, once and in order; a node killed in the middle of a
//! conversation costs nothing once its clients resume elsewhere; a Redis outage leaves local
//! traffic flowing, shows in `/readyz`, and is recovered by resuming. A website visitor, their
//! agent and a supervisor on three nodes share one conversation, and the visitor survives their
//! node's death; hundreds of visitors at once never push an agent past capacity.
//!
//! Needs `PARLEY_TEST_POSTGRES_URL` and `PARLEY_TEST_REDIS_URL`; a missing variable fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a socket waits for a frame it expects.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long a socket listens to prove that nothing more arrives.
const QUIET: Duration = Duration::from_millis(700);
/// Messages agent A sends in each case.
const MESSAGES: usize = 30;

fn redis_url() -> String {
    std::env::var("PARLEY_TEST_REDIS_URL").expect(
        "PARLEY_TEST_REDIS_URL is not set: run the suite with scripts/test.sh, or point it at a Redis server",
    )
}

/// One `parley` process, killed (SIGKILL) on drop.
struct Node {
    child: Child,
    address: String,
    port: u16,
    /// What it wrote to stderr, shown when a test fails.
    log: Arc<Mutex<Vec<String>>>,
}

impl Node {
    fn start(db_url: &str, redis_url: &str) -> Self {
        // This test's own HTTP clients need the TLS provider the server installs for itself.
        parley::startup::install_crypto_provider();
        let mut child = Command::new(env!("CARGO_BIN_EXE_parley"))
            .env(
                "PARLEY_CONFIG_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
            )
            .env("PARLEY_ENV", "test")
            .env("PARLEY__STORE__URL", db_url)
            .env("PARLEY__BUS__REDIS_URL", redis_url)
            .env("PARLEY__ADMIN__EMAIL", ADMIN_EMAIL)
            .env("PARLEY__ADMIN__PASSWORD", ADMIN_PASSWORD)
            // Every test visitor comes from 127.0.0.1; hundreds of them start within seconds.
            .env("PARLEY__AUTH__VISITORS_PER_IP_PER_MINUTE", "100000")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let err = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port: u16 = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("parley exited before listening: {:?}", log.lock().unwrap());
            };
            if let Some(rest) = line.strip_prefix("Parley: listening on http://localhost:") {
                break rest.trim().parse().unwrap();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            port,
            log,
        }
    }

    /// SIGKILL: no draining, no goodbye to its sockets or to Redis.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn readyz(&self) -> Answer {
        send(&self.address, "GET", "/readyz", None, None).await
    }

    /// Waits until `/readyz` answers `status`.
    async fn wait_ready_status(&self, status: u16, within: Duration) {
        let start = Instant::now();
        loop {
            let answer = self.readyz().await;
            if answer.status == status {
                return;
            }
            assert!(
                start.elapsed() < within,
                "/readyz on port {} still {} after {within:?}: {}",
                self.port,
                answer.status,
                answer.body
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
            let tail = &log[log.len().saturating_sub(40)..];
            eprintln!("--- node on port {} (last stderr lines):", self.port);
            for line in tail {
                eprintln!("{line}");
            }
        }
    }
}

/// N nodes over one fresh PostgreSQL database and one Redis. Nodes are dropped (killed) before
/// the database.
struct Cluster {
    nodes: Vec<Node>,
    _db: TestDb,
}

impl Cluster {
    async fn start(n: usize, redis_url: &str) -> Self {
        let db = TestDb::new(Backend::Postgres).await;
        // One after the other: the first start migrates the database and creates the admin.
        let nodes = (0..n).map(|_| Node::start(&db.url, redis_url)).collect();
        Self { nodes, _db: db }
    }
}

/// A conversation set up over REST: agents A and B (members of its inbox) and an admin
/// "supervisor" (no member), each with a session token.
struct Scene {
    conversation: String,
    channel: String,
    contact: String,
    a: String,
    b: String,
    supervisor: String,
}

impl Scene {
    async fn set_up(node: &Node) -> Self {
        let address = &node.address;
        let (admin, _) = login_at(address, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let post = |path: &'static str, body: Value| {
            let admin = admin.clone();
            async move {
                let answer = send(address, "POST", path, Some(&admin), Some(body)).await;
                assert_eq!(answer.status, 201, "POST {path}: {}", answer.body);
                answer.body["id"].as_str().unwrap().to_owned()
            }
        };
        let password = "cluster-password-1";
        let mut ids = HashMap::new();
        for (who, role) in [("a", "agent"), ("b", "agent"), ("supervisor", "admin")] {
            let id = post(
                "/api/v1/agents",
                json!({"email": format!("{who}@cluster.test"), "password": password,
                       "role": role, "display_name": who}),
            )
            .await;
            ids.insert(who, id);
        }
        let inbox = post(
            "/api/v1/inboxes",
            json!({"name": "Support", "member_ids": [ids["a"], ids["b"]]}),
        )
        .await;
        let channel = post(
            "/api/v1/channels",
            json!({"inbox_id": inbox, "kind": "chat", "name": "Site",
                   "settings": {"allowed_origins": ["https://cluster.test"]}}),
        )
        .await;
        let contact = post(
            "/api/v1/contacts",
            json!({"email": "visitor@customer.test"}),
        )
        .await;
        let conversation = post(
            "/api/v1/conversations",
            json!({"channel_id": channel, "contact_id": contact, "subject": "Help"}),
        )
        .await;
        let token = |who: &'static str| async move {
            login_at(address, &format!("{who}@cluster.test"), password)
                .await
                .0
        };
        Self {
            conversation,
            channel,
            contact,
            a: token("a").await,
            b: token("b").await,
            supervisor: token("supervisor").await,
        }
    }

    /// Another conversation with the same contact on the same channel; returns its id.
    async fn new_conversation(&self, node: &Node) -> String {
        let answer = send(
            &node.address,
            "POST",
            "/api/v1/conversations",
            Some(&self.supervisor),
            Some(json!({"channel_id": self.channel, "contact_id": self.contact})),
        )
        .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        answer.body["id"].as_str().unwrap().to_owned()
    }

    /// Every stored item of the conversation, as `(seq, body)`.
    async fn timeline(&self, node: &Node) -> Vec<(i64, String)> {
        let answer = send(
            &node.address,
            "GET",
            &format!(
                "/api/v1/conversations/{}/timeline?limit=200",
                self.conversation
            ),
            Some(&self.supervisor),
            None,
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                (
                    item["seq"].as_i64().unwrap(),
                    item["body"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }
}

struct Socket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Every item received, across re-subscriptions, as `(seq, body)`.
    seen: Vec<(i64, String)>,
    /// Every ack received, as client id → seq.
    acks: HashMap<String, i64>,
    /// `presence` frames, set aside: teammates' presence changes arrive on every agent socket.
    presence: Vec<Value>,
    /// `notification` and `visitor` frames, set aside likewise.
    notices: Vec<Value>,
}

impl Socket {
    /// A socket on `node` authenticated with an `auth` frame.
    async fn agent(node: &Node, token: &str) -> Self {
        let url = format!("ws://127.0.0.1:{}/ws/agent", node.port);
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut socket = Self::over(ws);
        socket.send(json!({"type": "auth", "token": token})).await;
        let hello = socket.next().await;
        assert_eq!(hello["type"], "hello", "{hello}");
        socket
    }

    async fn send(&mut self, frame: Value) {
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .unwrap();
    }

    fn over(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        Self {
            ws,
            seen: Vec::new(),
            acks: HashMap::new(),
            presence: Vec::new(),
            notices: Vec::new(),
        }
    }

    /// The next text frame of any type (items, acks and presence recorded), or `None` once the
    /// socket is gone (its node died).
    async fn frame(&mut self) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a frame, or the end of the socket, in time");
            match message {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(&text).unwrap();
                    match frame["type"].as_str() {
                        Some("item") => self.seen.push(item_of(&frame)),
                        Some("ack") => {
                            self.acks.insert(
                                frame["client_id"].as_str().unwrap().to_owned(),
                                frame["seq"].as_i64().unwrap(),
                            );
                        }
                        Some("presence") => self.presence.push(frame.clone()),
                        Some("notification" | "visitor" | "conversation") => {
                            self.notices.push(frame.clone());
                        }
                        _ => {}
                    }
                    return Some(frame);
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next frame other than presence, notices and announcements, or `None` once the
    /// socket is gone.
    async fn try_next(&mut self) -> Option<Value> {
        loop {
            let frame = self.frame().await?;
            if !matches!(
                frame["type"].as_str(),
                Some("presence" | "notification" | "visitor" | "conversation")
            ) {
                return Some(frame);
            }
        }
    }

    async fn next(&mut self) -> Value {
        self.try_next().await.expect("the socket is open")
    }

    /// Asserts that no text frame arrives for a while.
    async fn quiet(&mut self) {
        let deadline = tokio::time::Instant::now() + QUIET;
        while let Ok(message) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            match message {
                Some(Ok(Message::Text(text)))
                    if ["presence", "notification", "visitor", "conversation"]
                        .iter()
                        .any(|t| text.contains(&format!(r#""type":"{t}""#))) => {}
                Some(Ok(Message::Text(text))) => panic!("expected nothing, got {text}"),
                Some(Ok(_)) => {}
                other => panic!("socket ended: {other:?}"),
            }
        }
    }

    /// Subscribes and waits for `subscribed`; returns its `last_seq`.
    async fn subscribe(&mut self, conversation: &str, after_seq: i64) -> i64 {
        self.send(json!({"type": "subscribe", "conversation_id": conversation,
                         "after_seq": after_seq}))
            .await;
        let frame = self.next().await;
        assert_eq!(frame["type"], "subscribed", "{frame}");
        frame["last_seq"].as_i64().unwrap()
    }

    /// Subscribes from the start and reads the items already there; returns the last seq.
    async fn join(&mut self, conversation: &str) -> i64 {
        let last = self.subscribe(conversation, 0).await;
        self.items(usize::try_from(last).unwrap()).await;
        last
    }

    /// Reads `n` item frames; returns them as `(seq, body)` in arrival order.
    async fn items(&mut self, n: usize) -> Vec<(i64, String)> {
        let mut items = Vec::with_capacity(n);
        while items.len() < n {
            let frame = self.next().await;
            assert_eq!(frame["type"], "item", "{frame}");
            items.push(item_of(&frame));
        }
        items
    }

    /// Reads until the item `seq` (or a later one) has arrived. Items, acks and assignment
    /// notices may come meanwhile; anything else (an error) fails.
    async fn read_up_to(&mut self, seq: i64) {
        while self.seen.last().is_none_or(|(last, _)| *last < seq) {
            let frame = self.next().await;
            assert!(
                matches!(frame["type"].as_str(), Some("item" | "ack" | "assigned")),
                "unexpected {frame}"
            );
        }
    }

    /// Reads until every client id in `wanted` is acked.
    async fn wait_acks<'a>(&mut self, wanted: impl IntoIterator<Item = &'a String> + Clone) {
        while wanted
            .clone()
            .into_iter()
            .any(|c| !self.acks.contains_key(c))
        {
            let frame = self.next().await;
            assert!(
                matches!(frame["type"].as_str(), Some("item" | "ack" | "assigned")),
                "unexpected {frame}"
            );
        }
    }

    /// Reads presence frames until each of `agents` has been seen online and available.
    async fn wait_online(&mut self, agents: &[String]) {
        let online = |presence: &[Value], agent: &String| {
            presence.iter().any(|p| {
                p["agent_id"] == json!(agent) && p["online"] == true && p["status"] == "available"
            })
        };
        while !agents.iter().all(|agent| online(&self.presence, agent)) {
            let frame = self.frame().await.expect("the socket is open");
            assert_eq!(frame["type"], "presence", "{frame}");
        }
    }

    /// The items seen after `base`.
    fn seen_after(&self, base: i64) -> Vec<(i64, String)> {
        self.seen
            .iter()
            .filter(|(seq, _)| *seq > base)
            .cloned()
            .collect()
    }
}

fn item_of(frame: &Value) -> (i64, String) {
    let item = &frame["item"];
    (
        item["seq"].as_i64().unwrap(),
        item["body"].as_str().unwrap_or("").to_owned(),
    )
}

fn send_frame(conversation: &str, client_id: &str, body: &str) -> Value {
    json!({"type": "send", "conversation_id": conversation, "client_id": client_id,
           "body": body})
}

/// Messages `m1..=mN` stored right after `base`.
fn expected(base: i64, from: usize, to: usize) -> Vec<(i64, String)> {
    (from..=to)
        .map(|i| (base + i64::try_from(i).unwrap(), format!("m{i}")))
        .collect()
}

/// Reads frames on the sender until every client id in `wanted` is acked and the item `up_to`
/// has arrived; returns the acks as client id → seq.
async fn acks_and_items(
    socket: &mut Socket,
    wanted: &[String],
    up_to: i64,
) -> HashMap<String, i64> {
    let mut acks = HashMap::new();
    while wanted.iter().any(|c| !acks.contains_key(c))
        || socket.seen.last().is_none_or(|(seq, _)| *seq < up_to)
    {
        let frame = socket.next().await;
        match frame["type"].as_str() {
            Some("ack") => {
                acks.insert(
                    frame["client_id"].as_str().unwrap().to_owned(),
                    frame["seq"].as_i64().unwrap(),
                );
            }
            Some("item") => {}
            _ => panic!("unexpected {frame}"),
        }
    }
    acks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_deliver_every_item_live_once_and_in_order() {
    let cluster = Cluster::start(3, &redis_url()).await;
    let [n1, n2, n3] = &cluster.nodes[..] else {
        unreachable!()
    };
    let scene = Scene::set_up(n2).await;
    let conversation = scene.conversation.as_str();
    let mut a = Socket::agent(n1, &scene.a).await;
    let mut b = Socket::agent(n2, &scene.b).await;
    let mut supervisor = Socket::agent(n3, &scene.supervisor).await;
    let base = a.join(conversation).await;
    assert_eq!(b.join(conversation).await, base);
    assert_eq!(supervisor.join(conversation).await, base);

    let client_ids: Vec<String> = (0..MESSAGES)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    for (i, client_id) in client_ids.iter().enumerate() {
        a.send(send_frame(conversation, client_id, &format!("m{}", i + 1)))
            .await;
    }
    let upto = base + i64::try_from(MESSAGES).unwrap();
    let acks = acks_and_items(&mut a, &client_ids, upto).await;
    for (i, client_id) in client_ids.iter().enumerate() {
        assert_eq!(acks[client_id], base + 1 + i64::try_from(i).unwrap());
    }
    let want = expected(base, 1, MESSAGES);
    assert_eq!(a.seen_after(base), want, "the sender sees its own items");
    assert_eq!(b.items(MESSAGES).await, want, "agent B on another node");
    assert_eq!(
        supervisor.items(MESSAGES).await,
        want,
        "the supervisor on a third node"
    );
    b.quiet().await;
    supervisor.quiet().await;
    a.quiet().await;
    assert_eq!(
        scene
            .timeline(n3)
            .await
            .split_off(usize::try_from(base).unwrap()),
        want
    );
}

/// `subscribed` means live: an item written on another node right after it arrives, even when
/// this subscription is the one that made the node listen to the conversation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_written_right_after_subscribed_reaches_another_node() {
    let cluster = Cluster::start(2, &redis_url()).await;
    let [n1, n2] = &cluster.nodes[..] else {
        unreachable!()
    };
    let scene = Scene::set_up(n1).await;
    let mut a = Socket::agent(n1, &scene.a).await;
    let mut b = Socket::agent(n2, &scene.b).await;
    for round in 0..20 {
        let conversation = scene.new_conversation(n1).await;
        let base = b.join(&conversation).await;
        let client_id = uuid::Uuid::new_v4().to_string();
        a.send(send_frame(&conversation, &client_id, "m1")).await;
        let ack = a.next().await;
        assert_eq!(ack["type"], "ack", "{ack}");
        assert_eq!(b.items(1).await, expected(base, 1, 1), "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_conversation_loses_and_doubles_nothing() {
    let mut cluster = Cluster::start(3, &redis_url()).await;
    let scene = Scene::set_up(&cluster.nodes[1]).await;
    let conversation = scene.conversation.as_str();
    let mut a = Socket::agent(&cluster.nodes[0], &scene.a).await;
    let mut b = Socket::agent(&cluster.nodes[1], &scene.b).await;
    let mut supervisor = Socket::agent(&cluster.nodes[2], &scene.supervisor).await;
    let base = a.join(conversation).await;
    assert_eq!(b.join(conversation).await, base);
    assert_eq!(supervisor.join(conversation).await, base);

    let client_ids: Vec<String> = (0..MESSAGES)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let body = |i: usize| format!("m{}", i + 1);
    // Every message goes out in one burst; node 1 dies once a few are acked, with the rest in
    // flight (received, stored, published or not: any of these) or never read.
    for (i, client_id) in client_ids.iter().enumerate() {
        a.send(send_frame(conversation, client_id, &body(i))).await;
    }
    let mut acked: HashMap<String, i64> = HashMap::new();
    while acked.len() < 3 {
        let frame = a.next().await;
        if frame["type"] == "ack" {
            acked.insert(
                frame["client_id"].as_str().unwrap().to_owned(),
                frame["seq"].as_i64().unwrap(),
            );
        }
    }
    cluster.nodes[0].kill();
    while let Some(frame) = a.try_next().await {
        if frame["type"] == "ack" {
            acked.insert(
                frame["client_id"].as_str().unwrap().to_owned(),
                frame["seq"].as_i64().unwrap(),
            );
        }
    }
    assert!(
        acked.len() < MESSAGES,
        "node 1 was killed after every message was acked: the test proves nothing"
    );

    // A resumes on node 2 after the last item it saw, and resends what was not acked.
    let last_seen = a.seen.last().map_or(base, |(seq, _)| *seq);
    let before = a.seen.clone();
    let mut a = Socket {
        seen: before,
        ..Socket::agent(&cluster.nodes[1], &scene.a).await
    };
    a.subscribe(conversation, last_seen).await;
    for (i, client_id) in client_ids.iter().enumerate() {
        if acked.contains_key(client_id) {
            continue;
        }
        a.send(send_frame(conversation, client_id, &body(i))).await;
    }
    let upto = base + i64::try_from(MESSAGES).unwrap();
    let unacked: Vec<String> = client_ids
        .iter()
        .filter(|c| !acked.contains_key(*c))
        .cloned()
        .collect();
    acked.extend(acks_and_items(&mut a, &unacked, upto).await);
    for (i, client_id) in client_ids.iter().enumerate() {
        assert_eq!(
            acked[client_id],
            base + 1 + i64::try_from(i).unwrap(),
            "m{} is acked with its one stored seq",
            i + 1
        );
    }

    let want = expected(base, 1, MESSAGES);
    assert_eq!(
        a.seen_after(base),
        want,
        "the sender saw every item once, across the reconnect"
    );
    assert_eq!(b.items(MESSAGES).await, want, "agent B on node 2");
    assert_eq!(
        supervisor.items(MESSAGES).await,
        want,
        "the supervisor on node 3"
    );
    a.quiet().await;
    b.quiet().await;
    supervisor.quiet().await;
    let stored = scene.timeline(&cluster.nodes[2]).await;
    let seqs: Vec<i64> = stored.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=upto).collect::<Vec<_>>(), "seqs are gapless");
    assert_eq!(
        stored[usize::try_from(base).unwrap()..],
        want[..],
        "each message stored once"
    );
}

/// A `redis-server` of this test's own on a free port, killed on drop.
struct OwnRedis {
    child: Option<Child>,
    port: u16,
}

impl OwnRedis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self { child: None, port };
        redis.restart();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts the server (again, on the same port) and waits until it accepts connections.
    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on the PATH");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_keeps_local_traffic_and_is_recovered_by_resuming() {
    // Declared before the cluster, so it outlives the nodes.
    let mut redis = OwnRedis::start();
    let cluster = Cluster::start(2, &redis.url()).await;
    let [n1, n2] = &cluster.nodes[..] else {
        unreachable!()
    };
    for node in [n1, n2] {
        node.wait_ready_status(200, PATIENCE).await;
    }
    let scene = Scene::set_up(n1).await;
    let conversation = scene.conversation.as_str();
    let mut a = Socket::agent(n1, &scene.a).await;
    let mut supervisor = Socket::agent(n1, &scene.supervisor).await;
    let mut b = Socket::agent(n2, &scene.b).await;
    let base = a.join(conversation).await;
    supervisor.join(conversation).await;
    b.join(conversation).await;
    let new_id = || uuid::Uuid::new_v4().to_string();
    a.send(send_frame(conversation, &new_id(), "m1")).await;
    assert_eq!(b.items(1).await, expected(base, 1, 1), "live across nodes");

    redis.stop();
    for node in [n1, n2] {
        node.wait_ready_status(503, PATIENCE).await;
        let answer = node.readyz().await;
        assert_eq!(answer.status, 503, "{}", answer.body);
        assert_eq!(answer.body["bus"]["ready"], false, "{}", answer.body);
        assert_eq!(answer.body["store"], "ok", "{}", answer.body);
    }
    // Local traffic on node 1 still flows, acked as usual.
    let outage: Vec<String> = (2..=6).map(|_| new_id()).collect();
    for (i, client_id) in outage.iter().enumerate() {
        a.send(send_frame(conversation, client_id, &format!("m{}", i + 2)))
            .await;
    }
    let acks = acks_and_items(&mut a, &outage, base + 6).await;
    for (i, client_id) in outage.iter().enumerate() {
        assert_eq!(acks[client_id], base + 2 + i64::try_from(i).unwrap());
    }
    let want = expected(base, 1, 6);
    assert_eq!(a.seen_after(base), want);
    assert_eq!(
        supervisor.items(6).await,
        want,
        "a socket on the writer's node"
    );
    b.quiet().await;

    redis.restart();
    // The reconnection backoff is capped at 5 s.
    for node in [n1, n2] {
        node.wait_ready_status(200, Duration::from_secs(8)).await;
    }
    // B resumes after the last item it saw and gets exactly what it missed.
    assert_eq!(b.subscribe(conversation, base + 1).await, base + 6);
    assert_eq!(b.items(5).await, expected(base, 2, 6));
    b.quiet().await;

    // Cross-node delivery works again, both ways.
    a.send(send_frame(conversation, &new_id(), "m7")).await;
    assert_eq!(b.items(1).await, expected(base, 7, 7), "node 1 to node 2");
    b.send(send_frame(conversation, &new_id(), "m8")).await;
    let from_b = loop {
        let frame = a.next().await;
        if frame["type"] == "item" && frame["item"]["seq"] == json!(base + 8) {
            break item_of(&frame);
        }
    };
    assert_eq!(from_b, (base + 8, "m8".to_owned()), "node 2 to node 1");
    assert_eq!(supervisor.items(2).await, expected(base, 7, 8));
    assert_eq!(
        scene
            .timeline(n2)
            .await
            .split_off(usize::try_from(base).unwrap()),
        expected(base, 1, 8)
    );
}

/// The page the test widget runs on, allowed on the chat channel.
const ORIGIN: &str = "https://cluster.test";
/// An agent socket's `hello` comes before its node's Redis subscription to
/// `presence.{account}` is confirmed, so a presence change published at once may not reach it;
/// a watcher waits this long after `hello` before the agents it watches connect.
const SUBSCRIPTION_SETTLES: Duration = Duration::from_millis(300);

/// A support desk set up over REST: `agents` agents, members of one inbox that routes its chat
/// channel's conversations to them (round robin, `capacity` open conversations each); the
/// bootstrap admin watches as supervisor.
struct Desk {
    account: String,
    channel: String,
    /// The admin's session token.
    admin: String,
    /// `(agent id, session token)`.
    agents: Vec<(String, String)>,
}

impl Desk {
    async fn set_up(node: &Node, agents: usize, capacity: Option<u32>) -> Self {
        let address = &node.address;
        let (admin, me) = login_at(address, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let post = |path: &'static str, body: Value| {
            let admin = admin.clone();
            async move {
                let answer = send(address, "POST", path, Some(&admin), Some(body)).await;
                assert_eq!(answer.status, 201, "POST {path}: {}", answer.body);
                answer.body["id"].as_str().unwrap().to_owned()
            }
        };
        let password = "desk-password-1";
        let mut team = Vec::new();
        for i in 0..agents {
            let email = format!("agent{i}@desk.test");
            let id = post(
                "/api/v1/agents",
                json!({"email": email, "password": password, "role": "agent",
                       "display_name": format!("Agent {i}")}),
            )
            .await;
            let (token, _) = login_at(address, &email, password).await;
            team.push((id, token));
        }
        let ids: Vec<&String> = team.iter().map(|(id, _)| id).collect();
        let inbox = post(
            "/api/v1/inboxes",
            json!({"name": "Chat", "member_ids": ids,
                   "routing": {"target": {"mode": "agents", "agent_ids": ids},
                               "strategy": "round_robin", "capacity": capacity,
                               "sticky_to_owner": false}}),
        )
        .await;
        let channel = post(
            "/api/v1/channels",
            json!({"inbox_id": inbox, "kind": "chat", "name": "Site",
                   "settings": {"allowed_origins": [ORIGIN]}}),
        )
        .await;
        Self {
            account: me.account_id.to_string(),
            channel,
            admin,
            agents: team,
        }
    }

    fn agent_ids(&self) -> Vec<String> {
        self.agents.iter().map(|(id, _)| id.clone()).collect()
    }

    /// Every stored item of `conversation`, oldest first, as the REST API gives them.
    async fn timeline(&self, node: &Node, conversation: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut after = 0;
        loop {
            let answer = send(
                &node.address,
                "GET",
                &format!(
                    "/api/v1/conversations/{conversation}/timeline?limit=200&after_seq={after}"
                ),
                Some(&self.admin),
                None,
            )
            .await;
            assert_eq!(answer.status, 200, "{}", answer.body);
            items.extend(answer.body["items"].as_array().unwrap().iter().cloned());
            match answer.body["next_after_seq"].as_i64() {
                Some(next) => after = next,
                None => return items,
            }
        }
    }

    /// Every conversation of the account, as the admin lists them.
    async fn conversations(&self, node: &Node) -> Vec<Value> {
        let mut all = Vec::new();
        let mut path = "/api/v1/conversations?limit=200".to_owned();
        loop {
            let answer = send(&node.address, "GET", &path, Some(&self.admin), None).await;
            assert_eq!(answer.status, 200, "{}", answer.body);
            all.extend(answer.body["items"].as_array().unwrap().iter().cloned());
            match answer.body["next"].as_str() {
                Some(next) => path = format!("/api/v1/conversations?limit=200&after={next}"),
                None => return all,
            }
        }
    }
}

/// One HTTP client for every visitor: building one per request loads the TLS roots each time,
/// which on a busy machine kept hundreds of opened connections idle past the server's 5 s
/// request timeout (answered 408 before the request was even written).
fn http() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new)
}

/// A website visitor of the desk's chat channel, with the token the widget keeps.
struct Visit {
    token: String,
    visitor_id: String,
    path: String,
}

impl Visit {
    /// Becomes a visitor through `node`, from the allowed page.
    async fn new(node: &Node, desk: &Desk) -> Self {
        let response = http()
            .post(format!("{}/api/v1/widget/visitors", node.address))
            .header("Origin", ORIGIN)
            .json(&json!({"account_id": desk.account, "channel_id": desk.channel}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        Self {
            token: body["token"].as_str().unwrap().to_owned(),
            visitor_id: body["visitor"]["id"].as_str().unwrap().to_owned(),
            path: format!(
                "/ws/visitor?account_id={}&channel_id={}",
                desk.account, desk.channel
            ),
        }
    }

    /// An authenticated visitor socket on `node`; returns it with its `hello`.
    async fn connect(&self, node: &Node) -> (Socket, Value) {
        let mut request = format!("ws://127.0.0.1:{}{}", node.port, self.path)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("origin", ORIGIN.parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let mut socket = Socket::over(ws);
        socket
            .send(json!({"type": "auth", "token": self.token}))
            .await;
        let hello = socket.next().await;
        assert_eq!(hello["type"], "hello", "{hello}");
        assert_eq!(hello["visitor"]["id"], json!(self.visitor_id), "{hello}");
        (socket, hello)
    }
}

fn visitor_send(client_id: &str, body: &str) -> Value {
    json!({"type": "send", "client_id": client_id, "body": body})
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Items as `(seq, body)`, as sockets record them.
fn pairs<'a>(items: impl IntoIterator<Item = &'a Value>) -> Vec<(i64, String)> {
    items
        .into_iter()
        .map(|item| {
            (
                item["seq"].as_i64().unwrap(),
                item["body"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// What a visitor may see of a timeline: everything but internal comments.
fn visible_to_visitor(timeline: &[Value]) -> Vec<(i64, String)> {
    pairs(timeline.iter().filter(|item| item["kind"] != "comment"))
}

/// Acceptance 8: a visitor on node A, the agent routing gave the conversation to on node B and
/// a supervisor on node C follow one conversation live; node A dies (SIGKILL) while the
/// visitor's messages are in flight, and the visitor resumes on node B with nothing lost or
/// doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_agent_and_supervisor_on_three_nodes_then_the_visitor_node_dies() {
    let mut cluster = Cluster::start(3, &redis_url()).await;
    let desk = Desk::set_up(&cluster.nodes[1], 1, None).await;
    let (agent_id, agent_token) = desk.agents[0].clone();
    let (node_b, node_c) = (&cluster.nodes[1], &cluster.nodes[2]);
    let mut supervisor = Socket::agent(node_c, &desk.admin).await;
    tokio::time::sleep(SUBSCRIPTION_SETTLES).await;
    let mut agent = Socket::agent(node_b, &agent_token).await;
    // Routing asks presence (in Redis) who is online: the agent must be, before the visitor.
    supervisor
        .wait_online(std::slice::from_ref(&agent_id))
        .await;

    let visit = Visit::new(&cluster.nodes[0], &desk).await;
    let (mut visitor, hello) = visit.connect(&cluster.nodes[0]).await;
    assert_eq!(hello["conversation"], Value::Null, "{hello}");
    let first = new_id();
    visitor.send(visitor_send(&first, "v1")).await;
    let ack = visitor.next().await;
    assert_eq!(
        (ack["type"].as_str(), ack["seq"].as_i64()),
        (Some("ack"), Some(1)),
        "{ack}"
    );
    let conversation = ack["conversation_id"].as_str().unwrap().to_owned();

    // Routing on node A gives it to the agent, who hears of it on node B.
    let assigned = agent.next().await;
    assert_eq!(assigned["type"], "assigned", "{assigned}");
    assert_eq!(assigned["conversation"]["id"], json!(conversation));
    assert_eq!(assigned["conversation"]["assignee_id"], json!(agent_id));
    agent.join(&conversation).await;
    supervisor.join(&conversation).await;
    visitor.join(&conversation).await;

    // Live, all three ways; the supervisor's comment is for the agents only.
    let v2 = new_id();
    visitor.send(visitor_send(&v2, "v2")).await;
    visitor.wait_acks([&v2]).await;
    let r1 = new_id();
    agent.send(send_frame(&conversation, &r1, "r1")).await;
    agent.wait_acks([&r1]).await;
    let c1 = new_id();
    supervisor
        .send(
            json!({"type": "comment", "conversation_id": conversation, "client_id": c1,
                     "body": "c1 VIP, be quick", "mentions": [agent_id]}),
        )
        .await;
    supervisor.wait_acks([&c1]).await;
    let r2 = new_id();
    agent.send(send_frame(&conversation, &r2, "r2")).await;
    agent.wait_acks([&r2]).await;
    let v3 = new_id();
    visitor.send(visitor_send(&v3, "v3")).await;
    visitor.wait_acks([&v3]).await;

    let timeline = desk.timeline(node_c, &conversation).await;
    assert!(
        timeline.iter().any(|item| item["kind"] == "comment"),
        "the comment is stored: {timeline:?}"
    );
    let all = pairs(&timeline);
    let visible = visible_to_visitor(&timeline);
    let last = all.last().unwrap().0;
    agent.read_up_to(last).await;
    supervisor.read_up_to(last).await;
    visitor.read_up_to(visible.last().unwrap().0).await;
    assert_eq!(
        agent.seen, all,
        "the agent on node B sees everything once, in order"
    );
    assert_eq!(supervisor.seen, all, "the supervisor on node C too");
    assert_eq!(
        visitor.seen, visible,
        "the visitor on node A, without the comment"
    );
    agent.quiet().await;
    supervisor.quiet().await;
    visitor.quiet().await;

    // A burst from the visitor; node A dies once a few are acked, the rest in flight.
    let burst: Vec<String> = (0..MESSAGES).map(|_| new_id()).collect();
    let body = |i: usize| format!("w{}", i + 1);
    for (i, client_id) in burst.iter().enumerate() {
        visitor.send(visitor_send(client_id, &body(i))).await;
    }
    while burst
        .iter()
        .filter(|c| visitor.acks.contains_key(*c))
        .count()
        < 3
    {
        visitor.next().await;
    }
    cluster.nodes[0].kill();
    while visitor.try_next().await.is_some() {}
    let acked_before: Vec<&String> = burst
        .iter()
        .filter(|c| visitor.acks.contains_key(*c))
        .collect();
    assert!(
        acked_before.len() < MESSAGES,
        "node A was killed after every message was acked: the test proves nothing"
    );
    let (node_b, node_c) = (&cluster.nodes[1], &cluster.nodes[2]);

    // The agent answers while the visitor is away.
    let r3 = new_id();
    agent.send(send_frame(&conversation, &r3, "r3")).await;
    agent.wait_acks([&r3]).await;

    // The visitor reconnects to node B with its token and resumes after the last item it saw.
    let (fresh, hello) = visit.connect(node_b).await;
    assert_eq!(hello["conversation"]["id"], json!(conversation), "{hello}");
    let mut visitor = Socket {
        seen: visitor.seen,
        acks: visitor.acks,
        ..fresh
    };
    let last_seen = visitor.seen.last().unwrap().0;
    visitor.subscribe(&conversation, last_seen).await;
    // It resends what was not acked, and one message that was (its ack must not change).
    let again = acked_before[0].clone();
    let again_seq = visitor.acks.remove(&again).unwrap();
    let again_body = body(burst.iter().position(|c| *c == again).unwrap());
    visitor.send(visitor_send(&again, &again_body)).await;
    for (i, client_id) in burst.iter().enumerate() {
        if !visitor.acks.contains_key(client_id) && *client_id != again {
            visitor.send(visitor_send(client_id, &body(i))).await;
        }
    }
    visitor.wait_acks(&burst).await;
    assert_eq!(
        visitor.acks[&again], again_seq,
        "a resent message is acked with the seq it was stored as"
    );
    let v4 = new_id();
    visitor.send(visitor_send(&v4, "v4")).await;
    visitor.wait_acks([&v4]).await;
    let r4 = new_id();
    agent.send(send_frame(&conversation, &r4, "r4")).await;
    agent.wait_acks([&r4]).await;

    let timeline = desk.timeline(node_c, &conversation).await;
    let all = pairs(&timeline);
    let visible = visible_to_visitor(&timeline);
    let seqs: Vec<i64> = all.iter().map(|(seq, _)| *seq).collect();
    let last = *seqs.last().unwrap();
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "seqs are gapless");
    let mut previous = 0;
    for (i, client_id) in burst.iter().enumerate() {
        let stored: Vec<i64> = all
            .iter()
            .filter(|(_, b)| *b == body(i))
            .map(|(seq, _)| *seq)
            .collect();
        assert_eq!(stored.len(), 1, "{} is stored once: {all:?}", body(i));
        assert_eq!(
            visitor.acks[client_id],
            stored[0],
            "{} acked as stored",
            body(i)
        );
        assert!(
            stored[0] > previous,
            "the burst is stored in order: {all:?}"
        );
        previous = stored[0];
    }

    visitor.read_up_to(visible.last().unwrap().0).await;
    agent.read_up_to(last).await;
    supervisor.read_up_to(last).await;
    assert_eq!(
        visitor.seen, visible,
        "the visitor saw every item (but the comment) once, across the node's death"
    );
    assert_eq!(
        agent.seen, all,
        "the agent on node B kept getting everything"
    );
    assert_eq!(supervisor.seen, all, "the supervisor on node C too");
    visitor.quiet().await;
    agent.quiet().await;
    supervisor.quiet().await;
}

/// Acceptance 6: hundreds of visitors start conversations at once through 3 nodes; the atomic
/// claims leave no agent past capacity and no conversation assigned twice, and since there are
/// more conversations than slots, every slot is filled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_visitor_conversations_through_three_nodes_respect_capacity() {
    const AGENTS: usize = 3;
    const CAPACITY: u32 = 15;
    const VISITORS: usize = 180;
    let slots = AGENTS * usize::try_from(CAPACITY).unwrap();
    let cluster = Cluster::start(3, &redis_url()).await;
    let nodes = &cluster.nodes;
    let desk = Desk::set_up(&nodes[0], AGENTS, Some(CAPACITY)).await;
    let mut watcher = Socket::agent(&nodes[0], &desk.admin).await;
    tokio::time::sleep(SUBSCRIPTION_SETTLES).await;
    let mut agents = Vec::new();
    for (i, (_, token)) in desk.agents.iter().enumerate() {
        agents.push(Socket::agent(&nodes[i % nodes.len()], token).await);
    }
    watcher.wait_online(&desk.agent_ids()).await;

    let started = futures_util::future::join_all((0..VISITORS).map(|i| {
        let node = &nodes[i % nodes.len()];
        let desk = &desk;
        async move {
            let visit = Visit::new(node, desk).await;
            let (mut socket, _) = visit.connect(node).await;
            socket.send(visitor_send(&new_id(), "hello")).await;
            let ack = socket.next().await;
            assert_eq!(ack["type"], "ack", "{ack}");
            // Kept open: the visitors are still on the page while routing runs.
            (ack["conversation_id"].as_str().unwrap().to_owned(), socket)
        }
    }))
    .await;
    let mut started_ids: Vec<&String> = started.iter().map(|(id, _)| id).collect();
    started_ids.sort();
    started_ids.dedup();
    assert_eq!(
        started_ids.len(),
        VISITORS,
        "each visitor started one conversation"
    );

    // Routing runs after each ack: wait until it has filled the slots, then a little more for
    // any claim that would go past them.
    let deadline = Instant::now() + Duration::from_secs(15);
    let count_assigned = |all: &[Value]| all.iter().filter(|c| !c["assignee_id"].is_null()).count();
    while count_assigned(&desk.conversations(&nodes[1]).await) < slots {
        assert!(
            Instant::now() < deadline,
            "routing did not fill the slots in time"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(QUIET).await;

    let all = desk.conversations(&nodes[2]).await;
    assert_eq!(all.len(), VISITORS, "no other conversation was made");
    let mut load: HashMap<String, Vec<String>> = HashMap::new();
    for conversation in &all {
        if let Some(agent) = conversation["assignee_id"].as_str() {
            load.entry(agent.to_owned())
                .or_default()
                .push(conversation["id"].as_str().unwrap().to_owned());
        }
    }
    for (agent, conversations) in &load {
        assert!(
            desk.agent_ids().contains(agent),
            "assigned to a stranger {agent}"
        );
        assert!(
            conversations.len() <= usize::try_from(CAPACITY).unwrap(),
            "agent {agent} has {} open conversations, capacity {CAPACITY}",
            conversations.len()
        );
    }
    assert_eq!(
        count_assigned(&all),
        slots,
        "every slot is filled, since there are more conversations than slots: {load:?}"
    );

    // Each conversation's timeline holds at most one assignment, to its assignee.
    let timelines: Vec<(Value, Vec<Value>)> = futures_util::stream::iter(all.iter())
        .map(|conversation| {
            let desk = &desk;
            let node = &nodes[1];
            async move {
                let id = conversation["id"].as_str().unwrap();
                (conversation.clone(), desk.timeline(node, id).await)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for (conversation, timeline) in &timelines {
        let assignments: Vec<&Value> = timeline
            .iter()
            .filter(|item| item["kind"] == "event" && item["data"]["type"] == "assigned")
            .collect();
        match conversation["assignee_id"].as_str() {
            Some(agent) => {
                assert_eq!(assignments.len(), 1, "assigned once: {timeline:?}");
                assert_eq!(assignments[0]["data"]["assignee_id"], json!(agent));
            }
            None => assert!(assignments.is_empty(), "{timeline:?}"),
        }
    }

    // Every assignment reached its agent's socket, on whichever node, once.
    for (socket, (agent, _)) in agents.iter_mut().zip(&desk.agents) {
        let mut want = load.get(agent).cloned().unwrap_or_default();
        let mut got = Vec::new();
        while got.len() < want.len() {
            let frame = socket.next().await;
            assert_eq!(frame["type"], "assigned", "{frame}");
            got.push(frame["conversation"]["id"].as_str().unwrap().to_owned());
        }
        socket.quiet().await;
        got.sort();
        want.sort();
        assert_eq!(got, want, "the assignment notices of agent {agent}");
    }
}
