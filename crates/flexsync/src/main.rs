//! The `flexsync` binary: parse, run, map the outcome to an exit code.

use clap::Parser;

fn main() {
    let cli = flexsync::cli::Cli::parse();
    let code = flexsync::commands::main(cli);
    std::process::exit(code);
}
