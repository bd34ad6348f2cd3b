//! The CLI's commands, one module per group.

pub mod images;
pub mod system;
