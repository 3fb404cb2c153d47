//! The single-node bus: one tokio broadcast channel per topic with listeners.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::broadcast;

use super::{Bus, BusError, BusHealth, BusMessage, Subscription};
use crate::meters::{self, BusBackend};

/// Messages a subscriber may fall behind by before it is told it lagged (and resumes from the
/// store). Large enough for bursts in a busy conversation, small enough to bound memory.
pub const TOPIC_BUFFER: usize = 1024;

type Topics = Mutex<HashMap<String, broadcast::Sender<BusMessage>>>;

#[derive(Default)]
pub struct InProcessBus {
    topics: Arc<Topics>,
}

impl InProcessBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// Topics with at least one live subscription (for tests and metrics).
    pub fn topic_count(&self) -> usize {
        self.topics.lock().map_or(0, |t| t.len())
    }
}

/// Removes the topic's sender once its last subscription is gone.
struct Unsubscribe {
    topics: Weak<Topics>,
    topic: String,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        if let Some(topics) = self.topics.upgrade()
            && let Ok(mut topics) = topics.lock()
        {
            // The receiver of this subscription is dropped before its guard (field order), so
            // a count of zero means nobody listens any more.
            if topics
                .get(&self.topic)
                .is_some_and(|tx| tx.receiver_count() == 0)
            {
                topics.remove(&self.topic);
            }
        }
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, topic: &str, payload: Bytes) -> Result<(), BusError> {
        meters::bus_published(BusBackend::InProcess);
        let sender = self
            .topics
            .lock()
            .map_err(|_| BusError::Unavailable("bus lock poisoned".into()))?
            .get(topic)
            .cloned();
        if let Some(sender) = sender {
            // No receiver is fine: nobody on this node listens.
            if let Ok(receivers) = sender.send(BusMessage {
                topic: topic.to_owned(),
                payload,
            }) {
                meters::bus_received(BusBackend::InProcess, receivers);
            }
        }
        Ok(())
    }

    fn subscribe(&self, topic: &str) -> Subscription {
        let rx = match self.topics.lock() {
            Ok(mut topics) => topics
                .entry(topic.to_owned())
                .or_insert_with(|| broadcast::channel(TOPIC_BUFFER).0)
                .subscribe(),
            // A poisoned map only happens after a panic elsewhere: hand out a closed channel.
            Err(_) => broadcast::channel(1).1,
        };
        Subscription {
            rx,
            _guard: Box::new(Unsubscribe {
                topics: Arc::downgrade(&self.topics),
                topic: topic.to_owned(),
            }),
        }
    }

    fn health(&self) -> BusHealth {
        BusHealth {
            ready: true,
            kind: "in_process",
            detail: "ok".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::bus::Received;

    #[tokio::test]
    async fn subscribers_get_messages_of_their_topic_only_and_topics_go_when_unused() {
        let bus = InProcessBus::new();
        let mut a = bus.subscribe("conv.a");
        let mut b = bus.subscribe("conv.b");
        bus.publish("conv.a", Bytes::from_static(b"one"))
            .await
            .unwrap();
        bus.publish("conv.nobody", Bytes::from_static(b"lost"))
            .await
            .unwrap();
        match a.recv().await {
            Received::Message(m) => {
                assert_eq!((m.topic.as_str(), &m.payload[..]), ("conv.a", &b"one"[..]))
            }
            other => panic!("{other:?}"),
        }
        assert!(b.rx.try_recv().is_err(), "b must not see conv.a");
        assert_eq!(bus.topic_count(), 2);
        drop(a);
        assert_eq!(bus.topic_count(), 1, "conv.a has no listener left");
        drop(b);
        assert_eq!(bus.topic_count(), 0);
    }
}
