//! Email in: importing a mail is one transaction that threads by Message-ID, reply token and
//! subject-with-sender, is idempotent per Message-ID and account; held mail pages newest first
//! and stays in its account; the IMAP lease has one holder at a time.

use parley::domain::*;
use parley::store::{DynStore, StoreError};
use time::Duration;

use crate::common::{Backend, fresh_store};
use crate::fixtures::*;

fn mail(channel: ChannelId, from: &str, id: &str, subject: &str, refs: &[&str]) -> InboundEmail {
    InboundEmail {
        channel_id: channel,
        from_address: email(from),
        from_name: Some(name("Jane")),
        message_id: id.into(),
        in_reply_to: refs.last().map(|r| (*r).to_owned()),
        references: refs.iter().map(|r| (*r).to_owned()).collect(),
        subject: Some(subject.into()),
        token_conversation: None,
        visible: body("hello"),
        text: "hello\n> quoted".into(),
        html: Some("<p>hello</p>".into()),
        raw: b"raw".to_vec(),
        attachments: vec![NewAttachment {
            filename: Some("a.txt".into()),
            content_type: "text/plain".into(),
            content: b"small".to_vec(),
        }],
    }
}

fn imported(result: EmailImport) -> (Conversation, bool, Contact) {
    match result {
        EmailImport::Imported {
            conversation,
            created_conversation,
            contact,
            ..
        } => (*conversation, created_conversation, *contact),
        EmailImport::Duplicate => panic!("imported as a duplicate"),
    }
}

async fn email_setup(store: &DynStore, label: &str) -> (AccountId, InboxId, ChannelId) {
    let account = account(store.as_ref(), label).await;
    let inbox = inbox(store.as_ref(), account.id, "Support").await;
    let channel = channel(store.as_ref(), account.id, inbox.id, ChannelKind::Email).await;
    (account.id, inbox.id, channel.id)
}

async fn import_threads_and_is_idempotent(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let (account, _, channel) = email_setup(&store, "a").await;
    let first = store
        .import_email(account, mail(channel, "jane@x.test", "m1@x", "Order", &[]))
        .await
        .unwrap();
    let (conversation, created, contact) = imported(first);
    assert!(created);
    assert_eq!(contact.email, Some(email("jane@x.test")));
    assert_eq!(contact.name, Some(name("Jane")));
    let again = store
        .import_email(account, mail(channel, "jane@x.test", "m1@x", "Order", &[]))
        .await
        .unwrap();
    assert!(matches!(again, EmailImport::Duplicate));
    let (by_ref, created, _) = imported(
        store
            .import_email(
                account,
                mail(channel, "bob@x.test", "m2@x", "other", &["m1@x"]),
            )
            .await
            .unwrap(),
    );
    assert_eq!((by_ref.id, created), (conversation.id, false));
    let (by_subject, created, _) = imported(
        store
            .import_email(
                account,
                mail(channel, "jane@x.test", "m3@x", "RE: order", &[]),
            )
            .await
            .unwrap(),
    );
    assert_eq!((by_subject.id, created), (conversation.id, false));
    let (stranger, created, _) = imported(
        store
            .import_email(
                account,
                mail(channel, "eve@x.test", "m4@x", "Re: Order", &[]),
            )
            .await
            .unwrap(),
    );
    assert!(created && stranger.id != conversation.id);
    let mut tokened = mail(channel, "eve@x.test", "m5@x", "new", &[]);
    tokened.token_conversation = Some(conversation.id);
    let (by_token, _, _) = imported(store.import_email(account, tokened).await.unwrap());
    assert_eq!(by_token.id, conversation.id);
    let items = store
        .list_items(account, conversation.id, 0, 50)
        .await
        .unwrap();
    assert_eq!(items.len(), 4, "{items:?}");
    assert_eq!(items[0].body.as_deref(), Some("hello"));

    // Another account: its own contact and conversation for the same Message-ID and references.
    let (other, _, other_channel) = email_setup(&store, "b").await;
    let (theirs, created, _) = imported(
        store
            .import_email(
                other,
                mail(other_channel, "jane@x.test", "m2@x", "Order", &["m1@x"]),
            )
            .await
            .unwrap(),
    );
    assert!(created && theirs.account_id == other);
    // A channel of another account is refused.
    let refused = store
        .import_email(other, mail(channel, "jane@x.test", "m9@x", "Order", &[]))
        .await;
    assert!(matches!(
        refused,
        Err(StoreError::Invalid {
            field: "channel_id",
            ..
        })
    ));
}

