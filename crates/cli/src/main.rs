//! The `lightstreams` command: run a node, a dev chain or a local testnet; manage accounts;
//! send PHT; inspect a node; benchmark.

mod args;
mod commands;
mod rpc;
mod units;

use clap::Parser;

/// Keep glibc's allocator from returning each 1 MiB chunk buffer to the kernel as soon as it is
/// freed. By default glibc serves such blocks with `mmap` (later from a heap it trims eagerly),
/// so every sealed or fetched chunk costs 256 fresh page faults, zeroing, and — when one thread
/// allocates and another frees, as the sealer and the writer do — an `munmap` with a TLB
/// shoot-down on the other core. Measured on this 2-core VM: sealing and writing 1 GiB into
/// tmpfs on two threads ran at ~270 MB/s with the defaults and ~1,500–2,000 MB/s with these
/// settings (see BENCHMARKS.md). Blocks above 4 MiB (large manifests) still use `mmap`; at most
/// 16 MiB of free heap top is kept, in at most two arenas (with one arena per thread, the
/// node's many blocking threads each kept their own free space: peak RSS 102–122 MB for a
/// 1 GiB upload instead of 74 MB). The price, measured A/B with `bench chain` (1 validator,
/// 20,000 transfers, 4 runs each): ~13,600 transfers/s instead of ~15,000 (allocation-heavy
/// transaction handling on fewer arenas), still well above the chain's target.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called once, before any other thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 16 << 20);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn main() -> std::process::ExitCode {
    tune_allocator();
    let cli = args::Cli::parse();
    commands::init_logging(&cli);
    match commands::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
