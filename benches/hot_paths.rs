//! The CPU-only hot paths (issue 8, acceptance 6), each a pure function measured alone:
//!
//! - `frame/encode_item`: [`ServerFrame::encode`] of an `item` frame carrying an outgoing
//!   message (what a conversation actor does once per item, before fanning it out).
//! - `frame/parse_agent_send`, `frame/parse_visitor_send`: [`parse_client_frame`] and
//!   [`parse_visitor_frame`] of a `send` frame (what a session does with every frame it reads).
//! - `routing/decide/{round_robin,least_busy}/N`: [`decide`] over N = 10, 100, 1000 online
//!   candidates, all in the target and the inbox, half of them eligible (the others away, or at
//!   capacity), with a sticky owner among them.
//! - `bot/full_run`: the flow of docs/bots.md from `start` through a choice, a refused then an
//!   accepted email, a number, a webhook result and a branch on agent availability to the
//!   hand-off: the step machine's work over a whole conversation (6 calls).
//! - `bot/answer_question`: one `on_input` at the email question (validation, property, the
//!   next question asked).
//!
//! - `meters/frame_sent`, `meters/store_timer`: what `/metrics` adds to a frame written to a
//!   socket (one counter) and to a store call (a clock read and a histogram sample), with the
//!   Prometheus recorder installed as a node installs it.
//!
//! `cargo test --all-targets` runs each case once (criterion's test mode). Figures in
//! docs/performance.md ("Hot paths").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use parley::actors::protocol::{ServerFrame, parse_client_frame, parse_visitor_frame};
use parley::bots::{self, BotState, Context, Flow, Input};
use parley::domain::{
    Actor, AgentId, AgentStatus, ConversationId, DeliveryStatus, Direction, ItemKind,
    RoutingSettings, RoutingStrategy, RoutingTarget, TimelineItem, TimelineItemId,
};
use parley::routing::{Candidate, Decision, decide};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

/// A reply as agents write them: two sentences.
const BODY: &str = "Thanks for waiting! I have checked your order and it left our warehouse this \
                    morning; you should get a tracking link by email within the hour.";

fn item() -> TimelineItem {
    TimelineItem {
        id: TimelineItemId::new(),
        conversation_id: ConversationId::new(),
        seq: 42,
        client_id: Some(Uuid::new_v4()),
        kind: ItemKind::Message,
        author: Actor::Agent(AgentId::new()),
        direction: Some(Direction::Out),
        body: Some(BODY.to_owned()),
        mentions: Vec::new(),
        data: None,
        delivery_status: Some(DeliveryStatus::Sent),
        delivery_error: None,
        created_at: OffsetDateTime::now_utc(),
    }
}

fn frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame");
    let frame = ServerFrame::Item { item: item() };
    let size = frame.encode().as_str().len();
    group.bench_function("encode_item", |b| b.iter(|| black_box(&frame).encode()));

    let agent_send = json!({
        "type": "send",
        "conversation_id": ConversationId::new(),
        "client_id": Uuid::new_v4(),
        "body": BODY,
    })
    .to_string();
    assert!(parse_client_frame(&agent_send).is_ok());
    group.bench_function("parse_agent_send", |b| {
        b.iter(|| parse_client_frame(black_box(&agent_send)))
    });

    let visitor_send = json!({
        "type": "send",
        "client_id": Uuid::new_v4(),
        "body": BODY,
    })
    .to_string();
    assert!(parse_visitor_frame(&visitor_send).is_ok());
    group.bench_function("parse_visitor_send", |b| {
        b.iter(|| parse_visitor_frame(black_box(&visitor_send)))
    });
    group.finish();
    println!(
        "frame sizes: item {size} bytes, agent send {} bytes, visitor send {} bytes",
        agent_send.len(),
        visitor_send.len()
    );
}

/// `n` online agents: every other one available with room, the rest away or full.
fn candidates(n: usize) -> Vec<Candidate> {
    let now = OffsetDateTime::now_utc();
    (0..n)
        .map(|i| Candidate {
            agent_id: AgentId::new(),
            status: if i % 4 == 1 {
                AgentStatus::Away
            } else {
                AgentStatus::Available
            },
            online: true,
            // Capacity 5: agents 3, 7, 11… are full.
            open: if i % 4 == 3 { 5 } else { (i % 5) as u32 },
            last_assigned_at: (i % 3 != 0).then(|| now - time::Duration::seconds(i as i64)),
        })
        .collect()
}

fn routing(c: &mut Criterion) {
    let mut group = c.benchmark_group("routing/decide");
    for strategy in [RoutingStrategy::RoundRobin, RoutingStrategy::LeastBusy] {
        for n in [10usize, 100, 1000] {
            let candidates = candidates(n);
            let members: Vec<AgentId> = candidates.iter().map(|c| c.agent_id).collect();
            let settings = RoutingSettings {
                target: RoutingTarget::Agents {
                    agent_ids: members.clone(),
                },
                strategy,
                capacity: Some(5),
                sticky_to_owner: true,
            };
            // The owner is the last eligible candidate, so finding them scans the whole list.
            let owner = candidates
                .iter()
                .rev()
                .find(|c| c.status == AgentStatus::Available && c.open < 5)
                .map(|c| c.agent_id);
            let decided = decide(&settings, &members, None, owner, &candidates);
            let Decision::Try(order) = &decided else {
                panic!("expected a try-list, got {decided:?}");
            };
            assert_eq!(order.len(), n / 2, "half are eligible");
            assert_eq!(order.first().copied(), owner, "the sticky owner first");
            let name = match strategy {
                RoutingStrategy::RoundRobin => "round_robin",
                RoutingStrategy::LeastBusy => "least_busy",
            };
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| {
                    decide(
                        black_box(&settings),
                        &members,
                        None,
                        owner,
                        black_box(&candidates),
                    )
                })
            });
        }
    }
    group.finish();
}

