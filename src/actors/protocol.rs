//! The socket protocol: frames clients send and frames the server sends, as JSON text frames
//! tagged by `"type"` (snake_case). Documented frame by frame in `docs/protocol.md`.
//!
//! A server frame is encoded once into an [`EncodedFrame`] (shared bytes) and that same buffer
//! is handed to every recipient and published on the bus unchanged, so fan-out never encodes
//! per socket.
//!
//! Must not: know about the transport (actix, WebSocket types) or the store.

use std::borrow::Cow;

use bytes::Bytes;
use bytestring::ByteString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{
    Agent, AgentId, AgentStatus, Body, ChatflowId, ContactId, Conversation, ConversationId,
    ConversationStatus, ItemKind, TeamId, TimelineItem, Visitor,
};
use crate::http::ApiError;
use crate::http::extract::parse_json;

/// Every frame type a client may send; anything else is answered with `unknown_type`.
pub const CLIENT_FRAME_TYPES: &[&str] = &[
    "auth",
    "subscribe",
    "unsubscribe",
    "send",
    "comment",
    "typing",
    "read",
    "assign",
    "set_status",
];

/// A frame from a client, by its `"type"`. Each variant's fields are parsed on their own (not
/// through a serde tagged enum) so that an error can name the field at fault.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientFrame {
    Auth(AuthFrame),
    Subscribe(SubscribeFrame),
    Unsubscribe(UnsubscribeFrame),
    Send(SendFrame),
    Comment(CommentFrame),
    Typing(TypingFrame),
    Read(ReadFrame),
    Assign(AssignFrame),
    SetStatus(SetStatusFrame),
}

/// `assign`: hands a conversation to an agent and/or a team, as `POST
/// /conversations/{id}/assign` does; both fields are required, `null` clears that side.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AssignFrame {
    pub conversation_id: ConversationId,
    #[serde(deserialize_with = "crate::http::params::nullable")]
    pub assignee_id: Option<Option<AgentId>>,
    #[serde(deserialize_with = "crate::http::params::nullable")]
    pub team_id: Option<Option<TeamId>>,
}

/// `set_status`: the agent's chosen status (`available` or `away`), for every device.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SetStatusFrame {
    pub status: AgentStatus,
}

/// `auth`: proves who the socket is when the upgrade carried no session cookie.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AuthFrame {
    pub token: String,
}

/// `subscribe`: items after `after_seq` (default 0), then live ones.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SubscribeFrame {
    pub conversation_id: ConversationId,
    #[serde(default)]
    pub after_seq: i64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UnsubscribeFrame {
    pub conversation_id: ConversationId,
}

/// `send`: a reply to the contact.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SendFrame {
    pub conversation_id: ConversationId,
    pub client_id: Uuid,
    pub body: Body,
}

/// `comment`: an internal comment, never shown to the contact.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CommentFrame {
    pub conversation_id: ConversationId,
    pub client_id: Uuid,
    pub body: Body,
    #[serde(default)]
    pub mentions: Vec<AgentId>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TypingFrame {
    pub conversation_id: ConversationId,
    pub state: TypingState,
}

/// `read`: the last `seq` this agent has read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReadFrame {
    pub conversation_id: ConversationId,
    pub seq: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypingState {
    Start,
    Stop,
}

/// Every frame type a visitor may send on `/ws/visitor`.
pub const VISITOR_FRAME_TYPES: &[&str] = &["auth", "subscribe", "send", "typing", "read"];

