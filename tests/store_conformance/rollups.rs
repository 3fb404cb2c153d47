//! Report rollups (docs/reports.md "Rollups"): every report event marks its conversation in
//! the event's own transaction; a settle derives the facts of each marked conversation from its
//! whole history; an older rollup never replaces a newer one; accounts and inboxes stay apart.

use parley::reports::{facts, rollup};
use parley::store::{ReportRollup, ReportScope, Store};
use time::{Duration, OffsetDateTime};

use crate::common::*;
use crate::fixtures::*;
use parley::domain::*;

fn around_now(inboxes: Option<Vec<InboxId>>) -> ReportScope {
    let now = OffsetDateTime::now_utc();
    ReportScope {
        from: now - Duration::hours(1),
        to: now + Duration::hours(1),
        inboxes,
    }
}

async fn read(
    store: &dyn Store,
    account: AccountId,
    inboxes: Option<Vec<InboxId>>,
) -> Vec<facts::ConversationFacts> {
    store
        .report_rollups(account, around_now(inboxes))
        .await
        .unwrap()
        .iter()
        .map(|b| facts::decode(b).unwrap())
        .collect()
}

async fn every_report_event_marks_its_conversation_and_a_settle_catches_up(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let a = acme.id;
    let ana = agent(&*store, a, "ana@rollups.test").await;
    let support = inbox(&*store, a, "Support").await;
    let ch = channel(&*store, a, support.id, ChannelKind::Chat).await;
    let pat = contact(&*store, a, None, Some("Pat")).await;
    let conv = conversation(&*store, a, ch.id, pat.id).await;
    store
        .append_item(
            a,
            conv.id,
            message(Direction::In, "Hi", Actor::Contact(pat.id)),
        )
        .await
        .unwrap();
    store
        .append_item(
            a,
            conv.id,
            message(Direction::Out, "Hello", Actor::Agent(ana.id)),
        )
        .await
        .unwrap();

    let pending = store.report_pending(Some(a), None, 100).await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].conversation, conv.id);
    assert_eq!(pending[0].version, 3, "created, received, sent");
    assert!(
        read(&*store, a, None).await.is_empty(),
        "nothing settled yet"
    );

    assert_eq!(rollup::settle(&store, Some(a)).await.unwrap(), 1);
    assert!(
        store
            .report_pending(Some(a), None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let rolled = read(&*store, a, None).await;
    assert_eq!(rolled.len(), 1);
    assert_eq!(rolled[0].conversation, conv.id.0);
    assert_eq!(rolled[0].inbox, Some(support.id.0));
    assert_eq!(rolled[0].channel, Some(ch.id.0));
    assert!(rolled[0].created.is_some());
    assert_eq!(rolled[0].replies.len(), 1);
    assert_eq!(rolled[0].first_responses.len(), 1);
    assert_eq!(rolled[0].first_responses[0].agent, Some(ana.id.0));

    // A new event puts it behind again, and the next settle (or report) takes it in.
    store
        .append_item(
            a,
            conv.id,
            message(Direction::Out, "More", Actor::Agent(ana.id)),
        )
        .await
        .unwrap();
    let pending = store.report_pending(Some(a), None, 100).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].version, 4);
    let via_report = rollup::read(&store, a, around_now(None)).await.unwrap();
    assert_eq!(via_report[0].replies.len(), 2);
    // A comment is no report event: nothing to settle.
    store
        .append_item(a, conv.id, comment("note", ana.id, vec![]))
        .await
        .unwrap();
    assert!(
        store
            .report_pending(Some(a), None, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn an_older_rollup_never_replaces_a_newer_one(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let a = acme.id;
    let support = inbox(&*store, a, "Support").await;
    let ch = channel(&*store, a, support.id, ChannelKind::Chat).await;
    let pat = contact(&*store, a, None, Some("Pat")).await;
    let conv = conversation(&*store, a, ch.id, pat.id).await;
    store
        .append_item(
            a,
            conv.id,
            message(Direction::In, "Hi", Actor::Contact(pat.id)),
        )
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    let rollup_of = |version: i64, channel_kind: &str| {
        let facts = facts::ConversationFacts {
            conversation: conv.id.0,
            channel_kind: Some(channel_kind.to_owned()),
            ..Default::default()
        };
        ReportRollup {
            conversation: conv.id,
            version,
            inbox: Some(support.id),
            first_at: Some(now),
            last_at: Some(now),
            facts: facts::encode(&facts).unwrap(),
        }
    };
    // Two settles raced: the one that read both events (version 2) commits first.
    store
        .save_report_rollups(&[rollup_of(2, "newer")])
        .await
        .unwrap();
    store
        .save_report_rollups(&[rollup_of(1, "older")])
        .await
        .unwrap();
    let rolled = read(&*store, a, None).await;
    assert_eq!(rolled[0].channel_kind.as_deref(), Some("newer"));
    assert!(
        store
            .report_pending(Some(a), None, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn rollups_are_read_per_account_and_inbox(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let other = account(&*store, "Other").await;
    let a = acme.id;
    let support = inbox(&*store, a, "Support").await;
    let sales = inbox(&*store, a, "Sales").await;
    let ch = channel(&*store, a, support.id, ChannelKind::Chat).await;
    let pat = contact(&*store, a, None, Some("Pat")).await;
    conversation(&*store, a, ch.id, pat.id).await;

    assert!(
        store
            .report_pending(Some(other.id), None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.report_pending(None, None, 100).await.unwrap().len(),
        1
    );
    assert_eq!(
        rollup::settle(&store, None).await.unwrap(),
        1,
        "every account"
    );
    assert!(read(&*store, other.id, None).await.is_empty());
    assert_eq!(read(&*store, a, Some(vec![support.id])).await.len(), 1);
    assert!(read(&*store, a, Some(vec![sales.id])).await.is_empty());
    // A range before the conversation's first event holds nothing.
    let past = ReportScope {
        from: OffsetDateTime::now_utc() - Duration::days(3),
        to: OffsetDateTime::now_utc() - Duration::days(2),
        inboxes: None,
    };
    assert!(store.report_rollups(a, past).await.unwrap().is_empty());
}

on_both_backends!(
    every_report_event_marks_its_conversation_and_a_settle_catches_up,
    an_older_rollup_never_replaces_a_newer_one,
    rollups_are_read_per_account_and_inbox,
);
