//! The bot flow format, version 1: a JSON object naming the first step and a map of steps by id.
//!
//! ```json
//! { "version": 1, "start": "greet",
//!   "steps": { "greet": { "type": "message", "text": "Hi!", "next": "bye" },
//!              "bye":   { "type": "end" } } }
//! ```
//!
//! Steps live in a map (not a list) so every reference is a plain id and a step's place in a
//! validation error is `steps.<id>.<field>`. The types here only describe shape; whether the ids
//! point anywhere, the graph can spin, and the values are sensible is checked by
//! [`super::validate()`], the way to turn untrusted JSON into a [`Flow`] (deserializing one
//! directly skips those checks). See `docs/bots.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::{AgentId, TeamId};

/// The only flow format version this build understands.
pub const FLOW_FORMAT_VERSION: u32 = 1;

/// A validated flow. Steps are kept sorted by id so validation errors come in a stable order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    pub version: u32,
    pub start: String,
    pub steps: BTreeMap<String, Step>,
}

impl Flow {
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.get(id)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Step {
    Message(MessageStep),
    Question(QuestionStep),
    Branch(BranchStep),
    Handoff(HandoffStep),
    CreateTicket(CreateTicketStep),
    Webhook(WebhookStep),
    End(EndStep),
}

impl Step {
    /// The steps this one can go to, each with the field that names it (for error paths).
    pub fn links(&self) -> Vec<(String, &str)> {
        match self {
            Step::Message(s) => vec![("next".into(), s.next.as_str())],
            Step::Question(s) => vec![("next".into(), s.next.as_str())],
            Step::CreateTicket(s) => vec![("next".into(), s.next.as_str())],
            Step::Webhook(s) => vec![
                ("next".into(), s.next.as_str()),
                ("on_error_next".into(), s.on_error_next.as_str()),
            ],
            Step::Branch(s) => s
                .cases
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("cases[{i}].next"), c.next.as_str()))
                .chain([("else_next".to_owned(), s.else_next.as_str())])
                .collect(),
            Step::Handoff(_) | Step::End(_) => Vec::new(),
        }
    }

    /// The `type` word, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Step::Message(_) => "message",
            Step::Question(_) => "question",
            Step::Branch(_) => "branch",
            Step::Handoff(_) => "handoff",
            Step::CreateTicket(_) => "create_ticket",
            Step::Webhook(_) => "webhook",
            Step::End(_) => "end",
        }
    }
}

/// Says `text` and goes on at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageStep {
    pub text: String,
    pub next: String,
}

/// Asks, waits for the visitor, checks the answer by `kind`, re-asks with `retry_text` until
/// `max_attempts` answers were refused, then hands off to the inbox (a person can always make
/// sense of what a form check could not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionStep {
    pub text: String,
    pub kind: QuestionKind,
    /// Offered as quick replies; required (and only allowed) for `choice`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
    /// Contact property the accepted answer is saved into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// Said when an answer is refused; defaults to a sentence naming what was expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_text: Option<String>,
    /// Answers accepted before giving up, counting the first.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    pub next: String,
}

pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// More re-asks than this only annoys the visitor; a person should take over.
pub const MAX_ATTEMPTS_LIMIT: u32 = 10;

fn default_max_attempts() -> u32 {
    DEFAULT_MAX_ATTEMPTS
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    FreeText,
    Email,
    Phone,
    Number,
    Choice,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// What the visitor sees on the quick reply.
    pub label: String,
    /// What is saved and compared in branches.
    pub value: String,
}

/// Goes to the first case whose condition holds for the value `on` names, else `else_next`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BranchStep {
    pub on: BranchOn,
    pub cases: Vec<Case>,
    pub else_next: String,
}

/// `"answer"` (the last accepted answer), `{"property": "plan"}` (a contact property, including
/// ones this bot just saved) or `"agents_available"` (true or false).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BranchOn {
    Answer,
    Property(String),
    AgentsAvailable,
}

/// One condition (exactly one of the optional fields) and where it leads. Text compares
/// case-insensitively and trimmed; a numeric text equals the same number.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greater_than: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub less_than: Option<f64>,
    /// The value is missing (no answer yet, property not set).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_empty: bool,
    pub next: String,
}

impl Case {
    /// How many conditions the case carries; validation requires exactly one.
    pub fn condition_count(&self) -> usize {
        [
            self.equals.is_some(),
            self.one_of.is_some(),
            self.contains.is_some(),
            self.greater_than.is_some(),
            self.less_than.is_some(),
            self.is_empty,
        ]
        .iter()
        .filter(|b| **b)
        .count()
    }
}

/// Ends the bot and gives the conversation to people. `message` is said first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffStep {
    /// Optional in the type so that its absence is reported as a missing target by name.
    #[serde(default)]
    pub to: Option<HandoffTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `{"team_id": "…"}`, `{"agent_id": "…"}` or `"inbox"` (the channel's inbox routing rules).
/// Whether the team or agent exists in the account is checked by whoever saves the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffTarget {
    TeamId(TeamId),
    AgentId(AgentId),
    Inbox,
}

/// Opens a ticket titled from a template (`{{property}}` placeholders) and goes on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTicketStep {
    pub title: String,
    pub next: String,
}

/// POSTs the collected data to `url` (the caller signs and sends it), then goes to `next` with
/// properties copied from the JSON response, or to `on_error_next` when the call failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookStep {
    pub url: String,
    /// Contact property ← dotted path into the response (`"customer.plan"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set_properties: BTreeMap<String, String>,
    pub next: String,
    pub on_error_next: String,
}

/// Ends the bot, optionally saying goodbye. The conversation stays open for people to read.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}
