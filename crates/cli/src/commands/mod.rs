//! The CLI's commands, one module per group.

pub mod archive;
pub mod container;
pub mod distribution;
pub mod images;
pub mod network;
pub mod ops;
pub mod pull;
pub mod system;
