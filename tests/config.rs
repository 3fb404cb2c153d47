//! Configuration: the documented default file and the settings structs stay in step, overlays
//! and `PARLEY__…` variables win in that order, and typos stop start-up with their name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use parley::config::Settings;

fn config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
}

fn no_vars() -> Vec<(String, String)> {
    Vec::new()
}

/// Dotted paths of every leaf key in a TOML table.
fn leaf_keys(prefix: &str, value: &toml::Value, out: &mut BTreeSet<String>) {
    match value {
        toml::Value::Table(table) => {
            for (k, v) in table {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaf_keys(&path, v, out);
            }
        }
        _ => {
            out.insert(prefix.to_owned());
        }
    }
}

fn default_toml() -> toml::Value {
    toml::from_str(&std::fs::read_to_string(config_dir().join("default.toml")).unwrap()).unwrap()
}

#[test]
fn default_file_loads_into_settings_with_nothing_missing_or_extra() {
    // deny_unknown_fields refuses extra keys and serde refuses missing ones, so loading the
    // default file alone proves the two are in step.
    let settings = Settings::load_from(&config_dir(), "none-such-overlay", no_vars())
        .expect("default.toml loads");
    assert_eq!(settings.http.port, 8080);
    assert_eq!(
        parley::store::StoreUrl::parse(secrecy::ExposeSecret::expose_secret(&settings.store.url))
            .unwrap(),
        parley::store::StoreUrl::Sqlite("data/parley.db".into())
    );
}

#[test]
fn every_key_in_default_toml_has_a_comment_above_it() {
    let text = std::fs::read_to_string(config_dir().join("default.toml")).unwrap();
    let mut previous = "";
    for line in text.lines() {
        let trimmed = line.trim();
        let is_key = !trimmed.is_empty() && !trimmed.starts_with('#') && !trimmed.starts_with('[');
        if is_key {
            assert!(
                previous.starts_with('#'),
                "key without a comment above it in default.toml: {trimmed}"
            );
        }
        if !trimmed.is_empty() {
            previous = trimmed;
        }
    }
}

#[test]
fn removing_any_key_from_default_toml_is_refused() {
    let mut keys = BTreeSet::new();
    leaf_keys("", &default_toml(), &mut keys);
    assert!(keys.len() > 15, "expected the whole file, found {keys:?}");
    for key in &keys {
        let mut value = default_toml();
        let (section, leaf) = key.split_once('.').unwrap();
        value
            .get_mut(section)
            .and_then(toml::Value::as_table_mut)
            .unwrap()
            .remove(leaf);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("default.toml"),
            toml::to_string(&value).unwrap(),
        )
        .unwrap();
        let err = Settings::load_from(dir.path(), "none", no_vars()).expect_err(key);
        assert!(
            err.to_string().contains(leaf),
            "error for missing {key} should name it: {err}"
        );
    }
}

fn write_overlay(dir: &Path, name: &str, text: &str) {
    std::fs::copy(config_dir().join("default.toml"), dir.join("default.toml")).unwrap();
    std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
}

#[test]
fn overlay_then_environment_win_in_that_order() {
    let dir = tempfile::tempdir().unwrap();
    write_overlay(
        dir.path(),
        "staging",
        "[http]\nport = 9000\nbind = \"0.0.0.0\"\n",
    );
    let settings = Settings::load_from(dir.path(), "staging", no_vars()).unwrap();
    assert_eq!(
        (settings.http.port, settings.http.bind.as_str()),
        (9000, "0.0.0.0")
    );

    let vars = [
        ("PARLEY__HTTP__PORT", "9100"),
        ("PARLEY__HTTP__BIND", "127.0.0.2"),
        ("PARLEY__STORE__URL", "postgres://u:p@127.0.0.1:5432/parley"),
        ("PARLEY__BUS__REDIS_URL", "redis://127.0.0.1:6379/"),
        ("UNRELATED__HTTP__PORT", "1"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let settings = Settings::load_from(dir.path(), "staging", vars).unwrap();
    assert_eq!(settings.http.port, 9100);
    assert_eq!(settings.http.bind, "127.0.0.2");
    assert_eq!(
        secrecy::ExposeSecret::expose_secret(&settings.store.url),
        "postgres://u:p@127.0.0.1:5432/parley"
    );
    assert_eq!(settings.bus.redis_url, "redis://127.0.0.1:6379/");
}

#[test]
fn unknown_keys_stop_loading_and_are_named() {
    let cases = [
        ("file section", "[htttp]\nport = 1\n", vec![], "htttp"),
        ("file key", "[http]\nprot = 1\n", vec![], "prot"),
        (
            "environment key",
            "",
            vec![("PARLEY__HTTP__PROT", "1")],
            "prot",
        ),
        (
            "environment section",
            "",
            vec![("PARLEY__STOR__URL", "x")],
            "stor",
        ),
    ];
    for (case, overlay, vars, name) in cases {
        let dir = tempfile::tempdir().unwrap();
        write_overlay(dir.path(), "t", overlay);
        let vars: Vec<(String, String)> = vars
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let err = Settings::load_from(dir.path(), "t", vars).expect_err(case);
        assert!(
            err.to_string().contains(name),
            "{case}: error should name '{name}': {err}"
        );
    }
}

#[test]
fn a_wrong_type_is_refused_with_the_key() {
    let vars = vec![("PARLEY__HTTP__PORT".to_owned(), "eighty".to_owned())];
    let err = Settings::load_from(&config_dir(), "none", vars).expect_err("port must be a number");
    assert!(err.to_string().contains("port"), "{err}");
}

#[test]
fn shipped_overlays_load() {
    for overlay in ["local", "test", "production.example"] {
        assert!(
            config_dir().join(format!("{overlay}.toml")).exists(),
            "config/{overlay}.toml is shipped"
        );
        Settings::load_from(&config_dir(), overlay, no_vars())
            .unwrap_or_else(|e| panic!("{overlay}: {e}"));
    }
}

#[test]
fn unknown_store_url_schemes_are_refused_by_name() {
    for (url, named) in [
        ("mysql://x/y", "mysql"),
        ("sqlite:data.db", "sqlite:data.db"),
        ("postgress://h/db", "postgress"),
    ] {
        let err = parley::store::StoreUrl::parse(url).expect_err(url);
        assert!(err.to_string().contains(named), "{url}: {err}");
    }
}
