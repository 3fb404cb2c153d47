//! Reports: who answers, how fast, and how the bots do, computed from the append-only events.
//!
//! The definitions are in `docs/reports.md`; this module is their one implementation. It is
//! pure: it takes the events the store read ([`crate::store::Store::report_events`]: every event
//! of each conversation active in the range, from its start up to the range end), replays each
//! conversation in time order, and returns tables. It must not read the store or know HTTP.
//!
//! - [`Period`]: the date range in a time zone, and the local day of an instant.
//! - [`compute`]: the replay, giving a [`Report`] with every table.
//! - [`csv`]: the tables as CSV.

pub mod csv;

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::chatflows::availability::Availability;
use crate::domain::{AgentId, ChannelId, ChatflowId, ConversationId, InboxId, TeamId};
use crate::store::{ReportEventKind, ReportEventRow};

/// Longest range a report covers, in days (a leap year).
pub const MAX_DAYS: i32 = 366;

/// A report's input that cannot be used, naming the query parameter at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PeriodError {
    pub field: &'static str,
    pub message: String,
}

impl PeriodError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// The days `from` to `to` (both included) in time zone `tz`: from `from` 00:00 local to the
/// midnight after `to`.
#[derive(Debug, Clone)]
pub struct Period {
    pub from: Date,
    pub to: Date,
    pub tz_name: String,
    tz: TimeZone,
    start: OffsetDateTime,
    end: OffsetDateTime,
}

impl Period {
    /// Parses `from` and `to` (`YYYY-MM-DD`) and `tz` (an IANA name; `UTC` when absent).
    pub fn parse(from: &str, to: &str, tz: Option<&str>) -> Result<Self, PeriodError> {
        let date = |field: &'static str, raw: &str| {
            raw.trim().parse::<Date>().map_err(|_| {
                PeriodError::new(
                    field,
                    format!("'{raw}' is not a date; write it as YYYY-MM-DD"),
                )
            })
        };
        let from = date("from", from)?;
        let to = date("to", to)?;
        let tz_raw = tz.map(str::trim).filter(|t| !t.is_empty()).unwrap_or("UTC");
        let zone = TimeZone::get(tz_raw).map_err(|_| {
            PeriodError::new(
                "tz",
                format!("unknown time zone '{tz_raw}'; use an IANA name such as Europe/Paris"),
            )
        })?;
        if from > to {
            return Err(PeriodError::new("from", "from must not be after to"));
        }
        let days = (to - from).get_days() + 1;
        if days > MAX_DAYS {
            return Err(PeriodError::new(
                "to",
                format!("a report covers at most {MAX_DAYS} days; this range has {days}"),
            ));
        }
        let midnight = |d: Date| -> Result<OffsetDateTime, PeriodError> {
            let ts = zone
                .to_ambiguous_timestamp(d.at(0, 0, 0, 0))
                .compatible()
                .map_err(|e| PeriodError::new("from", e.to_string()))?;
            OffsetDateTime::from_unix_timestamp_nanos(ts.as_nanosecond())
                .map_err(|e| PeriodError::new("from", e.to_string()))
        };
        let after_to = to
            .tomorrow()
            .map_err(|e| PeriodError::new("to", e.to_string()))?;
        let tz_name = zone.iana_name().unwrap_or(tz_raw).to_owned();
        Ok(Self {
            start: midnight(from)?,
            end: midnight(after_to)?,
            from,
            to,
            tz_name,
            tz: zone,
        })
    }

    /// The first instant of the range.
    pub fn start(&self) -> OffsetDateTime {
        self.start
    }

    /// The first instant after the range.
    pub fn end(&self) -> OffsetDateTime {
        self.end
    }

    pub fn contains(&self, at: OffsetDateTime) -> bool {
        self.start <= at && at < self.end
    }

    /// The local date of `at` in the report's time zone.
    pub fn day_of(&self, at: OffsetDateTime) -> Date {
        match Timestamp::from_nanosecond(at.unix_timestamp_nanos()) {
            Ok(ts) => self.tz.to_datetime(ts).date(),
            Err(_) => self.from,
        }
    }
}

