//! The outbox and Messenger events: an outbound email or Messenger message comes with one
//! outbox row, claimed by one worker at a time under a lease, finished once; chat messages have
//! none; a Messenger `mid` is stored once, and an echo is stored sent with nothing to deliver.

use std::time::Duration;

use parley::channels::messenger::MessengerInbound;
use parley::outbox::{OutboundEmail, OutboxOutcome};
use parley::store::Store;
use time::OffsetDateTime;

use crate::common::*;
use crate::fixtures::*;
use parley::domain::*;

const LEASE: Duration = Duration::from_secs(30);

async fn thread(store: &dyn Store, kind: ChannelKind) -> (AccountId, Conversation, Contact) {
    let acme = account(store, "Acme").await;
    let a = acme.id;
    let support = inbox(store, a, "Support").await;
    let ch = channel(store, a, support.id, kind).await;
    let pat = contact(store, a, None, Some("Pat")).await;
    let conv = conversation(store, a, ch.id, pat.id).await;
    (a, conv, pat)
}

async fn an_email_reply_is_claimed_by_one_worker_and_finished_once(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let (a, conv, pat) = thread(&*store, ChannelKind::Email).await;
    store
        .append_item(
            a,
            conv.id,
            message(Direction::In, "Help", Actor::Contact(pat.id)),
        )
        .await
        .unwrap();
    let reply = store
        .append_item(a, conv.id, message(Direction::Out, "On it", Actor::System))
        .await
        .unwrap()
        .item;
    assert_eq!(reply.delivery_status, Some(DeliveryStatus::Pending));
    assert_eq!(
        store.count_pending_outbox().await.unwrap(),
        1,
        "the backlog"
    );

    let jobs = store.claim_outbox(LEASE, 10).await.unwrap();
    assert_eq!(jobs.len(), 1, "the outbound message only");
    assert_eq!(
        store.count_pending_outbox().await.unwrap(),
        1,
        "a claimed row is still to send"
    );
    let job = &jobs[0];
    assert_eq!(
        (
            job.account_id,
            job.conversation_id,
            job.item_id,
            job.seq,
            job.kind,
            job.attempts
        ),
        (a, conv.id, reply.id, reply.seq, ChannelKind::Email, 1)
    );
    assert_eq!(job.body, "On it");
    assert!(
        store.claim_outbox(LEASE, 10).await.unwrap().is_empty(),
        "a leased row is nobody else's"
    );

    let email = OutboundEmail {
        message_id: "parley.1@acme.test".into(),
        in_reply_to: Some("m1@pat.test".into()),
        refs: vec!["m1@pat.test".into()],
        subject: Some("Re: Help".into()),
        from_address: Some("support@acme.test".into()),
    };
    let sent = OutboxOutcome::Sent {
        remote_id: email.message_id.clone(),
        email: Some(email.clone()),
    };
    let item = store
        .finish_outbox(job, sent.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.delivery_status, Some(DeliveryStatus::Sent));
    assert_eq!(item.delivery_error, None);
    assert_eq!(store.count_pending_outbox().await.unwrap(), 0, "sent");
    assert_eq!(
        store.finish_outbox(job, sent).await.unwrap(),
        None,
        "a finished row is not finished again"
    );
    let thread = store.email_thread(a, conv.id).await.unwrap();
    assert_eq!(thread.len(), 1);
    assert_eq!(
        (
            thread[0].item_id,
            thread[0].direction,
            thread[0].message_id.as_str()
        ),
        (reply.id, Direction::Out, "parley.1@acme.test")
    );
    assert_eq!(thread[0].refs, email.refs);
    assert_eq!(thread[0].subject.as_deref(), Some("Re: Help"));
    assert!(store.claim_outbox(LEASE, 10).await.unwrap().is_empty());
    // Another account sees no thread.
    let other = account(&*store, "Other").await;
    assert!(
        store
            .email_thread(other.id, conv.id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_retry_waits_for_its_time_and_a_failure_shows_on_the_message(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let (a, conv, _) = thread(&*store, ChannelKind::Email).await;
    store
        .append_item(a, conv.id, message(Direction::Out, "Hello", Actor::System))
        .await
        .unwrap();
    let job = store.claim_outbox(LEASE, 10).await.unwrap().remove(0);
    let later = OffsetDateTime::now_utc() + time::Duration::milliseconds(400);
    let retry = OutboxOutcome::Retry {
        at: later,
        error: "451 try later".into(),
    };
    let item = store.finish_outbox(&job, retry).await.unwrap().unwrap();
    assert_eq!(item.delivery_status, Some(DeliveryStatus::Pending));
    assert!(
        store.claim_outbox(LEASE, 10).await.unwrap().is_empty(),
        "not yet due"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = store.claim_outbox(LEASE, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    let failed = OutboxOutcome::Failed {
        error: "550 no such user".into(),
    };
    let item = store
        .finish_outbox(&again[0], failed)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.delivery_status, Some(DeliveryStatus::Failed));
    assert_eq!(item.delivery_error.as_deref(), Some("550 no such user"));
    let listed = store.list_items(a, conv.id, 0, 10).await.unwrap();
    assert_eq!(listed[0].delivery_status, Some(DeliveryStatus::Failed));
}

async fn an_expired_lease_lets_another_worker_claim_the_row(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let (a, conv, _) = thread(&*store, ChannelKind::Email).await;
    store
        .append_item(a, conv.id, message(Direction::Out, "Hello", Actor::System))
        .await
        .unwrap();
    let short = Duration::from_millis(300);
    assert_eq!(store.claim_outbox(short, 10).await.unwrap().len(), 1);
    assert!(store.claim_outbox(short, 10).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let reclaimed = store.claim_outbox(short, 10).await.unwrap();
    assert_eq!(
        reclaimed.len(),
        1,
        "the first worker died: its lease ran out"
    );
    assert_eq!(reclaimed[0].attempts, 2);
}

async fn chat_and_inbound_messages_have_nothing_to_deliver(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let (a, conv, pat) = thread(&*store, ChannelKind::Chat).await;
    store
        .append_item(a, conv.id, message(Direction::Out, "Hi", Actor::System))
        .await
        .unwrap();
    store
        .append_item(
            a,
            conv.id,
            message(Direction::In, "Hey", Actor::Contact(pat.id)),
        )
        .await
        .unwrap();
    assert!(store.claim_outbox(LEASE, 10).await.unwrap().is_empty());
    let (kind, last_in) = store.reply_window(a, conv.id).await.unwrap();
    assert_eq!(kind, ChannelKind::Chat);
    assert!(last_in.is_some());
}

async fn a_messenger_event_is_stored_once_and_an_echo_is_born_sent(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let a = acme.id;
    let support = inbox(&*store, a, "Support").await;
    let page = channel(&*store, a, support.id, ChannelKind::Messenger).await;
    let event = |mid: &str, text: &str, direction| MessengerInbound {
        channel_id: page.id,
        mid: mid.into(),
        psid: "psid-1".into(),
        body: body(text),
        direction,
        name: None,
    };
    assert_eq!(
        store
            .find_messenger_channel("1234567890")
            .await
            .unwrap()
            .map(|c| c.id),
        Some(page.id)
    );
    let first = store
        .store_messenger_event(a, event("mid.1", "Hi", Direction::In))
        .await
        .unwrap()
        .unwrap();
    assert!(first.conversation_created);
    assert_eq!(first.contact.properties["messenger_psid"], "psid-1");
    assert_eq!(first.item.author, Actor::Contact(first.contact.id));
    assert!(
        store
            .store_messenger_event(a, event("mid.1", "Hi", Direction::In))
            .await
            .unwrap()
            .is_none(),
        "a redelivered mid is stored once"
    );
    let second = store
        .store_messenger_event(a, event("mid.2", "Still there?", Direction::In))
        .await
        .unwrap()
        .unwrap();
    assert!(!second.conversation_created);
    assert_eq!(second.conversation.id, first.conversation.id);
    assert_eq!(second.contact.id, first.contact.id);
    assert_eq!(second.conversation.last_seq, 2);

    let echo = store
        .store_messenger_event(a, event("mid.echo", "From the page", Direction::Out))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(echo.item.direction, Some(Direction::Out));
    assert_eq!(echo.item.delivery_status, Some(DeliveryStatus::Sent));
    assert!(
        store.claim_outbox(LEASE, 10).await.unwrap().is_empty(),
        "an echo is not resent"
    );

    let (kind, last_in) = store.reply_window(a, first.conversation.id).await.unwrap();
    assert_eq!(kind, ChannelKind::Messenger);
    assert_eq!(last_in, Some(second.item.created_at));

    // Another account's channel is not this account's to write to.
    let other = account(&*store, "Other").await;
    assert!(
        store
            .store_messenger_event(other.id, event("mid.x", "Hi", Direction::In))
            .await
            .is_err()
    );
}

on_both_backends!(
    an_email_reply_is_claimed_by_one_worker_and_finished_once,
    a_retry_waits_for_its_time_and_a_failure_shows_on_the_message,
    an_expired_lease_lets_another_worker_claim_the_row,
    chat_and_inbound_messages_have_nothing_to_deliver,
    a_messenger_event_is_stored_once_and_an_echo_is_born_sent,
);
