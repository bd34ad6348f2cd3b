//! Test driver: runs the applet in its own single-threaded process.

fn main() {
    std::process::exit(runc::main(std::env::args_os().collect()));
}
