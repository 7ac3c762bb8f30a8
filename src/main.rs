//! idpush: push a container image to an OCI registry.
#![allow(dead_code)] // while the pipeline is being wired up

mod daemon;
mod digest;
mod error;
mod registry;
mod secret;

fn main() {}
