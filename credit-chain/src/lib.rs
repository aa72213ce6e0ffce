//! The reference regional credit chain node.
//!
//! - [`app`]: the state machine (transactions, modules), pure;
//! - [`node`]: executes transactions into signed blocks;
//! - [`store`]: durable state and blocks in sled;
//! - [`rpc`]: HTTP/JSON RPC and the block timer;
//! - [`genesis`], [`keys`]: `credit-chain init`;
//! - [`cli`]: the command line.

pub mod app;
pub mod cli;
pub mod genesis;
pub mod keys;
pub mod node;
pub mod rpc;
pub mod store;
