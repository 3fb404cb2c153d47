//! Widget identity (docs/api.md "Widget identity"): a host page vouches for its user with an
//! HMAC of their id made with the channel's secret; a verified user is one contact on every
//! device (with one open conversation), a forged or, where required, missing identity is
//! refused, and an anonymous visitor who gives an email becomes a contact without ever
//! reaching another contact's history.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_fixtures;
mod common;
mod ws_fixtures;

use api_fixtures::*;
use common::*;
use parley::channels::{ChannelSettings, identity_hash};
use parley::domain::*;
use serde_json::{Value, json};
use ws_fixtures::*;

/// A chat channel as an admin creates it (so it has its identity secret).
struct Site {
    app: TestApp,
    account: AccountId,
    channel: Channel,
    secret: String,
}

impl Site {
    async fn new(backend: Backend, required: bool) -> Self {
        let app = spawn_app(backend).await;
        let account = app.admin.account_id;
        let inbox = add_inbox(&app, account, "Support", vec![]).await;
        let input = json!({"require_identity_verification": required});
        let settings = ChannelSettings::parse_new(ChannelKind::Chat, input.as_object().unwrap())
            .unwrap()
            .to_stored();
        let secret = settings["identity_secret"].as_str().unwrap().to_owned();
        let channel = app
            .store
            .create_channel(
                account,
                NewChannel {
                    inbox_id: inbox.id,
                    kind: ChannelKind::Chat,
                    name: Name::parse("Website").unwrap(),
                    settings,
                },
            )
            .await
            .unwrap();
        Self {
            app,
            account,
            channel,
            secret,
        }
    }

    /// `POST /widget/visitors`, with `identity` when it is not null.
    async fn visit(&self, identity: Value) -> Answer {
        let mut body = json!({"account_id": self.account, "channel_id": self.channel.id});
        if !identity.is_null() {
            body["identity"] = identity;
        }
        self.app
            .call("POST", "/api/v1/widget/visitors", None, Some(body))
            .await
    }

    /// A visitor that must be accepted: `(token, visitor)`.
    async fn visitor(&self, identity: Value) -> (String, Visitor) {
        let answer = self.visit(identity).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        let token = answer.body["token"].as_str().unwrap().to_owned();
        (
            token,
            serde_json::from_value(answer.body["visitor"].clone()).unwrap(),
        )
    }

    fn signed_user(&self, user_id: &str, email: Option<&str>) -> Value {
        json!({"user_id": user_id, "email": email, "hash": identity_hash(&self.secret, user_id)})
    }

    async fn contact_of(&self, visitor: &Visitor) -> Contact {
        self.app
            .store
            .get_contact(self.account, visitor.contact_id)
            .await
            .unwrap()
    }

    async fn contact_count(&self) -> usize {
        self.app
            .store
            .search_contacts(self.account, Default::default(), Default::default())
            .await
            .unwrap()
            .items
            .len()
    }

    /// The visitor's socket, authenticated, with its `hello`.
    async fn connect(&self, token: &str) -> (Socket, Value) {
        let path = format!(
            "/ws/visitor?account_id={}&channel_id={}",
            self.account, self.channel.id
        );
        let mut socket = Socket::try_open(&self.app, &path, &[]).await.unwrap();
        socket.send(json!({"type": "auth", "token": token})).await;
        let hello = socket.next().await;
        assert_eq!(hello["type"], "hello", "{hello}");
        (socket, hello)
    }

    async fn give_email(&self, token: Option<&str>, email: &str) -> Answer {
        self.app
            .call(
                "POST",
                "/api/v1/widget/visitor/email",
                token,
                Some(json!({"email": email})),
            )
            .await
    }
}

fn assert_refused(answer: &Answer, status: u16, code: &str, field: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["error"], code, "{}", answer.body);
    assert_eq!(answer.body["field"], field, "{}", answer.body);
}

async fn a_signed_user_id_attaches_the_visitor_to_that_users_contact(backend: Backend) {
    let site = Site::new(backend, false).await;
    let (_, visitor) = site
        .visitor(site.signed_user("user-42", Some("Sam@Example.com")))
        .await;
    let contact = site.contact_of(&visitor).await;
    assert_eq!(
        contact.external_id.as_ref().map(ExternalId::as_str),
        Some("user-42")
    );
    assert_eq!(
        contact.email.as_ref().map(EmailAddress::as_str),
        Some("sam@example.com")
    );
    // Agents see who it is.
    let shown = site
        .app
        .get(
            &format!("/api/v1/contacts/{}", contact.id),
            &site.app.admin_token,
        )
        .await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_eq!(shown.body["external_id"], "user-42");
    assert_eq!(
        shown.body["email_unverified"], true,
        "the email came unsigned"
    );

    // With no user id the email itself is signed: a new contact, then found by it.
    let by_email = json!({
        "email": "kim@example.com",
        "hash": identity_hash(&site.secret, "kim@example.com"),
    });
    let (_, kim) = site.visitor(by_email.clone()).await;
    assert_ne!(kim.contact_id, contact.id);
    let (_, same) = site.visitor(by_email).await;
    assert_eq!(same.contact_id, kim.contact_id);
    assert!(!site.contact_of(&kim).await.email_unverified);

    // Where verification is optional, a visitor may still come anonymously.
    let (_, anonymous) = site.visitor(Value::Null).await;
    assert_ne!(anonymous.contact_id, contact.id);
}

