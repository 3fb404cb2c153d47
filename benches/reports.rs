//! Reports over 1,000,000 events on PostgreSQL (issue 7, acceptance 5): the time from asking
//! the store for a range's events to having every table ([`parley::reports::compute`]), which
//! is all the `/api/v1/reports/*` handlers do besides encoding the answer.
//!
//! The data: 100,000 conversations over one year (2026 UTC, one every 315 s) in 5 inboxes,
//! 10 channels, 4 teams and 20 agents, 10 events each (created, two contact messages, two
//! agent replies, assignment, close, and a bot run of two steps that completes or hands off):
//! 1,000,000 events, written server-side with `generate_series`. The database
//! (`parley_bench_reports` on the server of `PARLEY_TEST_POSTGRES_URL`) is kept and reused by
//! later runs, so only the first run pays the seeding (about a minute).
//!
//! - `reports/30_days`: October (about 82,000 of the events are read).
//! - `reports/7_days`: one week of October.
//! - `reports/30_days_one_inbox`: October, one inbox (a fifth of that).
//!
//! Before those, one timed run each of October and of the whole year (every one of the
//! 1,000,000 events read: the worst case) is printed, split into the store read and the
//! computation.
//!
//! `cargo test --all-targets` runs each case once (criterion's test mode) over the same data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use parley::domain::{AccountId, InboxId, Name};
use parley::reports::{self, Filters, InboxHours, Period, rollup};
use parley::store::{self, DynStore, ReportScope};
use tokio::runtime::Runtime;
use uuid::Uuid;

const DATABASE: &str = "parley_bench_reports_year";
const CONVERSATIONS: i64 = 100_000;
const EVENTS_PER_CONVERSATION: i64 = 10;

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

/// The seeded store, its account and its inboxes (seeding on first use).
async fn seeded() -> (DynStore, AccountId, Vec<InboxId>) {
    let admin_url = std::env::var("PARLEY_TEST_POSTGRES_URL")
        .expect("PARLEY_TEST_POSTGRES_URL is not set: source /tmp/dev.env or name a server");
    let admin = connect(&admin_url).await;
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&DATABASE])
        .await
        .unwrap()
        .is_some();
    if !exists {
        admin
            .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
            .await
            .unwrap();
    }
    let url = database_url(&admin_url, DATABASE);
    let store = store::connect(&url, 4).await.expect("open store");
    let db = connect(&url).await;
    let account: Option<Uuid> = db
        .query_opt("SELECT id FROM accounts ORDER BY id LIMIT 1", &[])
        .await
        .unwrap()
        .map(|r| r.get(0));
    let account = match account {
        Some(id) => AccountId(id),
        None => {
            store
                .create_account(Name::parse("Bench").unwrap())
                .await
                .unwrap()
                .id
        }
    };
    let events: i64 = db
        .query_one(
            "SELECT count(*) FROM events WHERE account_id = $1",
            &[&account.0],
        )
        .await
        .unwrap()
        .get(0);
    if events == 0 {
        seed(&db, account).await;
    }
    let inboxes = db
        .query(
            "SELECT DISTINCT inbox_id FROM events WHERE account_id = $1 ORDER BY inbox_id",
            &[&account.0],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| InboxId(r.get(0)))
        .collect();
    (store, account, inboxes)
}

