//! The credit interchain relayer as a library: what the `relayer` binary's
//! commands and the daemon are built from, usable by tests and benches.
//!
//! The relayer is never trusted: everything it carries is checked by the
//! destination chain against a light client. It must never start from a
//! configuration it could only half use ([`config::Config::load`] is all or
//! nothing).

pub mod answers;
pub mod api;
pub mod audit;
pub mod clock;
pub mod config;
pub mod devnet;
pub mod engine;
pub mod mesh;
pub mod metrics;
pub mod registry;
pub mod store;
pub mod supervisor;
pub mod trust;
