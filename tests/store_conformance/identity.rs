//! Verified widget identities (docs/store.md "Real-time"): one person's visitors on several
//! devices share a contact, found by the host site's user id or a signed email, inside the
//! account; an unsigned email never finds, or is taken from, another contact.

use parley::domain::*;
use parley::store::Store;

use crate::common::*;
use crate::fixtures::*;

fn token(label: &str) -> String {
    format!("{label:0>64}")
}

fn user(id: &str, address: Option<&str>) -> VisitorIdentity {
    VisitorIdentity::User {
        external_id: ExternalId::parse(id).unwrap(),
        email: address.map(email),
    }
}

async fn count_contacts(store: &dyn Store, account: AccountId) -> usize {
    store
        .search_contacts(account, ContactQuery::default(), all())
        .await
        .unwrap()
        .items
        .len()
}

async fn a_user_id_finds_the_same_contact_on_every_device(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let other = World::build(&*store, "globex").await;
    let a = w.account.id;

    let (laptop, contact) = store
        .create_identified_visitor(
            a,
            w.chat.id,
            token("laptop"),
            user("u-1", Some("sam@example.com")),
        )
        .await
        .unwrap();
    assert_eq!(laptop.contact_id, contact.id);
    assert_eq!(contact.external_id, Some(ExternalId::parse("u-1").unwrap()));
    assert_eq!(contact.email, Some(email("sam@example.com")));
    assert!(contact.email_unverified, "the email came unsigned");
    assert_eq!(store.get_contact(a, contact.id).await.unwrap(), contact);
    assert_eq!(
        store.find_visitor(&token("laptop")).await.unwrap(),
        Some(laptop.clone())
    );

    let conversation = store
        .create_conversation(
            a,
            new_conversation(w.chat.id, contact.id),
            Actor::Contact(contact.id),
        )
        .await
        .unwrap();
    let before = count_contacts(&*store, a).await;
    let (phone, same) = store
        .create_identified_visitor(a, w.chat.id, token("phone"), user("u-1", None))
        .await
        .unwrap();
    assert_ne!(phone.id, laptop.id, "each device is its own visitor");
    assert_eq!(
        same.id, contact.id,
        "the same user id finds the same contact"
    );
    assert_eq!(same.email, contact.email, "an absent email clears nothing");
    assert_eq!(
        count_contacts(&*store, a).await,
        before,
        "no contact was created"
    );
    assert_eq!(
        store
            .open_visitor_conversation(a, phone.id)
            .await
            .unwrap()
            .map(|c| c.id),
        Some(conversation.id),
        "the second device finds the conversation the first began"
    );

    // User ids are the host site's, so they are only unique within an account.
    let (_, theirs) = store
        .create_identified_visitor(
            other.account.id,
            other.chat.id,
            token("globex"),
            user("u-1", None),
        )
        .await
        .unwrap();
    assert_ne!(theirs.id, contact.id);
    assert_eq!(theirs.account_id, other.account.id);
}

async fn an_unsigned_email_never_finds_or_takes_another_contact(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    // World's contact holds pat@example.com; a user id comes with it, unsigned.
    let (visitor, contact) = store
        .create_identified_visitor(
            a,
            w.chat.id,
            token("v1"),
            user("u-2", Some("pat@example.com")),
        )
        .await
        .unwrap();
    assert_ne!(
        contact.id, w.contact.id,
        "the email did not find Pat's contact"
    );
    assert_eq!(
        contact.email, None,
        "nor was it copied onto the new contact"
    );
    assert_eq!(visitor.contact_id, contact.id);
    assert_eq!(
        store
            .open_visitor_conversation(a, visitor.id)
            .await
            .unwrap(),
        None,
        "Pat's conversation stays Pat's"
    );
    assert_eq!(store.get_contact(a, w.contact.id).await.unwrap(), w.contact);

    // Later the same user brings a free email: it fills the empty field of their contact.
    let (_, filled) = store
        .create_identified_visitor(
            a,
            w.chat.id,
            token("v2"),
            user("u-2", Some("u2@example.com")),
        )
        .await
        .unwrap();
    assert_eq!(filled.id, contact.id);
    assert_eq!(filled.email, Some(email("u2@example.com")));
    assert!(filled.email_unverified);
    // …but never replaces one it has.
    let (_, kept) = store
        .create_identified_visitor(
            a,
            w.chat.id,
            token("v3"),
            user("u-2", Some("new@example.com")),
        )
        .await
        .unwrap();
    assert_eq!(kept.email, Some(email("u2@example.com")));
}

