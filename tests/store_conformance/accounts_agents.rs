//! Accounts and agents: create, read, list, every patch field, login lookup, deactivation.

use parley::domain::*;

use crate::common::*;
use crate::fixtures::*;

async fn counts_and_reads_accounts(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    assert_eq!(store.count_accounts().await.unwrap(), 0, "a fresh store");
    let acme = account(&*store, "Acme").await;
    let globex = account(&*store, "Globex").await;
    assert_eq!(acme.name.as_str(), "Acme");
    assert_ne!(acme.id, globex.id);
    assert_eq!(store.count_accounts().await.unwrap(), 2);
    assert_eq!(store.get_account(acme.id).await.unwrap(), acme);
    assert_eq!(store.get_account(globex.id).await.unwrap(), globex);
    assert_not_found(store.get_account(AccountId::new()).await, "unknown account");
}

async fn creates_an_agent_and_reads_it_back(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let new = NewAgent {
        profile: AgentProfile {
            display_name: name("Ann Admin"),
            avatar_url: Some(url("https://cdn.example.com/ann.png")),
            meeting_link: Some(url("https://meet.example.com/ann")),
        },
        ..new_agent("Ann@Acme.test", AgentRole::Admin)
    };
    let created = store.create_agent(acme.id, new.clone()).await.unwrap();
    assert_eq!(created.account_id, acme.id);
    assert_eq!(created.email.as_str(), "ann@acme.test");
    assert_eq!(created.role, AgentRole::Admin);
    assert_eq!(created.profile, new.profile);
    assert_eq!(created.notification_prefs, NotificationPrefs::default());
    assert_eq!(
        created.status,
        AgentStatus::Available,
        "a new agent's status"
    );
    assert!(created.active, "a new agent is active");
    assert_eq!(store.get_agent(acme.id, created.id).await.unwrap(), created);
    assert_not_found(
        store.get_agent(acme.id, AgentId::new()).await,
        "unknown agent",
    );
}

