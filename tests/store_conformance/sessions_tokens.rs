//! Sessions (found only before they expire) and API tokens, both looked up by token digest.

use parley::domain::*;
use parley::store::StoreError;
use time::Duration;

use crate::common::*;
use crate::fixtures::*;

fn digest(label: &str) -> String {
    format!("{label:0>64}")
}

async fn finds_a_session_only_until_it_expires(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let ann = agent(&*store, acme.id, "ann@acme.test").await;
    let expires_at = now_micros() + Duration::hours(12);
    let session = Session {
        token_hash: digest("a1"),
        account_id: acme.id,
        agent_id: ann.id,
        csrf_token: "csrf-123".into(),
        expires_at,
    };
    store.create_session(session.clone()).await.unwrap();

    let cases = [
        ("now", expires_at - Duration::hours(12), true),
        (
            "one microsecond before expiry",
            expires_at - Duration::microseconds(1),
            true,
        ),
        ("exactly at expiry", expires_at, false),
        (
            "one second after expiry",
            expires_at + Duration::seconds(1),
            false,
        ),
    ];
    for (case, now, found) in cases {
        let got = store.find_session(&session.token_hash, now).await.unwrap();
        assert_eq!(got.is_some(), found, "find_session {case}");
        if let Some((s, agent)) = got {
            assert_eq!(s.token_hash, session.token_hash, "{case}");
            assert_eq!(s.account_id, acme.id, "{case}");
            assert_eq!(s.agent_id, ann.id, "{case}");
            assert_eq!(s.csrf_token, "csrf-123", "{case}");
            assert_eq!(s.expires_at, expires_at, "{case}");
            assert_eq!(agent, ann, "{case}: the session's agent");
        }
    }
    assert!(
        store
            .find_session(&digest("unknown"), now_micros())
            .await
            .unwrap()
            .is_none(),
        "an unknown digest"
    );
}

async fn deleted_session_is_gone_and_others_stay(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let ann = agent(&*store, acme.id, "ann@acme.test").await;
    for label in ["laptop", "phone"] {
        store
            .create_session(Session {
                token_hash: digest(label),
                account_id: acme.id,
                agent_id: ann.id,
                csrf_token: format!("csrf-{label}"),
                expires_at: now_micros() + Duration::hours(1),
            })
            .await
            .unwrap();
    }
    store.delete_session(&digest("laptop")).await.unwrap();
    let now = now_micros();
    assert!(
        store
            .find_session(&digest("laptop"), now)
            .await
            .unwrap()
            .is_none()
    );
    let phone = store.find_session(&digest("phone"), now).await.unwrap();
    assert_eq!(
        phone.unwrap().0.csrf_token,
        "csrf-phone",
        "the other session stays"
    );
    // Logging out twice is not an error.
    store.delete_session(&digest("laptop")).await.unwrap();
}

async fn ending_an_agents_sessions_keeps_only_the_one_asked_for(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let ann = agent(&*store, acme.id, "ann@acme.test").await;
    let bob = agent(&*store, acme.id, "bob@acme.test").await;
    let other = account(&*store, "Other").await;
    for (who, label) in [
        (&ann, "ann-laptop"),
        (&ann, "ann-phone"),
        (&ann, "ann-tablet"),
        (&bob, "bob-laptop"),
    ] {
        store
            .create_session(Session {
                token_hash: digest(label),
                account_id: acme.id,
                agent_id: who.id,
                csrf_token: format!("csrf-{label}"),
                expires_at: now_micros() + Duration::hours(1),
            })
            .await
            .unwrap();
    }
    let alive = |label: &'static str| {
        let store = store.clone();
        async move {
            store
                .find_session(&digest(label), now_micros())
                .await
                .unwrap()
                .is_some()
        }
    };

    // Another account cannot end them.
    assert_eq!(
        store
            .delete_agent_sessions(other.id, ann.id, None)
            .await
            .unwrap(),
        0
    );
    assert!(alive("ann-laptop").await);

    let ended = store
        .delete_agent_sessions(acme.id, ann.id, Some(&digest("ann-laptop")))
        .await
        .unwrap();
    assert_eq!(ended, 2, "phone and tablet end");
    assert!(alive("ann-laptop").await, "the kept session stays");
    assert!(!alive("ann-phone").await && !alive("ann-tablet").await);
    assert!(alive("bob-laptop").await, "another agent's session stays");

    assert_eq!(
        store
            .delete_agent_sessions(acme.id, ann.id, None)
            .await
            .unwrap(),
        1
    );
    assert!(!alive("ann-laptop").await, "without a kept one, all end");
}

