//! Accounts, agents, sessions, API tokens and teams on PostgreSQL.

use deadpool_postgres::{GenericClient, Pool};
use time::OffsetDateTime;
use tokio_postgres::types::Json;
use uuid::Uuid;

use super::{execute, not_found, now, query, query_one, query_opt, rows, sorted_ids};
use crate::domain::*;
use crate::store::{LoginRecord, StoreResult};

pub(super) async fn create_account(pool: &Pool, name: Name) -> StoreResult<Account> {
    let client = pool.get().await?;
    let row = query_one(
        &client,
        concat!(
            "INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3) RETURNING ",
            account_columns!()
        ),
        &[&AccountId::new().0, &name.as_str(), &now()],
    )
    .await?;
    rows::account(&row)
}

pub(super) async fn get_account(pool: &Pool, id: AccountId) -> StoreResult<Account> {
    let client = pool.get().await?;
    let row = query_opt(
        &client,
        concat!(
            "SELECT ",
            account_columns!(),
            " FROM accounts WHERE id = $1"
        ),
        &[&id.0],
    )
    .await?
    .ok_or(not_found("account"))?;
    rows::account(&row)
}

pub(super) async fn count_accounts(pool: &Pool) -> StoreResult<u64> {
    let client = pool.get().await?;
    let row = query_one(&client, "SELECT count(*) AS n FROM accounts", &[]).await?;
    let n: i64 = row.try_get("n")?;
    Ok(n.unsigned_abs())
}

pub(super) async fn create_agent(
    pool: &Pool,
    account: AccountId,
    new: NewAgent,
) -> StoreResult<Agent> {
    let client = pool.get().await?;
    let row = query_one(
        &client,
        concat!(
            "INSERT INTO agents (id, account_id, email, role, display_name, avatar_url, \
             meeting_link, notification_prefs, status, active, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, true, $10, $11) RETURNING ",
            agent_columns!()
        ),
        &[
            &AgentId::new().0,
            &account.0,
            &new.email.as_str(),
            &new.role.as_str(),
            &new.profile.display_name.as_str(),
            &new.profile.avatar_url.as_ref().map(WebUrl::as_str),
            &new.profile.meeting_link.as_ref().map(WebUrl::as_str),
            &Json(NotificationPrefs::default()),
            &AgentStatus::Available.as_str(),
            &new.password_hash,
            &now(),
        ],
    )
    .await?;
    rows::agent(&row)
}

pub(super) async fn get_agent(pool: &Pool, account: AccountId, id: AgentId) -> StoreResult<Agent> {
    let client = pool.get().await?;
    let row = query_opt(
        &client,
        concat!(
            "SELECT ",
            agent_columns!(),
            " FROM agents WHERE account_id = $1 AND id = $2"
        ),
        &[&account.0, &id.0],
    )
    .await?
    .ok_or(not_found("agent"))?;
    rows::agent(&row)
}

pub(super) async fn list_agents(pool: &Pool, account: AccountId) -> StoreResult<Vec<Agent>> {
    let client = pool.get().await?;
    query(
        &client,
        concat!(
            "SELECT ",
            agent_columns!(),
            " FROM agents WHERE account_id = $1 ORDER BY id"
        ),
        &[&account.0],
    )
    .await?
    .iter()
    .map(rows::agent)
    .collect()
}

pub(super) async fn update_agent(
    pool: &Pool,
    account: AccountId,
    id: AgentId,
    patch: AgentPatch,
) -> StoreResult<Agent> {
    let client = pool.get().await?;
    // One statement: `Option<Option<_>>` fields pass "given?" and the value separately.
    let row = query_opt(
        &client,
        concat!(
            "UPDATE agents SET \
               email = COALESCE($3, email), \
               role = COALESCE($4, role), \
               display_name = COALESCE($5, display_name), \
               avatar_url = CASE WHEN $6 THEN $7 ELSE avatar_url END, \
               meeting_link = CASE WHEN $8 THEN $9 ELSE meeting_link END, \
               notification_prefs = COALESCE($10, notification_prefs), \
               status = COALESCE($11, status), \
               active = COALESCE($12, active), \
               password_hash = COALESCE($13, password_hash) \
             WHERE account_id = $1 AND id = $2 RETURNING ",
            agent_columns!()
        ),
        &[
            &account.0,
            &id.0,
            &patch.email.as_ref().map(EmailAddress::as_str),
            &patch.role.map(AgentRole::as_str),
            &patch.display_name.as_ref().map(Name::as_str),
            &patch.avatar_url.is_some(),
            &patch.avatar_url.flatten().as_ref().map(WebUrl::as_str),
            &patch.meeting_link.is_some(),
            &patch.meeting_link.flatten().as_ref().map(WebUrl::as_str),
            &patch.notification_prefs.map(Json),
            &patch.status.map(AgentStatus::as_str),
            &patch.active,
            &patch.password_hash,
        ],
    )
    .await?
    .ok_or(not_found("agent"))?;
    rows::agent(&row)
}

