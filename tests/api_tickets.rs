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
    let cases: Vec<(&str, String, Vec<&String>)> = vec![
        ("everything", String::new(), vec![&t3, &t2, &t1]),
        ("by inbox", format!("inbox_id={}", w.inbox2.id), vec![&t2]),
        ("by stage", "stage=waiting_on_contact".into(), vec![&t1]),
        ("by priority", "priority=urgent".into(), vec![&t2]),
        ("by owner", format!("owner_id={}", w.member.id), vec![&t3]),
        (
            "by contact",
            format!("contact_id={}", w.contact.id),
            vec![&t3, &t2, &t1],
        ),
        (
            "by conversation",
            format!("conversation_id={c1}"),
            vec![&t3, &t1],
        ),
        (
            "combined",
            format!("conversation_id={c1}&priority=low"),
            vec![&t1],
        ),
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
    let cases = [
        ("read", w.app.get(&format!("/api/v1/tickets/{id}"), t).await),
        (
            "list by inbox",
            w.app
                .get(&format!("/api/v1/tickets?inbox_id={}", w.inbox.id), t)
                .await,
        ),
        (
            "create from the inbox's conversation",
            w.app
                .post(
                    "/api/v1/tickets",
                    t,
                    json!({"conversation_id": w.conversation.id}),
                )
                .await,
        ),
        (
            "change",
            w.app
                .patch(
                    &format!("/api/v1/tickets/{id}"),
                    t,
                    json!({"stage": "closed"}),
                )
                .await,
        ),
    ];
    for (case, answer) in cases {
        assert_error(case, &answer, 403, "forbidden", None);
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

    // (case, method, path, body, status, code, field)
    let cases: Vec<(&str, &str, String, Value, u16, &str, Option<&str>)> = vec![
        (
            "create: missing conversation",
            "POST",
            "/api/v1/tickets".into(),
            json!({"title": "X"}),
            422,
            "invalid_field",
            Some("conversation_id"),
        ),
        (
            "create: conversation not an id",
            "POST",
            "/api/v1/tickets".into(),
            json!({"conversation_id": true}),
            422,
            "invalid_field",
            Some("conversation_id"),
        ),
        (
            "create: unknown conversation",
            "POST",
            "/api/v1/tickets".into(),
            json!({"conversation_id": unknown}),
            422,
            "invalid_field",
            Some("conversation_id"),
        ),
        (
            "create: another account's conversation",
            "POST",
            "/api/v1/tickets".into(),
            json!({"conversation_id": w.other.conversation.id}),
            422,
            "invalid_field",
            Some("conversation_id"),
        ),
        (
            "create: title too long",
            "POST",
            "/api/v1/tickets".into(),
            json!({"conversation_id": w.conversation.id, "title": "t".repeat(121)}),
            422,
            "invalid_field",
            Some("title"),
        ),
        (
            "create: unknown priority",
            "POST",
            "/api/v1/tickets".into(),
            json!({"conversation_id": w.conversation.id, "priority": "asap"}),
            422,
            "invalid_field",
            Some("priority"),
        ),
        (
            "create: owner outside the inbox",
            "POST",
            "/api/v1/tickets".into(),
            json!({"conversation_id": w.conversation.id, "owner_id": w.outsider.id}),
            422,
            "invalid_field",
            Some("owner_id"),
        ),
        (
            "create: another account's owner",
            "POST",
            "/api/v1/tickets".into(),
            json!({"conversation_id": w.conversation.id, "owner_id": w.other.admin.id}),
            422,
            "invalid_field",
            Some("owner_id"),
        ),
        (
            "patch: title null",
            "PATCH",
            format!("/api/v1/tickets/{ours}"),
            json!({"title": null}),
            422,
            "invalid_field",
            Some("title"),
        ),
        (
            "patch: blank title",
            "PATCH",
            format!("/api/v1/tickets/{ours}"),
            json!({"title": "   "}),
            422,
            "invalid_field",
            Some("title"),
        ),
        (
            "patch: unknown stage",
            "PATCH",
            format!("/api/v1/tickets/{ours}"),
            json!({"stage": "done"}),
            422,
            "invalid_field",
            Some("stage"),
        ),
        (
            "patch: priority of wrong type",
            "PATCH",
            format!("/api/v1/tickets/{ours}"),
            json!({"priority": 3}),
            422,
            "invalid_field",
            Some("priority"),
        ),
        (
            "patch: owner outside the inbox",
            "PATCH",
            format!("/api/v1/tickets/{ours}"),
            json!({"owner_id": w.outsider.id}),
            422,
            "invalid_field",
            Some("owner_id"),
        ),
        (
            "patch: unknown owner",
            "PATCH",
            format!("/api/v1/tickets/{ours}"),
            json!({"owner_id": unknown}),
            422,
            "invalid_field",
            Some("owner_id"),
        ),
        (
            "patch: unknown ticket",
            "PATCH",
            format!("/api/v1/tickets/{unknown}"),
            json!({"stage": "closed"}),
            404,
            "not_found",
            None,
        ),
        (
            "patch: another account's ticket",
            "PATCH",
            format!("/api/v1/tickets/{theirs}"),
            json!({"stage": "closed"}),
            404,
            "not_found",
            None,
        ),
        (
            "patch: malformed id",
            "PATCH",
            "/api/v1/tickets/42".into(),
            json!({"stage": "closed"}),
            400,
            "invalid_path",
            None,
        ),
    ];
    for (case, method, path, body, status, code, field) in cases {
        let answer = w.app.call(method, &path, Some(t), Some(body)).await;
        assert_error(case, &answer, status, code, field);
    }

    let reads = [
        (
            "read unknown",
            format!("/api/v1/tickets/{unknown}"),
            404,
            "not_found",
            None,
        ),
        (
            "read another account's",
            format!("/api/v1/tickets/{theirs}"),
            404,
            "not_found",
            None,
        ),
        (
            "list: unknown stage",
            "/api/v1/tickets?stage=done".to_owned(),
            400,
            "invalid_query",
            Some("stage"),
        ),
        (
            "list: bad owner id",
            "/api/v1/tickets?owner_id=me".to_owned(),
            400,
            "invalid_query",
            Some("owner_id"),
        ),
        (
            "list: unknown parameter",
            "/api/v1/tickets?prio=high".to_owned(),
            400,
            "invalid_query",
            Some("prio"),
        ),
        (
            "list: another account's inbox",
            format!("/api/v1/tickets?inbox_id={}", w.other.inbox.id),
            404,
            "not_found",
            None,
        ),
    ];
    for (case, path, status, code, field) in reads {
        let answer = w.app.get(&path, t).await;
        assert_error(case, &answer, status, code, field);
    }

    // A body each route would accept, so that only the request's framing or credentials fail.
    let writes = [
        (
            "POST",
            "/api/v1/tickets".to_owned(),
            json!({"conversation_id": w.conversation.id}),
        ),
        (
            "PATCH",
            format!("/api/v1/tickets/{ours}"),
            json!({"stage": "closed"}),
        ),
    ];
    let (browser, _csrf) = cookie_session(&w.app, "member@a.test").await;
    for (method, path, body) in &writes {
        let case = format!("{method} {path}");
        let malformed = raw(&w.app, method, path, t, "{'stage': 'closed'}").await;
        assert_error(
            &format!("{case}: malformed JSON"),
            &malformed,
            400,
            "malformed_json",
            None,
        );
        let huge = json!({"title": "x".repeat(OVERSIZE_BODY_BYTES)}).to_string();
        let oversize = raw(&w.app, method, path, t, huge).await;
        assert_error(
            &format!("{case}: oversize body"),
            &oversize,
            413,
            "payload_too_large",
            None,
        );
        let anonymous = w.app.call(method, path, None, Some(body.clone())).await;
        assert_error(
            &format!("{case}: no credentials"),
            &anonymous,
            401,
            "unauthenticated",
            None,
        );
        let bogus = w
            .app
            .call(method, path, Some("plt_bogus"), Some(body.clone()))
            .await;
        assert_error(
            &format!("{case}: unknown token"),
            &bogus,
            401,
            "unauthenticated",
            None,
        );
        let forged = without_csrf(&browser, &w.app, method, path, body.clone()).await;
        assert_error(
            &format!("{case}: cookie without CSRF token"),
            &forged,
            403,
            "csrf_failed",
            None,
        );
    }
    for path in [
        "/api/v1/tickets".to_owned(),
        format!("/api/v1/tickets/{ours}"),
    ] {
        let answer = w.app.call("GET", &path, None, None).await;
        assert_error(
            &format!("GET {path} anonymously"),
            &answer,
            401,
            "unauthenticated",
            None,
        );
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
