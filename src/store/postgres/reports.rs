//! Report rollups on PostgreSQL (docs/reports.md "Rollups"): which conversations' rollups are
//! behind their events, their event histories, storing rollups and reading a range's.

use std::collections::HashMap;

use deadpool_postgres::Pool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{execute, query};
use crate::domain::*;
use crate::store::{
    PendingRollup, REPORT_EVENT_KINDS, ReportEventKind, ReportEventRow, ReportRollup, ReportScope,
    StoreError, StoreResult,
};

pub(super) async fn report_pending(
    pool: &Pool,
    account: Option<AccountId>,
    after: Option<ConversationId>,
    limit: u32,
) -> StoreResult<Vec<PendingRollup>> {
    let client = pool.get().await?;
    // report_dirty holds only the conversations with unsettled events: this costs what is
    // pending, not the account's size (migrations/postgres/0009_report_rollups.sql).
    let rows = query(
        &client,
        "SELECT d.account_id, d.conversation_id, m.written \
         FROM report_dirty d JOIN report_marks m ON m.conversation_id = d.conversation_id \
         WHERE ($1::uuid IS NULL OR d.account_id = $1) \
           AND ($2::uuid IS NULL OR d.conversation_id > $2) \
         ORDER BY d.conversation_id LIMIT $3",
        &[
            &account.map(|a| a.0),
            &after.map(|c| c.0),
            &i64::from(limit),
        ],
    )
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PendingRollup {
                account: AccountId(r.try_get(0)?),
                conversation: ConversationId(r.try_get(1)?),
                version: r.try_get(2)?,
            })
        })
        .collect()
}

pub(super) async fn report_history(
    pool: &Pool,
    account: AccountId,
    conversations: &[ConversationId],
) -> StoreResult<Vec<ReportEventRow>> {
    let client = pool.get().await?;
    let ids: Vec<Uuid> = conversations.iter().map(|c| c.0).collect();
    let kinds: Vec<&str> = REPORT_EVENT_KINDS.to_vec();
    // Only the fields reports use leave the server, typed, so the client parses no JSON and
    // no id text. Columns are read by position: by name costs a lookup per cell.
    let rows = query(
        &client,
        "SELECT e.id, array_position($3::text[], e.kind) AS k, e.conversation_id, \
           e.inbox_id, e.agent_id, e.occurred_at, \
           (CASE e.kind \
             WHEN 'conversation.created' THEN e.data->>'channel_id' \
             WHEN 'conversation.assigned' THEN e.data->>'assignee_id' \
             WHEN 'bot.step' THEN e.data->>'chatflow_id' \
             WHEN 'bot.finished' THEN e.data->>'chatflow_id' END)::uuid AS ref_id, \
           (CASE e.kind WHEN 'conversation.assigned' THEN e.data->>'team_id' END)::uuid \
             AS team_id, \
           CASE e.kind \
             WHEN 'conversation.created' THEN e.data->>'channel_kind' \
             WHEN 'conversation.status_changed' THEN e.data->>'to' \
             WHEN 'bot.step' THEN e.data->>'kind' \
             WHEN 'bot.finished' THEN e.data->>'outcome' END AS word, \
           CASE e.kind WHEN 'bot.step' THEN e.data->>'step' END AS step \
         FROM events e \
         WHERE e.account_id = $1 AND e.conversation_id = ANY($2) AND e.kind = ANY($3) \
         ORDER BY e.conversation_id, e.occurred_at, e.id",
        &[&account.0, &ids, &kinds],
    )
    .await?;
    rows.iter()
        .map(|r| {
            let code: i32 = r.try_get(1)?;
            let kind = ReportEventKind::from_code(i64::from(code)).ok_or_else(|| {
                StoreError::backend(std::io::Error::other("report event of an unread kind"))
            })?;
            Ok(ReportEventRow {
                id: r.try_get(0)?,
                kind,
                conversation_id: ConversationId(r.try_get(2)?),
                inbox_id: r.try_get::<_, Option<Uuid>>(3)?.map(InboxId),
                agent_id: r.try_get::<_, Option<Uuid>>(4)?.map(AgentId),
                occurred_at: r.try_get(5)?,
                ref_id: r.try_get(6)?,
                team_id: r.try_get::<_, Option<Uuid>>(7)?.map(TeamId),
                word: r.try_get(8)?,
                step: r.try_get(9)?,
            })
        })
        .collect()
}

