//! Bots at work in conversations: starts a bot chatflow's engine when a conversation begins on
//! it, feeds it each message of the contact, stores each turn atomically (what the bot said,
//! where it now is, the report facts: `Store::save_bot_turn`), publishes what it said, and
//! performs the effects it asks for: contact properties, tickets, and the hand-off to people.
//!
//! While a bot runs, routing leaves the conversation alone; the hand-off routes it (to a team,
//! an agent, or the inbox's rules).
//!
//! Must not: decide anything the engine decides (`crate::bots` is pure and channel-independent;
//! this is where it meets the store, the bus and routing).

use serde_json::{Map, Value, json};

use crate::bots::{self, BotState, Context, Flow, HandoffTarget, Input, Output};
use crate::domain::{
    Actor, Body, BotFact, BotTurn, Chatflow, ChatflowId, ChatflowKind, ContactPatch, Conversation,
    ConversationChange, Direction, Name, NewItemContent, NewTicket, TicketPriority,
};
use crate::http::timeline::publish_item;
use crate::http::{ApiError, AppState};
use crate::store::StoreError;

/// Inputs fed in one go: a webhook result leads to another turn, which may call another.
const MAX_TURNS_PER_INPUT: usize = 8;
/// How long a bot waits for a webhook (connect and answer) before taking its error branch.
pub const WEBHOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// The largest webhook answer read.
const MAX_WEBHOOK_ANSWER_BYTES: usize = 256 * 1024;
/// Carries `sha256=<hex HMAC-SHA256 of the body, keyed by the channel's identity secret>`.
pub const SIGNATURE_HEADER: &str = "x-parley-signature-256";

/// What the caller does once a turn is stored.
#[derive(Default)]
struct Effects {
    properties: Map<String, Value>,
    tickets: Vec<String>,
    handoff: Option<HandoffTarget>,
    webhook: Option<(String, Value)>,
}

/// Starts `chatflow`'s bot in a conversation that just began on it. Nothing happens for a live
/// chat chatflow, or for a bot whose stored flow no longer validates (the conversation then
/// routes as any other, and the reason is logged).
pub async fn start(
    state: &AppState,
    conversation: &Conversation,
    chatflow: &Chatflow,
) -> Result<bool, ApiError> {
    let Some(flow) = bot_flow(chatflow) else {
        return Ok(false);
    };
    let run = Run {
        chatflow_id: chatflow.id,
        flow_version: chatflow.flow_version,
        flow: &flow,
    };
    run.step(state, conversation, |ctx| bots::start(&flow, ctx))
        .await?;
    Ok(true)
}

