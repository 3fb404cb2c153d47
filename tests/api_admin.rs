//! The admin routes (agents, teams, inboxes, channels) through the HTTP API on both store
//! backends: what each route does, who may call it, and how each kind of bad request is answered
//! without writing anything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use parley::auth;
use parley::domain::{AgentProfile, AgentRole, EmailAddress, Name, NewAgent, Password};
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

const AGENT_EMAIL: &str = "agent@parley.test";
const AGENT_PASSWORD: &str = "agent-password-1";
const OTHER_EMAIL: &str = "admin@other.test";
const OTHER_PASSWORD: &str = "other-password-1";

/// An app with its admin, one agent (role `agent`) of the same account, and the admin of a
/// second account.
struct World {
    app: TestApp,
    admin: String,
    admin_id: String,
    agent: String,
    agent_id: String,
    other: String,
    other_admin_id: String,
}

async fn world(backend: Backend) -> World {
    let app = spawn_app(backend).await;
    let admin = app.admin_token.clone();
    let created = app
        .post(
            "/api/v1/agents",
            &admin,
            json!({
                "email": AGENT_EMAIL, "password": AGENT_PASSWORD,
                "role": "agent", "display_name": "Agatha Agent",
            }),
        )
        .await;
    assert_eq!(created.status, 201, "create agent: {:?}", created.body);
    let agent_id = created.body["id"].as_str().unwrap().to_owned();
    let (agent, _) = app.login(AGENT_EMAIL, AGENT_PASSWORD).await;

    let account = app
        .store
        .create_account(Name::parse("Other company").unwrap())
        .await
        .unwrap();
    let hash = auth::hash_password(&Password::parse(OTHER_PASSWORD).unwrap()).unwrap();
    let other_admin = app
        .store
        .create_agent(
            account.id,
            NewAgent {
                email: EmailAddress::parse(OTHER_EMAIL).unwrap(),
                role: AgentRole::Admin,
                profile: AgentProfile {
                    display_name: Name::parse("Other Admin").unwrap(),
                    avatar_url: None,
                    meeting_link: None,
                },
                password_hash: hash,
            },
        )
        .await
        .unwrap();
    let (other, _) = app.login(OTHER_EMAIL, OTHER_PASSWORD).await;
    World {
        admin_id: app.admin.id.to_string(),
        app,
        admin,
        agent,
        agent_id,
        other,
        other_admin_id: other_admin.id.to_string(),
    }
}

impl World {
    /// Creates through the API as `token` and returns the new record's id.
    async fn create(&self, path: &str, token: &str, body: Value) -> String {
        let a = self.app.post(path, token, body).await;
        assert_eq!(a.status, 201, "POST {path}: {:?}", a.body);
        a.body["id"].as_str().unwrap().to_owned()
    }

    /// The admin's and the other account's view of a list, to show failed requests wrote nothing.
    async fn snapshot(&self, list: &str) -> (Value, Value) {
        let mine = self.app.get(list, &self.admin).await;
        let theirs = self.app.get(list, &self.other).await;
        assert_eq!(mine.status, 200, "GET {list}: {:?}", mine.body);
        assert_eq!(theirs.status, 200, "GET {list}: {:?}", theirs.body);
        (mine.body, theirs.body)
    }
}

enum Body {
    None,
    Json(Value),
    Raw(String),
}

/// One request and the error it must get.
struct Case {
    name: String,
    method: &'static str,
    path: String,
    token: Option<String>,
    body: Body,
    status: u16,
    code: &'static str,
    field: Option<String>,
}

fn case(
    name: impl Into<String>,
    method: &'static str,
    path: impl Into<String>,
    token: Option<&str>,
    body: Body,
) -> Case {
    Case {
        name: name.into(),
        method,
        path: path.into(),
        token: token.map(str::to_owned),
        body,
        status: 0,
        code: "",
        field: None,
    }
}

impl Case {
    fn expect(mut self, status: u16, code: &'static str) -> Self {
        self.status = status;
        self.code = code;
        self
    }

    fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

async fn send_case(app: &TestApp, c: &Case) -> Answer {
    let method = reqwest::Method::from_bytes(c.method.as_bytes()).unwrap();
    let mut request = reqwest::Client::new().request(method, app.url(&c.path));
    if let Some(token) = &c.token {
        request = request.bearer_auth(token);
    }
    request = match &c.body {
        Body::None => request,
        Body::Json(value) => request.json(value),
        Body::Raw(text) => request
            .header(CONTENT_TYPE, "application/json")
            .body(text.clone()),
    };
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", c.name));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer { status, body }
}

async fn check(app: &TestApp, cases: Vec<Case>) {
    for c in &cases {
        let a = send_case(app, c).await;
        let label = format!("{} ({} {})", c.name, c.method, c.path);
        assert_eq!(a.status, c.status, "{label}: {:?}", a.body);
        assert_eq!(a.code(), c.code, "{label}: {:?}", a.body);
        if let Some(field) = &c.field {
            assert_eq!(a.body["field"], json!(field), "{label}: {:?}", a.body);
        }
    }
}

/// The body errors every JSON write answers alike: unreadable JSON, a value of the wrong type, a
/// missing field, a field far too long, and a body over `http.max_body_bytes`.
fn body_cases(
    method: &'static str,
    path: &str,
    token: &str,
    wrong_type: (Value, &str),
    missing: Option<(Value, &str)>,
    oversize: (Value, &str),
) -> Vec<Case> {
    let mut cases = vec![
        case(
            "malformed JSON",
            method,
            path,
            Some(token),
            Body::Raw("{not json".into()),
        )
        .expect(400, "malformed_json"),
        case(
            "wrong type",
            method,
            path,
            Some(token),
            Body::Json(wrong_type.0),
        )
        .expect(422, "invalid_field")
        .field(wrong_type.1),
        case(
            "oversize field",
            method,
            path,
            Some(token),
            Body::Json(oversize.0),
        )
        .expect(422, "invalid_field")
        .field(oversize.1),
        case(
            "oversize body",
            method,
            path,
            Some(token),
            Body::Raw(format!("{{\"name\": \"{}\"}}", "x".repeat(300_000))),
        )
        .expect(413, "payload_too_large"),
        case(
            "unknown field",
            method,
            path,
            Some(token),
            Body::Json(json!({"no_such_field": 1})),
        )
        .expect(422, "invalid_field")
        .field("no_such_field"),
    ];
    if let Some((body, field)) = missing {
        cases.push(
            case("missing field", method, path, Some(token), Body::Json(body))
                .expect(422, "invalid_field")
                .field(field),
        );
    }
    cases
}

fn long_name() -> String {
    "n".repeat(10_000)
}

fn not_found(name: &str, method: &'static str, path: String, token: &str, body: Body) -> Case {
    case(name, method, path, Some(token), body).expect(404, "not_found")
}

fn unauthenticated(method: &'static str, path: String, body: Body) -> Case {
    case("unauthenticated", method, path, None, body).expect(401, "unauthenticated")
}

fn forbidden(method: &'static str, path: String, token: &str, body: Body) -> Case {
    case("not an admin", method, path, Some(token), body).expect(403, "forbidden")
}

fn unknown_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

// ----- agents -----

async fn agents_are_created_read_changed_and_deactivated(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;

    let created = app
        .post(
            "/api/v1/agents",
            &w.admin,
            json!({
                "email": "Bob@Parley.Test", "password": "bob-password-12", "role": "admin",
                "display_name": "  Bob  ", "avatar_url": "https://cdn.parley.test/bob.png",
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["email"], "bob@parley.test");
    assert_eq!(created.body["role"], "admin");
    assert_eq!(created.body["profile"]["display_name"], "Bob");
    assert_eq!(
        created.body["profile"]["avatar_url"],
        "https://cdn.parley.test/bob.png"
    );
    assert_eq!(created.body["profile"]["meeting_link"], Value::Null);
    assert_eq!(created.body["active"], true);
    assert!(created.body.get("password_hash").is_none());
    let bob = created.body["id"].as_str().unwrap().to_owned();
    let (bob_token, _) = app.login("bob@parley.test", "bob-password-12").await;

    // Every agent of the account sees every agent; the other account sees none of them.
    let listed = app.get("/api/v1/agents", &w.agent).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let ids: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    for id in [w.admin_id.as_str(), w.agent_id.as_str(), bob.as_str()] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    let theirs = app.get("/api/v1/agents", &w.other).await;
    assert_eq!(
        theirs.body.as_array().unwrap().len(),
        1,
        "{:?}",
        theirs.body
    );
    let one = app.get(&format!("/api/v1/agents/{bob}"), &w.agent).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body, created.body);

    // An admin changes any field of another agent; null clears an optional one.
    let changed = app
        .patch(
            &format!("/api/v1/agents/{bob}"),
            &w.admin,
            json!({"role": "agent", "display_name": "Robert", "avatar_url": null,
                   "meeting_link": "https://meet.parley.test/bob", "status": "away"}),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(changed.body["role"], "agent");
    assert_eq!(changed.body["profile"]["display_name"], "Robert");
    assert_eq!(changed.body["profile"]["avatar_url"], Value::Null);
    assert_eq!(
        changed.body["profile"]["meeting_link"],
        "https://meet.parley.test/bob"
    );
    assert_eq!(changed.body["status"], "away");
    let reread = app.get(&format!("/api/v1/agents/{bob}"), &w.admin).await;
    assert_eq!(reread.body, changed.body);

    // An email taken in any account is a conflict.
    let taken = app
        .post(
            "/api/v1/agents",
            &w.admin,
            json!({"email": OTHER_EMAIL, "password": "some-password-1", "role": "agent",
                   "display_name": "Copy"}),
        )
        .await;
    assert_eq!(taken.status, 409, "{:?}", taken.body);
    assert_eq!(taken.body["field"], "email");

    // Deactivating ends sign-in and every credential, and keeps the record.
    let gone = app.delete(&format!("/api/v1/agents/{bob}"), &w.admin).await;
    assert_eq!(gone.status, 204, "{:?}", gone.body);
    let after = app.get("/api/v1/auth/me", &bob_token).await;
    assert_eq!(after.status, 401, "{:?}", after.body);
    let login = app
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "bob@parley.test", "password": "bob-password-12"})),
        )
        .await;
    assert_eq!(login.status, 401, "{:?}", login.body);
    let kept = app.get(&format!("/api/v1/agents/{bob}"), &w.admin).await;
    assert_eq!(kept.status, 200);
    assert_eq!(kept.body["active"], false);

    // An admin reactivates.
    let back = app
        .patch(
            &format!("/api/v1/agents/{bob}"),
            &w.admin,
            json!({"active": true}),
        )
        .await;
    assert_eq!(back.status, 200, "{:?}", back.body);
    app.login("bob@parley.test", "bob-password-12").await;
}

