//! Accounts, agents, sessions, API tokens and teams.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Row, params};
use time::OffsetDateTime;

use super::columns::{Json, Ts, now, truncate};
use super::{Fail, checked_members, not_found, require_ref};
use crate::domain::*;
use crate::store::LoginRecord;

pub(super) fn create_account(c: &Connection, name: Name) -> Result<Account, Fail> {
    let account = Account {
        id: AccountId::new(),
        name,
        created_at: now(),
    };
    c.prepare_cached("INSERT INTO accounts (id, name, created_at) VALUES (?1, ?2, ?3)")?
        .execute(params![account.id, account.name, Ts(account.created_at)])?;
    Ok(account)
}

pub(super) fn get_account(c: &Connection, id: AccountId) -> Result<Account, Fail> {
    c.prepare_cached("SELECT id, name, created_at FROM accounts WHERE id = ?1")?
        .query_row([id], |r| {
            Ok(Account {
                id: r.get("id")?,
                name: r.get("name")?,
                created_at: r.get::<_, Ts>("created_at")?.0,
            })
        })
        .optional()?
        .ok_or_else(|| not_found("account"))
}

pub(super) fn count_accounts(c: &Connection) -> Result<u64, Fail> {
    let count: i64 = c
        .prepare_cached("SELECT COUNT(*) FROM accounts")?
        .query_row([], |r| r.get(0))?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Agent columns, for a query naming the agents table `a`.
const AGENT_COLUMNS: &str = "a.id AS id, a.account_id AS account_id, a.email AS email, \
    a.role AS role, a.display_name AS display_name, a.avatar_url AS avatar_url, \
    a.meeting_link AS meeting_link, a.notification_prefs AS notification_prefs, \
    a.status AS status, a.active AS active, a.created_at AS created_at";

fn agent_row(r: &Row) -> rusqlite::Result<Agent> {
    Ok(Agent {
        id: r.get("id")?,
        account_id: r.get("account_id")?,
        email: r.get("email")?,
        role: r.get("role")?,
        profile: AgentProfile {
            display_name: r.get("display_name")?,
            avatar_url: r.get("avatar_url")?,
            meeting_link: r.get("meeting_link")?,
        },
        notification_prefs: r.get::<_, Json<NotificationPrefs>>("notification_prefs")?.0,
        status: r.get("status")?,
        active: r.get("active")?,
        created_at: r.get::<_, Ts>("created_at")?.0,
    })
}

pub(super) fn create_agent(
    c: &Connection,
    account: AccountId,
    new: NewAgent,
) -> Result<Agent, Fail> {
    get_account(c, account)?;
    let agent = Agent {
        id: AgentId::new(),
        account_id: account,
        email: new.email,
        role: new.role,
        profile: new.profile,
        notification_prefs: NotificationPrefs::default(),
        status: AgentStatus::Available,
        active: true,
        created_at: now(),
    };
    c.prepare_cached(
        "INSERT INTO agents (id, account_id, email, role, display_name, avatar_url, meeting_link,
            notification_prefs, status, active, password_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        agent.id,
        agent.account_id,
        agent.email,
        agent.role,
        agent.profile.display_name,
        agent.profile.avatar_url,
        agent.profile.meeting_link,
        Json(agent.notification_prefs),
        agent.status,
        agent.active,
        new.password_hash,
        Ts(agent.created_at),
    ])?;
    Ok(agent)
}

pub(super) fn get_agent(c: &Connection, account: AccountId, id: AgentId) -> Result<Agent, Fail> {
    c.prepare_cached(&format!(
        "SELECT {AGENT_COLUMNS} FROM agents a WHERE a.account_id = ?1 AND a.id = ?2"
    ))?
    .query_row(params![account, id], agent_row)
    .optional()?
    .ok_or_else(|| not_found("agent"))
}

