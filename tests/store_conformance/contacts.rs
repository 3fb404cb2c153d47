//! Contacts: create, patch (properties merged, `null` removes), search, merge.

use parley::domain::*;
use parley::store::Store;
use serde_json::json;

use crate::common::*;
use crate::fixtures::*;

async fn creates_a_contact_and_reads_it_back(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let owner = agent(&*store, acme.id, "ann@acme.test").await;
    let new = NewContact {
        email: Some(email("Pat@Example.com")),
        name: Some(name("Pat Doe")),
        phone: Some(phone("+1 (555) 010-0100")),
        properties: object(json!({"plan": "pro", "seats": 3, "tags": ["vip"], "score": 4.5})),
        owner_id: Some(owner.id),
    };
    let pat = store.create_contact(acme.id, new.clone()).await.unwrap();
    assert_eq!(pat.account_id, acme.id);
    assert_eq!(
        pat.email.as_ref().map(|e| e.as_str()),
        Some("pat@example.com")
    );
    assert_eq!(pat.name, new.name);
    assert_eq!(pat.phone, new.phone);
    assert_eq!(pat.properties, new.properties);
    assert_eq!(pat.owner_id, Some(owner.id));
    assert_eq!(store.get_contact(acme.id, pat.id).await.unwrap(), pat);

    let anonymous = store
        .create_contact(acme.id, NewContact::default())
        .await
        .unwrap();
    assert_eq!(
        (
            anonymous.email,
            anonymous.name,
            anonymous.phone,
            anonymous.owner_id
        ),
        (None, None, None, None),
        "a visitor not known yet"
    );
    assert!(anonymous.properties.is_empty());
    assert_not_found(
        store.get_contact(acme.id, ContactId::new()).await,
        "unknown contact",
    );
}

async fn updates_every_contact_field(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let owner = agent(&*store, acme.id, "ann@acme.test").await;
    let pat = contact(&*store, acme.id, Some("pat@example.com"), Some("Pat")).await;
    let mut expected = pat.clone();
    let steps: Vec<PatchStep<ContactPatch, Contact>> = vec![
        (
            "email changed",
            ContactPatch {
                email: Some(Some(email("patricia@example.com"))),
                ..ContactPatch::default()
            },
            Box::new(|c| c.email = Some(email("patricia@example.com"))),
        ),
        (
            "name changed",
            ContactPatch {
                name: Some(Some(name("Patricia"))),
                ..ContactPatch::default()
            },
            Box::new(|c| c.name = Some(name("Patricia"))),
        ),
        (
            "phone set",
            ContactPatch {
                phone: Some(Some(phone("+33 1 23 45 67 89"))),
                ..ContactPatch::default()
            },
            Box::new(|c| c.phone = Some(phone("+33 1 23 45 67 89"))),
        ),
        (
            "owner set",
            ContactPatch {
                owner_id: Some(Some(owner.id)),
                ..ContactPatch::default()
            },
            Box::new(move |c| c.owner_id = Some(owner.id)),
        ),
        ("nothing", ContactPatch::default(), Box::new(|_| {})),
        (
            "email cleared",
            ContactPatch {
                email: Some(None),
                ..ContactPatch::default()
            },
            Box::new(|c| c.email = None),
        ),
        (
            "name cleared",
            ContactPatch {
                name: Some(None),
                ..ContactPatch::default()
            },
            Box::new(|c| c.name = None),
        ),
        (
            "phone cleared",
            ContactPatch {
                phone: Some(None),
                ..ContactPatch::default()
            },
            Box::new(|c| c.phone = None),
        ),
        (
            "owner cleared",
            ContactPatch {
                owner_id: Some(None),
                ..ContactPatch::default()
            },
            Box::new(|c| c.owner_id = None),
        ),
    ];
    for (case, patch, apply) in steps {
        apply(&mut expected);
        let updated = store.update_contact(acme.id, pat.id, patch).await.unwrap();
        assert!(
            updated.updated_at >= expected.updated_at,
            "{case}: updated_at does not go back"
        );
        expected.updated_at = updated.updated_at;
        assert_eq!(updated, expected, "update_contact: {case}");
        assert_eq!(
            store.get_contact(acme.id, pat.id).await.unwrap(),
            expected,
            "get_contact after {case}"
        );
    }
    assert_eq!(expected.created_at, pat.created_at);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let later = store
        .update_contact(
            acme.id,
            pat.id,
            ContactPatch {
                name: Some(Some(name("Pat"))),
                ..ContactPatch::default()
            },
        )
        .await
        .unwrap();
    assert!(
        later.updated_at > pat.updated_at,
        "updated_at moves on a change"
    );
    assert_not_found(
        store
            .update_contact(acme.id, ContactId::new(), ContactPatch::default())
            .await,
        "update of an unknown contact",
    );
}

