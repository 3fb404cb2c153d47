//! The generator end to end against the relay baseline (no database needed): two worker
//! processes, visitors and agents on 127.0.0.x source addresses, every message counted by id.
//! A few seconds; the speed figures themselves belong to docs/performance.md, not here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

struct Relay(std::process::Child);

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn generator_counts_every_message_of_a_chat_through_the_relay() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_relay"))
        .args(["--port", "0", "--threads", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("relay starts");
    let stdout = child.stdout.take().unwrap();
    let relay = Relay(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let port = line
        .trim()
        .strip_prefix("relay: listening on ")
        .expect("the relay says where it listens");
    let dir = tempfile_dir();
    let (out, summary) = (dir.join("r.json"), dir.join("r.md"));
    let status = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["run", "--target", "relay", "--mode", "chat"])
        .args(["--visitor-servers", &format!("ws://127.0.0.1:{port}")])
        .args(["--server-pids", &relay.0.id().to_string()])
        .args(["--visitors", "40", "--agents", "4", "--rate", "80"])
        .args(["--duration", "2", "--drain", "1", "--workers", "2"])
        .args([
            "--out",
            out.to_str().unwrap(),
            "--summary",
            summary.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(r["visitors_connected"], 40, "{r}");
    assert_eq!(r["agents_connected"], 4, "{r}");
    for direction in ["v2a", "a2v"] {
        let d = &r[direction];
        assert!(d["acked"].as_u64().unwrap() >= 100, "{direction}: {d}");
        assert_eq!(d["acked"], d["received_unique"], "{direction}: {d}");
        assert_eq!(
            (d["lost"].as_u64(), d["duplicated"].as_u64()),
            (Some(0), Some(0)),
            "{d}"
        );
    }
    // 80 msg/s for 2 s, answered: about 160 each way, each with a latency.
    let count = r["v2a_latency"]["count"].as_u64().unwrap();
    assert!((140..=170).contains(&count), "{count} latencies: {r}");
    assert!(r["server_rss_connected_kib"].as_u64().unwrap() > 0, "{r}");
    assert!(
        std::fs::read_to_string(&summary)
            .unwrap()
            .contains("delivered msg/s")
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("loadtest-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
