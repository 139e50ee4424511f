//! Host side of the WIT interfaces, one file per interface.

pub mod artifacts;
pub mod log;
pub mod process;
pub mod signals;
pub mod types;
