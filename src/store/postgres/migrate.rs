//! Applying `migrations/postgres` at connect (see `docs/store.md`, "Migrations").
//!
//! Nodes starting together must not apply the same file twice, so the whole run holds a
//! session-level advisory lock. The connection that holds it is taken out of the pool and closed
//! afterwards: a lock left on a pooled connection by an error half-way would block every later
//! start until that connection happened to be recycled.

use std::collections::BTreeMap;

use deadpool_postgres::{ClientWrapper, Object, Pool};

use crate::store::{Migration, StoreError, StoreResult};

/// The advisory lock key for migrations: "parley" in ASCII, so it is recognisable in
/// `pg_locks` and unlikely to collide with another application's key.
const MIGRATION_LOCK: i64 = 0x7061_726c_6579;

pub(super) async fn run(pool: &Pool, migrations: &[Migration]) -> StoreResult<()> {
    let mut client: ClientWrapper = Object::take(pool.get().await?);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let result = apply_pending(&mut client, migrations).await;
    // On failure the connection is dropped below, which ends the session and its lock.
    if result.is_ok() {
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await?;
    }
    drop(client);
    result
}

async fn apply_pending(client: &mut ClientWrapper, migrations: &[Migration]) -> StoreResult<()> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version    bigint      PRIMARY KEY,
                name       text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await?;
    let known: BTreeMap<i64, &Migration> = migrations.iter().map(|m| (m.version, m)).collect();
    let applied = client
        .query(
            "SELECT version, name FROM schema_migrations ORDER BY version",
            &[],
        )
        .await?;
    let mut applied_versions = Vec::with_capacity(applied.len());
    for row in &applied {
        let version: i64 = row.try_get("version")?;
        if !known.contains_key(&version) {
            let name: String = row.try_get("name")?;
            return Err(StoreError::Invalid {
                field: "store.url",
                message: format!(
                    "the database has migration {version:04}_{name} applied, which this build of \
                     Parley does not know: it was migrated by a newer Parley; run that version"
                ),
            });
        }
        applied_versions.push(version);
    }
    for (version, migration) in known {
        if applied_versions.contains(&version) {
            continue;
        }
        let tx = client.transaction().await?;
        tx.batch_execute(migration.sql).await.inspect_err(|e| {
            tracing::error!(version, name = migration.name, error = %e, "PostgreSQL migration failed");
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&version, &migration.name],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(
            version,
            name = migration.name,
            "applied PostgreSQL migration"
        );
    }
    Ok(())
}
