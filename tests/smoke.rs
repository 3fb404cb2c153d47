mod common;
use common::*;

async fn health_answers(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.call("GET", "/healthz", None, None).await;
    assert_eq!(a.status, 200);
}

on_both_backends!(health_answers);
