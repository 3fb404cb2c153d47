//! The agent socket (`/ws/agent`): every item reaches every subscribed socket once and in
//! order, resends are acked with the stored seq, a reconnect resumes exactly after `after_seq`,
//! and bad input is answered with error frames that never disturb other sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_fixtures;
mod common;
mod ws_fixtures;

use api_fixtures::*;
use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use ws_fixtures::*;

async fn two_agents_get_every_item_once_in_order_and_resends_change_nothing(backend: Backend) {
    let w = World::new(backend).await;
    let conversation = w.conversation.id;
    let mut a = Socket::agent(&w.app, &w.member_token).await;
    let mut b = Socket::agent(&w.app, &w.admin).await;
    let base = a.subscribe(conversation, 0).await;
    // The conversation's own opening event(s) come first.
    let opening = a.items(usize::try_from(base).unwrap()).await;
    assert_eq!(b.subscribe(conversation, base).await, base);

    let client_ids: Vec<String> = (0..20).map(|_| uuid()).collect();
    for (i, client_id) in client_ids.iter().enumerate() {
        let seq = base + 1 + i64::try_from(i).unwrap();
        a.send(send_frame(conversation, client_id, &format!("m{seq}")))
            .await;
    }
    let (mut acks, mut own_items) = (Vec::new(), Vec::new());
    while acks.len() < 20 || own_items.len() < 20 {
        let frame = a.next().await;
        match frame["type"].as_str() {
            Some("ack") => acks.push((
                frame["client_id"].as_str().unwrap().to_owned(),
                frame["seq"].as_i64().unwrap(),
            )),
            Some("item") => own_items.push(item_of(&frame)),
            _ => panic!("unexpected {frame}"),
        }
    }
    let want_acks: Vec<(String, i64)> = client_ids
        .iter()
        .cloned()
        .zip(base + 1..=base + 20)
        .collect();
    assert_eq!(acks, want_acks, "acks in send order, seq after seq");
    assert_eq!(
        own_items,
        expected(base + 1, base + 20),
        "the sender sees its items too"
    );
    assert_eq!(b.items(20).await, expected(base + 1, base + 20), "in order");
    b.quiet().await;

    a.send(send_frame(
        conversation,
        &client_ids[4],
        &format!("m{}", base + 5),
    ))
    .await;
    let ack = a.next().await;
    assert_eq!(
        (ack["type"].as_str(), ack["seq"].as_i64()),
        (Some("ack"), Some(base + 5)),
        "a resend is acked with the stored seq: {ack}"
    );
    b.quiet().await;
    a.quiet().await;
    let stored = w.items(w.account, &w.conversation).await;
    assert_eq!(
        stored.len(),
        opening.len() + 20,
        "the resend stored nothing"
    );
}

async fn a_reconnecting_agent_gets_exactly_what_it_missed_then_live_items(backend: Backend) {
    let w = World::new(backend).await;
    let conversation = w.conversation.id;
    let mut a = Socket::agent(&w.app, &w.member_token).await;
    let base = a.subscribe(conversation, 0).await;
    a.items(usize::try_from(base).unwrap()).await;
    for i in 1..=20 {
        a.send(send_frame(conversation, &uuid(), &format!("m{}", base + i)))
            .await;
    }
    for _ in 0..40 {
        a.next().await;
    }

    let mut b = Socket::agent(&w.app, &w.admin).await;
    assert_eq!(b.subscribe(conversation, base + 10).await, base + 20);
    assert_eq!(b.items(10).await, expected(base + 11, base + 20));
    b.quiet().await;
    a.send(send_frame(
        conversation,
        &uuid(),
        &format!("m{}", base + 21),
    ))
    .await;
    assert_eq!(b.items(1).await, expected(base + 21, base + 21));
    b.quiet().await;
}

async fn rest_replies_reach_subscribed_sockets(backend: Backend) {
    let w = World::new(backend).await;
    let mut b = Socket::agent(&w.app, &w.admin).await;
    let base = b.subscribe(w.conversation.id, 0).await;
    b.items(usize::try_from(base).unwrap()).await;
    let client_id = uuid();
    let posted = w
        .app
        .post(
            &format!("/api/v1/conversations/{}/messages", w.conversation.id),
            &w.member_token,
            json!({"client_id": client_id, "body": "from REST"}),
        )
        .await;
    assert_eq!(posted.status, 201, "{}", posted.body);
    let frame = b.next().await;
    assert_eq!(frame["type"], "item", "{frame}");
    assert_eq!(
        frame["item"], posted.body,
        "the stored item, as REST answered it"
    );
    assert_eq!(frame["item"]["client_id"], client_id);

    let again = w
        .app
        .post(
            &format!("/api/v1/conversations/{}/messages", w.conversation.id),
            &w.member_token,
            json!({"client_id": client_id, "body": "from REST"}),
        )
        .await;
    assert_eq!(again.status, 200);
    b.quiet().await;
}

