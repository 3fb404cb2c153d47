//! Checking a flow before it is saved: shape, references, reachability and loops, each error
//! naming the step and the field at fault (`steps.ask_email.next: no step "x"`).
//!
//! Decisions (see `docs/bots.md`):
//! - An unreachable step is an error, not a warning: the API has no channel for warnings, and an
//!   orphan step is nearly always a mistyped `next`. Delete it or link it.
//! - A cycle is refused unless it passes through a question: only a question waits for the
//!   visitor, so a cycle of messages, branches, tickets and webhooks would spin (or spam a
//!   webhook) forever.
//! - Whether a handoff's team or agent exists in the account is the saver's check (it needs the
//!   store); this module knows nothing of storage.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::flow::*;
use crate::domain::check_property_name;

/// Most steps in one flow; a flow is a conversation, not a program.
pub const MAX_STEPS: usize = 200;
/// Longest step id, in characters.
pub const MAX_STEP_ID_CHARS: usize = 64;
/// Longest text a bot says, in characters (one chat bubble).
pub const MAX_TEXT_CHARS: usize = 2000;
/// Quick replies beyond this do not fit a chat widget.
pub const MAX_CHOICES: usize = 20;
/// Longest choice label or value, in characters.
pub const MAX_CHOICE_CHARS: usize = 100;
/// Most cases in one branch.
pub const MAX_CASES: usize = 50;
/// Longest ticket title template, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest webhook URL.
pub const MAX_URL_CHARS: usize = 2048;

/// Why a flow was refused. `field` is a dotted path from the flow's root (`steps.x.next`);
/// under an API body put the body's own field in front (see [`FlowError::field_under`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FlowError {
    /// The step at fault, when the error is inside one.
    pub step: Option<String>,
    pub field: String,
    pub message: String,
}

impl FlowError {
    fn top(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            step: None,
            field: field.into(),
            message: message.into(),
        }
    }

    fn at(step: &str, field: &str, message: impl Into<String>) -> Self {
        let field = if field.is_empty() {
            format!("steps.{step}")
        } else {
            format!("steps.{step}.{field}")
        };
        Self {
            step: Some(step.to_owned()),
            field,
            message: message.into(),
        }
    }

    /// The field path under an API body field, for a 422:
    /// `ApiError::invalid_field(e.field_under("flow"), e.message.clone())`.
    pub fn field_under(&self, body_field: &str) -> String {
        if self.field.is_empty() {
            body_field.to_owned()
        } else {
            format!("{body_field}.{}", self.field)
        }
    }
}

/// Turns untrusted JSON into a [`Flow`], or the first thing wrong with it (top-level fields
/// first, then steps in id order).
pub fn validate(flow: &Value) -> Result<Flow, FlowError> {
    if !flow.is_object() {
        return Err(FlowError::top("", "a flow must be a JSON object"));
    }
    let raw: RawFlow = read(flow).map_err(|(field, message)| FlowError::top(field, message))?;
    if raw.version != FLOW_FORMAT_VERSION {
        return Err(FlowError::top(
            "version",
            format!("flow format version must be {FLOW_FORMAT_VERSION}"),
        ));
    }
    if raw.steps.is_empty() {
        return Err(FlowError::top("steps", "a flow needs at least one step"));
    }
    if raw.steps.len() > MAX_STEPS {
        return Err(FlowError::top(
            "steps",
            format!("a flow may have at most {MAX_STEPS} steps"),
        ));
    }
    let mut steps = BTreeMap::new();
    for (id, value) in raw.steps {
        check_step_id(&id)?;
        let step = read_step(&id, value)?;
        check_step(&id, &step)?;
        steps.insert(id, step);
    }
    let flow = Flow {
        version: raw.version,
        start: raw.start,
        steps,
    };
    if !flow.steps.contains_key(&flow.start) {
        return Err(FlowError::top(
            "start",
            format!("no step \"{}\"", flow.start),
        ));
    }
    check_links(&flow)?;
    check_reachable(&flow)?;
    check_loops(&flow)?;
    Ok(flow)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    version: u32,
    start: String,
    steps: Map<String, Value>,
}

/// Deserializes with the failing field's path, folding serde's "missing field `x`" into the
/// path (an unknown field is already in it) so that the field is always the one to fix.
fn read<T: DeserializeOwned>(value: &Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let named = inner
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| name.to_owned());
        let field = match (path.as_str(), named) {
            (".", Some(name)) => name,
            (".", None) => String::new(),
            (p, Some(name)) => format!("{p}.{name}"),
            (p, None) => p.to_owned(),
        };
        let message = match inner.split_once(" at line ") {
            Some((m, _)) => m.to_owned(),
            None => inner,
        };
        (field, message)
    })
}