/// The example flow of docs/bots.md.
fn docs_flow() -> Flow {
    bots::validate(&json!({
      "version": 1,
      "start": "hello",
      "steps": {
        "hello": { "type": "message", "text": "Hi! I can get you to the right person.", "next": "ask_topic" },
        "ask_topic": {
          "type": "question",
          "text": "What can we help with?",
          "kind": "choice",
          "choices": [
            { "label": "Buying", "value": "sales" },
            { "label": "A problem", "value": "support" }
          ],
          "property": "topic",
          "next": "route_topic"
        },
        "route_topic": {
          "type": "branch",
          "on": "answer",
          "cases": [ { "equals": "sales", "next": "ask_email" } ],
          "else_next": "ask_order"
        },
        "ask_email": {
          "type": "question",
          "text": "What is your work email?",
          "kind": "email",
          "property": "email",
          "retry_text": "That does not look like an email address. Could you check it?",
          "max_attempts": 3,
          "next": "ask_seats"
        },
        "ask_seats": {
          "type": "question", "text": "How many people would use it?", "kind": "number",
          "property": "seats", "next": "enrich"
        },
        "enrich": {
          "type": "webhook",
          "url": "https://crm.example.com/parley/lead",
          "set_properties": { "company": "company.name", "plan": "company.plan" },
          "next": "route_size",
          "on_error_next": "route_size"
        },
        "route_size": {
          "type": "branch",
          "on": { "property": "seats" },
          "cases": [ { "greater_than": 50, "next": "check_agents" } ],
          "else_next": "to_inbox"
        },
        "check_agents": {
          "type": "branch",
          "on": "agents_available",
          "cases": [ { "equals": true, "next": "to_sales" } ],
          "else_next": "sales_ticket"
        },
        "to_sales": {
          "type": "handoff",
          "to": { "team_id": "0190b5f0-0000-7000-8000-000000000001" },
          "message": "Thanks {{email}}! Connecting you with our sales team."
        },
        "sales_ticket": {
          "type": "create_ticket",
          "title": "Sales lead: {{company}} ({{seats}} seats)",
          "next": "bye"
        },
        "ask_order": {
          "type": "question", "text": "Your phone number, in case we get cut off?", "kind": "phone",
          "property": "phone_number", "next": "to_inbox"
        },
        "to_inbox": { "type": "handoff", "to": "inbox" },
        "bye": { "type": "end", "text": "Our team is offline; we will email you shortly." }
      }
    }))
    .expect("the docs/bots.md flow is valid")
}

fn text(s: &str) -> Input {
    Input::Text(s.to_owned())
}

/// One whole conversation with the bot; returns the final state and how many outputs it made.
fn full_run(flow: &Flow, ctx: &Context) -> (BotState, usize) {
    let (state, out) = bots::start(flow, ctx);
    let mut outputs = out.len();
    let inputs = [
        text("sales"),
        text("not an email"),
        text(" Ann@Example.com "),
        text("120"),
        Input::WebhookResult(Ok(json!({"company": {"name": "Acme", "plan": "pro"}}))),
    ];
    let mut state = state;
    for input in inputs {
        let (next, out) = bots::on_input(flow, state, input, ctx);
        outputs += out.len();
        state = next;
    }
    (state, outputs)
}

fn bot(c: &mut Criterion) {
    let flow = docs_flow();
    let properties: Map<String, Value> = Map::new();
    let ctx = Context {
        flow_version: 1,
        properties: &properties,
        agents_available: true,
    };
    let (end, outputs) = full_run(&flow, &ctx);
    assert!(end.finished, "the run ends: {end:?}");
    assert_eq!(end.outcome, Some(bots::Outcome::HandedOff));
    println!("bot full run: {outputs} outputs");

    // The state at the email question, for the single-step case.
    let (state, _) = bots::start(&flow, &ctx);
    let (at_email, _) = bots::on_input(&flow, state, text("sales"), &ctx);
    assert_eq!(at_email.current_step, "ask_email");

    let mut group = c.benchmark_group("bot");
    group.bench_function("full_run", |b| b.iter(|| full_run(black_box(&flow), &ctx)));
    group.bench_function("answer_question", |b| {
        b.iter_batched(
            || at_email.clone(),
            |state| bots::on_input(&flow, state, text("ann@example.com"), &ctx),
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn meters(c: &mut Criterion) {
    use parley::meters::{self, SocketKind, StoreOp};
    let handle = meters::install().unwrap();
    let mut group = c.benchmark_group("meters");
    group.bench_function("frame_sent", |b| {
        b.iter(|| meters::frame_sent(black_box(SocketKind::Agent)))
    });
    group.bench_function("store_timer", |b| {
        b.iter(|| drop(meters::store_timer(black_box(StoreOp::SqliteRead))))
    });
    group.finish();
    let text = handle.render();
    assert!(
        text.contains("parley_socket_frames_sent_total{kind=\"agent\"}"),
        "{text}"
    );
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = frames, routing, bot, meters
}
criterion_main!(benches);