async fn sockets_see_only_conversations_their_agent_may_see(backend: Backend) {
    let w = World::new(backend).await;
    let before = w.items(w.account, &w.conversation).await;
    let mut outsider = Socket::agent(&w.app, &w.outsider_token).await;
    let conversation = w.conversation.id.to_string();
    outsider
        .send(json!({"type": "subscribe", "conversation_id": conversation}))
        .await;
    let refused = outsider.error("forbidden").await;
    assert_eq!(refused["conversation_id"], conversation);
    outsider
        .send(send_frame(&conversation, &uuid(), "let me in"))
        .await;
    outsider.error("forbidden").await;
    outsider
        .send(json!({"type": "typing", "conversation_id": conversation, "state": "start"}))
        .await;
    outsider.error("forbidden").await;
    let other_account = w.other.conversation.id.to_string();
    outsider
        .send(json!({"type": "subscribe", "conversation_id": other_account}))
        .await;
    outsider.error("not_found").await;
    assert_eq!(
        outsider.subscribe(w.conversation2.id, 0).await,
        w.conversation2.last_seq,
        "its own inbox's conversation is fine"
    );
    let stored = w.items(w.account, &w.conversation).await;
    assert_eq!(stored, before, "nothing was written");
}

async fn authentication_by_frame_or_cookie_and_nothing_before_it(backend: Backend) {
    let w = World::new(backend).await;
    let mut anonymous = Socket::open(&w.app, &[]).await;
    anonymous
        .send(json!({"type": "subscribe", "conversation_id": w.conversation.id}))
        .await;
    anonymous.error("unauthenticated").await;
    anonymous
        .send(json!({"type": "auth", "token": "pls_not-a-token"}))
        .await;
    anonymous.error("unauthenticated").await;
    assert_eq!(anonymous.closed().await, "unauthenticated");

    // The login's session token is the cookie's value.
    let cookie = format!("parley_session={}", w.app.admin_token);
    let mut browser = Socket::open(&w.app, &[("cookie", &cookie)]).await;
    let hello = browser.next().await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["agent"]["id"], json!(w.app.admin.id));
    browser.subscribe(w.conversation.id, 0).await;

    // Another site's page cannot use the browser's cookie.
    let mut foreign = Socket::open(
        &w.app,
        &[("cookie", &cookie), ("origin", "https://evil.example")],
    )
    .await;
    foreign
        .send(json!({"type": "subscribe", "conversation_id": w.conversation.id}))
        .await;
    foreign.error("unauthenticated").await;
}

async fn bad_frames_get_error_frames_and_other_sockets_keep_working(backend: Backend) {
    let w = World::new(backend).await;
    let conversation = w.conversation.id;
    let mut watcher = Socket::agent(&w.app, &w.admin).await;
    let base = watcher.subscribe(conversation, 0).await;
    watcher.items(usize::try_from(base).unwrap()).await;
    let mut writer = Socket::agent(&w.app, &w.member_token).await;

    let mut rude = Socket::agent(&w.app, &w.member_token).await;
    rude.send_text("{not json".into()).await;
    rude.error("malformed_json").await;
    rude.send(json!({"type": "shout", "conversation_id": conversation}))
        .await;
    let unknown = rude.error("unknown_type").await;
    assert_eq!(unknown["field"], "type");
    rude.send(json!({"type": "subscribe", "conversation_id": "nope"}))
        .await;
    let bad_id = rude.error("invalid_field").await;
    assert_eq!(bad_id["field"], "conversation_id");
    rude.send(
        json!({"type": "send", "conversation_id": conversation, "client_id": uuid(), "body": " "}),
    )
    .await;
    assert_eq!(rude.error("invalid_field").await["field"], "body");
    rude.send(json!({"type": "typing", "conversation_id": conversation, "state": "dancing"}))
        .await;
    assert_eq!(rude.error("invalid_field").await["field"], "state");

    writer
        .send(send_frame(conversation, &uuid(), &format!("m{}", base + 1)))
        .await;
    assert_eq!(writer.next().await["type"], "ack");
    assert_eq!(watcher.items(1).await, expected(base + 1, base + 1));

    for size in [200 * 1024, 600 * 1024] {
        let mut huge = Socket::agent(&w.app, &w.member_token).await;
        huge.send(send_frame(conversation, &uuid(), &"x".repeat(size)))
            .await;
        huge.error("frame_too_large").await;
        assert_eq!(huge.closed().await, "frame_too_large", "{size} bytes");
    }

    writer
        .send(send_frame(conversation, &uuid(), &format!("m{}", base + 2)))
        .await;
    assert_eq!(writer.next().await["type"], "ack");
    assert_eq!(watcher.items(1).await, expected(base + 2, base + 2));
    rude.send(json!({"type": "subscribe", "conversation_id": conversation}))
        .await;
    assert_eq!(
        rude.next().await["type"],
        "subscribed",
        "the rude socket still works"
    );
}

