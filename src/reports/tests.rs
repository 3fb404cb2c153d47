#![allow(clippy::unwrap_used, clippy::expect_used)]

use time::macros::datetime;
use uuid::Uuid;

use super::*;
use crate::store::ReportEventKind;

/// A row as the store gives it; `a`, `b`, `c` as the store's writers put `data`: the
/// reference id, then the team id or the word, then the step kind (docs/reports.md).
#[expect(clippy::too_many_arguments, reason = "one event's columns, in order")]
fn row(
    id: i64,
    conversation: ConversationId,
    kind: &str,
    agent: Option<AgentId>,
    at: OffsetDateTime,
    a: Option<String>,
    b: Option<String>,
    c: Option<&str>,
) -> ReportEventRow {
    let kind = match kind {
        "conversation.created" => ReportEventKind::Created,
        "conversation.assigned" => ReportEventKind::Assigned,
        "conversation.status_changed" => ReportEventKind::StatusChanged,
        "message.received" => ReportEventKind::MessageReceived,
        "message.sent" => ReportEventKind::MessageSent,
        "bot.step" => ReportEventKind::BotStep,
        "bot.finished" => ReportEventKind::BotFinished,
        other => panic!("unknown kind {other}"),
    };
    let id_of = |s: &Option<String>| s.as_deref().map(|s| s.parse::<Uuid>().unwrap());
    let (ref_id, team_id, word, step) = match kind {
        ReportEventKind::Created => (id_of(&a), None, b, None),
        ReportEventKind::Assigned => (id_of(&a), id_of(&b).map(TeamId), None, None),
        ReportEventKind::StatusChanged => (None, None, a, None),
        ReportEventKind::BotStep => (id_of(&a), None, c.map(str::to_owned), b),
        ReportEventKind::BotFinished => (id_of(&a), None, b, None),
        _ => (None, None, None, None),
    };
    ReportEventRow {
        id,
        kind,
        conversation_id: conversation,
        inbox_id: Some(InboxId(Uuid::nil())),
        agent_id: agent,
        occurred_at: at,
        ref_id,
        team_id,
        word,
        step,
    }
}

struct History {
    c: ConversationId,
    rows: Vec<ReportEventRow>,
}

impl History {
    fn new() -> Self {
        Self {
            c: ConversationId::new(),
            rows: Vec::new(),
        }
    }
    fn push(
        &mut self,
        kind: &str,
        agent: Option<AgentId>,
        at: OffsetDateTime,
        a: Option<String>,
        b: Option<String>,
        c: Option<&str>,
    ) {
        let id = self.rows.len() as i64 + 1;
        self.rows.push(row(id, self.c, kind, agent, at, a, b, c));
    }
    fn created(&mut self, channel: ChannelId, at: OffsetDateTime) {
        self.push(
            "conversation.created",
            None,
            at,
            Some(channel.to_string()),
            Some("chat".into()),
            None,
        );
    }
    fn contact(&mut self, at: OffsetDateTime) {
        self.push("message.received", None, at, None, None, None);
    }
    fn reply(&mut self, agent: Option<AgentId>, at: OffsetDateTime) {
        self.push("message.sent", agent, at, None, None, None);
    }
    fn assign(
        &mut self,
        by: Option<AgentId>,
        to: Option<AgentId>,
        team: Option<TeamId>,
        at: OffsetDateTime,
    ) {
        self.push(
            "conversation.assigned",
            by,
            at,
            to.map(|a| a.to_string()),
            team.map(|t| t.to_string()),
            None,
        );
    }
    fn status(&mut self, by: Option<AgentId>, from: &str, to: &str, at: OffsetDateTime) {
        self.push(
            "conversation.status_changed",
            by,
            at,
            Some(to.into()),
            Some(from.into()),
            None,
        );
    }
    fn step(&mut self, flow: ChatflowId, step: &str, kind: &str, at: OffsetDateTime) {
        self.push(
            "bot.step",
            None,
            at,
            Some(flow.to_string()),
            Some(step.into()),
            Some(kind),
        );
    }
    fn finished(&mut self, flow: ChatflowId, outcome: &str, at: OffsetDateTime) {
        self.push(
            "bot.finished",
            None,
            at,
            Some(flow.to_string()),
            Some(outcome.into()),
            None,
        );
    }
}