fn check_step_id(id: &str) -> Result<(), FlowError> {
    let ok = !id.is_empty()
        && id.chars().count() <= MAX_STEP_ID_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(FlowError::at(
            id,
            "",
            format!(
                "a step id must be 1 to {MAX_STEP_ID_CHARS} characters of a-z, A-Z, 0-9, _ and -"
            ),
        ))
    }
}

/// Reads one step by its `type`, deserializing the matching struct directly so that paths
/// inside it (`cases[1].next`) survive; serde's internally tagged enums would lose them.
fn read_step(id: &str, value: Value) -> Result<Step, FlowError> {
    let Value::Object(mut map) = value else {
        return Err(FlowError::at(id, "", "a step must be an object"));
    };
    let kind = match map.remove("type") {
        Some(Value::String(kind)) => kind,
        Some(_) => return Err(FlowError::at(id, "type", "type must be text")),
        None => return Err(FlowError::at(id, "type", "missing field `type`")),
    };
    let body = Value::Object(map);
    fn typed<T: DeserializeOwned>(id: &str, body: &Value) -> Result<T, FlowError> {
        read(body).map_err(|(field, message)| FlowError::at(id, &field, message))
    }
    Ok(match kind.as_str() {
        "message" => Step::Message(typed(id, &body)?),
        "question" => Step::Question(typed(id, &body)?),
        "branch" => Step::Branch(typed(id, &body)?),
        "handoff" => Step::Handoff(typed(id, &body)?),
        "create_ticket" => Step::CreateTicket(typed(id, &body)?),
        "webhook" => Step::Webhook(typed(id, &body)?),
        "end" => Step::End(typed(id, &body)?),
        other => {
            return Err(FlowError::at(
                id,
                "type",
                format!(
                    "unknown step type \"{other}\" (expected message, question, branch, handoff, \
                     create_ticket, webhook or end)"
                ),
            ));
        }
    })
}

