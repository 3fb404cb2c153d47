//! The bot step machine: given a validated [`Flow`], its state and one input, the next state and
//! the effects to perform. Pure: it says, sets, hands off, opens tickets and calls webhooks only
//! by returning [`Output`]s; the caller performs them (and stores [`BotState`] as JSON, so a
//! node restart resumes the bot where it waited).
//!
//! A bot waits in exactly two places: at a question (for visitor text) and at a webhook (for
//! the caller to feed back [`Input::WebhookResult`]). Every other step runs through at once.
//! Inputs that arrive while the bot waits for the other kind are ignored (no outputs): a visitor
//! typing while a webhook is in flight is kept in the conversation by the caller, not answered.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use super::flow::*;
use crate::domain::{EmailAddress, MAX_PROPERTY_TEXT_CHARS, Properties};

/// Steps run for one input before the engine gives up and hands off. Validation refuses loops
/// without a question, but a flow stored before a rule existed must not spin a node.
pub const MAX_STEPS_PER_INPUT: usize = 100;

/// Where a running bot is, stored between inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotState {
    /// The chatflow's `flow_version` this state was made under.
    pub flow_version: i32,
    /// The step waiting for input; the last step run once finished.
    pub current_step: String,
    /// Answers refused so far at the current question.
    pub attempts: u32,
    /// Accepted answers by question step id.
    pub answers: Map<String, Value>,
    /// Properties this bot set; read before the contact's own, which the caller may not have
    /// saved yet when the next branch runs.
    #[serde(default)]
    pub properties: Map<String, Value>,
    /// The last accepted answer, which `"on": "answer"` branches read.
    #[serde(default)]
    pub last_answer: Option<Value>,
    #[serde(default)]
    pub waiting: Waiting,
    pub finished: bool,
    #[serde(default)]
    pub outcome: Option<Outcome>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Waiting {
    #[default]
    Nothing,
    Visitor,
    Webhook,
}

/// How a bot run ended, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    HandedOff,
    Abandoned,
}