pub(super) fn list_agents(c: &Connection, account: AccountId) -> Result<Vec<Agent>, Fail> {
    let agents = c
        .prepare_cached(&format!(
            "SELECT {AGENT_COLUMNS} FROM agents a WHERE a.account_id = ?1 ORDER BY a.id"
        ))?
        .query_map([account], agent_row)?
        .collect::<Result<_, _>>()?;
    Ok(agents)
}

pub(super) fn update_agent(
    c: &Connection,
    account: AccountId,
    id: AgentId,
    patch: AgentPatch,
) -> Result<Agent, Fail> {
    let mut agent = get_agent(c, account, id)?;
    if let Some(email) = patch.email {
        agent.email = email;
    }
    if let Some(role) = patch.role {
        agent.role = role;
    }
    if let Some(name) = patch.display_name {
        agent.profile.display_name = name;
    }
    if let Some(url) = patch.avatar_url {
        agent.profile.avatar_url = url;
    }
    if let Some(link) = patch.meeting_link {
        agent.profile.meeting_link = link;
    }
    if let Some(prefs) = patch.notification_prefs {
        agent.notification_prefs = prefs;
    }
    if let Some(status) = patch.status {
        agent.status = status;
    }
    if let Some(active) = patch.active {
        agent.active = active;
    }
    c.prepare_cached(
        "UPDATE agents SET email = ?3, role = ?4, display_name = ?5, avatar_url = ?6,
            meeting_link = ?7, notification_prefs = ?8, status = ?9, active = ?10,
            password_hash = COALESCE(?11, password_hash)
         WHERE account_id = ?1 AND id = ?2",
    )?
    .execute(params![
        account,
        id,
        agent.email,
        agent.role,
        agent.profile.display_name,
        agent.profile.avatar_url,
        agent.profile.meeting_link,
        Json(agent.notification_prefs),
        agent.status,
        agent.active,
        patch.password_hash,
    ])?;
    Ok(agent)
}

pub(super) fn find_login(
    c: &Connection,
    email: &EmailAddress,
) -> Result<Option<LoginRecord>, Fail> {
    let record = c
        .prepare_cached(&format!(
            "SELECT {AGENT_COLUMNS}, a.password_hash AS password_hash
             FROM agents a WHERE a.email = ?1"
        ))?
        .query_row([email], |r| {
            Ok(LoginRecord {
                agent: agent_row(r)?,
                password_hash: r.get("password_hash")?,
            })
        })
        .optional()?;
    Ok(record)
}

pub(super) fn create_session(c: &Connection, session: Session) -> Result<(), Fail> {
    c.prepare_cached(
        "INSERT INTO sessions (token_hash, account_id, agent_id, csrf_token, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        session.token_hash,
        session.account_id,
        session.agent_id,
        session.csrf_token,
        Ts(session.expires_at),
    ])?;
    Ok(())
}

pub(super) fn find_session(
    c: &Connection,
    token_hash: String,
    now: OffsetDateTime,
) -> Result<Option<(Session, Agent)>, Fail> {
    let found = c
        .prepare_cached(&format!(
            "SELECT {AGENT_COLUMNS}, s.csrf_token AS csrf_token, s.expires_at AS expires_at
             FROM sessions s
             JOIN agents a ON a.account_id = s.account_id AND a.id = s.agent_id
             WHERE s.token_hash = ?1 AND s.expires_at > ?2"
        ))?
        .query_row(params![token_hash, Ts(now)], |r| {
            let agent = agent_row(r)?;
            let csrf_token: String = r.get("csrf_token")?;
            let expires_at = r.get::<_, Ts>("expires_at")?.0;
            Ok((csrf_token, expires_at, agent))
        })
        .optional()?;
    Ok(found.map(|(csrf_token, expires_at, agent)| {
        let session = Session {
            token_hash,
            account_id: agent.account_id,
            agent_id: agent.id,
            csrf_token,
            expires_at: truncate(expires_at),
        };
        (session, agent)
    }))
}