async fn a_forged_or_malformed_identity_is_refused_and_writes_nothing(backend: Backend) {
    let site = Site::new(backend, false).await;
    let before = site.contact_count().await;
    let cases = [
        (
            json!({"user_id": "user-42", "hash": identity_hash("not the secret", "user-42")}),
            "another key",
        ),
        (
            json!({"user_id": "user-43", "hash": identity_hash(&site.secret, "user-42")}),
            "another user's hash",
        ),
        (
            json!({"user_id": "user-42", "email": "a@example.com",
                   "hash": identity_hash(&site.secret, "a@example.com")}),
            "the email signed although a user id came",
        ),
        (json!({"user_id": "user-42", "hash": "zz"}), "not hex"),
        (json!({"user_id": "user-42", "hash": ""}), "empty"),
    ];
    for (identity, case) in cases {
        let answer = site.visit(identity).await;
        assert_eq!(answer.status, 403, "{case}: {}", answer.body);
        assert_refused(&answer, 403, "identity_invalid", "identity.hash");
    }
    let bad_email =
        json!({"email": "not-an-email", "hash": identity_hash(&site.secret, "not-an-email")});
    assert_refused(
        &site.visit(bad_email).await,
        422,
        "invalid_field",
        "identity.email",
    );
    let nothing = json!({"hash": identity_hash(&site.secret, "")});
    assert_refused(&site.visit(nothing).await, 422, "invalid_field", "identity");
    let spaced = json!({"user_id": " user-42", "hash": identity_hash(&site.secret, " user-42")});
    assert_refused(
        &site.visit(spaced).await,
        422,
        "invalid_field",
        "identity.user_id",
    );
    assert_eq!(site.contact_count().await, before, "no contact was created");
}

async fn a_channel_requiring_identity_refuses_anonymous_visitors(backend: Backend) {
    let site = Site::new(backend, true).await;
    let before = site.contact_count().await;
    assert_refused(
        &site.visit(Value::Null).await,
        403,
        "identity_required",
        "identity",
    );
    let forged = json!({"user_id": "user-42", "hash": identity_hash("guess", "user-42")});
    assert_refused(
        &site.visit(forged).await,
        403,
        "identity_invalid",
        "identity.hash",
    );
    assert_eq!(site.contact_count().await, before);
    let (_, visitor) = site.visitor(site.signed_user("user-42", None)).await;
    assert_eq!(
        site.contact_of(&visitor)
            .await
            .external_id
            .map(String::from),
        Some("user-42".to_owned())
    );
}

async fn the_same_user_on_another_device_continues_the_same_conversation(backend: Backend) {
    let site = Site::new(backend, true).await;
    let identity = site.signed_user("user-42", None);
    let (laptop_token, laptop) = site.visitor(identity.clone()).await;
    let (mut laptop_socket, hello) = site.connect(&laptop_token).await;
    assert_eq!(hello["conversation"], Value::Null);
    laptop_socket
        .send(json!({"type": "send", "client_id": uuid(), "body": "sent from my laptop"}))
        .await;
    let ack = laptop_socket.next().await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let conversation = ack["conversation_id"].as_str().unwrap().to_owned();

    let (phone_token, phone) = site.visitor(identity).await;
    assert_ne!(phone_token, laptop_token, "each device keeps its own token");
    assert_ne!(phone.id, laptop.id);
    assert_eq!(
        phone.contact_id, laptop.contact_id,
        "one contact for the user"
    );
    let (mut phone_socket, hello) = site.connect(&phone_token).await;
    assert_eq!(hello["conversation"]["id"], conversation, "{hello}");
    phone_socket
        .send(json!({"type": "subscribe", "conversation_id": conversation, "after_seq": 0}))
        .await;
    phone_socket.next().await;
    assert_eq!(
        phone_socket.items(1).await,
        vec![(1, "sent from my laptop".to_owned())],
        "the history follows the user"
    );

    // Another user of the site sees none of it.
    let (other_token, other) = site.visitor(site.signed_user("user-7", None)).await;
    assert_ne!(other.contact_id, laptop.contact_id);
    let (_, hello) = site.connect(&other_token).await;
    assert_eq!(hello["conversation"], Value::Null);
}