fn period(from: &str, to: &str, tz: &str) -> Period {
    Period::parse(from, to, Some(tz)).unwrap()
}

fn agent_row(report: &Report, agent: Option<AgentId>) -> &AgentRow {
    report
        .agents
        .iter()
        .find(|r| r.agent_id == agent)
        .unwrap_or_else(|| panic!("no row for {agent:?} in {:?}", report.agents))
}

#[test]
fn percentiles_are_nearest_rank() {
    let v = [10, 20, 30, 40];
    assert_eq!(percentile(&v, 50), Some(20), "rank ceil(2) = 2");
    assert_eq!(percentile(&v, 90), Some(40), "rank ceil(3.6) = 4");
    assert_eq!(percentile(&[7], 90), Some(7));
    assert_eq!(percentile(&[], 50), None);
    let ten: Vec<i64> = (1..=10).collect();
    assert_eq!(percentile(&ten, 90), Some(9));
    assert_eq!(percentile(&ten, 50), Some(5));
}

#[test]
fn bad_ranges_name_the_parameter() {
    let err = |from: &str, to: &str, tz: &str| Period::parse(from, to, Some(tz)).unwrap_err().field;
    assert_eq!(err("2026-11-02", "2026-11-01", "UTC"), "from");
    assert_eq!(err("2026-11-01", "2026-11-01", "Mars/Olympus"), "tz");
    assert_eq!(err("2025-01-01", "2026-01-02", "UTC"), "to", "367 days");
    assert_eq!(err("2026-13-01", "2026-11-01", "UTC"), "from");
    assert_eq!(err("2026-11-01", "yesterday", "UTC"), "to");
    assert!(
        Period::parse("2025-01-01", "2025-12-31", None).is_ok(),
        "365 days"
    );
}

#[test]
fn a_range_runs_from_local_midnight_to_the_midnight_after_its_last_day() {
    let p = period("2026-11-02", "2026-11-03", "America/New_York");
    assert_eq!(p.start(), datetime!(2026-11-02 05:00 UTC));
    assert_eq!(p.end(), datetime!(2026-11-04 05:00 UTC));
    assert_eq!(
        p.day_of(datetime!(2026-11-03 04:59 UTC)).to_string(),
        "2026-11-02"
    );
    assert_eq!(p.tz_name, "America/New_York");
}

#[test]
fn a_day_when_clocks_go_back_lasts_25_hours() {
    // New York leaves daylight time on Sunday 2026-11-01 at 02:00 local.
    let p = period("2026-11-01", "2026-11-01", "America/New_York");
    assert_eq!(p.start(), datetime!(2026-11-01 04:00 UTC));
    assert_eq!(p.end(), datetime!(2026-11-02 05:00 UTC));
}

