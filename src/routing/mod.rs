//! Routing: which agent a new or queued conversation should go to.
//!
//! [`decide`] is pure: it takes the inbox settings, the memberships, the contact's owner and a
//! snapshot of each agent (presence and load) and returns who to try, in order. It returns a
//! try-list rather than one agent because the claim in the store is atomic and may still be
//! refused (another node took the last free slot); the caller claims down the list.
//!
//! Must not: read the store or presence, or claim anything here ([`actor`] does that).

pub mod actor;

use std::collections::HashSet;

use time::OffsetDateTime;

use crate::domain::{AgentId, AgentStatus, RoutingSettings, RoutingStrategy, RoutingTarget};

/// One agent as the router sees them at the moment of deciding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub agent_id: AgentId,
    /// The status the agent chose; only `available` agents are given conversations.
    pub status: AgentStatus,
    /// At least one live socket (presence); offline agents are never given conversations.
    pub online: bool,
    /// Open conversations assigned to the agent, compared with the inbox's capacity.
    pub open: u32,
    /// When the agent was last given a conversation; `None` if never, which puts them first
    /// in round robin.
    pub last_assigned_at: Option<OffsetDateTime>,
}

/// What to do with a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The inbox does not route: agents pick conversations themselves.
    Unassigned,
    /// Eligible agents, in the order to try claiming. Never empty.
    Try(Vec<AgentId>),
    /// Nobody can take it now: it waits in the queue until an agent comes online or capacity
    /// frees.
    Queue,
}

