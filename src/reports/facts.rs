//! What one conversation contributes to reports, derived once from its events and kept as its
//! rollup (docs/reports.md "Rollups").
//!
//! [`derive`] replays a conversation's whole history (docs/reports.md "Conversation state,
//! replayed") and records every measured fact *with the time it happened*, and every value
//! that a later event could change (the first team, a bot run's outcome, a step's activity)
//! with the time it was given. A report then takes the facts in its range and, for those
//! values, only what was given before the range's end, which is exactly what replaying the
//! events up to the range's end gives. So the facts do not depend on any range and a
//! conversation's rollup is only recomputed when it gets new events.
//!
//! Times are Unix nanoseconds, so durations are the same as from the events themselves.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::{ReportEventKind, ReportEventRow};

/// Bumped when [`ConversationFacts`] or [`derive`] change meaning: a rollup of another version
/// is recomputed before it is read (see `reports::rollup`).
pub const FORMAT: u8 = 1;

/// A time as Unix nanoseconds.
pub type Nanos = i128;

pub fn nanos(at: OffsetDateTime) -> Nanos {
    at.unix_timestamp_nanos()
}

/// The facts of one conversation, from all its report events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationFacts {
    pub conversation: Uuid,
    /// The inbox of its first event that names one.
    pub inbox: Option<Uuid>,
    /// From `conversation.created`.
    pub channel: Option<Uuid>,
    pub channel_kind: Option<String>,
    /// When `conversation.created` happened (none when its creation predates the events).
    pub created: Option<Nanos>,
    /// The team of the first `conversation.assigned` that names one, and when.
    pub first_team: Option<(Uuid, Nanos)>,
    /// Every human reply.
    pub replies: Vec<Reply>,
    /// Every first response of a cycle in which the contact wrote first.
    pub first_responses: Vec<Span>,
    /// Every close.
    pub closes: Vec<Span>,
    /// Every bot run, in the order the runs started.
    pub runs: Vec<RunFacts>,
}

/// A human reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub at: Nanos,
    pub agent: Uuid,
    /// The team holding the conversation then.
    pub team: Option<Uuid>,
}

/// A measured duration from `since` to `at`, credited to `agent` (`None`: nobody).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub since: Nanos,
    pub at: Nanos,
    pub agent: Option<Uuid>,
    /// The team holding the conversation at `at`.
    pub team: Option<Uuid>,
}

/// How a bot run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Completed,
    HandedOff,
    Abandoned,
}

/// One chatflow's bot activity in the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFacts {
    pub chatflow: Uuid,
    /// Its first `bot.step`.
    pub started: Nanos,
    /// Its first `bot.finished`, and when.
    pub outcome: Option<(Outcome, Nanos)>,
    /// Its steps in the order first seen.
    pub steps: Vec<StepFacts>,
}

/// What a run did at one step: when each kind of `bot.step` first happened there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepFacts {
    pub step: String,
    /// Its first `bot.step` of any kind.
    pub seen: Nanos,
    pub entered: Option<Nanos>,
    pub completed: Option<Nanos>,
    pub handed_off: Option<Nanos>,
    pub abandoned: Option<Nanos>,
}

/// A resolution cycle: from the conversation's start or its latest reopening.
struct Cycle {
    start: Nanos,
    contact_wrote: bool,
    answered: bool,
    last_handoff: Option<Nanos>,
}

impl Cycle {
    fn new(start: Nanos) -> Self {
        Self {
            start,
            contact_wrote: false,
            answered: false,
            last_handoff: None,
        }
    }
}

