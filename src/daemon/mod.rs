//! Talking to the local Docker daemon: where it listens (`DOCKER_HOST`), a small blocking
//! HTTP/1.1 client over its unix or TCP socket ([`http`]), and the few Engine API calls idpush
//! needs ([`engine`]): ping and version negotiation, image inspect, and the streaming
//! `docker save` export.

pub mod engine;
pub mod host;
pub mod ssh;
pub mod tls;
pub mod http;

pub use engine::{Engine, ImageInfo, ImageStore, Platform};
