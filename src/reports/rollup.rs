//! Keeping each conversation's report rollup (its [`ConversationFacts`]) up to date with its
//! events, and reading a range's (docs/reports.md "Rollups").
//!
//! The store counts every report event per conversation in the event's own transaction
//! (`report_marks.written`); a rollup remembers the count it was computed at (`settled`).
//! [`settle`] recomputes the rollups that are behind; [`read`] settles the account first, so
//! a report always covers every event committed before it was asked for. A node also settles
//! every account in the background ([`spawn_settler`]), so a report has only the latest few
//! seconds' conversations left to do.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::domain::{AccountId, ConversationId};
use crate::reports::facts::{self, ConversationFacts};
use crate::store::{
    DynStore, PendingRollup, ReportEventRow, ReportRollup, ReportScope, StoreError, StoreResult,
};

/// Conversations settled per store round trip.
const BATCH: u32 = 500;

/// Recomputes the rollups of `account` (every account when `None`) that are behind their
/// events, each from its whole history. Returns how many were recomputed. Each pending
/// conversation is visited once (in id order), so a busy account cannot keep it looping.
pub async fn settle(store: &DynStore, account: Option<AccountId>) -> StoreResult<usize> {
    let mut after: Option<ConversationId> = None;
    let mut settled = 0;
    loop {
        let pending = store.report_pending(account, after, BATCH).await?;
        let Some(last) = pending.last() else {
            return Ok(settled);
        };
        after = Some(last.conversation);
        let mut by_account: BTreeMap<AccountId, Vec<PendingRollup>> = BTreeMap::new();
        for p in &pending {
            by_account.entry(p.account).or_default().push(*p);
        }
        for (account, pending) in by_account {
            let ids: Vec<ConversationId> = pending.iter().map(|p| p.conversation).collect();
            let events = store.report_history(account, &ids).await?;
            let rollups = rollups(&pending, &events)?;
            store.save_report_rollups(&rollups).await?;
            settled += rollups.len();
        }
        if pending.len() < BATCH as usize {
            return Ok(settled);
        }
    }
}

/// The rollup of each pending conversation from `events` (theirs, by conversation, then time).
fn rollups(pending: &[PendingRollup], events: &[ReportEventRow]) -> StoreResult<Vec<ReportRollup>> {
    let histories: BTreeMap<ConversationId, &[ReportEventRow]> = events
        .chunk_by(|a, b| a.conversation_id == b.conversation_id)
        .filter_map(|h| Some((h.first()?.conversation_id, h)))
        .collect();
    pending
        .iter()
        .map(|p| {
            let history = histories.get(&p.conversation).copied().unwrap_or_default();
            let mut derived = facts::derive(history);
            derived.conversation = p.conversation.0;
            let encoded = facts::encode(&derived).map_err(StoreError::backend)?;
            Ok(ReportRollup {
                conversation: p.conversation,
                version: p.version,
                inbox: derived.inbox.map(crate::domain::InboxId),
                first_at: history.first().map(|e| e.occurred_at),
                last_at: history.last().map(|e| e.occurred_at),
                facts: encoded,
            })
        })
        .collect()
}

/// The facts of every conversation of `account` with events in the scope's range, after
/// settling the account (so nothing committed before the call is left out).
pub async fn read(
    store: &DynStore,
    account: AccountId,
    scope: ReportScope,
) -> StoreResult<Vec<ConversationFacts>> {
    settle(store, Some(account)).await?;
    let stored = store.report_rollups(account, scope).await?;
    let mut read = stored
        .iter()
        .map(|bytes| {
            facts::decode(bytes).ok_or_else(|| {
                StoreError::backend(std::io::Error::other(
                    "a report rollup is in an unknown format: set report_marks.settled = 0 \
                     to have every rollup recomputed",
                ))
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    // In conversation order, so equal times (bot runs started at once) sort the same each time.
    read.sort_unstable_by_key(|f| f.conversation);
    Ok(read)
}

/// Settles every account's rollups every `every`, for as long as the runtime runs. A failed
/// round is logged and the next one retries.
pub fn spawn_settler(store: DynStore, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match settle(&store, None).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(conversations = n, "report rollups settled"),
                Err(e) => tracing::warn!(error = %e, "settling report rollups failed"),
            }
        }
    })
}
