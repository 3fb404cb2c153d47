//! The node's outbox worker: one task per node that claims due outbox rows, sends each through
//! its channel's sender, records the outcome, and tells the agents (`delivery` frame).
//!
//! Retries back off exponentially from `backoff_base_ms` (doubling, capped at an hour); a
//! permanent refusal, or a failure on the last of `max_attempts`, ends the reply `failed`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::{OutboundEmail, OutboxJob, OutboxOutcome, SendError, email, reply_token};
use crate::actors::protocol::ServerFrame;
use crate::bus::{Bus, topics};
use crate::channels::messenger::{PSID_PROPERTY, send};
use crate::channels::{ChannelSettings, MessengerSettings};
use crate::config::OutboxSettings;
use crate::domain::{ChannelKind, ConversationId, DeliveryStatus, TimelineItem};
use crate::store::{DynStore, StoreError};

/// Rows claimed per poll; they are sent concurrently.
const BATCH: u32 = 16;
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

#[derive(Clone)]
pub struct OutboxWorker {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    bus: Arc<dyn Bus>,
    settings: OutboxSettings,
    graph_api_base_url: String,
    http: reqwest::Client,
    reply_secret: Vec<u8>,
}

impl OutboxWorker {
    pub fn new(
        store: DynStore,
        bus: Arc<dyn Bus>,
        settings: OutboxSettings,
        graph_api_base_url: String,
        reply_secret: Vec<u8>,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(send_timeout(&settings))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Parley/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                bus,
                settings,
                graph_api_base_url,
                http,
                reply_secret,
            }),
        })
    }

    /// Runs the polling loop on the current runtime until the returned task is aborted.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { self.run().await })
    }

    async fn run(self) {
        let idle = Duration::from_millis(self.inner.settings.poll_interval_ms.max(10));
        loop {
            match self.poll_once().await {
                Ok(claimed) if claimed > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "outbox poll failed"),
            }
            tokio::time::sleep(idle).await;
        }
    }

    /// Claims due rows and delivers them; returns how many were claimed.
    pub async fn poll_once(&self) -> Result<usize, StoreError> {
        let lease = Duration::from_secs(self.inner.settings.lease_secs.max(1));
        let jobs = self.inner.store.claim_outbox(lease, BATCH).await?;
        let claimed = jobs.len();
        // Conversations are sent concurrently; one conversation's replies in `seq` order, so a
        // bot's two messages reach the contact as it said them.
        let mut by_conversation: HashMap<ConversationId, Vec<OutboxJob>> = HashMap::new();
        for job in jobs {
            by_conversation
                .entry(job.conversation_id)
                .or_default()
                .push(job);
        }
        futures_util::future::join_all(by_conversation.into_values().map(|mut group| async move {
            group.sort_by_key(|job| job.seq);
            for job in group {
                self.deliver(job).await;
            }
        }))
        .await;
        Ok(claimed)
    }

    async fn deliver(&self, job: OutboxJob) {
        let settings = &self.inner.settings;
        let outcome = match self.attempt(&job).await {
            Ok((remote_id, email)) => OutboxOutcome::Sent { remote_id, email },
            Err(SendError::Permanent(error)) => OutboxOutcome::Failed { error },
            Err(SendError::Transient(error)) if job.attempts >= settings.max_attempts => {
                OutboxOutcome::Failed {
                    error: format!("gave up after {} attempts: {error}", job.attempts),
                }
            }
            Err(SendError::Transient(error)) => OutboxOutcome::Retry {
                at: OffsetDateTime::now_utc() + backoff(settings.backoff_base_ms, job.attempts),
                error,
            },
        };
        match &outcome {
            OutboxOutcome::Retry { error, .. } => tracing::info!(
                outbox = job.id, attempts = job.attempts, %error, "reply not delivered; will retry"
            ),
            OutboxOutcome::Failed { error } => tracing::warn!(
                outbox = job.id, attempts = job.attempts, %error, "reply failed"
            ),
            OutboxOutcome::Sent { .. } => {}
        }
        let retry = matches!(outcome, OutboxOutcome::Retry { .. });
        match self.inner.store.finish_outbox(&job, outcome).await {
            Ok(Some(item)) if !retry => self.announce(&item).await,
            Ok(_) => {}
            // The lease runs out and the row is tried again: at worst a resend, never a loss.
            Err(e) => tracing::error!(error = %e, outbox = job.id, "could not record a delivery"),
        }
    }

    async fn announce(&self, item: &TimelineItem) {
        let Some(status) = item.delivery_status else {
            return;
        };
        if status == DeliveryStatus::Pending {
            return;
        }
        let frame = ServerFrame::Delivery {
            conversation_id: item.conversation_id,
            seq: item.seq,
            status,
            error: item.delivery_error.clone(),
        }
        .encode();
        let topic = topics::conversation(item.conversation_id);
        if let Err(e) = self.inner.bus.publish(&topic, frame.into_bytes()).await {
            tracing::warn!(error = %e, conversation = %item.conversation_id, "could not publish a delivery");
        }
    }

    async fn attempt(&self, job: &OutboxJob) -> Result<(String, Option<OutboundEmail>), SendError> {
        let store = &self.inner.store;
        let account = job.account_id;
        let channel = store
            .get_channel(account, job.channel_id)
            .await
            .map_err(gone("the channel"))?;
        let settings = ChannelSettings::parse_new(channel.kind, &channel.settings)
            .map_err(|e| SendError::Permanent(format!("the channel's settings: {e}")))?;
        let conversation = store
            .get_conversation(account, job.conversation_id)
            .await
            .map_err(gone("the conversation"))?;
        let contact = store
            .get_contact(account, conversation.contact_id)
            .await
            .map_err(gone("the contact"))?;
        match (job.kind, settings) {
            (ChannelKind::Email, ChannelSettings::Email(settings)) => {
                let thread = store
                    .email_thread(account, job.conversation_id)
                    .await
                    .map_err(gone("the mail thread"))?;
                let token = reply_token::reply_token(job.conversation_id, &self.inner.reply_secret);
                let composed = email::compose(
                    job.item_id,
                    &job.body,
                    &settings,
                    &contact,
                    &thread,
                    conversation.subject.as_deref(),
                    &token,
                )?;
                email::send(
                    &settings,
                    composed.message,
                    send_timeout(&self.inner.settings),
                )
                .await?;
                Ok((composed.headers.message_id.clone(), Some(composed.headers)))
            }
            (ChannelKind::Messenger, ChannelSettings::Messenger(settings)) => {
                let psid = psid_of(&contact)?;
                let mid = self.send_messenger(&settings, &psid, &job.body).await?;
                Ok((mid, None))
            }
            (kind, _) => Err(SendError::Permanent(format!(
                "replies on {kind} channels are not delivered by the outbox"
            ))),
        }
    }

    async fn send_messenger(
        &self,
        settings: &MessengerSettings,
        psid: &str,
        text: &str,
    ) -> Result<String, SendError> {
        send::send_text(
            &self.inner.http,
            &self.inner.graph_api_base_url,
            settings.page_access_token.as_str(),
            psid,
            text,
        )
        .await
    }
}

