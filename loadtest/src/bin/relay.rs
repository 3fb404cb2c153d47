//! The transport ceiling for the load tests: a WebSocket relay with rooms and nothing stored.
//!
//! It speaks the subset of Parley's socket protocol the generator uses, with the same frames
//! per message: `auth` → `hello`; `subscribe` → `subscribed` (joins the room; no replay);
//! `send` → `ack` to the sender and `item` to every socket in the room, the sender's included.
//! A visitor socket (`/ws/visitor?room=R`) is in room R from the start; an agent socket
//! (`/ws/agent`) joins rooms by `subscribe`. Sequence numbers are per room, in memory.
//!
//! `relay [--port P] [--threads N]`; it prints `relay: listening on PORT` once ready.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

type Outbox = mpsc::UnboundedSender<Message>;

#[derive(Default)]
struct Room {
    seq: i64,
    members: Vec<(u64, Outbox)>,
}

#[derive(Default)]
struct Rooms {
    rooms: Mutex<HashMap<String, Room>>,
}

impl Rooms {
    fn join(&self, room: &str, id: u64, outbox: &Outbox) -> i64 {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let r = rooms.entry(room.to_owned()).or_default();
        if !r.members.iter().any(|(m, _)| *m == id) {
            r.members.push((id, outbox.clone()));
        }
        r.seq
    }

    fn leave(&self, room: &str, id: u64) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = rooms.get_mut(room) {
            r.members.retain(|(m, _)| *m != id);
        }
    }

    /// Gives the message the room's next seq; acks the sender and relays the item to all.
    fn relay(&self, room: &str, client_id: &Value, body: &Value, direction: &str, sender: &Outbox) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let r = rooms.entry(room.to_owned()).or_default();
        r.seq += 1;
        let ack =
            json!({"type": "ack", "conversation_id": room, "client_id": client_id, "seq": r.seq});
        let _ = sender.send(Message::text(ack.to_string()));
        let item = Message::text(
            json!({"type": "item", "item": {"conversation_id": room, "seq": r.seq,
                "client_id": client_id, "kind": "message", "direction": direction,
                "body": body}})
            .to_string(),
        );
        for (_, member) in &r.members {
            let _ = member.send(item.clone());
        }
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<usize>().ok())
    };
    let port = flag("--port").unwrap_or(0);
    let threads = flag("--threads").unwrap_or(2);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build();
    let result = runtime
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(serve(port)));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("relay: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(port: usize) -> anyhow::Result<()> {
    let listener = TcpListener::bind(("0.0.0.0", u16::try_from(port)?)).await?;
    println!("relay: listening on {}", listener.local_addr()?.port());
    let rooms = Arc::new(Rooms::default());
    let mut next_id = 0u64;
    loop {
        let (stream, _) = listener.accept().await?;
        next_id += 1;
        tokio::spawn(connection(stream, next_id, rooms.clone()));
    }
}

async fn connection(stream: TcpStream, id: u64, rooms: Arc<Rooms>) {
    let _ = stream.set_nodelay(true);
    let mut path = String::new();
    #[expect(
        clippy::result_large_err,
        reason = "the handshake callback's signature is tungstenite's"
    )]
    let callback = |request: &Request, response: Response| {
        path = request.uri().to_string();
        Ok(response)
    };
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let Ok(ws) =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)).await
    else {
        return;
    };
    let visitor_room = path
        .split_once("room=")
        .map(|(_, r)| r.split('&').next().unwrap_or(r).to_owned())
        .filter(|_| path.starts_with("/ws/visitor"));
    let (mut sink, mut source) = ws.split();
    let (outbox, mut queue) = mpsc::unbounded_channel::<Message>();
    let writer = tokio::spawn(async move {
        while let Some(message) = queue.recv().await {
            if sink.feed(message).await.is_err() {
                return;
            }
            while let Ok(more) = queue.try_recv() {
                if sink.feed(more).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    let mut joined: Vec<String> = Vec::new();
    if let Some(room) = &visitor_room {
        rooms.join(room, id, &outbox);
        joined.push(room.clone());
    }
    let direction = if visitor_room.is_some() { "in" } else { "out" };
    while let Some(Ok(message)) = source.next().await {
        let Message::Text(text) = message else {
            if matches!(message, Message::Close(_)) {
                break;
            }
            continue;
        };
        let Ok(frame) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let room = frame["conversation_id"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| visitor_room.clone());
        match frame["type"].as_str() {
            Some("auth") => {
                let hello = match &visitor_room {
                    Some(r) => json!({"type": "hello", "conversation": {"id": r}}),
                    None => json!({"type": "hello", "agent": {"id": format!("agent-{id}")}}),
                };
                let _ = outbox.send(Message::text(hello.to_string()));
            }
            Some("subscribe") => {
                if let Some(room) = room {
                    let last = rooms.join(&room, id, &outbox);
                    if !joined.contains(&room) {
                        joined.push(room.clone());
                    }
                    let answer =
                        json!({"type": "subscribed", "conversation_id": room, "last_seq": last});
                    let _ = outbox.send(Message::text(answer.to_string()));
                }
            }
            Some("send") => {
                if let Some(room) = room {
                    rooms.relay(
                        &room,
                        &frame["client_id"],
                        &frame["body"],
                        direction,
                        &outbox,
                    );
                }
            }
            _ => {}
        }
    }
    for room in &joined {
        rooms.leave(room, id);
    }
    drop(outbox);
    let _ = writer.await;
}
