//! The `maze-rllf` binary: a thin entry point over the library's command-line front end.

fn main() -> std::process::ExitCode {
    maze_rllf::cli::main()
}
