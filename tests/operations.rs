//! Running the real binary: first start, migrations, health, JSON logs, typos in configuration,
//! and graceful shutdown on SIGTERM with a request in flight.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn parley(db_url: &str, extra: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_parley"));
    cmd.env(
        "PARLEY_CONFIG_DIR",
        concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
    )
    .env("PARLEY_ENV", "test")
    .env("PARLEY__STORE__URL", db_url)
    .env_remove("RUST_LOG")
    .stdin(Stdio::null());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd
}

/// A started node: its process, the port it printed, and everything it printed before that.
struct Node {
    child: Child,
    port: u16,
    printed: Vec<String>,
    stderr: std::sync::mpsc::Receiver<String>,
}

fn start(mut cmd: Command) -> Node {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, stderr) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut printed = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port = loop {
        let line = lines
            .next()
            .expect("parley exited before listening")
            .unwrap();
        printed.push(line.clone());
        if let Some(rest) = line.strip_prefix("Parley: listening on http://localhost:") {
            break rest.trim().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Node {
        child,
        port,
        printed,
        stderr,
    }
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "parley did not exit within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn first_start_creates_an_admin_with_a_generated_password_printed_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut node = start(parley(
        &db.url,
        &[
            ("PARLEY__ADMIN__EMAIL", "first@parley.test"),
            ("PARLEY__ADMIN__PASSWORD", ""),
        ],
    ));
    let line = node
        .printed
        .iter()
        .find(|l| l.contains("created the first admin"))
        .expect("admin line")
        .clone();
    let password = line
        .split("with password ")
        .nth(1)
        .expect("generated password")
        .split_whitespace()
        .next()
        .unwrap();
    let address = format!("http://127.0.0.1:{}", node.port);
    let (_, agent) = login_at(&address, "first@parley.test", password).await;
    assert_eq!(agent.role, parley::domain::AgentRole::Admin);
    sigterm(&node.child);
    assert!(wait_exit(&mut node.child, Duration::from_secs(20)).success());

    // A second start finds the account and creates no one.
    let mut again = start(parley(
        &db.url,
        &[("PARLEY__ADMIN__EMAIL", "other@parley.test")],
    ));
    assert!(
        !again
            .printed
            .iter()
            .any(|l| l.contains("created the first admin")),
        "{:?}",
        again.printed
    );
    sigterm(&again.child);
    assert!(wait_exit(&mut again.child, Duration::from_secs(20)).success());
}

async fn migrate_command_applies_migrations_and_can_run_twice(backend: Backend) {
    let db = TestDb::new(backend).await;
    for run in 1..=2 {
        let out = parley(&db.url, &[]).arg("migrate").output().unwrap();
        assert!(
            out.status.success(),
            "run {run}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("migrations applied"));
    }
    // The migrated store is usable.
    let store = parley::store::connect(&db.url, 2).await.unwrap();
    assert_eq!(store.count_accounts().await.unwrap(), 0);
}

async fn health_and_readiness_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = app.call("GET", "/healthz", None, None).await;
    assert_eq!(
        (health.status, health.body["status"].as_str()),
        (200, Some("ok"))
    );
    let ready = app.call("GET", "/readyz", None, None).await;
    assert_eq!(ready.status, 200, "{:?}", ready.body);
    assert_eq!(ready.body["store"], "ok");
}

/// With the database gone, `/readyz` says so (503) while `/healthz` still answers.
#[tokio::test]
async fn readiness_fails_when_postgres_database_is_gone() {
    let db = TestDb::new(Backend::Postgres).await;
    let settings = test_settings(&db.url, &[]);
    let app = parley::startup::Application::build(settings).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    assert_eq!(
        send(&address, "GET", "/readyz", None, None).await.status,
        200
    );

    let admin_url = std::env::var("PARLEY_TEST_POSTGRES_URL").unwrap();
    let (client, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let name = db
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    client
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();

    let ready = send(&address, "GET", "/readyz", None, None).await;
    assert_eq!(ready.status, 503, "{:?}", ready.body);
    assert_eq!(ready.body["ready"], false);
    assert_eq!(
        send(&address, "GET", "/healthz", None, None).await.status,
        200
    );
}

#[tokio::test]
async fn logs_are_json_lines_when_configured() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut node = start(parley(
        &db.url,
        &[
            ("PARLEY__LOG__FORMAT", "json"),
            ("PARLEY__LOG__LEVEL", "info"),
        ],
    ));
    let _ = send(
        &format!("http://127.0.0.1:{}", node.port),
        "GET",
        "/healthz",
        None,
        None,
    )
    .await;
    sigterm(&node.child);
    assert!(wait_exit(&mut node.child, Duration::from_secs(20)).success());
    let lines: Vec<String> = node.stderr.try_iter().collect();
    assert!(!lines.is_empty(), "no log lines");
    for line in &lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            value.get("level").is_some() && value.get("timestamp").is_some(),
            "{line}"
        );
    }
}

#[test]
fn configuration_typos_stop_start_up_and_are_named() {
    let cases = [
        ("unknown key", vec![("PARLEY__HTTP__PROT", "1")], "prot"),
        (
            "unknown store scheme",
            vec![("PARLEY__STORE__URL", "mysql://localhost/parley")],
            "mysql",
        ),
    ];
    for (case, vars, named) in cases {
        let mut cmd = parley("sqlite:///nonexistent/never-created.db", &vars);
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{case}: should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(named),
            "{case}: stderr should name '{named}': {stderr}"
        );
    }
    assert!(!std::path::Path::new("/nonexistent/never-created.db").exists());
}

/// SIGTERM stops accepting but lets a request whose body is still arriving finish.
#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut node = start(parley(
        &db.url,
        &[
            ("PARLEY__ADMIN__EMAIL", ADMIN_EMAIL),
            ("PARLEY__ADMIN__PASSWORD", ADMIN_PASSWORD),
        ],
    ));
    let port = node.port;
    let body = format!(r#"{{"email":"{ADMIN_EMAIL}","password":"{ADMIN_PASSWORD}"}}"#);
    let (first, rest) = body.split_at(10);

    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(stream, "POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{first}", body.len()).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));

    sigterm(&node.child);
    std::thread::sleep(Duration::from_millis(500));
    // New connections are no longer accepted while the old one drains.
    assert!(
        TcpStream::connect(("127.0.0.1", port))
            .and_then(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(2)))?;
                s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")?;
                let mut buf = [0u8; 1];
                s.read(&mut buf)
            })
            .map_or(true, |n| n == 0),
        "a new request was served after SIGTERM"
    );

    stream.write_all(rest.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "in-flight login should finish: {response}"
    );
    assert!(wait_exit(&mut node.child, Duration::from_secs(20)).success());
}

on_both_backends!(
    first_start_creates_an_admin_with_a_generated_password_printed_once,
    migrate_command_applies_migrations_and_can_run_twice,
    health_and_readiness_answer,
);
