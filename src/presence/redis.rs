//! Presence for a cluster, held in Redis so every node answers the same.
//!
//! Keys, per account (`{a}` is the account id):
//! - `parley:presence:{a}:sockets`, a sorted set of `agent_id:socket_id` scored by the time (ms,
//!   Redis server clock) the socket stops counting: `heartbeat` sets it to now + TTL; `disconnected`
//!   lowers it to now + grace, which is what keeps an agent online through a page reload.
//! - `parley:presence:{a}:agents`, a hash `agent_id → status` of the agents others have been told
//!   are online. A change of this hash is what gets published, and each change is made by one
//!   Lua script, so when several nodes notice the same change only the first publishes it.
//! - `parley:presence:accounts`, a sorted set of accounts with presence state, for the sweep.
//!
//! Every script reads the time from Redis (`TIME`), so node clocks may disagree. A socket counts
//! while its score is in the future; `online()` computes from that, so an agent whose node
//! crashed (no disconnect, no more heartbeats) is offline everywhere once their TTL ran out.
//! Telling the others is the sweep's job: every node runs one every `sweep_interval`, which drops
//! expired sockets and publishes the agents left without one. Two nodes sweeping at once do not
//! publish twice (the hash change is atomic); if they did, it would be harmless, as a presence
//! event states the new state rather than a difference. A node also checks an agent as soon as
//! the grace of their last socket ends, so a normal disconnect is not delayed by the sweep.
//!
//! The account keys expire when nobody refreshed them for a while (see [`key_ttl`]), so state of
//! a cluster that stopped entirely does not linger. A publish that fails (bus down) is not
//! retried: the change is recorded in Redis and clients read `online()` when they resume.

use std::sync::{Arc, Weak};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Script};
use async_trait::async_trait;
use uuid::Uuid;

use super::{AgentPresence, DEFAULT_GRACE, Presence, PresenceError, publish_change};
use crate::bus::Bus;
use crate::domain::{AccountId, AgentId, AgentStatus, ConversationId};

/// How long a socket counts without a heartbeat; sessions heartbeat every 10 s, so two may be lost.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
/// How often each node looks for agents whose sockets all expired (a crashed node's agents).
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// A Redis call that takes longer than this fails, rather than stalling a session.
const REDIS_TIMEOUT: Duration = Duration::from_secs(3);
/// Reconnection attempts within one call while Redis is down. Few, so a session's call fails
/// fast (the next call tries again) instead of waiting through the crate's default of 6 backoffs.
const REDIS_RECONNECT_TRIES: usize = 2;
/// Waited past the end of a grace period before checking, so Redis' clock has passed it too.
const GRACE_CHECK_MARGIN: Duration = Duration::from_millis(20);
const ACCOUNTS_KEY: &str = "parley:presence:accounts";

#[derive(Debug, Clone, Copy)]
pub struct RedisPresenceOptions {
    /// How long a socket counts after its last heartbeat.
    pub ttl: Duration,
    /// How long an agent stays online after their last socket closed.
    pub grace: Duration,
    pub sweep_interval: Duration,
}

impl Default for RedisPresenceOptions {
    fn default() -> Self {
        Self {
            ttl: DEFAULT_TTL,
            grace: DEFAULT_GRACE,
            sweep_interval: DEFAULT_SWEEP_INTERVAL,
        }
    }
}

pub struct RedisPresence {
    inner: Arc<Inner>,
    sweep: tokio::task::AbortHandle,
}

struct Inner {
    redis: ConnectionManager,
    bus: Arc<dyn Bus>,
    options: RedisPresenceOptions,
    scripts: Scripts,
}

struct Scripts {
    heartbeat: Script,
    disconnected: Script,
    set_status: Script,
    sweep: Script,
    online: Script,
    visitor_heartbeat: Script,
    visitor_disconnected: Script,
    visitor_online: Script,
}

/// Every script starts with this: milliseconds on the Redis server's clock.
const NOW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
";

