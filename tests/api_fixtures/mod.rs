//! A populated account for the contact, conversation, timeline and ticket API tests, plus a second
//! account whose ids must never be usable from the first, and helpers for requests the JSON
//! helpers of `common` cannot send (malformed or oversize bodies, cookie sessions).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test fixtures"
)]

use std::sync::OnceLock;

use parley::domain::{
    AccountId, Actor, Agent, AgentProfile, AgentRole, Channel, ChannelKind, Contact, Conversation,
    EmailAddress, Inbox, Name, NewAgent, NewChannel, NewContact, NewConversation, NewInbox,
    NewTicket, Password, Ticket, TicketPriority,
};
use serde_json::{Map, Value};

use crate::common::{Answer, TestApp};

/// Password of every agent the fixtures create.
pub const AGENT_PASSWORD: &str = "agent-password-123";
/// Larger than the default `http.max_body_bytes` (262,144).
pub const OVERSIZE_BODY_BYTES: usize = 300_000;

/// Account A (the app's own, with its admin) and account B.
pub struct World {
    pub app: TestApp,
    pub account: AccountId,
    /// Bearer token of A's admin.
    pub admin: String,
    /// A non-admin member of `inbox` (and not of `inbox2`).
    pub member: Agent,
    pub member_token: String,
    /// A non-admin who is a member of `inbox2` only.
    pub outsider: Agent,
    pub outsider_token: String,
    pub inbox: Inbox,
    pub channel: Channel,
    pub contact: Contact,
    pub conversation: Conversation,
    pub inbox2: Inbox,
    pub channel2: Channel,
    pub conversation2: Conversation,
    pub other: OtherAccount,
}

/// Account B: everything a test might try to reach from account A.
pub struct OtherAccount {
    pub account: AccountId,
    pub admin: Agent,
    pub admin_token: String,
    pub inbox: Inbox,
    pub channel: Channel,
    pub contact: Contact,
    pub conversation: Conversation,
    pub ticket: Ticket,
}

fn password_hash() -> String {
    // One argon2 hash shared by every agent: hashing is slow by design.
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        parley::auth::hash_password(&Password::parse(AGENT_PASSWORD).unwrap()).unwrap()
    })
    .clone()
}

pub async fn add_agent(app: &TestApp, account: AccountId, email: &str, role: AgentRole) -> Agent {
    let hash = tokio::task::spawn_blocking(password_hash).await.unwrap();
    app.store
        .create_agent(
            account,
            NewAgent {
                email: EmailAddress::parse(email).unwrap(),
                role,
                profile: AgentProfile {
                    display_name: Name::parse(email.split('@').next().unwrap()).unwrap(),
                    avatar_url: None,
                    meeting_link: None,
                },
                password_hash: hash,
            },
        )
        .await
        .unwrap()
}

/// An API token acting as `agent`.
pub async fn token_for(app: &TestApp, agent: &Agent) -> String {
    let (token, digest) = parley::auth::new_token(parley::auth::API_TOKEN_PREFIX).unwrap();
    app.store
        .create_api_token(
            agent.account_id,
            agent.id,
            Name::parse("tests").unwrap(),
            digest,
        )
        .await
        .unwrap();
    token
}

pub async fn add_inbox(
    app: &TestApp,
    account: AccountId,
    name: &str,
    members: Vec<Agent>,
) -> Inbox {
    app.store
        .create_inbox(
            account,
            NewInbox {
                name: Name::parse(name).unwrap(),
                routing: Default::default(),
                notification_defaults: Default::default(),
                email_filters: Default::default(),
                member_ids: members.iter().map(|a| a.id).collect(),
            },
        )
        .await
        .unwrap()
}

pub async fn add_channel(
    app: &TestApp,
    account: AccountId,
    inbox: &Inbox,
    kind: ChannelKind,
) -> Channel {
    app.store
        .create_channel(
            account,
            NewChannel {
                inbox_id: inbox.id,
                kind,
                name: Name::parse(&format!("{} {}", inbox.name, kind)).unwrap(),
                settings: Map::new(),
            },
        )
        .await
        .unwrap()
}

