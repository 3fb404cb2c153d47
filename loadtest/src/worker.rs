//! A worker process: holds its share of the visitor and agent sockets on one thread, drives
//! them on the coordinator's commands (one JSON line each on stdin) and answers with JSON lines
//! on stdout, the last one its `WorkerReport`.
//!
//! Every message body carries its stream, visitor number, message number and send time:
//! `lt|i|k|t` from visitor i (its k-th message), `la|i|k|t` for the agent's answer to it. The
//! time is the *scheduled* send time for visitors (open loop: a late generator or a socket
//! being re-opened counts against the latency, as a user would see it) and the receive time of
//! the question for agents, who answer at once.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::Instant;

use crate::proto::{self, Conn, Target};
use crate::stats::{self, Stream, WorkerReport, now_us};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Visitors connect, authenticate and stay silent.
    Idle,
    /// Visitors send at the given rate; agents answer every message.
    Chat,
    /// As chat, and every visitor drops its socket once and resumes with `after_seq`.
    Reconnect,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentSpec {
    pub index: u32,
    pub token: String,
    /// Where this agent's socket goes: `ws://IP:PORT`.
    pub server: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub worker: usize,
    pub target: Target,
    pub mode: Mode,
    /// Makes client ids unique to the run.
    pub nonce: u32,
    /// Visitor i connects to `visitor_servers[i % len]` (`ws://IP:PORT`).
    pub visitor_servers: Vec<String>,
    /// This worker's visitors: `first..end`.
    pub visitors: (u32, u32),
    pub total_visitors: u32,
    pub total_agents: u32,
    pub agents: Vec<AgentSpec>,
    pub account_id: String,
    pub channel_id: String,
    /// Source addresses 127.0.0.2 ..= 127.0.0.(1 + source_ips).
    pub source_ips: u32,
    /// Each visitor sends one message every `interval_us` (total rate = visitors / interval).
    pub interval_us: u64,
    pub body_bytes: usize,
    pub duration_s: f64,
    pub drain_s: f64,
    pub reconnect_at_s: f64,
    pub reconnect_window_s: f64,
    /// Sockets being opened at once by this worker.
    pub connect_concurrency: usize,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
enum Command {
    Agents,
    Visitors,
    Status,
    Go { start_us: u64 },
}

#[derive(Clone, Copy)]
struct Go {
    start_us: u64,
}

struct Shared {
    plan: Plan,
    go: watch::Receiver<Option<Go>>,
    state: RefCell<State>,
    setup_done: Notify,
    connect_slots: Semaphore,
    http: Vec<reqwest::Client>,
}

#[derive(Default)]
struct State {
    report: WorkerReport,
    v2a: Stream,
    a2v: Stream,
    v2a_latency: Option<Histogram<u64>>,
    a2v_latency: Option<Histogram<u64>>,
    send_lag: Option<Histogram<u64>>,
    resume: Option<Histogram<u64>>,
    /// Conversations agents of this worker are subscribed to.
    agent_conversations: u64,
    /// Sockets whose setup finished (well or not), of the stage being opened.
    setup_finished: u64,
    unacked: u64,
}

impl State {
    fn count(map: &mut BTreeMap<String, u64>, key: impl Into<String>) {
        *map.entry(key.into()).or_default() += 1;
    }
}

fn hist(h: &mut Option<Histogram<u64>>) -> &mut Histogram<u64> {
    h.get_or_insert_with(stats::histogram)
}

fn source_ip(plan: &Plan, n: u32) -> Ipv4Addr {
    let last = 2 + n % plan.source_ips.max(1);
    Ipv4Addr::new(
        127,
        0,
        u8::try_from(last / 256).unwrap_or(0),
        u8::try_from(last % 256).unwrap_or(2),
    )
}

/// A client id that names its message: UUID bits = nonce | direction | visitor | number.
fn client_id(nonce: u32, direction: u8, visitor: u32, k: u32) -> String {
    let bits = (u128::from(nonce) << 96)
        | (u128::from(direction) << 88)
        | (u128::from(visitor) << 40)
        | u128::from(k);
    uuid::Uuid::from_u128(bits).hyphenated().to_string()
}

fn parse_client_id(id: &str) -> Option<(u8, u32, u32)> {
    let bits = uuid::Uuid::parse_str(id).ok()?.as_u128();
    let direction = u8::try_from((bits >> 88) & 0xff).ok()?;
    let visitor = u32::try_from((bits >> 40) & 0xffff_ffff).ok()?;
    let k = u32::try_from(bits & 0xff_ffff_ffff).ok()?;
    Some((direction, visitor, k))
}

fn body(tag: &str, i: u32, k: u32, t: u64, size: usize) -> String {
    let mut b = format!("{tag}|{i}|{k}|{t}|");
    while b.len() < size {
        b.push('x');
    }
    b
}

fn parse_body(body: &str) -> Option<(&str, u32, u32, u64)> {
    let mut parts = body.split('|');
    let tag = parts.next()?;
    let i = parts.next()?.parse().ok()?;
    let k = parts.next()?.parse().ok()?;
    let t = parts.next()?.parse().ok()?;
    Some((tag, i, k, t))
}

fn at(us: u64) -> Instant {
    let now = now_us();
    let n = Instant::now();
    if us >= now {
        n + Duration::from_micros(us - now)
    } else {
        n.checked_sub(Duration::from_micros(now - us)).unwrap_or(n)
    }
}

fn emit(value: &Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

/// A small deterministic spread (splitmix64) so visitors' phases do not line up.
fn spread(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub fn run() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, main_loop())?;
    // The runtime's blocking stdin reader would hold its shutdown until stdin closes: the
    // report is out, so leave now.
    std::process::exit(0)
}

async fn main_loop() -> anyhow::Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let first = lines.next_line().await?.context("no plan on stdin")?;
    let plan: Plan = serde_json::from_str(&first).context("plan")?;
    let (go_tx, go_rx) = watch::channel(None);
    let http = (0..plan.source_ips.max(1))
        .map(|n| {
            reqwest::Client::builder()
                .local_address(std::net::IpAddr::V4(source_ip(&plan, n)))
                .timeout(proto::PATIENCE)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let shared = Rc::new(Shared {
        connect_slots: Semaphore::new(plan.connect_concurrency.max(1)),
        plan,
        go: go_rx,
        state: RefCell::new(State::default()),
        setup_done: Notify::new(),
        http,
    });
    let worker = shared.plan.worker;
    let mut end_at: Option<u64> = None;
    loop {
        let line = match end_at {
            Some(end) => match tokio::time::timeout_at(at(end), lines.next_line()).await {
                Ok(line) => line?,
                Err(_) => break,
            },
            None => lines.next_line().await?,
        };
        let Some(line) = line else { break };
        let command: Command = serde_json::from_str(&line).context("command")?;
        match command {
            Command::Agents => {
                let total = shared.plan.agents.len() as u64;
                shared.state.borrow_mut().setup_finished = 0;
                for spec in shared.plan.agents.clone() {
                    tokio::task::spawn_local(agent(shared.clone(), spec));
                }
                wait_setup(&shared, total).await;
                let s = shared.state.borrow();
                emit(&json!({"event": "agents_ready", "worker": worker,
                    "connected": s.report.agents_connected}));
            }
            Command::Visitors => {
                let (first, end) = shared.plan.visitors;
                shared.state.borrow_mut().setup_finished = 0;
                for i in first..end {
                    tokio::task::spawn_local(visitor(shared.clone(), i));
                }
                wait_setup(&shared, u64::from(end - first)).await;
                let s = shared.state.borrow();
                emit(&json!({"event": "visitors_ready", "worker": worker,
                    "connected": s.report.visitors_connected,
                    "connect_errors": s.report.connect_errors}));
            }
            Command::Status => {
                let s = shared.state.borrow();
                emit(&json!({"event": "status", "worker": worker,
                    "agent_conversations": s.agent_conversations}));
            }
            Command::Go { start_us } => {
                let _ = go_tx.send(Some(Go { start_us }));
                let plan = &shared.plan;
                let end = start_us + ((plan.duration_s + plan.drain_s) * 1e6) as u64 + 300_000;
                end_at = Some(end);
            }
        }
    }
    // Let every task see the end and finish its bookkeeping.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut s = shared.state.borrow_mut();
    let state = &mut *s;
    let mut report = std::mem::take(&mut state.report);
    report.worker = worker;
    report.v2a = state.v2a.report();
    report.a2v = state.a2v.report();
    report.unacked = state.unacked;
    for (h, out) in [
        (&state.v2a_latency, &mut report.v2a_latency_us),
        (&state.a2v_latency, &mut report.a2v_latency_us),
        (&state.send_lag, &mut report.send_lag_us),
        (&state.resume, &mut report.resume_us),
    ] {
        if let Some(h) = h {
            *out = stats::encode(h);
        }
    }
    let me = std::process::id().to_string();
    report.cpu_secs = stats::proc_usage(&me).map_or(0.0, |u| u.0);
    report.max_rss_kib = stats::peak_rss_kib(&me);
    emit(&json!({"event": "report", "report": report}));
    Ok(())
}

async fn wait_setup(shared: &Shared, total: u64) {
    loop {
        let notified = shared.setup_done.notified();
        if shared.state.borrow().setup_finished >= total {
            return;
        }
        notified.await;
    }
}

fn setup_finished(shared: &Shared) {
    shared.state.borrow_mut().setup_finished += 1;
    shared.setup_done.notify_waiters();
}

async fn wait_go(shared: &Shared) -> Go {
    let mut go = shared.go.clone();
    loop {
        if let Some(g) = *go.borrow_and_update() {
            return g;
        }
        if go.changed().await.is_err() {
            return Go {
                start_us: u64::MAX / 4,
            };
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Visitors

struct Visit {
    i: u32,
    token: String,
    conversation: Option<String>,
    last_seq: i64,
    /// Scheduled and not acked yet: message number → scheduled time.
    pending: BTreeMap<u32, u64>,
}

fn visitor_path(plan: &Plan, i: u32) -> String {
    match plan.target {
        Target::Parley => format!(
            "/ws/visitor?account_id={}&channel_id={}",
            plan.account_id, plan.channel_id
        ),
        Target::Relay => format!("/ws/visitor?room=c{i}"),
        Target::Socketio => format!("/socket.io/?EIO=4&transport=websocket&role=visitor&room=c{i}"),
    }
}

async fn visitor_token(shared: &Shared, i: u32) -> anyhow::Result<String> {
    let plan = &shared.plan;
    if plan.target != Target::Parley {
        return Ok(format!("v{i}"));
    }
    let server = &plan.visitor_servers[i as usize % plan.visitor_servers.len()];
    let http = &shared.http[(i % plan.source_ips.max(1)) as usize];
    let url = format!(
        "{}/api/v1/widget/visitors",
        server.replacen("ws://", "http://", 1)
    );
    let response = http
        .post(url)
        .json(&json!({"account_id": plan.account_id, "channel_id": plan.channel_id}))
        .send()
        .await
        .map_err(|e| anyhow!("visitor_http: {}", e.without_url()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(anyhow!("visitor_http_{}", status.as_u16()));
    }
    let created: Value = response.json().await?;
    created["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("visitor_http: no token"))
}

/// Opens the socket, authenticates and (when chatting) subscribes after `last_seq`.
async fn visitor_open(shared: &Shared, visit: &mut Visit) -> anyhow::Result<Conn> {
    let plan = &shared.plan;
    let i = visit.i;
    let server = &plan.visitor_servers[i as usize % plan.visitor_servers.len()];
    let mut conn = proto::connect(
        plan.target,
        server,
        &visitor_path(plan, i),
        source_ip(plan, i),
    )
    .await?;
    let hello = conn.auth(&visit.token).await?;
    if plan.mode == Mode::Idle {
        return Ok(conn);
    }
    if visit.conversation.is_none() {
        visit.conversation = hello["conversation"]["id"].as_str().map(str::to_owned);
    }
    if visit.conversation.is_none() {
        // The first message starts the conversation (message 0, never answered).
        let t = now_us();
        conn.send(
            &json!({"type": "send", "client_id": client_id(plan.nonce, 0, i, 0),
            "body": body("lt", i, 0, t, plan.body_bytes)}),
        )
        .await?;
        let ack = conn.expect("ack").await?;
        visit.conversation = ack["conversation_id"].as_str().map(str::to_owned);
        shared
            .state
            .borrow_mut()
            .v2a
            .acked
            .entry(i)
            .or_default()
            .push(0);
    }
    let conversation = visit.conversation.clone().context("no conversation")?;
    conn.send(
        &json!({"type": "subscribe", "conversation_id": conversation,
        "after_seq": visit.last_seq}),
    )
    .await?;
    conn.expect("subscribed").await?;
    Ok(conn)
}

async fn visitor(shared: Rc<Shared>, i: u32) {
    let permit = shared.connect_slots.acquire().await;
    let opened = async {
        let token = visitor_token(&shared, i).await?;
        let mut visit = Visit {
            i,
            token,
            conversation: None,
            last_seq: 0,
            pending: BTreeMap::new(),
        };
        let conn = visitor_open(&shared, &mut visit).await?;
        anyhow::Ok((visit, conn))
    }
    .await;
    drop(permit);
    let (mut visit, conn) = match opened {
        Ok(v) => {
            shared.state.borrow_mut().report.visitors_connected += 1;
            setup_finished(&shared);
            v
        }
        Err(e) => {
            let mut s = shared.state.borrow_mut();
            State::count(&mut s.report.connect_errors, reason(&e));
            drop(s);
            setup_finished(&shared);
            return;
        }
    };
    let go = wait_go(&shared).await;
    visitor_traffic(&shared, &mut visit, conn, go).await;
    shared.state.borrow_mut().unacked += visit.pending.len() as u64;
}

fn reason(e: &anyhow::Error) -> String {
    let text = e.to_string();
    let text = text.split(':').next().unwrap_or("error");
    text.chars().take(60).collect()
}

async fn visitor_traffic(shared: &Shared, visit: &mut Visit, conn: Conn, go: Go) {
    let plan = &shared.plan;
    let i = visit.i;
    let interval = plan.interval_us.max(1);
    let phase = spread(u64::from(i)) % interval;
    let end_send = go.start_us + (plan.duration_s * 1e6) as u64;
    let end = end_send + (plan.drain_s * 1e6) as u64;
    let chatting = plan.mode != Mode::Idle;
    let mut next_k: u32 = 1;
    let mut reconnect_at = (plan.mode == Mode::Reconnect).then(|| {
        go.start_us
            + (plan.reconnect_at_s * 1e6) as u64
            + spread(u64::from(i) + 7_777) % ((plan.reconnect_window_s * 1e6) as u64).max(1)
    });
    let mut conn = Some(conn);
    loop {
        let next_send = go.start_us + phase + u64::from(next_k - 1) * interval;
        let sending = chatting && next_send < end_send;
        let Some(c) = conn.as_mut() else {
            // Dropped and not reopened: try again shortly until the end.
            if now_us() >= end {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            conn = reopen(shared, visit).await;
            continue;
        };
        tokio::select! {
            biased;
            frame = c.next() => match frame {
                Ok(frame) => on_visitor_frame(shared, visit, &frame, go, end_send),
                Err(why) => {
                    {
                        let mut s = shared.state.borrow_mut();
                        State::count(&mut s.report.closes, close_reason(&why));
                    }
                    conn = None;
                    if now_us() >= end_send {
                        return;
                    }
                }
            },
            () = tokio::time::sleep_until(at(next_send)), if sending => {
                let k = next_k;
                next_k += 1;
                visit.pending.insert(k, next_send);
                let frame = json!({"type": "send", "client_id": client_id(plan.nonce, 0, i, k),
                    "body": body("lt", i, k, next_send, plan.body_bytes)});
                let lag = now_us().saturating_sub(next_send);
                let sent = c.send(&frame).await;
                let mut s = shared.state.borrow_mut();
                s.report.v2a_sent_in_window += 1;
                stats::record(hist(&mut s.send_lag), lag);
                if let Err(e) = sent {
                    State::count(&mut s.report.closes, close_reason(&e.to_string()));
                    drop(s);
                    conn = None;
                }
            }
            () = tokio::time::sleep_until(at(reconnect_at.unwrap_or(u64::MAX / 4))), if reconnect_at.is_some() => {
                reconnect_at = None;
                if let Some(old) = conn.take() {
                    old.close().await;
                }
                let dropped = now_us();
                conn = reopen(shared, visit).await;
                if conn.is_some() {
                    let mut s = shared.state.borrow_mut();
                    s.report.reconnects += 1;
                    stats::record(hist(&mut s.resume), now_us().saturating_sub(dropped));
                }
            }
            () = tokio::time::sleep_until(at(end)) => {
                if let Some(c) = conn.take() {
                    c.close().await;
                }
                return;
            }
        }
    }
}

/// Reopens a visitor's socket, resumes after its last seq and resends what was not acked
/// (same client ids and bodies: the server stores each once).
async fn reopen(shared: &Shared, visit: &mut Visit) -> Option<Conn> {
    let plan = &shared.plan;
    let opened = visitor_open(shared, visit).await;
    let mut conn = match opened {
        Ok(c) => c,
        Err(e) => {
            let mut s = shared.state.borrow_mut();
            State::count(
                &mut s.report.connect_errors,
                format!("reopen: {}", reason(&e)),
            );
            return None;
        }
    };
    for (&k, &t) in &visit.pending {
        let frame = json!({"type": "send", "client_id": client_id(plan.nonce, 0, visit.i, k),
            "body": body("lt", visit.i, k, t, plan.body_bytes)});
        if conn.send(&frame).await.is_err() {
            return None;
        }
    }
    Some(conn)
}

fn close_reason(why: &str) -> String {
    why.chars().take(60).collect()
}

fn on_visitor_frame(shared: &Shared, visit: &mut Visit, frame: &Value, go: Go, end_send: u64) {
    let mut s = shared.state.borrow_mut();
    match frame["type"].as_str() {
        Some("ack") => {
            if let Some((0, i, k)) = frame["client_id"].as_str().and_then(parse_client_id)
                && visit.pending.remove(&k).is_some()
            {
                s.v2a.acked.entry(i).or_default().push(k);
            }
        }
        Some("item") => {
            let item = &frame["item"];
            let seq = item["seq"].as_i64().unwrap_or(0);
            visit.last_seq = visit.last_seq.max(seq);
            if item["direction"] != "out" {
                return;
            }
            if let Some(("la", i, k, t)) = item["body"].as_str().and_then(parse_body) {
                let now = now_us();
                s.a2v.received.entry(i).or_default().push(k);
                if t >= go.start_us {
                    stats::record(hist(&mut s.a2v_latency), now.saturating_sub(t));
                }
                if now < end_send {
                    s.report.a2v_received_in_window += 1;
                }
            }
        }
        Some("error") => {
            let code = frame["code"].as_str().unwrap_or("?").to_owned();
            State::count(&mut s.report.error_frames, code);
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Agents

struct Desk {
    id: String,
    /// Conversation → last seq seen.
    conversations: HashMap<String, i64>,
    /// Conversations asked for and not yet confirmed.
    subscribing: HashSet<String>,
}

fn agent_path(target: Target) -> &'static str {
    match target {
        Target::Parley | Target::Relay => "/ws/agent",
        Target::Socketio => "/socket.io/?EIO=4&transport=websocket&role=agent",
    }
}

async fn agent_open(shared: &Shared, spec: &AgentSpec, desk: &mut Desk) -> anyhow::Result<Conn> {
    let plan = &shared.plan;
    let mut conn = proto::connect(
        plan.target,
        &spec.server,
        agent_path(plan.target),
        source_ip(plan, plan.total_visitors + spec.index),
    )
    .await?;
    let hello = conn.auth(&spec.token).await?;
    if let Some(id) = hello["agent"]["id"].as_str() {
        desk.id = id.to_owned();
    }
    if plan.target == Target::Parley {
        conn.send(&json!({"type": "set_status", "status": "available"}))
            .await?;
    } else if desk.conversations.is_empty() {
        // No routing in the baselines: agent j takes visitors j, j + M, j + 2M, …
        let mut i = spec.index;
        while i < plan.total_visitors {
            desk.conversations.insert(format!("c{i}"), 0);
            i += plan.total_agents.max(1);
        }
    }
    desk.subscribing.clear();
    for (conversation, last) in &desk.conversations {
        conn.send(
            &json!({"type": "subscribe", "conversation_id": conversation, "after_seq": last}),
        )
        .await?;
        desk.subscribing.insert(conversation.clone());
    }
    Ok(conn)
}

async fn agent(shared: Rc<Shared>, spec: AgentSpec) {
    let mut desk = Desk {
        id: String::new(),
        conversations: HashMap::new(),
        subscribing: HashSet::new(),
    };
    let opened = agent_open(&shared, &spec, &mut desk).await;
    let mut conn = match opened {
        Ok(c) => {
            shared.state.borrow_mut().report.agents_connected += 1;
            setup_finished(&shared);
            Some(c)
        }
        Err(e) => {
            let mut s = shared.state.borrow_mut();
            State::count(
                &mut s.report.connect_errors,
                format!("agent: {}", reason(&e)),
            );
            drop(s);
            setup_finished(&shared);
            return;
        }
    };
    let mut go_rx = shared.go.clone();
    let mut go: Option<Go> = None;
    loop {
        let (end, reply_until, end_send) = match go {
            Some(g) => {
                let p = &shared.plan;
                let end_send = g.start_us + (p.duration_s * 1e6) as u64;
                let end = end_send + (p.drain_s * 1e6) as u64;
                (end, end_send + (p.drain_s * 0.5e6) as u64, end_send)
            }
            None => (u64::MAX / 4, u64::MAX / 4, u64::MAX / 4),
        };
        let Some(c) = conn.as_mut() else {
            if now_us() >= end {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            match agent_open(&shared, &spec, &mut desk).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    let mut s = shared.state.borrow_mut();
                    State::count(
                        &mut s.report.connect_errors,
                        format!("agent reopen: {}", reason(&e)),
                    );
                }
            }
            continue;
        };
        tokio::select! {
            biased;
            frame = c.next() => match frame {
                Ok(frame) => {
                    let answer = on_agent_frame(&shared, &mut desk, &frame, go, reply_until, end_send);
                    for out in answer {
                        if let Err(e) = c.send(&out).await {
                            let mut s = shared.state.borrow_mut();
                            State::count(&mut s.report.closes, format!("agent {}", close_reason(&e.to_string())));
                            drop(s);
                            conn = None;
                            break;
                        }
                    }
                }
                Err(why) => {
                    let mut s = shared.state.borrow_mut();
                    State::count(&mut s.report.closes, format!("agent {}", close_reason(&why)));
                    drop(s);
                    conn = None;
                }
            },
            changed = go_rx.changed(), if go.is_none() => {
                if changed.is_ok() {
                    go = *go_rx.borrow_and_update();
                }
            }
            () = tokio::time::sleep_until(at(end)), if go.is_some() => {
                if let Some(c) = conn.take() {
                    c.close().await;
                }
                return;
            }
        }
    }
}

/// Handles one frame of an agent socket; returns the frames to send in answer.
fn on_agent_frame(
    shared: &Shared,
    desk: &mut Desk,
    frame: &Value,
    go: Option<Go>,
    reply_until: u64,
    end_send: u64,
) -> Vec<Value> {
    let plan = &shared.plan;
    let mut s = shared.state.borrow_mut();
    match frame["type"].as_str() {
        Some("assigned") => {
            let conversation = &frame["conversation"];
            if conversation["assignee_id"].as_str() == Some(desk.id.as_str())
                && let Some(id) = conversation["id"].as_str()
                && !desk.conversations.contains_key(id)
            {
                desk.conversations.insert(id.to_owned(), 0);
                desk.subscribing.insert(id.to_owned());
                return vec![json!({"type": "subscribe", "conversation_id": id, "after_seq": 0})];
            }
        }
        Some("subscribed") => {
            if let Some(id) = frame["conversation_id"].as_str()
                && desk.subscribing.remove(id)
            {
                s.agent_conversations += 1;
            }
        }
        Some("item") => {
            let item = &frame["item"];
            let Some(conversation) = item["conversation_id"].as_str() else {
                return Vec::new();
            };
            let seq = item["seq"].as_i64().unwrap_or(0);
            if let Some(last) = desk.conversations.get_mut(conversation) {
                *last = (*last).max(seq);
            }
            if item["direction"] != "in" {
                return Vec::new();
            }
            let Some(("lt", i, k, t)) = item["body"].as_str().and_then(parse_body) else {
                return Vec::new();
            };
            let now = now_us();
            s.v2a.received.entry(i).or_default().push(k);
            let Some(g) = go else { return Vec::new() };
            if t >= g.start_us {
                stats::record(hist(&mut s.v2a_latency), now.saturating_sub(t));
            }
            if now < end_send {
                s.report.v2a_received_in_window += 1;
            }
            if k == 0 || now >= reply_until {
                return Vec::new();
            }
            if now < end_send {
                s.report.a2v_sent_in_window += 1;
            }
            return vec![json!({"type": "send", "conversation_id": conversation,
                "client_id": client_id(plan.nonce, 1, i, k),
                "body": body("la", i, k, now, plan.body_bytes)})];
        }
        Some("ack") => {
            if let Some((1, i, k)) = frame["client_id"].as_str().and_then(parse_client_id) {
                s.a2v.acked.entry(i).or_default().push(k);
            }
        }
        Some("error") => {
            let code = frame["code"].as_str().unwrap_or("?").to_owned();
            State::count(&mut s.report.error_frames, format!("agent {code}"));
        }
        _ => {}
    }
    Vec::new()
}