/// Narrows a report (docs/reports.md "Filters").
#[derive(Debug, Clone, Copy, Default)]
pub struct Filters {
    pub inbox: Option<InboxId>,
    pub team: Option<TeamId>,
    pub agent: Option<AgentId>,
    pub channel: Option<ChannelId>,
}

/// Outcome of a bot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Completed,
    HandedOff,
    Abandoned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepKind {
    Entered,
    Completed,
    Abandoned,
    HandedOff,
}

/// An event as the replay reads it.
#[derive(Debug, Clone)]
enum Fact<'r> {
    Created {
        channel: Option<ChannelId>,
        channel_kind: Option<&'r str>,
    },
    Assigned {
        assignee: Option<AgentId>,
        team: Option<TeamId>,
    },
    StatusChanged {
        closed: bool,
    },
    MessageIn,
    MessageOut,
    BotStep {
        chatflow: ChatflowId,
        step: &'r str,
        kind: StepKind,
    },
    BotFinished {
        chatflow: ChatflowId,
        outcome: Outcome,
    },
}

impl<'r> Fact<'r> {
    /// `None` for an event whose data is not as written.
    fn from_row(row: &'r ReportEventRow) -> Option<Self> {
        let word = row.word.as_deref();
        Some(match row.kind {
            ReportEventKind::Created => Fact::Created {
                channel: row.ref_id.map(ChannelId),
                channel_kind: word,
            },
            ReportEventKind::Assigned => Fact::Assigned {
                assignee: row.ref_id.map(AgentId),
                team: row.team_id,
            },
            ReportEventKind::StatusChanged => Fact::StatusChanged {
                closed: word? == "closed",
            },
            ReportEventKind::MessageReceived => Fact::MessageIn,
            ReportEventKind::MessageSent => Fact::MessageOut,
            ReportEventKind::BotStep => Fact::BotStep {
                chatflow: ChatflowId(row.ref_id?),
                step: row.step.as_deref()?,
                kind: match word? {
                    "entered" => StepKind::Entered,
                    "completed" => StepKind::Completed,
                    "abandoned" => StepKind::Abandoned,
                    "handed_off" => StepKind::HandedOff,
                    _ => return None,
                },
            },
            ReportEventKind::BotFinished => Fact::BotFinished {
                chatflow: ChatflowId(row.ref_id?),
                outcome: match word? {
                    "completed" => Outcome::Completed,
                    "handed_off" => Outcome::HandedOff,
                    "abandoned" => Outcome::Abandoned,
                    _ => return None,
                },
            },
        })
    }
}

/// The office hours of each inbox, for the office-hours variant; an inbox left out is always
/// open (docs/reports.md "Office hours").
pub type InboxHours = HashMap<InboxId, Availability>;

/// New conversations on one local day for one channel, inbox or team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DayCount {
    /// Local date in the report's time zone, `YYYY-MM-DD`.
    pub day: String,
    /// The channel, inbox or team id; `null` in the by-team table for conversations never
    /// assigned to a team.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub key: Option<uuid::Uuid>,
    /// By channel only: the channel's kind (`chat`, `email`, `messenger`, `form`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_kind: Option<String>,
    pub conversations: u64,
}

/// Median and 90th percentile (nearest rank) of a set of durations, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, ToSchema)]
pub struct Durations {
    /// How many durations were measured.
    pub count: u64,
    pub median_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
}

impl Durations {
    fn of(mut samples: Vec<i64>) -> Self {
        samples.sort_unstable();
        Self {
            count: samples.len() as u64,
            median_seconds: percentile(&samples, 50),
            p90_seconds: percentile(&samples, 90),
        }
    }
}

/// Nearest-rank percentile of sorted `samples`: the value at rank ⌈p·n/100⌉ (1-based).
pub fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// One agent's figures over the range.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgentRow {
    /// `null`: closes by no agent of conversations that had no assignee.
    pub agent_id: Option<AgentId>,
    /// Distinct conversations the agent sent at least one reply in, within the range.
    pub conversations_replied: u64,
    pub replies_sent: u64,
    pub first_response: Durations,
    /// The same first responses, counting only seconds inside the inbox's office hours.
    pub first_response_office_hours: Durations,
    pub time_to_close: Durations,
    pub time_to_close_office_hours: Durations,
}

