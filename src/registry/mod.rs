//! Talking to an OCI registry (placeholder).
