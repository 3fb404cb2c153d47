//! The bus across nodes: Redis pub/sub.
//!
//! Each node keeps one pub/sub connection, owned by a background task, and subscribes to a Redis
//! channel only while the node has a local listener for it (the first local subscription sends
//! SUBSCRIBE, the last dropped one UNSUBSCRIBE). Locally, each topic is a tokio broadcast
//! channel, as in the in-process bus. Publishing goes through a separate managed connection.
//!
//! When Redis goes away the node keeps serving: publishes fail fast with
//! [`BusError::Unavailable`] (after handing the message to this node's own listeners), local
//! subscriptions stay registered, `health()` says why the bus is not ready, and the task
//! reconnects with exponential backoff and re-subscribes to every topic that still has local
//! listeners. Messages published while the node was cut off are not replayed: clients resume
//! from the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink, PubSubStream};
use tokio::sync::{broadcast, mpsc, watch};

use super::in_process::TOPIC_BUFFER;
use super::{Bus, BusError, BusHealth, BusMessage, Subscription};
use crate::meters::{self, BusBackend};

/// How long a publish may take before the caller is told the bus is unavailable. A publish sits
/// on the path of a chat message; waiting longer than this would stall the sender's ack.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(1);
/// How long connecting, or a SUBSCRIBE/UNSUBSCRIBE/PING, may take before the connection is
/// considered lost.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Reconnection backoff: starts small so a Redis restart costs little, capped so a long outage
/// does not hammer it.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A pub/sub connection only receives; a PING this often notices a peer that vanished without
/// closing the socket (a network partition rather than a restart).
const PING_EVERY: Duration = Duration::from_secs(5);

/// Health detail until the first connection attempt ends.
const CONNECTING: &str = "connecting to redis";

#[derive(Debug, thiserror::Error)]
pub enum RedisBusError {
    /// The URL itself is not echoed: it may carry a password.
    #[error("bus.redis_url is not a valid Redis URL: {0}")]
    InvalidUrl(String),
    #[error("the Redis bus must be started inside a tokio runtime")]
    NoRuntime,
}

/// What the pub/sub task must tell Redis. Sent under the topics lock, so the order of commands
/// is the order in which topics gained their first or lost their last local listener.
enum Command {
    /// The topic and the generation of its map entry, so that a confirmation for an earlier
    /// entry of the same topic (since dropped) does not mark a newer one live too early.
    Subscribe(String, u64),
    Unsubscribe(String),
}

/// A topic with local listeners.
struct Topic {
    tx: broadcast::Sender<BusMessage>,
    generation: u64,
    /// Whether Redis has confirmed the subscription on the current connection.
    live: watch::Sender<bool>,
}

#[derive(Default)]
struct Topics {
    map: HashMap<String, Topic>,
    next_generation: u64,
}

impl Topics {
    /// Sets whether the listed `(topic, generation)` entries are live; an entry replaced since
    /// the list was taken is left alone.
    fn set_live(&self, entries: &[(String, u64)], live: bool) {
        for (topic, generation) in entries {
            if let Some(entry) = self.map.get(topic)
                && entry.generation == *generation
            {
                entry.live.send_replace(live);
            }
        }
    }

    fn entries(&self) -> Vec<(String, u64)> {
        self.map
            .iter()
            .map(|(topic, entry)| (topic.clone(), entry.generation))
            .collect()
    }
}

struct Inner {
    topics: Mutex<Topics>,
    commands: mpsc::UnboundedSender<Command>,
    /// `(ready, detail)` as last seen by the pub/sub task.
    state: Mutex<(bool, String)>,
}

impl Inner {
    fn set_state(&self, ready: bool, detail: impl Into<String>) {
        if let Ok(mut state) = self.state.lock() {
            *state = (ready, detail.into());
        }
    }

    /// Hands a message to this node's listeners of `topic`, if any.
    fn deliver(&self, topic: &str, payload: Bytes) {
        let sender = self
            .topics
            .lock()
            .ok()
            .and_then(|t| t.map.get(topic).map(|e| e.tx.clone()));
        if let Some(sender) = sender {
            // No receiver left is fine: the last one is being dropped.
            if let Ok(receivers) = sender.send(BusMessage {
                topic: topic.to_owned(),
                payload,
            }) {
                meters::bus_received(BusBackend::Redis, receivers);
            }
        }
    }
}

pub struct RedisBus {
    inner: Arc<Inner>,
    publisher: ConnectionManager,
}

