//! `idpush completions bash|zsh|fish`: the completion script on stdout.

use crate::{cli, completions, report};
use std::process::ExitCode;

pub fn run(args: &cli::CompletionsArgs) -> anyhow::Result<ExitCode> {
    let script = completions::script(&args.shell)
        .map_err(|e| crate::error::fail_with_hint(crate::error::Cause::BadInput, format!("{e:#}"), "`idpush completions --help` shows where each shell reads its script"))?;
    report::stdout(&script)?;
    Ok(ExitCode::SUCCESS)
}
