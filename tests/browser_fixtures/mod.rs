//! Headless Chromium for the browser tests, driven through the chromedriver at
//! `PARLEY_TEST_CHROMEDRIVER_URL` (started by `scripts/services.sh`; missing, the tests fail):
//! one browser at a time, polling for what the page must show, screenshots, the app login, and
//! a website of another origin for embedded snippets.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test harness"
)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use futures_util::FutureExt;
use serde_json::{Value, json};

/// How long the browser gets for what it must show.
pub const BROWSER_PATIENCE: Duration = Duration::from_secs(20);

/// One browser at a time: the machines running the suite are small, and Chromium is not.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `test` with a fresh headless Chromium whose window is `width`×`height`; closes it
/// whatever happens.
pub async fn with_browser<F, Fut>(size: (u32, u32), test: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()>,
{
    with_browsers(1, size, |mut clients| test(clients.remove(0))).await;
}

/// Runs `test` with `count` separate headless Chromiums (separate cookies and storage: two
/// people at two computers); closes them whatever happens.
pub async fn with_browsers<F, Fut>(count: usize, (width, height): (u32, u32), test: F)
where
    F: FnOnce(Vec<Client>) -> Fut,
    Fut: Future<Output = ()>,
{
    let _one = ONE_BROWSER.lock().await;
    let driver = std::env::var("PARLEY_TEST_CHROMEDRIVER_URL").expect(
        "PARLEY_TEST_CHROMEDRIVER_URL is not set: run the suite with scripts/test.sh, or start chromedriver",
    );
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                        "--disable-gpu", format!("--window-size={width},{height}")]}),
    );
    let mut clients = Vec::new();
    for _ in 0..count {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&driver)
            .await
            .expect("a Chromium session from chromedriver");
        clients.push(client);
    }
    let outcome = AssertUnwindSafe(test(clients.clone())).catch_unwind().await;
    for client in clients {
        let _ = client.close().await;
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `script` in the page and answers what it returns.
pub async fn run_js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.expect("script runs")
}

/// Polls `script` until it returns something truthy and answers that; past the patience the
/// test fails naming `what`, with what `context` (another script) returns then.
pub async fn poll_js(c: &Client, what: &str, script: &str, context: &str) -> Value {
    let deadline = tokio::time::Instant::now() + BROWSER_PATIENCE;
    loop {
        let value = run_js(c, script).await;
        let truthy = match &value {
            Value::Null | Value::Bool(false) => false,
            Value::String(s) => !s.is_empty(),
            _ => true,
        };
        if truthy {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the browser never showed {what}; it shows: {}",
            run_js(c, context).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Saves the browser's window as `docs/screenshots/{name}`.
pub async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), png).unwrap();
}

/// Polls `script` until truthy, showing the page's text if it never is.
pub async fn wait_for(c: &Client, what: &str, script: &str) -> Value {
    poll_js(
        c,
        what,
        script,
        "return document.body.innerText.slice(0, 1500)",
    )
    .await
}

/// An element through WebDriver, so clicks and keys are a user's (a hidden one fails them).
pub async fn element(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.find(fantoccini::Locator::Css(css)).await.unwrap()
}

/// Opens the inbox app at `base_url` (`http://127.0.0.1:port`) and logs in; waits for the app.
pub async fn app_log_in(c: &Client, base_url: &str, email: &str, password: &str) {
    c.goto(&format!("{base_url}/app/")).await.unwrap();
    wait_for(
        c,
        "the login form",
        "return !document.querySelector('#login').hidden",
    )
    .await;
    let field = element(c, "#login [name=email]").await;
    field.clear().await.unwrap();
    field.send_keys(email).await.unwrap();
    let field = element(c, "#login [name=password]").await;
    field.clear().await.unwrap();
    field.send_keys(password).await.unwrap();
    element(c, "#login button").await.click().await.unwrap();
    wait_for(
        c,
        "the app after login",
        "return !document.querySelector('#main').hidden",
    )
    .await;
}

/// `body` with `root` bound to the chat widget's shadow root (`null` if none).
pub fn in_widget(body: &str) -> String {
    format!("const root = document.querySelector('#parley-widget')?.shadowRoot ?? null;\n{body}")
}

/// An element inside the chat widget's shadow root, through WebDriver (so clicks and keys are
/// a user's: a hidden or covered element fails them).
pub async fn widget_element(c: &Client, css: &str) -> fantoccini::elements::Element {
    let host = c
        .find(fantoccini::Locator::Css("#parley-widget"))
        .await
        .unwrap();
    let root = host.shadow_root().await.unwrap();
    root.find(fantoccini::Locator::Css(css)).await.unwrap()
}

/// A website on its own origin (another port than Parley's): path -> HTML.
pub struct Site {
    pub origin: String,
    pages: Arc<Mutex<HashMap<String, String>>>,
}

impl Site {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let pages: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let served = Arc::clone(&pages);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let pages = Arc::clone(&served);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut first = String::new();
                    if reader.read_line(&mut first).is_err() {
                        return;
                    }
                    loop {
                        let mut line = String::new();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => break,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    let path = first.split_whitespace().nth(1).unwrap_or("/");
                    let path = path.split('?').next().unwrap_or("/");
                    let page = pages.lock().unwrap().get(path).cloned();
                    let (status, body) = match page {
                        Some(html) => ("200 OK", html),
                        None => ("404 Not Found", "no such page".to_owned()),
                    };
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        Self { origin, pages }
    }

    /// Serves `html` at `path` (the query is ignored); answers the page's URL.
    pub fn serve(&self, path: &str, html: String) -> String {
        self.pages.lock().unwrap().insert(path.to_owned(), html);
        format!("{}{path}", self.origin)
    }
}
