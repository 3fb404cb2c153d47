//! The conversations and timeline API: agents see and change only conversations of inboxes they
//! belong to, every change leaves its event on the timeline, replies are idempotent on the
//! client id, and every refusal names the field and writes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_fixtures;
mod common;

use api_fixtures::*;
use common::*;
use parley::domain::{AgentPatch, AgentRole};
use serde_json::{Value, json};

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {page}"))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn members_open_read_and_list_conversations(backend: Backend) {
    let w = World::new(backend).await;
    let created = w
        .app
        .post(
            "/api/v1/conversations",
            &w.member_token,
            json!({"channel_id": w.channel.id, "contact_id": w.contact.id, "subject": "  Refund  "}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let c = &created.body;
    assert_eq!(
        c["inbox_id"],
        json!(w.inbox.id),
        "lands in the channel's inbox"
    );
    assert_eq!(c["channel_id"], json!(w.channel.id));
    assert_eq!(c["contact_id"], json!(w.contact.id));
    assert_eq!(c["status"], "open");
    assert_eq!(c["subject"], "Refund", "subject trimmed");
    assert_eq!(c["assignee_id"], Value::Null);
    let id = c["id"].as_str().unwrap();

    let read = w
        .app
        .get(&format!("/api/v1/conversations/{id}"), &w.member_token)
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body, created.body);

    let mine = w.app.get("/api/v1/conversations", &w.member_token).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(
        ids(&mine.body),
        vec![id.to_owned(), w.conversation.id.to_string()],
        "a member sees their inbox's conversations, newest first, and no other inbox's"
    );
    let outsiders = w.app.get("/api/v1/conversations", &w.outsider_token).await;
    assert_eq!(ids(&outsiders.body), vec![w.conversation2.id.to_string()]);
    let admins = w.app.get("/api/v1/conversations", &w.admin).await;
    assert_eq!(
        ids(&admins.body),
        vec![
            id.to_owned(),
            w.conversation2.id.to_string(),
            w.conversation.id.to_string()
        ],
        "an admin sees every inbox, and never another account's"
    );
}

