//! Deterministic simulation of replication and leader election: the real state machines
//! (`fjord_log_core::replication`, `fjord_log_core::controller`) driven through many seeded
//! schedules of crashes, restarts, lost and delayed messages and network cuts, with the
//! invariants of `checker.rs` checked at every step and convergence checked at the end.
//!
//! A failing seed prints its last events; rerun one with `FJORD_SIM_SEED=<seed>`.

mod checker;
mod model_log;
mod world;

use world::{Faults, World};

const FAULTY_MS: u64 = 40_000;
const CALM_MS: u64 = 20_000;

fn run(seed: u64, faults: Faults) -> World {
    let mut world = World::new(seed, faults);
    if let Err(v) = world.run_until(FAULTY_MS) {
        panic!("{v}");
    }
    world.calm();
    if let Err(v) = world.run_until(FAULTY_MS + CALM_MS / 2) {
        panic!("{v}");
    }
    world.stop_producing();
    if let Err(v) = world.run_until(FAULTY_MS + CALM_MS) {
        panic!("{v}");
    }
    if let Err(v) = world.check_converged() {
        panic!("{v}");
    }
    world
}

fn seeds(default: std::ops::Range<u64>) -> Vec<u64> {
    match std::env::var("FJORD_SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(seed) => vec![seed],
        None => default.collect(),
    }
}

#[test]
fn crashes_and_restarts_lose_no_acknowledged_record() {
    let faults = Faults { drop: 0.0, max_delay_ms: 20, crash_per_sec: 0.08, isolate_per_sec: 0.0 };
    let (mut acked, mut elections) = (0, 0);
    for seed in seeds(0..60) {
        let world = run(seed, faults);
        acked += world.checker.acked.len();
        elections += world.checker.elections;
    }
    eprintln!("crashes: {acked} records acknowledged, {elections} elections");
    // The schedules must exercise something: records acknowledged and leaders elected.
    assert!(acked > 10_000 && elections > 100, "acked {acked}, elections {elections}");
}

#[test]
fn lost_and_delayed_messages_and_network_cuts_lose_no_acknowledged_record() {
    let faults = Faults { drop: 0.05, max_delay_ms: 120, crash_per_sec: 0.03, isolate_per_sec: 0.04 };
    let (mut acked, mut truncations) = (0, 0);
    for seed in seeds(1_000..1_060) {
        let world = run(seed, faults);
        acked += world.checker.acked.len();
        truncations += world.checker.truncations;
    }
    eprintln!("cuts: {acked} records acknowledged, {truncations} truncations");
    assert!(acked > 5_000, "acked {acked}");
    assert!(truncations > 0, "no schedule made a follower truncate a diverged tail");
}

#[test]
fn a_quiet_cluster_commits_everything_it_acknowledges() {
    let faults = Faults { drop: 0.0, max_delay_ms: 5, crash_per_sec: 0.0, isolate_per_sec: 0.0 };
    let world = run(7, faults);
    assert_eq!(world.checker.elections, 0);
    assert!(world.checker.acked.len() > 3_000, "{}", world.checker.acked.len());
}
