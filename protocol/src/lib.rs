//! Wire types of the credit interchain network and their canonical encoding.
//!
//! What is signed or hashed is encoded with [borsh] (one byte string per
//! value, no maps, no floats); JSON via serde is only for the edges (RPC,
//! CLI files). This crate does no I/O.

pub mod error;
pub mod hash;

pub use error::Error;
pub use hash::Hash;
