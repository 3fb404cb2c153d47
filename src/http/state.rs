//! What every handler shares: the store, the settings and the login rate limiters.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota};

use crate::actors::Assignments;
use crate::bus::Bus;
use crate::config::Settings;
use crate::domain::VisitorId;
use crate::presence::Presence;
use crate::store::DynStore;

/// Per-key limiters for login attempts. Every attempt spends one cell, so a guesser is slowed
/// by IP and, across IPs, by the account they target.
pub struct LoginLimits {
    pub per_ip: DefaultKeyedRateLimiter<IpAddr>,
    pub per_email: DefaultKeyedRateLimiter<String>,
}

impl LoginLimits {
    pub fn new(per_ip_per_minute: u32, per_email_per_minute: u32) -> Self {
        let quota =
            |n: u32| Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        Self {
            per_ip: DefaultKeyedRateLimiter::keyed(quota(per_ip_per_minute)),
            per_email: DefaultKeyedRateLimiter::keyed(quota(per_email_per_minute)),
        }
    }
}

/// A per-client-IP limiter allowing `per_minute` (burst the same). Used for public endpoints:
/// new widget visitors (bounds how fast one address creates contacts) and socket connections.
pub fn per_ip_limiter(per_minute: u32) -> DefaultKeyedRateLimiter<IpAddr> {
    DefaultKeyedRateLimiter::keyed(Quota::per_minute(
        NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN),
    ))
}

pub struct AppState {
    pub store: DynStore,
    /// Timeline appends from sockets and REST, written many to a transaction (group commit).
    pub appends: crate::store::AppendBatcher,
    /// Live updates between actors and nodes.
    pub bus: Arc<dyn Bus>,
    /// Which agents are online, and their chosen status.
    pub presence: Arc<dyn Presence>,
    /// The node's router and the fan-out of assignments.
    pub assignments: Assignments,
    pub settings: Arc<Settings>,
    pub login_limits: LoginLimits,
    pub visitor_limits: DefaultKeyedRateLimiter<IpAddr>,
    /// WebSocket connection attempts per client IP.
    pub socket_limits: DefaultKeyedRateLimiter<IpAddr>,
    /// Public widget reads (the chatflow for a page) per client IP.
    pub widget_limits: DefaultKeyedRateLimiter<IpAddr>,
    /// Public form submissions and form reads per client IP.
    pub form_limits: crate::http::forms::FormLimits,
    /// Outbound HTTP (bot webhooks): short timeouts, no redirects.
    pub webhooks: reqwest::Client,
    /// Chat messages per visitor, over all their sockets on this node.
    pub visitor_messages: DefaultKeyedRateLimiter<VisitorId>,
}

/// A per-key limiter allowing `per_second` with bursts of `burst`.
pub fn per_second_limiter<K>(per_second: u32, burst: u32) -> DefaultKeyedRateLimiter<K>
where
    K: Clone + Eq + std::hash::Hash,
{
    DefaultKeyedRateLimiter::keyed(
        Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN)),
    )
}
