//! Report rollups on PostgreSQL (docs/reports.md "Rollups"): which conversations' rollups are
//! behind their events, their event histories, storing rollups and reading a range's.

use deadpool_postgres::Pool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::query;
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
    // A scan of the narrow marks table: `written` is in no index, so the trigger's bump of it
    // stays a HOT update on the message path (migrations/postgres/0009_report_rollups.sql).
    let rows = query(
        &client,
        "SELECT account_id, conversation_id, written FROM report_marks \
         WHERE settled < written AND ($1::uuid IS NULL OR account_id = $1) \
           AND ($2::uuid IS NULL OR conversation_id > $2) \
         ORDER BY conversation_id LIMIT $3",
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
    let versions: Vec<i64> = rollups.iter().map(|r| r.version).collect();
    let inboxes: Vec<Option<Uuid>> = rollups.iter().map(|r| r.inbox.map(|i| i.0)).collect();
    let firsts: Vec<Option<OffsetDateTime>> = rollups.iter().map(|r| r.first_at).collect();
    let lasts: Vec<Option<OffsetDateTime>> = rollups.iter().map(|r| r.last_at).collect();
    let facts: Vec<&[u8]> = rollups.iter().map(|r| r.facts.as_slice()).collect();
    let tx = client.transaction().await?;
    // A mark moves only forwards, and only a rollup whose mark moved is written: of two nodes
    // settling one conversation, the one that read more events wins whatever the order (the
    // second UPDATE of a mark waits for the first's commit, then re-checks `settled <`).
    query(
        &tx,
        "WITH won AS ( \
             UPDATE report_marks m SET settled = r.version \
             FROM unnest($1::uuid[], $2::bigint[]) AS r(conversation_id, version) \
             WHERE m.conversation_id = r.conversation_id AND m.settled < r.version \
             RETURNING m.conversation_id, m.account_id \
         ) \
         INSERT INTO report_rollups \
             (conversation_id, account_id, inbox_id, first_at, last_at, facts) \
         SELECT won.conversation_id, won.account_id, r.inbox_id, r.first_at, r.last_at, r.facts \
         FROM won JOIN unnest($1::uuid[], $3::uuid[], $4::timestamptz[], $5::timestamptz[], \
                              $6::bytea[]) \
                   AS r(conversation_id, inbox_id, first_at, last_at, facts) \
           ON r.conversation_id = won.conversation_id \
         ON CONFLICT (conversation_id) DO UPDATE SET inbox_id = excluded.inbox_id, \
             first_at = excluded.first_at, last_at = excluded.last_at, facts = excluded.facts",
        &[&ids, &versions, &inboxes, &firsts, &lasts, &facts],
    )
    .await?;
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
           AND ($4::uuid[] IS NULL OR inbox_id = ANY($4)) \
         ORDER BY conversation_id",
        &[&account.0, &scope.from, &scope.to, &inboxes],
    )
    .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}