impl RedisBus {
    /// Starts the bus on `url`. Fails only when the URL is unusable; a Redis that is down is not
    /// an error (the bus reports it through `health()` and keeps trying).
    pub fn connect(url: &str) -> Result<Self, RedisBusError> {
        let invalid = |e: redis::RedisError| RedisBusError::InvalidUrl(e.to_string());
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| RedisBusError::NoRuntime)?;
        let client = redis::Client::open(url).map_err(invalid)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(PUBLISH_TIMEOUT))
            .set_response_timeout(Some(PUBLISH_TIMEOUT))
            // Few quick retries: a publish is bounded by PUBLISH_TIMEOUT anyway, and the next
            // publish starts a new reconnection.
            .set_number_of_retries(1)
            .set_min_delay(BACKOFF_MIN)
            .set_max_delay(BACKOFF_MAX);
        let publisher =
            ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(invalid)?;
        let (commands, receiver) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            topics: Mutex::new(Topics::default()),
            commands,
            state: Mutex::new((false, CONNECTING.to_owned())),
        });
        runtime.spawn(run_pubsub(client, Arc::downgrade(&inner), receiver));
        Ok(Self { inner, publisher })
    }

    /// Topics with at least one live local subscription (for tests and metrics).
    pub fn topic_count(&self) -> usize {
        self.inner.topics.lock().map_or(0, |t| t.map.len())
    }
}

/// Removes the topic once its last local subscription is gone, and tells Redis.
struct Unsubscribe {
    inner: Weak<Inner>,
    topic: String,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade()
            && let Ok(mut topics) = inner.topics.lock()
        {
            // The receiver of this subscription is dropped before its guard (field order), so
            // a count of zero means nobody on this node listens any more.
            if topics
                .map
                .get(&self.topic)
                .is_some_and(|entry| entry.tx.receiver_count() == 0)
            {
                topics.map.remove(&self.topic);
                let _ = inner
                    .commands
                    .send(Command::Unsubscribe(self.topic.clone()));
            }
        }
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, topic: &str, payload: Bytes) -> Result<(), BusError> {
        meters::bus_published(BusBackend::Redis);
        let mut conn = self.publisher.clone();
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(topic).arg(&payload[..]);
        let attempts = async {
            let first = cmd.query_async::<i64>(&mut conn).await;
            // After an outage the manager still holds the outcome of its last reconnection
            // attempt, made while Redis was down: the first publish gets that stale error (and
            // starts a fresh reconnection). When the pub/sub side already reconnected, Redis is
            // back, so one more try goes through instead of losing this item across nodes.
            match first {
                Err(_) if self.health().ready => cmd.query_async::<i64>(&mut conn).await,
                other => other,
            }
        };
        let failure = match tokio::time::timeout(PUBLISH_TIMEOUT, attempts).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => format!("redis publish failed: {e}"),
            Err(_) => format!("redis publish timed out after {PUBLISH_TIMEOUT:?}"),
        };
        // Listeners on this node still get it, so chats within one node stay live while Redis
        // is away; other nodes' clients recover it from the store when they resume.
        self.inner.deliver(topic, payload);
        Err(BusError::Unavailable(failure))
    }

    fn subscribe(&self, topic: &str) -> Subscription {
        let rx = match self.inner.topics.lock() {
            Ok(mut topics) => match topics.map.get(topic) {
                Some(entry) => entry.tx.subscribe(),
                None => {
                    let (tx, rx) = broadcast::channel(TOPIC_BUFFER);
                    let generation = topics.next_generation;
                    topics.next_generation += 1;
                    topics.map.insert(
                        topic.to_owned(),
                        Topic {
                            tx,
                            generation,
                            live: watch::Sender::new(false),
                        },
                    );
                    let _ = self
                        .inner
                        .commands
                        .send(Command::Subscribe(topic.to_owned(), generation));
                    rx
                }
            },
            // A poisoned map only happens after a panic elsewhere: hand out a closed channel.
            Err(_) => broadcast::channel(1).1,
        };
        Subscription {
            rx,
            _guard: Box::new(Unsubscribe {
                inner: Arc::downgrade(&self.inner),
                topic: topic.to_owned(),
            }),
        }
    }

    async fn subscribed(&self, topic: &str) -> Result<(), BusError> {
        let live = self
            .inner
            .topics
            .lock()
            .map_err(|_| BusError::Unavailable("bus lock poisoned".into()))?
            .map
            .get(topic)
            .map(|entry| entry.live.subscribe());
        let Some(mut live) = live else {
            return Err(BusError::Unavailable(format!(
                "no local subscription to {topic}"
            )));
        };
        if *live.borrow() {
            return Ok(());
        }
        // Known down: answer at once rather than stall every caller for the timeout. Still
        // starting: the first connection is usually a moment away, so wait for it.
        let health = self.health();
        if !health.ready && health.detail != CONNECTING {
            return Err(BusError::Unavailable(health.detail));
        }
        match tokio::time::timeout(COMMAND_TIMEOUT, live.wait_for(|live| *live)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(BusError::Unavailable(format!(
                "the last local subscription to {topic} was dropped"
            ))),
            Err(_) => Err(BusError::Unavailable(format!(
                "redis did not confirm the subscription to {topic} within {COMMAND_TIMEOUT:?}"
            ))),
        }
    }

    fn health(&self) -> BusHealth {
        let (ready, detail) = self
            .inner
            .state
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|_| (false, "bus state lock poisoned".to_owned()));
        BusHealth {
            ready,
            kind: "redis",
            detail,
        }
    }
}

