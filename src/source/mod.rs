//! Image sources: each turns what the user has into an [`Image`](crate::image::Image) on disk.

pub mod archive;
pub mod build;

pub mod daemon;
pub mod gate;
pub mod ignore;
