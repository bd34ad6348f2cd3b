//! The CLI's commands, one module per group.

pub mod system;
