//! idpush: push a container image to an OCI registry.
#![allow(dead_code)] // while the pipeline is being wired up

mod daemon;
mod digest;
mod error;
mod image;
mod oci;
mod reference;
mod registry;
mod secret;
mod source;
mod store;

fn main() {}
