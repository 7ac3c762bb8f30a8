//! One module per command: each wires stages, no protocol code.

pub mod build;
pub mod push;
