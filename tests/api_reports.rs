//! The reports API: figures from seeded event histories, each worked out by hand in the
//! comments next to them (definitions: docs/reports.md), on both store backends; one case driven
//! through the real API; bad input named; CSV export; only the caller's inboxes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_fixtures;
mod common;

use api_fixtures::*;
use common::*;
use parley::domain::{AgentId, ChannelKind, ChatflowId, ConversationId, InboxId, NewEvent, TeamId};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

/// Writes events of one conversation as the store's own writers shape them.
struct Conv<'a> {
    w: &'a World,
    id: ConversationId,
    inbox: InboxId,
}

impl Conv<'_> {
    async fn event(&self, kind: &str, agent: Option<AgentId>, data: Value, at: OffsetDateTime) {
        self.w
            .app
            .store
            .append_event(
                self.w.account,
                NewEvent {
                    kind: kind.to_owned(),
                    inbox_id: Some(self.inbox),
                    conversation_id: Some(self.id),
                    agent_id: agent,
                    data,
                    occurred_at: at,
                },
            )
            .await
            .unwrap();
    }
    async fn received(&self, at: OffsetDateTime) {
        self.event("message.received", None, json!({"seq": 1}), at)
            .await;
    }
    async fn sent(&self, agent: Option<AgentId>, at: OffsetDateTime) {
        self.event("message.sent", agent, json!({"seq": 2}), at)
            .await;
    }
    async fn assigned(
        &self,
        by: Option<AgentId>,
        to: Option<AgentId>,
        team: Option<TeamId>,
        at: OffsetDateTime,
    ) {
        let data = json!({"assignee_id": to, "team_id": team});
        self.event("conversation.assigned", by, data, at).await;
    }
    async fn status(&self, by: Option<AgentId>, from: &str, to: &str, at: OffsetDateTime) {
        let data = json!({"from": from, "to": to});
        self.event("conversation.status_changed", by, data, at)
            .await;
    }
    async fn bot_step(&self, flow: ChatflowId, step: &str, kind: &str, at: OffsetDateTime) {
        let data = json!({"chatflow_id": flow, "step": step, "kind": kind});
        self.event("bot.step", None, data, at).await;
    }
    async fn bot_finished(&self, flow: ChatflowId, outcome: &str, at: OffsetDateTime) {
        let data = json!({"chatflow_id": flow, "outcome": outcome});
        self.event("bot.finished", None, data, at).await;
    }
}

async fn conversation<'a>(
    w: &'a World,
    channel: &parley::domain::Channel,
    at: OffsetDateTime,
) -> Conv<'a> {
    let conv = Conv {
        w,
        id: ConversationId::new(),
        inbox: channel.inbox_id,
    };
    let data =
        json!({"channel_id": channel.id, "channel_kind": channel.kind, "contact_id": w.contact.id});
    conv.event("conversation.created", None, data, at).await;
    conv
}

struct Seeded {
    team: TeamId,
    flow: ChatflowId,
    email: parley::domain::Channel,
}