/// A frame from a visitor's socket. Visitors have one conversation at a time, so the
/// conversation is implied; `conversation_id`, when given, must be the visitor's own.
#[derive(Debug, Clone, PartialEq)]
pub enum VisitorFrame {
    Auth(AuthFrame),
    Subscribe(VisitorSubscribeFrame),
    Send(VisitorSendFrame),
    Typing(VisitorTypingFrame),
    Read(VisitorReadFrame),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VisitorSubscribeFrame {
    #[serde(default)]
    pub conversation_id: Option<ConversationId>,
    #[serde(default)]
    pub after_seq: i64,
}

/// `send`: a message to the agents; starts a conversation when the visitor has no open one.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VisitorSendFrame {
    pub client_id: Uuid,
    pub body: Body,
    /// The chatflow the widget shows (from `GET /widget/chatflow`); a conversation this message
    /// starts runs it when it is a bot. Ignored for later messages.
    #[serde(default)]
    pub chatflow_id: Option<ChatflowId>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VisitorTypingFrame {
    #[serde(default)]
    pub conversation_id: Option<ConversationId>,
    pub state: TypingState,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VisitorReadFrame {
    #[serde(default)]
    pub conversation_id: Option<ConversationId>,
    pub seq: i64,
}

/// The visitor's open conversation, as `hello` tells it: enough to resume, nothing internal.
#[derive(Debug, Clone, Serialize)]
pub struct VisitorConversation {
    pub id: ConversationId,
    pub status: ConversationStatus,
    pub last_seq: i64,
}

impl From<&Conversation> for VisitorConversation {
    fn from(c: &Conversation) -> Self {
        Self {
            id: c.id,
            status: c.status,
            last_seq: c.last_seq,
        }
    }
}

/// A frame from the server.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The socket is authenticated as `agent`.
    Hello {
        agent: Agent,
    },
    /// A visitor's socket is authenticated; `conversation` is their open one, if any.
    #[serde(rename = "hello")]
    VisitorHello {
        visitor: Visitor,
        conversation: Option<VisitorConversation>,
    },
    /// The subscription is live: items after the requested `after_seq` up to `last_seq`
    /// follow, then live items.
    Subscribed {
        conversation_id: ConversationId,
        last_seq: i64,
        /// Agents only: whether the conversation's visitor has a socket open now.
        #[serde(skip_serializing_if = "Option::is_none")]
        visitor_online: Option<bool>,
    },
    /// A timeline item. Per conversation, items arrive in `seq` order, each once.
    Item {
        item: TimelineItem,
    },
    /// A `send` or `comment` is stored (sent only after the commit).
    Ack {
        conversation_id: ConversationId,
        client_id: Uuid,
        seq: i64,
    },
    /// Someone else started or stopped typing: an agent (`agent_id`) or the visitor
    /// (`contact_id`).
    Typing {
        conversation_id: ConversationId,
        #[serde(skip_serializing_if = "Option::is_none")]
        agent_id: Option<AgentId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        contact_id: Option<ContactId>,
        state: TypingState,
    },
    /// Someone else has read up to `seq`: an agent or the visitor, named as in `Typing`.
    Read {
        conversation_id: ConversationId,
        #[serde(skip_serializing_if = "Option::is_none")]
        agent_id: Option<AgentId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        contact_id: Option<ContactId>,
        seq: i64,
    },
    /// A conversation was assigned (by routing or a person); sent on the topic of the new
    /// assignee and of the agent it was taken from.
    Assigned {
        conversation: Conversation,
    },
    /// Something for one agent's attention, sent on their topic.
    Notification {
        reason: NotificationReason,
        conversation_id: ConversationId,
        item: TimelineItem,
    },
    /// A change the socket asked for (`assign`, `set_status`) is made; `conversation` as it
    /// now is.
    Updated {
        conversation: Conversation,
        #[serde(skip_serializing_if = "Option::is_none")]
        event: Option<TimelineItem>,
    },
    /// A conversation of an inbox the agent sees was started, or its status or assignee
    /// changed; sent on the inbox's topic, so lists stay current without polling.
    Conversation {
        conversation: Conversation,
    },
    /// The visitor of a conversation came online (a socket on it) or left.
    Visitor {
        conversation_id: ConversationId,
        online: bool,
    },
    /// Agents only: a reply on email or Messenger was delivered (`sent`) or given up
    /// (`failed`, with the reason in `error`); `seq` names the message. Sent on the
    /// conversation's topic by the outbox.
    Delivery {
        conversation_id: ConversationId,
        seq: i64,
        status: crate::domain::DeliveryStatus,
        error: Option<String>,
    },
    Error(ErrorFrame),
}

/// Why an agent is notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationReason {
    /// A comment mentions them.
    Mention,
    /// The contact wrote in a conversation assigned to them.
    Message,
}