fn psid_of(contact: &crate::domain::Contact) -> Result<String, SendError> {
    contact
        .properties
        .get(PSID_PROPERTY)
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or_else(|| SendError::Permanent("the contact has no Messenger id".into()))
}

/// A store error while preparing a send: a missing record is permanent, anything else is
/// worth retrying.
fn gone(what: &'static str) -> impl Fn(StoreError) -> SendError {
    move |e| match e {
        StoreError::NotFound { .. } => SendError::Permanent(format!("{what} no longer exists")),
        other => SendError::Transient(format!("reading {what}: {other}")),
    }
}

/// Three quarters of the lease: a send gives up before another node may take its row over.
fn send_timeout(settings: &OutboxSettings) -> Duration {
    Duration::from_millis(settings.lease_secs.max(1) * 750)
}

/// The wait after failed attempt number `attempts` (1-based): base, 2·base, 4·base…
pub fn backoff(base_ms: u64, attempts: u32) -> Duration {
    let factor = 1u64 << attempts.saturating_sub(1).min(30);
    Duration::from_millis(base_ms.saturating_mul(factor)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_an_hour() {
        assert_eq!(backoff(200, 1), Duration::from_millis(200));
        assert_eq!(backoff(200, 2), Duration::from_millis(400));
        assert_eq!(backoff(200, 4), Duration::from_millis(1600));
        assert_eq!(backoff(5000, 40), MAX_BACKOFF);
    }
}
