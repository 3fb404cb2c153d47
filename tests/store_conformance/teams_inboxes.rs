//! Teams and inboxes: members as sorted sets, inbox settings, fallback address, delete rules.

use std::collections::HashSet;

use parley::domain::*;
use parley::store::Store;

use crate::common::*;
use crate::fixtures::*;

async fn three_agents(store: &dyn Store, account: AccountId) -> Vec<Agent> {
    let mut agents = vec![];
    for who in ["ann", "bob", "cy"] {
        agents.push(agent(store, account, &format!("{who}@acme.test")).await);
    }
    agents
}

async fn team_members_are_sorted_without_duplicates(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let agents = three_agents(&*store, acme.id).await;
    let [a, b, c] = [agents[0].id, agents[1].id, agents[2].id];
    let team = store
        .create_team(acme.id, name("Sales"), vec![c, a, c, b, a])
        .await
        .unwrap();
    assert_eq!(team.account_id, acme.id);
    assert_eq!(team.name.as_str(), "Sales");
    assert_eq!(
        team.member_ids,
        sorted(&[a, b, c]),
        "sorted, duplicates collapsed"
    );
    assert_eq!(store.get_team(acme.id, team.id).await.unwrap(), team);

    let empty = store
        .create_team(acme.id, name("Empty"), vec![])
        .await
        .unwrap();
    assert!(empty.member_ids.is_empty());
    assert_eq!(
        store.list_teams(acme.id).await.unwrap(),
        vec![team.clone(), empty],
        "teams by id"
    );
    assert_not_found(store.get_team(acme.id, TeamId::new()).await, "unknown team");
}

async fn updates_team_name_and_members_separately(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let agents = three_agents(&*store, acme.id).await;
    let [a, b, c] = [agents[0].id, agents[1].id, agents[2].id];
    let team = store
        .create_team(acme.id, name("Sales"), vec![a, b])
        .await
        .unwrap();

    let renamed = store
        .update_team(acme.id, team.id, Some(name("Inside sales")), None)
        .await
        .unwrap();
    assert_eq!(renamed.name.as_str(), "Inside sales");
    assert_eq!(
        renamed.member_ids, team.member_ids,
        "members kept on rename"
    );

    let remembered = store
        .update_team(acme.id, team.id, None, Some(vec![c, b, c]))
        .await
        .unwrap();
    assert_eq!(remembered.name.as_str(), "Inside sales", "name kept");
    assert_eq!(remembered.member_ids, sorted(&[b, c]), "members replaced");
    assert_eq!(store.get_team(acme.id, team.id).await.unwrap(), remembered);

    let cleared = store
        .update_team(acme.id, team.id, None, Some(vec![]))
        .await
        .unwrap();
    assert!(cleared.member_ids.is_empty());
    assert_eq!(store.get_team(acme.id, team.id).await.unwrap(), cleared);
    assert_not_found(
        store
            .update_team(acme.id, TeamId::new(), Some(name("X")), None)
            .await,
        "update of an unknown team",
    );
}

async fn deleting_a_team_unassigns_its_conversations(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    assert_eq!(
        w.conversation.team_id,
        Some(w.team.id),
        "fixture is assigned to the team"
    );
    let other = store
        .create_team(a, name("Billing"), vec![w.agent.id])
        .await
        .unwrap();

    store.delete_team(a, w.team.id).await.unwrap();
    assert_not_found(store.get_team(a, w.team.id).await, "deleted team");
    assert_eq!(
        store.list_teams(a).await.unwrap(),
        vec![other],
        "the other team stays"
    );
    let conversation = store.get_conversation(a, w.conversation.id).await.unwrap();
    assert_eq!(
        conversation.team_id, None,
        "team cleared on its conversation"
    );
    assert_eq!(
        conversation.assignee_id,
        Some(w.agent.id),
        "the assignee stays"
    );
    assert_not_found(store.delete_team(a, w.team.id).await, "deleting twice");
    // Its memberships went with it: the same agents can form a new team at once.
    let again = store
        .create_team(a, name("Support"), vec![w.agent.id])
        .await
        .unwrap();
    assert_eq!(again.member_ids, vec![w.agent.id]);
}

