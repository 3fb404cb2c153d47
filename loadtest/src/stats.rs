//! What a worker counts and how the coordinator merges it: HDR latency histograms (µs),
//! message ids per stream (to count lost and duplicated messages exactly), errors by code.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Microseconds since the Unix epoch. Every process of a run is on one machine, so a send
/// timestamp taken in one worker can be compared with a receive time taken in another.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Latencies up to two minutes, three significant digits.
#[expect(clippy::expect_used, reason = "constant, valid bounds")]
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

pub fn record(h: &mut Histogram<u64>, value_us: u64) {
    h.saturating_record(value_us.max(1));
}

/// A histogram as (value, count) pairs, which survive JSON between processes.
pub fn encode(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

pub fn decode_into(h: &mut Histogram<u64>, pairs: &[(u64, u64)]) {
    for &(value, count) in pairs {
        let _ = h.record_n(value.max(1), count);
    }
}

/// Sorted, disjoint inclusive ranges of message numbers.
pub type Ranges = Vec<(u32, u32)>;

pub fn to_ranges(values: impl IntoIterator<Item = u32>) -> Ranges {
    let set: BTreeSet<u32> = values.into_iter().collect();
    let mut out: Ranges = Vec::new();
    for v in set {
        match out.last_mut() {
            Some((_, end)) if *end + 1 == v => *end = v,
            _ => out.push((v, v)),
        }
    }
    out
}

pub fn expand(ranges: &[(u32, u32)], into: &mut BTreeSet<u32>) {
    for &(a, b) in ranges {
        into.extend(a..=b);
    }
}

/// Messages of one direction, keyed by visitor number (one conversation per visitor).
#[derive(Debug, Default)]
pub struct Stream {
    /// Acked by the server (so stored, for Parley), by message number.
    pub acked: HashMap<u32, Vec<u32>>,
    /// Received by the other side, every time it was received.
    pub received: HashMap<u32, Vec<u32>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct StreamReport {
    pub acked: BTreeMap<u32, Ranges>,
    pub received: BTreeMap<u32, Ranges>,
    /// Receptions of a message already received.
    pub duplicates: u64,
}

impl Stream {
    pub fn report(&self) -> StreamReport {
        let mut duplicates = 0u64;
        let received = self
            .received
            .iter()
            .map(|(k, v)| {
                let ranges = to_ranges(v.iter().copied());
                let unique: u64 = ranges.iter().map(|(a, b)| u64::from(b - a + 1)).sum();
                duplicates += v.len() as u64 - unique;
                (*k, ranges)
            })
            .collect();
        StreamReport {
            acked: self
                .acked
                .iter()
                .map(|(k, v)| (*k, to_ranges(v.iter().copied())))
                .collect(),
            received,
            duplicates,
        }
    }
}

/// A worker's figures, sent to the coordinator as one JSON line.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct WorkerReport {
    pub worker: usize,
    pub visitors_connected: u64,
    pub agents_connected: u64,
    /// Connection attempts that failed (refused, timed out, handshake error), by reason.
    pub connect_errors: BTreeMap<String, u64>,
    /// `error` frames received, by code.
    pub error_frames: BTreeMap<String, u64>,
    /// Sockets the server closed or that broke, by reason.
    pub closes: BTreeMap<String, u64>,
    /// Visitor messages sent whose scheduled time fell in the measured window.
    pub v2a_sent_in_window: u64,
    /// Visitor messages received by agents within the window (by receive time).
    pub v2a_received_in_window: u64,
    pub a2v_sent_in_window: u64,
    pub a2v_received_in_window: u64,
    /// Sends still unacked at the end.
    pub unacked: u64,
    pub v2a_latency_us: Vec<(u64, u64)>,
    pub a2v_latency_us: Vec<(u64, u64)>,
    /// Send time minus scheduled time: the generator's own lateness.
    pub send_lag_us: Vec<(u64, u64)>,
    /// Socket dropped until subscribed again (reconnect scenario).
    pub resume_us: Vec<(u64, u64)>,
    pub reconnects: u64,
    pub v2a: StreamReport,
    pub a2v: StreamReport,
    /// This worker's CPU time (user + system), seconds, over its whole life.
    pub cpu_secs: f64,
    pub max_rss_kib: u64,
}

/// CPU seconds (user + system) and resident set (KiB) of a process, from /proc.
pub fn proc_usage(pid: &str) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    // Clock ticks are 100 per second on Linux (USER_HZ), whatever the kernel's HZ.
    Some(((utime + stime) / 100.0, rss))
}

/// Peak resident set (VmHWM) of a process, KiB.
pub fn peak_rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
