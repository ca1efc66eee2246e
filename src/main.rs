fn main() -> std::process::ExitCode {
    wardwall::cli::main()
}
