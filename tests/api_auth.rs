//! Login, sessions (cookie with CSRF, bearer), logout, the login rate limit and API tokens,
//! through the HTTP API on both store backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use parley::auth;
use parley::domain::{AgentProfile, AgentRole, EmailAddress, Name, NewAgent, Password};
use reqwest::header::{CONTENT_TYPE, SET_COOKIE};
use serde_json::{Value, json};

/// Creates an agent of the admin's account straight in the store.
async fn agent_in_store(app: &TestApp, email: &str, password: &str) {
    let hash = auth::hash_password(&Password::parse(password).unwrap()).unwrap();
    app.store
        .create_agent(
            app.admin.account_id,
            NewAgent {
                email: EmailAddress::parse(email).unwrap(),
                role: AgentRole::Agent,
                profile: AgentProfile {
                    display_name: Name::parse("Test Agent").unwrap(),
                    avatar_url: None,
                    meeting_link: None,
                },
                password_hash: hash,
            },
        )
        .await
        .unwrap();
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer { status, body }
}

async fn cookie_login_needs_the_csrf_token_for_writes(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();

    let response = browser
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .expect("login sets a cookie")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("parley_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let login = answer(response).await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    let csrf = login.body["csrf_token"].as_str().unwrap().to_owned();

    // Reads need only the cookie.
    let me = answer(
        browser
            .get(app.url("/api/v1/auth/me"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["email"], ADMIN_EMAIL);

    let body = json!({"name": "CRM sync"});
    for (case, header) in [("no token", None), ("wrong token", Some("0".repeat(64)))] {
        let mut request = browser.post(app.url("/api/v1/auth/api-tokens")).json(&body);
        if let Some(h) = header {
            request = request.header("X-CSRF-Token", h);
        }
        let refused = answer(request.send().await.unwrap()).await;
        assert_eq!(refused.status, 403, "{case}: {:?}", refused.body);
        assert_eq!(refused.code(), "csrf_failed", "{case}");
    }
    let listed = answer(
        browser
            .get(app.url("/api/v1/auth/api-tokens"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        listed.body,
        json!([]),
        "a refused write must create nothing"
    );

    let accepted = answer(
        browser
            .post(app.url("/api/v1/auth/api-tokens"))
            .header("X-CSRF-Token", &csrf)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(accepted.status, 201, "{:?}", accepted.body);

    // Logging out through the cookie ends that session.
    let out = answer(
        browser
            .post(app.url("/api/v1/auth/logout"))
            .header("X-CSRF-Token", &csrf)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(out.status, 204, "{:?}", out.body);
    let after = answer(
        browser
            .get(app.url("/api/v1/auth/me"))
            .header("Cookie", cookie.split(';').next().unwrap())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        after.status, 401,
        "the old cookie still works: {:?}",
        after.body
    );
}

async fn bearer_token_works_until_logout(backend: Backend) {
    let app = spawn_app(backend).await;
    let (token, _) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    let me = app.get("/api/v1/auth/me", &token).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["id"], json!(app.admin.id));

    // A bearer request carries no cookie, so it needs no CSRF token.
    let created = app
        .post("/api/v1/auth/api-tokens", &token, json!({"name": "script"}))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);

    let out = app
        .call("POST", "/api/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(out.status, 204, "{:?}", out.body);
    let after = app.get("/api/v1/auth/me", &token).await;
    assert_eq!(after.status, 401, "{:?}", after.body);
    assert_eq!(after.code(), "unauthenticated");

    // Other sessions of the same agent are not affected.
    let other = app.get("/api/v1/auth/me", &app.admin_token).await;
    assert_eq!(other.status, 200, "{:?}", other.body);
}

async fn bad_credentials_are_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        ("wrong password", ADMIN_EMAIL, "not-the-password-1"),
        ("unknown email", "nobody@parley.test", ADMIN_PASSWORD),
    ];
    for (case, email, password) in cases {
        let a = app
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(a.status, 401, "{case}: {:?}", a.body);
        assert_eq!(a.code(), "unauthenticated", "{case}");
        assert!(a.body.get("token").is_none(), "{case}");
    }

    let requests = [
        ("no credentials", None),
        ("unknown session token", Some("pls_0000")),
        ("unknown API token", Some("plt_0000")),
    ];
    for (case, token) in requests {
        let a = app.call("GET", "/api/v1/auth/me", token, None).await;
        assert_eq!(a.status, 401, "{case}: {:?}", a.body);
        assert_eq!(a.code(), "unauthenticated", "{case}");
    }
}

async fn login_input_errors_name_the_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        (
            "missing password",
            json!({"email": ADMIN_EMAIL}),
            "password",
        ),
        (
            "email of wrong type",
            json!({"email": 5, "password": "x"}),
            "email",
        ),
        (
            "not an email",
            json!({"email": "nope", "password": "x"}),
            "email",
        ),
        (
            "oversize password",
            json!({"email": ADMIN_EMAIL, "password": "p".repeat(10_000)}),
            "password",
        ),
    ];
    for (case, body, field) in cases {
        let a = app
            .call("POST", "/api/v1/auth/login", None, Some(body))
            .await;
        assert_eq!(a.status, 422, "{case}: {:?}", a.body);
        assert_eq!(a.code(), "invalid_field", "{case}");
        assert_eq!(a.body["field"], field, "{case}");
    }

    let malformed = reqwest::Client::new()
        .post(app.url("/api/v1/auth/login"))
        .header(CONTENT_TYPE, "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    let malformed = answer(malformed).await;
    assert_eq!(malformed.status, 400, "{:?}", malformed.body);
    assert_eq!(malformed.code(), "malformed_json");
}

async fn login_attempts_per_email_are_limited(backend: Backend) {
    let app = spawn_app(backend).await;
    let email = "limited@parley.test";
    let password = "limited-password-1";
    agent_in_store(&app, email, password).await;

    // The test settings allow 5 attempts per email per minute, right or wrong.
    for attempt in 1..=5 {
        let a = app
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"email": email, "password": "wrong-password-9"})),
            )
            .await;
        assert_eq!(a.status, 401, "attempt {attempt}: {:?}", a.body);
    }
    let limited = app
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await;
    assert_eq!(limited.status, 429, "{:?}", limited.body);
    assert_eq!(limited.code(), "too_many_requests");
    assert!(limited.body.get("token").is_none());

    // Another email is not slowed down by it.
    let (token, _) = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(!token.is_empty());
}

