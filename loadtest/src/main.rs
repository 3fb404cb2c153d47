//! Parley's load generator (docs/performance.md, "Load tests").
//!
//! `loadtest run …` is the coordinator: it creates what the run needs through Parley's REST API
//! (agents with API tokens and a capacity, an inbox routing to them, a chat channel), starts
//! worker processes (itself, `loadtest worker`), each holding a share of the sockets from
//! 127.0.0.x source addresses, tells them when to connect agents, visitors and when to start,
//! samples the servers' /proc while they run, then merges what they measured and writes a JSON
//! file and a markdown summary. `loadtest compare` puts several runs side by side.

mod proto;
mod stats;
mod worker;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;

use proto::Target;
use stats::{WorkerReport, now_us};
use worker::{AgentSpec, Mode, Plan};

#[derive(Parser)]
#[command(about = "Load generator for Parley and its baselines")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario and write its figures.
    Run(Box<RunArgs>),
    /// A worker process (started by `run`; reads its plan on stdin).
    Worker,
    /// Puts several runs' JSON side by side, with ratios to the first, as markdown.
    Compare {
        #[arg(long)]
        out: PathBuf,
        files: Vec<PathBuf>,
    },
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// A name for the run in the summary.
    #[arg(long, default_value = "run")]
    label: String,
    #[arg(long, value_enum, default_value = "parley")]
    target: Target,
    #[arg(long, value_enum, default_value = "chat")]
    mode: Mode,
    /// Servers visitors connect to, `ws://IP:PORT`, comma-separated (visitor i → i mod n).
    #[arg(long, value_delimiter = ',', required = true)]
    visitor_servers: Vec<String>,
    /// Servers agents connect to (agent j → j mod n); default: the visitors' servers.
    #[arg(long, value_delimiter = ',')]
    agent_servers: Vec<String>,
    /// Server processes to watch (VmRSS, utime + stime), comma-separated.
    #[arg(long, value_delimiter = ',')]
    server_pids: Vec<String>,
    /// Database (or Redis) processes whose CPU to report, comma-separated.
    #[arg(long, value_delimiter = ',')]
    db_pids: Vec<String>,
    #[arg(long, default_value_t = 100)]
    visitors: u32,
    #[arg(long, default_value_t = 10)]
    agents: u32,
    /// Visitor messages per second, all visitors together; agents answer each one.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Seconds of measured traffic.
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// Seconds after the last send for answers and acks to arrive.
    #[arg(long, default_value_t = 5.0)]
    drain: f64,
    /// Worker processes (each may hold up to ~19,000 sockets).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Client source addresses 127.0.0.2 … 127.0.0.(1+N).
    #[arg(long, default_value_t = 8)]
    source_ips: u32,
    #[arg(long, default_value_t = 100)]
    body_bytes: usize,
    /// Open conversations per agent; default: enough for every visitor plus 10 %.
    #[arg(long)]
    capacity: Option<u32>,
    #[arg(long, default_value = "load-admin@example.com")]
    admin_email: String,
    #[arg(long, default_value = "load-admin-password")]
    admin_password: String,
    /// Reconnect mode: visitors drop their socket between AT and AT + WINDOW seconds.
    #[arg(long, default_value_t = 10.0)]
    reconnect_at: f64,
    #[arg(long, default_value_t = 10.0)]
    reconnect_window: f64,
    #[arg(long, default_value_t = 200)]
    connect_concurrency: usize,
    /// A file created when the measured window starts (for a profiler to wait on).
    #[arg(long)]
    go_file: Option<PathBuf>,
    #[arg(long, default_value = "loadtest-result.json")]
    out: PathBuf,
    #[arg(long, default_value = "loadtest-result.md")]
    summary: PathBuf,
}

fn main() -> std::process::ExitCode {
    // Built in the workspace, reqwest gets parley's `rustls-no-provider` feature (features
    // unify), and then panics at the first client unless a provider is installed. Only plain
    // HTTP on loopback is used; ring is the provider parley itself uses. An error means one is
    // installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Worker => worker::run(),
        Command::Run(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(run(*args))),
        Command::Compare { out, files } => compare(&out, &files),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadtest: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Setup through Parley's REST API

struct Setup {
    account_id: String,
    channel_id: String,
    agent_tokens: Vec<String>,
}

async fn api(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let mut request = http.post(format!("{base}/api/v1{path}")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("POST {path}"))?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("POST {path}: {status} {answer}");
    }
    Ok(answer)
}