/// A contact's message in a conversation: when a bot is waiting for the visitor there, it
/// takes the message as its input (true). False: no bot runs here; the message is for people.
pub async fn on_contact_message(
    state: &AppState,
    conversation: &Conversation,
    text: &str,
) -> Result<bool, ApiError> {
    let account = conversation.account_id;
    let Some(run) = state.store.get_bot_run(account, conversation.id).await? else {
        return Ok(false);
    };
    if run.finished {
        return Ok(false);
    }
    let chatflow = match state.store.get_chatflow(account, run.chatflow_id).await {
        Ok(c) => Some(c),
        Err(StoreError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let bot: BotState = match serde_json::from_value(run.state) {
        Ok(bot) => bot,
        Err(e) => {
            tracing::warn!(error = %e, conversation = %conversation.id, "unreadable bot state");
            return Ok(false);
        }
    };
    let Some((chatflow, flow)) = chatflow.and_then(|c| bot_flow(&c).map(|f| (c, f))) else {
        // The chatflow was deleted, or its flow broken, since: the bot gives the conversation
        // to people, and this message is theirs.
        stop(state, conversation, run.chatflow_id, bot, true).await?;
        return Ok(false);
    };
    let run = Run {
        chatflow_id: chatflow.id,
        flow_version: chatflow.flow_version,
        flow: &flow,
    };
    let input = Input::Text(text.to_owned());
    run.step(state, conversation, |ctx| {
        bots::on_input(&flow, bot, input, ctx)
    })
    .await?;
    Ok(true)
}

/// A person closed the conversation or assigned it while a bot was waiting there: the bot is
/// abandoned (a report fact at its waiting step) and says nothing more.
pub async fn person_took_over(
    state: &AppState,
    conversation: &Conversation,
) -> Result<(), ApiError> {
    let account = conversation.account_id;
    let Some(run) = state.store.get_bot_run(account, conversation.id).await? else {
        return Ok(());
    };
    if run.finished {
        return Ok(());
    }
    match serde_json::from_value::<BotState>(run.state) {
        Ok(bot) => stop(state, conversation, run.chatflow_id, bot, false).await,
        Err(e) => {
            tracing::warn!(error = %e, conversation = %conversation.id, "unreadable bot state");
            Ok(())
        }
    }
}

/// Abandons a running bot; with `hand_off`, the conversation then routes by its inbox's rules.
async fn stop(
    state: &AppState,
    conversation: &Conversation,
    chatflow_id: ChatflowId,
    bot: BotState,
    hand_off: bool,
) -> Result<(), ApiError> {
    let (bot, mut outputs) = bots::abandon(bot);
    if hand_off {
        outputs.push(Output::Handoff {
            target: HandoffTarget::Inbox,
        });
    }
    let empty = Flow {
        version: 1,
        start: String::new(),
        steps: Default::default(),
    };
    let run = Run {
        chatflow_id,
        flow_version: bot.flow_version,
        flow: &empty,
    };
    run.turns(state, conversation, bot, outputs).await
}

/// A bot running in one conversation, for the length of one input.
struct Run<'a> {
    chatflow_id: ChatflowId,
    flow_version: i32,
    flow: &'a Flow,
}

impl Run<'_> {
    /// Runs one engine call with what it reads now (the contact's properties, whether agents
    /// are available), then stores and performs the turn it made.
    async fn step(
        &self,
        state: &AppState,
        conversation: &Conversation,
        call: impl FnOnce(&Context) -> (BotState, Vec<Output>),
    ) -> Result<(), ApiError> {
        let (bot, outputs) = {
            let properties = contact_properties(state, conversation).await?;
            let ctx = Context {
                flow_version: self.flow_version,
                properties: &properties,
                agents_available: agents_available(state, conversation).await,
            };
            call(&ctx)
        };
        self.turns(state, conversation, bot, outputs).await
    }

    /// Stores a turn and performs its effects; a webhook's result is fed back as the next turn.
    async fn turns(
        &self,
        state: &AppState,
        conversation: &Conversation,
        mut bot: BotState,
        mut outputs: Vec<Output>,
    ) -> Result<(), ApiError> {
        for _ in 0..MAX_TURNS_PER_INPUT {
            let effects = self.store_turn(state, conversation, &bot, outputs).await?;
            perform(state, conversation, &effects).await?;
            let Some((url, payload)) = effects.webhook else {
                return Ok(());
            };
            let result = call_webhook(state, conversation, &url, payload).await;
            if let Err(why) = &result {
                tracing::info!(%url, conversation = %conversation.id, %why, "bot webhook failed");
            }
            let input = Input::WebhookResult(result);
            let properties = contact_properties(state, conversation).await?;
            let ctx = Context {
                flow_version: self.flow_version,
                properties: &properties,
                agents_available: agents_available(state, conversation).await,
            };
            (bot, outputs) = bots::on_input(self.flow, bot, input, &ctx);
        }
        tracing::warn!(conversation = %conversation.id, "bot stopped: too many webhook turns");
        Ok(())
    }

    /// One turn, stored atomically and published; returns what is left to do.
    async fn store_turn(
        &self,
        state: &AppState,
        conversation: &Conversation,
        bot: &BotState,
        outputs: Vec<Output>,
    ) -> Result<Effects, ApiError> {
        let chatflow_id = self.chatflow_id;
        let mut effects = Effects::default();
        let mut items = Vec::new();
        let mut facts = Vec::new();
        for output in outputs {
            match output {
                Output::Say {
                    text,
                    quick_replies,
                } => {
                    match Body::parse(&text) {
                        Ok(body) => items.push(NewItemContent::Message {
                            direction: Direction::Out,
                            body,
                        }),
                        Err(e) => tracing::warn!(error = %e, "a bot message is not a valid body"),
                    }
                    if !quick_replies.is_empty() {
                        items.push(NewItemContent::Event {
                            data: json!({"type": "bot.quick_replies", "replies": quick_replies}),
                        });
                    }
                }
                Output::SetProperty { key, value } => {
                    effects.properties.insert(key, value);
                }
                Output::Handoff { target } => effects.handoff = Some(target),
                Output::CreateTicket { title } => effects.tickets.push(title),
                Output::CallWebhook { url, payload } => effects.webhook = Some((url, payload)),
                Output::StepEvent { step, kind } => facts.push(BotFact {
                    kind: "bot.step".into(),
                    data: json!({"chatflow_id": chatflow_id, "step": step, "kind": kind}),
                }),
                Output::Finished { outcome } => facts.push(BotFact {
                    kind: "bot.finished".into(),
                    data: json!({"chatflow_id": chatflow_id, "outcome": outcome}),
                }),
            }
        }
        let turn = BotTurn {
            conversation_id: conversation.id,
            chatflow_id,
            state: serde_json::to_value(bot).map_err(|e| ApiError::internal(&e))?,
            finished: bot.finished,
            items,
            facts,
        };
        let stored = state
            .store
            .save_bot_turn(conversation.account_id, turn)
            .await?;
        for item in &stored {
            publish_item(state, item).await;
        }
        Ok(effects)
    }
}

