//! Report rollups on SQLite (docs/reports.md "Rollups"); see `store::postgres::reports`.

use rusqlite::{Connection, params};

use super::Fail;
use super::columns::{Json, SqlUuid, Ts};
use crate::domain::*;
use crate::store::{
    PendingRollup, REPORT_EVENT_KINDS, ReportEventKind, ReportEventRow, ReportRollup, ReportScope,
};

pub(super) fn report_pending(
    c: &Connection,
    account: Option<AccountId>,
    after: Option<ConversationId>,
    limit: u32,
) -> Result<Vec<PendingRollup>, Fail> {
    let rows = c
        .prepare_cached(
            "SELECT d.account_id, d.conversation_id, m.written
             FROM report_dirty d JOIN report_marks m ON m.conversation_id = d.conversation_id
             WHERE (?1 IS NULL OR d.account_id = ?1) AND (?2 IS NULL OR d.conversation_id > ?2)
             ORDER BY d.conversation_id LIMIT ?3",
        )?
        .query_map(params![account, after, limit], |r| {
            Ok(PendingRollup {
                account: r.get(0)?,
                conversation: r.get(1)?,
                version: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(super) fn report_history(
    c: &Connection,
    account: AccountId,
    conversations: &[ConversationId],
) -> Result<Vec<ReportEventRow>, Fail> {
    let ids = Json(conversations);
    let kinds = Json(REPORT_EVENT_KINDS);
    let rows = c
        .prepare_cached(
            // `k` numbers the kinds as REPORT_EVENT_KINDS lists them (ReportEventKind::from_code).
            "SELECT e.id, e.conversation_id, e.inbox_id, e.agent_id, e.occurred_at,
               CASE e.kind
                 WHEN 'conversation.created' THEN 1
                 WHEN 'conversation.assigned' THEN 2
                 WHEN 'conversation.status_changed' THEN 3
                 WHEN 'message.received' THEN 4
                 WHEN 'message.sent' THEN 5
                 WHEN 'bot.step' THEN 6
                 WHEN 'bot.finished' THEN 7 END AS k,
               CASE e.kind
                 WHEN 'conversation.created' THEN json_extract(e.data, '$.channel_id')
                 WHEN 'conversation.assigned' THEN json_extract(e.data, '$.assignee_id')
                 WHEN 'bot.step' THEN json_extract(e.data, '$.chatflow_id')
                 WHEN 'bot.finished' THEN json_extract(e.data, '$.chatflow_id') END AS ref_id,
               CASE e.kind
                 WHEN 'conversation.assigned' THEN json_extract(e.data, '$.team_id') END
                 AS team_id,
               CASE e.kind
                 WHEN 'conversation.created' THEN json_extract(e.data, '$.channel_kind')
                 WHEN 'conversation.status_changed' THEN json_extract(e.data, '$.to')
                 WHEN 'bot.step' THEN json_extract(e.data, '$.kind')
                 WHEN 'bot.finished' THEN json_extract(e.data, '$.outcome') END AS word,
               CASE e.kind WHEN 'bot.step' THEN json_extract(e.data, '$.step') END AS step
             FROM events e
             WHERE e.account_id = ?1
               AND e.conversation_id IN (SELECT value FROM json_each(?2))
               AND e.kind IN (SELECT value FROM json_each(?3))
             ORDER BY e.conversation_id, e.occurred_at, e.id",
        )?
        .query_map(params![account, ids, kinds], |r| {
            let code: i64 = r.get("k")?;
            let kind = ReportEventKind::from_code(code)
                .ok_or_else(|| rusqlite::Error::IntegralValueOutOfRange(5, code))?;
            Ok(ReportEventRow {
                id: r.get("id")?,
                kind,
                conversation_id: r.get("conversation_id")?,
                inbox_id: r.get("inbox_id")?,
                agent_id: r.get("agent_id")?,
                occurred_at: r.get::<_, Ts>("occurred_at")?.0,
                ref_id: r.get::<_, Option<SqlUuid>>("ref_id")?.map(|u| u.0),
                team_id: r.get("team_id")?,
                word: r.get("word")?,
                step: r.get("step")?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Runs in the caller's `BEGIN IMMEDIATE` transaction: no event is written meanwhile, so the
/// counts read are final. The rules are those of `store::postgres::reports`.
pub(super) fn save_report_rollups(c: &Connection, rollups: &[ReportRollup]) -> Result<(), Fail> {
    let mut mark = c.prepare_cached(
        "SELECT account_id, written, settled FROM report_marks WHERE conversation_id = ?1",
    )?;
    let mut settle =
        c.prepare_cached("UPDATE report_marks SET settled = ?2 WHERE conversation_id = ?1")?;
    let mut save = c.prepare_cached(
        "INSERT INTO report_rollups
             (conversation_id, account_id, inbox_id, first_at, last_at, facts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (conversation_id) DO UPDATE SET inbox_id = excluded.inbox_id,
             first_at = excluded.first_at, last_at = excluded.last_at, facts = excluded.facts",
    )?;
    let mut clean = c.prepare_cached("DELETE FROM report_dirty WHERE conversation_id = ?1")?;
    for rollup in rollups {
        let found: Option<(AccountId, i64, i64)> = mark
            .query_map(params![rollup.conversation], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .next()
            .transpose()?;
        let Some((account, written, settled)) = found else {
            continue;
        };
        if rollup.version > settled {
            settle.execute(params![rollup.conversation, rollup.version])?;
            save.execute(params![
                rollup.conversation,
                account,
                rollup.inbox,
                rollup.first_at.map(Ts),
                rollup.last_at.map(Ts),
                rollup.facts,
            ])?;
        }
        if written <= settled.max(rollup.version) {
            clean.execute(params![rollup.conversation])?;
        }
    }
    Ok(())
}

pub(super) fn report_rollups(
    c: &Connection,
    account: AccountId,
    scope: ReportScope,
) -> Result<Vec<Vec<u8>>, Fail> {
    let inboxes = scope.inboxes.map(Json);
    let rows = c
        .prepare_cached(
            "SELECT facts FROM report_rollups
             WHERE account_id = ?1 AND last_at >= ?2 AND first_at < ?3
               AND (?4 IS NULL OR inbox_id IN (SELECT value FROM json_each(?4)))",
        )?
        .query_map(
            params![account, Ts(scope.from), Ts(scope.to), inboxes],
            |r| r.get(0),
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
