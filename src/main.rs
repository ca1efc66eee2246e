/// mimalloc instead of the system allocator: see Cargo.toml and
/// docs/performance.md for what it buys (set here, in the binary, so the
/// library leaves the choice to whoever embeds it).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The command line lives in the binary: the library is the pipeline,
/// which the CLI uses through its public items only.
mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