/// What went wrong with a frame. Codes are stable snake_case words (see `docs/protocol.md`).
#[derive(Debug, Clone, Serialize)]
pub struct ErrorFrame {
    pub code: Cow<'static, str>,
    pub message: String,
    /// The input field at fault, as a dotted path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The conversation the refused frame named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<ConversationId>,
    /// The `client_id` of the refused `send` or `comment`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<Uuid>,
}

impl ErrorFrame {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code: Cow::Borrowed(code),
            message: message.into(),
            field: None,
            conversation_id: None,
            client_id: None,
        }
    }

    pub fn about(mut self, conversation: ConversationId, client_id: Option<Uuid>) -> Self {
        self.conversation_id = Some(conversation);
        self.client_id = client_id;
        self
    }
}

impl From<ApiError> for ErrorFrame {
    fn from(e: ApiError) -> Self {
        // Server-side causes were logged where the ApiError was made; the message is safe.
        Self {
            code: Cow::Borrowed(e.code),
            message: e.message,
            field: e.field,
            conversation_id: None,
            client_id: None,
        }
    }
}

impl ServerFrame {
    /// Encodes the frame once; clone the result for every recipient.
    pub fn encode(&self) -> EncodedFrame {
        match serde_json::to_string(self) {
            Ok(text) => EncodedFrame(ByteString::from(text)),
            // Every field is plain data; this cannot fail, but never panic on the hot path.
            Err(e) => {
                tracing::error!(error = %e, "could not encode a server frame");
                EncodedFrame(ByteString::from_static(
                    r#"{"type":"error","code":"internal","message":"could not encode a frame"}"#,
                ))
            }
        }
    }
}

/// An encoded server frame: UTF-8 JSON in shared bytes. Cloning shares the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame(ByteString);

impl EncodedFrame {
    /// Takes a frame as published on the bus; refuses bytes that are not UTF-8.
    pub fn from_bytes(bytes: Bytes) -> Option<Self> {
        ByteString::try_from(bytes).ok().map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_bytes(self) -> Bytes {
        self.0.into_bytes()
    }

    pub(crate) fn into_text(self) -> ByteString {
        self.0
    }
}

/// Why the server closed a socket; the word travels as the WebSocket close reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The socket could not keep up with its conversations; reconnect and resume with `after_seq`.
    SlowConsumer,
    FrameTooLarge,
    /// Too many frames refused by the rate limit.
    RateLimited,
    /// No valid `auth` frame in time, or a refused one.
    Unauthenticated,
    /// No pong (or any frame) within the heartbeat timeout.
    HeartbeatTimeout,
    /// The node lost its live feed of a conversation; resume with `after_seq`.
    Resume,
}

impl CloseReason {
    pub fn code(self) -> &'static str {
        match self {
            Self::SlowConsumer => "slow_consumer",
            Self::FrameTooLarge => "frame_too_large",
            Self::RateLimited => "rate_limited",
            Self::Unauthenticated => "unauthenticated",
            Self::HeartbeatTimeout => "heartbeat_timeout",
            Self::Resume => "resume",
        }
    }
}