async fn merges_properties_key_by_key_and_null_removes(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let pat = store
        .create_contact(
            acme.id,
            NewContact {
                name: Some(name("Pat")),
                properties: object(json!({
                    "plan": "pro", "seats": 3, "company": {"name": "Initech", "size": 50}
                })),
                ..NewContact::default()
            },
        )
        .await
        .unwrap();
    let cases = [
        (
            "add one key, keep the others",
            json!({"city": "Paris"}),
            json!({"plan": "pro", "seats": 3, "company": {"name": "Initech", "size": 50}, "city": "Paris"}),
        ),
        (
            "replace a value, whole (a nested object is one value)",
            json!({"seats": 5, "company": {"name": "Initrode"}}),
            json!({"plan": "pro", "seats": 5, "company": {"name": "Initrode"}, "city": "Paris"}),
        ),
        (
            "null removes the key",
            json!({"plan": null, "tier": "gold"}),
            json!({"seats": 5, "company": {"name": "Initrode"}, "city": "Paris", "tier": "gold"}),
        ),
        (
            "null for a missing key is a no-op",
            json!({"nothing_here": null}),
            json!({"seats": 5, "company": {"name": "Initrode"}, "city": "Paris", "tier": "gold"}),
        ),
        (
            "an empty patch object changes nothing",
            json!({}),
            json!({"seats": 5, "company": {"name": "Initrode"}, "city": "Paris", "tier": "gold"}),
        ),
        (
            "remove everything",
            json!({"seats": null, "company": null, "city": null, "tier": null}),
            json!({}),
        ),
    ];
    for (case, patch, expected) in cases {
        let updated = store
            .update_contact(
                acme.id,
                pat.id,
                ContactPatch {
                    properties: Some(object(patch)),
                    ..ContactPatch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(updated.properties, object(expected.clone()), "{case}");
        assert_eq!(
            store.get_contact(acme.id, pat.id).await.unwrap().properties,
            object(expected),
            "{case}: read back"
        );
        assert_eq!(updated.name, pat.name, "{case}: other fields untouched");
    }
}

/// Contacts chosen so that a LIKE wildcard taken as a wildcard finds one too many.
async fn search_fixture(store: &dyn Store, account: AccountId) -> [Contact; 4] {
    let make = |e: &'static str, n: &'static str, p: Option<&'static str>| NewContact {
        email: Some(email(e)),
        name: Some(name(n)),
        phone: p.map(phone),
        ..NewContact::default()
    };
    let ann = make("ann@acme.test", "Ann Smith", Some("+1 555 0100"));
    let bob = make(
        "bob_j@acme.test",
        "Bob 100% Jones",
        Some("+44 20 7946 0958"),
    );
    let carol = make("carol@example.org", "Carol", None);
    let bobx = make("bobxj@acme.test", "Bob100x Jones", Some("020 1000 2000"));
    let mut out = vec![];
    for new in [ann, bob, carol, bobx] {
        out.push(store.create_contact(account, new).await.unwrap());
    }
    out.try_into().unwrap()
}

async fn searches_contacts_by_each_criterion_with_wildcards_literal(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let [ann, bob, carol, bobx] = search_fixture(&*store, acme.id).await;
    // Same data in another account: never found from this one.
    let globex = account(&*store, "Globex").await;
    search_fixture(&*store, globex.id).await;

    let q = |query: Option<&str>, mail: Option<&str>, ph: Option<&str>, nm: Option<&str>| {
        ContactQuery {
            query: query.map(Into::into),
            email: mail.map(email),
            phone: ph.map(Into::into),
            name: nm.map(Into::into),
        }
    };
    let cases: Vec<(&str, ContactQuery, Vec<&Contact>)> = vec![
        (
            "everything",
            q(None, None, None, None),
            vec![&bobx, &carol, &bob, &ann],
        ),
        (
            "email exact",
            q(None, Some("ann@acme.test"), None, None),
            vec![&ann],
        ),
        (
            "email is not a substring",
            q(None, Some("nn@acme.test"), None, None),
            vec![],
        ),
        (
            "email, upper-case input",
            q(None, Some("CAROL@example.org"), None, None),
            vec![&carol],
        ),
        (
            "name substring, any case",
            q(None, None, None, Some("SMI")),
            vec![&ann],
        ),
        (
            "name on two",
            q(None, None, None, Some("jones")),
            vec![&bobx, &bob],
        ),
        (
            "name with % literal",
            q(None, None, None, Some("100%")),
            vec![&bob],
        ),
        ("name % alone", q(None, None, None, Some("%")), vec![&bob]),
        ("name _ alone", q(None, None, None, Some("_")), vec![]),
        ("name no match", q(None, None, None, Some("zed")), vec![]),
        (
            "phone substring",
            q(None, None, Some("555"), None),
            vec![&ann],
        ),
        (
            "phone with spaces",
            q(None, None, Some("7946 09"), None),
            vec![&bob],
        ),
        (
            "query over email",
            q(Some("acme"), None, None, None),
            vec![&bobx, &bob, &ann],
        ),
        (
            "query over name, any case",
            q(Some("CAROL"), None, None, None),
            vec![&carol],
        ),
        (
            "query over phone",
            q(Some("0958"), None, None, None),
            vec![&bob],
        ),
        (
            "query with _ literal",
            q(Some("bob_j"), None, None, None),
            vec![&bob],
        ),
        ("query _ alone", q(Some("_"), None, None, None), vec![&bob]),
        ("query % alone", q(Some("%"), None, None, None), vec![&bob]),
        ("query backslash", q(Some("\\"), None, None, None), vec![]),
        (
            "query and name both",
            q(Some("acme"), None, None, Some("jones")),
            vec![&bobx, &bob],
        ),
        (
            "email and name disagree",
            q(None, Some("bob_j@acme.test"), None, Some("carol")),
            vec![],
        ),
        (
            "email and phone agree",
            q(None, Some("bob_j@acme.test"), Some("44 20"), None),
            vec![&bob],
        ),
    ];
    for (case, query, expected) in cases {
        let page = store.search_contacts(acme.id, query, all()).await.unwrap();
        let expected: Vec<Contact> = expected.into_iter().cloned().collect();
        assert_eq!(
            page.items, expected,
            "search_contacts: {case} (newest first)"
        );
        assert_eq!(page.next, None, "{case}: one page");
    }
}

async fn merge_moves_conversations_and_tickets_and_fills_gaps(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    let kept = store
        .create_contact(
            a,
            NewContact {
                name: Some(name("Pat")),
                properties: object(json!({"plan": "free"})),
                ..NewContact::default()
            },
        )
        .await
        .unwrap();
    let merged = store
        .create_contact(
            a,
            NewContact {
                email: Some(email("patricia@example.com")),
                name: Some(name("Patricia")),
                phone: Some(phone("+1 555 0199")),
                properties: object(json!({"plan": "pro", "city": "Paris"})),
                owner_id: Some(w.agent.id),
            },
        )
        .await
        .unwrap();
    let kept_conv = conversation(&*store, a, w.chat.id, kept.id).await;
    let merged_convs = [
        conversation(&*store, a, w.chat.id, merged.id).await,
        conversation(&*store, a, w.email.id, merged.id).await,
    ];
    let merged_ticket = store
        .create_ticket(a, new_ticket(merged_convs[0].id))
        .await
        .unwrap();
    assert_eq!(merged_ticket.contact_id, Some(merged.id));

    let result = store.merge_contacts(a, kept.id, merged.id).await.unwrap();
    assert_eq!(result.id, kept.id, "returns kept");
    assert_eq!(result.name, kept.name, "kept's own name stays");
    assert_eq!(result.email, merged.email, "empty email taken from merged");
    assert_eq!(result.phone, merged.phone, "empty phone taken from merged");
    assert_eq!(
        result.owner_id,
        Some(w.agent.id),
        "empty owner taken from merged"
    );
    assert_eq!(
        result.properties,
        object(json!({"plan": "free", "city": "Paris"})),
        "only missing properties added"
    );
    assert_eq!(store.get_contact(a, kept.id).await.unwrap(), result);
    assert_not_found(store.get_contact(a, merged.id).await, "the merged contact");

    let of = |contact: ContactId| ConversationFilter {
        contact_id: Some(contact),
        ..ConversationFilter::default()
    };
    let moved = store
        .list_conversations(a, of(kept.id), all())
        .await
        .unwrap();
    let mut expected = vec![kept_conv.id, merged_convs[0].id, merged_convs[1].id];
    expected.sort();
    expected.reverse();
    assert_eq!(ids(&moved.items, |c| c.id.0), ids(&expected, |id| id.0));
    assert!(moved.items.iter().all(|c| c.contact_id == kept.id));
    assert!(
        store
            .list_conversations(a, of(merged.id), all())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let ticket = store.get_ticket(a, merged_ticket.id).await.unwrap();
    assert_eq!(ticket.contact_id, Some(kept.id), "ticket moved to kept");
    assert_eq!(
        store
            .search_contacts(
                a,
                ContactQuery {
                    email: Some(email("patricia@example.com")),
                    ..ContactQuery::default()
                },
                all(),
            )
            .await
            .unwrap()
            .items,
        vec![result.clone()],
        "the email now belongs to kept"
    );
    assert_not_found(
        store.merge_contacts(a, kept.id, merged.id).await,
        "merging a merged contact again",
    );
}

async fn merge_keeps_what_kept_already_has(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let acme = account(&*store, "Acme").await;
    let ann = agent(&*store, acme.id, "ann@acme.test").await;
    let bob = agent(&*store, acme.id, "bob@acme.test").await;
    let full = |e: &str, n: &str, p: &str, owner: AgentId, props| NewContact {
        email: Some(email(e)),
        name: Some(name(n)),
        phone: Some(phone(p)),
        properties: object(props),
        owner_id: Some(owner),
    };
    let kept = store
        .create_contact(
            acme.id,
            full("k@x.test", "Kept", "11111", ann.id, json!({"a": 1})),
        )
        .await
        .unwrap();
    let merged = store
        .create_contact(
            acme.id,
            full("m@x.test", "Merged", "22222", bob.id, json!({"a": 2})),
        )
        .await
        .unwrap();
    let result = store
        .merge_contacts(acme.id, kept.id, merged.id)
        .await
        .unwrap();
    assert_eq!(
        Contact {
            updated_at: kept.updated_at,
            ..result
        },
        kept,
        "nothing of kept is overwritten"
    );
    assert_not_found(store.get_contact(acme.id, merged.id).await, "merged");
    // The merged contact's email is free again.
    store
        .create_contact(
            acme.id,
            NewContact {
                email: Some(email("m@x.test")),
                ..NewContact::default()
            },
        )
        .await
        .unwrap();
}

async fn merge_refuses_self_and_unknown(backend: Backend) {
    let (store, _db) = fresh_store(backend).await;
    let w = World::build(&*store, "acme").await;
    let a = w.account.id;
    assert_invalid(
        store.merge_contacts(a, w.contact.id, w.contact.id).await,
        "merged_id",
        "merge with itself",
    );
    assert_eq!(store.get_contact(a, w.contact.id).await.unwrap(), w.contact);
    assert_not_found(
        store
            .merge_contacts(a, w.contact.id, ContactId::new())
            .await,
        "unknown merged",
    );
    assert_not_found(
        store
            .merge_contacts(a, ContactId::new(), w.contact.id)
            .await,
        "unknown kept",
    );
    assert_eq!(
        store.get_contact(a, w.contact.id).await.unwrap(),
        w.contact,
        "a refused merge deletes nothing"
    );
}

on_both_backends!(
    creates_a_contact_and_reads_it_back,
    updates_every_contact_field,
    merges_properties_key_by_key_and_null_removes,
    searches_contacts_by_each_criterion_with_wildcards_literal,
    merge_moves_conversations_and_tickets_and_fills_gaps,
    merge_keeps_what_kept_already_has,
    merge_refuses_self_and_unknown,
);