pub async fn add_contact(app: &TestApp, account: AccountId, email: &str) -> Contact {
    app.store
        .create_contact(
            account,
            NewContact {
                email: Some(EmailAddress::parse(email).unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

pub async fn add_conversation(
    app: &TestApp,
    account: AccountId,
    channel: &Channel,
    contact: &Contact,
    subject: &str,
) -> Conversation {
    app.store
        .create_conversation(
            account,
            NewConversation {
                channel_id: channel.id,
                contact_id: contact.id,
                subject: Some(subject.to_owned()),
            },
            Actor::System,
        )
        .await
        .unwrap()
}

impl World {
    pub async fn new(backend: crate::common::Backend) -> Self {
        let app = crate::common::spawn_app(backend).await;
        let account = app.admin.account_id;
        let admin = app.admin_token.clone();
        let member = add_agent(&app, account, "member@a.test", AgentRole::Agent).await;
        let outsider = add_agent(&app, account, "outsider@a.test", AgentRole::Agent).await;
        let member_token = token_for(&app, &member).await;
        let outsider_token = token_for(&app, &outsider).await;
        let inbox = add_inbox(&app, account, "Support", vec![member.clone()]).await;
        let channel = add_channel(&app, account, &inbox, ChannelKind::Chat).await;
        let contact = add_contact(&app, account, "visitor@customer.test").await;
        let conversation = add_conversation(&app, account, &channel, &contact, "Help").await;
        let inbox2 = add_inbox(&app, account, "Sales", vec![outsider.clone()]).await;
        let channel2 = add_channel(&app, account, &inbox2, ChannelKind::Email).await;
        let conversation2 = add_conversation(&app, account, &channel2, &contact, "Prices").await;

        let b = app
            .store
            .create_account(Name::parse("Other company").unwrap())
            .await
            .unwrap();
        let b_admin = add_agent(&app, b.id, "admin@b.test", AgentRole::Admin).await;
        let b_token = token_for(&app, &b_admin).await;
        let b_inbox = add_inbox(&app, b.id, "B support", vec![]).await;
        let b_channel = add_channel(&app, b.id, &b_inbox, ChannelKind::Chat).await;
        let b_contact = add_contact(&app, b.id, "someone@b-customer.test").await;
        let b_conversation = add_conversation(&app, b.id, &b_channel, &b_contact, "B").await;
        let b_ticket = app
            .store
            .create_ticket(
                b.id,
                NewTicket {
                    conversation_id: b_conversation.id,
                    title: Some(Name::parse("B ticket").unwrap()),
                    priority: TicketPriority::High,
                    owner_id: None,
                },
            )
            .await
            .unwrap();

        Self {
            app,
            account,
            admin,
            member,
            member_token,
            outsider,
            outsider_token,
            inbox,
            channel,
            contact,
            conversation,
            inbox2,
            channel2,
            conversation2,
            other: OtherAccount {
                account: b.id,
                admin: b_admin,
                admin_token: b_token,
                inbox: b_inbox,
                channel: b_channel,
                contact: b_contact,
                conversation: b_conversation,
                ticket: b_ticket,
            },
        }
    }

    /// The timeline of a conversation as the store holds it (to check a refusal wrote nothing).
    pub async fn items(&self, account: AccountId, conversation: &Conversation) -> Vec<Value> {
        self.app
            .store
            .list_items(account, conversation.id, 0, 200)
            .await
            .unwrap()
            .into_iter()
            .map(|i| serde_json::to_value(i).unwrap())
            .collect()
    }
}

/// Sends `body` as-is with `Content-Type: application/json` and a bearer token.
pub async fn raw(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: impl Into<reqwest::Body>,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = reqwest::Client::new()
        .request(method, app.url(path))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    answer(response).await
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer { status, body }
}

/// A browser-like client logged in as `email` (session cookie set), and its CSRF token.
pub async fn cookie_session(app: &TestApp, email: &str) -> (reqwest::Client, String) {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let response = client
        .post(app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": AGENT_PASSWORD}))
        .send()
        .await
        .unwrap();
    let login = answer(response).await;
    assert_eq!(login.status, 200, "cookie login: {:?}", login.body);
    let csrf = login.body["csrf_token"].as_str().unwrap().to_owned();
    (client, csrf)
}

/// Sends a JSON write with the session cookie but without `X-CSRF-Token`.
pub async fn without_csrf(
    client: &reqwest::Client,
    app: &TestApp,
    method: &str,
    path: &str,
    body: Value,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = client
        .request(method, app.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    answer(response).await
}

/// Asserts an error answer: status, code and (when given) the field named.
#[track_caller]
pub fn assert_error(case: &str, answer: &Answer, status: u16, code: &str, field: Option<&str>) {
    assert_eq!(
        answer.status, status,
        "{case}: status; body {}",
        answer.body
    );
    assert_eq!(answer.code(), code, "{case}: code; body {}", answer.body);
    if let Some(field) = field {
        assert_eq!(
            answer.body["field"].as_str(),
            Some(field),
            "{case}: field; body {}",
            answer.body
        );
    }
}

/// What a refused request must answer: status, error code and the field named (if any).
pub type Expect = (u16, &'static str, Option<&'static str>);

/// 422 naming `field`.
pub const fn bad(field: &'static str) -> Expect {
    (422, "invalid_field", Some(field))
}

pub const NOT_FOUND: Expect = (404, "not_found", None);

/// Sends one request and asserts the refusal, naming `case` when it does not match.
pub async fn expect_refusal(
    app: &TestApp,
    token: &str,
    (method, path): (&str, &str),
    case: &str,
    body: Option<Value>,
    (status, code, field): Expect,
) {
    let answer = app.call(method, path, Some(token), body).await;
    assert_error(
        &format!("{method} {path}: {case}"),
        &answer,
        status,
        code,
        field,
    );
}

/// Asserts that a write route refuses, whatever the route: a malformed body (400), a body over
/// `http.max_body_bytes` (413), no credentials and an unknown token (401), and a browser session
/// without its CSRF token (403). `valid` is a body the route would accept, so that only the
/// framing or the credentials are at fault.
pub async fn refuses_bad_framing_and_credentials(
    app: &TestApp,
    token: &str,
    browser: &reqwest::Client,
    (method, path): (&str, &str),
    valid: &Value,
) {
    let case = |what: &str| format!("{method} {path}: {what}");
    let malformed = raw(app, method, path, token, "{,}").await;
    assert_error(
        &case("malformed JSON"),
        &malformed,
        400,
        "malformed_json",
        None,
    );
    let huge = serde_json::json!({"body": "x".repeat(OVERSIZE_BODY_BYTES)}).to_string();
    let oversize = raw(app, method, path, token, huge).await;
    assert_error(
        &case("oversize body"),
        &oversize,
        413,
        "payload_too_large",
        None,
    );
    let anonymous = app.call(method, path, None, Some(valid.clone())).await;
    assert_error(
        &case("no credentials"),
        &anonymous,
        401,
        "unauthenticated",
        None,
    );
    let unknown = app
        .call(method, path, Some("plt_unknown"), Some(valid.clone()))
        .await;
    assert_error(
        &case("unknown token"),
        &unknown,
        401,
        "unauthenticated",
        None,
    );
    let forged = without_csrf(browser, app, method, path, valid.clone()).await;
    assert_error(
        &case("cookie without CSRF token"),
        &forged,
        403,
        "csrf_failed",
        None,
    );
}

/// Asserts that a read route refuses a caller without credentials (401).
pub async fn refuses_anonymous_read(app: &TestApp, path: &str) {
    let answer = app.call("GET", path, None, None).await;
    assert_error(
        &format!("GET {path} anonymously"),
        &answer,
        401,
        "unauthenticated",
        None,
    );
}