async fn held_mail_pages_newest_first_within_its_account(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let (account, inbox, channel) = email_setup(&store, "a").await;
    let mut ids = Vec::new();
    for (n, reason) in [HeldReason::Failed, HeldReason::Blocked, HeldReason::Bounce]
        .into_iter()
        .enumerate()
    {
        let held = store
            .hold_mail(
                account,
                NewHeldMail {
                    inbox_id: inbox,
                    channel_id: Some(channel),
                    reason,
                    detail: format!("why {n}"),
                    from_address: Some("a@b.test".into()),
                    subject: None,
                    message_id: None,
                    raw: vec![b'x'; n + 1],
                },
            )
            .await
            .unwrap();
        assert_eq!(held.size, n as u64 + 1);
        ids.push(held.id);
    }
    let first = store.list_held_mail(account, inbox, page(2)).await.unwrap();
    assert_eq!(
        first.items.iter().map(|h| h.id).collect::<Vec<_>>(),
        [ids[2], ids[1]]
    );
    let rest = store
        .list_held_mail(
            account,
            inbox,
            parley::store::PageRequest {
                after: first.next,
                limit: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items[0].id, ids[0]);
    assert!(rest.next.is_none());
    let (held, raw) = store.get_held_mail(account, ids[0]).await.unwrap();
    assert_eq!((held.reason, raw), (HeldReason::Failed, b"x".to_vec()));

    let (other, other_inbox, _) = email_setup(&store, "b").await;
    assert!(matches!(
        store.get_held_mail(other, ids[0]).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.list_held_mail(other, inbox, page(10)).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(
        store
            .list_held_mail(other, other_inbox, page(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn imap_lease_has_one_holder_and_position_is_kept(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let (_, _, channel) = email_setup(&store, "a").await;
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let now = now_micros();
    let until = now + Duration::seconds(60);
    assert!(store.take_imap_lease(channel, a, now, until).await.unwrap());
    assert!(!store.take_imap_lease(channel, b, now, until).await.unwrap());
    assert!(
        store.take_imap_lease(channel, a, now, until).await.unwrap(),
        "renewal"
    );
    // Once it has run out, another holder takes it.
    let later = until + Duration::seconds(1);
    assert!(
        store
            .take_imap_lease(channel, b, later, later + Duration::seconds(60))
            .await
            .unwrap()
    );
    store.release_imap_lease(channel, b).await.unwrap();
    assert!(store.take_imap_lease(channel, a, now, until).await.unwrap());

    assert_eq!(store.imap_position(channel).await.unwrap(), None);
    let position = ImapPosition {
        uidvalidity: 7,
        last_uid: 42,
    };
    store
        .save_imap_position(channel, "INBOX", position)
        .await
        .unwrap();
    store
        .save_imap_position(
            channel,
            "INBOX",
            ImapPosition {
                last_uid: 43,
                ..position
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.imap_position(channel).await.unwrap(),
        Some(ImapPosition {
            uidvalidity: 7,
            last_uid: 43
        })
    );
    let channels = store.all_email_channels().await.unwrap();
    assert_eq!(channels.iter().map(|c| c.id).collect::<Vec<_>>(), [channel]);
}

on_both_backends!(
    import_threads_and_is_idempotent,
    held_mail_pages_newest_first_within_its_account,
    imap_lease_has_one_holder_and_position_is_kept,
);