#[test]
fn first_response_starts_at_the_bot_hand_off_and_goes_to_whoever_replied_first() {
    let (ana, bo) = (AgentId::new(), AgentId::new());
    let (channel, flow) = (ChannelId::new(), ChatflowId::new());
    let mut h = History::new();
    h.created(channel, datetime!(2026-11-02 09:00 UTC));
    h.contact(datetime!(2026-11-02 09:00:10 UTC));
    h.step(flow, "ask", "entered", datetime!(2026-11-02 09:00:10 UTC));
    h.reply(None, datetime!(2026-11-02 09:00:10 UTC)); // the bot asks: not a human reply
    h.step(flow, "ask", "handed_off", datetime!(2026-11-02 09:05 UTC));
    h.finished(flow, "handed_off", datetime!(2026-11-02 09:05 UTC));
    h.assign(None, Some(ana), None, datetime!(2026-11-02 09:05 UTC));
    // Bo answers first though Ana holds it: 09:08 - 09:05 = 180 s, for Bo.
    h.reply(Some(bo), datetime!(2026-11-02 09:08 UTC));
    h.reply(Some(ana), datetime!(2026-11-02 09:09 UTC));
    h.reply(Some(ana), datetime!(2026-11-02 09:10 UTC));
    // Ana closes at 10:00: 3600 s since the start.
    h.status(Some(ana), "open", "closed", datetime!(2026-11-02 10:00 UTC));
    let r = compute(
        &h.rows,
        &period("2026-11-02", "2026-11-02", "UTC"),
        &Filters::default(),
        &InboxHours::new(),
    );
    let bo_row = agent_row(&r, Some(bo));
    assert_eq!(bo_row.first_response.median_seconds, Some(180));
    assert_eq!((bo_row.replies_sent, bo_row.conversations_replied), (1, 1));
    let ana_row = agent_row(&r, Some(ana));
    assert_eq!(ana_row.first_response.count, 0);
    assert_eq!(
        (ana_row.replies_sent, ana_row.conversations_replied),
        (2, 1)
    );
    assert_eq!(ana_row.time_to_close.median_seconds, Some(3600));
    assert_eq!(r.bots.len(), 1);
    assert_eq!((r.bots[0].started, r.bots[0].handed_off), (1, 1));
    assert_eq!(r.bots[0].resolution_rate, Some(0.0));
}

#[test]
fn a_reopened_conversation_is_measured_again_from_the_reopening() {
    let (ana, bo) = (AgentId::new(), AgentId::new());
    let mut h = History::new();
    h.created(ChannelId::new(), datetime!(2026-11-02 09:00 UTC));
    h.contact(datetime!(2026-11-02 09:00 UTC));
    h.assign(None, Some(ana), None, datetime!(2026-11-02 09:00 UTC));
    h.reply(Some(ana), datetime!(2026-11-02 09:01 UTC)); // 60 s
    h.status(Some(ana), "open", "closed", datetime!(2026-11-02 09:30 UTC)); // 1800 s, Ana
    h.status(None, "closed", "open", datetime!(2026-11-02 12:00 UTC)); // reopened by mail
    h.contact(datetime!(2026-11-02 12:00 UTC));
    h.assign(Some(ana), Some(bo), None, datetime!(2026-11-02 12:10 UTC));
    h.reply(Some(bo), datetime!(2026-11-02 12:20 UTC)); // 1200 s, Bo
    // Closed by the system: credited to the assignee at that moment, Bo; 12:00 → 13:00.
    h.status(None, "open", "closed", datetime!(2026-11-02 13:00 UTC));
    let r = compute(
        &h.rows,
        &period("2026-11-02", "2026-11-02", "UTC"),
        &Filters::default(),
        &InboxHours::new(),
    );
    let a = agent_row(&r, Some(ana));
    assert_eq!(
        (
            a.first_response.median_seconds,
            a.time_to_close.median_seconds
        ),
        (Some(60), Some(1800))
    );
    let b = agent_row(&r, Some(bo));
    assert_eq!(
        (
            b.first_response.median_seconds,
            b.time_to_close.median_seconds
        ),
        (Some(1200), Some(3600))
    );
    assert_eq!(r.conversations_by_inbox.len(), 1);
    assert_eq!(r.conversations_by_inbox[0].conversations, 1);
}

#[test]
fn office_hours_leave_out_the_closed_hours() {
    let ana = AgentId::new();
    let mut h = History::new();
    // Friday 2026-11-27 16:30 Paris (15:30 UTC); reply Monday 09:30 Paris (08:30 UTC).
    h.created(ChannelId::new(), datetime!(2026-11-27 15:30 UTC));
    h.contact(datetime!(2026-11-27 15:30 UTC));
    h.reply(Some(ana), datetime!(2026-11-30 08:30 UTC));
    let hours = Availability::parse(&serde_json::json!({
        "time_zone": "Europe/Paris",
        "hours": {"monday": ["09:00-17:00"], "friday": ["09:00-17:00"]},
    }))
    .unwrap();
    let hours = InboxHours::from([(InboxId(Uuid::nil()), hours)]);
    let r = compute(
        &h.rows,
        &period("2026-11-27", "2026-11-30", "Europe/Paris"),
        &Filters::default(),
        &hours,
    );
    let a = agent_row(&r, Some(ana));
    // Wall clock: 2 days 17 h = 234000 s. Office hours: 30 min Friday + 30 min Monday.
    assert_eq!(a.first_response.median_seconds, Some(234_000));
    assert_eq!(a.first_response_office_hours.median_seconds, Some(3600));
}

