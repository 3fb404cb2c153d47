//! Test harness: a fresh Parley on a random port over a fresh database, on either backend.
//!
//! SQLite: a new file in a temporary directory. PostgreSQL: a new database on the server named by
//! `PARLEY_TEST_POSTGRES_URL` (a URL of a role allowed to create databases), dropped when the
//! test ends, even when it fails. A missing variable fails the PostgreSQL tests, never skips them.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test harness"
)]

use std::path::PathBuf;

use parley::config::Settings;
use parley::domain::Agent;
use parley::startup::Application;
use parley::store::{self, DynStore};
use serde_json::{Value, json};

pub const ADMIN_EMAIL: &str = "admin@parley.test";
pub const ADMIN_PASSWORD: &str = "admin-password-123";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one `#[tokio::test]` per backend for each listed `async fn name(backend: Backend)`,
/// in modules `sqlite` and `postgres` (so `cargo test postgres::` runs one backend).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::Sqlite).await }
            )*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::Backend::Postgres).await }
            )*
        }
    };
}

/// A database for one test, removed on drop.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path: PathBuf = dir.path().join("parley.db");
                Self {
                    url: format!("sqlite://{}", path.display()),
                    _dir: Some(dir),
                    pg: None,
                }
            }
            Backend::Postgres => {
                let admin_url = std::env::var("PARLEY_TEST_POSTGRES_URL").expect(
                    "PARLEY_TEST_POSTGRES_URL is not set: run the suite with scripts/test.sh, or point it at a PostgreSQL server",
                );
                let name = format!("parley_test_{}", uuid::Uuid::new_v4().simple());
                let (client, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
                    .await
                    .expect("connect to PARLEY_TEST_POSTGRES_URL");
                let conn = tokio::spawn(conn);
                client
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                drop(client);
                let _ = conn.await;
                let url = replace_database(&admin_url, &name);
                Self {
                    url,
                    _dir: None,
                    pg: Some((admin_url, name)),
                }
            }
        }
    }
}

/// `admin_url` with its database name replaced (keeps any query string).
fn replace_database(admin_url: &str, db: &str) -> String {
    let (base, query) = admin_url
        .split_once('?')
        .map_or((admin_url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut url = format!("{}/{db}", &base[..path_start]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg.take() {
            // Drop runs outside async; a thread with its own runtime drops the database.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    if let Ok((client, conn)) =
                        tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await
                    {
                        tokio::spawn(conn);
                        let _ = client
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

/// A fresh, migrated store (no server).
pub async fn fresh_store(backend: Backend) -> (DynStore, TestDb) {
    let db = TestDb::new(backend).await;
    let store = store::connect(&db.url, 8).await.expect("open store");
    (store, db)
}

/// Test settings (`config/test.toml`) over `db_url`, with `overrides` as extra `PARLEY__…` pairs.
pub fn test_settings(db_url: &str, overrides: &[(&str, &str)]) -> Settings {
    let mut vars = vec![
        ("PARLEY__STORE__URL".to_owned(), db_url.to_owned()),
        ("PARLEY__ADMIN__EMAIL".to_owned(), ADMIN_EMAIL.to_owned()),
        (
            "PARLEY__ADMIN__PASSWORD".to_owned(),
            ADMIN_PASSWORD.to_owned(),
        ),
    ];
    vars.extend(
        overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
    Settings::load_from(&dir, "test", vars).expect("test settings")
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub store: DynStore,
    pub client: reqwest::Client,
    /// Bearer token of the bootstrapped admin.
    pub admin_token: String,
    pub admin: Agent,
    pub handle: actix_web::dev::ServerHandle,
    pub db: TestDb,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

pub async fn spawn_app_with(backend: Backend, overrides: &[(&str, &str)]) -> TestApp {
    parley::startup::install_crypto_provider();
    let db = TestDb::new(backend).await;
    let settings = test_settings(&db.url, overrides);
    let app = Application::build(settings).await.expect("build app");
    let port = app.port();
    let store = app.store();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let address = format!("http://127.0.0.1:{port}");
    let (admin_token, admin) = login_at(&address, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    TestApp {
        address,
        port,
        store,
        client,
        admin_token,
        admin,
        handle,
        db,
    }
}

/// Logs in at `address` through the API; returns the bearer token and the agent.
pub async fn login_at(address: &str, email: &str, password: &str) -> (String, Agent) {
    parley::startup::install_crypto_provider();
    let answer = send(
        address,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await;
    assert_eq!(answer.status, 200, "login as {email}: {:?}", answer.body);
    let token = answer.body["token"].as_str().expect("token").to_owned();
    let agent = serde_json::from_value(answer.body["agent"].clone()).expect("agent");
    (token, agent)
}

/// Sends a request with an optional bearer token and JSON body, without cookies.
pub async fn send(
    address: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    // The TLS provider the server installs for itself; a test may talk to a server it did
    // not start in this process.
    parley::startup::install_crypto_provider();
    let client = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = client.request(method, format!("{address}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer { status, body }
}

/// A JSON answer: status and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// The error code of an error answer.
    pub fn code(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn login(&self, email: &str, password: &str) -> (String, Agent) {
        login_at(&self.address, email, password).await
    }

    /// Sends a request with an optional bearer token and JSON body; never uses the cookie jar.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        send(&self.address, method, path, token, body).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call("POST", path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call("PATCH", path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call("PUT", path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.call("DELETE", path, Some(token), None).await
    }

    /// Stops the server as a deploy would: its sockets close, the database stays.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }

    /// After `stop`: a new server on the same port over the same database (test settings, without
    /// the first start's overrides), as a restarted process would be. Clients keep their address.
    pub async fn start_again(&mut self) {
        let port = self.port.to_string();
        let settings = test_settings(&self.db.url, &[("PARLEY__HTTP__PORT", &port)]);
        let mut tries = 0;
        let app = loop {
            // The old listener's port can take a moment to be free again.
            match Application::build(settings.clone()).await {
                Ok(app) => break app,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("restart on port {port}: {e}"),
            }
        };
        assert_eq!(app.port(), self.port, "the same port");
        self.store = app.store();
        self.handle = app.handle();
        tokio::spawn(app.run_until_stopped());
    }
}