async fn setup_parley(args: &RunArgs, nonce: u32) -> anyhow::Result<Setup> {
    let base = args.visitor_servers[0].replacen("ws://", "http://", 1);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let login = api(
        &http,
        &base,
        None,
        "/auth/login",
        json!({"email": args.admin_email, "password": args.admin_password}),
    )
    .await?;
    let admin = login["token"].as_str().context("login token")?.to_owned();
    let account_id = login["agent"]["account_id"]
        .as_str()
        .context("account id")?
        .to_owned();
    let password = "load-agent-password";
    let mut agent_ids = Vec::new();
    let mut agent_tokens = Vec::new();
    for j in 0..args.agents {
        let email = format!("agent{j}-{nonce:08x}@load.test");
        let agent = api(
            &http,
            &base,
            Some(&admin),
            "/agents",
            json!({"email": email, "password": password, "role": "agent",
                "display_name": format!("Load agent {j}")}),
        )
        .await?;
        agent_ids.push(agent["id"].clone());
        let session = api(
            &http,
            &base,
            None,
            "/auth/login",
            json!({"email": email, "password": password}),
        )
        .await?;
        let session = session["token"].as_str().context("agent session")?;
        let token = api(
            &http,
            &base,
            Some(session),
            "/auth/api-tokens",
            json!({"name": "load"}),
        )
        .await?;
        agent_tokens.push(token["token"].as_str().context("api token")?.to_owned());
    }
    let capacity = args.capacity.unwrap_or_else(|| {
        let per = args.visitors.div_ceil(args.agents.max(1));
        per + per / 10 + 1
    });
    let inbox = api(
        &http,
        &base,
        Some(&admin),
        "/inboxes",
        json!({"name": format!("Load {nonce:08x}"),
            "routing": {"target": {"mode": "agents", "agent_ids": agent_ids},
                "strategy": "least_busy", "capacity": capacity, "sticky_to_owner": false},
            "member_ids": agent_ids}),
    )
    .await?;
    let channel = api(
        &http,
        &base,
        Some(&admin),
        "/channels",
        json!({"inbox_id": inbox["id"], "kind": "chat", "name": "Load chat", "settings": {}}),
    )
    .await?;
    Ok(Setup {
        account_id,
        channel_id: channel["id"].as_str().context("channel id")?.to_owned(),
        agent_tokens,
    })
}

// ---------------------------------------------------------------------------------------------
// Coordinator

struct Workers {
    children: Vec<Child>,
    stdins: Vec<ChildStdin>,
    events: mpsc::UnboundedReceiver<Value>,
}

impl Workers {
    async fn start(plans: Vec<Plan>) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let (tx, events) = mpsc::unbounded_channel();
        let mut children = Vec::new();
        let mut stdins = Vec::new();
        for plan in plans {
            let mut child = tokio::process::Command::new(&exe)
                .arg("worker")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()?;
            let mut stdin = child.stdin.take().context("worker stdin")?;
            let stdout = child.stdout.take().context("worker stdout")?;
            stdin
                .write_all(format!("{}\n", serde_json::to_string(&plan)?).as_bytes())
                .await?;
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        let _ = tx.send(v);
                    }
                }
            });
            children.push(child);
            stdins.push(stdin);
        }
        Ok(Self {
            children,
            stdins,
            events,
        })
    }

    async fn tell(&mut self, command: &Value) -> anyhow::Result<()> {
        let line = format!("{command}\n");
        for stdin in &mut self.stdins {
            stdin.write_all(line.as_bytes()).await?;
            stdin.flush().await?;
        }
        Ok(())
    }

    /// Waits for one `event` from every worker.
    async fn gather(&mut self, event: &str, patience: Duration) -> anyhow::Result<Vec<Value>> {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + patience;
        while got.len() < self.children.len() {
            let v = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .map_err(|_| anyhow!("workers did not all send {event} in time"))?
                .ok_or_else(|| anyhow!("a worker died before {event}"))?;
            if v["event"] == event {
                got.push(v);
            }
        }
        Ok(got)
    }
}

/// Resident set and CPU of the watched server processes.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct ServerSample {
    rss_kib: u64,
    cpu_secs: f64,
}

/// Busy CPU seconds of the whole machine so far (user + nice + system + irq + softirq + steal).
fn machine_busy() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().next() else {
        return 0.0;
    };
    let f: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let get = |i: usize| f.get(i).copied().unwrap_or(0.0);
    (get(0) + get(1) + get(2) + get(5) + get(6) + get(7)) / 100.0
}