async fn conversation_filters_and_paging(backend: Backend) {
    let w = World::new(backend).await;
    let a = &w.admin;
    let team = w
        .app
        .store
        .create_team(
            w.account,
            parley::domain::Name::parse("Tier 2").unwrap(),
            vec![w.member.id],
        )
        .await
        .unwrap();
    let other_contact = add_contact(&w.app, w.account, "second@customer.test").await;
    let second = add_conversation(&w.app, w.account, &w.channel, &other_contact, "2").await;
    let third = add_conversation(&w.app, w.account, &w.channel, &w.contact, "3").await;
    let assigned = w
        .app
        .post(
            &format!("/api/v1/conversations/{}/assign", second.id),
            a,
            json!({"assignee_id": w.member.id, "team_id": team.id}),
        )
        .await;
    assert_eq!(assigned.status, 200, "{}", assigned.body);
    let closed = w
        .app
        .post(
            &format!("/api/v1/conversations/{}/status", third.id),
            a,
            json!({"status": "closed"}),
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.body);

    let (c1, c2, c3, other_inbox) = (
        w.conversation.id.to_string(),
        second.id.to_string(),
        third.id.to_string(),
        w.conversation2.id.to_string(),
    );
    #[rustfmt::skip]
    let cases: Vec<(&str, String, Vec<&String>)> = vec![
        ("by inbox", format!("inbox_id={}", w.inbox.id), vec![&c3, &c2, &c1]),
        ("by status", "status=closed".into(), vec![&c3]),
        ("open ones", "status=open".into(), vec![&c2, &other_inbox, &c1]),
        ("by assignee", format!("assignee_id={}", w.member.id), vec![&c2]),
        ("by team", format!("team_id={}", team.id), vec![&c2]),
        ("by channel", format!("channel_id={}", w.channel2.id), vec![&other_inbox]),
        ("by contact", format!("contact_id={}", other_contact.id), vec![&c2]),
        ("unassigned", "unassigned=true".into(), vec![&c3, &other_inbox, &c1]),
        ("combined", format!("inbox_id={}&status=open&unassigned=true", w.inbox.id), vec![&c1]),
    ];
    for (case, query, expected) in cases {
        let page = w
            .app
            .get(&format!("/api/v1/conversations?{query}"), a)
            .await;
        assert_eq!(page.status, 200, "{case}: {}", page.body);
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(ids(&page.body), expected, "{case}");
    }

    let mut seen = Vec::new();
    let mut path = "/api/v1/conversations?limit=3".to_owned();
    loop {
        let page = w.app.get(&path, a).await;
        assert!(ids(&page.body).len() <= 3);
        seen.extend(ids(&page.body));
        match page.body["next"].as_str() {
            Some(next) => path = format!("/api/v1/conversations?limit=3&after={next}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        vec![c3, c2, other_inbox, c1],
        "all pages, each row once"
    );
}

async fn status_changes_answer_with_their_timeline_event(backend: Backend) {
    let w = World::new(backend).await;
    let path = format!("/api/v1/conversations/{}/status", w.conversation.id);
    let steps = [
        ("close", "closed", Some("open")),
        ("close again", "closed", None),
        ("set pending", "pending", Some("closed")),
        ("reopen", "open", Some("pending")),
    ];
    let mut events = Vec::new();
    for (case, to, from) in steps {
        let answer = w
            .app
            .post(&path, &w.member_token, json!({"status": to}))
            .await;
        assert_eq!(answer.status, 200, "{case}: {}", answer.body);
        assert_eq!(answer.body["conversation"]["status"], to, "{case}");
        let event = &answer.body["event"];
        match from {
            None => assert_eq!(*event, Value::Null, "{case}: no change, no event"),
            Some(from) => {
                assert_eq!(event["kind"], "event", "{case}");
                assert_eq!(
                    event["data"],
                    json!({"type": "status_changed", "from": from, "to": to}),
                    "{case}"
                );
                assert_eq!(
                    event["author"],
                    json!({"type": "agent", "id": w.member.id}),
                    "{case}"
                );
                assert_eq!(
                    answer.body["conversation"]["last_seq"], event["seq"],
                    "{case}: the event is the newest item"
                );
                events.push(event.clone());
            }
        }
    }
    let timeline = w
        .app
        .get(
            &format!("/api/v1/conversations/{}/timeline", w.conversation.id),
            &w.member_token,
        )
        .await;
    let items = timeline.body["items"].as_array().unwrap();
    let stored: Vec<&Value> = items
        .iter()
        .filter(|i| i["data"]["type"] == "status_changed")
        .collect();
    assert_eq!(stored.len(), 3, "one event per real change");
    for (answered, stored) in events.iter().zip(stored) {
        assert_eq!(answered, stored, "the answered event is the stored one");
    }
}

async fn assignment_records_an_event_and_checks_the_assignee(backend: Backend) {
    let w = World::new(backend).await;
    let path = format!("/api/v1/conversations/{}/assign", w.conversation.id);
    let team = w
        .app
        .store
        .create_team(
            w.account,
            parley::domain::Name::parse("Billing").unwrap(),
            vec![],
        )
        .await
        .unwrap();

    let first = w
        .app
        .post(
            &path,
            &w.member_token,
            json!({"assignee_id": w.member.id, "team_id": null}),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        first.body["conversation"]["assignee_id"],
        json!(w.member.id)
    );
    assert_eq!(
        first.body["event"]["data"],
        json!({"type": "assigned", "assignee_id": w.member.id, "team_id": null,
               "previous_assignee_id": null, "previous_team_id": null})
    );
    let same = w
        .app
        .post(
            &path,
            &w.member_token,
            json!({"assignee_id": w.member.id, "team_id": null}),
        )
        .await;
    assert_eq!(same.status, 200);
    assert_eq!(same.body["event"], Value::Null, "no change, no event");

    let to_admin = w
        .app
        .post(
            &path,
            &w.member_token,
            json!({"assignee_id": w.app.admin.id, "team_id": team.id}),
        )
        .await;
    assert_eq!(to_admin.status, 200, "admins may take any inbox's work");
    assert_eq!(
        to_admin.body["event"]["data"],
        json!({"type": "assigned", "assignee_id": w.app.admin.id, "team_id": team.id,
               "previous_assignee_id": w.member.id, "previous_team_id": null})
    );
    let cleared = w
        .app
        .post(
            &path,
            &w.member_token,
            json!({"assignee_id": null, "team_id": null}),
        )
        .await;
    assert_eq!(cleared.body["conversation"]["assignee_id"], Value::Null);
    assert_eq!(cleared.body["conversation"]["team_id"], Value::Null);
    assert_eq!(
        cleared.body["event"]["data"]["previous_team_id"],
        json!(team.id)
    );

    let gone = add_agent(&w.app, w.account, "gone@a.test", AgentRole::Agent).await;
    w.app
        .store
        .set_inbox_members(w.account, w.inbox.id, vec![w.member.id, gone.id])
        .await
        .unwrap();
    w.app
        .store
        .update_agent(
            w.account,
            gone.id,
            AgentPatch {
                active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let before = w.items(w.account, &w.conversation).await;
    #[rustfmt::skip]
    let refusals = [
        ("not a member of the inbox", json!({"assignee_id": w.outsider.id, "team_id": null}), "assignee_id"),
        ("deactivated", json!({"assignee_id": gone.id, "team_id": null}), "assignee_id"),
        ("another account's agent", json!({"assignee_id": w.other.admin.id, "team_id": null}), "assignee_id"),
        ("unknown agent", json!({"assignee_id": uuid(), "team_id": null}), "assignee_id"),
        ("unknown team", json!({"assignee_id": null, "team_id": uuid()}), "team_id"),
        ("missing team_id", json!({"assignee_id": null}), "team_id"),
        ("missing assignee_id", json!({"team_id": null}), "assignee_id"),
        ("assignee not an id", json!({"assignee_id": 7, "team_id": null}), "assignee_id"),
    ];
    for (case, body, field) in refusals {
        let answer = w.app.post(&path, &w.member_token, body).await;
        assert_error(case, &answer, 422, "invalid_field", Some(field));
    }
    assert_eq!(
        w.items(w.account, &w.conversation).await,
        before,
        "refusals wrote nothing"
    );
    let now = w
        .app
        .store
        .get_conversation(w.account, w.conversation.id)
        .await
        .unwrap();
    assert_eq!(now.assignee_id, None);
}

async fn replies_are_idempotent_on_the_client_id(backend: Backend) {
    let w = World::new(backend).await;
    let path = format!("/api/v1/conversations/{}/messages", w.conversation.id);
    let client_id = uuid();
    let first = w
        .app
        .post(
            &path,
            &w.member_token,
            json!({"client_id": client_id, "body": "Hello!"}),
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.body["kind"], "message");
    assert_eq!(first.body["direction"], "out");
    assert_eq!(first.body["body"], "Hello!");
    assert_eq!(first.body["client_id"], client_id.as_str());
    assert_eq!(
        first.body["author"],
        json!({"type": "agent", "id": w.member.id})
    );
    assert_eq!(
        first.body["delivery_status"],
        Value::Null,
        "chat replies need no outbox"
    );

    let retry = w
        .app
        .post(
            &path,
            &w.member_token,
            json!({"client_id": client_id, "body": "Hello!"}),
        )
        .await;
    assert_eq!(retry.status, 200, "a retry is answered, not stored again");
    assert_eq!(retry.body, first.body);
    let reused = w
        .app
        .post(
            &path,
            &w.member_token,
            json!({"client_id": client_id, "body": "Other text"}),
        )
        .await;
    assert_error(
        "client id reused for other text",
        &reused,
        409,
        "conflict",
        Some("client_id"),
    );
    let as_comment = w
        .app
        .post(
            &format!("/api/v1/conversations/{}/comments", w.conversation.id),
            &w.member_token,
            json!({"client_id": client_id, "body": "Hello!"}),
        )
        .await;
    assert_error(
        "client id reused for a comment",
        &as_comment,
        409,
        "conflict",
        Some("client_id"),
    );

    let items = w.items(w.account, &w.conversation).await;
    let messages: Vec<&Value> = items.iter().filter(|i| i["kind"] == "message").collect();
    assert_eq!(messages.len(), 1, "stored once");

    let email = w
        .app
        .post(
            &format!("/api/v1/conversations/{}/messages", w.conversation2.id),
            &w.outsider_token,
            json!({"client_id": uuid(), "body": "Our prices"}),
        )
        .await;
    assert_eq!(email.status, 201, "{}", email.body);
    assert_eq!(
        email.body["delivery_status"], "pending",
        "an email reply waits for the outbox"
    );
}

async fn comments_mention_agents_who_can_see_the_inbox(backend: Backend) {
    let w = World::new(backend).await;
    let path = format!("/api/v1/conversations/{}/comments", w.conversation.id);
    let comment = w
        .app
        .post(
            &path,
            &w.member_token,
            json!({"client_id": uuid(), "body": "@admin can you look?",
                   "mentions": [w.app.admin.id, w.member.id, w.app.admin.id]}),
        )
        .await;
    assert_eq!(comment.status, 201, "{}", comment.body);
    assert_eq!(comment.body["kind"], "comment");
    assert_eq!(comment.body["direction"], Value::Null);
    assert_eq!(
        comment.body["mentions"],
        json!([w.app.admin.id, w.member.id]),
        "duplicates collapsed, order kept"
    );
    let plain = w
        .app
        .post(
            &path,
            &w.admin,
            json!({"client_id": uuid(), "body": "noted"}),
        )
        .await;
    assert_eq!(plain.status, 201, "mentions are optional: {}", plain.body);
    assert_eq!(plain.body["mentions"], json!([]));

    let before = w.items(w.account, &w.conversation).await;
    #[rustfmt::skip]
    let refusals = [
        ("mentions someone outside the inbox", json!([w.member.id, w.outsider.id]), "mentions[1]"),
        ("mentions another account's agent", json!([w.other.admin.id]), "mentions[0]"),
        ("mentions nobody known", json!([w.member.id, w.member.id, uuid()]), "mentions[2]"),
        ("mention not an id", json!(["bob"]), "mentions[0]"),
        ("mentions not a list", json!("bob"), "mentions"),
    ];
    for (case, mentions, field) in refusals {
        let answer = w
            .app
            .post(
                &path,
                &w.member_token,
                json!({"client_id": uuid(), "body": "hi", "mentions": mentions}),
            )
            .await;
        assert_error(case, &answer, 422, "invalid_field", Some(field));
    }
    assert_eq!(
        w.items(w.account, &w.conversation).await,
        before,
        "refusals wrote nothing"
    );
}

async fn timeline_reads_oldest_first_in_pages(backend: Backend) {
    let w = World::new(backend).await;
    let base = format!("/api/v1/conversations/{}", w.conversation.id);
    let start = w.items(w.account, &w.conversation).await.len();
    for i in 0..5 {
        let answer = w
            .app
            .post(
                &format!("{base}/messages"),
                &w.member_token,
                json!({"client_id": uuid(), "body": format!("message {i}")}),
            )
            .await;
        assert_eq!(answer.status, 201);
    }
    let all = w
        .app
        .get(&format!("{base}/timeline"), &w.member_token)
        .await;
    assert_eq!(all.status, 200, "{}", all.body);
    let items = all.body["items"].as_array().unwrap();
    assert_eq!(items.len(), start + 5);
    let seqs: Vec<i64> = items.iter().map(|i| i["seq"].as_i64().unwrap()).collect();
    let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
    assert_eq!(seqs, expected, "oldest first, no gaps");
    assert_eq!(
        all.body["next_after_seq"],
        Value::Null,
        "one page holds them all"
    );

    let mut bodies = Vec::new();
    let mut after = start as i64;
    let mut pages = 0;
    loop {
        let page = w
            .app
            .get(
                &format!("{base}/timeline?after_seq={after}&limit=2"),
                &w.member_token,
            )
            .await;
        pages += 1;
        bodies.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["body"].as_str().unwrap().to_owned()),
        );
        match page.body["next_after_seq"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
        assert!(pages < 10, "paging ends");
    }
    let expected: Vec<String> = (0..5).map(|i| format!("message {i}")).collect();
    assert_eq!(bodies, expected);
}

async fn non_members_can_neither_read_nor_write_a_conversation(backend: Backend) {
    let w = World::new(backend).await;
    let c = w.conversation.id;
    let before = w.items(w.account, &w.conversation).await;
    let t = &w.outsider_token;
    let (thread, inbox) = (format!("/api/v1/conversations/{c}"), w.inbox.id);
    let reply = json!({"client_id": uuid(), "body": "hi"});
    let opening = json!({"channel_id": w.channel.id, "contact_id": w.contact.id});
    #[rustfmt::skip]
    let cases = [
        ("read", "GET", thread.clone(), None),
        ("read timeline", "GET", format!("{thread}/timeline"), None),
        ("list by inbox", "GET", format!("/api/v1/conversations?inbox_id={inbox}"), None),
        ("open on the inbox's channel", "POST", "/api/v1/conversations".to_owned(), Some(opening)),
        ("change status", "POST", format!("{thread}/status"), Some(json!({"status": "closed"}))),
        ("assign", "POST", format!("{thread}/assign"), Some(json!({"assignee_id": null, "team_id": null}))),
        ("reply", "POST", format!("{thread}/messages"), Some(reply.clone())),
        ("comment", "POST", format!("{thread}/comments"), Some(reply)),
    ];
    for (case, method, path, body) in cases {
        let forbidden = (403, "forbidden", None);
        expect_refusal(&w.app, t, (method, &path), case, body, forbidden).await;
    }
    assert_eq!(
        w.items(w.account, &w.conversation).await,
        before,
        "nothing written"
    );
    let listed = w.app.get("/api/v1/conversations", &w.admin).await;
    assert_eq!(ids(&listed.body).len(), 2, "no conversation opened");
}

async fn refused_conversation_requests_name_the_field_and_write_nothing(backend: Backend) {
    let w = World::new(backend).await;
    let c = w.conversation.id;
    let theirs = w.other.conversation.id;
    let unknown = uuid();
    let t = &w.member_token;
    let before = w.items(w.account, &w.conversation).await;
    let conversation_before = w.app.store.get_conversation(w.account, c).await.unwrap();
    let theirs_before = w.items(w.other.account, &w.other.conversation).await;

    let create = ("POST", "/api/v1/conversations");
    let channel = w.channel.id;
    #[rustfmt::skip]
    let cases = [
        ("missing contact", json!({"channel_id": channel}), bad("contact_id")),
        ("channel not an id", json!({"channel_id": 3, "contact_id": w.contact.id}), bad("channel_id")),
        ("unknown channel", json!({"channel_id": unknown, "contact_id": w.contact.id}), bad("channel_id")),
        ("another account's channel", json!({"channel_id": w.other.channel.id, "contact_id": w.contact.id}),
            bad("channel_id")),
        ("another account's contact", json!({"channel_id": channel, "contact_id": w.other.contact.id}),
            bad("contact_id")),
        ("subject too long", json!({"channel_id": channel, "contact_id": w.contact.id,
            "subject": "s".repeat(999)}), bad("subject")),
    ];
    for (case, body, expect) in cases {
        expect_refusal(&w.app, t, create, case, Some(body), expect).await;
    }

    let thread = format!("/api/v1/conversations/{c}");
    let long_body = "b".repeat(20_001);
    #[rustfmt::skip]
    let cases = [
        ("status", "unknown word", json!({"status": "archived"}), bad("status")),
        ("status", "wrong type", json!({"status": true}), bad("status")),
        ("status", "missing", json!({}), bad("status")),
        ("messages", "body over 20,000 characters", json!({"client_id": uuid(), "body": long_body}), bad("body")),
        ("messages", "blank body", json!({"client_id": uuid(), "body": "  \n "}), bad("body")),
        ("messages", "missing client id", json!({"body": "hi"}), bad("client_id")),
        ("messages", "client id not a UUID", json!({"client_id": "1", "body": "hi"}), bad("client_id")),
        ("messages", "body of wrong type", json!({"client_id": uuid(), "body": ["hi"]}), bad("body")),
        ("comments", "body over 20,000 characters", json!({"client_id": uuid(), "body": long_body}), bad("body")),
        ("comments", "missing body", json!({"client_id": uuid()}), bad("body")),
    ];
    for (route, case, body, expect) in cases {
        let path = format!("{thread}/{route}");
        expect_refusal(&w.app, t, ("POST", &path), case, Some(body), expect).await;
    }

    let valid = [
        ("status", json!({"status": "closed"})),
        ("assign", json!({"assignee_id": null, "team_id": null})),
        ("messages", json!({"client_id": uuid(), "body": "hi"})),
        ("comments", json!({"client_id": uuid(), "body": "hi"})),
    ];
    for (route, body) in valid {
        for (case, id, expect) in [
            ("unknown conversation", unknown.clone(), NOT_FOUND),
            ("another account's", theirs.to_string(), NOT_FOUND),
            ("malformed id", "x".to_owned(), (400, "invalid_path", None)),
        ] {
            let path = format!("/api/v1/conversations/{id}/{route}");
            let body = Some(body.clone());
            expect_refusal(&w.app, t, ("POST", &path), case, body, expect).await;
        }
    }

    let bad_query = |field| (400, "invalid_query", Some(field));
    #[rustfmt::skip]
    let reads = [
        ("another account's", format!("/api/v1/conversations/{theirs}"), NOT_FOUND),
        ("unknown", format!("/api/v1/conversations/{unknown}"), NOT_FOUND),
        ("another account's", format!("/api/v1/conversations/{theirs}/timeline"), NOT_FOUND),
        ("unknown", format!("/api/v1/conversations/{unknown}/timeline"), NOT_FOUND),
        ("negative after_seq", format!("{thread}/timeline?after_seq=-1"), bad_query("after_seq")),
        ("limit not a number", format!("{thread}/timeline?limit=ten"), bad_query("limit")),
        ("unknown status", "/api/v1/conversations?status=archived".to_owned(), bad_query("status")),
        ("bad inbox id", "/api/v1/conversations?inbox_id=1".to_owned(), bad_query("inbox_id")),
        ("bad unassigned", "/api/v1/conversations?unassigned=maybe".to_owned(), bad_query("unassigned")),
        ("unknown parameter", "/api/v1/conversations?state=open".to_owned(), bad_query("state")),
        ("another account's inbox", format!("/api/v1/conversations?inbox_id={}", w.other.inbox.id), NOT_FOUND),
    ];
    for (case, path, expect) in reads {
        expect_refusal(&w.app, t, ("GET", &path), case, None, expect).await;
    }

    // A body each route would accept, so that only the request's framing or credentials fail.
    #[rustfmt::skip]
    let writes = [
        ("POST", "/api/v1/conversations".to_owned(), json!({"channel_id": channel, "contact_id": w.contact.id})),
        ("POST", format!("{thread}/status"), json!({"status": "closed"})),
        ("POST", format!("{thread}/assign"), json!({"assignee_id": w.member.id, "team_id": null})),
        ("POST", format!("{thread}/messages"), json!({"client_id": uuid(), "body": "hi"})),
        ("POST", format!("{thread}/comments"), json!({"client_id": uuid(), "body": "hi"})),
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
    for path in [
        "/api/v1/conversations",
        &thread,
        &format!("{thread}/timeline"),
    ] {
        refuses_anonymous_read(&w.app, path).await;
    }

    assert_eq!(
        w.items(w.account, &w.conversation).await,
        before,
        "our timeline unchanged"
    );
    assert_eq!(
        w.items(w.other.account, &w.other.conversation).await,
        theirs_before,
        "their timeline unchanged"
    );
    let now = w.app.store.get_conversation(w.account, c).await.unwrap();
    assert_eq!(now, conversation_before, "our conversation unchanged");
    let listed = w.app.get("/api/v1/conversations", &w.admin).await;
    assert_eq!(ids(&listed.body).len(), 2, "no conversation opened");
}

async fn the_api_document_lists_these_routes(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = app.call("GET", "/api/openapi.json", None, None).await;
    assert_eq!(doc.status, 200);
    let paths = &doc.body["paths"];
    for (path, method) in [
        ("/api/v1/contacts", "get"),
        ("/api/v1/contacts", "post"),
        ("/api/v1/contacts/{id}", "get"),
        ("/api/v1/contacts/{id}", "patch"),
        ("/api/v1/contacts/{id}/merge", "post"),
        ("/api/v1/conversations", "get"),
        ("/api/v1/conversations", "post"),
        ("/api/v1/conversations/{id}", "get"),
        ("/api/v1/conversations/{id}/status", "post"),
        ("/api/v1/conversations/{id}/assign", "post"),
        ("/api/v1/conversations/{id}/timeline", "get"),
        ("/api/v1/conversations/{id}/messages", "post"),
        ("/api/v1/conversations/{id}/comments", "post"),
        ("/api/v1/tickets", "get"),
        ("/api/v1/tickets", "post"),
        ("/api/v1/tickets/{id}", "get"),
        ("/api/v1/tickets/{id}", "patch"),
    ] {
        assert!(
            paths[path][method].is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
}

on_both_backends!(
    members_open_read_and_list_conversations,
    conversation_filters_and_paging,
    status_changes_answer_with_their_timeline_event,
    assignment_records_an_event_and_checks_the_assignee,
    replies_are_idempotent_on_the_client_id,
    comments_mention_agents_who_can_see_the_inbox,
    timeline_reads_oldest_first_in_pages,
    non_members_can_neither_read_nor_write_a_conversation,
    refused_conversation_requests_name_the_field_and_write_nothing,
    the_api_document_lists_these_routes,
);