async fn creates_an_inbox_with_its_settings_and_fallback_address(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let agents = three_agents(&*store, acme.id).await;
    let [a, b, c] = [agents[0].id, agents[1].id, agents[2].id];
    let team = store
        .create_team(acme.id, name("T"), vec![a])
        .await
        .unwrap();
    let new = NewInbox {
        name: name("Sales"),
        routing: RoutingSettings {
            target: RoutingTarget::Team { team_id: team.id },
            strategy: RoutingStrategy::LeastBusy,
            capacity: Some(5),
            sticky_to_owner: false,
        },
        notification_defaults: NotificationPrefs {
            new_assignment: true,
            mention: false,
            new_message: true,
            browser: false,
        },
        email_filters: EmailFilters {
            blocked_senders: vec![email("spam@bad.test")],
            blocked_domains: vec!["junk.test".into()],
            filter_auto_replies: true,
        },
        member_ids: vec![c, a, c],
    };
    let inbox = store.create_inbox(acme.id, new.clone()).await.unwrap();
    assert_eq!(inbox.account_id, acme.id);
    assert_eq!(inbox.name, new.name);
    assert_eq!(inbox.routing, new.routing);
    assert_eq!(inbox.notification_defaults, new.notification_defaults);
    assert_eq!(inbox.email_filters, new.email_filters);
    assert_eq!(
        inbox.member_ids,
        sorted(&[a, c]),
        "sorted, duplicates collapsed"
    );
    assert_eq!(store.get_inbox(acme.id, inbox.id).await.unwrap(), inbox);

    let agents_target = store
        .create_inbox(
            acme.id,
            NewInbox {
                routing: RoutingSettings {
                    target: RoutingTarget::Agents {
                        agent_ids: vec![b, a],
                    },
                    ..RoutingSettings::default()
                },
                ..new_inbox("Support", vec![])
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .get_inbox(acme.id, agents_target.id)
            .await
            .unwrap()
            .routing
            .target,
        RoutingTarget::Agents {
            agent_ids: vec![b, a]
        }
    );

    let mut locals = HashSet::new();
    for inbox in [&inbox, &agents_target] {
        let local = &inbox.fallback_local_part;
        let hex = local
            .strip_prefix("inbox-")
            .unwrap_or_else(|| panic!("{local} starts with inbox-"));
        assert_eq!(hex.len(), 12, "{local}: 12 hex digits");
        assert!(
            hex.chars().all(|ch| matches!(ch, '0'..='9' | 'a'..='f')),
            "{local}: lower-case hex"
        );
        locals.insert(local.clone());
    }
    assert_eq!(locals.len(), 2, "each inbox has its own fallback address");
    assert_not_found(
        store.get_inbox(acme.id, InboxId::new()).await,
        "unknown inbox",
    );
}

async fn lists_inboxes_all_or_by_member(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let agents = three_agents(&*store, acme.id).await;
    let [a, b, c] = [agents[0].id, agents[1].id, agents[2].id];
    let sales = store
        .create_inbox(acme.id, new_inbox("Sales", vec![a, b]))
        .await
        .unwrap();
    let support = store
        .create_inbox(acme.id, new_inbox("Support", vec![b]))
        .await
        .unwrap();
    let billing = store
        .create_inbox(acme.id, new_inbox("Billing", vec![]))
        .await
        .unwrap();
    assert_eq!(
        store.list_inboxes(acme.id, None).await.unwrap(),
        vec![sales.clone(), support.clone(), billing],
        "every inbox, by id"
    );
    let cases = [
        ("a", a, vec![sales.clone()]),
        ("b", b, vec![sales, support]),
        ("c (member of none)", c, vec![]),
    ];
    for (case, member, expected) in cases {
        assert_eq!(
            store.list_inboxes(acme.id, Some(member)).await.unwrap(),
            expected,
            "inboxes of member {case}"
        );
    }
}

async fn updates_every_inbox_field_and_keeps_the_fallback_address(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let agents = three_agents(&*store, acme.id).await;
    let a = agents[0].id;
    let inbox = store
        .create_inbox(acme.id, new_inbox("Sales", vec![a]))
        .await
        .unwrap();
    let routing = RoutingSettings {
        target: RoutingTarget::Agents { agent_ids: vec![a] },
        strategy: RoutingStrategy::LeastBusy,
        capacity: Some(3),
        sticky_to_owner: false,
    };
    let prefs = NotificationPrefs {
        new_assignment: false,
        mention: false,
        new_message: false,
        browser: true,
    };
    let filters = EmailFilters {
        blocked_senders: vec![email("x@y.test")],
        blocked_domains: vec!["y.test".into()],
        filter_auto_replies: false,
    };
    let mut expected = inbox.clone();
    let steps: Vec<PatchStep<InboxPatch, Inbox>> = vec![
        (
            "name",
            InboxPatch {
                name: Some(name("Inside sales")),
                ..InboxPatch::default()
            },
            Box::new(|i| i.name = name("Inside sales")),
        ),
        (
            "routing",
            InboxPatch {
                routing: Some(routing.clone()),
                ..InboxPatch::default()
            },
            Box::new(move |i| i.routing = routing.clone()),
        ),
        (
            "notification_defaults",
            InboxPatch {
                notification_defaults: Some(prefs),
                ..InboxPatch::default()
            },
            Box::new(move |i| i.notification_defaults = prefs),
        ),
        (
            "email_filters",
            InboxPatch {
                email_filters: Some(filters.clone()),
                ..InboxPatch::default()
            },
            Box::new(move |i| i.email_filters = filters.clone()),
        ),
        ("nothing", InboxPatch::default(), Box::new(|_| {})),
    ];
    for (case, patch, apply) in steps {
        apply(&mut expected);
        let updated = store.update_inbox(acme.id, inbox.id, patch).await.unwrap();
        assert_eq!(updated, expected, "update_inbox: {case}");
        assert_eq!(
            store.get_inbox(acme.id, inbox.id).await.unwrap(),
            expected,
            "get_inbox after {case}"
        );
    }
    assert_eq!(expected.fallback_local_part, inbox.fallback_local_part);
    assert_not_found(
        store
            .update_inbox(acme.id, InboxId::new(), InboxPatch::default())
            .await,
        "update of an unknown inbox",
    );
}

async fn sets_inbox_members(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let agents = three_agents(&*store, acme.id).await;
    let [a, b, c] = [agents[0].id, agents[1].id, agents[2].id];
    let inbox = store
        .create_inbox(acme.id, new_inbox("Sales", vec![a]))
        .await
        .unwrap();
    let set = store
        .set_inbox_members(acme.id, inbox.id, vec![c, b, c])
        .await
        .unwrap();
    assert_eq!(set.member_ids, sorted(&[b, c]), "replaced, sorted, unique");
    assert_eq!(
        Inbox {
            member_ids: inbox.member_ids.clone(),
            ..set.clone()
        },
        inbox
    );
    assert_eq!(store.get_inbox(acme.id, inbox.id).await.unwrap(), set);
    assert!(
        store
            .list_inboxes(acme.id, Some(a))
            .await
            .unwrap()
            .is_empty()
    );
    let none = store
        .set_inbox_members(acme.id, inbox.id, vec![])
        .await
        .unwrap();
    assert!(none.member_ids.is_empty());
    assert_not_found(
        store
            .set_inbox_members(acme.id, InboxId::new(), vec![a])
            .await,
        "members of an unknown inbox",
    );
}

async fn deletes_an_inbox_only_without_channels_or_conversations(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let a = acme.id;
    let old = inbox(&*store, a, "Old").await;
    let new = inbox(&*store, a, "New").await;
    let chat = channel(&*store, a, old.id, ChannelKind::Chat).await;
    assert_invalid(
        store.delete_inbox(a, old.id).await,
        "id",
        "inbox with a channel",
    );
    let pat = contact(&*store, a, None, Some("Pat")).await;
    conversation(&*store, a, chat.id, pat.id).await;
    // Moving the channel leaves its conversation behind in the old inbox.
    store
        .update_channel(
            a,
            chat.id,
            ChannelPatch {
                inbox_id: Some(new.id),
                ..ChannelPatch::default()
            },
        )
        .await
        .unwrap();
    assert!(
        store
            .list_channels(a, Some(old.id))
            .await
            .unwrap()
            .is_empty()
    );
    assert_invalid(
        store.delete_inbox(a, old.id).await,
        "id",
        "inbox with a conversation and no channel",
    );
    assert_eq!(
        store.get_inbox(a, old.id).await.unwrap(),
        old,
        "still there"
    );

    // Members do not hold an inbox back.
    let ann = agent(&*store, a, "ann@acme.test").await;
    let empty = store
        .create_inbox(a, new_inbox("Empty", vec![ann.id]))
        .await
        .unwrap();
    store.delete_inbox(a, empty.id).await.unwrap();
    assert_not_found(store.get_inbox(a, empty.id).await, "deleted inbox");
    assert_eq!(
        ids(&store.list_inboxes(a, None).await.unwrap(), |i| i.id.0),
        vec![old.id.0, new.id.0]
    );
    assert_not_found(store.delete_inbox(a, empty.id).await, "deleting twice");
}

on_both_backends!(
    team_members_are_sorted_without_duplicates,
    updates_team_name_and_members_separately,
    deleting_a_team_unassigns_its_conversations,
    creates_an_inbox_with_its_settings_and_fallback_address,
    lists_inboxes_all_or_by_member,
    updates_every_inbox_field_and_keeps_the_fallback_address,
    sets_inbox_members,
    deletes_an_inbox_only_without_channels_or_conversations,
);