async fn a_flood_of_frames_is_refused_then_closed(backend: Backend) {
    let w = World::new(backend).await;
    let mut flood = Socket::agent(&w.app, &w.member_token).await;
    let mut calm = Socket::agent(&w.app, &w.admin).await;
    for _ in 0..200 {
        flood.send(json!({"type": "read"})).await;
    }
    let mut rate_limited = 0;
    let reason = loop {
        match flood.ws.next().await {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["code"] == "rate_limited" {
                    rate_limited += 1;
                }
            }
            Some(Ok(Message::Close(close))) => break close.map(|c| c.reason.to_string()),
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    };
    assert!(rate_limited > 0);
    assert_eq!(reason.as_deref(), Some("rate_limited"));
    assert_eq!(
        calm.subscribe(w.conversation.id, 0).await,
        w.conversation.last_seq
    );
}

async fn writes_to_closed_conversations_are_refused(backend: Backend) {
    let w = World::new(backend).await;
    let closed = w
        .app
        .post(
            &format!("/api/v1/conversations/{}/status", w.conversation.id),
            &w.admin,
            json!({"status": "closed"}),
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.body);
    let before = w.items(w.account, &w.conversation).await.len();
    let mut a = Socket::agent(&w.app, &w.member_token).await;
    let client_id = uuid();
    a.send(send_frame(w.conversation.id, &client_id, "hello?"))
        .await;
    let refused = a.error("conversation_closed").await;
    assert_eq!(refused["client_id"], client_id);
    assert_eq!(w.items(w.account, &w.conversation).await.len(), before);
}

async fn typing_and_read_reach_the_other_agents_only(backend: Backend) {
    let w = World::new(backend).await;
    let conversation = w.conversation.id;
    let mut a = Socket::agent(&w.app, &w.member_token).await;
    let mut b = Socket::agent(&w.app, &w.admin).await;
    let base = a.subscribe(conversation, 0).await;
    a.items(usize::try_from(base).unwrap()).await;
    b.subscribe(conversation, base).await;
    a.send(json!({"type": "typing", "conversation_id": conversation, "state": "start"}))
        .await;
    let typing = b.next().await;
    assert_eq!(typing["type"], "typing");
    assert_eq!(typing["agent_id"], json!(w.member.id));
    assert_eq!(typing["state"], "start");
    a.send(json!({"type": "read", "conversation_id": conversation, "seq": base}))
        .await;
    let read = b.next().await;
    assert_eq!(
        (read["type"].as_str(), read["seq"].as_i64()),
        (Some("read"), Some(base))
    );
    a.quiet().await;
    assert_eq!(
        w.items(w.account, &w.conversation).await.len(),
        usize::try_from(base).unwrap(),
        "nothing stored"
    );
}

async fn comments_name_refused_mentions_and_unsubscribing_stops_delivery(backend: Backend) {
    let w = World::new(backend).await;
    let conversation = w.conversation.id;
    let mut a = Socket::agent(&w.app, &w.member_token).await;
    let mut b = Socket::agent(&w.app, &w.admin).await;
    let base = b.subscribe(conversation, 0).await;
    b.items(usize::try_from(base).unwrap()).await;

    let comment = |client_id: &str, mentions: Value| {
        json!({
            "type": "comment",
            "conversation_id": conversation,
            "client_id": client_id,
            "body": "can you look?",
            "mentions": mentions,
        })
    };
    a.send(comment(&uuid(), json!([w.outsider.id]))).await;
    assert_eq!(a.error("invalid_field").await["field"], "mentions[0]");
    let client_id = uuid();
    a.send(comment(&client_id, json!([w.app.admin.id, w.app.admin.id])))
        .await;
    assert_eq!(a.next().await["seq"], json!(base + 1));
    let item = b.next().await;
    assert_eq!(item["item"]["kind"], "comment", "{item}");
    assert_eq!(item["item"]["mentions"], json!([w.app.admin.id]));
    assert_eq!(item["item"]["client_id"], client_id);

    b.send(json!({"type": "unsubscribe", "conversation_id": conversation}))
        .await;
    // Frames of one socket are handled in order: once this is answered, the unsubscribe is done.
    b.send(json!({"type": "subscribe", "conversation_id": "nope"}))
        .await;
    b.error("invalid_field").await;
    a.send(send_frame(conversation, &uuid(), "anyone?")).await;
    assert_eq!(a.next().await["type"], "ack");
    b.quiet().await;
}