async fn perform(
    state: &AppState,
    conversation: &Conversation,
    effects: &Effects,
) -> Result<(), ApiError> {
    let account = conversation.account_id;
    if !effects.properties.is_empty() {
        let patch = ContactPatch {
            properties: Some(effects.properties.clone()),
            ..ContactPatch::default()
        };
        // The engine checked each answer; a property the contact cannot take is logged, and
        // the conversation goes on.
        if let Err(e) = state
            .store
            .update_contact(account, conversation.contact_id, patch)
            .await
        {
            tracing::warn!(error = %e, conversation = %conversation.id, "bot could not set properties");
        }
    }
    for title in &effects.tickets {
        let ticket = NewTicket {
            conversation_id: conversation.id,
            title: Name::parse(title).ok(),
            priority: TicketPriority::Medium,
            owner_id: None,
        };
        state.store.create_ticket(account, ticket).await?;
    }
    match effects.handoff {
        None => {}
        Some(HandoffTarget::Inbox) => state.assignments.route(account, conversation.id).await,
        Some(HandoffTarget::TeamId(team)) => {
            let change = ConversationChange::Assign {
                assignee_id: None,
                team_id: Some(team),
            };
            hand_over(state, conversation, change).await?;
        }
        Some(HandoffTarget::AgentId(agent)) => {
            let change = ConversationChange::Assign {
                assignee_id: Some(agent),
                team_id: conversation.team_id,
            };
            hand_over(state, conversation, change).await?;
        }
    }
    Ok(())
}

/// Hands the conversation to a team or an agent, announced like any assignment; a team hand-off
/// then routes within the team.
async fn hand_over(
    state: &AppState,
    conversation: &Conversation,
    change: ConversationChange,
) -> Result<(), ApiError> {
    let before = state
        .store
        .get_conversation(conversation.account_id, conversation.id)
        .await?;
    let (after, event) = state
        .store
        .change_conversation(conversation.account_id, conversation.id, change, Actor::Bot)
        .await?;
    state
        .assignments
        .changed(&before, &after, event.as_ref())
        .await;
    if after.assignee_id.is_none() {
        state
            .assignments
            .route(conversation.account_id, conversation.id)
            .await;
    }
    Ok(())
}

/// The flow of a bot chatflow, when it has one that validates.
fn bot_flow(chatflow: &Chatflow) -> Option<Flow> {
    if chatflow.kind != ChatflowKind::Bot {
        return None;
    }
    match bots::validate(chatflow.flow.as_ref()?) {
        Ok(flow) => Some(flow),
        Err(e) => {
            tracing::warn!(chatflow = %chatflow.id, error = %e.message, "stored bot flow does not validate");
            None
        }
    }
}

async fn contact_properties(
    state: &AppState,
    conversation: &Conversation,
) -> Result<Map<String, Value>, ApiError> {
    Ok(state
        .store
        .get_contact(conversation.account_id, conversation.contact_id)
        .await?
        .properties)
}

/// Whether an agent of the conversation's inbox is online and available now (for the bot's
/// "agents available" branches). Unknown presence counts as nobody.
async fn agents_available(state: &AppState, conversation: &Conversation) -> bool {
    let account = conversation.account_id;
    let (inbox, online) = match (
        state.store.get_inbox(account, conversation.inbox_id).await,
        state.presence.online(account).await,
    ) {
        (Ok(inbox), Ok(online)) => (inbox, online),
        _ => return false,
    };
    online.iter().any(|p| {
        p.online
            && p.status == crate::domain::AgentStatus::Available
            && inbox.member_ids.contains(&p.agent_id)
    })
}

/// POSTs what the bot collected to `url`, signed, and reads the JSON answer. Every failure
/// (unreachable, timeout, not 2xx, not JSON, too large) is the `Err` the flow branches on.
async fn call_webhook(
    state: &AppState,
    conversation: &Conversation,
    url: &str,
    payload: Value,
) -> Result<Value, String> {
    let mut body = match payload {
        Value::Object(fields) => fields,
        other => Map::from_iter([("data".to_owned(), other)]),
    };
    body.insert("conversation_id".into(), json!(conversation.id));
    body.insert("contact_id".into(), json!(conversation.contact_id));
    let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    let channel = state
        .store
        .get_channel(conversation.account_id, conversation.channel_id)
        .await
        .map_err(|e| format!("channel: {e}"))?;
    let secret = channel
        .settings
        .get(crate::channels::IDENTITY_SECRET)
        .and_then(Value::as_str)
        .unwrap_or_default();
    let response = state
        .webhooks
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, format!("sha256={}", sign(secret, &body)))
        .body(body)
        .send()
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("answered {status}"));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_WEBHOOK_ANSWER_BYTES as u64)
    {
        return Err("answer too large".into());
    }
    let bytes = response.bytes().await.map_err(|e| format!("answer: {e}"))?;
    if bytes.len() > MAX_WEBHOOK_ANSWER_BYTES {
        return Err("answer too large".into());
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("answer is not JSON: {e}"))
}

/// Lowercase hex HMAC-SHA256 of `body` keyed by `secret` (the `X-Parley-Signature-256` value
/// after `sha256=`).
pub fn sign(secret: &str, body: &[u8]) -> String {
    crate::channels::identity::hmac_hex(secret, body)
}
