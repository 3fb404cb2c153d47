//! The contacts API: any agent of the account may search, create, change and merge contacts;
//! another account's contacts do not exist; every refusal names the field and writes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_fixtures;
mod common;

use api_fixtures::*;
use common::*;
use serde_json::{Value, json};

/// Every contact of account A, as the store holds them (to check a refusal wrote nothing).
async fn all_contacts(w: &World) -> Vec<Value> {
    let page = w
        .app
        .store
        .search_contacts(
            w.account,
            Default::default(),
            parley::store::PageRequest {
                after: None,
                limit: 200,
            },
        )
        .await
        .unwrap();
    page.items
        .into_iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect()
}

async fn any_agent_creates_reads_and_finds_contacts(backend: Backend) {
    let w = World::new(backend).await;
    let created = w
        .app
        .post(
            "/api/v1/contacts",
            &w.member_token,
            json!({
                "email": "Ada@Example.COM",
                "name": "Ada Lovelace",
                "phone": "+44 20 7946 0958",
                "properties": {"plan": "pro", "seats": 12, "trial": false, "gone": null},
                "owner_id": w.member.id,
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let contact = created.body;
    assert_eq!(
        contact["email"], "ada@example.com",
        "emails are lower-cased"
    );
    assert_eq!(contact["name"], "Ada Lovelace");
    assert_eq!(contact["phone"], "+44 20 7946 0958");
    assert_eq!(
        contact["properties"],
        json!({"plan": "pro", "seats": 12, "trial": false}),
        "null properties are not stored"
    );
    assert_eq!(contact["owner_id"], json!(w.member.id));
    let id = contact["id"].as_str().unwrap();

    let read = w
        .app
        .get(&format!("/api/v1/contacts/{id}"), &w.outsider_token)
        .await;
    assert_eq!(read.status, 200, "any agent reads any contact");
    assert_eq!(read.body, contact);

    let only_name = w
        .app
        .post("/api/v1/contacts", &w.admin, json!({"name": "Grace"}))
        .await;
    assert_eq!(
        only_name.status, 201,
        "a name alone is enough: {}",
        only_name.body
    );

    let searches = [
        ("q matches the name", "q=lovel"),
        ("q matches the email", "q=ADA%40example"),
        ("q matches the phone", "q=7946"),
        ("email is exact", "email=ada%40example.com"),
        ("name is a substring", "name=ada%20love"),
        ("phone is a substring", "phone=20%207946"),
        ("criteria combine", "name=ada&phone=0958"),
    ];
    for (case, query) in searches {
        let found = w
            .app
            .get(&format!("/api/v1/contacts?{query}"), &w.member_token)
            .await;
        assert_eq!(found.status, 200, "{case}: {}", found.body);
        let ids: Vec<&str> = found.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![id], "{case}");
    }
    let none = w
        .app
        .get("/api/v1/contacts?email=ada%40example.co", &w.member_token)
        .await;
    assert_eq!(
        none.body["items"],
        json!([]),
        "email is not a substring match"
    );
}

async fn contact_search_pages_newest_first(backend: Backend) {
    let w = World::new(backend).await;
    let mut made = vec![w.contact.id.to_string()];
    for i in 0..4 {
        let c = w
            .app
            .post(
                "/api/v1/contacts",
                &w.member_token,
                json!({"email": format!("p{i}@page.test")}),
            )
            .await;
        assert_eq!(c.status, 201);
        made.push(c.body["id"].as_str().unwrap().to_owned());
    }
    made.reverse();

    let mut seen = Vec::new();
    let mut path = "/api/v1/contacts?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = w.app.get(&path, &w.member_token).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2, "limit respected");
        seen.extend(items.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        pages += 1;
        match page.body["next"].as_str() {
            Some(next) => path = format!("/api/v1/contacts?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, made, "every contact once, newest first");
    assert_eq!(pages, 3);
    assert!(
        !seen.contains(&w.other.contact.id.to_string()),
        "another account's contact is never listed"
    );
}

async fn patching_clears_with_null_and_merges_properties(backend: Backend) {
    let w = World::new(backend).await;
    let created = w
        .app
        .post(
            "/api/v1/contacts",
            &w.member_token,
            json!({"email": "pat@x.test", "name": "Pat", "phone": "555-0100",
                   "properties": {"plan": "free", "seats": 1}, "owner_id": w.member.id}),
        )
        .await;
    let id = created.body["id"].as_str().unwrap();
    let path = format!("/api/v1/contacts/{id}");

    let patched = w
        .app
        .patch(
            &path,
            &w.outsider_token,
            json!({"phone": null, "name": "Pat Smith", "owner_id": null,
                   "properties": {"plan": "pro", "seats": null, "region": "eu"}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["phone"], Value::Null, "null clears");
    assert_eq!(patched.body["name"], "Pat Smith");
    assert_eq!(patched.body["email"], "pat@x.test", "absent stays");
    assert_eq!(patched.body["owner_id"], Value::Null);
    assert_eq!(
        patched.body["properties"],
        json!({"plan": "pro", "region": "eu"}),
        "merged key by key, null removes"
    );
    let read = w.app.get(&path, &w.member_token).await;
    assert_eq!(read.body, patched.body, "the change is stored");

    let unchanged = w.app.patch(&path, &w.member_token, json!({})).await;
    assert_eq!(unchanged.status, 200);
    assert_eq!(unchanged.body["properties"], patched.body["properties"]);
}

async fn merging_moves_conversations_to_the_kept_contact(backend: Backend) {
    let w = World::new(backend).await;
    let kept = w
        .app
        .post(
            "/api/v1/contacts",
            &w.member_token,
            json!({"name": "Sam", "properties": {"plan": "pro"}}),
        )
        .await
        .body;
    let dup = w
        .app
        .post(
            "/api/v1/contacts",
            &w.member_token,
            json!({"email": "sam@x.test", "phone": "555-0199",
                   "properties": {"plan": "free", "city": "Oslo"}}),
        )
        .await
        .body;
    let dup_id: parley::domain::ContactId = serde_json::from_value(dup["id"].clone()).unwrap();
    let dup_contact = w.app.store.get_contact(w.account, dup_id).await.unwrap();
    let conversation =
        add_conversation(&w.app, w.account, &w.channel, &dup_contact, "Dup's chat").await;

    let merged = w
        .app
        .post(
            &format!("/api/v1/contacts/{}/merge", kept["id"].as_str().unwrap()),
            &w.member_token,
            json!({"merged_id": dup["id"]}),
        )
        .await;
    assert_eq!(merged.status, 200, "{}", merged.body);
    assert_eq!(
        merged.body["id"], kept["id"],
        "answers with the kept contact"
    );
    assert_eq!(merged.body["name"], "Sam");
    assert_eq!(merged.body["email"], "sam@x.test", "empty fields filled");
    assert_eq!(merged.body["phone"], "555-0199");
    assert_eq!(
        merged.body["properties"],
        json!({"plan": "pro", "city": "Oslo"}),
        "kept values win, missing ones are added"
    );

    let gone = w
        .app
        .get(
            &format!("/api/v1/contacts/{}", dup["id"].as_str().unwrap()),
            &w.member_token,
        )
        .await;
    assert_error("merged contact", &gone, 404, "not_found", None);
    let moved = w
        .app
        .get(
            &format!("/api/v1/conversations/{}", conversation.id),
            &w.member_token,
        )
        .await;
    assert_eq!(moved.body["contact_id"], kept["id"], "conversation moved");
}

async fn refused_contact_writes_name_the_field_and_store_nothing(backend: Backend) {
    let w = World::new(backend).await;
    let ours = w.contact.id;
    let theirs = w.other.contact.id;
    let before = all_contacts(&w).await;
    let too_many: serde_json::Map<String, Value> =
        (0..101).map(|i| (format!("k{i}"), json!(i))).collect();

    let t = &w.member_token;
    let create = ("POST", "/api/v1/contacts");
    #[rustfmt::skip]
    let cases = [
        ("nothing identifying", json!({"properties": {"plan": "pro"}}), bad("email")),
        ("name of wrong type", json!({"name": 5}), bad("name")),
        ("bad email", json!({"email": "not-an-email"}), bad("email")),
        ("bad phone", json!({"phone": "call me"}), bad("phone")),
        ("name too long", json!({"name": "n".repeat(121)}), bad("name")),
        ("unknown field", json!({"name": "X", "nickname": "Y"}), (422, "invalid_field", None)),
        ("property name with capitals", json!({"name": "X", "properties": {"Plan": 1}}), bad("properties")),
        ("nested property value", json!({"name": "X", "properties": {"plan": {"tier": 1}}}),
            bad("properties.plan")),
        ("property text too long", json!({"name": "X", "properties": {"note": "x".repeat(1001)}}),
            bad("properties.note")),
        ("101 properties", json!({"name": "X", "properties": too_many}), bad("properties")),
        ("unknown owner", json!({"name": "X", "owner_id": uuid::Uuid::now_v7()}), bad("owner_id")),
        ("another account's owner", json!({"name": "X", "owner_id": w.other.admin.id}), bad("owner_id")),
        ("email already used", json!({"email": "VISITOR@customer.test"}), (409, "conflict", Some("email"))),
    ];
    for (case, body, expect) in cases {
        expect_refusal(&w.app, t, create, case, Some(body), expect).await;
    }

    let path = format!("/api/v1/contacts/{ours}");
    let patch = ("PATCH", path.as_str());
    #[rustfmt::skip]
    let cases = [
        ("clears all three", json!({"email": null}), bad("email")),
        ("properties null", json!({"properties": null}), bad("properties")),
        ("wrong type", json!({"phone": 12345}), bad("phone")),
    ];
    for (case, body, expect) in cases {
        expect_refusal(&w.app, t, patch, case, Some(body), expect).await;
    }
    let unknown = format!("/api/v1/contacts/{}", uuid::Uuid::now_v7());
    let foreign = format!("/api/v1/contacts/{theirs}");
    #[rustfmt::skip]
    let cases = [
        ("unknown contact", unknown.as_str(), NOT_FOUND),
        ("another account's contact", foreign.as_str(), NOT_FOUND),
        ("malformed id", "/api/v1/contacts/nope", (400, "invalid_path", None)),
    ];
    for (case, path, expect) in cases {
        let body = Some(json!({"name": "X"}));
        expect_refusal(&w.app, t, ("PATCH", path), case, body, expect).await;
    }

    let path = format!("/api/v1/contacts/{ours}/merge");
    let merge = ("POST", path.as_str());
    #[rustfmt::skip]
    let cases = [
        ("missing merged_id", json!({}), bad("merged_id")),
        ("merged_id not an id", json!({"merged_id": "abc"}), bad("merged_id")),
        ("with itself", json!({"merged_id": ours}), bad("merged_id")),
        ("unknown duplicate", json!({"merged_id": uuid::Uuid::now_v7()}), bad("merged_id")),
        ("another account's duplicate", json!({"merged_id": theirs}), bad("merged_id")),
    ];
    for (case, body, expect) in cases {
        expect_refusal(&w.app, t, merge, case, Some(body), expect).await;
    }
    let into_theirs = format!("/api/v1/contacts/{theirs}/merge");
    let body = Some(json!({"merged_id": ours}));
    let case = "into another account's contact";
    expect_refusal(&w.app, t, ("POST", &into_theirs), case, body, NOT_FOUND).await;

    // A body each route would accept, so that only the credentials are at fault.
    #[rustfmt::skip]
    let writes = [
        ("POST", "/api/v1/contacts".to_owned(), json!({"name": "Y"})),
        ("PATCH", format!("/api/v1/contacts/{ours}"), json!({"name": "Y"})),
        ("POST", format!("/api/v1/contacts/{ours}/merge"), json!({"merged_id": theirs})),
    ];
    let (browser, _csrf) = cookie_session(&w.app, "member@a.test").await;
    for (method, path, body) in &writes {
        refuses_bad_framing_and_credentials(
            &w.app,
            &w.member_token,
            &browser,
            (method, path),
            body,
        )
        .await;
    }

    assert_eq!(
        all_contacts(&w).await,
        before,
        "no refused request changed a contact"
    );
}

async fn contact_reads_refuse_strangers_and_bad_queries(backend: Backend) {
    let w = World::new(backend).await;
    let theirs = w.other.contact.id;
    let ours = w.contact.id;
    let bad_query = |field| (400, "invalid_query", Some(field));
    #[rustfmt::skip]
    let cases = [
        ("another account's contact", format!("/api/v1/contacts/{theirs}"), NOT_FOUND),
        ("unknown contact", format!("/api/v1/contacts/{}", uuid::Uuid::now_v7()), NOT_FOUND),
        ("malformed id", "/api/v1/contacts/123".to_owned(), (400, "invalid_path", None)),
        ("bad email filter", "/api/v1/contacts?email=nope".to_owned(), bad_query("email")),
        ("bad limit", "/api/v1/contacts?limit=many".to_owned(), bad_query("limit")),
        ("bad after", "/api/v1/contacts?after=xyz".to_owned(), bad_query("after")),
        ("unknown parameter", "/api/v1/contacts?nmae=ada".to_owned(), bad_query("nmae")),
    ];
    for (case, path, expect) in cases {
        expect_refusal(&w.app, &w.member_token, ("GET", &path), case, None, expect).await;
    }
    for path in ["/api/v1/contacts", &format!("/api/v1/contacts/{ours}")] {
        refuses_anonymous_read(&w.app, path).await;
    }
    let by_other_admin = w
        .app
        .get(
            &format!("/api/v1/contacts?email={}", "visitor%40customer.test"),
            &w.other.admin_token,
        )
        .await;
    assert_eq!(
        by_other_admin.body["items"],
        json!([]),
        "account B cannot find A's contact"
    );
}

on_both_backends!(
    any_agent_creates_reads_and_finds_contacts,
    contact_search_pages_newest_first,
    patching_clears_with_null_and_merges_properties,
    merging_moves_conversations_to_the_kept_contact,
    refused_contact_writes_name_the_field_and_store_nothing,
    contact_reads_refuse_strangers_and_bad_queries,
);
