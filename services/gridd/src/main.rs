//! The `gridd` command: see `gridd --help`.

/// mimalloc rather than the C library's allocator: under load the SQLite writer spent an eighth
/// of its time allocating and freeing with glibc's, about a twelfth with mimalloc, most of that
/// SQLite's own allocations, which still go to glibc (benches/README, "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gridd::cli::main()
}
