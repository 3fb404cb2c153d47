//! Durable appends on PostgreSQL (issue 8, acceptance 4 and 6): timeline items stored one per
//! transaction against many per transaction, and the messages per second a node's
//! `AppendBatcher` stores with many writers at once.
//!
//! The server is `PARLEY_TEST_POSTGRES_URL`'s; the bench creates its own database
//! (`parley_bench_append_<random>`), holding one account, one chat channel and
//! [`CONVERSATIONS`] conversations, and drops it at the end. It prints the server's durability
//! settings first and refuses to run unless `synchronous_commit` is `on`: every figure is of
//! commits that waited for their WAL to be flushed (unless the server runs with `fsync = off`,
//! which the bench prints as a warning; the figures are then not of durable commits).
//!
//! Criterion group `store append batch`:
//! - `single`: one `Store::append_item` (one transaction, one commit).
//! - `batch/N` (N = 16, 64, 256): one `Store::append_items` of N messages, each to another
//!   conversation (one transaction, one commit). Throughput is reported per message.
//!
//! Then, printed: messages per second with W concurrent writers (8, 32, 128), each appending a
//! message to a conversation picked at random of [`CONVERSATIONS`] and waiting for it before the
//! next (as a socket session waits for its ack), for `PARLEY_BENCH_SECONDS` (default 10) each:
//! through an `AppendBatcher` of [`POSTGRES_LANES`] lanes (what a node on PostgreSQL uses for
//! sockets and REST), of one lane, and with `append_item` directly (one commit per message);
//! with the transactions written, so the mean batch, and the latency of one append (p50, p99).
//! `PARLEY_BENCH_WRITERS` and `PARLEY_BENCH_LANES` (comma-separated) change the writers and the
//! lane counts tried; a criterion filter that matches nothing (e.g. `--bench none`) skips the
//! criterion cases.
//!
//! `cargo test --benches` runs each case once and the throughput part for one second.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use parley::domain::*;
use parley::store::batcher::POSTGRES_LANES;
use parley::store::{self, AppendBatcher, AppendRequest, DynStore};
use uuid::Uuid;

/// Conversations the appends spread over.
const CONVERSATIONS: usize = 2_000;
/// Connections in the store's pool: enough for 32 writers appending one at a time each.
const POOL: usize = 32;