/// One bot chatflow's runs started in the range.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BotRow {
    pub chatflow_id: ChatflowId,
    pub started: u64,
    pub completed: u64,
    pub handed_off: u64,
    pub abandoned: u64,
    /// Started, not finished by the end of the range.
    pub in_progress: u64,
    /// `completed / started`; `null` when none started.
    pub resolution_rate: Option<f64>,
}

/// One step of a bot chatflow, over the runs started in the range.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BotStepRow {
    pub chatflow_id: ChatflowId,
    pub step: String,
    /// Runs that entered the step at least once.
    pub entered: u64,
    /// Runs that completed the step at least once.
    pub completed: u64,
    /// Runs handed off to people at this step.
    pub handed_off: u64,
    /// Runs the visitor abandoned at this step: the drop-off.
    pub abandoned: u64,
    /// `abandoned / entered`.
    pub drop_off_rate: Option<f64>,
}

/// Every table of a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub conversations_by_channel: Vec<DayCount>,
    pub conversations_by_inbox: Vec<DayCount>,
    pub conversations_by_team: Vec<DayCount>,
    pub agents: Vec<AgentRow>,
    pub bots: Vec<BotRow>,
    pub bot_steps: Vec<BotStepRow>,
}

#[derive(Default)]
struct AgentAcc {
    conversations: HashSet<ConversationId>,
    replies: u64,
    first_response: Vec<i64>,
    first_response_office: Vec<i64>,
    time_to_close: Vec<i64>,
    time_to_close_office: Vec<i64>,
}

#[derive(Default)]
struct StepAcc {
    entered: bool,
    completed: bool,
    handed_off: bool,
    abandoned: bool,
}

struct Run {
    started: OffsetDateTime,
    outcome: Option<Outcome>,
    /// Steps in the order first entered.
    steps: Vec<(String, StepAcc)>,
}

/// A resolution cycle: from the conversation's start or its latest reopening.
struct Cycle {
    start: OffsetDateTime,
    contact_wrote: bool,
    answered: bool,
    last_handoff: Option<OffsetDateTime>,
}

impl Cycle {
    fn new(start: OffsetDateTime) -> Self {
        Self {
            start,
            contact_wrote: false,
            answered: false,
            last_handoff: None,
        }
    }
}

/// Which new-conversations table a count belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum DayTable {
    Channel,
    Inbox,
    Team,
}

/// A new-conversations count's place: local day, the channel, inbox or team, and the table.
type DayKey = (String, Option<uuid::Uuid>, DayTable);

