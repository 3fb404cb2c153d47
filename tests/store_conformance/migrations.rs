//! Migrations: recorded in `schema_migrations`, applied once, and a database newer than the
//! binary refused with a message naming the unknown version.

use parley::store::{self, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};

use crate::common::*;
use crate::fixtures::*;

fn known(backend: Backend) -> Vec<(i64, String)> {
    let list = match backend {
        Backend::Sqlite => SQLITE_MIGRATIONS,
        Backend::Postgres => POSTGRES_MIGRATIONS,
    };
    list.iter()
        .map(|m| (m.version, m.name.to_owned()))
        .collect()
}

async fn records_each_migration_once_across_reopens(backend: Backend) {
    let (store, db) = fresh_store(backend).await;
    assert_eq!(applied_migrations(backend, &db.url).await, known(backend));
    let acme = account(&*store, "Acme").await;
    drop(store);
    let reopened = store::connect(&db.url, 2).await.expect("reopen");
    assert_eq!(
        applied_migrations(backend, &db.url).await,
        known(backend),
        "nothing applied twice"
    );
    assert_eq!(
        reopened.get_account(acme.id).await.unwrap(),
        acme,
        "data kept"
    );
}

async fn refuses_a_database_with_an_unknown_migration(backend: Backend) {
    let (store, db) = fresh_store(backend).await;
    drop(store);
    let now = match backend {
        Backend::Sqlite => "0",
        Backend::Postgres => "now()",
    };
    raw_execute(
        backend,
        &db.url,
        &format!(
            "INSERT INTO schema_migrations (version, name, applied_at) \
             VALUES (9999, 'from_the_future', {now})"
        ),
    )
    .await
    .expect("record a version this binary does not know");
    match store::connect(&db.url, 2).await {
        Ok(_) => panic!("a database with version 9999 applied was opened"),
        Err(e) => assert!(
            e.to_string().contains("9999"),
            "the refusal names the unknown version: {e}"
        ),
    }
}

on_both_backends!(
    records_each_migration_once_across_reopens,
    refuses_a_database_with_an_unknown_migration,
);

/// Nodes starting together on a new PostgreSQL database: the advisory lock lets one migrate,
/// the others wait and find the work done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_nodes_starting_together_migrate_once() {
    let db = TestDb::new(Backend::Postgres).await;
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move { store::connect(&url, 2).await.map(|_| ()) })
        })
        .collect();
    for (i, start) in starts.into_iter().enumerate() {
        let result = start.await.expect("task");
        assert!(result.is_ok(), "node {i}: {result:?}");
    }
    assert_eq!(
        applied_migrations(Backend::Postgres, &db.url).await,
        known(Backend::Postgres)
    );
}