async fn lists_agents_of_the_account_by_id(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let globex = account(&*store, "Globex").await;
    let mut created = vec![];
    for who in ["zed", "amy", "mo"] {
        created.push(agent(&*store, acme.id, &format!("{who}@acme.test")).await);
    }
    agent(&*store, globex.id, "other@globex.test").await;
    created.sort_by_key(|a| a.id);
    assert_eq!(store.list_agents(acme.id).await.unwrap(), created);
    assert!(
        store
            .list_agents(account(&*store, "Empty").await.id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn updates_every_agent_field(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let original = agent(&*store, acme.id, "bob@acme.test").await;
    let prefs = NotificationPrefs {
        new_assignment: false,
        mention: true,
        new_message: false,
        browser: false,
    };
    let mut expected = original.clone();
    let steps: Vec<PatchStep<AgentPatch, Agent>> = vec![
        (
            "email",
            AgentPatch {
                email: Some(email("robert@acme.test")),
                ..AgentPatch::default()
            },
            Box::new(|a| a.email = email("robert@acme.test")),
        ),
        (
            "role",
            AgentPatch {
                role: Some(AgentRole::Admin),
                ..AgentPatch::default()
            },
            Box::new(|a| a.role = AgentRole::Admin),
        ),
        (
            "display_name",
            AgentPatch {
                display_name: Some(name("Robert")),
                ..AgentPatch::default()
            },
            Box::new(|a| a.profile.display_name = name("Robert")),
        ),
        (
            "avatar_url set",
            AgentPatch {
                avatar_url: Some(Some(url("https://cdn.example.com/rob.png"))),
                ..AgentPatch::default()
            },
            Box::new(|a| a.profile.avatar_url = Some(url("https://cdn.example.com/rob.png"))),
        ),
        (
            "meeting_link set",
            AgentPatch {
                meeting_link: Some(Some(url("https://meet.example.com/rob"))),
                ..AgentPatch::default()
            },
            Box::new(|a| a.profile.meeting_link = Some(url("https://meet.example.com/rob"))),
        ),
        (
            "notification_prefs",
            AgentPatch {
                notification_prefs: Some(prefs),
                ..AgentPatch::default()
            },
            Box::new(move |a| a.notification_prefs = prefs),
        ),
        (
            "status",
            AgentPatch {
                status: Some(AgentStatus::Away),
                ..AgentPatch::default()
            },
            Box::new(|a| a.status = AgentStatus::Away),
        ),
        (
            "avatar_url cleared",
            AgentPatch {
                avatar_url: Some(None),
                ..AgentPatch::default()
            },
            Box::new(|a| a.profile.avatar_url = None),
        ),
        (
            "meeting_link cleared",
            AgentPatch {
                meeting_link: Some(None),
                ..AgentPatch::default()
            },
            Box::new(|a| a.profile.meeting_link = None),
        ),
        ("nothing", AgentPatch::default(), Box::new(|_| {})),
        (
            "several at once",
            AgentPatch {
                role: Some(AgentRole::Agent),
                status: Some(AgentStatus::Available),
                display_name: Some(name("Bob")),
                ..AgentPatch::default()
            },
            Box::new(|a| {
                a.role = AgentRole::Agent;
                a.status = AgentStatus::Available;
                a.profile.display_name = name("Bob");
            }),
        ),
    ];
    for (case, patch, apply) in steps {
        apply(&mut expected);
        let updated = store
            .update_agent(acme.id, original.id, patch)
            .await
            .unwrap();
        assert_eq!(
            updated, expected,
            "update_agent returns the patched agent: {case}"
        );
        assert_eq!(
            store.get_agent(acme.id, original.id).await.unwrap(),
            expected,
            "get_agent after patch: {case}"
        );
    }

    let new_hash = "$argon2id$v=19$m=19456,t=2,p=1$salt$new-hash".to_owned();
    let updated = store
        .update_agent(
            acme.id,
            original.id,
            AgentPatch {
                password_hash: Some(new_hash.clone()),
                ..AgentPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        updated, expected,
        "a password change changes no visible field"
    );
    let login = store
        .find_login(&email("robert@acme.test"))
        .await
        .unwrap()
        .expect("login by the new email");
    assert_eq!(login.password_hash, new_hash);
    assert_eq!(login.agent, expected);

    assert_not_found(
        store
            .update_agent(acme.id, AgentId::new(), AgentPatch::default())
            .await,
        "update of an unknown agent",
    );
}

async fn finds_login_by_email_across_accounts(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let globex = account(&*store, "Globex").await;
    let ann = store
        .create_agent(acme.id, new_agent("ann@acme.test", AgentRole::Admin))
        .await
        .unwrap();
    let gus = store
        .create_agent(globex.id, new_agent("gus@globex.test", AgentRole::Agent))
        .await
        .unwrap();
    for (agent, address) in [(&ann, "ann@acme.test"), (&gus, "GUS@globex.test")] {
        let login = store
            .find_login(&email(address))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("login record for {address}"));
        assert_eq!(&login.agent, agent, "{address}");
        assert_eq!(
            login.password_hash,
            new_agent(agent.email.as_str(), AgentRole::Agent).password_hash,
            "{address}: the stored hash, unchanged"
        );
    }
    assert!(
        store
            .find_login(&email("nobody@acme.test"))
            .await
            .unwrap()
            .is_none()
    );

    store
        .update_agent(
            acme.id,
            ann.id,
            AgentPatch {
                email: Some(email("ann.new@acme.test")),
                ..AgentPatch::default()
            },
        )
        .await
        .unwrap();
    assert!(
        store
            .find_login(&email("ann@acme.test"))
            .await
            .unwrap()
            .is_none(),
        "the old email no longer logs in"
    );
    assert_eq!(
        store
            .find_login(&email("ann.new@acme.test"))
            .await
            .unwrap()
            .unwrap()
            .agent
            .id,
        ann.id
    );
}

async fn deactivated_agent_stays_in_lists_and_never_looks_active(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let bob = agent(&*store, acme.id, "bob@acme.test").await;
    let off = store
        .update_agent(
            acme.id,
            bob.id,
            AgentPatch {
                active: Some(false),
                ..AgentPatch::default()
            },
        )
        .await
        .unwrap();
    assert!(!off.active);
    assert_eq!(
        Agent {
            active: true,
            ..off.clone()
        },
        bob,
        "only `active` changed"
    );
    assert_eq!(store.get_agent(acme.id, bob.id).await.unwrap(), off);
    assert_eq!(store.list_agents(acme.id).await.unwrap(), vec![off.clone()]);
    // Login must be refusable: either no record, or one that says the agent is inactive.
    if let Some(login) = store.find_login(&email("bob@acme.test")).await.unwrap() {
        assert!(!login.agent.active, "find_login of a deactivated agent");
    }
    let on = store
        .update_agent(
            acme.id,
            bob.id,
            AgentPatch {
                active: Some(true),
                ..AgentPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(on, bob, "reactivated");
}

on_both_backends!(
    counts_and_reads_accounts,
    creates_an_agent_and_reads_it_back,
    lists_agents_of_the_account_by_id,
    updates_every_agent_field,
    finds_login_by_email_across_accounts,
    deactivated_agent_stays_in_lists_and_never_looks_active,
);
