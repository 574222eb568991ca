fn main() -> std::process::ExitCode {
    labctl::run(std::env::args_os())
}