pub(super) fn delete_session(c: &Connection, token_hash: &str) -> Result<(), Fail> {
    c.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?
        .execute([token_hash])?;
    Ok(())
}

pub(super) fn delete_agent_sessions(
    c: &Connection,
    account: AccountId,
    agent: AgentId,
    keep: Option<&str>,
) -> Result<u64, Fail> {
    let ended = c
        .prepare_cached(
            "DELETE FROM sessions WHERE account_id = ?1 AND agent_id = ?2
             AND token_hash IS NOT COALESCE(?3, '')",
        )?
        .execute(params![account, agent, keep])?;
    Ok(ended as u64)
}

pub(super) fn create_api_token(
    c: &Connection,
    account: AccountId,
    agent: AgentId,
    name: Name,
    token_hash: String,
) -> Result<ApiToken, Fail> {
    require_ref(c, "agents", account, &agent, "agent_id", "agent")?;
    let token = ApiToken {
        id: ApiTokenId::new(),
        account_id: account,
        agent_id: agent,
        name,
        created_at: now(),
    };
    c.prepare_cached(
        "INSERT INTO api_tokens (id, account_id, agent_id, name, token_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        token.id,
        token.account_id,
        token.agent_id,
        token.name,
        token_hash,
        Ts(token.created_at),
    ])?;
    Ok(token)
}

fn api_token_row(r: &Row) -> rusqlite::Result<ApiToken> {
    Ok(ApiToken {
        id: r.get("token_id")?,
        account_id: r.get("token_account_id")?,
        agent_id: r.get("token_agent_id")?,
        name: r.get("token_name")?,
        created_at: r.get::<_, Ts>("token_created_at")?.0,
    })
}

const API_TOKEN_COLUMNS: &str = "t.id AS token_id, t.account_id AS token_account_id, \
    t.agent_id AS token_agent_id, t.name AS token_name, t.created_at AS token_created_at";

pub(super) fn list_api_tokens(
    c: &Connection,
    account: AccountId,
    agent: AgentId,
) -> Result<Vec<ApiToken>, Fail> {
    let tokens = c
        .prepare_cached(&format!(
            "SELECT {API_TOKEN_COLUMNS} FROM api_tokens t
             WHERE t.account_id = ?1 AND t.agent_id = ?2 ORDER BY t.id"
        ))?
        .query_map(params![account, agent], api_token_row)?
        .collect::<Result<_, _>>()?;
    Ok(tokens)
}

pub(super) fn delete_api_token(
    c: &Connection,
    account: AccountId,
    id: ApiTokenId,
) -> Result<(), Fail> {
    let deleted = c
        .prepare_cached("DELETE FROM api_tokens WHERE account_id = ?1 AND id = ?2")?
        .execute(params![account, id])?;
    if deleted == 0 {
        return Err(not_found("API token"));
    }
    Ok(())
}

pub(super) fn find_api_token(
    c: &Connection,
    token_hash: &str,
) -> Result<Option<(ApiToken, Agent)>, Fail> {
    let found = c
        .prepare_cached(&format!(
            "SELECT {API_TOKEN_COLUMNS}, {AGENT_COLUMNS}
             FROM api_tokens t
             JOIN agents a ON a.account_id = t.account_id AND a.id = t.agent_id
             WHERE t.token_hash = ?1"
        ))?
        .query_row([token_hash], |r| Ok((api_token_row(r)?, agent_row(r)?)))
        .optional()?;
    Ok(found)
}

fn team_row(r: &Row) -> rusqlite::Result<Team> {
    Ok(Team {
        id: r.get("id")?,
        account_id: r.get("account_id")?,
        name: r.get("name")?,
        member_ids: Vec::new(),
        created_at: r.get::<_, Ts>("created_at")?.0,
    })
}

