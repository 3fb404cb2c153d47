//! Tickets: created from a conversation (inbox, contact, default title), patched, listed.

use parley::domain::*;

use crate::common::*;
use crate::fixtures::*;

async fn creates_a_ticket_from_a_conversation(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let ticket = store
        .create_ticket(
            a,
            NewTicket {
                conversation_id: w.conversation.id,
                title: Some(name("Refund")),
                priority: TicketPriority::High,
                owner_id: Some(w.admin.id),
            },
        )
        .await
        .unwrap();
    assert_eq!(ticket.account_id, a);
    assert_eq!(
        ticket.inbox_id, w.conversation.inbox_id,
        "the conversation's inbox"
    );
    assert_eq!(ticket.conversation_id, Some(w.conversation.id));
    assert_eq!(
        ticket.contact_id,
        Some(w.conversation.contact_id),
        "its contact"
    );
    assert_eq!(ticket.title, "Refund");
    assert_eq!(ticket.stage, TicketStage::New, "a new ticket");
    assert_eq!(ticket.priority, TicketPriority::High);
    assert_eq!(ticket.owner_id, Some(w.admin.id));
    assert_eq!(store.get_ticket(a, ticket.id).await.unwrap(), ticket);
    assert_not_found(store.get_ticket(a, TicketId::new()).await, "unknown ticket");
}

async fn ticket_title_defaults_from_the_conversation(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let untitled = NewTicket {
        title: None,
        ..new_ticket(w.conversation.id)
    };
    let from_subject = store.create_ticket(a, untitled).await.unwrap();
    assert_eq!(
        from_subject.title, "Order question",
        "the conversation's subject"
    );
    let no_subject = conversation(&*store, a, w.chat.id, w.contact.id).await;
    let fallback = store
        .create_ticket(
            a,
            NewTicket {
                title: None,
                ..new_ticket(no_subject.id)
            },
        )
        .await
        .unwrap();
    assert_eq!(
        fallback.title, "Conversation with Pat Doe",
        "a conversation without a subject gives a title naming the contact"
    );
}

async fn updates_every_ticket_field(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let admin = w.admin.id;
    let mut expected = w.ticket.clone();
    let steps: Vec<PatchStep<TicketPatch, Ticket>> = vec![
        (
            "title",
            TicketPatch {
                title: Some(name("Refund, second try")),
                ..TicketPatch::default()
            },
            Box::new(|t| t.title = "Refund, second try".into()),
        ),
        (
            "stage",
            TicketPatch {
                stage: Some(TicketStage::WaitingOnContact),
                ..TicketPatch::default()
            },
            Box::new(|t| t.stage = TicketStage::WaitingOnContact),
        ),
        (
            "priority",
            TicketPatch {
                priority: Some(TicketPriority::Urgent),
                ..TicketPatch::default()
            },
            Box::new(|t| t.priority = TicketPriority::Urgent),
        ),
        (
            "owner changed",
            TicketPatch {
                owner_id: Some(Some(admin)),
                ..TicketPatch::default()
            },
            Box::new(move |t| t.owner_id = Some(admin)),
        ),
        ("nothing", TicketPatch::default(), Box::new(|_| {})),
        (
            "owner cleared",
            TicketPatch {
                owner_id: Some(None),
                ..TicketPatch::default()
            },
            Box::new(|t| t.owner_id = None),
        ),
        (
            "closed",
            TicketPatch {
                stage: Some(TicketStage::Closed),
                ..TicketPatch::default()
            },
            Box::new(|t| t.stage = TicketStage::Closed),
        ),
    ];
    for (case, patch, apply) in steps {
        apply(&mut expected);
        let updated = store.update_ticket(a, w.ticket.id, patch).await.unwrap();
        assert!(
            updated.updated_at >= expected.updated_at,
            "{case}: updated_at"
        );
        expected.updated_at = updated.updated_at;
        assert_eq!(updated, expected, "update_ticket: {case}");
        assert_eq!(
            store.get_ticket(a, w.ticket.id).await.unwrap(),
            expected,
            "get_ticket after {case}"
        );
    }
    assert_eq!(expected.created_at, w.ticket.created_at);
    assert_not_found(
        store
            .update_ticket(a, TicketId::new(), TicketPatch::default())
            .await,
        "update of an unknown ticket",
    );
}