/// Parses a client frame. Errors say what to fix: `malformed_json`, `unknown_type` (naming the
/// known ones), or `invalid_field` naming the field.
pub fn parse_client_frame(text: &str) -> Result<ClientFrame, ErrorFrame> {
    parse_tagged(text, CLIENT_FRAME_TYPES, |kind, bytes| {
        Some(match kind {
            "auth" => parse_json(bytes).map(ClientFrame::Auth),
            "subscribe" => parse_json(bytes).map(ClientFrame::Subscribe),
            "unsubscribe" => parse_json(bytes).map(ClientFrame::Unsubscribe),
            "send" => parse_json(bytes).map(ClientFrame::Send),
            "comment" => parse_json(bytes).map(ClientFrame::Comment),
            "typing" => parse_json(bytes).map(ClientFrame::Typing),
            "read" => parse_json(bytes).map(ClientFrame::Read),
            "assign" => parse_json(bytes).map(ClientFrame::Assign),
            "set_status" => parse_json(bytes).map(ClientFrame::SetStatus),
            _ => return None,
        })
    })
}

/// Parses a visitor's frame, with the same errors as [`parse_client_frame`].
pub fn parse_visitor_frame(text: &str) -> Result<VisitorFrame, ErrorFrame> {
    parse_tagged(text, VISITOR_FRAME_TYPES, |kind, bytes| {
        Some(match kind {
            "auth" => parse_json(bytes).map(VisitorFrame::Auth),
            "subscribe" => parse_json(bytes).map(VisitorFrame::Subscribe),
            "send" => parse_json(bytes).map(VisitorFrame::Send),
            "typing" => parse_json(bytes).map(VisitorFrame::Typing),
            "read" => parse_json(bytes).map(VisitorFrame::Read),
            _ => return None,
        })
    })
}

/// Reads `type`, then hands the frame to `parse` by it; `None` from `parse` is an unknown type.
fn parse_tagged<F>(
    text: &str,
    known: &[&str],
    parse: impl FnOnce(&str, &[u8]) -> Option<Result<F, ApiError>>,
) -> Result<F, ErrorFrame> {
    #[derive(Deserialize)]
    struct Peek<'a> {
        #[serde(rename = "type", borrow, default)]
        kind: Option<Cow<'a, str>>,
        // Read leniently so that an error can say which frame it refuses (a client matches the
        // refusal to its pending message by `client_id`), even when another field is at fault.
        #[serde(default)]
        client_id: Option<serde_json::Value>,
        #[serde(default)]
        conversation_id: Option<serde_json::Value>,
    }
    let peek: Peek = serde_json::from_str(text).map_err(|e| {
        let mut error = ErrorFrame::new(
            "malformed_json",
            format!("the frame is not a JSON object: {e}"),
        );
        if e.is_data() {
            error.code = Cow::Borrowed("invalid_field");
            error.field = Some("type".into());
            error.message = "`type` must be a string naming the frame".into();
        }
        error
    })?;
    let Some(kind) = peek.kind else {
        let mut error = ErrorFrame::new("invalid_field", "every frame needs a `type`");
        error.field = Some("type".into());
        return Err(error);
    };
    match parse(kind.as_ref(), text.as_bytes()) {
        Some(parsed) => parsed.map_err(|e| {
            let mut error = ErrorFrame::from(e);
            error.client_id = peek.client_id.and_then(|v| serde_json::from_value(v).ok());
            error.conversation_id = peek
                .conversation_id
                .and_then(|v| serde_json::from_value(v).ok());
            error
        }),
        None => {
            let mut error = ErrorFrame::new(
                "unknown_type",
                format!(
                    "unknown frame type '{kind}'; expected one of: {}",
                    known.join(", ")
                ),
            );
            error.field = Some("type".into());
            Err(error)
        }
    }
}

