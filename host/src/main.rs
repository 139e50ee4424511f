//! `baton`: parse arguments, run the subcommand, map its result to an exit
//! code (0 success, 1 step failure, 2 usage or config error, 130 cancelled).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = baton_host::cli::Args::parse();
    match baton_host::cli::main(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("baton: {}", baton_host::text::escape_text(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}
