//! Reports: who answers, how fast, and how the bots do, computed from the append-only events.
//!
//! The definitions are in `docs/reports.md`; this module is their one implementation.
//!
//! - [`facts`]: one conversation's events replayed into its facts, each with its time (pure).
//!   Stored per conversation as its *rollup*, recomputed only when it gets new events.
//! - [`rollup`]: bringing rollups up to date with the events, and reading a range's.
//! - [`aggregate`]: the facts of a range's conversations into every table of a [`Report`]
//!   (pure); [`compute`] is the same straight from events.
//! - [`Period`]: the date range in a time zone, and the local day of an instant.
//! - [`csv`]: the tables as CSV.

pub mod csv;
pub mod facts;
pub mod rollup;

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::chatflows::availability::Availability;
use crate::domain::{AgentId, ChannelId, ChatflowId, ConversationId, InboxId, TeamId};
use crate::store::ReportEventRow;
use facts::{ConversationFacts, Nanos, Outcome, nanos};

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

    /// The local day holding `at` and its bounds: from its midnight to the next, each resolved
    /// as the range's own bounds are. `None` when a bound cannot be resolved.
    fn day_span(&self, at: Nanos) -> Option<DaySpan> {
        let ts = Timestamp::from_nanosecond(at).ok()?;
        let date = self.tz.to_datetime(ts).date();
        let midnight = |d: Date| {
            self.tz
                .to_ambiguous_timestamp(d.at(0, 0, 0, 0))
                .compatible()
                .ok()
                .map(|t| t.as_nanosecond())
        };
        let span = DaySpan {
            date,
            start: midnight(date)?,
            end: midnight(date.tomorrow().ok()?)?,
        };
        (span.start <= at && at < span.end).then_some(span)
    }
}

/// A local day and the instants it covers, `[start, end)`.
#[derive(Debug, Clone, Copy)]
struct DaySpan {
    date: Date,
    start: Nanos,
    end: Nanos,
}

/// The local day of instants, remembering the last day found: a report's conversations come
/// in id order (UUIDv7, so creation order), and most follow the previous one's day.
struct Days<'p> {
    period: &'p Period,
    last: Option<DaySpan>,
}

impl<'p> Days<'p> {
    fn new(period: &'p Period) -> Self {
        Self { period, last: None }
    }