/// Why a connected session ended.
enum Ended {
    /// The bus was dropped: stop for good.
    BusGone,
    /// The connection broke: reconnect.
    Lost(String),
}

/// Owns the pub/sub connection for the life of the bus: connects, subscribes to what has local
/// listeners, relays messages, and starts over with backoff whenever the connection breaks.
async fn run_pubsub(
    client: redis::Client,
    inner: Weak<Inner>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let reason = match connect_and_resubscribe(&client, &inner, &mut commands).await {
            Ok(Some((sink, stream))) => {
                backoff = BACKOFF_MIN;
                match serve(&inner, &mut commands, sink, stream).await {
                    Ended::BusGone => return,
                    Ended::Lost(reason) => {
                        tracing::warn!(%reason, "redis bus: pub/sub connection lost");
                        format!("redis connection lost: {reason}")
                    }
                }
            }
            Ok(None) => return,
            Err(e) => format!("redis unreachable: {e}"),
        };
        match inner.upgrade() {
            Some(inner) => {
                if let Ok(topics) = inner.topics.lock() {
                    topics.set_live(&topics.entries(), false);
                }
                inner.set_state(
                    false,
                    format!("{reason}; retrying in {} ms", backoff.as_millis()),
                );
            }
            None => return,
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Opens a pub/sub connection and subscribes to every topic with local listeners. `Ok(None)`:
/// the bus is gone.
async fn connect_and_resubscribe(
    client: &redis::Client,
    inner: &Weak<Inner>,
    commands: &mut mpsc::UnboundedReceiver<Command>,
) -> Result<Option<(PubSubSink, PubSubStream)>, String> {
    let pubsub = match tokio::time::timeout(COMMAND_TIMEOUT, client.get_async_pubsub()).await {
        Ok(Ok(pubsub)) => pubsub,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err(format!("connecting timed out after {COMMAND_TIMEOUT:?}")),
    };
    let (mut sink, stream) = pubsub.split();
    let Some(strong) = inner.upgrade() else {
        return Ok(None);
    };
    // Commands queued while disconnected are stale; the map is the truth. Both are read under
    // the lock commands are sent under, so later commands apply on top of this snapshot.
    let wanted = match strong.topics.lock() {
        Ok(topics) => {
            while commands.try_recv().is_ok() {}
            topics.entries()
        }
        Err(_) => return Err("bus lock poisoned".to_owned()),
    };
    drop(strong);
    if !wanted.is_empty() {
        let names: Vec<&str> = wanted.iter().map(|(topic, _)| topic.as_str()).collect();
        timed(sink.subscribe(&names)).await?;
    }
    match inner.upgrade() {
        Some(strong) => {
            if let Ok(topics) = strong.topics.lock() {
                topics.set_live(&wanted, true);
            }
            strong.set_state(true, "ok");
        }
        None => return Ok(None),
    }
    tracing::info!(topics = wanted.len(), "redis bus: connected");
    Ok(Some((sink, stream)))
}

/// Relays messages and applies subscription changes until the connection breaks or the bus
/// is dropped.
async fn serve(
    inner: &Weak<Inner>,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    mut sink: PubSubSink,
    mut stream: PubSubStream,
) -> Ended {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            command = commands.recv() => {
                let result = match command {
                    None => return Ended::BusGone,
                    Some(Command::Subscribe(topic, generation)) => {
                        let result = timed(sink.subscribe(&topic)).await;
                        if result.is_ok()
                            && let Some(strong) = inner.upgrade()
                            && let Ok(topics) = strong.topics.lock()
                        {
                            topics.set_live(&[(topic, generation)], true);
                        }
                        result
                    }
                    Some(Command::Unsubscribe(topic)) => timed(sink.unsubscribe(topic)).await,
                };
                if let Err(e) = result {
                    return Ended::Lost(e);
                }
            }
            message = stream.next() => {
                let Some(message) = message else {
                    return Ended::Lost("connection closed".to_owned());
                };
                let Some(strong) = inner.upgrade() else {
                    return Ended::BusGone;
                };
                strong.deliver(
                    message.get_channel_name(),
                    Bytes::copy_from_slice(message.get_payload_bytes()),
                );
            }
            _ = ping.tick() => {
                if let Err(e) = timed(sink.ping::<redis::Value>()).await {
                    return Ended::Lost(format!("ping: {e}"));
                }
            }
        }
    }
}

async fn timed<T>(command: impl Future<Output = redis::RedisResult<T>>) -> Result<T, String> {
    match tokio::time::timeout(COMMAND_TIMEOUT, command).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {COMMAND_TIMEOUT:?}")),
    }
}
