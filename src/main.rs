//! The `maze-rllf` binary: a thin entry point over the library's command-line front end.

/// mimalloc reuses freed blocks per thread instead of returning large ones to the kernel: the
/// training loop allocates and frees megabyte tensors thousands of times a second, and with the
/// system allocator a tenth of its time went to page faults and zeroing fresh pages.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    maze_rllf::cli::main()
}
