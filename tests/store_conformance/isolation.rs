//! Tenant isolation: every trait method that takes an account, called as account B with ids of
//! account A, answers NotFound (or Invalid for a reference in new input, or an empty list), and
//! leaves both accounts' rows exactly as they were. The two accounts hold look-alike data (same
//! names, same contact email), so a query that forgets the account filter finds the wrong row.

use futures_util::future::BoxFuture;
use parley::domain::*;
use parley::store::{Page, Store, StoreError, StoreResult};
use serde_json::json;
use uuid::Uuid;

use crate::common::*;
use crate::fixtures::*;

/// What a refused call must answer.
#[derive(Debug, Clone, Copy)]
enum Want {
    NotFound,
    /// A reference in the input that is not in the account.
    Invalid(&'static str),
}

fn judge(want: Want, got: &StoreResult<()>) -> bool {
    match (want, got) {
        (Want::NotFound, Err(StoreError::NotFound { .. })) => true,
        (Want::Invalid(f), Err(StoreError::Invalid { field, .. })) => *field == f,
        _ => false,
    }
}

type Call<'a> = BoxFuture<'a, StoreResult<()>>;
type Listing<'a> = BoxFuture<'a, StoreResult<Vec<Uuid>>>;

macro_rules! call {
    ($e:expr) => {
        Box::pin(async move { $e.await.map(|_| ()) }) as Call<'_>
    };
}

macro_rules! listing {
    ($e:expr) => {
        Box::pin(async move { $e.await.map(|rows| rows.row_ids()) }) as Listing<'_>
    };
}

/// The ids of what a list method returns, whether a `Vec` or a `Page`.
trait RowIds {
    fn row_ids(&self) -> Vec<Uuid>;
}

macro_rules! row_ids {
    ($($t:ty),*) => {$(
        impl RowIds for Vec<$t> {
            fn row_ids(&self) -> Vec<Uuid> {
                self.iter().map(|r| r.id.0).collect()
            }
        }
        impl RowIds for Page<$t> {
            fn row_ids(&self) -> Vec<Uuid> {
                self.items.row_ids()
            }
        }
    )*};
}

row_ids!(Agent, Team, Inbox, Channel, Contact, Conversation, Ticket);

async fn no_method_reaches_another_accounts_rows(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let s: &dyn Store = &*store;
    let wa = World::build(s, "a").await;
    let wb = World::build(s, "b").await;
    let before_a = wa.snapshot(s).await;
    let before_b = wb.snapshot(s).await;

    let b = wb.account.id;
    let (a_admin, a_agent, a_team, a_inbox) = (wa.admin.id, wa.agent.id, wa.team.id, wa.inbox.id);
    let (a_chat, a_flow, a_contact, a_conv) = (
        wa.chat.id,
        wa.chatflow.id,
        wa.contact.id,
        wa.conversation.id,
    );
    let (a_ticket, a_token) = (wa.ticket.id, wa.token.id);
    let (b_agent, b_team, b_inbox, b_chat) = (wb.agent.id, wb.team.id, wb.inbox.id, wb.chat.id);
    let (b_contact, b_conv, b_ticket) = (wb.contact.id, wb.conversation.id, wb.ticket.id);

    use Want::*;
    let cases: Vec<(&str, Want, Call<'_>)> = vec![
        ("get_agent", NotFound, call!(s.get_agent(b, a_agent))),
        (
            "update_agent",
            NotFound,
            call!(s.update_agent(
                b,
                a_agent,
                AgentPatch {
                    display_name: Some(name("Hijacked")),
                    active: Some(false),
                    ..AgentPatch::default()
                }
            )),
        ),
        (
            "create_api_token for A's agent",
            Invalid("agent_id"),
            call!(s.create_api_token(b, a_admin, name("Steal"), "f".repeat(64))),
        ),
        (
            "delete_api_token",
            NotFound,
            call!(s.delete_api_token(b, a_token)),
        ),
        ("get_team", NotFound, call!(s.get_team(b, a_team))),
        (
            "update_team",
            NotFound,
            call!(s.update_team(b, a_team, Some(name("X")), Some(vec![b_agent]))),
        ),
        ("delete_team", NotFound, call!(s.delete_team(b, a_team))),
        (
            "create_team with A's agent",
            Invalid("member_ids"),
            call!(s.create_team(b, name("X"), vec![b_agent, a_agent])),
        ),
        (
            "update_team of B with A's agent",
            Invalid("member_ids"),
            call!(s.update_team(b, b_team, None, Some(vec![a_agent]))),
        ),
        ("get_inbox", NotFound, call!(s.get_inbox(b, a_inbox))),
        (
            "update_inbox",
            NotFound,
            call!(s.update_inbox(
                b,
                a_inbox,
                InboxPatch {
                    name: Some(name("X")),
                    ..InboxPatch::default()
                }
            )),
        ),
        (
            "set_inbox_members of A's inbox",
            NotFound,
            call!(s.set_inbox_members(b, a_inbox, vec![b_agent])),
        ),
        ("delete_inbox", NotFound, call!(s.delete_inbox(b, a_inbox))),
        (
            "create_inbox with A's agent",
            Invalid("member_ids"),
            call!(s.create_inbox(b, new_inbox("X", vec![a_agent]))),
        ),
        (
            "set_inbox_members of B's inbox with A's agent",
            Invalid("member_ids"),
            call!(s.set_inbox_members(b, b_inbox, vec![b_agent, a_agent])),
        ),
        (
            "create_channel in A's inbox",
            Invalid("inbox_id"),
            call!(s.create_channel(b, new_channel(a_inbox, ChannelKind::Chat))),
        ),
        ("get_channel", NotFound, call!(s.get_channel(b, a_chat))),
        (
            "update_channel",
            NotFound,
            call!(s.update_channel(
                b,
                a_chat,
                ChannelPatch {
                    name: Some(name("X")),
                    ..ChannelPatch::default()
                }
            )),
        ),
        (
            "update_channel of B into A's inbox",
            Invalid("inbox_id"),
            call!(s.update_channel(
                b,
                b_chat,
                ChannelPatch {
                    inbox_id: Some(a_inbox),
                    ..ChannelPatch::default()
                }
            )),
        ),
        (
            "delete_channel",
            NotFound,
            call!(s.delete_channel(b, a_chat)),
        ),
        (
            "create_chatflow on A's channel",
            Invalid("channel_id"),
            call!(s.create_chatflow(b, new_chatflow(a_chat, "X", 1))),
        ),
        ("get_chatflow", NotFound, call!(s.get_chatflow(b, a_flow))),
        (
            "update_chatflow",
            NotFound,
            call!(s.update_chatflow(
                b,
                a_flow,
                ChatflowPatch {
                    flow: Some(Some(json!({"steps": []}))),
                    ..ChatflowPatch::default()
                }
            )),
        ),
        (
            "delete_chatflow",
            NotFound,
            call!(s.delete_chatflow(b, a_flow)),
        ),
        (
            "list_chatflows of A's channel",
            NotFound,
            call!(s.list_chatflows(b, a_chat)),
        ),
        (
            "create_contact owned by A's agent",
            Invalid("owner_id"),
            call!(s.create_contact(
                b,
                NewContact {
                    owner_id: Some(a_agent),
                    ..NewContact::default()
                }
            )),
        ),
        ("get_contact", NotFound, call!(s.get_contact(b, a_contact))),
        (
            "update_contact",
            NotFound,
            call!(s.update_contact(
                b,
                a_contact,
                ContactPatch {
                    name: Some(None),
                    properties: Some(object(json!({"plan": null}))),
                    ..ContactPatch::default()
                }
            )),
        ),
        (
            "update_contact of B owned by A's agent",
            Invalid("owner_id"),
            call!(s.update_contact(
                b,
                b_contact,
                ContactPatch {
                    owner_id: Some(Some(a_agent)),
                    ..ContactPatch::default()
                }
            )),
        ),
        (
            "merge_contacts, A's contact merged into B's",
            NotFound,
            call!(s.merge_contacts(b, b_contact, a_contact)),
        ),
        (
            "merge_contacts, B's contact merged into A's",
            NotFound,
            call!(s.merge_contacts(b, a_contact, b_contact)),
        ),
        (
            "create_conversation on A's channel",
            Invalid("channel_id"),
            call!(s.create_conversation(b, new_conversation(a_chat, b_contact), Actor::System)),
        ),
        (
            "create_conversation with A's contact",
            Invalid("contact_id"),
            call!(s.create_conversation(b, new_conversation(b_chat, a_contact), Actor::System)),
        ),
        (
            "get_conversation",
            NotFound,
            call!(s.get_conversation(b, a_conv)),
        ),
        (
            "change_conversation status",
            NotFound,
            call!(s.change_conversation(
                b,
                a_conv,
                ConversationChange::Status(ConversationStatus::Closed),
                Actor::Agent(b_agent)
            )),
        ),
        (
            "change_conversation assign",
            NotFound,
            call!(s.change_conversation(
                b,
                a_conv,
                ConversationChange::Assign {
                    assignee_id: Some(b_agent),
                    team_id: None
                },
                Actor::System
            )),
        ),
        (
            "assign B's conversation to A's agent",
            Invalid("assignee_id"),
            call!(s.change_conversation(
                b,
                b_conv,
                ConversationChange::Assign {
                    assignee_id: Some(a_agent),
                    team_id: None
                },
                Actor::System
            )),
        ),
        (
            "assign B's conversation to A's team",
            Invalid("team_id"),
            call!(s.change_conversation(
                b,
                b_conv,
                ConversationChange::Assign {
                    assignee_id: None,
                    team_id: Some(a_team)
                },
                Actor::System
            )),
        ),
        (
            "append_item",
            NotFound,
            call!(s.append_item(b, a_conv, message(Direction::Out, "x", Actor::Bot))),
        ),
        (
            "list_items of A's conversation",
            NotFound,
            call!(s.list_items(b, a_conv, 0, 200)),
        ),
        (
            "append_item with A's item's client id",
            NotFound,
            call!(s.append_item(
                b,
                a_conv,
                NewItem {
                    client_id: wa.item.client_id,
                    ..message(Direction::In, "x", Actor::Bot)
                }
            )),
        ),
        (
            "create_ticket from A's conversation",
            Invalid("conversation_id"),
            call!(s.create_ticket(b, new_ticket(a_conv))),
        ),
        (
            "create_ticket owned by A's agent",
            Invalid("owner_id"),
            call!(s.create_ticket(
                b,
                NewTicket {
                    owner_id: Some(a_agent),
                    ..new_ticket(b_conv)
                }
            )),
        ),
        ("get_ticket", NotFound, call!(s.get_ticket(b, a_ticket))),
        (
            "update_ticket",
            NotFound,
            call!(s.update_ticket(
                b,
                a_ticket,
                TicketPatch {
                    stage: Some(TicketStage::Closed),
                    ..TicketPatch::default()
                }
            )),
        ),
        (
            "update_ticket of B owned by A's agent",
            Invalid("owner_id"),
            call!(s.update_ticket(
                b,
                b_ticket,
                TicketPatch {
                    owner_id: Some(Some(a_agent)),
                    ..TicketPatch::default()
                }
            )),
        ),
    ];
    let mut failures = vec![];
    for (case, want, call) in cases {
        let got = call.await;
        if !judge(want, &got) {
            failures.push(format!("{case}: expected {want:?}, got {got:?}"));
        }
    }

    // Lists: B sees exactly its own rows, never A's, whatever ids of A it filters by.
    let cf = ConversationFilter::default;
    let tf = TicketFilter::default;
    let by_email = ContactQuery {
        email: Some(email("pat@example.com")),
        ..ContactQuery::default()
    };
    let by_words = ContactQuery {
        query: Some("555".into()),
        name: Some("pat".into()),
        ..ContactQuery::default()
    };
    let b_ids = wb.ids();
    let mut listings: Vec<(String, Listing<'_>, Vec<Uuid>)> = vec![
        (
            "list_agents".into(),
            listing!(s.list_agents(b)),
            vec![wb.admin.id.0, wb.agent.id.0],
        ),
        (
            // Only ever asked for the signed-in agent: NotFound or an empty list both do.
            "list_api_tokens of A's agent".into(),
            Box::pin(async move {
                match s.list_api_tokens(b, a_admin).await {
                    Err(StoreError::NotFound { .. }) => Ok(vec![]),
                    other => other.map(|tokens| tokens.iter().map(|t| t.id.0).collect()),
                }
            }),
            vec![],
        ),
        (
            "list_teams".into(),
            listing!(s.list_teams(b)),
            vec![wb.team.id.0],
        ),
        (
            "list_inboxes".into(),
            listing!(s.list_inboxes(b, None)),
            vec![wb.inbox.id.0],
        ),
        (
            "list_inboxes of A's agent".into(),
            listing!(s.list_inboxes(b, Some(a_agent))),
            vec![],
        ),
        (
            "list_channels".into(),
            listing!(s.list_channels(b, None)),
            vec![wb.chat.id.0, wb.email.id.0],
        ),
        (
            "list_channels of A's inbox".into(),
            listing!(s.list_channels(b, Some(a_inbox))),
            vec![],
        ),
        (
            "search_contacts, everything".into(),
            listing!(s.search_contacts(b, ContactQuery::default(), all())),
            vec![wb.contact.id.0],
        ),
        (
            "search_contacts by an email both accounts hold".into(),
            listing!(s.search_contacts(b, by_email, all())),
            vec![wb.contact.id.0],
        ),
        (
            "search_contacts by name and query".into(),
            listing!(s.search_contacts(b, by_words, all())),
            vec![wb.contact.id.0],
        ),
        (
            "list_conversations".into(),
            listing!(s.list_conversations(b, cf(), all())),
            vec![wb.conversation.id.0],
        ),
        (
            "list_tickets".into(),
            listing!(s.list_tickets(b, tf(), all())),
            vec![wb.ticket.id.0],
        ),
        (
            "ids named by list_events that are not B's".into(),
            Box::pin(async {
                s.list_events(b, 0, 200).await.map(|events| {
                    events
                        .iter()
                        .flat_map(|e| {
                            [
                                e.inbox_id.map(|x| x.0),
                                e.conversation_id.map(|x| x.0),
                                e.agent_id.map(|x| x.0),
                            ]
                        })
                        .flatten()
                        .filter(|id| !b_ids.contains(id))
                        .collect()
                })
            }),
            vec![],
        ),
    ];
    let conv_filters = [
        (
            "inbox_id",
            ConversationFilter {
                inbox_id: Some(a_inbox),
                ..cf()
            },
        ),
        (
            "visible_inboxes",
            ConversationFilter {
                visible_inboxes: Some(vec![a_inbox]),
                ..cf()
            },
        ),
        (
            "channel_id",
            ConversationFilter {
                channel_id: Some(a_chat),
                ..cf()
            },
        ),
        (
            "contact_id",
            ConversationFilter {
                contact_id: Some(a_contact),
                ..cf()
            },
        ),
        (
            "assignee_id",
            ConversationFilter {
                assignee_id: Some(a_agent),
                ..cf()
            },
        ),
        (
            "team_id",
            ConversationFilter {
                team_id: Some(a_team),
                ..cf()
            },
        ),
    ];
    let ticket_filters = [
        (
            "inbox_id",
            TicketFilter {
                inbox_id: Some(a_inbox),
                ..tf()
            },
        ),
        (
            "visible_inboxes",
            TicketFilter {
                visible_inboxes: Some(vec![a_inbox]),
                ..tf()
            },
        ),
        (
            "owner_id",
            TicketFilter {
                owner_id: Some(a_agent),
                ..tf()
            },
        ),
        (
            "contact_id",
            TicketFilter {
                contact_id: Some(a_contact),
                ..tf()
            },
        ),
        (
            "conversation_id",
            TicketFilter {
                conversation_id: Some(a_conv),
                ..tf()
            },
        ),
    ];
    for (field, filter) in conv_filters {
        listings.push((
            format!("list_conversations by A's {field}"),
            listing!(s.list_conversations(b, filter, all())),
            vec![],
        ));
    }
    for (field, filter) in ticket_filters {
        listings.push((
            format!("list_tickets by A's {field}"),
            listing!(s.list_tickets(b, filter, all())),
            vec![],
        ));
    }
    let a_ids = wa.ids();
    for (case, listing, mut expected) in listings {
        match listing.await {
            Ok(mut got) => {
                if got.iter().any(|id| a_ids.contains(id)) {
                    failures.push(format!("{case}: lists a row of account A: {got:?}"));
                }
                got.sort();
                expected.sort();
                if got != expected {
                    failures.push(format!(
                        "{case}: expected B's rows {expected:?}, got {got:?}"
                    ));
                }
            }
            Err(e) => failures.push(format!("{case}: failed: {e:?}")),
        }
    }

    let after_a = wa.snapshot(s).await;
    let after_b = wb.snapshot(s).await;
    if after_a != before_a {
        failures.push(format!(
            "account A changed:\nbefore {before_a:#?}\nafter {after_a:#?}"
        ));
    }
    if after_b != before_b {
        failures.push(format!(
            "account B changed by refused calls:\nbefore {before_b:#?}\nafter {after_b:#?}"
        ));
    }
    assert!(
        failures.is_empty(),
        "{} isolation failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

async fn account_scoped_lookups_by_digest_or_email_still_name_the_right_account(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let s: &dyn Store = &*store;
    let wa = World::build(s, "a").await;
    let wb = World::build(s, "b").await;
    for w in [&wa, &wb] {
        let (token, agent) = s.find_api_token(&w.token_hash).await.unwrap().unwrap();
        assert_eq!(
            (token.account_id, agent.account_id),
            (w.account.id, w.account.id)
        );
        let (session, agent) = s
            .find_session(&w.session_hash, now_micros())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((session.account_id, agent.id), (w.account.id, w.admin.id));
        let login = s.find_login(&w.agent.email).await.unwrap().unwrap();
        assert_eq!(login.agent.account_id, w.account.id);
    }
    // Tokens of an agent of another account: none shown, though that agent has tokens.
    match s.list_api_tokens(wb.account.id, wa.admin.id).await {
        Ok(tokens) => assert!(tokens.is_empty(), "{tokens:?}"),
        other => assert_not_found(other, "list_api_tokens of another account's agent"),
    }
}

on_both_backends!(
    no_method_reaches_another_accounts_rows,
    account_scoped_lookups_by_digest_or_email_still_name_the_right_account,
);