async fn teammates_see_an_agent_come_online_on_their_sockets(backend: Backend) {
    let w = World::new(backend).await;
    let mut watcher = Socket::agent(&w.app, &w.admin).await;
    let _member = Socket::agent(&w.app, &w.member_token).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let wanted = json!(w.member.id);
    while !watcher
        .presence
        .iter()
        .any(|f| f["agent_id"] == wanted && f["online"] == true)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no presence frame: {:?}",
            watcher.presence
        );
        // Reading drives the socket; presence frames are set aside as they arrive.
        watcher.quiet().await;
    }
    let frame = watcher
        .presence
        .iter()
        .find(|f| f["agent_id"] == wanted)
        .unwrap();
    assert_eq!(frame["status"], "available", "{frame}");
}

/// Waits until `socket` has been told of `conversation` with `status`; answers that frame.
async fn announced(socket: &mut Socket, conversation: &str, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let found = socket.announced.iter().find(|f| {
            f["conversation"]["id"] == conversation && f["conversation"]["status"] == status
        });
        if let Some(frame) = found {
            return frame.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never announced {conversation} as {status}: {:?}",
            socket.announced
        );
        // Reading drives the socket; conversation frames are set aside as they arrive.
        socket.quiet().await;
    }
}

async fn inbox_members_hear_of_new_and_changed_conversations_others_do_not(backend: Backend) {
    let w = World::new(backend).await;
    let mut member = Socket::agent(&w.app, &w.member_token).await;
    let mut admin = Socket::agent(&w.app, &w.admin).await;
    let mut outsider = Socket::agent(&w.app, &w.outsider_token).await;

    let created = w
        .app
        .post(
            "/api/v1/conversations",
            &w.admin,
            json!({"channel_id": w.channel.id, "contact_id": w.contact.id}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    announced(&mut member, &id, "open").await;
    announced(&mut admin, &id, "open").await;

    let closed = w
        .app
        .post(
            &format!("/api/v1/conversations/{id}/status"),
            &w.admin,
            json!({"status": "closed"}),
        )
        .await;
    assert_eq!(closed.status, 200, "{:?}", closed.body);
    let frame = announced(&mut member, &id, "closed").await;
    assert_eq!(frame["conversation"]["inbox_id"], json!(w.inbox.id));

    outsider.quiet().await;
    assert!(
        outsider
            .announced
            .iter()
            .all(|f| f["conversation"]["id"] != id),
        "not a member of the inbox: {:?}",
        outsider.announced
    );
}

async fn connection_attempts_are_limited_per_ip(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[("PARLEY__AUTH__SOCKET_CONNECTS_PER_IP_PER_MINUTE", "2")],
    )
    .await;
    let _first = Socket::try_open(&app, "/ws/agent", &[])
        .await
        .expect("first connection");
    let second = Socket::try_open(&app, "/ws/visitor", &[])
        .await
        .map(|_| ())
        .or_else(|e| {
            // The visitor socket refuses a missing channel (400) after counting the attempt.
            match e {
                tokio_tungstenite::tungstenite::Error::Http(r) if r.status() == 400 => Ok(()),
                other => Err(other),
            }
        });
    assert!(second.is_ok(), "{second:?}");
    match Socket::try_open(&app, "/ws/agent", &[]).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429, "third attempt from one IP");
        }
        Err(other) => panic!("expected 429, got {other}"),
        Ok(_) => panic!("a third connection within the minute was accepted"),
    }
}

on_both_backends!(
    inbox_members_hear_of_new_and_changed_conversations_others_do_not,
    connection_attempts_are_limited_per_ip,
    teammates_see_an_agent_come_online_on_their_sockets,
    comments_name_refused_mentions_and_unsubscribing_stops_delivery,
    two_agents_get_every_item_once_in_order_and_resends_change_nothing,
    a_reconnecting_agent_gets_exactly_what_it_missed_then_live_items,
    rest_replies_reach_subscribed_sockets,
    sockets_see_only_conversations_their_agent_may_see,
    authentication_by_frame_or_cookie_and_nothing_before_it,
    bad_frames_get_error_frames_and_other_sockets_keep_working,
    a_flood_of_frames_is_refused_then_closed,
    writes_to_closed_conversations_are_refused,
    typing_and_read_reach_the_other_agents_only,
);
