//! WebSocket test client shared by the socket tests: frames as JSON, with patience for what
//! must arrive and a quiet period for what must not.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test harness"
)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::common::TestApp;

/// How long a socket waits for a frame it expects.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// How long a socket listens to prove that nothing more arrives.
pub const QUIET: Duration = Duration::from_millis(500);

pub struct Socket {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// `presence` frames, which arrive whenever a teammate's presence changes: kept aside so
    /// that `next` and `quiet` speak of the conversation traffic a test drives.
    pub presence: Vec<Value>,
    /// `notification` frames and `visitor` (the visitor came or left) frames, kept aside
    /// likewise: they follow from traffic but arrive on their own schedule.
    pub notices: Vec<Value>,
    /// `conversation` frames (a conversation of a visible inbox started or changed), kept
    /// aside likewise: every change announces one to every member of the inbox.
    pub announced: Vec<Value>,
}

/// Keeps a presence, notification, visitor or conversation frame aside; any other frame is returned.
fn set_aside(socket: &mut Socket, text: &str) -> Option<Value> {
    let frame: Value = serde_json::from_str(text).unwrap();
    match frame["type"].as_str() {
        Some("presence") => socket.presence.push(frame),
        Some("notification" | "visitor") => socket.notices.push(frame),
        Some("conversation") => socket.announced.push(frame),
        _ => return Some(frame),
    }
    None
}

impl Socket {
    pub async fn open(app: &TestApp, headers: &[(&str, &str)]) -> Self {
        Self::try_open(app, "/ws/agent", headers).await.unwrap()
    }

    /// Opens a socket at `path` (with its query); the server's refusal is an error.
    pub async fn try_open(
        app: &TestApp,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let mut request = format!("ws://127.0.0.1:{}{path}", app.port)
            .into_client_request()
            .unwrap();
        for (name, value) in headers {
            let name: tokio_tungstenite::tungstenite::http::HeaderName = name.parse().unwrap();
            request.headers_mut().insert(name, value.parse().unwrap());
        }
        let (ws, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Self {
            ws,
            presence: Vec::new(),
            notices: Vec::new(),
            announced: Vec::new(),
        })
    }

    /// A socket authenticated with a first `auth` frame.
    pub async fn agent(app: &TestApp, token: &str) -> Self {
        let mut socket = Self::open(app, &[]).await;
        socket.send(json!({"type": "auth", "token": token})).await;
        let hello = socket.next().await;
        assert_eq!(hello["type"], "hello", "{hello}");
        socket
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_text(frame.to_string()).await;
    }