/// Computes every table of the report from the events the store read, in its order:
/// grouped by conversation, each conversation's events by time, then id.
pub fn compute(
    rows: &[ReportEventRow],
    period: &Period,
    filters: &Filters,
    hours: &InboxHours,
) -> Report {
    let by_conversation = rows.chunk_by(|a, b| a.conversation_id == b.conversation_id);
    let mut created: BTreeMap<DayKey, (Option<String>, u64)> = BTreeMap::new();
    let mut agents: HashMap<Option<AgentId>, AgentAcc> = HashMap::new();
    let mut runs: Vec<(ChatflowId, Run)> = Vec::new();

    for events in by_conversation {
        let Some(first) = events.first() else {
            continue;
        };
        let conversation = first.conversation_id;
        let inbox = events.iter().find_map(|e| e.inbox_id);
        if filters.inbox.is_some() && inbox != filters.inbox {
            continue;
        }
        let mut channel: Option<ChannelId> = None;
        let mut channel_kind: Option<String> = None;
        let mut created_at: Option<OffsetDateTime> = None;
        let mut first_team: Option<TeamId> = None;
        let mut team: Option<TeamId> = None;
        let mut assignee: Option<AgentId> = None;
        let mut closed = false;
        let mut cycle = Cycle::new(first.occurred_at);
        let mut conversation_runs: HashMap<ChatflowId, Run> = HashMap::new();
        let availability = inbox.and_then(|i| hours.get(&i));
        let office = |from: OffsetDateTime, to: OffsetDateTime| match availability {
            Some(a) => a.open_seconds_between(from, to),
            None => (to - from).whole_seconds(),
        };

        for event in events {
            let Some(fact) = Fact::from_row(event) else {
                continue;
            };
            let at = event.occurred_at;
            let in_range = period.contains(at);
            match fact {
                Fact::Created {
                    channel: c,
                    channel_kind: k,
                } => {
                    channel = c;
                    channel_kind = k.map(str::to_owned);
                    created_at = Some(at);
                    cycle = Cycle::new(at);
                }
                Fact::Assigned {
                    assignee: a,
                    team: t,
                } => {
                    assignee = a;
                    team = t;
                    if first_team.is_none() {
                        first_team = t;
                    }
                }
                Fact::StatusChanged { closed: to_closed } => {
                    if to_closed && !closed {
                        let who = event.agent_id.or(assignee);
                        if in_range && counts_for(filters, channel, team, who) {
                            let acc = agents.entry(who).or_default();
                            acc.time_to_close.push((at - cycle.start).whole_seconds());
                            acc.time_to_close_office.push(office(cycle.start, at));
                        }
                    } else if !to_closed && closed {
                        cycle = Cycle::new(at);
                    }
                    closed = to_closed;
                }
                Fact::MessageIn => cycle.contact_wrote = true,
                Fact::MessageOut => {
                    // Bot and system messages carry no agent: they are not human replies.
                    let Some(agent) = event.agent_id else {
                        continue;
                    };
                    let counted = in_range && counts_for(filters, channel, team, Some(agent));
                    if counted {
                        let acc = agents.entry(Some(agent)).or_default();
                        acc.replies += 1;
                        acc.conversations.insert(conversation);
                    }
                    if !cycle.answered {
                        cycle.answered = true;
                        if cycle.contact_wrote && counted {
                            let clock = cycle
                                .last_handoff
                                .map_or(cycle.start, |h| h.max(cycle.start));
                            let acc = agents.entry(Some(agent)).or_default();
                            acc.first_response.push((at - clock).whole_seconds());
                            acc.first_response_office.push(office(clock, at));
                        }
                    }
                }
                Fact::BotStep {
                    chatflow,
                    step,
                    kind,
                } => {
                    let run = conversation_runs.entry(chatflow).or_insert_with(|| Run {
                        started: at,
                        outcome: None,
                        steps: Vec::new(),
                    });
                    let index = match run.steps.iter().position(|(s, _)| s == step) {
                        Some(i) => i,
                        None => {
                            run.steps.push((step.to_owned(), StepAcc::default()));
                            run.steps.len() - 1
                        }
                    };
                    if let Some((_, acc)) = run.steps.get_mut(index) {
                        match kind {
                            StepKind::Entered => acc.entered = true,
                            StepKind::Completed => acc.completed = true,
                            StepKind::HandedOff => acc.handed_off = true,
                            StepKind::Abandoned => acc.abandoned = true,
                        }
                    }
                }
                Fact::BotFinished { chatflow, outcome } => {
                    if let Some(run) = conversation_runs.get_mut(&chatflow) {
                        run.outcome.get_or_insert(outcome);
                    }
                    if outcome == Outcome::HandedOff {
                        cycle.last_handoff = Some(at);
                    }
                }
            }
        }

        let channel_ok = filters.channel.is_none() || channel == filters.channel;
        if let Some(at) = created_at
            && period.contains(at)
            && channel_ok
            && (filters.team.is_none() || first_team == filters.team)
        {
            let day = period.day_of(at).to_string();
            let mut bump = |key: Option<uuid::Uuid>, table: DayTable, kind: Option<String>| {
                let entry = created
                    .entry((day.clone(), key, table))
                    .or_insert((kind, 0));
                entry.1 += 1;
            };
            bump(
                channel.map(|c| c.0),
                DayTable::Channel,
                channel_kind.clone(),
            );
            bump(inbox.map(|i| i.0), DayTable::Inbox, None);
            bump(first_team.map(|t| t.0), DayTable::Team, None);
        }
        if channel_ok {
            runs.extend(
                conversation_runs
                    .into_iter()
                    .filter(|(_, run)| period.contains(run.started)),
            );
        }
    }

    let mut report = Report::default();
    for ((day, key, table), (channel_kind, conversations)) in created {
        let row = DayCount {
            day,
            key,
            channel_kind,
            conversations,
        };
        match table {
            DayTable::Channel => report.conversations_by_channel.push(row),
            DayTable::Inbox => report.conversations_by_inbox.push(row),
            DayTable::Team => report.conversations_by_team.push(row),
        }
    }
    report.agents = agents
        .into_iter()
        .filter(|(agent, _)| filters.agent.is_none() || *agent == filters.agent)
        .map(|(agent_id, acc)| AgentRow {
            agent_id,
            conversations_replied: acc.conversations.len() as u64,
            replies_sent: acc.replies,
            first_response: Durations::of(acc.first_response),
            first_response_office_hours: Durations::of(acc.first_response_office),
            time_to_close: Durations::of(acc.time_to_close),
            time_to_close_office_hours: Durations::of(acc.time_to_close_office),
        })
        .collect();
    // Agents first (by id), then the row of closes nobody can be credited with.
    report
        .agents
        .sort_by_key(|row| (row.agent_id.is_none(), row.agent_id));
    (report.bots, report.bot_steps) = bot_tables(runs);
    report
}

