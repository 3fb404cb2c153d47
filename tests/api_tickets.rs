//! The tickets API: tickets made from a conversation belong to its inbox; agents see and change
//! only their inboxes' tickets; every refusal names the field and writes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_fixtures;
mod common;

use api_fixtures::*;
use common::*;
use serde_json::{Value, json};

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {page}"))
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Every ticket of account A, as the store holds them.
async fn all_tickets(w: &World) -> Vec<Value> {
    w.app
        .store
        .list_tickets(
            w.account,
            Default::default(),
            parley::store::PageRequest {
                after: None,
                limit: 200,
            },
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|t| serde_json::to_value(t).unwrap())
        .collect()
}

async fn a_ticket_is_made_from_a_conversation(backend: Backend) {
    let w = World::new(backend).await;
    let created = w
        .app
        .post(
            "/api/v1/tickets",
            &w.member_token,
            json!({"conversation_id": w.conversation.id, "title": "Refund order 42",
                   "priority": "high", "owner_id": w.member.id}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let t = &created.body;
    assert_eq!(t["conversation_id"], json!(w.conversation.id));
    assert_eq!(t["inbox_id"], json!(w.inbox.id), "the conversation's inbox");
    assert_eq!(
        t["contact_id"],
        json!(w.contact.id),
        "the conversation's contact"
    );
    assert_eq!(t["title"], "Refund order 42");
    assert_eq!(t["priority"], "high");
    assert_eq!(t["stage"], "new");
    assert_eq!(t["owner_id"], json!(w.member.id));

    let defaults = w
        .app
        .post(
            "/api/v1/tickets",
            &w.member_token,
            json!({"conversation_id": w.conversation.id}),
        )
        .await;
    assert_eq!(defaults.status, 201, "{}", defaults.body);
    assert_eq!(defaults.body["priority"], "medium");
    assert_eq!(defaults.body["owner_id"], Value::Null);
    assert!(
        !defaults.body["title"].as_str().unwrap().is_empty(),
        "a title is always given"
    );

    let read = w
        .app
        .get(
            &format!("/api/v1/tickets/{}", t["id"].as_str().unwrap()),
            &w.member_token,
        )
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body, created.body);
}

async fn tickets_are_listed_by_filter_and_page(backend: Backend) {
    let w = World::new(backend).await;
    let make = |conversation: String, body: Value, token: String| {
        let w = &w;
        async move {
            let mut body = body;
            body["conversation_id"] = json!(conversation);
            let answer = w.app.post("/api/v1/tickets", &token, body).await;
            assert_eq!(answer.status, 201, "{}", answer.body);
            answer.body["id"].as_str().unwrap().to_owned()
        }
    };
    let c1 = w.conversation.id.to_string();
    let c2 = w.conversation2.id.to_string();
    let t1 = make(
        c1.clone(),
        json!({"priority": "low"}),
        w.member_token.clone(),
    )
    .await;
    let t2 = make(
        c2.clone(),
        json!({"priority": "urgent"}),
        w.outsider_token.clone(),
    )
    .await;
    let t3 = make(
        c1.clone(),
        json!({"owner_id": w.member.id}),
        w.member_token.clone(),
    )
    .await;
    let staged = w
        .app
        .patch(
            &format!("/api/v1/tickets/{t1}"),
            &w.member_token,
            json!({"stage": "waiting_on_contact"}),
        )
        .await;
    assert_eq!(staged.status, 200, "{}", staged.body);

    let a = &w.admin;
    #[rustfmt::skip]
    let cases: Vec<(&str, String, Vec<&String>)> = vec![
        ("everything", String::new(), vec![&t3, &t2, &t1]),
        ("by inbox", format!("inbox_id={}", w.inbox2.id), vec![&t2]),
        ("by stage", "stage=waiting_on_contact".into(), vec![&t1]),
        ("by priority", "priority=urgent".into(), vec![&t2]),
        ("by owner", format!("owner_id={}", w.member.id), vec![&t3]),
        ("by contact", format!("contact_id={}", w.contact.id), vec![&t3, &t2, &t1]),
        ("by conversation", format!("conversation_id={c1}"), vec![&t3, &t1]),
        ("combined", format!("conversation_id={c1}&priority=low"), vec![&t1]),
        ("nobody owns", "unowned=true".into(), vec![&t2, &t1]),
        ("unowned=false is no filter", "unowned=false".into(), vec![&t3, &t2, &t1]),
    ];
    for (case, query, expected) in cases {
        let page = w.app.get(&format!("/api/v1/tickets?{query}"), a).await;
        assert_eq!(page.status, 200, "{case}: {}", page.body);
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(ids(&page.body), expected, "{case}");
    }
    let members = w.app.get("/api/v1/tickets", &w.member_token).await;
    assert_eq!(
        ids(&members.body),
        vec![t3.clone(), t1.clone()],
        "a member sees only their inbox's tickets"
    );
    let theirs = w.app.get("/api/v1/tickets", &w.other.admin_token).await;
    assert_eq!(
        ids(&theirs.body),
        vec![w.other.ticket.id.to_string()],
        "accounts never see each other's tickets"
    );

    let mut seen = Vec::new();
    let mut path = "/api/v1/tickets?limit=2".to_owned();
    loop {
        let page = w.app.get(&path, a).await;
        assert!(ids(&page.body).len() <= 2);
        seen.extend(ids(&page.body));
        match page.body["next"].as_str() {
            Some(next) => path = format!("/api/v1/tickets?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, vec![t3, t2, t1], "all pages, each ticket once");
}

async fn a_ticket_is_changed_field_by_field(backend: Backend) {
    let w = World::new(backend).await;
    let created = w
        .app
        .post(
            "/api/v1/tickets",
            &w.member_token,
            json!({"conversation_id": w.conversation.id, "title": "Broken", "owner_id": w.member.id}),
        )
        .await;
    let path = format!("/api/v1/tickets/{}", created.body["id"].as_str().unwrap());

    let changed = w
        .app
        .patch(
            &path,
            &w.member_token,
            json!({"stage": "waiting_on_us", "priority": "urgent", "title": "Broken login"}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.body["stage"], "waiting_on_us");
    assert_eq!(changed.body["priority"], "urgent");
    assert_eq!(changed.body["title"], "Broken login");
    assert_eq!(changed.body["owner_id"], json!(w.member.id), "absent stays");

    let handed = w
        .app
        .patch(&path, &w.member_token, json!({"owner_id": w.app.admin.id}))
        .await;
    assert_eq!(handed.body["owner_id"], json!(w.app.admin.id));
    let cleared = w
        .app
        .patch(&path, &w.member_token, json!({"owner_id": null}))
        .await;
    assert_eq!(cleared.status, 200);
    assert_eq!(
        cleared.body["owner_id"],
        Value::Null,
        "null clears the owner"
    );
    let closed = w
        .app
        .patch(&path, &w.member_token, json!({"stage": "closed"}))
        .await;
    assert_eq!(closed.body["stage"], "closed");
    assert_eq!(closed.body["title"], "Broken login");
    let read = w.app.get(&path, &w.admin).await;
    assert_eq!(read.body, closed.body, "stored");
}

async fn non_members_can_neither_read_nor_change_a_ticket(backend: Backend) {
    let w = World::new(backend).await;
    let created = w
        .app
        .post(
            "/api/v1/tickets",
            &w.member_token,
            json!({"conversation_id": w.conversation.id}),
        )
        .await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let before = all_tickets(&w).await;
    let t = &w.outsider_token;
    let ticket = format!("/api/v1/tickets/{id}");
    let from_conversation = json!({"conversation_id": w.conversation.id});
    #[rustfmt::skip]
    let cases = [
        ("read", "GET", ticket.clone(), None),
        ("list by inbox", "GET", format!("/api/v1/tickets?inbox_id={}", w.inbox.id), None),
        ("create from the inbox's conversation", "POST", "/api/v1/tickets".to_owned(), Some(from_conversation)),
        ("change", "PATCH", ticket, Some(json!({"stage": "closed"}))),
    ];
    for (case, method, path, body) in cases {
        let forbidden = (403, "forbidden", None);
        expect_refusal(&w.app, t, (method, &path), case, body, forbidden).await;
    }
    let listed = w.app.get("/api/v1/tickets", t).await;
    assert_eq!(ids(&listed.body), Vec::<String>::new(), "not listed either");
    assert_eq!(all_tickets(&w).await, before, "nothing written");
}

async fn refused_ticket_requests_name_the_field_and_write_nothing(backend: Backend) {
    let w = World::new(backend).await;
    let created = w
        .app
        .post(
            "/api/v1/tickets",
            &w.member_token,
            json!({"conversation_id": w.conversation.id, "title": "Keep me"}),
        )
        .await;
    let ours = created.body["id"].as_str().unwrap().to_owned();
    let theirs = w.other.ticket.id;
    let unknown = uuid();
    let t = &w.member_token;
    let before = all_tickets(&w).await;
    let theirs_before = w
        .app
        .store
        .get_ticket(w.other.account, theirs)
        .await
        .unwrap();

    let create = ("POST", "/api/v1/tickets");
    let c = w.conversation.id;
    #[rustfmt::skip]
    let cases = [
        ("missing conversation", json!({"title": "X"}), bad("conversation_id")),
        ("conversation not an id", json!({"conversation_id": true}), bad("conversation_id")),
        ("unknown conversation", json!({"conversation_id": unknown}), bad("conversation_id")),
        ("another account's conversation", json!({"conversation_id": w.other.conversation.id}),
            bad("conversation_id")),
        ("title too long", json!({"conversation_id": c, "title": "t".repeat(121)}), bad("title")),
        ("unknown priority", json!({"conversation_id": c, "priority": "asap"}), bad("priority")),
        ("owner outside the inbox", json!({"conversation_id": c, "owner_id": w.outsider.id}), bad("owner_id")),
        ("another account's owner", json!({"conversation_id": c, "owner_id": w.other.admin.id}), bad("owner_id")),
    ];
    for (case, body, expect) in cases {
        expect_refusal(&w.app, t, create, case, Some(body), expect).await;
    }

    let path = format!("/api/v1/tickets/{ours}");
    #[rustfmt::skip]
    let cases = [
        ("title null", json!({"title": null}), bad("title")),
        ("blank title", json!({"title": "   "}), bad("title")),
        ("unknown stage", json!({"stage": "done"}), bad("stage")),
        ("priority of wrong type", json!({"priority": 3}), bad("priority")),
        ("owner outside the inbox", json!({"owner_id": w.outsider.id}), bad("owner_id")),
        ("unknown owner", json!({"owner_id": unknown}), bad("owner_id")),
    ];
    for (case, body, expect) in cases {
        expect_refusal(&w.app, t, ("PATCH", &path), case, Some(body), expect).await;
    }
    for (case, id, expect) in [
        ("unknown ticket", unknown.clone(), NOT_FOUND),
        ("another account's ticket", theirs.to_string(), NOT_FOUND),
        ("malformed id", "42".to_owned(), (400, "invalid_path", None)),
    ] {
        let path = format!("/api/v1/tickets/{id}");
        let body = Some(json!({"stage": "closed"}));
        expect_refusal(&w.app, t, ("PATCH", &path), case, body.clone(), expect).await;
        expect_refusal(&w.app, t, ("GET", &path), case, None, expect).await;
    }

    let bad_query = |field| (400, "invalid_query", Some(field));
    #[rustfmt::skip]
    let reads = [
        ("unknown stage", "/api/v1/tickets?stage=done".to_owned(), bad_query("stage")),
        ("bad owner id", "/api/v1/tickets?owner_id=me".to_owned(), bad_query("owner_id")),
        ("bad unowned", "/api/v1/tickets?unowned=maybe".to_owned(), bad_query("unowned")),
        ("unknown parameter", "/api/v1/tickets?prio=high".to_owned(), bad_query("prio")),
        ("another account's inbox", format!("/api/v1/tickets?inbox_id={}", w.other.inbox.id), NOT_FOUND),
    ];
    for (case, path, expect) in reads {
        expect_refusal(&w.app, t, ("GET", &path), case, None, expect).await;
    }

    // A body each route would accept, so that only the request's framing or credentials fail.
    #[rustfmt::skip]
    let writes = [
        ("POST", "/api/v1/tickets".to_owned(), json!({"conversation_id": w.conversation.id})),
        ("PATCH", format!("/api/v1/tickets/{ours}"), json!({"stage": "closed"})),
    ];
    let (browser, _csrf) = cookie_session(&w.app, "member@a.test").await;
    for (method, path, body) in &writes {
        refuses_bad_framing_and_credentials(
            &w.app,
            &w.member_token,
            &browser,
            (method, path),
            body,
        )
        .await;
    }
    for path in ["/api/v1/tickets", &format!("/api/v1/tickets/{ours}")] {
        refuses_anonymous_read(&w.app, path).await;
    }

    assert_eq!(all_tickets(&w).await, before, "our tickets unchanged");
    assert_eq!(
        w.app
            .store
            .get_ticket(w.other.account, theirs)
            .await
            .unwrap(),
        theirs_before,
        "their ticket unchanged"
    );
}

on_both_backends!(
    a_ticket_is_made_from_a_conversation,
    tickets_are_listed_by_filter_and_page,
    a_ticket_is_changed_field_by_field,
    non_members_can_neither_read_nor_change_a_ticket,
    refused_ticket_requests_name_the_field_and_write_nothing,
);
