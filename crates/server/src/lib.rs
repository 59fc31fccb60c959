//! The `conduit` executable's library half: configuration, telemetry and the
//! composition root. Kept as a library so that black-box tests can start the
//! real server in-process on a free port.

pub mod cli;
pub mod config;
pub mod startup;
pub mod telemetry;