async fn a_signed_email_finds_the_contact_holding_it(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let identity = VisitorIdentity::Email(email("pat@example.com"));
    let (visitor, contact) = store
        .create_identified_visitor(a, w.chat.id, token("v1"), identity)
        .await
        .unwrap();
    assert_eq!(contact.id, w.contact.id);
    assert_eq!(
        store
            .open_visitor_conversation(a, visitor.id)
            .await
            .unwrap()
            .map(|c| c.id),
        Some(w.conversation.id)
    );

    let before = count_contacts(&*store, a).await;
    let fresh = || VisitorIdentity::Email(email("Lee@Example.com"));
    let (_, lee) = store
        .create_identified_visitor(a, w.chat.id, token("v2"), fresh())
        .await
        .unwrap();
    assert_eq!(lee.email, Some(email("lee@example.com")));
    assert_eq!(lee.external_id, None);
    assert_eq!(count_contacts(&*store, a).await, before + 1);
    let (_, again) = store
        .create_identified_visitor(a, w.chat.id, token("v3"), fresh())
        .await
        .unwrap();
    assert_eq!(again.id, lee.id);
}

async fn an_identified_visitor_needs_a_chat_channel_and_a_fresh_token(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = World::build(&*store, "acme").await;
    let globex = World::build(&*store, "globex").await;
    let a = acme.account.id;
    let before = count_contacts(&*store, a).await;
    assert_invalid(
        store
            .create_identified_visitor(a, acme.email.id, token("v1"), user("u-1", None))
            .await,
        "channel_id",
        "an email channel",
    );
    assert_invalid(
        store
            .create_identified_visitor(a, globex.chat.id, token("v2"), user("u-1", None))
            .await,
        "channel_id",
        "another account's chat channel",
    );
    assert_eq!(
        count_contacts(&*store, a).await,
        before,
        "a refusal leaves no contact"
    );
    store
        .create_identified_visitor(a, acme.chat.id, token("v3"), user("u-1", None))
        .await
        .unwrap();
    assert_conflict(
        store
            .create_identified_visitor(a, acme.chat.id, token("v3"), user("u-1", None))
            .await,
        "token_hash",
        "a token already held by a visitor",
    );
}

async fn merging_carries_the_user_id_to_the_kept_contact(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let (_, identified) = store
        .create_identified_visitor(a, w.chat.id, token("v1"), user("u-9", None))
        .await
        .unwrap();
    let kept = store
        .merge_contacts(a, w.contact.id, identified.id)
        .await
        .unwrap();
    assert_eq!(kept.external_id, Some(ExternalId::parse("u-9").unwrap()));
    let (visitor, found) = store
        .create_identified_visitor(a, w.chat.id, token("v2"), user("u-9", None))
        .await
        .unwrap();
    assert_eq!(
        found.id, w.contact.id,
        "the user id now finds the kept contact"
    );
    assert_eq!(visitor.contact_id, w.contact.id);
}

async fn the_same_user_arriving_on_many_devices_at_once_gets_one_contact(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    const DEVICES: usize = 24;
    // Every pooled connection open first, so the devices' transactions truly overlap.
    let warm: Vec<_> = (0..DEVICES)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.ping().await })
        })
        .collect();
    for ping in warm {
        ping.await.unwrap().unwrap();
    }
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(DEVICES));
    let tasks: Vec<_> = (0..DEVICES)
        .map(|i| {
            let (store, start) = (store.clone(), start.clone());
            let address = (i % 2 == 0).then_some("race@example.com");
            tokio::spawn(async move {
                start.wait().await;
                store
                    .create_identified_visitor(
                        a,
                        w.chat.id,
                        token(&format!("d{i}")),
                        user("u-race", address),
                    )
                    .await
            })
        })
        .collect();
    let mut contacts = Vec::new();
    for task in tasks {
        let (visitor, contact) = task.await.unwrap().unwrap();
        assert_eq!(visitor.contact_id, contact.id);
        contacts.push(contact.id);
    }
    contacts.dedup();
    assert_eq!(contacts.len(), 1, "every device holds the one contact");
    let contact = store.get_contact(a, contacts[0]).await.unwrap();
    assert_eq!(contact.email, Some(email("race@example.com")));
}

