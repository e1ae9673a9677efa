//! The `zenbridge` binary: parse the command line and hand over to [`zenbridge::cli`].

fn main() -> std::process::ExitCode {
    zenbridge::cli::main()
}
