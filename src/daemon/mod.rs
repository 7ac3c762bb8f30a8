//! Talking to the Docker Engine over its socket (placeholder).