/// Decides who a conversation of an inbox goes to.
///
/// An agent is eligible when they are in the routing target (the team's members or the listed
/// agents), a member of the inbox, `available`, online and below capacity. `team_members` is
/// the target team's members; `None` (the team is gone) leaves nobody in the target, so the
/// conversation queues rather than going to someone the admin did not choose. An agent with no
/// entry in `candidates` is treated as offline.
///
/// Order: the contact's owner first when `sticky_to_owner` and the owner is eligible; then by
/// strategy. Round robin: least recently assigned first (never assigned before anyone), ties
/// by id. Least busy: fewest open first, then least recently assigned, then id.
pub fn decide(
    settings: &RoutingSettings,
    inbox_members: &[AgentId],
    team_members: Option<&[AgentId]>,
    contact_owner: Option<AgentId>,
    candidates: &[Candidate],
) -> Decision {
    let target: &[AgentId] = match &settings.target {
        RoutingTarget::Unassigned => return Decision::Unassigned,
        RoutingTarget::Team { .. } => team_members.unwrap_or(&[]),
        RoutingTarget::Agents { agent_ids } => agent_ids,
    };

    // Sets, so a decision is linear in the agents (lists made it quadratic: about 1 ms for
    // 1000 online agents, docs/performance.md "Hot paths").
    let target: HashSet<AgentId> = target.iter().copied().collect();
    let members: HashSet<AgentId> = inbox_members.iter().copied().collect();
    let mut seen: HashSet<AgentId> = HashSet::new();
    let mut eligible: Vec<&Candidate> = Vec::new();
    for candidate in candidates {
        let is_eligible = candidate.status == AgentStatus::Available
            && candidate.online
            && settings.capacity.is_none_or(|cap| candidate.open < cap)
            && target.contains(&candidate.agent_id)
            && members.contains(&candidate.agent_id);
        // A duplicated snapshot must not put one agent twice on the try-list.
        if is_eligible && seen.insert(candidate.agent_id) {
            eligible.push(candidate);
        }
    }
    if eligible.is_empty() {
        return Decision::Queue;
    }

    // `None < Some(_)`, so never-assigned agents sort first, as round robin wants.
    match settings.strategy {
        RoutingStrategy::RoundRobin => {
            eligible.sort_by_key(|c| (c.last_assigned_at, c.agent_id));
        }
        RoutingStrategy::LeastBusy => {
            eligible.sort_by_key(|c| (c.open, c.last_assigned_at, c.agent_id));
        }
    }

    let mut order: Vec<AgentId> = eligible.iter().map(|c| c.agent_id).collect();
    if settings.sticky_to_owner
        && let Some(owner) = contact_owner
        && let Some(pos) = order.iter().position(|id| *id == owner)
    {
        let owner = order.remove(pos);
        order.insert(0, owner);
    }
    Decision::Try(order)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use time::macros::datetime;
    use uuid::Uuid;

    use super::*;
    use crate::domain::TeamId;

    /// Agent ids whose order is known: `agent(1) < agent(2) < …`.
    fn agent(n: u8) -> AgentId {
        AgentId(Uuid::from_bytes([n; 16]))
    }

    fn at(minute: u8) -> Option<OffsetDateTime> {
        Some(datetime!(2026-11-25 10:00 UTC) + time::Duration::minutes(minute.into()))
    }

    /// Available, online, idle, never assigned.
    fn ready(n: u8) -> Candidate {
        Candidate {
            agent_id: agent(n),
            status: AgentStatus::Available,
            online: true,
            open: 0,
            last_assigned_at: None,
        }
    }

    fn with(n: u8, open: u32, last: Option<OffsetDateTime>) -> Candidate {
        Candidate {
            open,
            last_assigned_at: last,
            ..ready(n)
        }
    }

    fn settings(target: RoutingTarget, strategy: RoutingStrategy) -> RoutingSettings {
        RoutingSettings {
            target,
            strategy,
            capacity: None,
            sticky_to_owner: true,
        }
    }

    fn agents_target(ns: &[u8]) -> RoutingTarget {
        RoutingTarget::Agents {
            agent_ids: ns.iter().map(|n| agent(*n)).collect(),
        }
    }

    fn team_target() -> RoutingTarget {
        RoutingTarget::Team {
            team_id: TeamId(Uuid::from_bytes([0xAA; 16])),
        }
    }

    fn ids(ns: &[u8]) -> Vec<AgentId> {
        ns.iter().map(|n| agent(*n)).collect()
    }

    fn try_list(ns: &[u8]) -> Decision {
        Decision::Try(ids(ns))
    }

    struct Case {
        name: &'static str,
        settings: RoutingSettings,
        inbox_members: Vec<AgentId>,
        team_members: Option<Vec<AgentId>>,
        contact_owner: Option<AgentId>,
        candidates: Vec<Candidate>,
        expected: Decision,
    }

    /// Everyone 1..=4 is an inbox member and in the agents target, unless a case says otherwise.
    fn case(name: &'static str) -> Case {
        Case {
            name,
            settings: settings(agents_target(&[1, 2, 3, 4]), RoutingStrategy::RoundRobin),
            inbox_members: ids(&[1, 2, 3, 4]),
            team_members: None,
            contact_owner: None,
            candidates: Vec::new(),
            expected: Decision::Queue,
        }
    }

    fn cases() -> Vec<Case> {
        let rr = RoutingStrategy::RoundRobin;
        let lb = RoutingStrategy::LeastBusy;
        vec![
            Case {
                candidates: vec![with(1, 0, at(30)), with(2, 0, at(10)), with(3, 0, at(20))],
                expected: try_list(&[2, 3, 1]),
                ..case("round robin: least recently assigned first")
            },
            Case {
                candidates: vec![with(1, 0, at(5)), with(2, 0, None), with(3, 0, at(1))],
                expected: try_list(&[2, 3, 1]),
                ..case("round robin: never assigned before anyone")
            },
            Case {
                candidates: vec![with(3, 0, at(5)), with(1, 0, at(5)), with(2, 0, at(5))],
                expected: try_list(&[1, 2, 3]),
                ..case("round robin: same time ties by id")
            },
            Case {
                candidates: vec![with(3, 0, None), with(2, 0, None)],
                expected: try_list(&[2, 3]),
                ..case("round robin: both never assigned ties by id")
            },
            Case {
                candidates: vec![with(1, 5, at(1)), with(2, 0, at(9))],
                expected: try_list(&[1, 2]),
                ..case("round robin: ignores load")
            },
            Case {
                settings: settings(agents_target(&[1, 2, 3, 4]), lb),
                candidates: vec![with(1, 3, None), with(2, 1, at(50)), with(3, 2, at(1))],
                expected: try_list(&[2, 3, 1]),
                ..case("least busy: fewest open first")
            },
            Case {
                settings: settings(agents_target(&[1, 2, 3, 4]), lb),
                candidates: vec![with(1, 2, at(30)), with(2, 2, at(10)), with(3, 2, None)],
                expected: try_list(&[3, 2, 1]),
                ..case("least busy: equal load goes to least recently assigned")
            },
            Case {
                settings: settings(agents_target(&[1, 2, 3, 4]), lb),
                candidates: vec![with(4, 1, at(7)), with(2, 1, at(7))],
                expected: try_list(&[2, 4]),
                ..case("least busy: full tie by id")
            },
            Case {
                settings: RoutingSettings {
                    capacity: Some(2),
                    ..settings(agents_target(&[1, 2, 3, 4]), rr)
                },
                candidates: vec![with(1, 2, None), with(2, 1, at(9)), with(3, 3, None)],
                expected: try_list(&[2]),
                ..case("capacity: agents at or past capacity are skipped")
            },
            Case {
                settings: RoutingSettings {
                    capacity: Some(1),
                    ..settings(agents_target(&[1, 2, 3, 4]), lb)
                },
                candidates: vec![with(1, 1, None), with(2, 1, None)],
                expected: Decision::Queue,
                ..case("capacity: everyone full queues")
            },
            Case {
                settings: RoutingSettings {
                    capacity: Some(0),
                    ..settings(agents_target(&[1, 2, 3, 4]), rr)
                },
                candidates: vec![ready(1)],
                expected: Decision::Queue,
                ..case("capacity: zero lets nobody take conversations")
            },
            Case {
                candidates: vec![with(1, 500, None)],
                expected: try_list(&[1]),
                ..case("capacity: none means no limit")
            },
            Case {
                candidates: vec![
                    Candidate {
                        status: AgentStatus::Away,
                        ..ready(1)
                    },
                    with(2, 0, at(1)),
                ],
                expected: try_list(&[2]),
                ..case("away agent is excluded")
            },
            Case {
                candidates: vec![
                    Candidate {
                        online: false,
                        ..ready(1)
                    },
                    with(2, 0, at(1)),
                ],
                expected: try_list(&[2]),
                ..case("offline agent is excluded")
            },
            Case {
                candidates: vec![ready(2)],
                expected: try_list(&[2]),
                ..case("agent missing from the snapshot is not tried")
            },
            Case {
                inbox_members: ids(&[2, 3]),
                candidates: vec![ready(1), ready(2), ready(3)],
                expected: try_list(&[2, 3]),
                ..case("target agent who is not an inbox member is excluded")
            },
            Case {
                settings: settings(agents_target(&[1, 2]), rr),
                candidates: vec![ready(1), ready(2), ready(3)],
                expected: try_list(&[1, 2]),
                ..case("agents target: inbox member outside the list is excluded")
            },
            Case {
                settings: settings(team_target(), rr),
                team_members: Some(ids(&[2, 3, 9])),
                candidates: vec![ready(1), with(2, 0, at(3)), ready(3), ready(9)],
                expected: try_list(&[3, 2]),
                ..case("team target: team members who are inbox members")
            },
            Case {
                settings: settings(team_target(), rr),
                team_members: None,
                candidates: vec![ready(1), ready(2)],
                expected: Decision::Queue,
                ..case("team target: missing team queues")
            },
            Case {
                settings: settings(team_target(), rr),
                team_members: Some(Vec::new()),
                candidates: vec![ready(1), ready(2)],
                expected: Decision::Queue,
                ..case("team target: empty team queues")
            },
            Case {
                settings: settings(RoutingTarget::Unassigned, rr),
                contact_owner: Some(agent(1)),
                candidates: vec![ready(1), ready(2)],
                expected: Decision::Unassigned,
                ..case("unassigned target: nobody is tried, not even the owner")
            },
            Case {
                settings: settings(RoutingTarget::Unassigned, rr),
                expected: Decision::Unassigned,
                ..case("unassigned target with nobody online stays unassigned")
            },
            Case {
                expected: Decision::Queue,
                ..case("no candidates queues")
            },
            Case {
                settings: settings(agents_target(&[]), rr),
                candidates: vec![ready(1)],
                expected: Decision::Queue,
                ..case("empty agents target queues")
            },
            Case {
                inbox_members: Vec::new(),
                candidates: vec![ready(1)],
                expected: Decision::Queue,
                ..case("inbox without members queues")
            },
            Case {
                contact_owner: Some(agent(3)),
                candidates: vec![ready(1), ready(2), with(3, 0, at(59))],
                expected: try_list(&[3, 1, 2]),
                ..case("sticky: online owner is tried first")
            },
            Case {
                settings: settings(agents_target(&[1, 2, 3, 4]), lb),
                contact_owner: Some(agent(3)),
                candidates: vec![with(1, 0, None), with(2, 1, None), with(3, 4, None)],
                expected: try_list(&[3, 1, 2]),
                ..case("sticky: owner first under least busy too")
            },
            Case {
                contact_owner: Some(agent(3)),
                candidates: vec![
                    ready(1),
                    Candidate {
                        online: false,
                        ..ready(3)
                    },
                ],
                expected: try_list(&[1]),
                ..case("sticky: offline owner falls back to the strategy")
            },
            Case {
                contact_owner: Some(agent(3)),
                candidates: vec![
                    with(1, 0, at(1)),
                    Candidate {
                        status: AgentStatus::Away,
                        ..ready(3)
                    },
                ],
                expected: try_list(&[1]),
                ..case("sticky: away owner falls back to the strategy")
            },
            Case {
                settings: RoutingSettings {
                    capacity: Some(2),
                    ..settings(agents_target(&[1, 2, 3, 4]), rr)
                },
                contact_owner: Some(agent(3)),
                candidates: vec![with(1, 1, at(1)), with(3, 2, None)],
                expected: try_list(&[1]),
                ..case("sticky: full owner falls back to the strategy")
            },
            Case {
                settings: settings(agents_target(&[1, 2]), rr),
                contact_owner: Some(agent(3)),
                candidates: vec![with(1, 0, at(1)), ready(3)],
                expected: try_list(&[1]),
                ..case("sticky: owner outside the target is not tried")
            },
            Case {
                settings: RoutingSettings {
                    sticky_to_owner: false,
                    ..settings(agents_target(&[1, 2, 3, 4]), rr)
                },
                contact_owner: Some(agent(3)),
                candidates: vec![ready(1), with(3, 0, at(1))],
                expected: try_list(&[1, 3]),
                ..case("sticky off: owner takes their turn like anyone")
            },
            Case {
                contact_owner: Some(agent(3)),
                candidates: vec![with(1, 0, at(1))],
                expected: try_list(&[1]),
                ..case("sticky: owner missing from the snapshot is not tried")
            },
            Case {
                candidates: vec![with(1, 0, at(9)), with(1, 0, at(9)), ready(2)],
                expected: try_list(&[2, 1]),
                ..case("duplicate snapshot entries are tried once")
            },
        ]
    }

    #[test]
    fn decide_follows_each_routing_rule() {
        let mut failures = Vec::new();
        for c in cases() {
            let got = decide(
                &c.settings,
                &c.inbox_members,
                c.team_members.as_deref(),
                c.contact_owner,
                &c.candidates,
            );
            if got != c.expected {
                failures.push(format!(
                    "{}: expected {:?}, got {:?}",
                    c.name, c.expected, got
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "routing cases failed:\n{}",
            failures.join("\n")
        );
    }
}