#[test]
fn bot_runs_count_outcomes_and_drop_off_per_step() {
    let flow = ChatflowId::new();
    let mut rows = Vec::new();
    for (i, outcome) in ["completed", "abandoned", "abandoned", "none"]
        .iter()
        .enumerate()
    {
        let mut h = History::new();
        let t = datetime!(2026-11-02 09:00 UTC) + time::Duration::minutes(i as i64);
        h.created(ChannelId::new(), t);
        h.step(flow, "hello", "entered", t);
        h.step(flow, "hello", "completed", t);
        h.step(flow, "ask", "entered", t);
        match *outcome {
            "completed" => {
                h.step(flow, "ask", "completed", t);
                h.step(flow, "bye", "entered", t);
                h.step(flow, "bye", "completed", t);
                h.finished(flow, "completed", t);
            }
            "abandoned" => {
                h.step(flow, "ask", "abandoned", t);
                h.finished(flow, "abandoned", t);
            }
            _ => {}
        }
        rows.extend(h.rows);
    }
    let r = compute(
        &rows,
        &period("2026-11-02", "2026-11-02", "UTC"),
        &Filters::default(),
        &InboxHours::new(),
    );
    let b = &r.bots[0];
    assert_eq!(
        (b.started, b.completed, b.abandoned, b.in_progress),
        (4, 1, 2, 1)
    );
    assert_eq!(b.resolution_rate, Some(0.25));
    let steps: Vec<(&str, u64, u64)> = r
        .bot_steps
        .iter()
        .map(|s| (s.step.as_str(), s.entered, s.abandoned))
        .collect();
    assert_eq!(steps, [("hello", 4, 0), ("ask", 4, 2), ("bye", 1, 0)]);
    assert_eq!(r.bot_steps[1].drop_off_rate, Some(0.5));
}

