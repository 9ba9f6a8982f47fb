//! The benchmark commands run end to end at a small size and report sane figures: each phase
//! moved the bytes it should, every rate and ratio is positive and finite, each median lies
//! within its range, and each round is reported. Timings are never asserted (the machine is
//! shared and noisy); this keeps `bench vault` and `bench p2p` working.

mod util;

use serde_json::Value;
use util::*;

fn bench(args: &[&str]) -> Value {
    let out = std::process::Command::new(exe())
        .args(args)
        .output()
        .expect("run the bench");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the bench prints JSON")
}

fn positive(report: &Value, path: &str) -> f64 {
    let value = report
        .pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{path} missing in {report}"));
    assert!(value.is_finite() && value > 0.0, "{path} = {value}");
    value
}

/// `[min, max]` at `range` holds the median at `median`.
fn within(report: &Value, median: &str, range: &str) {
    let median = positive(report, median);
    let min = positive(report, &format!("{range}/0"));
    let max = positive(report, &format!("{range}/1"));
    assert!(min <= median && median <= max, "{min} <= {median} <= {max}");
}

/// `rounds` rounds at `path`, each with a positive rate for every phase.
fn every_round(report: &Value, path: &str, rounds: usize, phases: &[&str]) {
    let listed = report
        .pointer(path)
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    assert_eq!(listed, rounds, "{path} in {report}");
    for i in 0..rounds {
        for phase in phases {
            positive(report, &format!("{path}/{i}/{phase}"));
        }
    }
}

#[test]
fn bench_vault_reports_every_phase() {
    let _serial = serial();
    let report = bench(&[
        "--json",
        "bench",
        "vault",
        "--size-mib",
        "8",
        "--grants",
        "1",
        "--rounds",
        "2",
    ]);
    for path in [
        "/bound/combined_mb_s",
        "/local/add_mb_s",
        "/local/get_mb_s",
        "/node/bound_mb_s",
        "/node/add_mb_s",
        "/node/get_mb_s",
        "/grant_to_first_byte_ms/median",
        "/peak_rss_mb/node",
        "/peak_rss_mb/client",
        "/node/add_floor_ceiling_vs_bound",
        "/node/get_floor_ceiling_vs_bound",
        "/node/floor_cpu_s_per_gib/add",
        "/node/floor_cpu_s_per_gib/get",
        "/node/tcp/add_mb_s",
        "/node/tcp/get_mb_s",
        "/node/tcp/floor_cpu_s_per_gib/get",
    ] {
        positive(&report, path);
    }
    within(&report, "/node/add_vs_bound", "/node/add_vs_bound_range");
    within(&report, "/node/get_vs_bound", "/node/get_vs_bound_range");
    within(
        &report,
        "/node/tcp/get_vs_bound",
        "/node/tcp/get_vs_bound_range",
    );
    every_round(
        &report,
        "/node/per_round_mb_s",
        2,
        &["bound", "add", "get", "tcp_add", "tcp_get"],
    );
}

#[test]
fn bench_p2p_reports_every_phase() {
    let _serial = serial();
    let report = bench(&[
        "--json",
        "bench",
        "p2p",
        "--size-mib",
        "8",
        "--lanes",
        "2",
        "--batch",
        "4",
        "--rounds",
        "2",
    ]);
    assert!(
        positive(&report, "/bytes") >= 8.0 * 1024.0 * 1024.0,
        "every chunk of the item is fetched: {report}"
    );
    for path in [
        "/peer_fetch_mb_s",
        "/peer_fetch_http_batch_mb_s",
        "/peer_fetch_one_per_request_mb_s",
        "/raw_tcp_mb_s",
        "/raw_tcp_blake3_mb_s",
        "/verified_vs_raw",
        "/round_trip_us/median",
        "/peak_rss_mb/node",
        "/peak_rss_mb/fetcher",
    ] {
        positive(&report, path);
    }
    within(&report, "/ratio", "/ratio_range");
    within(&report, "/ratio_vs_verified", "/ratio_vs_verified_range");
    let mut phases = vec!["raw_tcp", "raw_tcp_blake3", "stream"];
    if cfg!(feature = "iroh-baseline") {
        // The plain iroh-blobs transfer of the same bytes (`scripts/test` runs this test with
        // the feature too).
        positive(&report, "/iroh_blobs_mb_s");
        within(
            &report,
            "/ratio_vs_iroh_blobs",
            "/ratio_vs_iroh_blobs_range",
        );
        phases.push("iroh_blobs");
    } else {
        assert!(report["iroh_blobs_mb_s"].is_null(), "{report}");
    }
    every_round(&report, "/per_round_mb_s", 2, &phases);
}