async fn a_signed_email_takes_its_address_from_a_contact_that_only_typed_it(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    // Someone typed lee@example.com into the widget first.
    let squatter = store
        .create_visitor(a, w.chat.id, token("v1"))
        .await
        .unwrap();
    let typed = store
        .set_visitor_email(a, squatter.id, email("lee@example.com"))
        .await
        .unwrap();
    assert_eq!(typed.id, squatter.contact_id);
    assert!(typed.email_unverified);
    store
        .create_conversation(
            a,
            new_conversation(w.chat.id, typed.id),
            Actor::Contact(typed.id),
        )
        .await
        .unwrap();

    let (lee_visitor, lee) = store
        .create_identified_visitor(
            a,
            w.chat.id,
            token("v2"),
            VisitorIdentity::Email(email("lee@example.com")),
        )
        .await
        .unwrap();
    assert_ne!(
        lee.id, typed.id,
        "the signed owner is not joined to the typist's contact"
    );
    assert_eq!(lee.email, Some(email("lee@example.com")));
    assert!(!lee.email_unverified);
    assert_eq!(
        store
            .open_visitor_conversation(a, lee_visitor.id)
            .await
            .unwrap(),
        None
    );
    let left = store.get_contact(a, typed.id).await.unwrap();
    assert_eq!(left.email, None, "the address moved to its owner");
    assert_eq!(left.properties[GIVEN_EMAIL_PROPERTY], "lee@example.com");
    assert_eq!(
        store
            .find_visitor(&token("v1"))
            .await
            .unwrap()
            .unwrap()
            .contact_id,
        typed.id
    );

    // Once verified, the address finds its owner; a typist gets only the property.
    let (_, again) = store
        .create_identified_visitor(
            a,
            w.chat.id,
            token("v3"),
            VisitorIdentity::Email(email("lee@example.com")),
        )
        .await
        .unwrap();
    assert_eq!(again.id, lee.id);
    let other = store
        .create_visitor(a, w.chat.id, token("v4"))
        .await
        .unwrap();
    let noted = store
        .set_visitor_email(a, other.id, email("lee@example.com"))
        .await
        .unwrap();
    assert_eq!(noted.id, other.contact_id);
    assert_eq!(noted.email, None);
    assert_eq!(noted.properties[GIVEN_EMAIL_PROPERTY], "lee@example.com");
}

async fn a_typed_email_stays_on_the_visitors_own_contact(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let other = World::build(&*store, "globex").await;
    let a = w.account.id;
    let visitor = store
        .create_visitor(a, w.chat.id, token("v1"))
        .await
        .unwrap();
    let set = store
        .set_visitor_email(a, visitor.id, email("Kim@Example.com"))
        .await
        .unwrap();
    assert_eq!(set.email, Some(email("kim@example.com")));
    assert!(set.email_unverified);
    assert_eq!(store.get_contact(a, set.id).await.unwrap(), set);
    assert_eq!(
        store
            .set_visitor_email(a, visitor.id, email("kim@example.com"))
            .await
            .unwrap(),
        set,
        "the same address again changes nothing"
    );
    let changed = store
        .set_visitor_email(a, visitor.id, email("kim2@example.com"))
        .await
        .unwrap();
    assert_eq!(
        changed.email,
        Some(email("kim@example.com")),
        "an email is never replaced"
    );
    assert_eq!(changed.properties[GIVEN_EMAIL_PROPERTY], "kim2@example.com");

    // Pat's address (entered by an agent) is Pat's.
    let second = store
        .create_visitor(a, w.chat.id, token("v2"))
        .await
        .unwrap();
    let refused = store
        .set_visitor_email(a, second.id, email("pat@example.com"))
        .await
        .unwrap();
    assert_eq!(refused.id, second.contact_id);
    assert_eq!(refused.email, None);
    assert_eq!(store.get_contact(a, w.contact.id).await.unwrap(), w.contact);

    // An agent setting the email vouches for it.
    let patch = ContactPatch {
        email: Some(Some(email("kim@example.com"))),
        ..ContactPatch::default()
    };
    assert!(
        !store
            .update_contact(a, set.id, patch)
            .await
            .unwrap()
            .email_unverified
    );

    assert_not_found(
        store
            .set_visitor_email(other.account.id, visitor.id, email("x@example.com"))
            .await,
        "another account's visitor",
    );
}

on_both_backends!(
    a_signed_email_takes_its_address_from_a_contact_that_only_typed_it,
    a_typed_email_stays_on_the_visitors_own_contact,
    the_same_user_arriving_on_many_devices_at_once_gets_one_contact,
    a_user_id_finds_the_same_contact_on_every_device,
    an_unsigned_email_never_finds_or_takes_another_contact,
    a_signed_email_finds_the_contact_holding_it,
    an_identified_visitor_needs_a_chat_channel_and_a_fresh_token,
    merging_carries_the_user_id_to_the_kept_contact,
);
