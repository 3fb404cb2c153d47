//! Stub: being written.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::*;

pub struct SqliteStore;

impl SqliteStore {
    pub async fn open(_path: &std::path::Path) -> StoreResult<Self> {
        Ok(Self)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        todo!()
    }
    async fn create_account(&self, _name: Name) -> StoreResult<Account> {
        todo!()
    }
    async fn get_account(&self, _id: AccountId) -> StoreResult<Account> {
        todo!()
    }
    async fn count_accounts(&self) -> StoreResult<u64> {
        todo!()
    }
    async fn create_agent(&self, _account: AccountId, _new: NewAgent) -> StoreResult<Agent> {
        todo!()
    }
    async fn get_agent(&self, _account: AccountId, _id: AgentId) -> StoreResult<Agent> {
        todo!()
    }
    async fn list_agents(&self, _account: AccountId) -> StoreResult<Vec<Agent>> {
        todo!()
    }
    async fn update_agent(
        &self,
        _account: AccountId,
        _id: AgentId,
        _patch: AgentPatch,
    ) -> StoreResult<Agent> {
        todo!()
    }
    async fn find_login(&self, _email: &EmailAddress) -> StoreResult<Option<LoginRecord>> {
        todo!()
    }
    async fn create_session(&self, _session: Session) -> StoreResult<()> {
        todo!()
    }
    async fn find_session(
        &self,
        _token_hash: &str,
        _now: OffsetDateTime,
    ) -> StoreResult<Option<(Session, Agent)>> {
        todo!()
    }
    async fn delete_session(&self, _token_hash: &str) -> StoreResult<()> {
        todo!()
    }
    async fn create_api_token(
        &self,
        _account: AccountId,
        _agent: AgentId,
        _name: Name,
        _token_hash: String,
    ) -> StoreResult<ApiToken> {
        todo!()
    }
    async fn list_api_tokens(
        &self,
        _account: AccountId,
        _agent: AgentId,
    ) -> StoreResult<Vec<ApiToken>> {
        todo!()
    }
    async fn delete_api_token(&self, _account: AccountId, _id: ApiTokenId) -> StoreResult<()> {
        todo!()
    }
    async fn find_api_token(&self, _token_hash: &str) -> StoreResult<Option<(ApiToken, Agent)>> {
        todo!()
    }
    async fn create_team(
        &self,
        _account: AccountId,
        _name: Name,
        _member_ids: Vec<AgentId>,
    ) -> StoreResult<Team> {
        todo!()
    }
    async fn get_team(&self, _account: AccountId, _id: TeamId) -> StoreResult<Team> {
        todo!()
    }
    async fn list_teams(&self, _account: AccountId) -> StoreResult<Vec<Team>> {
        todo!()
    }
    async fn update_team(
        &self,
        _account: AccountId,
        _id: TeamId,
        _name: Option<Name>,
        _member_ids: Option<Vec<AgentId>>,
    ) -> StoreResult<Team> {
        todo!()
    }
    async fn delete_team(&self, _account: AccountId, _id: TeamId) -> StoreResult<()> {
        todo!()
    }
    async fn create_inbox(&self, _account: AccountId, _new: NewInbox) -> StoreResult<Inbox> {
        todo!()
    }
    async fn get_inbox(&self, _account: AccountId, _id: InboxId) -> StoreResult<Inbox> {
        todo!()
    }
    async fn list_inboxes(
        &self,
        _account: AccountId,
        _member: Option<AgentId>,
    ) -> StoreResult<Vec<Inbox>> {
        todo!()
    }
    async fn update_inbox(
        &self,
        _account: AccountId,
        _id: InboxId,
        _patch: InboxPatch,
    ) -> StoreResult<Inbox> {
        todo!()
    }
    async fn set_inbox_members(
        &self,
        _account: AccountId,
        _id: InboxId,
        _member_ids: Vec<AgentId>,
    ) -> StoreResult<Inbox> {
        todo!()
    }
    async fn delete_inbox(&self, _account: AccountId, _id: InboxId) -> StoreResult<()> {
        todo!()
    }
    async fn create_channel(&self, _account: AccountId, _new: NewChannel) -> StoreResult<Channel> {
        todo!()
    }
    async fn get_channel(&self, _account: AccountId, _id: ChannelId) -> StoreResult<Channel> {
        todo!()
    }
    async fn list_channels(
        &self,
        _account: AccountId,
        _inbox: Option<InboxId>,
    ) -> StoreResult<Vec<Channel>> {
        todo!()
    }
    async fn update_channel(
        &self,
        _account: AccountId,
        _id: ChannelId,
        _patch: ChannelPatch,
    ) -> StoreResult<Channel> {
        todo!()
    }
    async fn delete_channel(&self, _account: AccountId, _id: ChannelId) -> StoreResult<()> {
        todo!()
    }
    async fn create_chatflow(
        &self,
        _account: AccountId,
        _new: NewChatflow,
    ) -> StoreResult<Chatflow> {
        todo!()
    }
    async fn get_chatflow(&self, _account: AccountId, _id: ChatflowId) -> StoreResult<Chatflow> {
        todo!()
    }
    async fn list_chatflows(
        &self,
        _account: AccountId,
        _channel: ChannelId,
    ) -> StoreResult<Vec<Chatflow>> {
        todo!()
    }
    async fn update_chatflow(
        &self,
        _account: AccountId,
        _id: ChatflowId,
        _patch: ChatflowPatch,
    ) -> StoreResult<Chatflow> {
        todo!()
    }
    async fn delete_chatflow(&self, _account: AccountId, _id: ChatflowId) -> StoreResult<()> {
        todo!()
    }
    async fn create_contact(&self, _account: AccountId, _new: NewContact) -> StoreResult<Contact> {
        todo!()
    }
    async fn get_contact(&self, _account: AccountId, _id: ContactId) -> StoreResult<Contact> {
        todo!()
    }
    async fn update_contact(
        &self,
        _account: AccountId,
        _id: ContactId,
        _patch: ContactPatch,
    ) -> StoreResult<Contact> {
        todo!()
    }
    async fn search_contacts(
        &self,
        _account: AccountId,
        _query: ContactQuery,
        _page: PageRequest,
    ) -> StoreResult<Page<Contact>> {
        todo!()
    }
    async fn merge_contacts(
        &self,
        _account: AccountId,
        _kept: ContactId,
        _merged: ContactId,
    ) -> StoreResult<Contact> {
        todo!()
    }
    async fn create_conversation(
        &self,
        _account: AccountId,
        _new: NewConversation,
        _actor: Actor,
    ) -> StoreResult<Conversation> {
        todo!()
    }
    async fn get_conversation(
        &self,
        _account: AccountId,
        _id: ConversationId,
    ) -> StoreResult<Conversation> {
        todo!()
    }
    async fn list_conversations(
        &self,
        _account: AccountId,
        _filter: ConversationFilter,
        _page: PageRequest,
    ) -> StoreResult<Page<Conversation>> {
        todo!()
    }
    async fn change_conversation(
        &self,
        _account: AccountId,
        _id: ConversationId,
        _change: ConversationChange,
        _actor: Actor,
    ) -> StoreResult<(Conversation, Option<TimelineItem>)> {
        todo!()
    }
    async fn append_item(
        &self,
        _account: AccountId,
        _conversation: ConversationId,
        _item: NewItem,
    ) -> StoreResult<Appended> {
        todo!()
    }
    async fn list_items(
        &self,
        _account: AccountId,
        _conversation: ConversationId,
        _after_seq: i64,
        _limit: u32,
    ) -> StoreResult<Vec<TimelineItem>> {
        todo!()
    }
    async fn create_ticket(&self, _account: AccountId, _new: NewTicket) -> StoreResult<Ticket> {
        todo!()
    }
    async fn get_ticket(&self, _account: AccountId, _id: TicketId) -> StoreResult<Ticket> {
        todo!()
    }
    async fn update_ticket(
        &self,
        _account: AccountId,
        _id: TicketId,
        _patch: TicketPatch,
    ) -> StoreResult<Ticket> {
        todo!()
    }
    async fn list_tickets(
        &self,
        _account: AccountId,
        _filter: TicketFilter,
        _page: PageRequest,
    ) -> StoreResult<Page<Ticket>> {
        todo!()
    }
    async fn append_event(&self, _account: AccountId, _event: NewEvent) -> StoreResult<Event> {
        todo!()
    }
    async fn list_events(
        &self,
        _account: AccountId,
        _after_id: i64,
        _limit: u32,
    ) -> StoreResult<Vec<Event>> {
        todo!()
    }
}
