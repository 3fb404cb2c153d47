//! Schema migrations, one list per backend, embedded in the binary. Each backend applies the
//! files it has not applied yet, in version order, each in its own transaction, and records them
//! in `schema_migrations`. A database newer than the binary (an unknown applied version) is
//! refused rather than guessed at.

/// One SQL file of `migrations/{backend}/`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

pub const POSTGRES_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "realtime",
        sql: include_str!("../../migrations/postgres/0002_realtime.sql"),
    },
    Migration {
        version: 3,
        name: "identity",
        sql: include_str!("../../migrations/postgres/0003_identity.sql"),
    },
    Migration {
        version: 4,
        name: "bots",
        sql: include_str!("../../migrations/postgres/0004_bots.sql"),
    },
    Migration {
        version: 5,
        name: "reports",
        sql: include_str!("../../migrations/postgres/0005_reports.sql"),
    },
    Migration {
        version: 6,
        name: "channels",
        sql: include_str!("../../migrations/postgres/0006_channels.sql"),
    },
    Migration {
        version: 8,
        name: "email_in",
        sql: include_str!("../../migrations/postgres/0008_email_in.sql"),
    },
    Migration {
        version: 9,
        name: "report_rollups",
        sql: include_str!("../../migrations/postgres/0009_report_rollups.sql"),
    },
];

pub const SQLITE_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "realtime",
        sql: include_str!("../../migrations/sqlite/0002_realtime.sql"),
    },
    Migration {
        version: 3,
        name: "identity",
        sql: include_str!("../../migrations/sqlite/0003_identity.sql"),
    },
    Migration {
        version: 4,
        name: "bots",
        sql: include_str!("../../migrations/sqlite/0004_bots.sql"),
    },
    Migration {
        version: 5,
        name: "reports",
        sql: include_str!("../../migrations/sqlite/0005_reports.sql"),
    },
    Migration {
        version: 6,
        name: "channels",
        sql: include_str!("../../migrations/sqlite/0006_channels.sql"),
    },
    Migration {
        version: 8,
        name: "email_in",
        sql: include_str!("../../migrations/sqlite/0008_email_in.sql"),
    },
    Migration {
        version: 9,
        name: "report_rollups",
        sql: include_str!("../../migrations/sqlite/0009_report_rollups.sql"),
    },
];
