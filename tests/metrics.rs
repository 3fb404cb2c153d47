//! `/metrics`: after real traffic (an agent socket, a visitor's chat, the routing of the new
//! conversation, a reply), the Prometheus text exposition shows every metric described, and the
//! series moved by that traffic moved; the token and the switch in `[metrics]` are obeyed.
//!
//! The recorder is one per process (docs/metrics.md), so the figures are deltas between two
//! scrapes, and the tests of this file take turns (`SERIAL`) so that another test's sockets do
//! not move the gauges under them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod ws_fixtures;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use serde_json::json;
use ws_fixtures::*;

/// One test of this file at a time: the figures are process-wide.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A scrape: every sample by its series (`name{labels}`), and the HELP lines by metric name.
struct Scrape {
    samples: BTreeMap<String, f64>,
    help: BTreeMap<String, String>,
}

impl Scrape {
    fn parse(text: &str) -> Self {
        let mut samples = BTreeMap::new();
        let mut help = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, text) = rest.split_once(' ').unwrap();
                help.insert(name.to_owned(), text.to_owned());
            } else if !line.starts_with('#') && !line.trim().is_empty() {
                let (series, value) = line.rsplit_once(' ').unwrap();
                let value: f64 = value
                    .parse()
                    .unwrap_or_else(|e| panic!("bad sample {line:?}: {e}"));
                samples.insert(series.to_owned(), value);
            }
        }
        Self { samples, help }
    }

    /// The sum of the samples of `name` whose labels include every one of `labels`; `None`
    /// when no series matches.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = None;
        for (series, value) in &self.samples {
            let (series_name, series_labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series.as_str(), ""),
            };
            if series_name != name {
                continue;
            }
            let has = |(k, v): &(&str, &str)| {
                series_labels
                    .split(',')
                    .any(|pair| pair == format!("{k}=\"{v}\""))
            };
            if labels.iter().all(has) {
                *found.get_or_insert(0.0) += value;
            }
        }
        found
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no series {name} {labels:?} in {:#?}", self.samples))
    }
}

async fn scrape(app: &TestApp) -> Scrape {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    Scrape::parse(&response.text().await.unwrap())
}

