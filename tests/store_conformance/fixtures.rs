//! Builders for the records the cases share, and assertions on `StoreError` that name the case.

use std::fmt::Debug;

use parley::domain::*;
use parley::store::{PageRequest, Store, StoreError, StoreResult};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::common::Backend;

pub fn name(raw: &str) -> Name {
    Name::parse(raw).unwrap()
}

pub fn email(raw: &str) -> EmailAddress {
    EmailAddress::parse(raw).unwrap()
}

pub fn phone(raw: &str) -> Phone {
    Phone::parse(raw).unwrap()
}

pub fn body(raw: &str) -> Body {
    Body::parse(raw).unwrap()
}

pub fn url(raw: &str) -> WebUrl {
    WebUrl::parse(raw).unwrap()
}

/// A JSON object literal as a settings/properties map.
pub fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// `now`, truncated to microseconds like every stored timestamp.
pub fn now_micros() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap()
}

pub fn page(limit: u32) -> PageRequest {
    PageRequest { after: None, limit }
}

pub fn all() -> PageRequest {
    page(200)
}

pub async fn account(store: &dyn Store, label: &str) -> Account {
    store.create_account(name(label)).await.unwrap()
}

pub fn new_agent(address: &str, role: AgentRole) -> NewAgent {
    NewAgent {
        email: email(address),
        role,
        profile: AgentProfile {
            display_name: name(address.split('@').next().unwrap()),
            avatar_url: None,
            meeting_link: None,
        },
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt$hash-of-{address}"),
    }
}

pub async fn agent(store: &dyn Store, account: AccountId, address: &str) -> Agent {
    store
        .create_agent(account, new_agent(address, AgentRole::Agent))
        .await
        .unwrap()
}

pub fn new_inbox(label: &str, member_ids: Vec<AgentId>) -> NewInbox {
    NewInbox {
        name: name(label),
        routing: RoutingSettings::default(),
        notification_defaults: NotificationPrefs::default(),
        email_filters: EmailFilters::default(),
        member_ids,
    }
}

pub async fn inbox(store: &dyn Store, account: AccountId, label: &str) -> Inbox {
    store
        .create_inbox(account, new_inbox(label, vec![]))
        .await
        .unwrap()
}

/// Settings a channel of each kind might carry; their shape is the channel module's business,
/// the store only keeps the object.
pub fn settings_for(kind: ChannelKind) -> Map<String, Value> {
    object(match kind {
        ChannelKind::Chat => json!({
            "allowed_origins": ["https://example.com"],
            "identity_verification": {"enabled": true, "secret": "s3cret"},
        }),
        ChannelKind::Email => json!({
            "address": "support@example.com",
            "sender_name": "Support",
            "imap": {"host": "imap.example.com", "port": 993},
            "signature": "-- \nThe team",
        }),
        ChannelKind::Messenger => json!({"page_id": "1234567890", "page_token": "EAAB…"}),
        ChannelKind::Form => json!({
            "fields": [{"name": "email", "required": true}, {"name": "message"}],
            "success_message": "Thanks!",
        }),
    })
}

pub fn new_channel(inbox: InboxId, kind: ChannelKind) -> NewChannel {
    NewChannel {
        inbox_id: inbox,
        kind,
        name: name(&format!("{kind} channel")),
        settings: settings_for(kind),
    }
}

pub async fn channel(
    store: &dyn Store,
    account: AccountId,
    inbox: InboxId,
    kind: ChannelKind,
) -> Channel {
    store
        .create_channel(account, new_channel(inbox, kind))
        .await
        .unwrap()
}

pub fn new_chatflow(channel: ChannelId, label: &str, priority: i32) -> NewChatflow {
    NewChatflow {
        channel_id: channel,
        name: name(label),
        kind: ChatflowKind::LiveChat,
        priority,
        enabled: true,
        targeting: json!({"rules": [{"url": {"contains": "/pricing"}}]}),
        availability: json!({"time_zone": "Europe/Paris", "away_message": "Back soon"}),
        branding: json!({"color": "#3366ff"}),
        flow: None,
    }
}

pub async fn contact(
    store: &dyn Store,
    account: AccountId,
    address: Option<&str>,
    label: Option<&str>,
) -> Contact {
    store
        .create_contact(
            account,
            NewContact {
                email: address.map(email),
                name: label.map(name),
                ..NewContact::default()
            },
        )
        .await
        .unwrap()
}

pub fn new_conversation(channel: ChannelId, contact: ContactId) -> NewConversation {
    NewConversation {
        channel_id: channel,
        contact_id: contact,
        subject: None,
    }
}

pub async fn conversation(
    store: &dyn Store,
    account: AccountId,
    channel: ChannelId,
    contact: ContactId,
) -> Conversation {
    store
        .create_conversation(account, new_conversation(channel, contact), Actor::System)
        .await
        .unwrap()
}

pub fn message(direction: Direction, text: &str, author: Actor) -> NewItem {
    NewItem {
        client_id: Some(Uuid::new_v4()),
        author,
        content: NewItemContent::Message {
            direction,
            body: body(text),
        },
    }
}

