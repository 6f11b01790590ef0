//! The `vss` binary: one process serving SIP, media, the control API and the hub drivers,
//! plus the admin commands around it (CONTRACT.md, "Set-up and commands").

mod bench;
mod calls;
mod cli;
mod config;
mod logging;
mod media_engine;
mod migrate;
mod provision;
mod registrar_setup;
mod secrets;
mod serve;
mod sip;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Not locked for the whole run: a long-running command logs to stderr from many threads.
    cli::run(
        std::env::args_os(),
        std::env::vars_os(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    )
}