/// The histories of the agent and bot cases, in inbox Support (`w.inbox`), October 2026:
///
/// C1, chat, created Mon 2026-10-05 09:00Z; a bot runs, hands off at 09:02, and the
///   conversation goes to `member` (team T). `member` answers 09:05; it is reassigned to the
///   admin at 09:20, who replies 09:30 and closes 10:00. Reopened by mail 10-06 08:00Z, the
///   contact writes at once, the admin answers 08:10, the system closes it 09:00 (the admin
///   still holds it).
/// C2, email, created Sun 2026-10-04 23:00Z (before the range in UTC): the contact writes at
///   once, `member` answers 10-05 01:00 and closes 02:00.
/// C3, chat, created and answered 2026-10-07 10:00Z, after the range in UTC: counted nowhere.
async fn seed(w: &World) -> Seeded {
    let admin = Some(w.app.admin.id);
    let member = Some(w.member.id);
    let team = w
        .app
        .store
        .create_team(
            w.account,
            parley::domain::Name::parse("Tier 1").unwrap(),
            vec![w.member.id],
        )
        .await
        .unwrap()
        .id;
    let flow = ChatflowId::new();
    let email = add_channel(&w.app, w.account, &w.inbox, ChannelKind::Email).await;

    let c1 = conversation(w, &w.channel, datetime!(2026-10-05 09:00 UTC)).await;
    c1.received(datetime!(2026-10-05 09:00 UTC)).await;
    c1.bot_step(flow, "hello", "entered", datetime!(2026-10-05 09:00:01 UTC))
        .await;
    c1.sent(None, datetime!(2026-10-05 09:00:01 UTC)).await; // the bot speaks
    c1.bot_step(
        flow,
        "hello",
        "completed",
        datetime!(2026-10-05 09:00:01 UTC),
    )
    .await;
    c1.bot_step(flow, "ask", "entered", datetime!(2026-10-05 09:00:01 UTC))
        .await;
    c1.bot_step(flow, "ask", "handed_off", datetime!(2026-10-05 09:02 UTC))
        .await;
    c1.bot_finished(flow, "handed_off", datetime!(2026-10-05 09:02 UTC))
        .await;
    c1.assigned(None, member, Some(team), datetime!(2026-10-05 09:02 UTC))
        .await;
    c1.sent(member, datetime!(2026-10-05 09:05 UTC)).await;
    c1.assigned(admin, admin, Some(team), datetime!(2026-10-05 09:20 UTC))
        .await;
    c1.sent(admin, datetime!(2026-10-05 09:30 UTC)).await;
    c1.status(admin, "open", "closed", datetime!(2026-10-05 10:00 UTC))
        .await;
    c1.status(None, "closed", "open", datetime!(2026-10-06 08:00 UTC))
        .await;
    c1.received(datetime!(2026-10-06 08:00 UTC)).await;
    c1.sent(admin, datetime!(2026-10-06 08:10 UTC)).await;
    c1.status(None, "open", "closed", datetime!(2026-10-06 09:00 UTC))
        .await;

    let c2 = conversation(w, &email, datetime!(2026-10-04 23:00 UTC)).await;
    c2.received(datetime!(2026-10-04 23:00 UTC)).await;
    c2.sent(member, datetime!(2026-10-05 01:00 UTC)).await;
    c2.status(member, "open", "closed", datetime!(2026-10-05 02:00 UTC))
        .await;

    let c3 = conversation(w, &w.channel, datetime!(2026-10-07 10:00 UTC)).await;
    c3.received(datetime!(2026-10-07 10:00 UTC)).await;
    c3.sent(member, datetime!(2026-10-07 10:05 UTC)).await;
    Seeded { team, flow, email }
}

fn row<'a>(body: &'a Value, key: &str, id: impl ToString) -> &'a Value {
    let id = json!(id.to_string());
    body["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows in {body}"))
        .iter()
        .find(|r| r[key] == id)
        .unwrap_or_else(|| panic!("no row with {key} = {id} in {body}"))
}

fn durations(row: &Value, name: &str) -> (u64, Option<i64>, Option<i64>) {
    let d = &row[name];
    (
        d["count"].as_u64().unwrap(),
        d["median_seconds"].as_i64(),
        d["p90_seconds"].as_i64(),
    )
}