/// What the engine needs to know from outside.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The chatflow's current `flow_version`.
    pub flow_version: i32,
    /// The contact's saved properties.
    pub properties: &'a Map<String, Value>,
    /// Whether an agent who could take the conversation is online now.
    pub agents_available: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Input {
    /// What the visitor typed, or the `value` of the quick reply they tapped.
    Text(String),
    /// The outcome of the last [`Output::CallWebhook`]: the response JSON, or why it failed
    /// (timeout, non-2xx status, body not JSON).
    WebhookResult(Result<Value, String>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuickReply {
    pub label: String,
    pub value: String,
}

/// An effect for the caller to perform, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Output {
    Say {
        text: String,
        quick_replies: Vec<QuickReply>,
    },
    SetProperty {
        key: String,
        value: Value,
    },
    Handoff {
        target: HandoffTarget,
    },
    CreateTicket {
        title: String,
    },
    /// POST `payload` to `url`, signed by the caller, then feed back [`Input::WebhookResult`].
    CallWebhook {
        url: String,
        payload: Value,
    },
    /// For reports: drop-off per step.
    StepEvent {
        step: String,
        kind: StepEventKind,
    },
    /// For reports: the run is over.
    Finished {
        outcome: Outcome,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepEventKind {
    Entered,
    Completed,
    Abandoned,
    HandedOff,
}

/// Starts a bot at the flow's first step and runs until it waits or ends.
pub fn start(flow: &Flow, ctx: &Context) -> (BotState, Vec<Output>) {
    let mut run = Run {
        flow,
        ctx,
        state: BotState {
            flow_version: ctx.flow_version,
            current_step: flow.start.clone(),
            attempts: 0,
            answers: Map::new(),
            properties: Map::new(),
            last_answer: None,
            waiting: Waiting::Nothing,
            finished: false,
            outcome: None,
        },
        out: Vec::new(),
    };
    run.go(flow.start.clone());
    (run.state, run.out)
}

/// Feeds one input to a waiting bot. A finished bot, or an input of the kind the bot is not
/// waiting for, gives no outputs and the same state.
///
/// When the chatflow's flow changed since the bot started, the bot carries on if its step still
/// exists and waits for the same kind of input; otherwise it hands off to the inbox, since no
/// step of the new flow is known to fit where the visitor is.
pub fn on_input(
    flow: &Flow,
    state: BotState,
    input: Input,
    ctx: &Context,
) -> (BotState, Vec<Output>) {
    let mut run = Run {
        flow,
        ctx,
        state,
        out: Vec::new(),
    };
    if run.state.finished {
        return (run.state, run.out);
    }
    let id = run.state.current_step.clone();
    let step = flow.step(&id);
    let fits = matches!(
        (step, run.state.waiting),
        (Some(Step::Question(_)), Waiting::Visitor) | (Some(Step::Webhook(_)), Waiting::Webhook)
    );
    if !fits {
        run.fallback_handoff(&id);
        return (run.state, run.out);
    }
    run.state.flow_version = ctx.flow_version;
    match (step, input) {
        (Some(Step::Question(q)), Input::Text(text)) => run.answer(&id, q, &text),
        (Some(Step::Webhook(w)), Input::WebhookResult(result)) => {
            run.webhook_result(&id, w, result)
        }
        _ => {}
    }
    (run.state, run.out)
}

/// The visitor left (or went quiet past the caller's timeout) while the bot waited.
pub fn abandon(state: BotState) -> (BotState, Vec<Output>) {
    let mut state = state;
    if state.finished {
        return (state, Vec::new());
    }
    let out = vec![
        Output::StepEvent {
            step: state.current_step.clone(),
            kind: StepEventKind::Abandoned,
        },
        Output::Finished {
            outcome: Outcome::Abandoned,
        },
    ];
    state.finished = true;
    state.waiting = Waiting::Nothing;
    state.outcome = Some(Outcome::Abandoned);
    (state, out)
}

struct Run<'f, 'c> {
    flow: &'f Flow,
    ctx: &'c Context<'c>,
    state: BotState,
    out: Vec<Output>,
}

impl Run<'_, '_> {
    fn event(&mut self, step: &str, kind: StepEventKind) {
        self.out.push(Output::StepEvent {
            step: step.to_owned(),
            kind,
        });
    }

    fn say(&mut self, text: &str, quick_replies: Vec<QuickReply>) {
        let text = self.render(text);
        self.out.push(Output::Say {
            text,
            quick_replies,
        });
    }

    fn finish(&mut self, outcome: Outcome) {
        self.state.finished = true;
        self.state.waiting = Waiting::Nothing;
        self.state.outcome = Some(outcome);
        self.out.push(Output::Finished { outcome });
    }

    /// Gives the conversation to the inbox when the flow cannot go on (answers refused too often,
    /// a step gone from a changed flow, a runaway flow).
    fn fallback_handoff(&mut self, step: &str) {
        self.out.push(Output::Handoff {
            target: HandoffTarget::Inbox,
        });
        self.event(step, StepEventKind::HandedOff);
        self.finish(Outcome::HandedOff);
    }

    fn set_property(&mut self, key: &str, value: Value) {
        self.state.properties.insert(key.to_owned(), value.clone());
        self.out.push(Output::SetProperty {
            key: key.to_owned(),
            value,
        });
    }

    /// Runs steps from `id` until one waits or the bot ends.
    fn go(&mut self, mut id: String) {
        for _ in 0..MAX_STEPS_PER_INPUT {
            self.state.current_step = id.clone();
            self.state.attempts = 0;
            let Some(step) = self.flow.step(&id) else {
                self.fallback_handoff(&id);
                return;
            };
            self.event(&id, StepEventKind::Entered);
            let next = match step {
                Step::Message(s) => {
                    self.say(&s.text, Vec::new());
                    &s.next
                }
                Step::Question(q) => {
                    self.say(&q.text, quick_replies(q));
                    self.state.waiting = Waiting::Visitor;
                    return;
                }
                Step::Branch(b) => self.branch(b),
                Step::Handoff(h) => {
                    if let Some(text) = &h.message {
                        self.say(text, Vec::new());
                    }
                    self.out.push(Output::Handoff {
                        target: h.to.unwrap_or(HandoffTarget::Inbox),
                    });
                    self.event(&id, StepEventKind::HandedOff);
                    self.finish(Outcome::HandedOff);
                    return;
                }
                Step::CreateTicket(t) => {
                    let title = self.render(&t.title);
                    self.out.push(Output::CreateTicket { title });
                    &t.next
                }
                Step::Webhook(w) => {
                    let payload = serde_json::json!({
                        "step": id,
                        "flow_version": self.state.flow_version,
                        "answers": self.state.answers,
                        "properties": self.merged_properties(),
                    });
                    self.out.push(Output::CallWebhook {
                        url: w.url.clone(),
                        payload,
                    });
                    self.state.waiting = Waiting::Webhook;
                    return;
                }
                Step::End(e) => {
                    if let Some(text) = &e.text {
                        self.say(text, Vec::new());
                    }
                    self.event(&id, StepEventKind::Completed);
                    self.finish(Outcome::Completed);
                    return;
                }
            };
            self.event(&id, StepEventKind::Completed);
            id = next.clone();
        }
        self.fallback_handoff(&id);
    }

    fn answer(&mut self, id: &str, q: &QuestionStep, text: &str) {
        match check_answer(q, text) {
            Ok(value) => {
                self.state.answers.insert(id.to_owned(), value.clone());
                self.state.last_answer = Some(value.clone());
                if let Some(key) = &q.property {
                    self.set_property(key, value);
                }
                self.event(id, StepEventKind::Completed);
                self.state.waiting = Waiting::Nothing;
                self.go(q.next.clone());
            }
            Err(why) => {
                self.state.attempts += 1;
                if self.state.attempts >= q.max_attempts {
                    self.fallback_handoff(id);
                } else {
                    let retry = q.retry_text.clone().unwrap_or(why);
                    self.say(&retry, quick_replies(q));
                }
            }
        }
    }

    fn webhook_result(&mut self, id: &str, w: &WebhookStep, result: Result<Value, String>) {
        self.state.waiting = Waiting::Nothing;
        let next = match result {
            Ok(response) => {
                for (key, path) in &w.set_properties {
                    if let Some(value) =
                        lookup(&response, path).filter(|v| is_property_value(key, v))
                    {
                        self.set_property(key, value.clone());
                    }
                }
                &w.next
            }
            Err(_) => &w.on_error_next,
        };
        self.event(id, StepEventKind::Completed);
        self.go(next.clone());
    }

    fn branch<'s>(&self, b: &'s BranchStep) -> &'s String {
        let value = match &b.on {
            BranchOn::Answer => self.state.last_answer.clone(),
            BranchOn::Property(key) => self.property(key),
            BranchOn::AgentsAvailable => Some(Value::Bool(self.ctx.agents_available)),
        };
        b.cases
            .iter()
            .find(|c| case_holds(c, value.as_ref()))
            .map_or(&b.else_next, |c| &c.next)
    }

    fn property(&self, key: &str) -> Option<Value> {
        self.state
            .properties
            .get(key)
            .or_else(|| self.ctx.properties.get(key))
            .filter(|v| !v.is_null())
            .cloned()
    }

    fn merged_properties(&self) -> Map<String, Value> {
        let mut all = self.ctx.properties.clone();
        all.extend(self.state.properties.clone());
        all
    }

    /// Fills `{{name}}` with a property (this bot's first, then the contact's) or the answer of
    /// the question step so named; unknown names become empty.
    fn render(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(open) = rest.find("{{") {
            let Some(close) = rest[open + 2..].find("}}") else {
                break;
            };
            out.push_str(&rest[..open]);
            let name = rest[open + 2..open + 2 + close].trim();
            let value = self
                .property(name)
                .or_else(|| self.state.answers.get(name).cloned());
            if let Some(value) = value {
                out.push_str(&as_text(&value));
            }
            rest = &rest[open + 2 + close + 2..];
        }
        out.push_str(rest);
        out
    }
}

fn quick_replies(q: &QuestionStep) -> Vec<QuickReply> {
    q.choices
        .iter()
        .map(|c| QuickReply {
            label: c.label.clone(),
            value: c.value.clone(),
        })
        .collect()
}

/// The answer as it is saved, or the sentence that re-asks.
fn check_answer(q: &QuestionStep, raw: &str) -> Result<Value, String> {
    let text = raw.trim();
    match q.kind {
        QuestionKind::FreeText => {
            if text.is_empty() {
                Err("Please type an answer.".into())
            } else if text.chars().count() > MAX_PROPERTY_TEXT_CHARS {
                Err(format!(
                    "Please keep your answer under {MAX_PROPERTY_TEXT_CHARS} characters."
                ))
            } else {
                Ok(Value::String(text.to_owned()))
            }
        }
        QuestionKind::Email => EmailAddress::parse(text)
            .map(|e| Value::String(e.into()))
            .map_err(|_| "That does not look like an email address; please try again.".into()),
        QuestionKind::Phone => {
            check_phone(text).map_err(|_| "Please enter a phone number (6 to 20 digits).".into())
        }
        QuestionKind::Number => parse_number(text)
            .map(Value::Number)
            .ok_or_else(|| "Please enter a number.".into()),
        QuestionKind::Choice => q
            .choices
            .iter()
            .find(|c| {
                let text = text.to_lowercase();
                c.value.trim().to_lowercase() == text || c.label.trim().to_lowercase() == text
            })
            .map(|c| Value::String(c.value.clone()))
            .ok_or_else(|| {
                let labels: Vec<&str> = q.choices.iter().map(|c| c.label.as_str()).collect();
                format!("Please choose one of: {}.", labels.join(", "))
            }),
    }
}

/// Digits, spaces and `- ( ) .`, an optional leading `+`, and 6 to 20 digits.
fn check_phone(text: &str) -> Result<Value, ()> {
    let body = text.strip_prefix('+').unwrap_or(text);
    let digits = body.chars().filter(char::is_ascii_digit).count();
    let allowed = body
        .chars()
        .all(|c| c.is_ascii_digit() || " -().".contains(c));
    if allowed && (6..=20).contains(&digits) {
        Ok(Value::String(text.to_owned()))
    } else {
        Err(())
    }
}

/// A finite number; whole numbers stay integers so `12` is saved as `12`, not `12.0`.
fn parse_number(text: &str) -> Option<Number> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(Number::from(i));
    }
    text.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .and_then(Number::from_f64)
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn as_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// Equality as a person means it: `"Pro"` equals `"pro"`, `"12"` equals `12`, `"true"` equals
/// `true`.
fn loosely_equal(a: &Value, b: &Value) -> bool {
    if let (Some(x), Some(y)) = (as_number(a), as_number(b)) {
        return x == y;
    }
    as_text(a).trim().to_lowercase() == as_text(b).trim().to_lowercase()
}