/// The facts of one conversation from its report events, in time order (then id). Events whose
/// data is not as written are passed over.
pub fn derive(events: &[ReportEventRow]) -> ConversationFacts {
    let mut facts = ConversationFacts::default();
    let Some(first) = events.first() else {
        return facts;
    };
    facts.conversation = first.conversation_id.0;
    facts.inbox = events.iter().find_map(|e| e.inbox_id).map(|i| i.0);
    let mut team: Option<Uuid> = None;
    let mut assignee: Option<Uuid> = None;
    let mut closed = false;
    let mut cycle = Cycle::new(nanos(first.occurred_at));

    for event in events {
        let at = nanos(event.occurred_at);
        let word = event.word.as_deref();
        match event.kind {
            ReportEventKind::Created => {
                facts.channel = event.ref_id;
                facts.channel_kind = event.word.clone();
                facts.created = Some(at);
                cycle = Cycle::new(at);
            }
            ReportEventKind::Assigned => {
                assignee = event.ref_id;
                team = event.team_id.map(|t| t.0);
                if facts.first_team.is_none()
                    && let Some(t) = team
                {
                    facts.first_team = Some((t, at));
                }
            }
            ReportEventKind::StatusChanged => {
                let Some(to) = word else { continue };
                let to_closed = to == "closed";
                if to_closed && !closed {
                    facts.closes.push(Span {
                        since: cycle.start,
                        at,
                        agent: event.agent_id.map(|a| a.0).or(assignee),
                        team,
                    });
                } else if !to_closed && closed {
                    cycle = Cycle::new(at);
                }
                closed = to_closed;
            }
            ReportEventKind::MessageReceived => cycle.contact_wrote = true,
            ReportEventKind::MessageSent => {
                // Bot and system messages carry no agent: they are not human replies.
                let Some(agent) = event.agent_id.map(|a| a.0) else {
                    continue;
                };
                facts.replies.push(Reply { at, agent, team });
                if !cycle.answered {
                    cycle.answered = true;
                    if cycle.contact_wrote {
                        let since = cycle
                            .last_handoff
                            .map_or(cycle.start, |h| h.max(cycle.start));
                        facts.first_responses.push(Span {
                            since,
                            at,
                            agent: Some(agent),
                            team,
                        });
                    }
                }
            }
            ReportEventKind::BotStep => {
                let (Some(chatflow), Some(step), Some(kind)) =
                    (event.ref_id, event.step.as_deref(), word)
                else {
                    continue;
                };
                if !matches!(kind, "entered" | "completed" | "handed_off" | "abandoned") {
                    continue;
                }
                let run = match facts.runs.iter().position(|r| r.chatflow == chatflow) {
                    Some(i) => &mut facts.runs[i],
                    None => {
                        facts.runs.push(RunFacts {
                            chatflow,
                            started: at,
                            outcome: None,
                            steps: Vec::new(),
                        });
                        let last = facts.runs.len() - 1;
                        &mut facts.runs[last]
                    }
                };
                let index = match run.steps.iter().position(|s| s.step == step) {
                    Some(i) => i,
                    None => {
                        run.steps.push(StepFacts {
                            step: step.to_owned(),
                            seen: at,
                            entered: None,
                            completed: None,
                            handed_off: None,
                            abandoned: None,
                        });
                        run.steps.len() - 1
                    }
                };
                let acc = &mut run.steps[index];
                let slot = match kind {
                    "entered" => &mut acc.entered,
                    "completed" => &mut acc.completed,
                    "handed_off" => &mut acc.handed_off,
                    _ => &mut acc.abandoned,
                };
                slot.get_or_insert(at);
            }
            ReportEventKind::BotFinished => {
                let (Some(chatflow), Some(outcome)) = (event.ref_id, word) else {
                    continue;
                };
                let outcome = match outcome {
                    "completed" => Outcome::Completed,
                    "handed_off" => Outcome::HandedOff,
                    "abandoned" => Outcome::Abandoned,
                    _ => continue,
                };
                if let Some(run) = facts.runs.iter_mut().find(|r| r.chatflow == chatflow) {
                    run.outcome.get_or_insert((outcome, at));
                }
                if outcome == Outcome::HandedOff {
                    cycle.last_handoff = Some(at);
                }
            }
        }
    }
    facts
}

/// The facts as a rollup stores them: [`FORMAT`], then the facts in postcard (compact binary
/// serde: a year of rollups is read and decoded far faster than as JSON).
pub fn encode(facts: &ConversationFacts) -> Result<Vec<u8>, postcard::Error> {
    let mut bytes = vec![FORMAT];
    bytes.extend(postcard::to_allocvec(facts)?);
    Ok(bytes)
}

/// A stored rollup's facts; `None` when it was written in another format (or is damaged).
pub fn decode(bytes: &[u8]) -> Option<ConversationFacts> {
    match bytes.split_first() {
        Some((&FORMAT, body)) => postcard::from_bytes(body).ok(),
        _ => None,
    }
}