async fn agent_figures_follow_reassignment_reopen_and_bot_hand_off(backend: Backend) {
    let w = World::new(backend).await;
    seed(&w).await;
    let answer = w
        .app
        .get(
            "/api/v1/reports/agents?from=2026-10-05&to=2026-10-06&tz=UTC",
            &w.admin,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["tz"], "UTC");
    // member: replies C1 09:05 and C2 01:00 (C3's is after the range): 2 replies, 2 conversations.
    // First responses: C1 09:05 - 09:02 (the hand-off, later than the 09:00 start) = 180 s;
    // C2 01:00 - 23:00 the day before = 7200 s (the reply is in the range, so it counts).
    // Sorted [180, 7200]: median rank ⌈0.5·2⌉ = 1 → 180; p90 rank ⌈0.9·2⌉ = 2 → 7200.
    // Closes: C2 at 02:00, 3 h after its start = 10800 s. C1's closes are not member's:
    // the reassignment gave it to the admin.
    let member = row(&answer.body, "agent_id", w.member.id);
    assert_eq!(member["replies_sent"], 2);
    assert_eq!(member["conversations_replied"], 2);
    assert_eq!(
        durations(member, "first_response"),
        (2, Some(180), Some(7200))
    );
    assert_eq!(
        durations(member, "time_to_close"),
        (1, Some(10800), Some(10800))
    );
    // admin: replies C1 09:30 and 10-06 08:10: 2 replies, 1 conversation. 09:30 is not a first
    // response (member answered first); after the reopening at 08:00 the first reply is the
    // admin's at 08:10: 600 s. Closes: 10:00 by the admin, 3600 s after the 09:00 start; 09:00
    // on 10-06 by the system, credited to the assignee then (the admin), 3600 s after the
    // reopening at 08:00 (not 24 h after the start).
    let admin = row(&answer.body, "agent_id", w.app.admin.id);
    assert_eq!(admin["replies_sent"], 2);
    assert_eq!(admin["conversations_replied"], 1);
    assert_eq!(
        durations(admin, "first_response"),
        (1, Some(600), Some(600))
    );
    assert_eq!(
        durations(admin, "time_to_close"),
        (2, Some(3600), Some(3600))
    );
    assert_eq!(
        answer.body["rows"].as_array().unwrap().len(),
        2,
        "{}",
        answer.body
    );
    // No office hours on the inbox: the office-hours figures are the wall-clock ones.
    assert_eq!(
        durations(admin, "first_response_office_hours"),
        (1, Some(600), Some(600))
    );

    // In Los Angeles (UTC-7 in October) the same days run 10-05 07:00Z to 10-07 07:00Z: C2's
    // reply (01:00Z) and close (02:00Z) fall on 10-04 local, outside. member keeps C1 only.
    let la = w
        .app
        .get(
            "/api/v1/reports/agents?from=2026-10-05&to=2026-10-06&tz=America/Los_Angeles",
            &w.admin,
        )
        .await;
    assert_eq!(la.status, 200, "{}", la.body);
    let member = row(&la.body, "agent_id", w.member.id);
    assert_eq!(member["replies_sent"], 1);
    assert_eq!(
        durations(member, "first_response"),
        (1, Some(180), Some(180))
    );
    assert_eq!(durations(member, "time_to_close").0, 0);

    // The agent filter keeps one row.
    let one = w
        .app
        .get(
            &format!(
                "/api/v1/reports/agents?from=2026-10-05&to=2026-10-06&agent_id={}",
                w.member.id
            ),
            &w.admin,
        )
        .await;
    assert_eq!(
        one.body["rows"].as_array().unwrap().len(),
        1,
        "{}",
        one.body
    );
}

async fn new_conversations_are_counted_on_their_local_day(backend: Backend) {
    let w = World::new(backend).await;
    let s = seed(&w).await;
    // UTC, 10-05..10-06: only C1 was created in the range (C2 on 10-04, C3 on 10-07).
    let utc = w
        .app
        .get(
            "/api/v1/reports/conversations/by-inbox?from=2026-10-05&to=2026-10-06&tz=UTC",
            &w.admin,
        )
        .await;
    assert_eq!(utc.status, 200, "{}", utc.body);
    assert_eq!(
        utc.body["rows"],
        json!([{"day": "2026-10-05", "key": w.inbox.id, "conversations": 1}])
    );
    // Tokyo (UTC+9): the range is 10-04 15:00Z to 10-06 15:00Z. C2 (10-04 23:00Z = 10-05 08:00
    // local) and C1 (10-05 09:00Z = 18:00 local) both fall on 10-05; C3 stays out.
    let tokyo = w
        .app
        .get(
            "/api/v1/reports/conversations/by-inbox?from=2026-10-05&to=2026-10-06&tz=Asia/Tokyo",
            &w.admin,
        )
        .await;
    assert_eq!(
        tokyo.body["rows"],
        json!([{"day": "2026-10-05", "key": w.inbox.id, "conversations": 2}])
    );
    assert_eq!(tokyo.body["tz"], "Asia/Tokyo");
    // By channel in Tokyo: one chat (C1), one email (C2).
    let by_channel = w
        .app
        .get(
            "/api/v1/reports/conversations/by-channel?from=2026-10-05&to=2026-10-06&tz=Asia/Tokyo",
            &w.admin,
        )
        .await;
    let chat = row(&by_channel.body, "key", w.channel.id);
    assert_eq!(
        (
            chat["conversations"].as_u64(),
            chat["channel_kind"].as_str()
        ),
        (Some(1), Some("chat"))
    );
    let email = row(&by_channel.body, "key", s.email.id);
    assert_eq!(email["conversations"], 1);
    // By team: C1's first team is T; C2 was never given a team.
    let by_team = w
        .app
        .get(
            "/api/v1/reports/conversations/by-team?from=2026-10-05&to=2026-10-06&tz=Asia/Tokyo",
            &w.admin,
        )
        .await;
    let mut rows = by_team.body["rows"].as_array().unwrap().clone();
    rows.sort_by_key(|r| r["key"].is_null());
    assert_eq!(
        rows,
        vec![
            json!({"day": "2026-10-05", "key": s.team, "conversations": 1}),
            json!({"day": "2026-10-05", "key": null, "conversations": 1}),
        ]
    );
    // The team filter keeps C1 only.
    let filtered = w
        .app
        .get(
            &format!(
                "/api/v1/reports/conversations/by-inbox?from=2026-10-05&to=2026-10-06&tz=Asia/Tokyo&team_id={}",
                s.team
            ),
            &w.admin,
        )
        .await;
    assert_eq!(
        filtered.body["rows"][0]["conversations"], 1,
        "{}",
        filtered.body
    );
}