async fn lists_tickets_with_every_filter(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let a = acme.id;
    let ann = agent(&*store, a, "ann@acme.test").await.id;
    let sales = inbox(&*store, a, "Sales").await.id;
    let support = inbox(&*store, a, "Support").await.id;
    let chat = channel(&*store, a, sales, ChannelKind::Chat).await.id;
    let form = channel(&*store, a, support, ChannelKind::Form).await.id;
    let k1 = contact(&*store, a, None, Some("K1")).await.id;
    let k2 = contact(&*store, a, None, Some("K2")).await.id;
    let c1 = conversation(&*store, a, chat, k1).await.id;
    let c2 = conversation(&*store, a, form, k2).await.id;
    let c3 = conversation(&*store, a, form, k1).await.id;

    use TicketPriority::*;
    use TicketStage::*;
    let specs = [
        (c1, Low, None, New),
        (c2, High, Some(ann), WaitingOnUs),
        (c3, High, None, Closed),
        (c1, Urgent, Some(ann), New),
    ];
    let mut t = vec![];
    for (conversation_id, priority, owner_id, stage) in specs {
        let ticket = store
            .create_ticket(
                a,
                NewTicket {
                    conversation_id,
                    title: Some(name("T")),
                    priority,
                    owner_id,
                },
            )
            .await
            .unwrap();
        let ticket = store
            .update_ticket(
                a,
                ticket.id,
                TicketPatch {
                    stage: Some(stage),
                    ..TicketPatch::default()
                },
            )
            .await
            .unwrap();
        t.push(ticket);
    }
    let f = TicketFilter::default;
    let cases: Vec<(&str, TicketFilter, Vec<usize>)> = vec![
        ("no filter", f(), vec![3, 2, 1, 0]),
        (
            "visible_inboxes [sales]",
            TicketFilter {
                visible_inboxes: Some(vec![sales]),
                ..f()
            },
            vec![3, 0],
        ),
        (
            "visible_inboxes []",
            TicketFilter {
                visible_inboxes: Some(vec![]),
                ..f()
            },
            vec![],
        ),
        (
            "inbox_id support",
            TicketFilter {
                inbox_id: Some(support),
                ..f()
            },
            vec![2, 1],
        ),
        (
            "stage new",
            TicketFilter {
                stage: Some(New),
                ..f()
            },
            vec![3, 0],
        ),
        (
            "priority high",
            TicketFilter {
                priority: Some(High),
                ..f()
            },
            vec![2, 1],
        ),
        (
            "owner ann",
            TicketFilter {
                owner_id: Some(ann),
                ..f()
            },
            vec![3, 1],
        ),
        (
            "contact k1",
            TicketFilter {
                contact_id: Some(k1),
                ..f()
            },
            vec![3, 2, 0],
        ),
        (
            "conversation c1",
            TicketFilter {
                conversation_id: Some(c1),
                ..f()
            },
            vec![3, 0],
        ),
        (
            "contact k1 and priority high",
            TicketFilter {
                contact_id: Some(k1),
                priority: Some(High),
                ..f()
            },
            vec![2],
        ),
        (
            "every filter at once",
            TicketFilter {
                visible_inboxes: Some(vec![sales, support]),
                inbox_id: Some(sales),
                stage: Some(New),
                priority: Some(Urgent),
                owner_id: Some(ann),
                contact_id: Some(k1),
                conversation_id: Some(c1),
                unowned: false,
            },
            vec![3],
        ),
        (
            "unowned",
            TicketFilter {
                unowned: true,
                ..f()
            },
            vec![2, 0],
        ),
        (
            "unowned in support",
            TicketFilter {
                unowned: true,
                inbox_id: Some(support),
                ..f()
            },
            vec![2],
        ),
    ];
    for (case, filter, expected) in cases {
        let page = store.list_tickets(a, filter, all()).await.unwrap();
        let expected: Vec<Ticket> = expected.iter().map(|&i| t[i].clone()).collect();
        assert_eq!(page.items, expected, "list_tickets: {case} (newest first)");
        assert_eq!(page.next, None, "{case}: one page");
    }
}

on_both_backends!(
    creates_a_ticket_from_a_conversation,
    ticket_title_defaults_from_the_conversation,
    updates_every_ticket_field,
    lists_tickets_with_every_filter,
);
