//! The CLI's commands, one module per group.

pub mod archive;
pub mod images;
pub mod system;