pub fn comment(text: &str, author: AgentId, mentions: Vec<AgentId>) -> NewItem {
    NewItem {
        client_id: Some(Uuid::new_v4()),
        author: Actor::Agent(author),
        content: NewItemContent::Comment {
            body: body(text),
            mentions,
        },
    }
}

pub fn event_item(data: Value) -> NewItem {
    NewItem {
        client_id: None,
        author: Actor::Bot,
        content: NewItemContent::Event { data },
    }
}

pub fn new_ticket(conversation: ConversationId) -> NewTicket {
    NewTicket {
        conversation_id: conversation,
        title: Some(name("Refund for order 1042")),
        priority: TicketPriority::Medium,
        owner_id: None,
    }
}

/// One account with one of everything, so cases can aim at each kind of row.
#[derive(Debug, Clone)]
pub struct World {
    pub account: Account,
    pub admin: Agent,
    pub agent: Agent,
    pub team: Team,
    pub inbox: Inbox,
    pub chat: Channel,
    pub email: Channel,
    pub chatflow: Chatflow,
    pub contact: Contact,
    pub conversation: Conversation,
    pub item: TimelineItem,
    pub ticket: Ticket,
    pub token: ApiToken,
    pub token_hash: String,
    pub session_hash: String,
}

impl World {
    /// `tag` keeps agent emails (unique across accounts) apart; everything else is named alike
    /// in every world, contact email included, so a lookup by value cannot tell worlds apart.
    pub async fn build(store: &dyn Store, tag: &str) -> Self {
        let account = account(store, &format!("Account {tag}")).await;
        let a = account.id;
        let admin = store
            .create_agent(a, new_agent(&format!("admin@{tag}.test"), AgentRole::Admin))
            .await
            .unwrap();
        let agent = agent(store, a, &format!("agent@{tag}.test")).await;
        let team = store
            .create_team(a, name("Support"), vec![agent.id])
            .await
            .unwrap();
        let inbox = store
            .create_inbox(a, new_inbox("Support", vec![admin.id, agent.id]))
            .await
            .unwrap();
        let chat = channel(store, a, inbox.id, ChannelKind::Chat).await;
        let email = channel(store, a, inbox.id, ChannelKind::Email).await;
        let chatflow = store
            .create_chatflow(a, new_chatflow(chat.id, "Website", 10))
            .await
            .unwrap();
        let contact = store
            .create_contact(
                a,
                NewContact {
                    email: Some(self::email("pat@example.com")),
                    name: Some(name("Pat Doe")),
                    phone: Some(phone("+1 555 0100")),
                    properties: object(json!({"plan": "pro"})),
                    owner_id: Some(agent.id),
                },
            )
            .await
            .unwrap();
        let conversation = store
            .create_conversation(
                a,
                NewConversation {
                    channel_id: chat.id,
                    contact_id: contact.id,
                    subject: Some("Order question".into()),
                },
                Actor::Contact(contact.id),
            )
            .await
            .unwrap();
        let item = store
            .append_item(
                a,
                conversation.id,
                message(Direction::In, "Hello?", Actor::Contact(contact.id)),
            )
            .await
            .unwrap()
            .item;
        let (conversation, _) = store
            .change_conversation(
                a,
                conversation.id,
                ConversationChange::Assign {
                    assignee_id: Some(agent.id),
                    team_id: Some(team.id),
                },
                Actor::Agent(admin.id),
            )
            .await
            .unwrap();
        let ticket = store
            .create_ticket(
                a,
                NewTicket {
                    owner_id: Some(agent.id),
                    ..new_ticket(conversation.id)
                },
            )
            .await
            .unwrap();
        let token_hash = format!("{:0>64}", format!("{tag}token"));
        let token = store
            .create_api_token(a, admin.id, name("Zapier"), token_hash.clone())
            .await
            .unwrap();
        let session_hash = format!("{:0>64}", format!("{tag}session"));
        store
            .create_session(Session {
                token_hash: session_hash.clone(),
                account_id: a,
                agent_id: admin.id,
                csrf_token: format!("csrf-{tag}"),
                expires_at: now_micros() + time::Duration::hours(1),
            })
            .await
            .unwrap();
        Self {
            account,
            admin,
            agent,
            team,
            inbox,
            chat,
            email,
            chatflow,
            contact,
            conversation,
            item,
            ticket,
            token,
            token_hash,
            session_hash,
        }
    }

    /// Every id of this world, to check a list of another account holds none of them.
    pub fn ids(&self) -> Vec<Uuid> {
        vec![
            self.account.id.0,
            self.admin.id.0,
            self.agent.id.0,
            self.team.id.0,
            self.inbox.id.0,
            self.chat.id.0,
            self.email.id.0,
            self.chatflow.id.0,
            self.contact.id.0,
            self.conversation.id.0,
            self.item.id.0,
            self.ticket.id.0,
            self.token.id.0,
        ]
    }

