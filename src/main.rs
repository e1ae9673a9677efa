//! The `zenbridge` binary: parse the command line and hand over to [`zenbridge::cli`].

/// mimalloc instead of glibc's allocator: under load the gateway's many
/// small, short-lived allocations (claims, JSON, futures) cost glibc's
/// arenas a tenth of the CPU time, freed on another thread than they were
/// made on (see docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    zenbridge::cli::main()
}
