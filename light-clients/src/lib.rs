//! Pure verification for the credit interchain network.
//!
//! This crate never does I/O: no files, no sockets, no clocks, no threads.
//! Callers pass in everything (including "now"), so every function here is
//! deterministic and safe to fuzz.

pub mod cometbft;
pub mod credit_chain;
pub mod merkle;