/// The rollup promise (docs/reports.md "Rollups"): facts derived once from a conversation's
/// whole history, stored and read back, give for any range exactly what replaying only the
/// events before the range's end gives, even when what happened later (a team given, a bot
/// run's outcome, a step, a reopening, a reply) is in the facts.
#[test]
fn rollups_of_whole_histories_give_what_replaying_up_to_each_range_end_gives() {
    let (ana, bob) = (AgentId::new(), AgentId::new());
    let (sales, support) = (TeamId::new(), TeamId::new());
    let flow = ChatflowId::new();
    let mut rows = Vec::new();

    // Created on the 2nd; bot run handed off on the 3rd at step "ask"; team only on the 4th;
    // answered by ana, reassigned to bob, closed; reopened on the 6th, answered by bob, closed
    // by the system on the 7th.
    let mut h = History::new();
    h.created(ChannelId::new(), datetime!(2026-11-02 23:30 UTC));
    h.contact(datetime!(2026-11-02 23:31 UTC));
    h.step(flow, "hello", "entered", datetime!(2026-11-02 23:31 UTC));
    h.step(flow, "hello", "completed", datetime!(2026-11-02 23:32 UTC));
    h.step(flow, "ask", "entered", datetime!(2026-11-03 00:10 UTC));
    h.step(flow, "ask", "handed_off", datetime!(2026-11-03 00:20 UTC));
    h.finished(flow, "handed_off", datetime!(2026-11-03 00:20 UTC));
    h.assign(
        None,
        Some(ana),
        Some(sales),
        datetime!(2026-11-04 08:00 UTC),
    );
    h.reply(Some(ana), datetime!(2026-11-04 09:00 UTC));
    h.assign(
        Some(ana),
        Some(bob),
        Some(support),
        datetime!(2026-11-04 10:00 UTC),
    );
    h.reply(Some(bob), datetime!(2026-11-04 10:30 UTC));
    h.status(Some(bob), "open", "closed", datetime!(2026-11-04 11:00 UTC));
    h.status(None, "closed", "open", datetime!(2026-11-06 12:00 UTC));
    h.contact(datetime!(2026-11-06 12:00 UTC));
    h.reply(Some(bob), datetime!(2026-11-06 12:15:30.5 UTC));
    h.status(None, "open", "closed", datetime!(2026-11-07 12:00 UTC));
    rows.extend(h.rows);

    // A second conversation, never created in the events (its creation predates them).
    let mut g = History::new();
    g.contact(datetime!(2026-11-03 10:00 UTC));
    g.reply(Some(ana), datetime!(2026-11-03 10:05 UTC));
    g.status(Some(ana), "open", "closed", datetime!(2026-11-05 10:00 UTC));
    rows.extend(g.rows);
    rows.sort_by_key(|r| (r.conversation_id, r.occurred_at, r.id));

    let stored: Vec<facts::ConversationFacts> = rows
        .chunk_by(|a, b| a.conversation_id == b.conversation_id)
        .map(|history| {
            let bytes = facts::encode(&facts::derive(history)).unwrap();
            facts::decode(&bytes).unwrap()
        })
        .collect();
    let filters = [
        Filters::default(),
        Filters {
            team: Some(sales),
            ..Filters::default()
        },
        Filters {
            team: Some(support),
            ..Filters::default()
        },
        Filters {
            agent: Some(bob),
            ..Filters::default()
        },
    ];
    let mut compared = 0;
    for (from, to) in [
        ("2026-11-02", "2026-11-02"),
        ("2026-11-02", "2026-11-03"),
        ("2026-11-03", "2026-11-04"),
        ("2026-11-04", "2026-11-05"),
        ("2026-11-06", "2026-11-06"),
        ("2026-11-01", "2026-11-30"),
    ] {
        for tz in ["UTC", "America/New_York", "Asia/Kathmandu"] {
            let p = period(from, to, tz);
            let before_end: Vec<ReportEventRow> = rows
                .iter()
                .filter(|r| r.occurred_at < p.end())
                .cloned()
                .collect();
            for f in &filters {
                let replayed = compute(&before_end, &p, f, &InboxHours::new());
                let rolled_up = aggregate(&stored, &p, f, &InboxHours::new());
                assert_eq!(rolled_up, replayed, "{from}..{to} {tz} {f:?}");
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 72);
    // And the comparison is not of empty reports: the 2nd..3rd in UTC has the bot run handed
    // off, the conversation created, and no team yet (given on the 4th).
    let early = aggregate(
        &stored,
        &period("2026-11-02", "2026-11-03", "UTC"),
        &Filters::default(),
        &InboxHours::new(),
    );
    assert_eq!(early.bots[0].handed_off, 1);
    assert_eq!(early.conversations_by_team[0].key, None);
    let all = aggregate(
        &stored,
        &period("2026-11-01", "2026-11-30", "UTC"),
        &Filters::default(),
        &InboxHours::new(),
    );
    assert_eq!(all.conversations_by_team[0].key, Some(sales.0));
    // bob: first response of the reopened cycle, from 12:00:00 to 12:15:30.5 = 930 s.
    assert_eq!(
        agent_row(&all, Some(bob)).first_response.median_seconds,
        Some(930)
    );
}

#[test]
fn a_rollup_of_another_format_is_not_read() {
    let bytes = facts::encode(&facts::ConversationFacts::default()).unwrap();
    assert!(facts::decode(&bytes).is_some());
    let mut other = bytes.clone();
    other[0] = facts::FORMAT + 1;
    assert!(facts::decode(&other).is_none());
    assert!(facts::decode(&[]).is_none());
}