/// The parts of a published frame a conversation actor routes by, read without decoding the
/// whole item.
#[derive(Debug, Deserialize)]
pub(crate) struct PublishedPeek {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub item: Option<SeqPeek>,
    #[serde(default)]
    pub agent_id: Option<AgentId>,
    #[serde(default)]
    pub contact_id: Option<ContactId>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SeqPeek {
    pub seq: i64,
    pub kind: ItemKind,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bad_frames_are_named_by_what_is_wrong() {
        let cases = [
            ("not json", "malformed_json", None),
            (r#"{"type": 5}"#, "invalid_field", Some("type")),
            (r#"{"conversation_id": "x"}"#, "invalid_field", Some("type")),
            (r#"{"type": "shout"}"#, "unknown_type", Some("type")),
            (
                r#"{"type": "subscribe", "conversation_id": "nope"}"#,
                "invalid_field",
                Some("conversation_id"),
            ),
            (
                r#"{"type": "send", "conversation_id": "0190b5f0-0000-7000-8000-000000000000", "client_id": "0190b5f0-0000-7000-8000-000000000001", "body": "  "}"#,
                "invalid_field",
                Some("body"),
            ),
        ];
        for (text, code, field) in cases {
            let error = parse_client_frame(text).unwrap_err();
            assert_eq!(error.code, code, "{text}: {error:?}");
            assert_eq!(error.field.as_deref(), field, "{text}: {error:?}");
        }
    }

    #[test]
    fn subscribe_defaults_to_the_start_of_the_timeline() {
        let frame = parse_client_frame(
            r#"{"type":"subscribe","conversation_id":"0190b5f0-0000-7000-8000-000000000000"}"#,
        )
        .unwrap();
        assert!(matches!(
            frame,
            ClientFrame::Subscribe(SubscribeFrame { after_seq: 0, .. })
        ));
    }

    #[test]
    fn visitor_frames_imply_the_conversation_and_know_only_visitor_types() {
        let frame = parse_visitor_frame(
            r#"{"type":"send","client_id":"0190b5f0-0000-7000-8000-000000000001","body":"hi"}"#,
        )
        .unwrap();
        assert!(matches!(frame, VisitorFrame::Send(_)));
        let frame = parse_visitor_frame(r#"{"type":"subscribe","after_seq":4}"#).unwrap();
        assert!(matches!(
            frame,
            VisitorFrame::Subscribe(VisitorSubscribeFrame {
                conversation_id: None,
                after_seq: 4
            })
        ));
        let error = parse_visitor_frame(r#"{"type":"comment","body":"psst"}"#).unwrap_err();
        assert_eq!(error.code, "unknown_type");
        assert!(!error.message.contains("comment,"), "{}", error.message);
    }

    #[test]
    fn a_refused_frame_is_named_by_its_client_id_and_conversation() {
        let client_id = Uuid::new_v4();
        let error = parse_visitor_frame(&format!(
            r#"{{"type": "send", "client_id": "{client_id}", "body": " "}}"#
        ))
        .unwrap_err();
        assert_eq!(error.code, "invalid_field");
        assert_eq!(error.client_id, Some(client_id));

        let conversation = ConversationId::new();
        let error = parse_client_frame(&format!(
            r#"{{"type": "send", "conversation_id": "{conversation}", "client_id": 5, "body": "x"}}"#
        ))
        .unwrap_err();
        assert_eq!(error.conversation_id, Some(conversation));
        assert_eq!(error.client_id, None, "not a uuid: not echoed");
    }

    #[test]
    fn the_visitor_hello_is_a_hello() {
        let text = ServerFrame::VisitorHello {
            visitor: Visitor {
                id: crate::domain::VisitorId::new(),
                account_id: crate::domain::AccountId::new(),
                channel_id: crate::domain::ChannelId::new(),
                contact_id: ContactId::new(),
                created_at: time::OffsetDateTime::UNIX_EPOCH,
            },
            conversation: None,
        }
        .encode();
        let value: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
        assert_eq!(value["type"], "hello");
        assert_eq!(value["conversation"], serde_json::Value::Null);
    }

    #[test]
    fn error_frames_are_tagged_and_flat() {
        let text = ServerFrame::Error(ErrorFrame::new("forbidden", "no")).encode();
        assert_eq!(
            text.as_str(),
            r#"{"type":"error","code":"forbidden","message":"no"}"#
        );
    }
}
