//! The CLI's commands, one module per group.

pub mod archive;
pub mod container;
pub mod cp;
pub mod distribution;
pub mod events;
pub mod fs;
pub mod images;
pub mod network;
pub mod ops;
pub mod pull;
pub mod system;
pub mod volume;