async fn bot_runs_report_hand_offs_and_steps(backend: Backend) {
    let w = World::new(backend).await;
    let s = seed(&w).await;
    let bots = w
        .app
        .get(
            "/api/v1/reports/bots?from=2026-10-05&to=2026-10-06",
            &w.admin,
        )
        .await;
    assert_eq!(bots.status, 200, "{}", bots.body);
    // One run (C1), handed off at step "ask": resolution 0 of 1.
    assert_eq!(
        bots.body["rows"],
        json!([{"chatflow_id": s.flow, "started": 1, "completed": 0, "handed_off": 1,
                "abandoned": 0, "in_progress": 0, "resolution_rate": 0.0}])
    );
    let steps = w
        .app
        .get(
            "/api/v1/reports/bots/steps?from=2026-10-05&to=2026-10-06",
            &w.admin,
        )
        .await;
    assert_eq!(
        steps.body["rows"],
        json!([
            {"chatflow_id": s.flow, "step": "hello", "entered": 1, "completed": 1,
             "handed_off": 0, "abandoned": 0, "drop_off_rate": 0.0},
            {"chatflow_id": s.flow, "step": "ask", "entered": 1, "completed": 0,
             "handed_off": 1, "abandoned": 0, "drop_off_rate": 0.0},
        ])
    );
}

async fn reports_follow_real_api_activity(backend: Backend) {
    let w = World::new(backend).await;
    // The member replies in the fixture's Support conversation and closes it, through the API.
    let id = w.conversation.id;
    let sent = w
        .app
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            &w.member_token,
            json!({"client_id": uuid::Uuid::new_v4(), "body": "Hello, how can I help?"}),
        )
        .await;
    assert_eq!(sent.status, 201, "{}", sent.body);
    let closed = w
        .app
        .post(
            &format!("/api/v1/conversations/{id}/status"),
            &w.member_token,
            json!({"status": "closed"}),
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.body);
    let today = OffsetDateTime::now_utc().date();
    let range = format!("from={today}&to={today}");

    let agents = w
        .app
        .get(&format!("/api/v1/reports/agents?{range}"), &w.member_token)
        .await;
    assert_eq!(agents.status, 200, "{}", agents.body);
    let member = row(&agents.body, "agent_id", w.member.id);
    assert_eq!(member["replies_sent"], 1);
    assert_eq!(member["conversations_replied"], 1);
    assert_eq!(
        member["first_response"]["count"], 0,
        "the contact never wrote, so no response time"
    );
    assert_eq!(member["time_to_close"]["count"], 1);

    // Today the fixture opened one conversation in Support and one in Sales (and one in the
    // other account). The admin sees both inboxes; the member only Support.
    let admin_view = w
        .app
        .get(
            &format!("/api/v1/reports/conversations/by-inbox?{range}"),
            &w.admin,
        )
        .await;
    let mut inboxes: Vec<String> = admin_view.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect();
    inboxes.sort();
    let mut expected = vec![w.inbox.id.to_string(), w.inbox2.id.to_string()];
    expected.sort();
    assert_eq!(inboxes, expected, "{}", admin_view.body);
    let member_view = w
        .app
        .get(
            &format!("/api/v1/reports/conversations/by-inbox?{range}"),
            &w.member_token,
        )
        .await;
    assert_eq!(
        member_view.body["rows"],
        json!([{"day": today.to_string(), "key": w.inbox.id, "conversations": 1}])
    );
    // The outsider (Sales only) sees nothing of Support's agents.
    let outsider = w
        .app
        .get(
            &format!("/api/v1/reports/agents?{range}"),
            &w.outsider_token,
        )
        .await;
    assert_eq!(outsider.body["rows"], json!([]), "{}", outsider.body);
    let forbidden = w
        .app
        .get(
            &format!("/api/v1/reports/agents?{range}&inbox_id={}", w.inbox.id),
            &w.outsider_token,
        )
        .await;
    assert_eq!(forbidden.status, 403, "{}", forbidden.body);
}

