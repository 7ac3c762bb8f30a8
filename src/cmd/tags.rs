//! `idpush tags REPO`: every tag of a repository, every page.

use crate::report::hint;
use crate::{cli, error, redact, report};
use std::process::ExitCode;

/// Entries per page when `--page-size` is not given.
const DEFAULT_PAGE: u32 = 100;

pub fn run(mut args: cli::TagsArgs) -> anyhow::Result<ExitCode> {
    let repo = super::parse_reference("REPO", &args.repo)?;
    if repo.tag.is_some() || repo.digest.is_some() {
        return Err(error::fail(
            error::Cause::BadInput,
            format!(
                "REPO {} names a tag or digest: give the repository alone, e.g. `idpush tags {}`",
                redact::quote(&args.repo),
                repo.name()
            ),
        ));
    }
    let page = super::page_size(args.page_size.unwrap_or(DEFAULT_PAGE))?;
    let (mut registry, host, facts) = super::connect(args.registry_flags(), repo.registry.as_deref())?;
    let tags = registry.tags(&repo.repository, page).map_err(|e| hint::add(e, &facts))?;
    report::stdout(&report::listing::tags(&format!("{host}/{}", repo.repository), &tags, args.json))?;
    Ok(ExitCode::SUCCESS)
}