fn check_text(id: &str, field: &str, text: &str, max: usize) -> Result<(), FlowError> {
    if text.trim().is_empty() {
        return Err(FlowError::at(id, field, "must not be empty"));
    }
    if text.chars().count() > max {
        return Err(FlowError::at(
            id,
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

fn check_property(id: &str, field: &str, key: &str) -> Result<(), FlowError> {
    check_property_name(key).map_err(|e| FlowError::at(id, field, e.message))
}

fn check_step(id: &str, step: &Step) -> Result<(), FlowError> {
    match step {
        Step::Message(s) => check_text(id, "text", &s.text, MAX_TEXT_CHARS),
        Step::Question(s) => check_question(id, s),
        Step::Branch(s) => check_branch(id, s),
        Step::Handoff(s) => {
            if s.to.is_none() {
                return Err(FlowError::at(
                    id,
                    "to",
                    "a handoff needs a target: {\"team_id\": …}, {\"agent_id\": …} or \"inbox\"",
                ));
            }
            match &s.message {
                Some(text) => check_text(id, "message", text, MAX_TEXT_CHARS),
                None => Ok(()),
            }
        }
        Step::CreateTicket(s) => check_text(id, "title", &s.title, MAX_TITLE_CHARS),
        Step::Webhook(s) => check_webhook(id, s),
        Step::End(s) => match &s.text {
            Some(text) => check_text(id, "text", text, MAX_TEXT_CHARS),
            None => Ok(()),
        },
    }
}

fn check_question(id: &str, s: &QuestionStep) -> Result<(), FlowError> {
    check_text(id, "text", &s.text, MAX_TEXT_CHARS)?;
    if let Some(retry) = &s.retry_text {
        check_text(id, "retry_text", retry, MAX_TEXT_CHARS)?;
    }
    if let Some(key) = &s.property {
        check_property(id, "property", key)?;
    }
    if !(1..=MAX_ATTEMPTS_LIMIT).contains(&s.max_attempts) {
        return Err(FlowError::at(
            id,
            "max_attempts",
            format!("must be between 1 and {MAX_ATTEMPTS_LIMIT}"),
        ));
    }
    match (s.kind, s.choices.is_empty()) {
        (QuestionKind::Choice, true) => {
            return Err(FlowError::at(
                id,
                "choices",
                "a choice question needs at least one choice",
            ));
        }
        (QuestionKind::Choice, false) => {}
        (_, false) => {
            return Err(FlowError::at(
                id,
                "choices",
                "only a choice question has choices",
            ));
        }
        (_, true) => {}
    }
    if s.choices.len() > MAX_CHOICES {
        return Err(FlowError::at(
            id,
            "choices",
            format!("at most {MAX_CHOICES} choices"),
        ));
    }
    let mut seen = HashMap::new();
    for (i, choice) in s.choices.iter().enumerate() {
        check_text(
            id,
            &format!("choices[{i}].label"),
            &choice.label,
            MAX_CHOICE_CHARS,
        )?;
        check_text(
            id,
            &format!("choices[{i}].value"),
            &choice.value,
            MAX_CHOICE_CHARS,
        )?;
        // An answer matches a label or a value case-insensitively, so two choices sharing a
        // word would make the answer ambiguous.
        for (what, word) in [("label", &choice.label), ("value", &choice.value)] {
            let key = word.trim().to_lowercase();
            match seen.get(&key) {
                Some(&other) if other != i => {
                    return Err(FlowError::at(
                        id,
                        &format!("choices[{i}].{what}"),
                        format!("\"{}\" is already used by choices[{other}]", word.trim()),
                    ));
                }
                _ => {
                    seen.insert(key, i);
                }
            }
        }
    }
    Ok(())
}

fn check_branch(id: &str, s: &BranchStep) -> Result<(), FlowError> {
    if let BranchOn::Property(key) = &s.on {
        check_property(id, "on.property", key)?;
    }
    if s.cases.is_empty() {
        return Err(FlowError::at(
            id,
            "cases",
            "a branch needs at least one case",
        ));
    }
    if s.cases.len() > MAX_CASES {
        return Err(FlowError::at(
            id,
            "cases",
            format!("at most {MAX_CASES} cases"),
        ));
    }
    for (i, case) in s.cases.iter().enumerate() {
        if case.condition_count() != 1 {
            return Err(FlowError::at(
                id,
                &format!("cases[{i}]"),
                "a case needs exactly one of equals, one_of, contains, greater_than, less_than \
                 or is_empty",
            ));
        }
    }
    Ok(())
}

fn check_webhook(id: &str, s: &WebhookStep) -> Result<(), FlowError> {
    check_webhook_url(&s.url).map_err(|m| FlowError::at(id, "url", m))?;
    for (key, path) in &s.set_properties {
        let field = format!("set_properties.{key}");
        check_property(id, &field, key)?;
        if path.trim().is_empty() || path.split('.').any(str::is_empty) {
            return Err(FlowError::at(
                id,
                &field,
                "must be a dotted path into the response, like \"customer.plan\"",
            ));
        }
    }
    Ok(())
}

/// `https://` anywhere, or `http://` only to this machine (tests, local sidecars): the collected
/// answers are personal data and must not cross a network in clear text.
pub fn check_webhook_url(url: &str) -> Result<(), String> {
    if url.len() > MAX_URL_CHARS || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("\"{url}\" is not a URL"));
    }
    let (rest, secure) = if let Some(rest) = url.strip_prefix("https://") {
        (rest, true)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (rest, false)
    } else {
        return Err("must start with https:// (or http:// to localhost)".into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("\"{url}\" has no host (or carries credentials)"));
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        return Err(format!("\"{url}\" has no host"));
    }
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !secure && !loopback {
        return Err("must use https:// (plain http:// is allowed only to localhost)".into());
    }
    Ok(())
}

fn check_links(flow: &Flow) -> Result<(), FlowError> {
    for (id, step) in &flow.steps {
        for (field, target) in step.links() {
            if !flow.steps.contains_key(target) {
                return Err(FlowError::at(id, &field, format!("no step \"{target}\"")));
            }
        }
    }
    Ok(())
}

fn check_reachable(flow: &Flow) -> Result<(), FlowError> {
    let mut seen = std::collections::HashSet::from([flow.start.as_str()]);
    let mut todo = vec![flow.start.as_str()];
    while let Some(id) = todo.pop() {
        if let Some(step) = flow.step(id) {
            for (_, target) in step.links() {
                if seen.insert(target) {
                    todo.push(target);
                }
            }
        }
    }
    match flow.steps.keys().find(|id| !seen.contains(id.as_str())) {
        Some(id) => Err(FlowError::at(
            id,
            "",
            format!(
                "step \"{id}\" cannot be reached from \"{}\"; link it from another step or delete it",
                flow.start
            ),
        )),
        None => Ok(()),
    }
}

/// Depth-first search over the steps that do not wait for the visitor; a back edge closes a
/// cycle with no question in it.
fn check_loops(flow: &Flow) -> Result<(), FlowError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    /// A step on the current path: its id, its links, and the index of the next link to follow.
    type Frame<'f> = (&'f str, Vec<(String, &'f str)>, usize);
    let waits = |id: &str| matches!(flow.step(id), Some(Step::Question(_)));
    let mut marks: HashMap<&str, Mark> =
        flow.steps.keys().map(|k| (k.as_str(), Mark::New)).collect();
    for root in flow.steps.keys() {
        if waits(root) || marks.get(root.as_str()) != Some(&Mark::New) {
            continue;
        }
        let mut path: Vec<Frame> = Vec::new();
        let links_of = |id: &str| flow.step(id).map(Step::links).unwrap_or_default();
        marks.insert(root, Mark::OnPath);
        path.push((root, links_of(root), 0));
        while let Some(frame) = path.last_mut() {
            let (id, links, next) = (frame.0, &frame.1, frame.2);
            let Some((field, target)) = links.get(next).cloned() else {
                marks.insert(id, Mark::Done);
                path.pop();
                continue;
            };
            frame.2 += 1;
            if waits(target) {
                continue;
            }
            match marks.get(target).copied().unwrap_or(Mark::Done) {
                Mark::New => {
                    marks.insert(target, Mark::OnPath);
                    path.push((target, links_of(target), 0));
                }
                Mark::OnPath => {
                    let from = path.iter().position(|f| f.0 == target).unwrap_or(0);
                    let cycle: Vec<&str> =
                        path[from..].iter().map(|f| f.0).chain([target]).collect();
                    return Err(FlowError::at(
                        id,
                        &field,
                        format!(
                            "loop {} contains no question, so the bot would never wait for the \
                             visitor",
                            cycle.join(" → ")
                        ),
                    ));
                }
                Mark::Done => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use serde_json::json;

    /// A flow using every step type, valid as it stands; the cases below break one thing each.
    fn good() -> Value {
        json!({
            "version": 1,
            "start": "hello",
            "steps": {
                "hello": { "type": "message", "text": "Hi!", "next": "ask_topic" },
                "ask_topic": {
                    "type": "question", "text": "What about?", "kind": "choice",
                    "choices": [
                        { "label": "Sales", "value": "sales" },
                        { "label": "Support", "value": "support" }
                    ],
                    "property": "topic", "next": "route"
                },
                "route": {
                    "type": "branch", "on": "answer",
                    "cases": [{ "equals": "sales", "next": "ask_email" }],
                    "else_next": "ticket"
                },
                "ask_email": {
                    "type": "question", "text": "Your email?", "kind": "email",
                    "property": "email_address", "retry_text": "Hmm?", "max_attempts": 2,
                    "next": "lookup"
                },
                "lookup": {
                    "type": "webhook", "url": "https://crm.example.com/hook",
                    "set_properties": { "plan": "customer.plan" },
                    "next": "sales", "on_error_next": "sales"
                },
                "sales": { "type": "handoff", "to": "inbox", "message": "One moment." },
                "ticket": { "type": "create_ticket", "title": "Help: {{topic}}", "next": "bye" },
                "bye": { "type": "end", "text": "Thanks!" }
            }
        })
    }

    fn with(path: &[&str], value: Value) -> Value {
        let mut flow = good();
        let (last, parents) = path.split_last().unwrap();
        let mut at = &mut flow;
        for p in parents {
            at = at.get_mut(*p).unwrap();
        }
        match value {
            Value::Null => {
                at.as_object_mut().unwrap().remove(*last);
            }
            v => {
                at.as_object_mut().unwrap().insert((*last).to_owned(), v);
            }
        }
        flow
    }

    #[test]
    fn accepts_a_flow_using_every_step_type() {
        let flow = validate(&good()).unwrap();
        assert_eq!(flow.steps.len(), 8);
        assert_eq!(flow.start, "hello");
    }

    #[test]
    fn names_the_step_and_field_at_fault() {
        let loop_steps = json!({
            "version": 1, "start": "a",
            "steps": {
                "a": { "type": "message", "text": "x", "next": "b" },
                "b": { "type": "branch", "on": "agents_available",
                       "cases": [{ "equals": true, "next": "done" }], "else_next": "a" },
                "done": { "type": "end" }
            }
        });
        let webhook_loop = json!({
            "version": 1, "start": "a",
            "steps": {
                "a": { "type": "webhook", "url": "https://x.example", "next": "done",
                       "on_error_next": "a" },
                "done": { "type": "end" }
            }
        });
        let id = |s: &str| Some(s.to_owned());
        // (case, flow, expected step, expected field, words the message must contain)
        let cases: Vec<(&str, Value, Option<String>, &str, &str)> = vec![
            ("not an object", json!([1]), None, "", "JSON object"),
            (
                "unknown top field",
                with(&["extra"], json!(1)),
                None,
                "extra",
                "unknown field",
            ),
            (
                "wrong version",
                with(&["version"], json!(2)),
                None,
                "version",
                "version must be 1",
            ),
            (
                "missing start",
                with(&["start"], Value::Null),
                None,
                "start",
                "missing field",
            ),
            (
                "start names no step",
                with(&["start"], json!("nope")),
                None,
                "start",
                "no step \"nope\"",
            ),
            (
                "no steps",
                with(&["steps"], json!({})),
                None,
                "steps",
                "at least one",
            ),
            (
                "bad step id",
                with(&["steps", "bad id"], json!({"type": "end"})),
                id("bad id"),
                "steps.bad id",
                "step id",
            ),
            (
                "unknown step type",
                with(&["steps", "hello", "type"], json!("dance")),
                id("hello"),
                "steps.hello.type",
                "unknown step type \"dance\"",
            ),
            (
                "missing type",
                with(&["steps", "bye"], json!({"text": "x"})),
                id("bye"),
                "steps.bye.type",
                "missing field",
            ),
            (
                "unknown step field",
                with(&["steps", "bye", "colour"], json!("red")),
                id("bye"),
                "steps.bye.colour",
                "unknown field",
            ),
            (
                "missing next",
                with(&["steps", "hello", "next"], Value::Null),
                id("hello"),
                "steps.hello.next",
                "missing field",
            ),
            (
                "next names no step",
                with(&["steps", "ask_email", "next"], json!("x")),
                id("ask_email"),
                "steps.ask_email.next",
                "no step \"x\"",
            ),
            (
                "case next names no step",
                with(
                    &["steps", "route", "cases"],
                    json!([{"equals": 1, "next": "gone"}]),
                ),
                id("route"),
                "steps.route.cases[0].next",
                "no step \"gone\"",
            ),
            (
                "else_next names no step",
                with(&["steps", "route", "else_next"], json!("gone")),
                id("route"),
                "steps.route.else_next",
                "no step",
            ),
            (
                "on_error_next names no step",
                with(&["steps", "lookup", "on_error_next"], json!("gone")),
                id("lookup"),
                "steps.lookup.on_error_next",
                "no step",
            ),
            (
                "unreachable step",
                with(&["steps", "orphan"], json!({"type": "end"})),
                id("orphan"),
                "steps.orphan",
                "cannot be reached",
            ),
            (
                "loop of message and branch",
                loop_steps,
                id("b"),
                "steps.b.else_next",
                "loop a → b → a contains no question",
            ),
            (
                "loop through a webhook",
                webhook_loop,
                id("a"),
                "steps.a.on_error_next",
                "contains no question",
            ),
            (
                "handoff without target",
                with(&["steps", "sales", "to"], Value::Null),
                id("sales"),
                "steps.sales.to",
                "needs a target",
            ),
            (
                "handoff to a bad team id",
                with(&["steps", "sales", "to"], json!({"team_id": "nope"})),
                id("sales"),
                "steps.sales.to.team_id",
                "UUID",
            ),
            (
                "choice without choices",
                with(&["steps", "ask_topic", "choices"], json!([])),
                id("ask_topic"),
                "steps.ask_topic.choices",
                "at least one choice",
            ),
            (
                "choices on an email question",
                with(
                    &["steps", "ask_email", "choices"],
                    json!([{"label": "a", "value": "a"}]),
                ),
                id("ask_email"),
                "steps.ask_email.choices",
                "only a choice question",
            ),
            (
                "ambiguous choices",
                with(
                    &["steps", "ask_topic", "choices"],
                    json!([{"label": "A", "value": "a"}, {"label": "a", "value": "b"}]),
                ),
                id("ask_topic"),
                "steps.ask_topic.choices[1].label",
                "already used",
            ),
            (
                "bad question kind",
                with(&["steps", "ask_email", "kind"], json!("date")),
                id("ask_email"),
                "steps.ask_email.kind",
                "unknown variant",
            ),
            (
                "bad property key",
                with(&["steps", "ask_email", "property"], json!("Email")),
                id("ask_email"),
                "steps.ask_email.property",
                "a-z, 0-9",
            ),
            (
                "bad branch property",
                with(&["steps", "route", "on"], json!({"property": "a b"})),
                id("route"),
                "steps.route.on.property",
                "a-z, 0-9",
            ),
            (
                "bad webhook property",
                with(&["steps", "lookup", "set_properties"], json!({"Plan": "x"})),
                id("lookup"),
                "steps.lookup.set_properties.Plan",
                "a-z, 0-9",
            ),
            (
                "bad webhook path",
                with(
                    &["steps", "lookup", "set_properties"],
                    json!({"plan": "a..b"}),
                ),
                id("lookup"),
                "steps.lookup.set_properties.plan",
                "dotted path",
            ),
            (
                "zero attempts",
                with(&["steps", "ask_email", "max_attempts"], json!(0)),
                id("ask_email"),
                "steps.ask_email.max_attempts",
                "between 1 and 10",
            ),
            (
                "empty text",
                with(&["steps", "hello", "text"], json!("  ")),
                id("hello"),
                "steps.hello.text",
                "must not be empty",
            ),
            (
                "case with two conditions",
                with(
                    &["steps", "route", "cases"],
                    json!([{"equals": 1, "contains": "x", "next": "bye"}]),
                ),
                id("route"),
                "steps.route.cases[0]",
                "exactly one",
            ),
            (
                "branch without cases",
                with(&["steps", "route", "cases"], json!([])),
                id("route"),
                "steps.route.cases",
                "at least one case",
            ),
            (
                "plain http webhook",
                with(
                    &["steps", "lookup", "url"],
                    json!("http://crm.example.com/"),
                ),
                id("lookup"),
                "steps.lookup.url",
                "https",
            ),
            (
                "webhook url with credentials",
                with(&["steps", "lookup", "url"], json!("https://u:p@x.example/")),
                id("lookup"),
                "steps.lookup.url",
                "credentials",
            ),
        ];
        for (case, flow, step, field, words) in cases {
            let err = validate(&flow).expect_err(case);
            assert_eq!(err.step, step, "{case}: {err}");
            assert_eq!(err.field, field, "{case}: {err}");
            assert!(err.message.contains(words), "{case}: {err}");
        }
    }

    #[test]
    fn a_loop_through_a_question_is_allowed() {
        let flow = json!({
            "version": 1, "start": "ask",
            "steps": {
                "ask": { "type": "question", "text": "More?", "kind": "free_text", "next": "check" },
                "check": { "type": "branch", "on": "answer",
                           "cases": [{ "equals": "no", "next": "done" }], "else_next": "ask" },
                "done": { "type": "end" }
            }
        });
        assert!(validate(&flow).is_ok());
    }

    #[test]
    fn webhook_urls_are_https_or_loopback() {
        for ok in [
            "https://hooks.example.com/x",
            "http://127.0.0.1:8080/hook",
            "http://localhost/hook",
            "http://[::1]:9000/",
        ] {
            assert_eq!(check_webhook_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "ftp://x.example",
            "http://10.0.0.1/",
            "http://localhost.evil.example/",
            "https://",
            "https://a b.example",
        ] {
            assert!(check_webhook_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_field_goes_under_the_api_body_field() {
        let err = validate(&with(&["steps", "ask_email", "next"], json!("x"))).unwrap_err();
        assert_eq!(err.to_string(), "steps.ask_email.next: no step \"x\"");
        assert_eq!(err.field_under("flow"), "flow.steps.ask_email.next");
    }

    #[test]
    fn a_validated_flow_round_trips_through_json() {
        let flow = validate(&good()).unwrap();
        let again = validate(&serde_json::to_value(&flow).unwrap()).unwrap();
        assert_eq!(flow, again);
    }
}

#[cfg(test)]
mod doc_example {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    /// The complete example in `docs/bots.md` must stay a valid flow.
    #[test]
    fn the_documented_example_flow_is_valid() {
        let doc = include_str!("../../docs/bots.md");
        let start = doc.find("```json\n").unwrap() + "```json\n".len();
        let len = doc[start..].find("```").unwrap();
        let value: serde_json::Value = serde_json::from_str(&doc[start..start + len]).unwrap();
        let flow = super::validate(&value).unwrap();
        assert_eq!(flow.steps.len(), 13);
    }
}