async fn agents_change_only_their_own_profile(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let me = format!("/api/v1/agents/{}", w.agent_id);

    let changed = app
        .patch(
            &me,
            &w.agent,
            json!({
                "display_name": "Aggie", "avatar_url": "https://cdn.parley.test/a.png",
                "meeting_link": "https://meet.parley.test/aggie", "status": "away",
                "notification_prefs": {"new_assignment": true, "mention": true,
                                       "new_message": false, "browser": false},
            }),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(changed.body["profile"]["display_name"], "Aggie");
    assert_eq!(changed.body["status"], "away");
    assert_eq!(changed.body["notification_prefs"]["new_message"], false);

    let before = w.snapshot("/api/v1/agents").await;
    check(
        app,
        vec![
            forbidden(
                "PATCH",
                format!("/api/v1/agents/{}", w.admin_id),
                &w.agent,
                Body::Json(json!({"display_name": "Mallory"})),
            ),
            case(
                "own role",
                "PATCH",
                &me,
                Some(&w.agent),
                Body::Json(json!({"role": "admin"})),
            )
            .expect(403, "forbidden")
            .field("role"),
            case(
                "own activity",
                "PATCH",
                &me,
                Some(&w.agent),
                Body::Json(json!({"active": true})),
            )
            .expect(403, "forbidden")
            .field("active"),
            case(
                "own email",
                "PATCH",
                &me,
                Some(&w.agent),
                Body::Json(json!({"email": "new@parley.test"})),
            )
            .expect(403, "forbidden")
            .field("email"),
            case(
                "admin demotes themself",
                "PATCH",
                format!("/api/v1/agents/{}", w.admin_id),
                Some(&w.admin),
                Body::Json(json!({"role": "agent"})),
            )
            .expect(422, "invalid_field")
            .field("role"),
            case(
                "admin deactivates themself",
                "DELETE",
                format!("/api/v1/agents/{}", w.admin_id),
                Some(&w.admin),
                Body::None,
            )
            .expect(422, "invalid_field")
            .field("id"),
        ],
    )
    .await;
    assert_eq!(w.snapshot("/api/v1/agents").await, before);
}

async fn own_password_changes_need_the_current_one(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let me = format!("/api/v1/agents/{}", w.agent_id);
    let new_password = "agent-password-2";

    check(
        app,
        vec![
            case(
                "without current password",
                "PATCH",
                &me,
                Some(&w.agent),
                Body::Json(json!({"password": new_password})),
            )
            .expect(422, "invalid_field")
            .field("current_password"),
            case(
                "wrong current password",
                "PATCH",
                &me,
                Some(&w.agent),
                Body::Json(json!({"password": new_password, "current_password": "guess-guess-1"})),
            )
            .expect(422, "invalid_field")
            .field("current_password"),
            case(
                "too short",
                "PATCH",
                &me,
                Some(&w.agent),
                Body::Json(json!({"password": "short", "current_password": AGENT_PASSWORD})),
            )
            .expect(422, "invalid_field")
            .field("password"),
        ],
    )
    .await;

    // A second session of the agent (made in the store: the login limit is spent above).
    let (elsewhere, digest) = parley::auth::new_token(parley::auth::SESSION_TOKEN_PREFIX).unwrap();
    app.store
        .create_session(parley::domain::Session {
            token_hash: digest,
            account_id: app.admin.account_id,
            agent_id: w.agent_id.parse().unwrap(),
            csrf_token: "unused".into(),
            expires_at: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        })
        .await
        .unwrap();
    assert_eq!(app.get("/api/v1/auth/me", &elsewhere).await.status, 200);
    let changed = app
        .patch(
            &me,
            &w.agent,
            json!({"password": new_password, "current_password": AGENT_PASSWORD}),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    let here = app.get("/api/v1/auth/me", &w.agent).await;
    assert_eq!(
        here.status, 200,
        "the session that changed the password stays: {:?}",
        here.body
    );
    let there = app.get("/api/v1/auth/me", &elsewhere).await;
    assert_eq!(
        there.status, 401,
        "other sessions end with a new password: {:?}",
        there.body
    );
    let old = app
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": AGENT_EMAIL, "password": AGENT_PASSWORD})),
        )
        .await;
    assert_eq!(
        old.status, 401,
        "the old password still works: {:?}",
        old.body
    );

    // An admin sets another agent's password without knowing it.
    let reset = app
        .patch(&me, &w.admin, json!({"password": "agent-password-3"}))
        .await;
    assert_eq!(reset.status, 200, "{:?}", reset.body);
    let here = app.get("/api/v1/auth/me", &w.agent).await;
    assert_eq!(
        here.status, 401,
        "an admin's reset signs the agent out everywhere: {:?}",
        here.body
    );
    app.login(AGENT_EMAIL, "agent-password-3").await;
}

async fn agent_routes_refuse_bad_requests_and_write_nothing(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let before = w.snapshot("/api/v1/agents").await;
    let valid = json!({"email": "new@parley.test", "password": "new-password-12",
                       "role": "agent", "display_name": "New"});
    let mut missing = valid.clone();
    missing.as_object_mut().unwrap().remove("display_name");
    let mut wrong_type = valid.clone();
    wrong_type["role"] = json!(1);
    let mut bad_role = valid.clone();
    bad_role["role"] = json!("owner");
    let mut oversize = valid.clone();
    oversize["display_name"] = json!(long_name());
    let mut short_password = valid.clone();
    short_password["password"] = json!("short");
    let mut bad_url = valid.clone();
    bad_url["avatar_url"] = json!("javascript:alert(1)");
    let agent = format!("/api/v1/agents/{}", w.agent_id);

    let mut cases = body_cases(
        "POST",
        "/api/v1/agents",
        &w.admin,
        (wrong_type, "role"),
        Some((missing, "display_name")),
        (oversize, "display_name"),
    );
    cases.extend(body_cases(
        "PATCH",
        &agent,
        &w.admin,
        (json!({"active": "yes"}), "active"),
        None,
        (json!({"display_name": long_name()}), "display_name"),
    ));
    let valid_patch = || Body::Json(json!({"display_name": "Changed"}));
    cases.extend([
        case(
            "unknown role",
            "POST",
            "/api/v1/agents",
            Some(&w.admin),
            Body::Json(bad_role),
        )
        .expect(422, "invalid_field")
        .field("role"),
        case(
            "short password",
            "POST",
            "/api/v1/agents",
            Some(&w.admin),
            Body::Json(short_password),
        )
        .expect(422, "invalid_field")
        .field("password"),
        case(
            "unsafe URL",
            "POST",
            "/api/v1/agents",
            Some(&w.admin),
            Body::Json(bad_url),
        )
        .expect(422, "invalid_field")
        .field("avatar_url"),
        case(
            "malformed id",
            "GET",
            "/api/v1/agents/not-a-uuid",
            Some(&w.admin),
            Body::None,
        )
        .expect(400, "invalid_path"),
        not_found(
            "unknown id",
            "GET",
            format!("/api/v1/agents/{}", unknown_id()),
            &w.admin,
            Body::None,
        ),
        not_found(
            "unknown id",
            "PATCH",
            format!("/api/v1/agents/{}", unknown_id()),
            &w.admin,
            valid_patch(),
        ),
        not_found(
            "unknown id",
            "DELETE",
            format!("/api/v1/agents/{}", unknown_id()),
            &w.admin,
            Body::None,
        ),
        not_found(
            "another account's agent",
            "GET",
            format!("/api/v1/agents/{}", w.other_admin_id),
            &w.admin,
            Body::None,
        ),
        not_found(
            "another account's agent",
            "PATCH",
            format!("/api/v1/agents/{}", w.other_admin_id),
            &w.admin,
            valid_patch(),
        ),
        not_found(
            "another account's agent",
            "DELETE",
            format!("/api/v1/agents/{}", w.other_admin_id),
            &w.admin,
            Body::None,
        ),
        unauthenticated("GET", "/api/v1/agents".into(), Body::None),
        unauthenticated("POST", "/api/v1/agents".into(), Body::Json(valid.clone())),
        unauthenticated("GET", agent.clone(), Body::None),
        unauthenticated("PATCH", agent.clone(), valid_patch()),
        unauthenticated("DELETE", agent.clone(), Body::None),
        forbidden("POST", "/api/v1/agents".into(), &w.agent, Body::Json(valid)),
        forbidden(
            "DELETE",
            format!("/api/v1/agents/{}", w.admin_id),
            &w.agent,
            Body::None,
        ),
    ]);
    check(app, cases).await;
    assert_eq!(w.snapshot("/api/v1/agents").await, before);
}

// ----- teams -----

async fn teams_are_created_read_changed_and_deleted(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let created = app
        .post(
            "/api/v1/teams",
            &w.admin,
            json!({"name": "Sales", "member_ids": [w.agent_id, w.agent_id]}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["name"], "Sales");
    assert_eq!(created.body["member_ids"], json!([w.agent_id]));
    let id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/teams/{id}");

    // Agents read teams, to assign and route.
    let listed = app.get("/api/v1/teams", &w.agent).await;
    assert_eq!(listed.body, json!([created.body]));
    assert_eq!(app.get(&path, &w.agent).await.body, created.body);
    assert_eq!(app.get("/api/v1/teams", &w.other).await.body, json!([]));

    let renamed = app
        .patch(&path, &w.admin, json!({"name": "Sales EU"}))
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    assert_eq!(renamed.body["name"], "Sales EU");
    assert_eq!(renamed.body["member_ids"], json!([w.agent_id]));

    let mut both = vec![w.agent_id.clone(), w.admin_id.clone()];
    both.sort();
    let members = app
        .put(
            &format!("{path}/members"),
            &w.admin,
            json!({"agent_ids": [w.admin_id, w.agent_id]}),
        )
        .await;
    assert_eq!(members.status, 200, "{:?}", members.body);
    assert_eq!(members.body["member_ids"], json!(both));
    let emptied = app.patch(&path, &w.admin, json!({"member_ids": []})).await;
    assert_eq!(emptied.body["member_ids"], json!([]));

    let deleted = app.delete(&path, &w.admin).await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    assert_eq!(app.get(&path, &w.admin).await.status, 404);
    assert_eq!(app.get("/api/v1/teams", &w.admin).await.body, json!([]));
}

async fn team_routes_refuse_bad_requests_and_write_nothing(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let id = w
        .create(
            "/api/v1/teams",
            &w.admin,
            json!({"name": "Support", "member_ids": [w.agent_id]}),
        )
        .await;
    let theirs = w
        .create("/api/v1/teams", &w.other, json!({"name": "Theirs"}))
        .await;
    let before = w.snapshot("/api/v1/teams").await;
    let path = format!("/api/v1/teams/{id}");
    let members = format!("{path}/members");

    let mut cases = body_cases(
        "POST",
        "/api/v1/teams",
        &w.admin,
        (json!({"name": 5}), "name"),
        Some((json!({"member_ids": []}), "name")),
        (json!({"name": long_name()}), "name"),
    );
    cases.extend(body_cases(
        "PATCH",
        &path,
        &w.admin,
        (json!({"member_ids": "everyone"}), "member_ids"),
        None,
        (json!({"name": long_name()}), "name"),
    ));
    cases.extend(body_cases(
        "PUT",
        &members,
        &w.admin,
        (json!({"agent_ids": [5]}), "agent_ids[0]"),
        Some((json!({}), "agent_ids")),
        (json!({"agent_ids": ["x".repeat(10_000)]}), "agent_ids[0]"),
    ));
    let valid = || Body::Json(json!({"name": "Renamed"}));
    let valid_members = || Body::Json(json!({"agent_ids": [w.agent_id]}));
    cases.extend([
        case(
            "member of another account",
            "POST",
            "/api/v1/teams",
            Some(&w.admin),
            Body::Json(json!({"name": "Mixed", "member_ids": [w.other_admin_id]})),
        )
        .expect(422, "invalid_field")
        .field("member_ids"),
        case(
            "member of another account",
            "PUT",
            &members,
            Some(&w.admin),
            Body::Json(json!({"agent_ids": [w.other_admin_id]})),
        )
        .expect(422, "invalid_field")
        .field("agent_ids"),
        case(
            "unknown member",
            "PATCH",
            &path,
            Some(&w.admin),
            Body::Json(json!({"member_ids": [unknown_id()]})),
        )
        .expect(422, "invalid_field")
        .field("member_ids"),
    ]);
    for (name, team) in [
        ("unknown id", unknown_id()),
        ("another account's team", theirs),
    ] {
        let at = format!("/api/v1/teams/{team}");
        cases.extend([
            not_found(name, "GET", at.clone(), &w.admin, Body::None),
            not_found(name, "PATCH", at.clone(), &w.admin, valid()),
            not_found(
                name,
                "PUT",
                format!("{at}/members"),
                &w.admin,
                valid_members(),
            ),
            not_found(name, "DELETE", at, &w.admin, Body::None),
        ]);
    }
    cases.extend([
        unauthenticated("GET", "/api/v1/teams".into(), Body::None),
        unauthenticated("POST", "/api/v1/teams".into(), valid()),
        unauthenticated("GET", path.clone(), Body::None),
        unauthenticated("PATCH", path.clone(), valid()),
        unauthenticated("PUT", members.clone(), valid_members()),
        unauthenticated("DELETE", path.clone(), Body::None),
        forbidden("POST", "/api/v1/teams".into(), &w.agent, valid()),
        forbidden("PATCH", path.clone(), &w.agent, valid()),
        forbidden("PUT", members.clone(), &w.agent, valid_members()),
        forbidden("DELETE", path.clone(), &w.agent, Body::None),
    ]);
    check(app, cases).await;
    assert_eq!(w.snapshot("/api/v1/teams").await, before);
}

// ----- inboxes -----

async fn inboxes_are_created_read_changed_and_deleted(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let team = w
        .create("/api/v1/teams", &w.admin, json!({"name": "Sales"}))
        .await;

    let defaults = app
        .post("/api/v1/inboxes", &w.admin, json!({"name": "Support"}))
        .await;
    assert_eq!(defaults.status, 201, "{:?}", defaults.body);
    assert_eq!(
        defaults.body["routing"]["target"],
        json!({"mode": "unassigned"})
    );
    assert_eq!(defaults.body["routing"]["strategy"], "round_robin");
    assert_eq!(defaults.body["member_ids"], json!([]));
    let local = defaults.body["fallback_local_part"].as_str().unwrap();
    assert!(local.starts_with("inbox-"), "{local}");
    assert_eq!(
        defaults.body["fallback_address"],
        format!("{local}@parley.localhost")
    );
    let support = defaults.body["id"].as_str().unwrap().to_owned();

    let created = app
        .post(
            "/api/v1/inboxes",
            &w.admin,
            json!({
                "name": "Sales",
                "routing": {"target": {"mode": "team", "team_id": team},
                            "strategy": "least_busy", "capacity": 5, "sticky_to_owner": false},
                "notification_defaults": {"new_assignment": true, "mention": true,
                                          "new_message": false, "browser": true},
                "email_filters": {"blocked_senders": ["Spam@Example.com"],
                                  "blocked_domains": ["@Junk.Example", "junk.example"],
                                  "filter_auto_replies": true},
                "member_ids": [w.agent_id],
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["routing"]["target"]["team_id"], json!(team));
    assert_eq!(created.body["routing"]["capacity"], 5);
    assert_eq!(created.body["notification_defaults"]["new_message"], false);
    assert_eq!(
        created.body["email_filters"]["blocked_senders"],
        json!(["spam@example.com"])
    );
    assert_eq!(
        created.body["email_filters"]["blocked_domains"],
        json!(["junk.example"])
    );
    assert_eq!(created.body["member_ids"], json!([w.agent_id]));
    let sales = created.body["id"].as_str().unwrap().to_owned();

    // Admins see every inbox; an agent only theirs, and is refused the others.
    let all = app.get("/api/v1/inboxes", &w.admin).await;
    assert_eq!(all.body.as_array().unwrap().len(), 2, "{:?}", all.body);
    let mine = app.get("/api/v1/inboxes", &w.agent).await;
    assert_eq!(mine.body, json!([created.body]));
    let own = app.get(&format!("/api/v1/inboxes/{sales}"), &w.agent).await;
    assert_eq!(own.status, 200, "{:?}", own.body);
    assert_eq!(own.body, created.body);
    let refused = app
        .get(&format!("/api/v1/inboxes/{support}"), &w.agent)
        .await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(app.get("/api/v1/inboxes", &w.other).await.body, json!([]));

    let path = format!("/api/v1/inboxes/{support}");
    let changed = app
        .patch(
            &path,
            &w.admin,
            json!({"name": "Support EU",
                   "routing": {"target": {"mode": "agents", "agent_ids": [w.agent_id]},
                               "strategy": "round_robin", "capacity": null,
                               "sticky_to_owner": true}}),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(changed.body["name"], "Support EU");
    assert_eq!(
        changed.body["routing"]["target"],
        json!({"mode": "agents", "agent_ids": [w.agent_id]})
    );
    assert_eq!(
        changed.body["fallback_address"],
        defaults.body["fallback_address"]
    );

    let members = app
        .put(
            &format!("{path}/members"),
            &w.admin,
            json!({"agent_ids": [w.agent_id]}),
        )
        .await;
    assert_eq!(members.status, 200, "{:?}", members.body);
    assert_eq!(members.body["member_ids"], json!([w.agent_id]));
    assert_eq!(app.get(&path, &w.agent).await.status, 200);

    // An inbox with a channel cannot be deleted; without it, it can.
    let channel = w
        .create(
            "/api/v1/channels",
            &w.admin,
            json!({"inbox_id": support, "kind": "chat", "name": "Site",
                   "settings": {"allowed_origins": ["https://parley.test"]}}),
        )
        .await;
    let blocked = app.delete(&path, &w.admin).await;
    assert_eq!(blocked.status, 422, "{:?}", blocked.body);
    assert_eq!(blocked.body["field"], "id");
    assert_eq!(app.get(&path, &w.admin).await.status, 200);
    let gone = app
        .delete(&format!("/api/v1/channels/{channel}"), &w.admin)
        .await;
    assert_eq!(gone.status, 204, "{:?}", gone.body);
    let deleted = app.delete(&path, &w.admin).await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    assert_eq!(app.get(&path, &w.admin).await.status, 404);
}

async fn inbox_routes_refuse_bad_requests_and_write_nothing(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let id = w
        .create(
            "/api/v1/inboxes",
            &w.admin,
            json!({"name": "Support", "member_ids": [w.agent_id]}),
        )
        .await;
    let their_team = w
        .create("/api/v1/teams", &w.other, json!({"name": "Theirs"}))
        .await;
    let theirs = w
        .create("/api/v1/inboxes", &w.other, json!({"name": "Theirs"}))
        .await;
    let before = w.snapshot("/api/v1/inboxes").await;
    let path = format!("/api/v1/inboxes/{id}");
    let members = format!("{path}/members");
    let routing = |target: Value, capacity: Value| {
        json!({"target": target, "strategy": "round_robin", "capacity": capacity,
               "sticky_to_owner": true})
    };

    let mut cases = body_cases(
        "POST",
        "/api/v1/inboxes",
        &w.admin,
        (json!({"name": "Sales", "member_ids": "all"}), "member_ids"),
        Some((json!({"member_ids": []}), "name")),
        (json!({"name": long_name()}), "name"),
    );
    cases.extend(body_cases(
        "PATCH",
        &path,
        &w.admin,
        (
            json!({"notification_defaults": {"new_assignment": "yes", "mention": true,
                                             "new_message": true, "browser": true}}),
            "notification_defaults.new_assignment",
        ),
        None,
        (json!({"name": long_name()}), "name"),
    ));
    cases.extend(body_cases(
        "PUT",
        &members,
        &w.admin,
        (json!({"agent_ids": "all"}), "agent_ids"),
        Some((json!({}), "agent_ids")),
        (json!({"agent_ids": ["x".repeat(10_000)]}), "agent_ids[0]"),
    ));
    let bad_settings = [
        (
            "routing target without team",
            json!({"name": "S", "routing": routing(json!({"mode": "team"}), Value::Null)}),
            "routing.target.team_id",
        ),
        (
            "routing to another account's team",
            json!({"name": "S", "routing": routing(json!({"mode": "team", "team_id": their_team}), Value::Null)}),
            "routing.target.team_id",
        ),
        (
            "routing to another account's agent",
            json!({"name": "S", "routing": routing(json!({"mode": "agents", "agent_ids": [w.agent_id, w.other_admin_id]}), Value::Null)}),
            "routing.target.agent_ids[1]",
        ),
        (
            "routing to no agents",
            json!({"name": "S", "routing": routing(json!({"mode": "agents", "agent_ids": []}), Value::Null)}),
            "routing.target.agent_ids",
        ),
        (
            "zero capacity",
            json!({"name": "S", "routing": routing(json!({"mode": "unassigned"}), json!(0))}),
            "routing.capacity",
        ),
        (
            "unknown routing mode",
            json!({"name": "S", "routing": routing(json!({"mode": "random"}), Value::Null)}),
            "routing.target.mode",
        ),
        (
            "blocked sender not an email",
            json!({"name": "S", "email_filters": {"blocked_senders": ["nope"],
                   "blocked_domains": [], "filter_auto_replies": false}}),
            "email_filters.blocked_senders[0]",
        ),
        (
            "blocked domain not a domain",
            json!({"name": "S", "email_filters": {"blocked_senders": [],
                   "blocked_domains": ["ok.example", "not a domain"], "filter_auto_replies": false}}),
            "email_filters.blocked_domains[1]",
        ),
        (
            "member of another account",
            json!({"name": "S", "member_ids": [w.other_admin_id]}),
            "member_ids",
        ),
    ];
    for (name, body, field) in bad_settings {
        cases.push(
            case(
                name,
                "POST",
                "/api/v1/inboxes",
                Some(&w.admin),
                Body::Json(body),
            )
            .expect(422, "invalid_field")
            .field(field),
        );
    }
    cases.push(
        case(
            "member of another account",
            "PUT",
            &members,
            Some(&w.admin),
            Body::Json(json!({"agent_ids": [w.other_admin_id]})),
        )
        .expect(422, "invalid_field")
        .field("agent_ids"),
    );
    let valid = || Body::Json(json!({"name": "Renamed"}));
    let valid_members = || Body::Json(json!({"agent_ids": []}));
    for (name, inbox) in [
        ("unknown id", unknown_id()),
        ("another account's inbox", theirs),
    ] {
        let at = format!("/api/v1/inboxes/{inbox}");
        cases.extend([
            not_found(name, "GET", at.clone(), &w.admin, Body::None),
            not_found(name, "PATCH", at.clone(), &w.admin, valid()),
            not_found(
                name,
                "PUT",
                format!("{at}/members"),
                &w.admin,
                valid_members(),
            ),
            not_found(name, "DELETE", at, &w.admin, Body::None),
        ]);
    }
    cases.extend([
        unauthenticated("GET", "/api/v1/inboxes".into(), Body::None),
        unauthenticated("POST", "/api/v1/inboxes".into(), valid()),
        unauthenticated("GET", path.clone(), Body::None),
        unauthenticated("PATCH", path.clone(), valid()),
        unauthenticated("PUT", members.clone(), valid_members()),
        unauthenticated("DELETE", path.clone(), Body::None),
        forbidden("POST", "/api/v1/inboxes".into(), &w.agent, valid()),
        forbidden("PATCH", path.clone(), &w.agent, valid()),
        forbidden("PUT", members.clone(), &w.agent, valid_members()),
        forbidden("DELETE", path.clone(), &w.agent, Body::None),
    ]);
    check(app, cases).await;
    assert_eq!(w.snapshot("/api/v1/inboxes").await, before);
}

// ----- channels -----

fn email_settings() -> Value {
    json!({
        "imap_host": "imap.parley.test", "imap_port": 993, "imap_tls": "tls",
        "imap_username": "support@parley.test", "imap_password": "imap-secret",
        "smtp_host": "smtp.parley.test", "smtp_port": 587, "smtp_tls": "starttls",
        "smtp_username": "support@parley.test", "smtp_password": "smtp-secret",
        "sender_name": "Parley Support", "sender_address": "support@parley.test",
        "signature": "Thanks,\nthe team",
    })
}

async fn channels_are_created_read_changed_and_deleted(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let sales = w
        .create(
            "/api/v1/inboxes",
            &w.admin,
            json!({"name": "Sales", "member_ids": [w.agent_id]}),
        )
        .await;
    let support = w
        .create("/api/v1/inboxes", &w.admin, json!({"name": "Support"}))
        .await;

    // chat: the server generates the identity secret and shows it to admins only.
    let chat = app
        .post(
            "/api/v1/channels",
            &w.admin,
            json!({"inbox_id": sales, "kind": "chat", "name": "Website",
                   "settings": {"allowed_origins": ["https://WWW.Parley.test/", "http://localhost:3000"],
                                "require_identity_verification": true}}),
        )
        .await;
    assert_eq!(chat.status, 201, "{:?}", chat.body);
    let settings = &chat.body["settings"];
    assert_eq!(
        settings["allowed_origins"],
        json!(["https://www.parley.test", "http://localhost:3000"])
    );
    assert_eq!(settings["require_identity_verification"], true);
    let secret = settings["identity_secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 64);
    assert!(secret.chars().all(|c| c.is_ascii_hexdigit()), "{secret}");
    let chat_id = chat.body["id"].as_str().unwrap().to_owned();
    let seen_by_agent = app
        .get(&format!("/api/v1/channels/{chat_id}"), &w.agent)
        .await;
    assert_eq!(seen_by_agent.status, 200, "{:?}", seen_by_agent.body);
    assert_eq!(
        seen_by_agent.body["settings"]["identity_secret"],
        Value::Null
    );
    assert_eq!(seen_by_agent.body["settings"]["has_identity_secret"], true);
    assert!(!seen_by_agent.body.to_string().contains(&secret));

    // email: passwords are stored but never answered.
    let email = app
        .post(
            "/api/v1/channels",
            &w.admin,
            json!({"inbox_id": support, "kind": "email", "name": "Support mail",
                   "settings": email_settings()}),
        )
        .await;
    assert_eq!(email.status, 201, "{:?}", email.body);
    let shown = &email.body["settings"];
    for secret in ["imap_password", "smtp_password"] {
        assert_eq!(shown[secret], Value::Null, "{secret}");
        assert_eq!(shown[format!("has_{secret}")], true, "{secret}");
    }
    assert!(!email.body.to_string().contains("imap-secret"));
    assert_eq!(shown["imap_port"], 993);
    assert_eq!(shown["route_to"], json!([]));
    let email_id = email.body["id"].as_str().unwrap().to_owned();
    let email_path = format!("/api/v1/channels/{email_id}");

    // A change that leaves the secrets out keeps them.
    let changed = app
        .patch(
            &email_path,
            &w.admin,
            json!({"name": "Support inbox",
                   "settings": {"smtp_port": 465, "smtp_tls": "tls", "imap_password": null,
                                "route_to": [w.agent_id]}}),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert_eq!(changed.body["name"], "Support inbox");
    assert_eq!(changed.body["settings"]["smtp_port"], 465);
    assert_eq!(changed.body["settings"]["route_to"], json!([w.agent_id]));
    assert_eq!(changed.body["settings"]["has_smtp_password"], true);
    let stored = app
        .store
        .get_channel(app.admin.account_id, email_id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(stored.settings["imap_password"], "imap-secret");
    assert_eq!(stored.settings["smtp_password"], "smtp-secret");
    assert_eq!(stored.settings["imap_username"], "support@parley.test");

    let rotated = app
        .patch(
            &email_path,
            &w.admin,
            json!({"settings": {"smtp_password": "new-smtp-secret"}}),
        )
        .await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    let stored = app
        .store
        .get_channel(app.admin.account_id, email_id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(stored.settings["smtp_password"], "new-smtp-secret");
    assert_eq!(stored.settings["smtp_port"], 465);

    // A chat change keeps the identity secret.
    let chat_changed = app
        .patch(
            &format!("/api/v1/channels/{chat_id}"),
            &w.admin,
            json!({"settings": {"require_identity_verification": false}}),
        )
        .await;
    assert_eq!(chat_changed.status, 200, "{:?}", chat_changed.body);
    assert_eq!(chat_changed.body["settings"]["identity_secret"], secret);
    assert_eq!(
        chat_changed.body["settings"]["allowed_origins"],
        settings["allowed_origins"]
    );

    let messenger = app
        .post(
            "/api/v1/channels",
            &w.admin,
            json!({"inbox_id": support, "kind": "messenger", "name": "Facebook",
                   "settings": {"page_id": "1234567890", "page_access_token": "EAAB-token",
                                "app_secret": "app-secret", "verify_token": "verify-me"}}),
        )
        .await;
    assert_eq!(messenger.status, 201, "{:?}", messenger.body);
    assert_eq!(messenger.body["settings"]["page_access_token"], Value::Null);
    assert_eq!(messenger.body["settings"]["has_app_secret"], true);
    assert_eq!(messenger.body["settings"]["verify_token"], "verify-me");

    let form = app
        .post(
            "/api/v1/channels",
            &w.admin,
            json!({"inbox_id": sales, "kind": "form", "name": "Contact us",
            "settings": {"fields": [
                {"name": "email", "label": "Email", "kind": "email", "required": true},
                {"name": "plan", "label": "Plan", "kind": "select",
                 "options": ["Free", "Pro"]},
            ]}}),
        )
        .await;
    assert_eq!(form.status, 201, "{:?}", form.body);
    assert_eq!(
        form.body["settings"]["fields"][1]["options"],
        json!(["Free", "Pro"])
    );
    assert_eq!(form.body["settings"]["fields"][1]["required"], false);
    let form_id = form.body["id"].as_str().unwrap().to_owned();

    // Lists: admins everything or one inbox; agents their inboxes' channels only.
    let all = app.get("/api/v1/channels", &w.admin).await;
    assert_eq!(all.body.as_array().unwrap().len(), 4, "{:?}", all.body);
    let of_sales = app
        .get(&format!("/api/v1/channels?inbox_id={sales}"), &w.admin)
        .await;
    let ids = |a: &Answer| -> Vec<String> {
        a.body
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut expected = vec![chat_id.clone(), form_id.clone()];
    expected.sort();
    let mut got = ids(&of_sales);
    got.sort();
    assert_eq!(got, expected);
    let mut agents = ids(&app.get("/api/v1/channels", &w.agent).await);
    agents.sort();
    assert_eq!(agents, expected);
    let refused = app
        .get(&format!("/api/v1/channels?inbox_id={support}"), &w.agent)
        .await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    let not_member = app.get(&email_path, &w.agent).await;
    assert_eq!(not_member.status, 403, "{:?}", not_member.body);
    assert_eq!(app.get("/api/v1/channels", &w.other).await.body, json!([]));

    // Moving a channel to another inbox.
    let moved = app
        .patch(
            &format!("/api/v1/channels/{form_id}"),
            &w.admin,
            json!({"inbox_id": support}),
        )
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(moved.body["inbox_id"], json!(support));

    let deleted = app.delete(&email_path, &w.admin).await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    assert_eq!(app.get(&email_path, &w.admin).await.status, 404);
}

async fn channel_routes_refuse_bad_requests_and_write_nothing(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let inbox = w
        .create(
            "/api/v1/inboxes",
            &w.admin,
            json!({"name": "Support", "member_ids": [w.agent_id]}),
        )
        .await;
    let id = w
        .create(
            "/api/v1/channels",
            &w.admin,
            json!({"inbox_id": inbox, "kind": "email", "name": "Mail",
                   "settings": email_settings()}),
        )
        .await;
    let their_inbox = w
        .create("/api/v1/inboxes", &w.other, json!({"name": "Theirs"}))
        .await;
    let theirs = w
        .create(
            "/api/v1/channels",
            &w.other,
            json!({"inbox_id": their_inbox, "kind": "chat", "name": "Theirs",
                   "settings": {"allowed_origins": []}}),
        )
        .await;
    let before = w.snapshot("/api/v1/channels").await;
    let stored_before = app
        .store
        .get_channel(app.admin.account_id, id.parse().unwrap())
        .await
        .unwrap();
    let path = format!("/api/v1/channels/{id}");
    let new = |kind: &str, settings: Value| json!({"inbox_id": inbox, "kind": kind, "name": "New", "settings": settings});

    let mut cases = body_cases(
        "POST",
        "/api/v1/channels",
        &w.admin,
        (
            json!({"inbox_id": inbox, "kind": "chat", "name": "W", "settings": []}),
            "settings",
        ),
        Some((
            json!({"inbox_id": inbox, "name": "W", "settings": {}}),
            "kind",
        )),
        (
            json!({"inbox_id": inbox, "kind": "chat", "name": long_name(), "settings": {}}),
            "name",
        ),
    );
    cases.extend(body_cases(
        "PATCH",
        &path,
        &w.admin,
        (json!({"name": ["Mail"]}), "name"),
        None,
        (
            json!({"settings": {"signature": "s".repeat(10_000)}}),
            "settings.signature",
        ),
    ));
    let with = |key: &str, value: Value| {
        let mut s = email_settings();
        s[key] = value;
        s
    };
    let without = |key: &str| {
        let mut s = email_settings();
        s.as_object_mut().unwrap().remove(key);
        s
    };
    let bad_settings = [
        (
            "unknown kind",
            json!({"inbox_id": inbox, "kind": "sms", "name": "N", "settings": {}}),
            "kind",
        ),
        (
            "origin with a path",
            new("chat", json!({"allowed_origins": ["https://a.test/page"]})),
            "settings.allowed_origins[0]",
        ),
        (
            "origin without scheme",
            new("chat", json!({"allowed_origins": ["a.test"]})),
            "settings.allowed_origins[0]",
        ),
        (
            "identity secret from input",
            new("chat", json!({"identity_secret": "mine"})),
            "settings.identity_secret",
        ),
        (
            "identity check not a bool",
            new("chat", json!({"require_identity_verification": "yes"})),
            "settings.require_identity_verification",
        ),
        (
            "port out of range",
            new("email", with("imap_port", json!(70_000))),
            "settings.imap_port",
        ),
        (
            "port zero",
            new("email", with("smtp_port", json!(0))),
            "settings.smtp_port",
        ),
        (
            "port as text",
            new("email", with("smtp_port", json!("587"))),
            "settings.smtp_port",
        ),
        (
            "bad host",
            new("email", with("imap_host", json!("imap.parley.test/inbox"))),
            "settings.imap_host",
        ),
        (
            "unknown tls mode",
            new("email", with("smtp_tls", json!("ssl"))),
            "settings.smtp_tls",
        ),
        (
            "tls mode as a number",
            new("email", with("imap_tls", json!(1))),
            "settings.imap_tls",
        ),
        (
            "kind as a number",
            json!({"inbox_id": inbox, "kind": 2, "name": "N", "settings": {}}),
            "kind",
        ),
        (
            "missing password",
            new("email", without("imap_password")),
            "settings.imap_password",
        ),
        (
            "sender not an email",
            new("email", with("sender_address", json!("support"))),
            "settings.sender_address",
        ),
        (
            "oversize username",
            new("email", with("imap_username", json!("u".repeat(10_000)))),
            "settings.imap_username",
        ),
        (
            "route to another account's agent",
            new("email", with("route_to", json!([w.other_admin_id]))),
            "settings.route_to[0]",
        ),
        (
            "unknown email setting",
            new("email", with("imap_pasword", json!("typo"))),
            "settings.imap_pasword",
        ),
        (
            "page id not digits",
            new(
                "messenger",
                json!({"page_id": "my-page", "page_access_token": "t", "app_secret": "s", "verify_token": "v"}),
            ),
            "settings.page_id",
        ),
        (
            "missing app secret",
            new(
                "messenger",
                json!({"page_id": "1", "page_access_token": "t", "verify_token": "v"}),
            ),
            "settings.app_secret",
        ),
        (
            "form without fields",
            new("form", json!({"fields": []})),
            "settings.fields",
        ),
        (
            "unknown field kind",
            new(
                "form",
                json!({"fields": [{"name": "a", "label": "A", "kind": "date"}]}),
            ),
            "settings.fields[0].kind",
        ),
        (
            "select without options",
            new(
                "form",
                json!({"fields": [{"name": "a", "label": "A", "kind": "select"}]}),
            ),
            "settings.fields[0].options",
        ),
        (
            "duplicate field names",
            new(
                "form",
                json!({"fields": [{"name": "a", "label": "A", "kind": "text"}, {"name": "a", "label": "B", "kind": "text"}]}),
            ),
            "settings.fields[1].name",
        ),
        (
            "inbox of another account",
            json!({"inbox_id": their_inbox, "kind": "chat", "name": "N", "settings": {}}),
            "inbox_id",
        ),
    ];
    for (name, body, field) in bad_settings {
        cases.push(
            case(
                name,
                "POST",
                "/api/v1/channels",
                Some(&w.admin),
                Body::Json(body),
            )
            .expect(422, "invalid_field")
            .field(field),
        );
    }
    let bad_changes = [
        (
            "identity secret",
            json!({"settings": {"identity_secret": "x"}}),
            "settings.identity_secret",
        ),
        (
            "port out of range",
            json!({"settings": {"imap_port": 0}}),
            "settings.imap_port",
        ),
        (
            "has_ flag sent back",
            json!({"settings": {"has_imap_password": true}}),
            "settings.has_imap_password",
        ),
        (
            "settings not an object",
            json!({"settings": "tls"}),
            "settings",
        ),
        (
            "move to another account's inbox",
            json!({"inbox_id": their_inbox}),
            "inbox_id",
        ),
    ];
    for (name, body, field) in bad_changes {
        cases.push(
            case(name, "PATCH", &path, Some(&w.admin), Body::Json(body))
                .expect(422, "invalid_field")
                .field(field),
        );
    }
    cases.push(
        case(
            "malformed inbox_id",
            "GET",
            "/api/v1/channels?inbox_id=nope",
            Some(&w.admin),
            Body::None,
        )
        .expect(400, "invalid_query")
        .field("inbox_id"),
    );
    let valid = || Body::Json(json!({"name": "Renamed"}));
    for (name, channel) in [
        ("unknown id", unknown_id()),
        ("another account's channel", theirs),
    ] {
        let at = format!("/api/v1/channels/{channel}");
        cases.extend([
            not_found(name, "GET", at.clone(), &w.admin, Body::None),
            not_found(name, "PATCH", at.clone(), &w.admin, valid()),
            not_found(name, "DELETE", at, &w.admin, Body::None),
        ]);
    }
    for (name, inbox) in [
        ("unknown inbox", unknown_id()),
        ("another account's inbox", their_inbox.clone()),
    ] {
        cases.push(not_found(
            name,
            "GET",
            format!("/api/v1/channels?inbox_id={inbox}"),
            &w.admin,
            Body::None,
        ));
    }
    let valid_new = || Body::Json(new("chat", json!({"allowed_origins": []})));
    cases.extend([
        unauthenticated("GET", "/api/v1/channels".into(), Body::None),
        unauthenticated("POST", "/api/v1/channels".into(), valid_new()),
        unauthenticated("GET", path.clone(), Body::None),
        unauthenticated("PATCH", path.clone(), valid()),
        unauthenticated("DELETE", path.clone(), Body::None),
        forbidden("POST", "/api/v1/channels".into(), &w.agent, valid_new()),
        forbidden("PATCH", path.clone(), &w.agent, valid()),
        forbidden("DELETE", path.clone(), &w.agent, Body::None),
    ]);
    check(app, cases).await;
    assert_eq!(w.snapshot("/api/v1/channels").await, before);
    let stored_after = app
        .store
        .get_channel(app.admin.account_id, id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(stored_after, stored_before);
}

on_both_backends!(
    agents_are_created_read_changed_and_deactivated,
    agents_change_only_their_own_profile,
    own_password_changes_need_the_current_one,
    agent_routes_refuse_bad_requests_and_write_nothing,
    teams_are_created_read_changed_and_deleted,
    team_routes_refuse_bad_requests_and_write_nothing,
    inboxes_are_created_read_changed_and_deleted,
    inbox_routes_refuse_bad_requests_and_write_nothing,
    channels_are_created_read_changed_and_deleted,
    channel_routes_refuse_bad_requests_and_write_nothing,
);

async fn openapi_documents_the_admin_routes(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = app.call("GET", "/api/openapi.json", None, None).await;
    assert_eq!(doc.status, 200);
    let paths = &doc.body["paths"];
    let routes = [
        ("/api/v1/agents", ["get", "post"].as_slice()),
        ("/api/v1/agents/{id}", &["get", "patch", "delete"]),
        ("/api/v1/teams", &["get", "post"]),
        ("/api/v1/teams/{id}", &["get", "patch", "delete"]),
        ("/api/v1/teams/{id}/members", &["put"]),
        ("/api/v1/inboxes", &["get", "post"]),
        ("/api/v1/inboxes/{id}", &["get", "patch", "delete"]),
        ("/api/v1/inboxes/{id}/members", &["put"]),
        ("/api/v1/channels", &["get", "post"]),
        ("/api/v1/channels/{id}", &["get", "patch", "delete"]),
    ];
    for (path, methods) in routes {
        for method in methods {
            let op = &paths[path][method];
            assert!(op.is_object(), "{method} {path} is not documented");
            assert!(
                op["responses"]["401"].is_object(),
                "{method} {path} does not document 401"
            );
        }
    }
    let view = &doc.body["components"]["schemas"]["InboxView"];
    assert!(
        view.to_string().contains("fallback_address"),
        "InboxView: {view}"
    );
}

/// The document does not depend on the store, so one backend is enough.
mod openapi {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn documents_the_admin_routes() {
        openapi_documents_the_admin_routes(Backend::Sqlite).await;
    }
}
