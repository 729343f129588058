//! Helpers shared by the integration tests, one file per area.
#![allow(dead_code)]

pub mod cli;
pub mod daemon;
pub mod events;
pub mod process;
pub mod providers;
pub mod smtp;