fn case_holds(case: &Case, value: Option<&Value>) -> bool {
    let empty = value.is_none_or(|v| v.is_null() || as_text(v).trim().is_empty());
    if case.is_empty {
        return empty;
    }
    let Some(value) = value.filter(|_| !empty) else {
        return false;
    };
    if let Some(expected) = &case.equals {
        return loosely_equal(value, expected);
    }
    if let Some(options) = &case.one_of {
        return options.iter().any(|o| loosely_equal(value, o));
    }
    if let Some(part) = &case.contains {
        return as_text(value)
            .to_lowercase()
            .contains(&part.trim().to_lowercase());
    }
    if let Some(limit) = case.greater_than {
        return as_number(value).is_some_and(|n| n > limit);
    }
    if let Some(limit) = case.less_than {
        return as_number(value).is_some_and(|n| n < limit);
    }
    false
}

/// Follows a dotted path (`customer.plan`, `items.0.id`) into a JSON response.
fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |v, segment| match v {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// A webhook may answer anything; only what a contact property may hold is saved.
fn is_property_value(key: &str, value: &Value) -> bool {
    let mut one = Map::new();
    one.insert(key.to_owned(), value.clone());
    !value.is_null() && Properties::parse(one).is_ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::bots::validate;
    use crate::domain::TeamId;
    use serde_json::json;

    const TEAM: &str = "0190b5f0-0000-7000-8000-000000000001";

    fn flow(value: Value) -> Flow {
        validate(&value).unwrap()
    }

    fn ctx(properties: &Map<String, Value>, agents_available: bool) -> Context<'_> {
        Context {
            flow_version: 1,
            properties,
            agents_available,
        }
    }

    fn text(s: &str) -> Input {
        Input::Text(s.to_owned())
    }

    fn says(out: &[Output]) -> Vec<&str> {
        out.iter()
            .filter_map(|o| match o {
                Output::Say { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    fn events(out: &[Output]) -> Vec<(&str, StepEventKind)> {
        out.iter()
            .filter_map(|o| match o {
                Output::StepEvent { step, kind } => Some((step.as_str(), *kind)),
                _ => None,
            })
            .collect()
    }

    fn effects(out: &[Output]) -> Vec<&Output> {
        out.iter()
            .filter(|o| !matches!(o, Output::Say { .. } | Output::StepEvent { .. }))
            .collect()
    }

    fn email_flow() -> Flow {
        flow(json!({
            "version": 1, "start": "hello",
            "steps": {
                "hello": { "type": "message", "text": "Hi there.", "next": "ask_email" },
                "ask_email": {
                    "type": "question", "text": "What is your email?", "kind": "email",
                    "property": "email_address", "retry_text": "That is not an email, try again.",
                    "max_attempts": 2, "next": "to_sales"
                },
                "to_sales": { "type": "handoff", "to": { "team_id": TEAM },
                              "message": "Passing you to {{email_address}}'s sales team." }
            }
        }))
    }

    #[test]
    fn bad_then_good_answer_reasks_then_saves_and_hands_off() {
        let flow = email_flow();
        let props = Map::new();
        let c = ctx(&props, true);

        let (state, out) = start(&flow, &c);
        assert_eq!(says(&out), ["Hi there.", "What is your email?"]);
        assert_eq!(
            events(&out),
            [
                ("hello", StepEventKind::Entered),
                ("hello", StepEventKind::Completed),
                ("ask_email", StepEventKind::Entered)
            ]
        );
        assert_eq!(state.waiting, Waiting::Visitor);

        let (state, out) = on_input(&flow, state, text("not an email"), &c);
        assert_eq!(says(&out), ["That is not an email, try again."]);
        assert!(effects(&out).is_empty() && events(&out).is_empty());
        assert_eq!(state.attempts, 1);

        let (state, out) = on_input(&flow, state, text(" Ann@Example.com "), &c);
        let team: TeamId = TEAM.parse().unwrap();
        assert_eq!(
            effects(&out),
            [
                &Output::SetProperty {
                    key: "email_address".into(),
                    value: json!("ann@example.com")
                },
                &Output::Handoff {
                    target: HandoffTarget::TeamId(team)
                },
                &Output::Finished {
                    outcome: Outcome::HandedOff
                },
            ]
        );
        assert_eq!(says(&out), ["Passing you to ann@example.com's sales team."]);
        assert_eq!(
            events(&out),
            [
                ("ask_email", StepEventKind::Completed),
                ("to_sales", StepEventKind::Entered),
                ("to_sales", StepEventKind::HandedOff)
            ]
        );
        assert!(state.finished);
        assert_eq!(state.answers["ask_email"], json!("ann@example.com"));

        let (_, out) = on_input(&flow, state, text("hello?"), &c);
        assert!(out.is_empty(), "a finished bot stays quiet");
    }

    #[test]
    fn too_many_refused_answers_hand_off_to_the_inbox() {
        let flow = email_flow();
        let props = Map::new();
        let c = ctx(&props, true);
        let (state, _) = start(&flow, &c);
        let (state, _) = on_input(&flow, state, text("nope"), &c);
        let (state, out) = on_input(&flow, state, text("still nope"), &c);
        assert!(says(&out).is_empty());
        assert_eq!(
            effects(&out),
            [
                &Output::Handoff {
                    target: HandoffTarget::Inbox
                },
                &Output::Finished {
                    outcome: Outcome::HandedOff
                }
            ]
        );
        assert_eq!(events(&out), [("ask_email", StepEventKind::HandedOff)]);
        assert_eq!(state.outcome, Some(Outcome::HandedOff));
    }

    #[test]
    fn answers_are_checked_by_question_kind() {
        let ask = |kind: &str, choices: Value| -> QuestionStep {
            serde_json::from_value(json!({
                "text": "?", "kind": kind, "choices": choices, "next": "x"
            }))
            .unwrap()
        };
        let choices = json!([{ "label": "Big plan", "value": "big" }, { "label": "Small", "value": "small" }]);
        let cases = [
            ("free_text", " hello ", Some(json!("hello"))),
            ("free_text", "   ", None),
            ("email", "A@B.co", Some(json!("a@b.co"))),
            ("email", "a@b", None),
            (
                "phone",
                "+33 6 12 34 56 78",
                Some(json!("+33 6 12 34 56 78")),
            ),
            ("phone", "(555) 123-4567", Some(json!("(555) 123-4567"))),
            ("phone", "12345", None),
            ("phone", "call me", None),
            ("phone", "1+2345678", None),
            ("number", "42", Some(json!(42))),
            ("number", " -1.5 ", Some(json!(-1.5))),
            ("number", "NaN", None),
            ("number", "inf", None),
            ("number", "twelve", None),
            ("choice", "BIG PLAN", Some(json!("big"))),
            ("choice", "small", Some(json!("small"))),
            ("choice", "medium", None),
        ];
        for (kind, answer, expected) in cases {
            let q = ask(
                kind,
                if kind == "choice" {
                    choices.clone()
                } else {
                    json!([])
                },
            );
            assert_eq!(
                check_answer(&q, answer).ok(),
                expected,
                "{kind}: {answer:?}"
            );
        }
        let q = ask("choice", choices);
        assert_eq!(
            check_answer(&q, "medium").unwrap_err(),
            "Please choose one of: Big plan, Small."
        );
    }

    fn branch_flow(on: Value, cases: Value) -> Flow {
        flow(json!({
            "version": 1, "start": "ask",
            "steps": {
                "ask": { "type": "question", "text": "Plan?", "kind": "choice",
                         "choices": [{ "label": "Pro", "value": "pro" }, { "label": "Free", "value": "free" }],
                         "property": "plan", "next": "route" },
                "route": { "type": "branch", "on": on, "cases": cases, "else_next": "other" },
                "matched": { "type": "end", "text": "matched" },
                "other": { "type": "end", "text": "other" }
            }
        }))
    }

    fn run_branch(flow: &Flow, answer: &str, props: &Map<String, Value>, agents: bool) -> String {
        let c = ctx(props, agents);
        let (state, _) = start(flow, &c);
        let (state, out) = on_input(flow, state, text(answer), &c);
        assert_eq!(state.outcome, Some(Outcome::Completed));
        says(&out).concat()
    }

    #[test]
    fn branches_on_answer_property_and_agent_availability() {
        let none = Map::new();
        let big: Map<String, Value> = [("seats".to_owned(), json!("250"))].into_iter().collect();
        let on_answer = branch_flow(
            json!("answer"),
            json!([{ "equals": "PRO", "next": "matched" }]),
        );
        assert_eq!(run_branch(&on_answer, "Pro", &none, false), "matched");
        assert_eq!(run_branch(&on_answer, "free", &none, false), "other");

        // The property the question just saved is seen before the caller stored it.
        let on_saved = branch_flow(
            json!({ "property": "plan" }),
            json!([{ "one_of": ["pro", "enterprise"], "next": "matched" }]),
        );
        assert_eq!(run_branch(&on_saved, "pro", &none, false), "matched");

        let on_contact = branch_flow(
            json!({ "property": "seats" }),
            json!([{ "greater_than": 100, "next": "matched" }]),
        );
        assert_eq!(run_branch(&on_contact, "pro", &big, false), "matched");
        assert_eq!(run_branch(&on_contact, "pro", &none, false), "other");

        let on_missing = branch_flow(
            json!({ "property": "seats" }),
            json!([{ "is_empty": true, "next": "matched" }]),
        );
        assert_eq!(run_branch(&on_missing, "pro", &none, false), "matched");
        assert_eq!(run_branch(&on_missing, "pro", &big, false), "other");

        let on_agents = branch_flow(
            json!("agents_available"),
            json!([{ "equals": true, "next": "matched" }]),
        );
        assert_eq!(run_branch(&on_agents, "pro", &none, true), "matched");
        assert_eq!(run_branch(&on_agents, "pro", &none, false), "other");
    }

    fn webhook_flow() -> Flow {
        flow(json!({
            "version": 1, "start": "ask",
            "steps": {
                "ask": { "type": "question", "text": "Order number?", "kind": "number",
                         "property": "order_number", "next": "lookup" },
                "lookup": { "type": "webhook", "url": "http://127.0.0.1:9/orders",
                            "set_properties": { "order_status": "order.status", "first_item": "order.items.0",
                                                "bogus": "order" },
                            "next": "ticket", "on_error_next": "sorry" },
                "ticket": { "type": "create_ticket", "title": "Order {{order_number}} is {{order_status}}",
                            "next": "bye" },
                "bye": { "type": "end", "text": "Your order is {{order_status}}." },
                "sorry": { "type": "handoff", "to": "inbox", "message": "Let me find someone." }
            }
        }))
    }

    #[test]
    fn a_webhook_result_sets_properties_and_goes_on() {
        let flow = webhook_flow();
        let props: Map<String, Value> = [("name".to_owned(), json!("Ann"))].into_iter().collect();
        let c = ctx(&props, true);
        let (state, _) = start(&flow, &c);
        let (state, out) = on_input(&flow, state, text("1234"), &c);
        assert_eq!(
            effects(&out)[1],
            &Output::CallWebhook {
                url: "http://127.0.0.1:9/orders".into(),
                payload: json!({
                    "step": "lookup", "flow_version": 1,
                    "answers": { "ask": 1234 },
                    "properties": { "name": "Ann", "order_number": 1234 }
                })
            }
        );
        assert_eq!(state.waiting, Waiting::Webhook);

        // The visitor typing while the call is in flight neither answers nor moves the bot.
        let (state, out) = on_input(&flow, state, text("hello?"), &c);
        assert!(out.is_empty());

        let response = json!({ "order": { "status": "shipped", "items": ["mug"] } });
        let (state, out) = on_input(&flow, state, Input::WebhookResult(Ok(response)), &c);
        assert_eq!(
            effects(&out),
            [
                &Output::SetProperty {
                    key: "first_item".into(),
                    value: json!("mug")
                },
                &Output::SetProperty {
                    key: "order_status".into(),
                    value: json!("shipped")
                },
                &Output::CreateTicket {
                    title: "Order 1234 is shipped".into()
                },
                &Output::Finished {
                    outcome: Outcome::Completed
                },
            ],
            "an object is not a property value, so `bogus` is skipped"
        );
        assert_eq!(says(&out), ["Your order is shipped."]);
        assert!(state.finished);
    }

    #[test]
    fn a_failed_webhook_takes_on_error_next() {
        let flow = webhook_flow();
        let props = Map::new();
        let c = ctx(&props, true);
        let (state, _) = start(&flow, &c);
        let (state, _) = on_input(&flow, state, text("7"), &c);
        let (state, out) = on_input(
            &flow,
            state,
            Input::WebhookResult(Err("timeout".into())),
            &c,
        );
        assert_eq!(says(&out), ["Let me find someone."]);
        assert_eq!(
            effects(&out),
            [
                &Output::Handoff {
                    target: HandoffTarget::Inbox
                },
                &Output::Finished {
                    outcome: Outcome::HandedOff
                }
            ]
        );
        assert_eq!(
            events(&out),
            [
                ("lookup", StepEventKind::Completed),
                ("sorry", StepEventKind::Entered),
                ("sorry", StepEventKind::HandedOff)
            ]
        );
        assert!(state.finished);
    }

    #[test]
    fn abandoning_reports_the_waiting_step_once() {
        let flow = email_flow();
        let props = Map::new();
        let (state, _) = start(&flow, &ctx(&props, true));
        let (state, out) = abandon(state);
        assert_eq!(
            out,
            [
                Output::StepEvent {
                    step: "ask_email".into(),
                    kind: StepEventKind::Abandoned
                },
                Output::Finished {
                    outcome: Outcome::Abandoned
                }
            ]
        );
        assert!(state.finished);
        let (_, out) = abandon(state);
        assert!(out.is_empty(), "an ended bot cannot be abandoned again");
    }

    #[test]
    fn a_stored_state_resumes_with_the_same_outputs() {
        let flow = webhook_flow();
        let props = Map::new();
        let c = ctx(&props, true);
        let (state, _) = start(&flow, &c);
        let (state, _) = on_input(&flow, state, text("99"), &c);

        let stored = serde_json::to_string(&state).unwrap();
        let restored: BotState = serde_json::from_str(&stored).unwrap();
        assert_eq!(restored, state);

        let result = || Input::WebhookResult(Ok(json!({ "order": { "status": "lost" } })));
        let (live_state, live_out) = on_input(&flow, state, result(), &c);
        let (resumed_state, resumed_out) = on_input(&flow, restored, result(), &c);
        assert_eq!(resumed_out, live_out);
        assert_eq!(resumed_state, live_state);
        assert_eq!(says(&resumed_out), ["Your order is lost."]);
    }

    #[test]
    fn a_changed_flow_without_the_waiting_step_hands_off() {
        let old = email_flow();
        let props = Map::new();
        let (state, _) = start(&old, &ctx(&props, true));
        let new = flow(json!({
            "version": 1, "start": "bye", "steps": { "bye": { "type": "end" } }
        }));
        let c = Context {
            flow_version: 2,
            ..ctx(&props, true)
        };
        let (state, out) = on_input(&new, state, text("a@b.co"), &c);
        assert_eq!(
            effects(&out),
            [
                &Output::Handoff {
                    target: HandoffTarget::Inbox
                },
                &Output::Finished {
                    outcome: Outcome::HandedOff
                }
            ]
        );
        assert!(state.finished);
    }

    #[test]
    fn a_changed_flow_keeping_the_waiting_step_carries_on() {
        let old = email_flow();
        let props = Map::new();
        let (state, _) = start(&old, &ctx(&props, true));
        let c = Context {
            flow_version: 2,
            ..ctx(&props, true)
        };
        let (state, out) = on_input(&old, state, text("a@b.co"), &c);
        assert_eq!(state.flow_version, 2);
        assert_eq!(state.outcome, Some(Outcome::HandedOff));
        assert!(out.contains(&Output::Handoff {
            target: HandoffTarget::TeamId(TEAM.parse().unwrap())
        }));
    }

    #[test]
    fn a_runaway_unvalidated_flow_hands_off_instead_of_spinning() {
        // Built directly, skipping validation, as a flow stored before the loop rule would be.
        let flow: Flow = serde_json::from_value(json!({
            "version": 1, "start": "a",
            "steps": { "a": { "type": "message", "text": "again", "next": "a" } }
        }))
        .unwrap();
        let props = Map::new();
        let (state, out) = start(&flow, &ctx(&props, true));
        assert_eq!(says(&out).len(), MAX_STEPS_PER_INPUT);
        assert_eq!(state.outcome, Some(Outcome::HandedOff));
    }

    #[test]
    fn inputs_and_outputs_have_a_stable_json_shape() {
        let input: Input =
            serde_json::from_value(json!({ "type": "text", "value": "hi" })).unwrap();
        assert_eq!(input, text("hi"));
        let out = serde_json::to_value(Output::Say {
            text: "hi".into(),
            quick_replies: vec![QuickReply {
                label: "A".into(),
                value: "a".into(),
            }],
        })
        .unwrap();
        assert_eq!(
            out,
            json!({ "type": "say", "text": "hi", "quick_replies": [{ "label": "A", "value": "a" }] })
        );
    }
}
