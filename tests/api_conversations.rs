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
    let cases: Vec<(&str, String, Vec<&String>)> = vec![
        (
            "by inbox",
            format!("inbox_id={}", w.inbox.id),
            vec![&c3, &c2, &c1],
        ),
        ("by status", "status=closed".into(), vec![&c3]),
        (
            "open ones",
            "status=open".into(),
            vec![&c2, &other_inbox, &c1],
        ),
        (
            "by assignee",
            format!("assignee_id={}", w.member.id),
            vec![&c2],
        ),
        ("by team", format!("team_id={}", team.id), vec![&c2]),
        (
            "by channel",
            format!("channel_id={}", w.channel2.id),
            vec![&other_inbox],
        ),
        (
            "by contact",
            format!("contact_id={}", other_contact.id),
            vec![&c2],
        ),
        (
            "unassigned",
            "unassigned=true".into(),
            vec![&c3, &other_inbox, &c1],
        ),
        (
            "combined",
            format!("inbox_id={}&status=open&unassigned=true", w.inbox.id),
            vec![&c1],
        ),
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
    let refusals = [
        (
            "not a member of the inbox",
            json!({"assignee_id": w.outsider.id, "team_id": null}),
            "assignee_id",
        ),
        (
            "deactivated",
            json!({"assignee_id": gone.id, "team_id": null}),
            "assignee_id",
        ),
        (
            "another account's agent",
            json!({"assignee_id": w.other.admin.id, "team_id": null}),
            "assignee_id",
        ),
        (
            "unknown agent",
            json!({"assignee_id": uuid(), "team_id": null}),
            "assignee_id",
        ),
        (
            "unknown team",
            json!({"assignee_id": null, "team_id": uuid()}),
            "team_id",
        ),
        ("missing team_id", json!({"assignee_id": null}), "team_id"),
        (
            "missing assignee_id",
            json!({"team_id": null}),
            "assignee_id",
        ),
        (
            "assignee not an id",
            json!({"assignee_id": 7, "team_id": null}),
            "assignee_id",
        ),
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
    let refusals = [
        (
            "mentions someone outside the inbox",
            json!([w.member.id, w.outsider.id]),
            "mentions[1]",
        ),
        (
            "mentions another account's agent",
            json!([w.other.admin.id]),
            "mentions[0]",
        ),
        (
            "mentions nobody known",
            json!([w.member.id, w.member.id, uuid()]),
            "mentions[2]",
        ),
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
    let cases = [
        (
            "read",
            w.app.get(&format!("/api/v1/conversations/{c}"), t).await,
        ),
        (
            "read timeline",
            w.app
                .get(&format!("/api/v1/conversations/{c}/timeline"), t)
                .await,
        ),
        (
            "list by inbox",
            w.app
                .get(&format!("/api/v1/conversations?inbox_id={}", w.inbox.id), t)
                .await,
        ),
        (
            "open on the inbox's channel",
            w.app
                .post(
                    "/api/v1/conversations",
                    t,
                    json!({"channel_id": w.channel.id, "contact_id": w.contact.id}),
                )
                .await,
        ),
        (
            "change status",
            w.app
                .post(
                    &format!("/api/v1/conversations/{c}/status"),
                    t,
                    json!({"status": "closed"}),
                )
                .await,
        ),
        (
            "assign",
            w.app
                .post(
                    &format!("/api/v1/conversations/{c}/assign"),
                    t,
                    json!({"assignee_id": null, "team_id": null}),
                )
                .await,
        ),
        (
            "reply",
            w.app
                .post(
                    &format!("/api/v1/conversations/{c}/messages"),
                    t,
                    json!({"client_id": uuid(), "body": "hi"}),
                )
                .await,
        ),
        (
            "comment",
            w.app
                .post(
                    &format!("/api/v1/conversations/{c}/comments"),
                    t,
                    json!({"client_id": uuid(), "body": "hi"}),
                )
                .await,
        ),
    ];
    for (case, answer) in cases {
        assert_error(case, &answer, 403, "forbidden", None);
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
    let long_body = "b".repeat(20_001);

    // (case, method, path, body, status, code, field)
    let cases: Vec<(&str, &str, String, Value, u16, &str, Option<&str>)> = vec![
        (
            "open: missing contact",
            "POST",
            "/api/v1/conversations".into(),
            json!({"channel_id": w.channel.id}),
            422,
            "invalid_field",
            Some("contact_id"),
        ),
        (
            "open: channel not an id",
            "POST",
            "/api/v1/conversations".into(),
            json!({"channel_id": 3, "contact_id": w.contact.id}),
            422,
            "invalid_field",
            Some("channel_id"),
        ),
        (
            "open: unknown channel",
            "POST",
            "/api/v1/conversations".into(),
            json!({"channel_id": unknown, "contact_id": w.contact.id}),
            422,
            "invalid_field",
            Some("channel_id"),
        ),
        (
            "open: another account's channel",
            "POST",
            "/api/v1/conversations".into(),
            json!({"channel_id": w.other.channel.id, "contact_id": w.contact.id}),
            422,
            "invalid_field",
            Some("channel_id"),
        ),
        (
            "open: another account's contact",
            "POST",
            "/api/v1/conversations".into(),
            json!({"channel_id": w.channel.id, "contact_id": w.other.contact.id}),
            422,
            "invalid_field",
            Some("contact_id"),
        ),
        (
            "open: subject too long",
            "POST",
            "/api/v1/conversations".into(),
            json!({"channel_id": w.channel.id, "contact_id": w.contact.id, "subject": "s".repeat(999)}),
            422,
            "invalid_field",
            Some("subject"),
        ),
        (
            "status: unknown word",
            "POST",
            format!("/api/v1/conversations/{c}/status"),
            json!({"status": "archived"}),
            422,
            "invalid_field",
            Some("status"),
        ),
        (
            "status: missing",
            "POST",
            format!("/api/v1/conversations/{c}/status"),
            json!({}),
            422,
            "invalid_field",
            Some("status"),
        ),
        (
            "status: unknown conversation",
            "POST",
            format!("/api/v1/conversations/{unknown}/status"),
            json!({"status": "closed"}),
            404,
            "not_found",
            None,
        ),
        (
            "status: another account's",
            "POST",
            format!("/api/v1/conversations/{theirs}/status"),
            json!({"status": "closed"}),
            404,
            "not_found",
            None,
        ),
        (
            "assign: another account's",
            "POST",
            format!("/api/v1/conversations/{theirs}/assign"),
            json!({"assignee_id": null, "team_id": null}),
            404,
            "not_found",
            None,
        ),
        (
            "assign: unknown conversation",
            "POST",
            format!("/api/v1/conversations/{unknown}/assign"),
            json!({"assignee_id": null, "team_id": null}),
            404,
            "not_found",
            None,
        ),
        (
            "reply: body over 20,000 characters",
            "POST",
            format!("/api/v1/conversations/{c}/messages"),
            json!({"client_id": uuid(), "body": long_body}),
            422,
            "invalid_field",
            Some("body"),
        ),
        (
            "reply: blank body",
            "POST",
            format!("/api/v1/conversations/{c}/messages"),
            json!({"client_id": uuid(), "body": "  \n "}),
            422,
            "invalid_field",
            Some("body"),
        ),
        (
            "reply: missing client id",
            "POST",
            format!("/api/v1/conversations/{c}/messages"),
            json!({"body": "hi"}),
            422,
            "invalid_field",
            Some("client_id"),
        ),
        (
            "reply: client id not a UUID",
            "POST",
            format!("/api/v1/conversations/{c}/messages"),
            json!({"client_id": "1", "body": "hi"}),
            422,
            "invalid_field",
            Some("client_id"),
        ),
        (
            "reply: body of wrong type",
            "POST",
            format!("/api/v1/conversations/{c}/messages"),
            json!({"client_id": uuid(), "body": ["hi"]}),
            422,
            "invalid_field",
            Some("body"),
        ),
        (
            "reply: another account's",
            "POST",
            format!("/api/v1/conversations/{theirs}/messages"),
            json!({"client_id": uuid(), "body": "hi"}),
            404,
            "not_found",
            None,
        ),
        (
            "reply: unknown conversation",
            "POST",
            format!("/api/v1/conversations/{unknown}/messages"),
            json!({"client_id": uuid(), "body": "hi"}),
            404,
            "not_found",
            None,
        ),
        (
            "comment: body over 20,000 characters",
            "POST",
            format!("/api/v1/conversations/{c}/comments"),
            json!({"client_id": uuid(), "body": "c".repeat(20_001)}),
            422,
            "invalid_field",
            Some("body"),
        ),
        (
            "comment: missing body",
            "POST",
            format!("/api/v1/conversations/{c}/comments"),
            json!({"client_id": uuid()}),
            422,
            "invalid_field",
            Some("body"),
        ),
        (
            "comment: another account's",
            "POST",
            format!("/api/v1/conversations/{theirs}/comments"),
            json!({"client_id": uuid(), "body": "hi"}),
            404,
            "not_found",
            None,
        ),
        (
            "comment: malformed conversation id",
            "POST",
            "/api/v1/conversations/x/comments".into(),
            json!({"client_id": uuid(), "body": "hi"}),
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
            "read another account's",
            format!("/api/v1/conversations/{theirs}"),
            404,
            "not_found",
            None,
        ),
        (
            "read unknown",
            format!("/api/v1/conversations/{unknown}"),
            404,
            "not_found",
            None,
        ),
        (
            "timeline of another account's",
            format!("/api/v1/conversations/{theirs}/timeline"),
            404,
            "not_found",
            None,
        ),
        (
            "timeline of unknown",
            format!("/api/v1/conversations/{unknown}/timeline"),
            404,
            "not_found",
            None,
        ),
        (
            "timeline: negative after_seq",
            format!("/api/v1/conversations/{c}/timeline?after_seq=-1"),
            400,
            "invalid_query",
            Some("after_seq"),
        ),
        (
            "timeline: limit not a number",
            format!("/api/v1/conversations/{c}/timeline?limit=ten"),
            400,
            "invalid_query",
            Some("limit"),
        ),
        (
            "list: unknown status",
            "/api/v1/conversations?status=archived".to_owned(),
            400,
            "invalid_query",
            Some("status"),
        ),
        (
            "list: bad inbox id",
            "/api/v1/conversations?inbox_id=1".to_owned(),
            400,
            "invalid_query",
            Some("inbox_id"),
        ),
        (
            "list: bad unassigned",
            "/api/v1/conversations?unassigned=maybe".to_owned(),
            400,
            "invalid_query",
            Some("unassigned"),
        ),
        (
            "list: unknown parameter",
            "/api/v1/conversations?state=open".to_owned(),
            400,
            "invalid_query",
            Some("state"),
        ),
        (
            "list: another account's inbox",
            format!("/api/v1/conversations?inbox_id={}", w.other.inbox.id),
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
            "/api/v1/conversations".to_owned(),
            json!({"channel_id": w.channel.id, "contact_id": w.contact.id}),
        ),
        (
            "POST",
            format!("/api/v1/conversations/{c}/status"),
            json!({"status": "closed"}),
        ),
        (
            "POST",
            format!("/api/v1/conversations/{c}/assign"),
            json!({"assignee_id": w.member.id, "team_id": null}),
        ),
        (
            "POST",
            format!("/api/v1/conversations/{c}/messages"),
            json!({"client_id": uuid(), "body": "hi"}),
        ),
        (
            "POST",
            format!("/api/v1/conversations/{c}/comments"),
            json!({"client_id": uuid(), "body": "hi"}),
        ),
    ];
    let (browser, _csrf) = cookie_session(&w.app, "member@a.test").await;
    for (method, path, body) in &writes {
        let case = format!("{method} {path}");
        let malformed = raw(&w.app, method, path, t, "{,}").await;
        assert_error(
            &format!("{case}: malformed JSON"),
            &malformed,
            400,
            "malformed_json",
            None,
        );
        let huge = json!({"body": "x".repeat(OVERSIZE_BODY_BYTES)}).to_string();
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
            .call(method, path, Some("pls_bogus"), Some(body.clone()))
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
        "/api/v1/conversations".to_owned(),
        format!("/api/v1/conversations/{c}"),
        format!("/api/v1/conversations/{c}/timeline"),
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