async fn an_anonymous_visitor_becomes_a_contact_by_giving_an_email(backend: Backend) {
    let site = Site::new(backend, false).await;
    let (token, visitor) = site.visitor(Value::Null).await;
    let answer = site.give_email(Some(&token), "Ann@Example.com").await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    let contact = site.contact_of(&visitor).await;
    assert_eq!(
        contact.email.as_ref().map(EmailAddress::as_str),
        Some("ann@example.com")
    );
    assert_eq!(
        contact.id, visitor.contact_id,
        "the same contact, now with an email"
    );
    assert!(contact.email_unverified, "typed, not checked");

    assert_refused(
        &site.give_email(Some(&token), "ann at example").await,
        422,
        "invalid_field",
        "email",
    );
    let stranger = site.give_email(None, "ann@example.com").await;
    assert_eq!(stranger.status, 401, "{}", stranger.body);
    let unknown = site
        .give_email(Some("plv_0123456789"), "ann@example.com")
        .await;
    assert_eq!(unknown.status, 401, "{}", unknown.body);
}

async fn giving_someone_elses_email_reaches_none_of_their_history(backend: Backend) {
    let site = Site::new(backend, false).await;
    let (ann_token, ann) = site.visitor(Value::Null).await;
    assert_eq!(
        site.give_email(Some(&ann_token), "ann@example.com")
            .await
            .status,
        204
    );
    let (mut socket, _) = site.connect(&ann_token).await;
    socket
        .send(json!({"type": "send", "client_id": uuid(), "body": "my card number is …"}))
        .await;
    assert_eq!(socket.next().await["type"], "ack");

    let (mallory_token, mallory) = site.visitor(Value::Null).await;
    let answer = site
        .give_email(Some(&mallory_token), "ann@example.com")
        .await;
    assert_eq!(
        answer.status, 204,
        "the same answer: whether the address is known stays secret"
    );
    let contact = site.contact_of(&mallory).await;
    assert_ne!(contact.id, ann.contact_id, "not attached to Ann's contact");
    assert_eq!(contact.email, None, "Ann's address stays Ann's");
    assert_eq!(
        contact.properties["given_email"], "ann@example.com",
        "kept for an agent"
    );
    let (_, hello) = site.connect(&mallory_token).await;
    assert_eq!(hello["conversation"], Value::Null, "none of Ann's history");
    assert_eq!(
        site.contact_of(&ann)
            .await
            .email
            .as_ref()
            .map(EmailAddress::as_str),
        Some("ann@example.com")
    );
}

async fn typing_someones_address_first_does_not_catch_their_signed_visits(backend: Backend) {
    let site = Site::new(backend, false).await;
    let (squatter_token, squatter) = site.visitor(Value::Null).await;
    let typed = site
        .give_email(Some(&squatter_token), "lee@example.com")
        .await;
    assert_eq!(typed.status, 204, "{}", typed.body);

    let signed = json!({
        "email": "lee@example.com",
        "hash": identity_hash(&site.secret, "lee@example.com"),
    });
    let (lee_token, lee) = site.visitor(signed).await;
    assert_ne!(lee.contact_id, squatter.contact_id);
    let (mut socket, _) = site.connect(&lee_token).await;
    socket
        .send(json!({"type": "send", "client_id": uuid(), "body": "my new address is …"}))
        .await;
    assert_eq!(socket.next().await["type"], "ack");

    let (_, hello) = site.connect(&squatter_token).await;
    assert_eq!(
        hello["conversation"],
        Value::Null,
        "the squatter sees nothing of Lee's"
    );
    let lee_contact = site.contact_of(&lee).await;
    assert_eq!(
        lee_contact.email.as_ref().map(EmailAddress::as_str),
        Some("lee@example.com")
    );
    assert!(!lee_contact.email_unverified);
}

on_both_backends!(
    typing_someones_address_first_does_not_catch_their_signed_visits,
    a_signed_user_id_attaches_the_visitor_to_that_users_contact,
    a_forged_or_malformed_identity_is_refused_and_writes_nothing,
    a_channel_requiring_identity_refuses_anonymous_visitors,
    the_same_user_on_another_device_continues_the_same_conversation,
    an_anonymous_visitor_becomes_a_contact_by_giving_an_email,
    giving_someone_elses_email_reaches_none_of_their_history,
);
