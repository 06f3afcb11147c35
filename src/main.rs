fn main() -> std::process::ExitCode {
    lvs_converge::cli::main()
}
