//! `idpush inspect REF`: the manifest under a reference, its platforms or its layers and
//! config.

use crate::report::hint;
use crate::{cli, inspection, report};
use std::process::ExitCode;

pub fn run(mut args: cli::InspectArgs) -> anyhow::Result<ExitCode> {
    let r = super::parse_reference("REF", &args.reference)?;
    let (mut registry, host, facts) = super::connect(args.registry_flags(), r.registry.as_deref())?;
    let (reference, shown) = match (&r.digest, &r.tag) {
        (Some(d), _) => (d.to_string(), format!("{host}/{}@{d}", r.repository)),
        (None, tag) => {
            let tag = tag.clone().unwrap_or_else(|| "latest".to_string());
            (tag.clone(), format!("{host}/{}:{tag}", r.repository))
        }
    };
    let found = inspection::inspect(&mut registry, &r.repository, &reference, &shown).map_err(|e| hint::add(e, &facts))?;
    report::stdout(&report::listing::inspect(&found, args.json))?;
    Ok(ExitCode::SUCCESS)
}