    fn of(&mut self, at: Nanos) -> Date {
        if let Some(span) = self.last
            && span.start <= at
            && at < span.end
        {
            return span.date;
        }
        match self.period.day_span(at) {
            Some(span) => {
                self.last = Some(span);
                span.date
            }
            None => instant(at).map_or(self.period.from, |at| self.period.day_of(at)),
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
    started: Nanos,
    outcome: Option<Outcome>,
    /// Steps in the order first entered.
    steps: Vec<(String, StepAcc)>,
}

/// Which new-conversations table a count belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum DayTable {
    Channel,
    Inbox,
    Team,
}

/// A new-conversations count's place: local day, the channel, inbox or team, and the table.
type DayKey = (Date, Option<uuid::Uuid>, DayTable);

/// Computes every table of the report by replaying events: grouped by conversation, each
/// conversation's events by time, then id (as [`crate::store::Store::report_history`] gives
/// them). The same as [`aggregate`] over each conversation's [`facts::derive`].
pub fn compute(
    rows: &[ReportEventRow],
    period: &Period,
    filters: &Filters,
    hours: &InboxHours,
) -> Report {
    let facts: Vec<ConversationFacts> = rows
        .chunk_by(|a, b| a.conversation_id == b.conversation_id)
        .map(facts::derive)
        .collect();
    aggregate(&facts, period, filters, hours)
}

/// Computes every table of the report from the conversations' facts (their rollups): each
/// fact in the range counts, with the values a later event could change (the first team, a
/// run's outcome, a step's activity) as they stood at the range's end.
pub fn aggregate(
    conversations: &[ConversationFacts],
    period: &Period,
    filters: &Filters,
    hours: &InboxHours,
) -> Report {
    let (start, end) = (nanos(period.start()), nanos(period.end()));
    let in_range = |at: Nanos| start <= at && at < end;
    let before_end = |at: &Nanos| *at < end;
    let mut created: BTreeMap<DayKey, (Option<String>, u64)> = BTreeMap::new();
    let mut agents: HashMap<Option<AgentId>, AgentAcc> = HashMap::new();
    let mut runs: Vec<(ChatflowId, Run)> = Vec::new();
    let mut days = Days::new(period);

    for facts in conversations {
        let inbox = facts.inbox.map(InboxId);
        if filters.inbox.is_some() && inbox != filters.inbox {
            continue;
        }
        let conversation = ConversationId(facts.conversation);
        let channel = facts.channel.map(ChannelId);
        let availability = inbox.and_then(|i| hours.get(&i));
        let office = |since: Nanos, at: Nanos| match (availability, instant(since), instant(at)) {
            (Some(a), Some(since), Some(at)) => a.open_seconds_between(since, at),
            _ => seconds(since, at),
        };
        let agent_counts = |team: Option<uuid::Uuid>, agent: Option<uuid::Uuid>| {
            counts_for(filters, channel, team.map(TeamId), agent.map(AgentId))
        };

        for reply in &facts.replies {
            if in_range(reply.at) && agent_counts(reply.team, Some(reply.agent)) {
                let acc = agents.entry(Some(AgentId(reply.agent))).or_default();
                acc.replies += 1;
                acc.conversations.insert(conversation);
            }
        }
        for first in &facts.first_responses {
            if in_range(first.at) && agent_counts(first.team, first.agent) {
                let acc = agents.entry(first.agent.map(AgentId)).or_default();
                acc.first_response.push(seconds(first.since, first.at));
                acc.first_response_office
                    .push(office(first.since, first.at));
            }
        }
        for close in &facts.closes {
            if in_range(close.at) && agent_counts(close.team, close.agent) {
                let acc = agents.entry(close.agent.map(AgentId)).or_default();
                acc.time_to_close.push(seconds(close.since, close.at));
                acc.time_to_close_office.push(office(close.since, close.at));
            }
        }

        let channel_ok = filters.channel.is_none() || channel == filters.channel;
        // The first team as it stood at the range's end.
        let first_team = facts
            .first_team
            .filter(|(_, given)| before_end(given))
            .map(|(team, _)| TeamId(team));
        if let Some(at) = facts.created
            && in_range(at)
            && channel_ok
            && (filters.team.is_none() || first_team == filters.team)
        {
            let day = days.of(at);
            let mut bump = |key: Option<uuid::Uuid>, table: DayTable, kind: Option<&String>| {
                let entry = created
                    .entry((day, key, table))
                    .or_insert_with(|| (kind.cloned(), 0));
                entry.1 += 1;
            };
            bump(
                facts.channel,
                DayTable::Channel,
                facts.channel_kind.as_ref(),
            );
            bump(facts.inbox, DayTable::Inbox, None);
            bump(first_team.map(|t| t.0), DayTable::Team, None);
        }
        if channel_ok {
            runs.extend(
                facts
                    .runs
                    .iter()
                    .filter(|run| in_range(run.started))
                    .map(|run| {
                        let steps = run
                            .steps
                            .iter()
                            .filter(|s| before_end(&s.seen))
                            .map(|s| {
                                let did = |at: &Option<Nanos>| at.as_ref().is_some_and(before_end);
                                let acc = StepAcc {
                                    entered: did(&s.entered),
                                    completed: did(&s.completed),
                                    handed_off: did(&s.handed_off),
                                    abandoned: did(&s.abandoned),
                                };
                                (s.step.clone(), acc)
                            })
                            .collect();
                        let run_now = Run {
                            started: run.started,
                            outcome: run.outcome.filter(|(_, at)| before_end(at)).map(|(o, _)| o),
                            steps,
                        };
                        (ChatflowId(run.chatflow), run_now)
                    }),
            );
        }
    }

    let mut report = Report::default();
    for ((day, key, table), (channel_kind, conversations)) in created {
        let row = DayCount {
            day: day.to_string(),
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

/// Whole seconds from `since` to `at` (towards zero, as `Duration::whole_seconds`).
fn seconds(since: Nanos, at: Nanos) -> i64 {
    i64::try_from((at - since) / 1_000_000_000).unwrap_or(i64::MAX)
}

fn instant(at: Nanos) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(at).ok()
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
