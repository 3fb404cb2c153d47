//! Keyset paging: newest first, `after` gives older rows, `next` only when more exist, and a
//! client paging while rows are inserted sees every row that existed once, in order.

use std::collections::HashSet;
use std::future::Future;

use parley::domain::*;
use parley::store::{MAX_PAGE_SIZE, Page, PageRequest, Store, StoreResult};
use uuid::Uuid;

use crate::common::*;
use crate::fixtures::*;

/// Pages through `list` with `limit`, calling `insert` between pages; returns the pages' ids.
async fn page_through<F, Fut, I, IFut>(list: F, limit: u32, mut insert: I) -> Vec<Vec<Uuid>>
where
    F: Fn(PageRequest) -> Fut,
    Fut: Future<Output = StoreResult<Page<Uuid>>>,
    I: FnMut() -> IFut,
    IFut: Future<Output = ()>,
{
    let mut pages = vec![];
    let mut after = None;
    loop {
        let page = list(PageRequest { after, limit }).await.unwrap();
        assert!(page.items.len() <= limit as usize, "page over the limit");
        if let Some(next) = page.next {
            assert_eq!(Some(&next), page.items.last(), "next is the last row's id");
        }
        pages.push(page.items);
        insert().await;
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
        assert!(pages.len() < 50, "paging does not end");
    }
    pages
}

fn check_pages(case: &str, pages: &[Vec<Uuid>], mut existing: Vec<Uuid>, limit: usize) {
    existing.sort();
    existing.reverse();
    let seen: Vec<Uuid> = pages.iter().flatten().copied().collect();
    let unique: HashSet<&Uuid> = seen.iter().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "{case}: a row seen twice: {pages:?}"
    );
    assert_eq!(
        seen, existing,
        "{case}: every pre-existing row once, newest first"
    );
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    let full = existing.len() / limit;
    let mut expected = vec![limit; full];
    if !existing.len().is_multiple_of(limit) {
        expected.push(existing.len() % limit);
    }
    assert_eq!(sizes, expected, "{case}: page sizes");
}

fn page_ids<T>(page: Page<T>, id: impl Fn(&T) -> Uuid) -> Page<Uuid> {
    Page {
        items: page.items.iter().map(id).collect(),
        next: page.next,
    }
}

async fn conversation_pages_are_stable_under_inserts(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let mut existing = vec![w.conversation.id.0];
    for _ in 0..7 {
        existing.push(conversation(&*store, a, w.chat.id, w.contact.id).await.id.0);
    }
    let s: &dyn Store = &*store;
    let list = |filter: fn() -> ConversationFilter| {
        move |page: PageRequest| async move {
            s.list_conversations(a, filter(), page)
                .await
                .map(|p| page_ids(p, |c| c.id.0))
        }
    };
    let insert = || async {
        for _ in 0..2 {
            conversation(s, a, w.chat.id, w.contact.id).await;
        }
    };
    let pages = page_through(list(ConversationFilter::default), 3, insert).await;
    check_pages("conversations, no filter", &pages, existing.clone(), 3);

    // Same under a filter the inserted rows also match.
    let existing_open: Vec<Uuid> = s
        .list_conversations(a, ConversationFilter::default(), all())
        .await
        .unwrap()
        .items
        .iter()
        .map(|c| c.id.0)
        .collect();
    let open = || ConversationFilter {
        status: Some(ConversationStatus::Open),
        ..ConversationFilter::default()
    };
    let pages = page_through(list(open), 4, insert).await;
    check_pages("open conversations", &pages, existing_open, 4);
}

async fn contact_pages_are_stable_under_inserts(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let a = acme.id;
    let s: &dyn Store = &*store;
    let mut existing = vec![];
    for i in 0..10 {
        let address = format!("c{i}@acme.test");
        existing.push(contact(s, a, Some(&address), Some("Customer")).await.id.0);
    }
    let counter = std::cell::Cell::new(0);
    let insert = || {
        counter.set(counter.get() + 1);
        let n = counter.get();
        async move {
            let address = format!("new{n}@acme.test");
            contact(s, a, Some(&address), Some("Customer")).await;
        }
    };
    let list = |query: ContactQuery| {
        move |page: PageRequest| {
            let query = query.clone();
            async move {
                s.search_contacts(a, query, page)
                    .await
                    .map(|p| page_ids(p, |c| c.id.0))
            }
        }
    };
    let pages = page_through(list(ContactQuery::default()), 3, insert).await;
    check_pages("contacts, no query", &pages, existing.clone(), 3);

    let existing_now: Vec<Uuid> = s
        .search_contacts(a, ContactQuery::default(), all())
        .await
        .unwrap()
        .items
        .iter()
        .map(|c| c.id.0)
        .collect();
    let customers = ContactQuery {
        name: Some("custom".into()),
        query: Some("acme".into()),
        ..ContactQuery::default()
    };
    let pages = page_through(list(customers), 4, insert).await;
    check_pages("contacts matching a query", &pages, existing_now, 4);
}