async fn every_table_exports_as_csv(backend: Backend) {
    let w = World::new(backend).await;
    seed(&w).await;
    for (path, header) in [
        (
            "conversations/by-channel",
            "day,channel_id,channel_kind,conversations",
        ),
        ("conversations/by-inbox", "day,inbox_id,conversations"),
        ("conversations/by-team", "day,team_id,conversations"),
        (
            "agents",
            "agent_id,conversations_replied,replies_sent,first_response_count,",
        ),
        (
            "bots",
            "chatflow_id,started,completed,handed_off,abandoned,in_progress,resolution_rate",
        ),
        (
            "bots/steps",
            "chatflow_id,step,entered,completed,handed_off,abandoned,drop_off_rate",
        ),
    ] {
        let response = w
            .app
            .client
            .get(w.app.url(&format!(
                "/api/v1/reports/{path}?from=2026-10-05&to=2026-10-06&format=csv"
            )))
            .bearer_auth(&w.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(kind.starts_with("text/csv"), "{path}: {kind}");
        let text = response.text().await.unwrap();
        assert!(text.starts_with(header), "{path}: {text}");
        assert!(text.lines().count() >= 2, "{path} has rows: {text}");
    }
    let agents = w
        .app
        .client
        .get(
            w.app
                .url("/api/v1/reports/agents?from=2026-10-05&to=2026-10-06&format=csv"),
        )
        .bearer_auth(&w.admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // member: 2 conversations, 2 replies, first responses 2 / 180 / 7200, then the office-hours
    // copy, then closes 1 / 10800 / 10800.
    let line = format!(
        "{},2,2,2,180,7200,2,180,7200,1,10800,10800,1,10800,10800\r\n",
        w.member.id
    );
    assert!(agents.contains(&line), "{agents}");
}

async fn bad_input_is_refused_naming_the_field(backend: Backend) {
    let w = World::new(backend).await;
    for (query, field) in [
        ("from=2026-10-05&to=2026-10-06&tz=Mars/Olympus", "tz"),
        ("from=2026-10-07&to=2026-10-06", "from"),
        ("from=2025-01-01&to=2026-10-06", "to"),
        ("to=2026-10-06", "from"),
        ("from=2026-10-05", "to"),
        ("from=5 October&to=2026-10-06", "from"),
    ] {
        let answer = w
            .app
            .get(&format!("/api/v1/reports/agents?{query}"), &w.admin)
            .await;
        assert_eq!(answer.status, 422, "{query}: {}", answer.body);
        assert_eq!(answer.body["field"], field, "{query}: {}", answer.body);
    }
    let bad_id = w
        .app
        .get(
            "/api/v1/reports/agents?from=2026-10-05&to=2026-10-06&team_id=7",
            &w.admin,
        )
        .await;
    assert_eq!(
        (bad_id.status, bad_id.body["field"].as_str()),
        (400, Some("team_id"))
    );
    let anonymous = w
        .app
        .call(
            "GET",
            "/api/v1/reports/agents?from=2026-10-05&to=2026-10-06",
            None,
            None,
        )
        .await;
    assert_eq!(anonymous.status, 401);
}

on_both_backends!(
    agent_figures_follow_reassignment_reopen_and_bot_hand_off,
    new_conversations_are_counted_on_their_local_day,
    bot_runs_report_hand_offs_and_steps,
    reports_follow_real_api_activity,
    every_table_exports_as_csv,
    bad_input_is_refused_naming_the_field,
);
