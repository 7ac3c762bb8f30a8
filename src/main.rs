//! idpush: push a container image from where a developer has it to an OCI registry.
//!
//! The binary is glue: flags → plan → source → image on disk → registry upload → result.
//! Each stage is a module; errors carry their class to the exit code (`exit.rs`).

mod cache;
mod cli;
mod cmd;
mod codec;
mod completions;
mod credentials;
mod daemon;
mod digest;
mod error;
mod exit;
mod image;
mod inspection;
mod interrupt;
mod logger;
mod oci;
mod output;
mod plan;
mod push;
mod redact;
mod reference;
mod registry;
mod report;
mod secret;
mod settings;
mod source;
mod store;
#[cfg(test)]
mod test_support;

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let cli = match cli::parse(&args) {
        cli::Parsed::Run(cli) => cli,
        cli::Parsed::Help(text) => {
            let _ = writeln!(std::io::stdout(), "{text}");
            return ExitCode::SUCCESS;
        }
        cli::Parsed::Wrong { error, hint } => {
            report::progress::eprint_line(&format!("idpush: error: {error}"));
            report::progress::eprint_line(&format!("hint: {hint}"));
            return ExitCode::from(exit::ERROR);
        }
    };
    if cli.version {
        // A closed stdout (`idpush --version | true`) is not an error.
        let _ = writeln!(std::io::stdout(), "idpush {} (commit {})", env!("CARGO_PKG_VERSION"), env!("IDPUSH_COMMIT"));
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        // cli::parse answers Wrong for a command line without a command.
        return ExitCode::from(exit::ERROR);
    };
    let result = match command {
        cli::Command::Push(args) => {
            // First, so nothing that follows (the plan, credential lookups) logs into the void; the
            // plan still validates the flag.
            logger::init(logger::level_from_flags(args.log_level.as_deref(), args.quiet));
            interrupt::install();
            cmd::push::run(args)
        }
        cli::Command::Build(args) => {
            logger::init(logger::level_from_flags(args.log_level.as_deref(), args.quiet));
            interrupt::install();
            cmd::build::run(args)
        }
        cli::Command::Catalog(args) => listing(args.log_level.clone(), || cmd::catalog::run(args)),
        cli::Command::Tags(args) => listing(args.log_level.clone(), || cmd::tags::run(args)),
        cli::Command::Inspect(args) => listing(args.log_level.clone(), || cmd::inspect::run(args)),
        cli::Command::Completions(args) => cmd::completions::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => exit::report(&e),
    }
}

/// Starts logging and the signal watcher for a listing command, then runs it.
fn listing(log_level: Option<String>, run: impl FnOnce() -> anyhow::Result<ExitCode>) -> anyhow::Result<ExitCode> {
    let level = settings::parse_log_level(log_level.as_deref(), false)?;
    logger::init(level);
    interrupt::install();
    run()
}