pub(super) async fn find_login(
    pool: &Pool,
    email: &EmailAddress,
) -> StoreResult<Option<LoginRecord>> {
    let client = pool.get().await?;
    query_opt(
        &client,
        concat!(
            "SELECT ",
            agent_columns!(),
            ", password_hash FROM agents WHERE email = $1"
        ),
        &[&email.as_str()],
    )
    .await?
    .as_ref()
    .map(rows::login)
    .transpose()
}

pub(super) async fn create_session(pool: &Pool, session: Session) -> StoreResult<()> {
    let client = pool.get().await?;
    execute(
        &client,
        "INSERT INTO sessions (token_hash, account_id, agent_id, csrf_token, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &session.token_hash,
            &session.account_id.0,
            &session.agent_id.0,
            &session.csrf_token,
            &super::micros(session.expires_at),
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn find_session(
    pool: &Pool,
    token_hash: &str,
    now: OffsetDateTime,
) -> StoreResult<Option<(Session, Agent)>> {
    let client = pool.get().await?;
    query_opt(
        &client,
        concat!(
            "SELECT s.token_hash, s.csrf_token, s.expires_at, ",
            agent_columns_a!(),
            " FROM sessions s JOIN agents a ON a.account_id = s.account_id AND a.id = s.agent_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2"
        ),
        &[&token_hash, &now],
    )
    .await?
    .as_ref()
    .map(rows::session)
    .transpose()
}

pub(super) async fn delete_session(pool: &Pool, token_hash: &str) -> StoreResult<()> {
    let client = pool.get().await?;
    execute(
        &client,
        "DELETE FROM sessions WHERE token_hash = $1",
        &[&token_hash],
    )
    .await?;
    Ok(())
}

pub(super) async fn delete_agent_sessions(
    pool: &Pool,
    account: AccountId,
    agent: AgentId,
    keep: Option<&str>,
) -> StoreResult<u64> {
    let client = pool.get().await?;
    let ended = execute(
        &client,
        "DELETE FROM sessions WHERE account_id = $1 AND agent_id = $2 \
         AND token_hash IS DISTINCT FROM $3",
        &[&account.0, &agent.0, &keep],
    )
    .await?;
    Ok(ended)
}

pub(super) async fn create_api_token(
    pool: &Pool,
    account: AccountId,
    agent: AgentId,
    name: Name,
    token_hash: String,
) -> StoreResult<ApiToken> {
    let client = pool.get().await?;
    let row = query_one(
        &client,
        concat!(
            "INSERT INTO api_tokens (id, account_id, agent_id, name, token_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
            api_token_columns!()
        ),
        &[
            &ApiTokenId::new().0,
            &account.0,
            &agent.0,
            &name.as_str(),
            &token_hash,
            &now(),
        ],
    )
    .await?;
    rows::api_token(&row)
}

pub(super) async fn list_api_tokens(
    pool: &Pool,
    account: AccountId,
    agent: AgentId,
) -> StoreResult<Vec<ApiToken>> {
    let client = pool.get().await?;
    query(
        &client,
        concat!(
            "SELECT ",
            api_token_columns!(),
            " FROM api_tokens WHERE account_id = $1 AND agent_id = $2 ORDER BY id"
        ),
        &[&account.0, &agent.0],
    )
    .await?
    .iter()
    .map(rows::api_token)
    .collect()
}

pub(super) async fn delete_api_token(
    pool: &Pool,
    account: AccountId,
    id: ApiTokenId,
) -> StoreResult<()> {
    let client = pool.get().await?;
    let deleted = execute(
        &client,
        "DELETE FROM api_tokens WHERE account_id = $1 AND id = $2",
        &[&account.0, &id.0],
    )
    .await?;
    if deleted == 0 {
        return Err(not_found("api_token"));
    }
    Ok(())
}

pub(super) async fn find_api_token(
    pool: &Pool,
    token_hash: &str,
) -> StoreResult<Option<(ApiToken, Agent)>> {
    let client = pool.get().await?;
    query_opt(
        &client,
        concat!(
            "SELECT t.id AS token_id, t.name AS token_name, t.created_at AS token_created_at, ",
            agent_columns_a!(),
            " FROM api_tokens t JOIN agents a ON a.account_id = t.account_id AND a.id = t.agent_id \
             WHERE t.token_hash = $1"
        ),
        &[&token_hash],
    )
    .await?
    .as_ref()
    .map(rows::api_token_with_agent)
    .transpose()
}

async fn read_team(
    client: &impl GenericClient,
    account: AccountId,
    id: TeamId,
) -> StoreResult<Team> {
    let row = query_opt(
        client,
        concat!(
            "SELECT ",
            team_columns!(),
            " FROM teams WHERE account_id = $1 AND id = $2"
        ),
        &[&account.0, &id.0],
    )
    .await?
    .ok_or(not_found("team"))?;
    rows::team(&row)
}

/// Replaces a team's members. A member outside the account fails the team members' foreign key,
/// reported as `Invalid { field: "member_ids" }`.
async fn write_team_members(
    client: &impl GenericClient,
    account: AccountId,
    team: TeamId,
    member_ids: Vec<AgentId>,
) -> StoreResult<()> {
    let members = sorted_ids(member_ids.into_iter().map(|m| m.0));
    execute(
        client,
        "DELETE FROM team_members WHERE account_id = $1 AND team_id = $2",
        &[&account.0, &team.0],
    )
    .await?;
    execute(
        client,
        "INSERT INTO team_members (account_id, team_id, agent_id) \
         SELECT $1, $2, unnest($3::uuid[])",
        &[&account.0, &team.0, &members],
    )
    .await?;
    Ok(())
}

pub(super) async fn create_team(
    pool: &Pool,
    account: AccountId,
    name: Name,
    member_ids: Vec<AgentId>,
) -> StoreResult<Team> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let id = TeamId::new();
    execute(
        &tx,
        "INSERT INTO teams (id, account_id, name, created_at) VALUES ($1, $2, $3, $4)",
        &[&id.0, &account.0, &name.as_str(), &now()],
    )
    .await?;
    write_team_members(&tx, account, id, member_ids).await?;
    let team = read_team(&tx, account, id).await?;
    tx.commit().await?;
    Ok(team)
}

pub(super) async fn get_team(pool: &Pool, account: AccountId, id: TeamId) -> StoreResult<Team> {
    let client = pool.get().await?;
    read_team(&client, account, id).await
}

pub(super) async fn list_teams(pool: &Pool, account: AccountId) -> StoreResult<Vec<Team>> {
    let client = pool.get().await?;
    query(
        &client,
        concat!(
            "SELECT ",
            team_columns!(),
            " FROM teams WHERE account_id = $1 ORDER BY id"
        ),
        &[&account.0],
    )
    .await?
    .iter()
    .map(rows::team)
    .collect()
}

pub(super) async fn update_team(
    pool: &Pool,
    account: AccountId,
    id: TeamId,
    name: Option<Name>,
    member_ids: Option<Vec<AgentId>>,
) -> StoreResult<Team> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // Also locks the team, so two member updates apply one after the other.
    query_opt(
        &tx,
        "UPDATE teams SET name = COALESCE($3, name) WHERE account_id = $1 AND id = $2 RETURNING id",
        &[&account.0, &id.0, &name.as_ref().map(Name::as_str)],
    )
    .await?
    .ok_or(not_found("team"))?;
    if let Some(member_ids) = member_ids {
        write_team_members(&tx, account, id, member_ids).await?;
    }
    let team = read_team(&tx, account, id).await?;
    tx.commit().await?;
    Ok(team)
}

pub(super) async fn delete_team(pool: &Pool, account: AccountId, id: TeamId) -> StoreResult<()> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // Locked first, so a conversation assigned to the team meanwhile waits and then fails its
    // foreign key instead of pointing at a deleted team.
    let found: Option<Uuid> = query_opt(
        &tx,
        "SELECT id FROM teams WHERE account_id = $1 AND id = $2 FOR UPDATE",
        &[&account.0, &id.0],
    )
    .await?
    .map(|row| row.try_get("id"))
    .transpose()?;
    if found.is_none() {
        return Err(not_found("team"));
    }
    execute(
        &tx,
        "UPDATE conversations SET team_id = NULL, updated_at = $3 \
         WHERE account_id = $1 AND team_id = $2",
        &[&account.0, &id.0, &now()],
    )
    .await?;
    execute(
        &tx,
        "DELETE FROM teams WHERE account_id = $1 AND id = $2",
        &[&account.0, &id.0],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