    pub async fn send_text(&mut self, text: String) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    /// The next text frame (pings are answered by tungstenite while reading).
    pub async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a frame in time")
                .expect("the socket is open")
                .expect("a readable frame");
            match message {
                Message::Text(text) => {
                    if let Some(frame) = set_aside(self, &text) {
                        return frame;
                    }
                }
                Message::Close(close) => panic!("closed: {close:?}"),
                _ => {}
            }
        }
    }

    /// The next frame, which must be an error with `code`.
    pub async fn error(&mut self, code: &str) -> Value {
        let frame = self.next().await;
        assert_eq!(
            (frame["type"].as_str(), frame["code"].as_str()),
            (Some("error"), Some(code)),
            "{frame}"
        );
        frame
    }

    /// Asserts that no text frame arrives for a while.
    pub async fn quiet(&mut self) {
        let deadline = tokio::time::Instant::now() + QUIET;
        while let Ok(message) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            match message {
                Some(Ok(Message::Text(text))) => {
                    if set_aside(self, &text).is_some() {
                        panic!("expected nothing, got {text}");
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("socket ended: {other:?}"),
            }
        }
    }

    /// Waits for the server to close; returns the close reason.
    pub async fn closed(&mut self) -> String {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a close in time");
            match message {
                Some(Ok(Message::Close(Some(close)))) => return close.reason.to_string(),
                Some(Ok(Message::Close(None))) | None => return String::new(),
                Some(Ok(Message::Text(text))) => {
                    if set_aside(self, &text).is_some() {
                        panic!("expected a close, got {text}");
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return format!("error: {e}"),
            }
        }
    }

    /// Subscribes and waits for `subscribed`; returns its `last_seq`.
    pub async fn subscribe(&mut self, conversation: impl std::fmt::Display, after_seq: i64) -> i64 {
        self.send(json!({
            "type": "subscribe",
            "conversation_id": conversation.to_string(),
            "after_seq": after_seq,
        }))
        .await;
        let frame = self.next().await;
        assert_eq!(frame["type"], "subscribed", "{frame}");
        assert_eq!(frame["conversation_id"], conversation.to_string());
        frame["last_seq"].as_i64().unwrap()
    }

    /// Reads `n` item frames; returns their `(seq, body)` in arrival order.
    pub async fn items(&mut self, n: usize) -> Vec<(i64, String)> {
        let mut items = Vec::with_capacity(n);
        while items.len() < n {
            let frame = self.next().await;
            assert_eq!(frame["type"], "item", "{frame}");
            items.push(item_of(&frame));
        }
        items
    }
}

pub fn item_of(frame: &Value) -> (i64, String) {
    let item = &frame["item"];
    (
        item["seq"].as_i64().unwrap(),
        item["body"].as_str().unwrap_or("").to_owned(),
    )
}

pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn send_frame(conversation: impl std::fmt::Display, client_id: &str, body: &str) -> Value {
    json!({
        "type": "send",
        "conversation_id": conversation.to_string(),
        "client_id": client_id,
        "body": body,
    })
}

pub fn expected(from: i64, to: i64) -> Vec<(i64, String)> {
    (from..=to).map(|seq| (seq, format!("m{seq}"))).collect()
}

/// A website visitor of a chat channel (a token from the widget endpoint, as a browser gets it).
pub struct Visit {
    pub token: String,
    pub visitor: Value,
    pub path: String,
}

impl Visit {
    pub async fn new(
        app: &TestApp,
        account: impl serde::Serialize,
        channel: impl serde::Serialize,
    ) -> Self {
        let (account, channel) = (json!(account), json!(channel));
        let created = app
            .call(
                "POST",
                "/api/v1/widget/visitors",
                None,
                Some(json!({"account_id": account, "channel_id": channel})),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        Self {
            token: created.body["token"].as_str().unwrap().to_owned(),
            visitor: created.body["visitor"].clone(),
            path: format!(
                "/ws/visitor?account_id={}&channel_id={}",
                account.as_str().unwrap(),
                channel.as_str().unwrap()
            ),
        }
    }

    /// An authenticated socket; returns it with its `hello`.
    pub async fn connect(&self, app: &TestApp) -> (Socket, Value) {
        let mut socket = Socket::try_open(app, &self.path, &[]).await.unwrap();
        socket
            .send(json!({"type": "auth", "token": self.token}))
            .await;
        let hello = socket.next().await;
        assert_eq!(hello["type"], "hello", "{hello}");
        assert_eq!(hello["visitor"]["id"], self.visitor["id"]);
        (socket, hello)
    }
}

/// A visitor's `send` frame.
pub fn visitor_send(client_id: &str, body: &str) -> Value {
    json!({"type": "send", "client_id": client_id, "body": body})
}

/// Sends as the visitor and waits for the ack (past the agents' typing indicators); returns
/// `(conversation_id, seq)`.
pub async fn send_acked(socket: &mut Socket, client_id: &str, body: &str) -> (String, i64) {
    socket.send(visitor_send(client_id, body)).await;
    let mut ack = socket.next().await;
    while ack["type"] == "typing" {
        ack = socket.next().await;
    }
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(ack["client_id"], client_id);
    (
        ack["conversation_id"].as_str().unwrap().to_owned(),
        ack["seq"].as_i64().unwrap(),
    )
}

/// An inbox "Support" with `members` and its website chat channel "Website", made by the
/// admin; answers `(inbox id, channel id)`.
pub async fn chat_inbox(app: &TestApp, members: &[String]) -> (String, String) {
    let inbox = app
        .post(
            "/api/v1/inboxes",
            &app.admin_token,
            json!({"name": "Support", "member_ids": members}),
        )
        .await;
    assert_eq!(inbox.status, 201, "{:?}", inbox.body);
    let inbox = inbox.body["id"].as_str().unwrap().to_owned();
    let channel = app
        .post(
            "/api/v1/channels",
            &app.admin_token,
            json!({"inbox_id": inbox, "kind": "chat", "name": "Website", "settings": {}}),
        )
        .await;
    assert_eq!(channel.status, 201, "{:?}", channel.body);
    (inbox, channel.body["id"].as_str().unwrap().to_owned())
}

/// A new visitor of `channel` (in the admin's account) whose first message starts a chat:
/// the visit, its socket subscribed to the conversation, and the conversation's id.
pub async fn visitor_starts_chat(
    app: &TestApp,
    channel: &str,
    body: &str,
) -> (Visit, Socket, String) {
    let visit = Visit::new(app, app.admin.account_id, channel).await;
    let (mut socket, _) = visit.connect(app).await;
    let (conversation, seq) = send_acked(&mut socket, &uuid(), body).await;
    socket
        .send(json!({"type": "subscribe", "after_seq": seq}))
        .await;
    let subscribed = socket.next().await;
    assert_eq!(subscribed["type"], "subscribed", "{subscribed}");
    (visit, socket, conversation)
}
