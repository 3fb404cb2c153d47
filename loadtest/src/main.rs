//! Parley's load generator. The real generator (visitors, agents, HDR latency histograms,
//! loss and duplicate counts) belongs to the performance issue; until then this binary only
//! says so, so that nobody mistakes it for a measurement.

fn main() {
    eprintln!("loadtest: not built yet; see docs/performance.md for the plan");
    std::process::exit(2);
}