fn team_members(c: &Connection, team: TeamId) -> Result<Vec<AgentId>, Fail> {
    let members = c
        .prepare_cached("SELECT agent_id FROM team_members WHERE team_id = ?1 ORDER BY agent_id")?
        .query_map([team], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(members)
}

fn replace_team_members(
    c: &Connection,
    account: AccountId,
    team: TeamId,
    members: &[AgentId],
) -> Result<(), Fail> {
    c.prepare_cached("DELETE FROM team_members WHERE team_id = ?1")?
        .execute([team])?;
    let mut insert = c.prepare_cached(
        "INSERT INTO team_members (account_id, team_id, agent_id) VALUES (?1, ?2, ?3)",
    )?;
    for agent in members {
        insert.execute(params![account, team, agent])?;
    }
    Ok(())
}

pub(super) fn create_team(
    c: &Connection,
    account: AccountId,
    name: Name,
    member_ids: Vec<AgentId>,
) -> Result<Team, Fail> {
    let member_ids = checked_members(c, account, member_ids)?;
    let team = Team {
        id: TeamId::new(),
        account_id: account,
        name,
        member_ids,
        created_at: now(),
    };
    c.prepare_cached(
        "INSERT INTO teams (id, account_id, name, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![team.id, account, team.name, Ts(team.created_at)])?;
    replace_team_members(c, account, team.id, &team.member_ids)?;
    Ok(team)
}

pub(super) fn get_team(c: &Connection, account: AccountId, id: TeamId) -> Result<Team, Fail> {
    let mut team = c
        .prepare_cached(
            "SELECT id, account_id, name, created_at FROM teams WHERE account_id = ?1 AND id = ?2",
        )?
        .query_row(params![account, id], team_row)
        .optional()?
        .ok_or_else(|| not_found("team"))?;
    team.member_ids = team_members(c, id)?;
    Ok(team)
}

pub(super) fn list_teams(c: &Connection, account: AccountId) -> Result<Vec<Team>, Fail> {
    let mut teams: Vec<Team> = c
        .prepare_cached(
            "SELECT id, account_id, name, created_at FROM teams WHERE account_id = ?1 ORDER BY id",
        )?
        .query_map([account], team_row)?
        .collect::<Result<_, _>>()?;
    let mut members: HashMap<TeamId, Vec<AgentId>> = HashMap::new();
    let mut stmt = c.prepare_cached(
        "SELECT team_id, agent_id FROM team_members WHERE account_id = ?1
         ORDER BY team_id, agent_id",
    )?;
    let rows = stmt.query_map([account], |r| Ok((r.get(0)?, r.get(1)?)))?;
    for row in rows {
        let (team, agent): (TeamId, AgentId) = row?;
        members.entry(team).or_default().push(agent);
    }
    for team in &mut teams {
        team.member_ids = members.remove(&team.id).unwrap_or_default();
    }
    Ok(teams)
}

pub(super) fn update_team(
    c: &Connection,
    account: AccountId,
    id: TeamId,
    name: Option<Name>,
    member_ids: Option<Vec<AgentId>>,
) -> Result<Team, Fail> {
    let mut team = get_team(c, account, id)?;
    if let Some(name) = name {
        c.prepare_cached("UPDATE teams SET name = ?3 WHERE account_id = ?1 AND id = ?2")?
            .execute(params![account, id, name])?;
        team.name = name;
    }
    if let Some(member_ids) = member_ids {
        team.member_ids = checked_members(c, account, member_ids)?;
        replace_team_members(c, account, id, &team.member_ids)?;
    }
    Ok(team)
}

pub(super) fn delete_team(c: &Connection, account: AccountId, id: TeamId) -> Result<(), Fail> {
    get_team(c, account, id)?;
    c.prepare_cached(
        "UPDATE conversations SET team_id = NULL WHERE account_id = ?1 AND team_id = ?2",
    )?
    .execute(params![account, id])?;
    // Memberships go by ON DELETE CASCADE.
    c.prepare_cached("DELETE FROM teams WHERE account_id = ?1 AND id = ?2")?
        .execute(params![account, id])?;
    Ok(())
}