async fn login_attempts_per_ip_are_limited_across_emails(backend: Backend) {
    // Three attempts per IP per minute here; the bootstrap login in spawn_app spends one.
    let app = spawn_app_with(backend, &[("PARLEY__AUTH__LOGIN_PER_IP_PER_MINUTE", "3")]).await;
    for (attempt, email) in ["a@parley.test", "b@parley.test"].iter().enumerate() {
        let a = app
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"email": email, "password": "wrong-password-9"})),
            )
            .await;
        assert_eq!(a.status, 401, "attempt {attempt}: {:?}", a.body);
    }
    // A third email, even with the right password, waits: the guesser is slowed by IP.
    let limited = app
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(limited.status, 429, "{:?}", limited.body);
    assert_eq!(limited.code(), "too_many_requests");
}

async fn api_tokens_are_created_used_and_revoked(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app
        .post(
            "/api/v1/auth/api-tokens",
            &app.admin_token,
            json!({"name": "CRM sync"}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let raw = created.body["token"].as_str().unwrap().to_owned();
    let id = created.body["api_token"]["id"].as_str().unwrap().to_owned();
    assert!(raw.starts_with(auth::API_TOKEN_PREFIX), "{raw}");

    let me = app.get("/api/v1/auth/me", &raw).await;
    assert_eq!(
        me.status, 200,
        "the API token does not authenticate: {:?}",
        me.body
    );
    assert_eq!(me.body["id"], json!(app.admin.id));

    let listed = app.get("/api/v1/auth/api-tokens", &app.admin_token).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert_eq!(listed.body[0]["name"], "CRM sync");
    assert!(
        !listed
            .body
            .to_string()
            .contains(&raw[auth::API_TOKEN_PREFIX.len()..]),
        "the list shows the token: {}",
        listed.body
    );

    // The store keeps only the digest: the raw token is not a key, its digest is.
    let digest = auth::token_digest(&raw);
    assert!(app.store.find_api_token(&raw).await.unwrap().is_none());
    assert!(app.store.find_api_token(&digest).await.unwrap().is_some());
    let now = time::OffsetDateTime::now_utc();
    let session_digest = auth::token_digest(&app.admin_token);
    let (session, agent) = app
        .store
        .find_session(&session_digest, now)
        .await
        .unwrap()
        .expect("the session is found by its digest");
    assert_eq!(agent.id, app.admin.id);
    assert_eq!(session.token_hash, session_digest);
    assert!(
        app.store
            .find_session(&app.admin_token, now)
            .await
            .unwrap()
            .is_none(),
        "a session is found by its raw token"
    );

    let revoked = app
        .delete(&format!("/api/v1/auth/api-tokens/{id}"), &app.admin_token)
        .await;
    assert_eq!(revoked.status, 204, "{:?}", revoked.body);
    let after = app.get("/api/v1/auth/me", &raw).await;
    assert_eq!(
        after.status, 401,
        "a revoked token still works: {:?}",
        after.body
    );
    assert!(app.store.find_api_token(&digest).await.unwrap().is_none());
    let again = app
        .delete(&format!("/api/v1/auth/api-tokens/{id}"), &app.admin_token)
        .await;
    assert_eq!(again.status, 404, "{:?}", again.body);
}

async fn agents_cannot_revoke_each_others_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    agent_in_store(&app, "agent@parley.test", "agent-password-1").await;
    let (agent_token, _) = app.login("agent@parley.test", "agent-password-1").await;
    let created = app
        .post(
            "/api/v1/auth/api-tokens",
            &app.admin_token,
            json!({"name": "admin's"}),
        )
        .await;
    let raw = created.body["token"].as_str().unwrap().to_owned();
    let id = created.body["api_token"]["id"].as_str().unwrap().to_owned();

    let refused = app
        .delete(&format!("/api/v1/auth/api-tokens/{id}"), &agent_token)
        .await;
    assert_eq!(refused.status, 404, "{:?}", refused.body);
    let still = app.get("/api/v1/auth/me", &raw).await;
    assert_eq!(still.status, 200, "{:?}", still.body);
}

on_both_backends!(
    cookie_login_needs_the_csrf_token_for_writes,
    bearer_token_works_until_logout,
    bad_credentials_are_401,
    login_input_errors_name_the_field,
    login_attempts_per_email_are_limited,
    login_attempts_per_ip_are_limited_across_emails,
    api_tokens_are_created_used_and_revoked,
    agents_cannot_revoke_each_others_tokens,
);