fn sample(pids: &[String]) -> ServerSample {
    let mut s = ServerSample::default();
    for pid in pids {
        if let Some((cpu, rss)) = stats::proc_usage(pid) {
            s.cpu_secs += cpu;
            s.rss_kib += rss;
        }
    }
    s
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Latency {
    count: u64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
}

fn latency(h: &Histogram<u64>) -> Latency {
    let ms = |v: u64| v as f64 / 1000.0;
    Latency {
        count: h.len(),
        p50_ms: ms(h.value_at_quantile(0.5)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Delivery {
    acked: u64,
    received_unique: u64,
    /// Acked (stored) but never received by the other side.
    lost: u64,
    duplicated: u64,
    /// Received without an ack having reached the sender (e.g. the ack was in flight at the end).
    received_unacked: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Summary {
    label: String,
    target: String,
    mode: String,
    visitor_servers: Vec<String>,
    agent_servers: Vec<String>,
    visitors: u32,
    agents: u32,
    offered_rate: f64,
    duration_s: f64,
    workers: usize,
    visitors_connected: u64,
    agents_connected: u64,
    connect_seconds: f64,
    /// Messages delivered per second in the window, visitor → agent and agent → visitor.
    v2a_per_s: f64,
    a2v_per_s: f64,
    total_per_s: f64,
    v2a_latency: Latency,
    a2v_latency: Latency,
    /// The generator's lateness sending what it scheduled (open loop).
    send_lag: Latency,
    resume: Latency,
    reconnects: u64,
    v2a: Delivery,
    a2v: Delivery,
    unacked_at_end: u64,
    connect_errors: BTreeMap<String, u64>,
    error_frames: BTreeMap<String, u64>,
    closes: BTreeMap<String, u64>,
    server_pids: Vec<String>,
    server_rss_before_kib: u64,
    server_rss_connected_kib: u64,
    server_rss_peak_kib: u64,
    /// (RSS with every visitor socket open − RSS before the visitors) / visitor sockets.
    server_rss_per_connection_kib: f64,
    /// Server CPU seconds per second of the window (1.0 = one core busy).
    server_cpu_cores: f64,
    /// CPU of the `--db-pids` processes per second of the window.
    db_cpu_cores: f64,
    /// The whole machine's busy CPU (every process, ours and others') per second of the window.
    machine_busy_cores: f64,
    setup_seconds: f64,
    generator_cpu_secs: f64,
    generator_peak_rss_kib: u64,
    load_average: String,
    started_at_unix: u64,
}

fn delivery(reports: &[WorkerReport], pick: fn(&WorkerReport) -> &stats::StreamReport) -> Delivery {
    let mut acked: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    let mut received: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    let mut d = Delivery::default();
    for r in reports {
        let s = pick(r);
        d.duplicated += s.duplicates;
        for (i, ranges) in &s.acked {
            stats::expand(ranges, acked.entry(*i).or_default());
        }
        for (i, ranges) in &s.received {
            let set = received.entry(*i).or_default();
            let before = set.len();
            let mut fresh = BTreeSet::new();
            stats::expand(ranges, &mut fresh);
            let n = fresh.len();
            set.extend(fresh);
            d.duplicated += (n - (set.len() - before)) as u64;
        }
    }
    let empty = BTreeSet::new();
    for (i, a) in &acked {
        let r = received.get(i).unwrap_or(&empty);
        d.acked += a.len() as u64;
        d.lost += a.difference(r).count() as u64;
    }
    for (i, r) in &received {
        let a = acked.get(i).unwrap_or(&empty);
        d.received_unique += r.len() as u64;
        d.received_unacked += r.difference(a).count() as u64;
    }
    d
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    if args.visitor_servers.is_empty() || args.workers == 0 {
        bail!("give --visitor-servers and at least one worker");
    }
    let agent_servers = if args.agent_servers.is_empty() {
        args.visitor_servers.clone()
    } else {
        args.agent_servers.clone()
    };
    let started_at = now_us();
    let nonce = u32::try_from(started_at % 0xffff_ffff).unwrap_or(1);
    let setup = match args.target {
        Target::Parley => setup_parley(&args, nonce).await?,
        Target::Relay | Target::Socketio => Setup {
            account_id: String::new(),
            channel_id: String::new(),
            agent_tokens: (0..args.agents).map(|j| format!("a{j}")).collect(),
        },
    };
    let setup_seconds = (now_us() - started_at) as f64 / 1e6;
    eprintln!(
        "loadtest: setup done ({} agents) in {setup_seconds:.1} s",
        args.agents
    );
    let per_worker = args.visitors.div_ceil(u32::try_from(args.workers)?);
    let interval_us = if args.rate > 0.0 {
        (f64::from(args.visitors) * 1e6 / args.rate) as u64
    } else {
        u64::MAX / 8
    };
    let plans: Vec<Plan> = (0..args.workers)
        .map(|w| {
            let first = (u32::try_from(w).unwrap_or(0) * per_worker).min(args.visitors);
            let end = (first + per_worker).min(args.visitors);
            Plan {
                worker: w,
                target: args.target,
                mode: args.mode,
                nonce,
                visitor_servers: args.visitor_servers.clone(),
                visitors: (first, end),
                total_visitors: args.visitors,
                total_agents: args.agents,
                agents: setup
                    .agent_tokens
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| j % args.workers == w)
                    .map(|(j, token)| AgentSpec {
                        index: u32::try_from(j).unwrap_or(0),
                        token: token.clone(),
                        server: agent_servers[j % agent_servers.len()].clone(),
                    })
                    .collect(),
                account_id: setup.account_id.clone(),
                channel_id: setup.channel_id.clone(),
                source_ips: args.source_ips,
                interval_us,
                body_bytes: args.body_bytes,
                duration_s: args.duration,
                drain_s: args.drain,
                reconnect_at_s: args.reconnect_at,
                reconnect_window_s: args.reconnect_window,
                connect_concurrency: args.connect_concurrency,
            }
        })
        .collect();
    let mut workers = Workers::start(plans).await?;
    let connect_start = now_us();
    workers.tell(&json!({"cmd": "agents"})).await?;
    let ready = workers
        .gather("agents_ready", Duration::from_secs(120))
        .await?;
    let agents_up: u64 = ready.iter().filter_map(|v| v["connected"].as_u64()).sum();
    eprintln!("loadtest: {agents_up} agents connected");
    // The baseline for memory per visitor socket: set up, agents online, no visitor yet.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = sample(&args.server_pids);
    workers.tell(&json!({"cmd": "visitors"})).await?;
    let ready = workers
        .gather("visitors_ready", Duration::from_secs(600))
        .await?;
    let visitors_up: u64 = ready.iter().filter_map(|v| v["connected"].as_u64()).sum();
    let connect_seconds = (now_us() - connect_start) as f64 / 1e6;
    eprintln!("loadtest: {visitors_up} visitors connected in {connect_seconds:.1} s: {ready:?}");
    if args.mode != Mode::Idle {
        // Wait until agents are subscribed to every conversation (routing is asynchronous).
        let deadline = now_us() + 60_000_000;
        loop {
            workers.tell(&json!({"cmd": "status"})).await?;
            let status = workers.gather("status", Duration::from_secs(30)).await?;
            let subscribed: u64 = status
                .iter()
                .filter_map(|v| v["agent_conversations"].as_u64())
                .sum();
            if subscribed >= visitors_up || now_us() > deadline {
                eprintln!("loadtest: agents follow {subscribed} conversations");
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_connected = sample(&args.server_pids);
    let start_us = now_us() + 500_000;
    workers
        .tell(&json!({"cmd": "go", "start_us": start_us}))
        .await?;
    tokio::time::sleep(Duration::from_micros(start_us.saturating_sub(now_us()))).await;
    if let Some(go_file) = &args.go_file {
        std::fs::write(go_file, b"go\n")?;
    }
    let cpu_start = sample(&args.server_pids);
    let db_start = sample(&args.db_pids);
    let machine_start = machine_busy();
    let window_end = start_us + (args.duration * 1e6) as u64;
    let mut peak = rss_connected.rss_kib;
    while now_us() < window_end {
        tokio::time::sleep(Duration::from_millis(
            (window_end.saturating_sub(now_us()) / 1000).min(1000),
        ))
        .await;
        peak = peak.max(sample(&args.server_pids).rss_kib);
    }
    let cpu_end = sample(&args.server_pids);
    let db_end = sample(&args.db_pids);
    let machine_end = machine_busy();
    let load_average = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let patience = Duration::from_secs_f64(args.drain + 120.0);
    let reports: Vec<WorkerReport> = workers
        .gather("report", patience)
        .await?
        .into_iter()
        .map(|v| serde_json::from_value(v["report"].clone()))
        .collect::<Result<_, _>>()?;
    drop(workers.stdins);
    for mut child in workers.children {
        let _ = child.wait().await;
    }

    let mut v2a = stats::histogram();
    let mut a2v = stats::histogram();
    let mut lag = stats::histogram();
    let mut resume = stats::histogram();
    let mut summary = Summary {
        label: args.label.clone(),
        target: format!("{:?}", args.target).to_lowercase(),
        mode: format!("{:?}", args.mode).to_lowercase(),
        visitor_servers: args.visitor_servers.clone(),
        agent_servers,
        visitors: args.visitors,
        agents: args.agents,
        offered_rate: args.rate,
        duration_s: args.duration,
        workers: args.workers,
        connect_seconds,
        server_pids: args.server_pids.clone(),
        server_rss_before_kib: rss_before.rss_kib,
        server_rss_connected_kib: rss_connected.rss_kib,
        server_rss_peak_kib: peak,
        load_average: load_average.trim().to_owned(),
        started_at_unix: started_at / 1_000_000,
        ..Default::default()
    };
    let mut in_window = (0u64, 0u64);
    for r in &reports {
        stats::decode_into(&mut v2a, &r.v2a_latency_us);
        stats::decode_into(&mut a2v, &r.a2v_latency_us);
        stats::decode_into(&mut lag, &r.send_lag_us);
        stats::decode_into(&mut resume, &r.resume_us);
        summary.visitors_connected += r.visitors_connected;
        summary.agents_connected += r.agents_connected;
        summary.reconnects += r.reconnects;
        summary.unacked_at_end += r.unacked;
        summary.generator_cpu_secs += r.cpu_secs;
        summary.generator_peak_rss_kib += r.max_rss_kib;
        in_window.0 += r.v2a_received_in_window;
        in_window.1 += r.a2v_received_in_window;
        for (from, into) in [
            (&r.connect_errors, &mut summary.connect_errors),
            (&r.error_frames, &mut summary.error_frames),
            (&r.closes, &mut summary.closes),
        ] {
            for (k, v) in from {
                *into.entry(k.clone()).or_default() += v;
            }
        }
    }
    summary.v2a_per_s = in_window.0 as f64 / args.duration;
    summary.a2v_per_s = in_window.1 as f64 / args.duration;
    summary.total_per_s = summary.v2a_per_s + summary.a2v_per_s;
    summary.v2a_latency = latency(&v2a);
    summary.a2v_latency = latency(&a2v);
    summary.send_lag = latency(&lag);
    summary.resume = latency(&resume);
    summary.v2a = delivery(&reports, |r| &r.v2a);
    summary.a2v = delivery(&reports, |r| &r.a2v);
    let sockets = summary.visitors_connected;
    if sockets > 0 && !args.server_pids.is_empty() {
        summary.server_rss_per_connection_kib =
            rss_connected.rss_kib.saturating_sub(rss_before.rss_kib) as f64 / sockets as f64;
        summary.server_cpu_cores = (cpu_end.cpu_secs - cpu_start.cpu_secs) / args.duration;
    }
    summary.db_cpu_cores = (db_end.cpu_secs - db_start.cpu_secs) / args.duration;
    summary.machine_busy_cores = (machine_end - machine_start) / args.duration;
    summary.setup_seconds = setup_seconds;
    std::fs::write(&args.out, serde_json::to_string_pretty(&summary)?)?;
    let md = markdown(&summary);
    std::fs::write(&args.summary, &md)?;
    println!("{md}");
    Ok(())
}

fn markdown(s: &Summary) -> String {
    let lat = |l: &Latency| {
        format!(
            "{:.2} / {:.2} / {:.2} ms (max {:.1}, n = {})",
            l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms, l.count
        )
    };
    let del = |d: &Delivery| {
        format!(
            "{} acked, {} not received by the end (lost or late), {} duplicated, {} received without ack",
            d.acked, d.lost, d.duplicated, d.received_unacked
        )
    };
    let map = |m: &BTreeMap<String, u64>| {
        if m.is_empty() {
            "none".to_owned()
        } else {
            m.iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("; ")
        }
    };
    let mut out = format!(
        "### {} ({} {}, {} visitors, {} agents, {} msg/s offered, {} s)\n\n",
        s.label, s.target, s.mode, s.visitors, s.agents, s.offered_rate, s.duration_s
    );
    let rows = [
        (
            "connections held",
            format!(
                "{} visitors + {} agents (opened in {:.1} s)",
                s.visitors_connected, s.agents_connected, s.connect_seconds
            ),
        ),
        (
            "delivered msg/s",
            format!(
                "{:.0} visitor→agent + {:.0} agent→visitor = {:.0}",
                s.v2a_per_s, s.a2v_per_s, s.total_per_s
            ),
        ),
        ("visitor→agent p50 / p99 / p99.9", lat(&s.v2a_latency)),
        ("agent→visitor p50 / p99 / p99.9", lat(&s.a2v_latency)),
        ("visitor→agent delivery", del(&s.v2a)),
        ("agent→visitor delivery", del(&s.a2v)),
        ("sends unacked at the end", s.unacked_at_end.to_string()),
        (
            "reconnects (resume p50 / p99)",
            format!(
                "{} ({:.1} / {:.1} ms)",
                s.reconnects, s.resume.p50_ms, s.resume.p99_ms
            ),
        ),
        ("connect errors", map(&s.connect_errors)),
        ("error frames", map(&s.error_frames)),
        ("sockets closed", map(&s.closes)),
        (
            "server RSS before / connected / peak",
            format!(
                "{:.1} / {:.1} / {:.1} MiB",
                s.server_rss_before_kib as f64 / 1024.0,
                s.server_rss_connected_kib as f64 / 1024.0,
                s.server_rss_peak_kib as f64 / 1024.0
            ),
        ),
        (
            "server RSS per connection",
            format!("{:.1} KiB", s.server_rss_per_connection_kib),
        ),
        (
            "server CPU in the window",
            format!("{:.2} cores", s.server_cpu_cores),
        ),
        (
            "PostgreSQL/Redis CPU in the window",
            format!("{:.2} cores", s.db_cpu_cores),
        ),
        (
            "whole machine busy in the window (2 cores)",
            format!("{:.2} cores", s.machine_busy_cores),
        ),
        (
            "generator CPU (all workers, whole run)",
            format!(
                "{:.1} s; peak RSS {:.0} MiB",
                s.generator_cpu_secs,
                s.generator_peak_rss_kib as f64 / 1024.0
            ),
        ),
        (
            "generator send lag p99",
            format!("{:.2} ms", s.send_lag.p99_ms),
        ),
        ("load average at the end", s.load_average.clone()),
    ];
    out.push_str("| figure | value |\n| --- | --- |\n");
    for (k, v) in rows {
        out.push_str(&format!("| {k} | {v} |\n"));
    }
    out
}

fn compare(out: &PathBuf, files: &[PathBuf]) -> anyhow::Result<()> {
    let runs: Vec<Summary> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).with_context(|| f.display().to_string())?;
            serde_json::from_str(&text).with_context(|| f.display().to_string())
        })
        .collect::<anyhow::Result<_>>()?;
    let Some(first) = runs.first() else {
        bail!("no runs to compare");
    };
    let mut md = String::from(
        "| run | delivered msg/s | ÷ first | v→a p50 / p99 / p99.9 ms | a→v p50 / p99 / p99.9 ms | p99 v→a ÷ first | lost / dup | server CPU (cores) |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for r in &runs {
        let ratio = |a: f64, b: f64| {
            if b > 0.0 {
                format!("{:.2}", a / b)
            } else {
                "–".into()
            }
        };
        md.push_str(&format!(
            "| {} | {:.0} | {} | {:.2} / {:.2} / {:.2} | {:.2} / {:.2} / {:.2} | {} | {} / {} | {:.2} |\n",
            r.label,
            r.total_per_s,
            ratio(r.total_per_s, first.total_per_s),
            r.v2a_latency.p50_ms,
            r.v2a_latency.p99_ms,
            r.v2a_latency.p999_ms,
            r.a2v_latency.p50_ms,
            r.a2v_latency.p99_ms,
            r.a2v_latency.p999_ms,
            ratio(r.v2a_latency.p99_ms, first.v2a_latency.p99_ms),
            r.v2a.lost + r.a2v.lost,
            r.v2a.duplicated + r.a2v.duplicated,
            r.server_cpu_cores,
        ));
    }
    std::fs::write(out, &md)?;
    println!("{md}");
    Ok(())
}
