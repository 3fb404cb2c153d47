//! `StoreUrl::parse`: the scheme picks the backend, and anything else is refused rather than
//! taken for a file name.

use std::path::PathBuf;

use parley::store::{self, StoreError, StoreUrl};

#[test]
fn accepts_sqlite_postgres_and_postgresql() {
    let cases = [
        (
            "sqlite://data/parley.db",
            StoreUrl::Sqlite(PathBuf::from("data/parley.db")),
        ),
        (
            "sqlite:///var/lib/parley.db",
            StoreUrl::Sqlite(PathBuf::from("/var/lib/parley.db")),
        ),
        (
            "postgres://parley:pw@db.internal:5432/parley",
            StoreUrl::Postgres("postgres://parley:pw@db.internal:5432/parley".into()),
        ),
        (
            "postgresql://parley@localhost/parley?sslmode=disable",
            StoreUrl::Postgres("postgresql://parley@localhost/parley?sslmode=disable".into()),
        ),
    ];
    for (url, expected) in cases {
        assert_eq!(StoreUrl::parse(url).unwrap(), expected, "{url}");
    }
}

#[test]
fn refuses_other_schemes_and_bare_paths() {
    let cases = [
        ("mysql://root@localhost/parley", Some("mysql")),
        ("data/parley.db", None),
        ("/var/lib/parley.db", None),
        ("sqlite:data/parley.db", None),
        ("", None),
    ];
    for (url, scheme) in cases {
        match StoreUrl::parse(url) {
            Err(StoreError::UnknownScheme(got)) => {
                if let Some(scheme) = scheme {
                    assert_eq!(got, scheme, "{url}: names the scheme");
                }
            }
            other => panic!("{url:?}: expected UnknownScheme, got {other:?}"),
        }
    }
    match StoreUrl::parse("sqlite://") {
        Err(StoreError::Invalid { field, .. }) => assert_eq!(field, "store.url"),
        other => panic!("sqlite:// without a path: {other:?}"),
    }
}

#[tokio::test]
async fn connect_refuses_an_unknown_scheme_without_creating_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("parley.db");
    for url in [
        format!("mysql://{}", bare.display()),
        bare.display().to_string(),
    ] {
        match store::connect(&url, 1).await {
            Err(StoreError::UnknownScheme(_)) => {}
            Err(other) => panic!("{url}: expected UnknownScheme, got {other:?}"),
            Ok(_) => panic!("{url}: opened"),
        }
    }
    assert!(!bare.exists(), "no file created for a refused URL");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