impl Scripts {
    fn new() -> Self {
        let script = |body: &str| Script::new(&format!("{NOW}{body}"));
        Self {
            // KEYS: sockets, agents, accounts. ARGV: agent, socket, status, ttl ms, key ttl ms,
            // account. Returns 1 when the agent's visible state changed.
            heartbeat: script(
                r"
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[1] .. ':' .. ARGV[2])
local old = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[3], now, ARGV[6])
if old == ARGV[3] then return 0 end
return 1
",
            ),
            // KEYS: sockets. ARGV: agent:socket, grace ms.
            disconnected: script(
                r"
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
local until_ms = now + tonumber(ARGV[2])
if score and tonumber(score) > until_ms then
  redis.call('ZADD', KEYS[1], until_ms, ARGV[1])
end
return 0
",
            ),
            // KEYS: agents. ARGV: agent, status. An agent not online is left alone.
            set_status: script(
                r"
local old = redis.call('HGET', KEYS[1], ARGV[1])
if (not old) or old == ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
",
            ),
            // KEYS: sockets, agents, accounts. ARGV: account.
            // Returns [agent, status, ...] of the agents that just went offline.
            sweep: script(
                r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local live = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  live[string.match(m, '^[^:]+')] = true
end
local gone = {}
local agents = redis.call('HGETALL', KEYS[2])
for i = 1, #agents, 2 do
  if not live[agents[i]] then
    redis.call('HDEL', KEYS[2], agents[i])
    table.insert(gone, agents[i])
    table.insert(gone, agents[i + 1])
  end
end
if redis.call('EXISTS', KEYS[1]) == 0 and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('ZREM', KEYS[3], ARGV[1])
end
return gone
",
            ),
            // KEYS: sockets, agents. Returns [agent, status, ...] of agents with a live socket.
            online: script(
                r"
local seen = {}
local out = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
  local a = string.match(m, '^[^:]+')
  if not seen[a] then
    seen[a] = true
    local s = redis.call('HGET', KEYS[2], a)
    if s then
      table.insert(out, a)
      table.insert(out, s)
    end
  end
end
return out
",
            ),
            // KEYS: visitors. ARGV: socket, ttl ms. Returns 1 when no other socket was live.
            visitor_heartbeat: script(
                r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local before = redis.call('ZCARD', KEYS[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if before == 0 then return 1 end
return 0
",
            ),
            // KEYS: visitors. Returns how many visitor sockets are live.
            visitor_online: script("return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')"),
            // KEYS: visitors. ARGV: socket. Returns 1 when it was the last live socket.
            visitor_disconnected: script(
                r"
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if removed == 1 and redis.call('ZCARD', KEYS[1]) == 0 then return 1 end
return 0
",
            ),
        }
    }
}

/// A sorted set of a conversation's visitor sockets, scored by when each stops counting (ms,
/// Redis clock), expiring with the last of them: a crashed node's visitors go offline within
/// the TTL without a sweep (nobody is told; an agent subscribing later reads it).
fn visitors_key(conversation: ConversationId) -> String {
    format!("parley:visitors:{conversation}")
}

fn sockets_key(account: AccountId) -> String {
    format!("parley:presence:{account}:sockets")
}

fn agents_key(account: AccountId) -> String {
    format!("parley:presence:{account}:agents")
}