async fn ticket_pages_are_stable_under_inserts(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let s: &dyn Store = &*store;
    let mut existing = vec![w.ticket.id.0];
    for _ in 0..6 {
        existing.push(
            s.create_ticket(a, new_ticket(w.conversation.id))
                .await
                .unwrap()
                .id
                .0,
        );
    }
    let insert = || async {
        s.create_ticket(a, new_ticket(w.conversation.id))
            .await
            .unwrap();
    };
    let list = |page: PageRequest| async move {
        s.list_tickets(a, TicketFilter::default(), page)
            .await
            .map(|p| page_ids(p, |t| t.id.0))
    };
    let pages = page_through(list, 2, insert).await;
    check_pages("tickets", &pages, existing, 2);
}

async fn next_is_absent_when_the_page_ends_exactly(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let a = acme.id;
    let mut made = vec![];
    for i in 0..6 {
        made.push(contact(&*store, a, None, Some(&format!("C{i}"))).await.id.0);
    }
    made.reverse();
    let list = |after: Option<Uuid>, limit: u32| {
        let store = store.clone();
        async move {
            store
                .search_contacts(a, ContactQuery::default(), PageRequest { after, limit })
                .await
                .map(|p| page_ids(p, |c| c.id.0))
                .unwrap()
        }
    };
    let first = list(None, 3).await;
    assert_eq!(first.items, made[..3]);
    assert_eq!(first.next, Some(made[2]), "more rows exist");
    let second = list(first.next, 3).await;
    assert_eq!(second.items, made[3..]);
    assert_eq!(second.next, None, "the last three rows are the last page");

    let all_at_once = list(None, 6).await;
    assert_eq!((all_at_once.items.len(), all_at_once.next), (6, None));
    let cases = [
        (
            "after the greatest uuid: everything",
            Some(Uuid::max()),
            50,
            made.clone(),
        ),
        ("after the nil uuid: nothing", Some(Uuid::nil()), 50, vec![]),
        (
            "after an id that is no row",
            Some(Uuid::now_v7()),
            50,
            made.clone(),
        ),
        ("limit 0 is one row", None, 0, made[..1].to_vec()),
    ];
    for (case, after, limit, expected) in cases {
        assert_eq!(list(after, limit).await.items, expected, "{case}");
    }
}

async fn page_size_is_clamped(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let a = acme.id;
    for _ in 0..(MAX_PAGE_SIZE + 1) {
        store
            .create_contact(a, NewContact::default())
            .await
            .unwrap();
    }
    let page = store
        .search_contacts(
            a,
            ContactQuery::default(),
            PageRequest {
                after: None,
                limit: 100_000,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), MAX_PAGE_SIZE as usize);
    assert_eq!(page.next, Some(page.items.last().unwrap().id.0));
    let rest = store
        .search_contacts(
            a,
            ContactQuery::default(),
            PageRequest {
                after: page.next,
                limit: 100_000,
            },
        )
        .await
        .unwrap();
    assert_eq!((rest.items.len(), rest.next), (1, None));
}

on_both_backends!(
    conversation_pages_are_stable_under_inserts,
    contact_pages_are_stable_under_inserts,
    ticket_pages_are_stable_under_inserts,
    next_is_absent_when_the_page_ends_exactly,
    page_size_is_clamped,
);

#[test]
fn clamped_limit_is_between_one_and_max_page_size() {
    let cases = [
        (0, 1),
        (1, 1),
        (50, 50),
        (MAX_PAGE_SIZE, MAX_PAGE_SIZE),
        (100_000, MAX_PAGE_SIZE),
    ];
    for (limit, expected) in cases {
        let page = PageRequest { after: None, limit };
        assert_eq!(page.clamped_limit(), expected, "limit {limit}");
    }
}