/// Scrapes until `done` holds (traffic that follows an ack, such as routing, lands a moment
/// later), failing after the sockets' patience.
async fn scrape_until(app: &TestApp, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let now = scrape(app).await;
        if done(&now) {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen in time: {:#?}",
            now.samples
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const AGENT: &[(&str, &str)] = &[("kind", "agent")];
const VISITOR: &[(&str, &str)] = &[("kind", "visitor")];
const IN_PROCESS: &[(&str, &str)] = &[("backend", "in_process")];
const STORE_COUNT: &str = "parley_store_operation_duration_seconds_count";

async fn traffic_moves_the_figures_of_its_series(backend: Backend) {
    let _turn = SERIAL.lock().await;
    let app = spawn_app(backend).await;
    let store_backend: &[(&str, &str)] = match backend {
        Backend::Sqlite => &[("backend", "sqlite")],
        Backend::Postgres => &[("backend", "postgres")],
    };
    let (_inbox, channel) = chat_inbox(&app, &[app.admin.id.to_string()]).await;
    let before = scrape(&app).await;

    // Every metric is described, so Prometheus shows what it means.
    for name in [
        "parley_sockets_open",
        "parley_socket_frames_received_total",
        "parley_socket_frames_sent_total",
        "parley_slow_consumers_closed_total",
        "parley_bus_published_total",
        "parley_bus_received_total",
        "parley_store_operation_duration_seconds",
        "parley_routing_decisions_total",
        "parley_outbox_pending",
    ] {
        assert!(
            before.help.get(name).is_some_and(|h| !h.is_empty()),
            "no HELP for {name}: {:?}",
            before.help
        );
    }
    // Every slow-consumer and routing series exists before anything happened, at its value.
    for kind in [AGENT, VISITOR] {
        before.value("parley_slow_consumers_closed_total", kind);
    }
    for outcome in ["assigned", "queued", "not_routed", "skipped", "failed"] {
        before.value("parley_routing_decisions_total", &[("outcome", outcome)]);
    }

    // The agent connects; a visitor starts a chat (stored, published, routed); the agent
    // subscribes, reads it and replies; the visitor reads the reply.
    let mut agent = Socket::agent(&app, &app.admin_token).await;
    let (_visit, mut visitor, conversation) = visitor_starts_chat(&app, &channel, "hello?").await;
    let last = agent.subscribe(&conversation, 0).await;
    assert_eq!(agent.items(last as usize).await.len(), last as usize);
    let client_id = uuid();
    agent
        .send(send_frame(&conversation, &client_id, "Hi, how can I help?"))
        .await;
    loop {
        let frame = agent.next().await;
        if frame["type"] == "ack" {
            assert_eq!(frame["client_id"], client_id.as_str());
            break;
        }
    }
    loop {
        let frame = visitor.next().await;
        if frame["type"] == "item" && frame["item"]["body"] == "Hi, how can I help?" {
            break;
        }
    }

    let during = scrape_until(&app, "the routing of the new conversation", |now| {
        now.value("parley_routing_decisions_total", &[])
            > before.value("parley_routing_decisions_total", &[])
    })
    .await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        during.value(name, labels) - before.get(name, labels).unwrap_or(0.0)
    };

    assert_eq!(
        delta("parley_sockets_open", AGENT),
        1.0,
        "one agent socket opened"
    );
    assert_eq!(
        delta("parley_sockets_open", VISITOR),
        1.0,
        "one visitor socket opened"
    );
    // Agent: auth, subscribe, send. Visitor: auth, send, subscribe.
    assert!(delta("parley_socket_frames_received_total", AGENT) >= 3.0);
    assert!(delta("parley_socket_frames_received_total", VISITOR) >= 3.0);
    // Agent: hello, subscribed, the visitor's message, its own reply, the ack. Visitor:
    // hello, ack, subscribed, the reply.
    assert!(delta("parley_socket_frames_sent_total", AGENT) >= 5.0);
    assert!(delta("parley_socket_frames_sent_total", VISITOR) >= 4.0);
    // Two messages published on their conversation's topic; each reached a subscription.
    assert!(delta("parley_bus_published_total", IN_PROCESS) >= 2.0);
    assert!(delta("parley_bus_received_total", IN_PROCESS) >= 2.0);
    assert_eq!(
        delta("parley_bus_published_total", &[("backend", "redis")]),
        0.0
    );
    // Every store call of that traffic was timed, on this app's backend.
    assert!(
        delta(STORE_COUNT, store_backend) >= 4.0,
        "store operations: {}",
        delta(STORE_COUNT, store_backend)
    );
    assert!(during.value("parley_store_operation_duration_seconds_sum", store_backend) > 0.0);
    assert!(
        during.value(
            "parley_store_operation_duration_seconds_bucket",
            &[store_backend[0], ("le", "+Inf")]
        ) >= during.value(STORE_COUNT, store_backend),
        "the +Inf bucket holds every observation"
    );
    // The inbox does not route (its target is "unassigned"): the new conversation was
    // decided "not routed" (and so was any drain the agent's coming online started).
    let decisions = delta("parley_routing_decisions_total", &[]);
    assert!(decisions >= 1.0);
    assert_eq!(
        delta(
            "parley_routing_decisions_total",
            &[("outcome", "not_routed")]
        ),
        decisions
    );
    // Nothing was sent on email or Messenger: no backlog.
    assert_eq!(during.value("parley_outbox_pending", &[]), 0.0);
    match backend {
        Backend::Postgres => {
            let open = during.value("parley_store_pool_connections", &[]);
            let idle = during.value("parley_store_pool_available", &[]);
            assert!(
                open >= 1.0 && idle <= open,
                "pool: {open} open, {idle} idle"
            );
            during.value("parley_store_pool_waiting", &[]);
        }
        Backend::Sqlite => {}
    }

    // Closed sockets leave the gauge.
    drop(agent);
    drop(visitor);
    scrape_until(&app, "the sockets to close", |now| {
        now.value("parley_sockets_open", AGENT) == before.value("parley_sockets_open", AGENT)
            && now.value("parley_sockets_open", VISITOR)
                == before.value("parley_sockets_open", VISITOR)
    })
    .await;
}

on_both_backends!(traffic_moves_the_figures_of_its_series);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_token_is_required_when_set() {
    let _turn = SERIAL.lock().await;
    let app = spawn_app_with(Backend::Sqlite, &[("PARLEY__METRICS__TOKEN", "scrape-me")]).await;
    for (header, status) in [
        (None, 401),
        (Some("Bearer wrong"), 401),
        (Some("scrape-me"), 401),
        (Some("Bearer scrape-me"), 200),
    ] {
        let mut request = app.client.get(app.url("/metrics"));
        if let Some(header) = header {
            request = request.header("authorization", header);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{header:?}");
        if status == 401 {
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["error"], "unauthenticated", "{body}");
        } else {
            let text = response.text().await.unwrap();
            assert!(text.contains("# HELP parley_sockets_open"), "{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_switched_off_are_not_served() {
    let _turn = SERIAL.lock().await;
    let app = spawn_app_with(Backend::Sqlite, &[("PARLEY__METRICS__ENABLED", "false")]).await;
    let answer = app.call("GET", "/metrics", None, None).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.code(), "no_route", "{:?}", answer.body);
    // The API itself is unaffected.
    assert_eq!(
        app.call("GET", "/healthz", None, None).await.body,
        json!({"status": "ok"})
    );
}