/// Account keys outlive every socket in them by a wide margin, so only a cluster that stopped
/// entirely (no heartbeat, no sweep) loses them.
fn key_ttl(options: &RedisPresenceOptions) -> Duration {
    options.ttl.max(options.grace) * 2 + Duration::from_secs(60)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn unavailable(e: ::redis::RedisError) -> PresenceError {
    PresenceError::Unavailable(e.to_string())
}

/// Reads the `[agent, status, ...]` lists the scripts return, skipping what does not parse
/// (nothing but Parley writes these keys, so that would be a bug, not input).
fn pairs(flat: Vec<String>) -> Vec<(AgentId, AgentStatus)> {
    flat.chunks_exact(2)
        .filter_map(|pair| {
            let agent = pair[0].parse().ok()?;
            let status = AgentStatus::parse(&pair[1]).ok()?;
            Some((agent, status))
        })
        .collect()
}

impl RedisPresence {
    /// Connects lazily: a node starts while Redis is down, and presence calls fail with
    /// [`PresenceError::Unavailable`] until it is back. Starts this node's sweep.
    pub fn new(redis_url: &str, bus: Arc<dyn Bus>, ttl: Duration) -> Result<Self, PresenceError> {
        Self::with_options(
            redis_url,
            bus,
            RedisPresenceOptions {
                ttl,
                ..RedisPresenceOptions::default()
            },
        )
    }

    pub fn with_options(
        redis_url: &str,
        bus: Arc<dyn Bus>,
        options: RedisPresenceOptions,
    ) -> Result<Self, PresenceError> {
        let client = Client::open(redis_url).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(REDIS_RECONNECT_TRIES);
        let redis = ConnectionManager::new_lazy_with_config(client, config).map_err(unavailable)?;
        let inner = Arc::new(Inner {
            redis,
            bus,
            options,
            scripts: Scripts::new(),
        });
        let sweep = tokio::spawn(sweep_loop(Arc::downgrade(&inner))).abort_handle();
        Ok(Self { inner, sweep })
    }
}

impl Drop for RedisPresence {
    fn drop(&mut self) {
        self.sweep.abort();
    }
}

async fn sweep_loop(inner: Weak<Inner>) {
    let Some(interval) = inner.upgrade().map(|i| i.options.sweep_interval) else {
        return;
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if let Err(e) = inner.sweep_all().await {
            tracing::warn!(error = %e, "presence sweep failed");
        }
    }
}

impl Inner {
    async fn sweep_all(&self) -> Result<(), PresenceError> {
        let accounts: Vec<String> = ::redis::cmd("ZRANGE")
            .arg(ACCOUNTS_KEY)
            .arg(0)
            .arg(-1)
            .query_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        for account in accounts {
            match account.parse() {
                Ok(account) => self.sweep_account(account).await?,
                Err(_) => tracing::warn!(%account, "not an account id in presence accounts"),
            }
        }
        Ok(())
    }

    async fn sweep_account(&self, account: AccountId) -> Result<(), PresenceError> {
        let gone: Vec<String> = self
            .scripts
            .sweep
            .key(sockets_key(account))
            .key(agents_key(account))
            .key(ACCOUNTS_KEY)
            .arg(account.to_string())
            .invoke_async(&mut self.redis.clone())
            .await
            .map_err(unavailable)?;
        for (agent, status) in pairs(gone) {
            publish_change(self.bus.as_ref(), account, agent, status, false).await;
        }
        Ok(())
    }
}

#[async_trait]
impl Presence for RedisPresence {
    async fn heartbeat(
        &self,
        account: AccountId,
        agent: AgentId,
        socket: Uuid,
        status: AgentStatus,
    ) -> Result<(), PresenceError> {
        let inner = &self.inner;
        let changed: i64 = inner
            .scripts
            .heartbeat
            .key(sockets_key(account))
            .key(agents_key(account))
            .key(ACCOUNTS_KEY)
            .arg(agent.to_string())
            .arg(socket.to_string())
            .arg(status.as_str())
            .arg(millis(inner.options.ttl))
            .arg(millis(key_ttl(&inner.options)))
            .arg(account.to_string())
            .invoke_async(&mut inner.redis.clone())
            .await
            .map_err(unavailable)?;
        if changed == 1 {
            publish_change(inner.bus.as_ref(), account, agent, status, true).await;
        }
        Ok(())
    }

    async fn disconnected(
        &self,
        account: AccountId,
        agent: AgentId,
        socket: Uuid,
    ) -> Result<(), PresenceError> {
        let inner = &self.inner;
        let _: i64 = inner
            .scripts
            .disconnected
            .key(sockets_key(account))
            .arg(format!("{agent}:{socket}"))
            .arg(millis(inner.options.grace))
            .invoke_async(&mut inner.redis.clone())
            .await
            .map_err(unavailable)?;
        let weak = Arc::downgrade(inner);
        let wait = inner.options.grace + GRACE_CHECK_MARGIN;
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if let Some(inner) = weak.upgrade()
                && let Err(e) = inner.sweep_account(account).await
            {
                // The periodic sweep will catch it.
                tracing::warn!(error = %e, %account, "presence check after grace failed");
            }
        });
        Ok(())
    }

    async fn set_status(
        &self,
        account: AccountId,
        agent: AgentId,
        status: AgentStatus,
    ) -> Result<(), PresenceError> {
        let inner = &self.inner;
        let changed: i64 = inner
            .scripts
            .set_status
            .key(agents_key(account))
            .arg(agent.to_string())
            .arg(status.as_str())
            .invoke_async(&mut inner.redis.clone())
            .await
            .map_err(unavailable)?;
        if changed == 1 {
            publish_change(inner.bus.as_ref(), account, agent, status, true).await;
        }
        Ok(())
    }

    async fn online(&self, account: AccountId) -> Result<Vec<AgentPresence>, PresenceError> {
        let inner = &self.inner;
        let flat: Vec<String> = inner
            .scripts
            .online
            .key(sockets_key(account))
            .key(agents_key(account))
            .invoke_async(&mut inner.redis.clone())
            .await
            .map_err(unavailable)?;
        let mut online: Vec<AgentPresence> = pairs(flat)
            .into_iter()
            .map(|(agent_id, status)| AgentPresence {
                agent_id,
                status,
                online: true,
            })
            .collect();
        online.sort_by_key(|p| p.agent_id);
        Ok(online)
    }

    async fn visitor_heartbeat(
        &self,
        conversation: ConversationId,
        socket: Uuid,
    ) -> Result<bool, PresenceError> {
        let inner = &self.inner;
        let became: i64 = inner
            .scripts
            .visitor_heartbeat
            .key(visitors_key(conversation))
            .arg(socket.to_string())
            .arg(millis(inner.options.ttl))
            .invoke_async(&mut inner.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(became == 1)
    }

    async fn visitor_disconnected(
        &self,
        conversation: ConversationId,
        socket: Uuid,
    ) -> Result<bool, PresenceError> {
        let inner = &self.inner;
        let left: i64 = inner
            .scripts
            .visitor_disconnected
            .key(visitors_key(conversation))
            .arg(socket.to_string())
            .invoke_async(&mut inner.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(left == 1)
    }

    async fn visitor_online(&self, conversation: ConversationId) -> Result<bool, PresenceError> {
        let live: i64 = self
            .inner
            .scripts
            .visitor_online
            .key(visitors_key(conversation))
            .invoke_async(&mut self.inner.redis.clone())
            .await
            .map_err(unavailable)?;
        Ok(live > 0)
    }
}
