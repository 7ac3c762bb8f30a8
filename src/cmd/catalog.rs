//! `idpush catalog [REGISTRY]`: every repository of a registry, every page.

use crate::report::hint;
use crate::{cli, error, redact, report};
use std::process::ExitCode;

/// Entries per page when `--page-size` is not given.
const DEFAULT_PAGE: u32 = 100;

pub fn run(mut args: cli::CatalogArgs) -> anyhow::Result<ExitCode> {
    let mut flags = args.registry_flags();
    if let Some(given) = args.registry_arg.take() {
        if let Some(r) = &flags.registry {
            return Err(error::fail(
                error::Cause::BadInput,
                format!(
                    "give the registry once: as REGISTRY {} or with -r {}, not both",
                    redact::quote(&given),
                    redact::quote(r)
                ),
            ));
        }
        flags.registry = Some(given);
    }
    let page = super::page_size(args.page_size.unwrap_or(DEFAULT_PAGE))?;
    let (mut registry, host, facts) = super::connect(flags, None)?;
    let repositories = registry.catalog(page).map_err(|e| hint::add(e, &facts))?;
    report::stdout(&report::listing::catalog(&host, &repositories, args.json))?;
    Ok(ExitCode::SUCCESS)
}