fn database_url(admin_url: &str, db: &str) -> String {
    let (base, query) = admin_url
        .split_once('?')
        .map_or((admin_url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut url = format!("{}/{db}", &base[..path_start]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(conn);
    client
}

/// The bench's database, dropped when the bench ends.
struct BenchDb {
    admin_url: String,
    name: String,
    url: String,
}

impl BenchDb {
    async fn create() -> Self {
        let admin_url = std::env::var("PARLEY_TEST_POSTGRES_URL")
            .expect("PARLEY_TEST_POSTGRES_URL is not set: source /tmp/dev.env or name a server");
        let name = format!("parley_bench_append_{}", Uuid::new_v4().simple());
        connect(&admin_url)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let url = database_url(&admin_url, &name);
        Self {
            admin_url,
            name,
            url,
        }
    }

    async fn drop_database(&self) {
        connect(&self.admin_url)
            .await
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await
            .unwrap();
    }
}

/// Prints the settings that decide what a commit waits for; panics unless commits wait for
/// the WAL flush.
async fn show_durability(db: &tokio_postgres::Client) {
    let mut settings = Vec::new();
    for name in [
        "server_version",
        "fsync",
        "synchronous_commit",
        "wal_sync_method",
        "full_page_writes",
        "commit_delay",
        "data_directory",
    ] {
        let value: String = match db.query_one(&format!("SHOW {name}"), &[]).await {
            Ok(row) => row.get(0),
            Err(e) => format!("(not shown: {e})"),
        };
        settings.push((name, value));
    }
    println!("PostgreSQL settings of the bench's database:");
    for (name, value) in &settings {
        println!("  {name} = {value}");
    }
    let value = |wanted: &str| {
        settings
            .iter()
            .find(|(name, _)| *name == wanted)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(
        value("synchronous_commit"),
        Some("on"),
        "the bench measures durable commits: synchronous_commit must be on"
    );
    if value("fsync") == Some("off") {
        println!(
            "  WARNING: fsync is off on this server: commits do not wait for the disk, so these \
             figures are NOT of durable commits"
        );
    }
}

struct World {
    store: DynStore,
    account: AccountId,
    contact: ContactId,
    conversations: Vec<ConversationId>,
}

async fn world(url: &str) -> World {
    let store = store::connect(url, POOL).await.expect("open store");
    let account = store
        .create_account(Name::parse("Bench").unwrap())
        .await
        .unwrap()
        .id;
    let inbox = store
        .create_inbox(
            account,
            NewInbox {
                name: Name::parse("Support").unwrap(),
                routing: RoutingSettings::default(),
                notification_defaults: NotificationPrefs::default(),
                email_filters: EmailFilters::default(),
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
                name: Name::parse("Website").unwrap(),
                settings: Default::default(),
            },
        )
        .await
        .unwrap();
    let contact = store
        .create_contact(
            account,
            NewContact {
                name: Some(Name::parse("Visitor").unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    let mut conversations = Vec::with_capacity(CONVERSATIONS);
    for _ in 0..CONVERSATIONS / 50 {
        let created: Vec<_> = (0..50)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .create_conversation(
                            account,
                            NewConversation {
                                channel_id: channel.id,
                                contact_id: contact,
                                subject: None,
                            },
                            Actor::Contact(contact),
                        )
                        .await
                        .unwrap()
                        .id
                })
            })
            .collect();
        for task in created {
            conversations.push(task.await.unwrap());
        }
    }
    World {
        store,
        account,
        contact,
        conversations,
    }
}

fn message(contact: ContactId, n: usize) -> NewItem {
    NewItem {
        client_id: Some(Uuid::new_v4()),
        author: Actor::Contact(contact),
        content: NewItemContent::Message {
            direction: Direction::In,
            body: Body::parse(&format!("Hello, is anyone there? ({n})")).unwrap(),
        },
    }
}

/// A cheap per-writer random sequence (xorshift), so writers do not share a lock for it.
struct Pick(u64);

impl Pick {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below as u64) as usize
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Path {
    /// Through an `AppendBatcher` of this many lanes.
    Batcher(usize),
    /// `append_item` directly: one transaction per message.
    Single,
}

/// W writers for `run`, each appending and waiting: messages per second and latencies.
async fn throughput(w: &World, path: Path, writers: usize, run: Duration) {
    let batcher = AppendBatcher::spawn(w.store.clone(), lanes(path));
    let stored = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let (store, batcher, stored) = (w.store.clone(), batcher.clone(), stored.clone());
            let (account, contact) = (w.account, w.contact);
            let conversations = w.conversations.clone();
            tokio::spawn(async move {
                let mut pick = Pick(0x9E37_79B9_7F4A_7C15 ^ ((writer as u64 + 1) * 0x1234_5678));
                let mut latencies = Vec::new();
                let mut n = 0;
                while start.elapsed() < run {
                    let conversation = conversations[pick.next(conversations.len())];
                    let item = message(contact, n);
                    let began = Instant::now();
                    let appended = match path {
                        Path::Batcher(_) => batcher.append(account, conversation, item).await,
                        Path::Single => store.append_item(account, conversation, item).await,
                    }
                    .expect("append");
                    latencies.push(began.elapsed());
                    assert!(appended.created);
                    stored.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = start.elapsed();
    let stored = stored.load(Ordering::Relaxed);
    let (batches, appends) = match path {
        Path::Batcher(_) => batcher.written(),
        Path::Single => (stored as u64, stored as u64),
    };
    assert_eq!(appends, stored as u64, "every append answered was written");
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    let name = match path {
        Path::Batcher(lanes) => format!("AppendBatcher, {lanes} lane(s)"),
        Path::Single => "append_item, no batching".to_owned(),
    };
    println!(
        "{name:<26} {writers:>3} writers: {stored:>6} messages in {:.1} s = {:>5.0} durable \
         messages/s; {batches} transactions ({:.1} messages each); latency p50 {:.1} ms, \
         p99 {:.1} ms",
        elapsed.as_secs_f64(),
        stored as f64 / elapsed.as_secs_f64(),
        stored as f64 / batches.max(1) as f64,
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
    );
}

fn lanes(path: Path) -> usize {
    match path {
        Path::Batcher(lanes) => lanes,
        Path::Single => 1,
    }
}

fn bench(c: &mut Criterion) {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(BenchDb::create());
    let raw = rt.block_on(connect(&db.url));
    let w = rt.block_on(world(&db.url));
    rt.block_on(show_durability(&raw));

    let mut group = c.benchmark_group("store append batch");
    group.sample_size(20);
    let mut next = 0usize;
    let mut conversation = || {
        next = (next + 1) % w.conversations.len();
        w.conversations[next]
    };
    group.throughput(Throughput::Elements(1));
    group.bench_function("single", |b| {
        b.iter(|| {
            let item = message(w.contact, 0);
            let conv = conversation();
            rt.block_on(w.store.append_item(w.account, conv, item))
                .unwrap()
        })
    });
    for size in [16usize, 64, 256] {
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::new("batch", size), &size, |b, &size| {
            b.iter(|| {
                let appends: Vec<AppendRequest> = (0..size)
                    .map(|n| AppendRequest {
                        account: w.account,
                        conversation: conversation(),
                        item: message(w.contact, n),
                    })
                    .collect();
                let results = rt.block_on(w.store.append_items(appends));
                assert!(results.iter().all(|r| r.is_ok()));
                results
            })
        });
    }
    group.finish();

    let seconds = if bench_mode {
        std::env::var("PARLEY_BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10)
    } else {
        1
    };
    let run = Duration::from_secs(seconds);
    println!(
        "\nThroughput: writers each append one message (to one of {CONVERSATIONS} conversations, \
         at random) and wait for it, {seconds} s per line:"
    );
    let list = |name: &str, default: Vec<usize>| -> Vec<usize> {
        std::env::var(name).map_or(default, |v| {
            v.split(',')
                .map(|n| n.trim().parse().expect(name))
                .collect()
        })
    };
    let lanes = list("PARLEY_BENCH_LANES", vec![POSTGRES_LANES, 1]);
    for writers in list("PARLEY_BENCH_WRITERS", vec![8, 32, 128]) {
        let paths = lanes
            .iter()
            .map(|&l| Path::Batcher(l))
            .chain([Path::Single]);
        for path in paths {
            if !bench_mode && (writers != 8 || path != Path::Batcher(POSTGRES_LANES)) {
                continue;
            }
            rt.block_on(throughput(&w, path, writers, run));
        }
    }
    drop(raw);
    drop(w);
    rt.block_on(db.drop_database());
}

criterion_group!(benches, bench);
criterion_main!(benches);
