//! Refusals within one account: Conflict on a taken email, Invalid naming the input field for
//! a reference to nothing, and nothing written by a refused call.

use futures_util::future::BoxFuture;
use parley::domain::*;
use parley::store::{Store, StoreError, StoreResult};

use crate::common::*;
use crate::fixtures::*;

async fn agent_email_is_unique_across_accounts(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let globex = account(&*store, "Globex").await;
    let ann = agent(&*store, acme.id, "ann@shared.test").await;
    let bob = agent(&*store, acme.id, "bob@shared.test").await;
    let gus = agent(&*store, globex.id, "gus@shared.test").await;
    assert_conflict(
        store
            .create_agent(acme.id, new_agent("ann@shared.test", AgentRole::Agent))
            .await,
        "email",
        "same email, same account",
    );
    assert_conflict(
        store
            .create_agent(globex.id, new_agent("ANN@shared.test", AgentRole::Admin))
            .await,
        "email",
        "same email, another account",
    );
    assert_conflict(
        store
            .update_agent(
                acme.id,
                bob.id,
                AgentPatch {
                    email: Some(email("ann@shared.test")),
                    display_name: Some(name("Not applied")),
                    ..AgentPatch::default()
                },
            )
            .await,
        "email",
        "update to a colleague's email",
    );
    assert_conflict(
        store
            .update_agent(
                globex.id,
                gus.id,
                AgentPatch {
                    email: Some(email("ann@shared.test")),
                    ..AgentPatch::default()
                },
            )
            .await,
        "email",
        "update to another account's agent's email",
    );
    assert_eq!(
        store.list_agents(acme.id).await.unwrap(),
        vec![ann.clone(), bob.clone()]
    );
    assert_eq!(
        store.list_agents(globex.id).await.unwrap(),
        vec![gus],
        "nothing changed"
    );
    // Keeping one's own email is no conflict.
    let same = store
        .update_agent(
            acme.id,
            ann.id,
            AgentPatch {
                email: Some(email("ann@shared.test")),
                ..AgentPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(same, ann);
}

async fn contact_email_is_unique_within_an_account(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let globex = account(&*store, "Globex").await;
    let pat = contact(&*store, acme.id, Some("pat@example.com"), Some("Pat")).await;
    let sam = contact(&*store, acme.id, Some("sam@example.com"), Some("Sam")).await;
    let nobody = contact(&*store, acme.id, None, Some("Anon")).await;
    assert_conflict(
        store
            .create_contact(
                acme.id,
                NewContact {
                    email: Some(email("PAT@example.com")),
                    ..NewContact::default()
                },
            )
            .await,
        "email",
        "create with a taken email",
    );
    assert_conflict(
        store
            .update_contact(
                acme.id,
                sam.id,
                ContactPatch {
                    email: Some(Some(email("pat@example.com"))),
                    name: Some(Some(name("Not applied"))),
                    ..ContactPatch::default()
                },
            )
            .await,
        "email",
        "update to a taken email",
    );
    assert_eq!(
        store.get_contact(acme.id, sam.id).await.unwrap(),
        sam,
        "sam unchanged"
    );
    // Contacts without an email never conflict with each other.
    contact(&*store, acme.id, None, Some("Anon 2")).await;
    let elsewhere = contact(&*store, globex.id, Some("pat@example.com"), None).await;
    assert_eq!(
        elsewhere.email, pat.email,
        "the same email in another account is fine"
    );
    let all_acme = store
        .search_contacts(acme.id, ContactQuery::default(), all())
        .await
        .unwrap();
    assert_eq!(all_acme.items.len(), 4);
    assert!(all_acme.items.contains(&nobody));
}

type Call<'a> = BoxFuture<'a, StoreResult<()>>;

macro_rules! call {
    ($e:expr) => {
        Box::pin(async move { $e.await.map(|_| ()) }) as Call<'_>
    };
}

async fn references_to_nothing_are_invalid_naming_the_field(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let s: &dyn Store = &*store;
    let w = World::build(s, "acme").await;
    let before = w.snapshot(s).await;
    let a = w.account.id;
    let (agent, team, inbox, chat) = (w.agent.id, w.team.id, w.inbox.id, w.chat.id);
    let (contact, conv, ticket) = (w.contact.id, w.conversation.id, w.ticket.id);
    let (no_agent, no_team, no_inbox) = (AgentId::new(), TeamId::new(), InboxId::new());
    let (no_channel, no_contact, no_conv) =
        (ChannelId::new(), ContactId::new(), ConversationId::new());

    let cases: Vec<(&str, &str, Call<'_>)> = vec![
        (
            "create_team member",
            "member_ids",
            call!(s.create_team(a, name("X"), vec![agent, no_agent])),
        ),
        (
            "update_team member",
            "member_ids",
            call!(s.update_team(a, team, Some(name("Renamed")), Some(vec![no_agent]))),
        ),
        (
            "create_inbox member",
            "member_ids",
            call!(s.create_inbox(a, new_inbox("X", vec![no_agent]))),
        ),
        (
            "set_inbox_members member",
            "member_ids",
            call!(s.set_inbox_members(a, inbox, vec![agent, no_agent])),
        ),
        (
            "create_channel inbox",
            "inbox_id",
            call!(s.create_channel(a, new_channel(no_inbox, ChannelKind::Email))),
        ),
        (
            "update_channel inbox",
            "inbox_id",
            call!(s.update_channel(
                a,
                chat,
                ChannelPatch {
                    inbox_id: Some(no_inbox),
                    name: Some(name("Not applied")),
                    ..ChannelPatch::default()
                }
            )),
        ),
        (
            "create_chatflow channel",
            "channel_id",
            call!(s.create_chatflow(a, new_chatflow(no_channel, "X", 1))),
        ),
        (
            "create_contact owner",
            "owner_id",
            call!(s.create_contact(
                a,
                NewContact {
                    email: Some(email("new@example.com")),
                    owner_id: Some(no_agent),
                    ..NewContact::default()
                }
            )),
        ),
        (
            "update_contact owner",
            "owner_id",
            call!(s.update_contact(
                a,
                contact,
                ContactPatch {
                    owner_id: Some(Some(no_agent)),
                    name: Some(None),
                    ..ContactPatch::default()
                }
            )),
        ),
        (
            "merge_contacts with itself",
            "merged_id",
            call!(s.merge_contacts(a, contact, contact)),
        ),
        (
            "create_conversation channel",
            "channel_id",
            call!(s.create_conversation(a, new_conversation(no_channel, contact), Actor::System)),
        ),
        (
            "create_conversation contact",
            "contact_id",
            call!(s.create_conversation(a, new_conversation(chat, no_contact), Actor::System)),
        ),
        (
            "assign to no agent",
            "assignee_id",
            call!(s.change_conversation(
                a,
                conv,
                ConversationChange::Assign {
                    assignee_id: Some(no_agent),
                    team_id: Some(team)
                },
                Actor::System
            )),
        ),
        (
            "assign to no team",
            "team_id",
            call!(s.change_conversation(
                a,
                conv,
                ConversationChange::Assign {
                    assignee_id: Some(agent),
                    team_id: Some(no_team)
                },
                Actor::System
            )),
        ),
        (
            "create_ticket conversation",
            "conversation_id",
            call!(s.create_ticket(a, new_ticket(no_conv))),
        ),
        (
            "create_ticket owner",
            "owner_id",
            call!(s.create_ticket(
                a,
                NewTicket {
                    owner_id: Some(no_agent),
                    ..new_ticket(conv)
                }
            )),
        ),
        (
            "update_ticket owner",
            "owner_id",
            call!(s.update_ticket(
                a,
                ticket,
                TicketPatch {
                    owner_id: Some(Some(no_agent)),
                    stage: Some(TicketStage::Closed),
                    ..TicketPatch::default()
                }
            )),
        ),
    ];
    let mut failures = vec![];
    for (case, field, call) in cases {
        match call.await {
            Err(StoreError::Invalid { field: got, .. }) if got == field => {}
            other => failures.push(format!(
                "{case}: expected Invalid{{{field}}}, got {other:?}"
            )),
        }
    }
    let after = w.snapshot(s).await;
    if after != before {
        failures.push(format!(
            "refused calls wrote:\nbefore {before:#?}\nafter {after:#?}"
        ));
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

on_both_backends!(
    agent_email_is_unique_across_accounts,
    contact_email_is_unique_within_an_account,
    references_to_nothing_are_invalid_naming_the_field,
);
