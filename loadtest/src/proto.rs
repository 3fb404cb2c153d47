//! One client socket, speaking Parley's protocol (docs/protocol.md), the relay baseline's
//! (the same JSON frames; `src/bin/relay.rs`) or Socket.IO's (Engine.IO v4 over WebSocket,
//! by hand: `0{open}`, `40` connect, `42["event",payload]` events, ping `2` answered `3`).
//! Frames are handed to the generator as Parley-shaped JSON objects whatever the wire.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Parley,
    Relay,
    Socketio,
}

pub struct Conn {
    ws: WebSocketStream<TcpStream>,
    target: Target,
}

/// How long a connect, handshake or expected answer may take.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The client's buffers: tungstenite's default 128 KiB read buffer per socket would make
/// 10,000 sockets cost 1.3 GB in the generator.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
}

/// `base` is `ws://127.0.0.1:PORT`; `path_query` the rest. The TCP socket is bound to
/// `source` first, so many sockets can spread over 127.0.0.x and their ephemeral ports.
pub async fn connect(
    target: Target,
    base: &str,
    path_query: &str,
    source: Ipv4Addr,
) -> anyhow::Result<Conn> {
    let url = format!("{base}{path_query}");
    let addr: SocketAddr = base
        .trim_start_matches("ws://")
        .trim_end_matches('/')
        .parse()
        .with_context(|| format!("server address in {base}"))?;
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source.into(), 0))?;
    let stream = tokio::time::timeout(PATIENCE, socket.connect(addr))
        .await
        .map_err(|_| anyhow!("tcp_connect_timeout"))??;
    stream.set_nodelay(true)?;
    let request = url.into_client_request()?;
    let (ws, _) = tokio::time::timeout(
        PATIENCE,
        tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config())),
    )
    .await
    .map_err(|_| anyhow!("handshake_timeout"))??;
    let mut conn = Conn { ws, target };
    if target == Target::Socketio {
        conn.socketio_open().await?;
    }
    Ok(conn)
}

impl Conn {
    /// Engine.IO open packet, then the Socket.IO connect of the default namespace.
    async fn socketio_open(&mut self) -> anyhow::Result<()> {
        let open = self.raw_text().await?;
        if !open.starts_with('0') {
            bail!("engine.io: expected open packet, got {open}");
        }
        self.ws.send(Message::text("40")).await?;
        loop {
            let text = self.raw_text().await?;
            if text.starts_with("40") {
                return Ok(());
            }
            if text == "2" {
                self.ws.send(Message::text("3")).await?;
            }
        }
    }

    async fn raw_text(&mut self) -> anyhow::Result<String> {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .map_err(|_| anyhow!("no frame in time"))?
                .ok_or_else(|| anyhow!("closed"))??;
            match message {
                Message::Text(text) => return Ok(text.to_string()),
                Message::Close(close) => bail!("closed: {close:?}"),
                _ => {}
            }
        }
    }

    /// Sends a Parley-shaped frame (`{"type": …, …}`).
    pub async fn send(&mut self, frame: &Value) -> anyhow::Result<()> {
        let text = match self.target {
            Target::Parley | Target::Relay => frame.to_string(),
            Target::Socketio => {
                let event = frame
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("message");
                format!("42{}", json!([event, frame]))
            }
        };
        self.ws.send(Message::text(text)).await?;
        Ok(())
    }

    /// The next frame as Parley-shaped JSON; `Ok(None)` when the server closed (its reason in
    /// `Err` when it gave one). Pings are answered while reading.
    pub async fn next(&mut self) -> Result<Value, String> {
        loop {
            let message = match self.ws.next().await {
                None => return Err("eof".into()),
                Some(Err(e)) => return Err(format!("io: {}", short(&e.to_string()))),
                Some(Ok(m)) => m,
            };
            let text = match message {
                Message::Text(text) => text,
                Message::Close(close) => {
                    return Err(close.map_or_else(
                        || "close".to_owned(),
                        |c| format!("close {} {}", u16::from(c.code), c.reason),
                    ));
                }
                _ => continue,
            };
            match self.target {
                Target::Parley | Target::Relay => {
                    return serde_json::from_str(&text).map_err(|e| format!("bad json: {e}"));
                }
                Target::Socketio => {
                    if text.as_str() == "2" {
                        self.ws
                            .send(Message::text("3"))
                            .await
                            .map_err(|e| format!("io: {e}"))?;
                        continue;
                    }
                    let Some(payload) = text.strip_prefix("42") else {
                        continue;
                    };
                    let parsed: Value =
                        serde_json::from_str(payload).map_err(|e| format!("bad json: {e}"))?;
                    let Some([event, body]) = parsed.as_array().map(Vec::as_slice) else {
                        continue;
                    };
                    let mut frame = body.clone();
                    if let Some(object) = frame.as_object_mut() {
                        object.insert("type".into(), event.clone());
                    }
                    return Ok(frame);
                }
            }
        }
    }

    /// Waits for a frame of `wanted` type, answering pings; other frames are dropped.
    pub async fn expect(&mut self, wanted: &str) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.next())
                .await
                .map_err(|_| anyhow!("no {wanted} in time"))?
                .map_err(|e| anyhow!("{e}"))?;
            match frame.get("type").and_then(Value::as_str) {
                Some(t) if t == wanted => return Ok(frame),
                Some("error") => bail!(
                    "error {} while waiting for {wanted}",
                    frame.get("code").and_then(Value::as_str).unwrap_or("?")
                ),
                _ => {}
            }
        }
    }

    /// Authenticates (Parley, relay) and returns `hello`; Socket.IO has no auth step.
    pub async fn auth(&mut self, token: &str) -> anyhow::Result<Value> {
        if self.target == Target::Socketio {
            return Ok(json!({"type": "hello"}));
        }
        self.send(&json!({"type": "auth", "token": token})).await?;
        self.expect("hello").await
    }

    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }
}

fn short(s: &str) -> String {
    s.chars().take(60).collect()
}