async fn session_shows_the_agent_as_it_is_now(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let ann = agent(&*store, acme.id, "ann@acme.test").await;
    store
        .create_session(Session {
            token_hash: digest("s"),
            account_id: acme.id,
            agent_id: ann.id,
            csrf_token: "c".into(),
            expires_at: now_micros() + Duration::hours(1),
        })
        .await
        .unwrap();
    let off = store
        .update_agent(
            acme.id,
            ann.id,
            AgentPatch {
                active: Some(false),
                role: Some(AgentRole::Admin),
                ..AgentPatch::default()
            },
        )
        .await
        .unwrap();
    let (_, agent) = store
        .find_session(&digest("s"), now_micros())
        .await
        .unwrap()
        .expect("session");
    assert_eq!(
        agent, off,
        "role and active as changed after the session began"
    );
}

async fn creates_lists_finds_and_deletes_api_tokens(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let ann = agent(&*store, acme.id, "ann@acme.test").await;
    let bob = agent(&*store, acme.id, "bob@acme.test").await;
    let zapier = store
        .create_api_token(acme.id, ann.id, name("Zapier"), digest("t1"))
        .await
        .unwrap();
    assert_eq!(zapier.account_id, acme.id);
    assert_eq!(zapier.agent_id, ann.id);
    assert_eq!(zapier.name.as_str(), "Zapier");
    let crm = store
        .create_api_token(acme.id, ann.id, name("CRM sync"), digest("t2"))
        .await
        .unwrap();
    let bobs = store
        .create_api_token(acme.id, bob.id, name("Script"), digest("t3"))
        .await
        .unwrap();

    let listed = store.list_api_tokens(acme.id, ann.id).await.unwrap();
    assert_eq!(
        listed,
        vec![zapier.clone(), crm.clone()],
        "ann's tokens, by id"
    );
    assert_eq!(
        store.list_api_tokens(acme.id, bob.id).await.unwrap(),
        vec![bobs]
    );

    let (found, agent) = store
        .find_api_token(&digest("t2"))
        .await
        .unwrap()
        .expect("token by digest");
    assert_eq!(found, crm);
    assert_eq!(agent, ann);
    assert!(
        store
            .find_api_token(&digest("nope"))
            .await
            .unwrap()
            .is_none()
    );

    store.delete_api_token(acme.id, zapier.id).await.unwrap();
    assert!(store.find_api_token(&digest("t1")).await.unwrap().is_none());
    assert_eq!(
        store.list_api_tokens(acme.id, ann.id).await.unwrap(),
        vec![crm]
    );
    assert_not_found(
        store.delete_api_token(acme.id, zapier.id).await,
        "deleting a deleted token",
    );
    // Tokens are only made and listed for the signed-in agent, so for an unknown agent the
    // answer is not pinned beyond "nothing shown, nothing made".
    match store.list_api_tokens(acme.id, AgentId::new()).await {
        Ok(tokens) => assert!(tokens.is_empty(), "tokens of an unknown agent"),
        other => assert_not_found(other, "tokens of an unknown agent"),
    }
    match store
        .create_api_token(acme.id, AgentId::new(), name("X"), digest("t9"))
        .await
    {
        Err(StoreError::NotFound { .. }) => {}
        other => assert_invalid(other, "agent_id", "token for an unknown agent"),
    }
    assert!(store.find_api_token(&digest("t9")).await.unwrap().is_none());
}

on_both_backends!(
    finds_a_session_only_until_it_expires,
    deleted_session_is_gone_and_others_stay,
    ending_an_agents_sessions_keeps_only_the_one_asked_for,
    session_shows_the_agent_as_it_is_now,
    creates_lists_finds_and_deletes_api_tokens,
);