async fn seed(db: &tokio_postgres::Client, account: AccountId) {
    let ids = |n: usize| (0..n).map(|_| Uuid::now_v7()).collect::<Vec<_>>();
    let (inboxes, channels, teams, agents) = (ids(5), ids(10), ids(4), ids(20));
    let chatflow = Uuid::now_v7();
    let started = std::time::Instant::now();
    db.execute(
        "WITH c AS (
             SELECT n, gen_random_uuid() AS id,
                    ($2::uuid[])[1 + n % 5] AS inbox,
                    ($3::uuid[])[1 + n % 10] AS channel,
                    ($4::uuid[])[1 + n % 4] AS team,
                    ($5::uuid[])[1 + n % 20] AS agent,
                    timestamptz '2026-01-01 00:00:00+00' + n * interval '315.36 seconds' AS t0
             FROM generate_series(0::bigint, $7::bigint - 1) AS n
         )
         INSERT INTO events (account_id, kind, inbox_id, conversation_id, agent_id, data,
                             occurred_at)
         SELECT $1, v.kind, c.inbox, c.id, v.agent, v.data, c.t0 + v.after
         FROM c CROSS JOIN LATERAL (VALUES
             ('conversation.created', NULL::uuid,
              jsonb_build_object('channel_id', c.channel, 'channel_kind', 'chat',
                                 'contact_id', gen_random_uuid()), interval '0'),
             ('message.received', NULL, jsonb_build_object('seq', 1), interval '5 seconds'),
             ('bot.step', NULL, jsonb_build_object('chatflow_id', $6::uuid, 'step', 'hello',
                                                   'kind', 'entered'), interval '6 seconds'),
             ('bot.step', NULL, jsonb_build_object('chatflow_id', $6::uuid, 'step', 'hello',
                                                   'kind', 'completed'), interval '6 seconds'),
             ('bot.finished', NULL,
              jsonb_build_object('chatflow_id', $6::uuid, 'outcome',
                                 CASE WHEN c.n % 3 = 0 THEN 'completed' ELSE 'handed_off' END),
              interval '60 seconds'),
             ('conversation.assigned', NULL,
              jsonb_build_object('assignee_id', c.agent, 'team_id', c.team), interval '60 seconds'),
             ('message.sent', c.agent, jsonb_build_object('seq', 3),
              interval '60 seconds' + (c.n % 600) * interval '1 second'),
             ('message.received', NULL, jsonb_build_object('seq', 4), interval '900 seconds'),
             ('message.sent', c.agent, jsonb_build_object('seq', 5), interval '1000 seconds'),
             ('conversation.status_changed', c.agent,
              jsonb_build_object('from', 'open', 'to', 'closed'),
              interval '3600 seconds' + (c.n % 7200) * interval '1 second')
         ) AS v(kind, agent, data, after)",
        &[
            &account.0,
            &inboxes,
            &channels,
            &teams,
            &agents,
            &chatflow,
            &CONVERSATIONS,
        ],
    )
    .await
    .unwrap();
    db.batch_execute("ANALYZE events").await.unwrap();
    eprintln!(
        "seeded {} events in {:.1} s",
        CONVERSATIONS * EVENTS_PER_CONVERSATION,
        started.elapsed().as_secs_f64()
    );
}

/// One report: reading the range's rollups (after settling the account, which finds nothing
/// left to do once the first settle is done) and computing every table. Returns the
/// conversations read.
async fn report(
    store: &DynStore,
    account: AccountId,
    period: &Period,
    inboxes: Option<Vec<InboxId>>,
) -> usize {
    let facts = rollup::read(
        store,
        account,
        ReportScope {
            from: period.start(),
            to: period.end(),
            inboxes,
        },
    )
    .await
    .unwrap();
    let report = reports::aggregate(&facts, period, &Filters::default(), &InboxHours::new());
    assert!(!report.agents.is_empty(), "the seeded agents have figures");
    facts.len()
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let (store, account, inboxes) = rt.block_on(seeded());
    let month = Period::parse("2026-10-01", "2026-10-30", Some("UTC")).unwrap();
    let week = Period::parse("2026-10-12", "2026-10-18", Some("UTC")).unwrap();
    let year = Period::parse("2026-01-01", "2026-12-31", Some("UTC")).unwrap();
    // The seeding wrote 1,000,000 events at once, so every rollup starts behind: the first
    // settle derives all 100,000 (a one-off: afterwards only conversations with new events).
    let t = std::time::Instant::now();
    let settled = rt.block_on(rollup::settle(&store, Some(account))).unwrap();
    eprintln!(
        "settled {settled} rollups in {:.3} s",
        t.elapsed().as_secs_f64()
    );
    for (name, period) in [("30 days", &month), ("365 days", &year)] {
        let scope = ReportScope {
            from: period.start(),
            to: period.end(),
            inboxes: None,
        };
        let t = std::time::Instant::now();
        let facts = rt.block_on(rollup::read(&store, account, scope)).unwrap();
        let read_time = t.elapsed();
        let t = std::time::Instant::now();
        reports::aggregate(&facts, period, &Filters::default(), &InboxHours::new());
        eprintln!(
            "{name}: {} conversations' rollups read in {:.3} s, computed in {:.3} s",
            facts.len(),
            read_time.as_secs_f64(),
            t.elapsed().as_secs_f64()
        );
    }
    let mut group = c.benchmark_group("reports");
    group.sample_size(10);
    group.bench_function("30_days", |b| {
        b.iter(|| rt.block_on(report(&store, account, &month, None)))
    });
    group.bench_function("365_days", |b| {
        b.iter(|| rt.block_on(report(&store, account, &year, None)))
    });
    group.bench_function("7_days", |b| {
        b.iter(|| rt.block_on(report(&store, account, &week, None)))
    });
    let one = Some(vec![inboxes[0]]);
    group.bench_function("30_days_one_inbox", |b| {
        b.iter(|| rt.block_on(report(&store, account, &month, one.clone())))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
