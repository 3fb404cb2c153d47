//! The inbox app's files: the page and its modules are served by Parley at `/app` with their
//! types, for its own origin only (a Content-Security-Policy, no CORS header).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' https: data:";

async fn the_app_page_and_modules_are_served_with_a_content_security_policy(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = reqwest::Client::new();
    for (path, kind, on_disk) in [
        ("/app", "text/html; charset=utf-8", "web/app/index.html"),
        ("/app/", "text/html; charset=utf-8", "web/app/index.html"),
        (
            "/app/app.js",
            "text/javascript; charset=utf-8",
            "web/app/app.js",
        ),
        ("/app/app.css", "text/css; charset=utf-8", "web/app/app.css"),
    ] {
        let response = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(header("content-type").as_deref(), Some(kind), "{path}");
        assert_eq!(header("content-security-policy").as_deref(), Some(CSP));
        assert_eq!(
            header("access-control-allow-origin"),
            None,
            "{path}: the app is for Parley's own origin"
        );
        assert!(
            header("cache-control").unwrap().contains("max-age="),
            "{path}"
        );
        assert_eq!(
            response.bytes().await.unwrap().as_ref(),
            std::fs::read(on_disk).unwrap(),
            "{path} as shipped"
        );
    }
    for missing in ["/app/nothing.js", "/app/..%2FCargo.toml", "/app/index.txt"] {
        let response = client.get(app.url(missing)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{missing}");
    }
}

on_both_backends!(the_app_page_and_modules_are_served_with_a_content_security_policy);
