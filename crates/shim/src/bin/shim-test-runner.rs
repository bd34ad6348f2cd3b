//! Test-only entry point: runs the shim exactly as the engine binary would.

fn main() {
    std::process::exit(shim::main(std::env::args_os().collect()));
}