pub(super) async fn save_report_rollups(pool: &Pool, rollups: &[ReportRollup]) -> StoreResult<()> {
    if rollups.is_empty() {
        return Ok(());
    }
    let mut client = pool.get().await?;
    let ids: Vec<Uuid> = rollups.iter().map(|r| r.conversation.0).collect();
    let tx = client.transaction().await?;
    // Lock the marks first, so the counts read are final while this transaction lasts. A mark
    // locked by a writer in flight is skipped: its conversation stays dirty for the next
    // settle, and a settle never waits for (or deadlocks with) the message path.
    let marks: HashMap<Uuid, (Uuid, i64, i64)> = query(
        &tx,
        "SELECT conversation_id, account_id, written, settled FROM report_marks \
         WHERE conversation_id = ANY($1) ORDER BY conversation_id FOR UPDATE SKIP LOCKED",
        &[&ids],
    )
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))))
    .collect::<StoreResult<_>>()?;
    // A rollup is stored only when computed at a higher count than the stored one (of two
    // nodes settling one conversation, the one that read more events wins, whatever the
    // order); the conversation is clean once its rollup has every event written.
    let mut won: Vec<(&ReportRollup, Uuid)> = Vec::new();
    let mut clean: Vec<Uuid> = Vec::new();
    for rollup in rollups {
        let Some(&(account, written, settled)) = marks.get(&rollup.conversation.0) else {
            continue;
        };
        if rollup.version > settled {
            won.push((rollup, account));
        }
        if written <= settled.max(rollup.version) {
            clean.push(rollup.conversation.0);
        }
    }
    if !won.is_empty() {
        let ids: Vec<Uuid> = won.iter().map(|(r, _)| r.conversation.0).collect();
        let accounts: Vec<Uuid> = won.iter().map(|(_, a)| *a).collect();
        let versions: Vec<i64> = won.iter().map(|(r, _)| r.version).collect();
        let inboxes: Vec<Option<Uuid>> = won.iter().map(|(r, _)| r.inbox.map(|i| i.0)).collect();
        let firsts: Vec<Option<OffsetDateTime>> = won.iter().map(|(r, _)| r.first_at).collect();
        let lasts: Vec<Option<OffsetDateTime>> = won.iter().map(|(r, _)| r.last_at).collect();
        let facts: Vec<&[u8]> = won.iter().map(|(r, _)| r.facts.as_slice()).collect();
        execute(
            &tx,
            "UPDATE report_marks m SET settled = r.version \
             FROM unnest($1::uuid[], $2::bigint[]) AS r(conversation_id, version) \
             WHERE m.conversation_id = r.conversation_id",
            &[&ids, &versions],
        )
        .await?;
        execute(
            &tx,
            "INSERT INTO report_rollups \
                 (conversation_id, account_id, inbox_id, first_at, last_at, facts) \
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[], \
                                  $5::timestamptz[], $6::bytea[]) \
             ON CONFLICT (conversation_id) DO UPDATE SET inbox_id = excluded.inbox_id, \
                 first_at = excluded.first_at, last_at = excluded.last_at, \
                 facts = excluded.facts",
            &[&ids, &accounts, &inboxes, &firsts, &lasts, &facts],
        )
        .await?;
    }
    if !clean.is_empty() {
        execute(
            &tx,
            "DELETE FROM report_dirty WHERE conversation_id = ANY($1)",
            &[&clean],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn report_rollups(
    pool: &Pool,
    account: AccountId,
    scope: ReportScope,
) -> StoreResult<Vec<Vec<u8>>> {
    let client = pool.get().await?;
    let inboxes: Option<Vec<Uuid>> = scope
        .inboxes
        .map(|inboxes| inboxes.into_iter().map(|i| i.0).collect());
    let rows = query(
        &client,
        "SELECT facts FROM report_rollups \
         WHERE account_id = $1 AND last_at >= $2 AND first_at < $3 \
           AND ($4::uuid[] IS NULL OR inbox_id = ANY($4))",
        &[&account.0, &scope.from, &scope.to, &inboxes],
    )
    .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}
