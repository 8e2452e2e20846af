//! The `gridd` command: see `gridd --help`.

fn main() -> std::process::ExitCode {
    gridd::cli::main()
}