    /// Everything the store shows of this account, read through the account's own eyes.
    pub async fn snapshot(&self, store: &dyn Store) -> Snapshot {
        let a = self.account.id;
        let mut chatflows = vec![];
        for channel in [self.chat.id, self.email.id] {
            chatflows.extend(store.list_chatflows(a, channel).await.unwrap());
        }
        Snapshot {
            account: store.get_account(a).await.unwrap(),
            agents: store.list_agents(a).await.unwrap(),
            tokens: store.list_api_tokens(a, self.admin.id).await.unwrap(),
            session: store
                .find_session(&self.session_hash, OffsetDateTime::now_utc())
                .await
                .unwrap()
                .map(|(s, agent)| (s.token_hash, s.agent_id, s.expires_at, agent)),
            teams: store.list_teams(a).await.unwrap(),
            inboxes: store.list_inboxes(a, None).await.unwrap(),
            channels: store.list_channels(a, None).await.unwrap(),
            chatflows,
            contacts: store
                .search_contacts(a, ContactQuery::default(), all())
                .await
                .unwrap()
                .items,
            conversations: store
                .list_conversations(a, ConversationFilter::default(), all())
                .await
                .unwrap()
                .items,
            items: store
                .list_items(a, self.conversation.id, 0, 200)
                .await
                .unwrap(),
            tickets: store
                .list_tickets(a, TicketFilter::default(), all())
                .await
                .unwrap()
                .items,
            events: store.list_events(a, 0, 200).await.unwrap(),
        }
    }
}

type SessionView = (String, AgentId, OffsetDateTime, Agent);

#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub account: Account,
    pub agents: Vec<Agent>,
    pub tokens: Vec<ApiToken>,
    pub session: Option<SessionView>,
    pub teams: Vec<Team>,
    pub inboxes: Vec<Inbox>,
    pub channels: Vec<Channel>,
    pub chatflows: Vec<Chatflow>,
    pub contacts: Vec<Contact>,
    pub conversations: Vec<Conversation>,
    pub items: Vec<TimelineItem>,
    pub tickets: Vec<Ticket>,
    pub events: Vec<Event>,
}

#[track_caller]
pub fn assert_not_found<T: Debug>(result: StoreResult<T>, case: &str) {
    match result {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("{case}: expected NotFound, got {other:?}"),
    }
}

#[track_caller]
pub fn assert_invalid<T: Debug>(result: StoreResult<T>, field: &str, case: &str) {
    match result {
        Err(StoreError::Invalid { field: got, .. }) if got == field => {}
        other => panic!("{case}: expected Invalid{{field: {field:?}}}, got {other:?}"),
    }
}

#[track_caller]
pub fn assert_conflict<T: Debug>(result: StoreResult<T>, field: &str, case: &str) {
    match result {
        Err(StoreError::Conflict { field: got, .. }) if got == field => {}
        other => panic!("{case}: expected Conflict{{field: {field:?}}}, got {other:?}"),
    }
}

/// One step of a patch table: the case, the patch, and what it does to the expected record.
pub type PatchStep<P, R> = (&'static str, P, Box<dyn Fn(&mut R)>);

/// Ids of a list, for order checks.
pub fn ids<T>(rows: &[T], id: impl Fn(&T) -> Uuid) -> Vec<Uuid> {
    rows.iter().map(id).collect()
}

pub fn sorted<T: Ord + Clone>(values: &[T]) -> Vec<T> {
    let mut v = values.to_vec();
    v.sort();
    v
}

/// Runs `sql` on the test database directly, past the store.
pub async fn raw_execute(backend: Backend, url: &str, sql: &str) -> Result<u64, String> {
    match backend {
        Backend::Sqlite => {
            let path = url.strip_prefix("sqlite://").unwrap().to_owned();
            let sql = sql.to_owned();
            tokio::task::spawn_blocking(move || {
                let conn = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
                conn.busy_timeout(std::time::Duration::from_secs(5))
                    .map_err(|e| e.to_string())?;
                conn.execute(&sql, [])
                    .map(|n| n as u64)
                    .map_err(|e| e.to_string())
            })
            .await
            .unwrap()
        }
        Backend::Postgres => {
            let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            client.execute(sql, &[]).await.map_err(|e| e.to_string())
        }
    }
}

/// `(version, name)` of every row of `schema_migrations`, by version, read past the store.
pub async fn applied_migrations(backend: Backend, url: &str) -> Vec<(i64, String)> {
    let sql = "SELECT version, name FROM schema_migrations ORDER BY version";
    match backend {
        Backend::Sqlite => {
            let path = url.strip_prefix("sqlite://").unwrap().to_owned();
            tokio::task::spawn_blocking(move || {
                let conn = rusqlite::Connection::open(path).unwrap();
                let mut stmt = conn.prepare(sql).unwrap();
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .unwrap()
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap()
            })
            .await
            .unwrap()
        }
        Backend::Postgres => {
            let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            // The column types are the backend's choice; cast to what the test reads.
            let sql = "SELECT version::bigint, name::text FROM schema_migrations ORDER BY version";
            client
                .query(sql, &[])
                .await
                .unwrap()
                .iter()
                .map(|r| {
                    let version: i64 = r.get(0);
                    (version, r.get(1))
                })
                .collect()
        }
    }
}
