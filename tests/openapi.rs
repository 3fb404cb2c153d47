//! The OpenAPI document lists every route the code defines, and every route it lists exists.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

use std::collections::BTreeSet;

/// (METHOD, path) of every handler declared with an actix route macro in `src/http/`.
fn declared_routes() -> BTreeSet<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut routes = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        // health.rs serves at the root, widget.rs (public, with CORS) under /api/v1/widget;
        // every other family lives under /api/v1.
        let prefix = match path.file_name().unwrap().to_str().unwrap() {
            "health.rs" => "",
            "widget.rs" | "widget_identity.rs" => "/api/v1/widget",
            "forms.rs" => "/api/v1/forms",
            // Facebook calls the Messenger webhook outside the API.
            "messenger.rs" => "/webhooks",
            _ => "/api/v1",
        };
        for line in text.lines() {
            let line = line.trim();
            for method in ["get", "post", "put", "patch", "delete"] {
                if let Some(rest) = line.strip_prefix(&format!("#[{method}(\"")) {
                    let route = rest.split('"').next().unwrap();
                    routes.insert((method.to_uppercase(), format!("{prefix}{route}")));
                }
            }
        }
    }
    routes
}

fn documented_routes(doc: &serde_json::Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            routes.insert((method.to_uppercase(), path.clone()));
        }
    }
    routes
}

async fn every_route_is_documented_and_every_documented_route_exists(backend: Backend) {
    let app = spawn_app(backend).await;
    let answer = app.call("GET", "/api/openapi.json", None, None).await;
    assert_eq!(answer.status, 200);
    assert!(
        answer.body["openapi"].as_str().unwrap().starts_with("3."),
        "OpenAPI 3 document"
    );

    let declared = declared_routes();
    let documented = documented_routes(&answer.body);
    assert!(declared.len() >= 10, "found only {declared:?}");
    let missing: Vec<_> = declared.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes missing from /api/openapi.json: {missing:?}"
    );

    // Every documented route is served: a made-up id gets the route's own answer, not `no_route`.
    let some_id = uuid::Uuid::now_v7().to_string();
    for (method, path) in &documented {
        let concrete = path
            .replace("{id}", &some_id)
            .replace("{agent_id}", &some_id);
        let body = if method == "GET" || method == "DELETE" {
            None
        } else {
            Some(serde_json::json!({}))
        };
        let answer = app
            .call(method, &concrete, Some(&app.admin_token), body)
            .await;
        assert_ne!(
            answer.code(),
            "no_route",
            "{method} {path} is documented but not served"
        );
    }
}

on_both_backends!(every_route_is_documented_and_every_documented_route_exists);