/// Whether an agent-table fact passes the channel, team and agent filters.
fn counts_for(
    filters: &Filters,
    channel: Option<ChannelId>,
    team: Option<TeamId>,
    agent: Option<AgentId>,
) -> bool {
    (filters.channel.is_none() || channel == filters.channel)
        && (filters.team.is_none() || team == filters.team)
        && (filters.agent.is_none() || agent == filters.agent)
}

fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn bot_tables(runs: Vec<(ChatflowId, Run)>) -> (Vec<BotRow>, Vec<BotStepRow>) {
    let mut bots: BTreeMap<ChatflowId, [u64; 4]> = BTreeMap::new();
    // Per chatflow, steps in the order they were first entered across runs (by run start).
    let mut steps: BTreeMap<ChatflowId, Vec<(String, [u64; 4])>> = BTreeMap::new();
    let mut runs = runs;
    runs.sort_by_key(|(_, run)| run.started);
    for (chatflow, run) in runs {
        let counts = bots.entry(chatflow).or_default();
        counts[0] += 1;
        match run.outcome {
            Some(Outcome::Completed) => counts[1] += 1,
            Some(Outcome::HandedOff) => counts[2] += 1,
            Some(Outcome::Abandoned) => counts[3] += 1,
            None => {}
        }
        let list = steps.entry(chatflow).or_default();
        for (step, acc) in run.steps {
            let index = match list.iter().position(|(s, _)| *s == step) {
                Some(i) => i,
                None => {
                    list.push((step, [0; 4]));
                    list.len() - 1
                }
            };
            if let Some((_, c)) = list.get_mut(index) {
                c[0] += u64::from(acc.entered);
                c[1] += u64::from(acc.completed);
                c[2] += u64::from(acc.handed_off);
                c[3] += u64::from(acc.abandoned);
            }
        }
    }
    let bot_rows = bots
        .into_iter()
        .map(
            |(chatflow_id, [started, completed, handed_off, abandoned])| BotRow {
                chatflow_id,
                started,
                completed,
                handed_off,
                abandoned,
                in_progress: started.saturating_sub(completed + handed_off + abandoned),
                resolution_rate: rate(completed, started),
            },
        )
        .collect();
    let step_rows = steps
        .into_iter()
        .flat_map(|(chatflow_id, list)| {
            list.into_iter()
                .map(
                    move |(step, [entered, completed, handed_off, abandoned])| BotStepRow {
                        chatflow_id,
                        step,
                        entered,
                        completed,
                        handed_off,
                        abandoned,
                        drop_off_rate: rate(abandoned, entered),
                    },
                )
        })
        .collect();
    (bot_rows, step_rows)
}

#[cfg(test)]
mod tests;
