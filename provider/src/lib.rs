//! A data provider's agent: its credit records stay at home.
//!
//! The provider keeps its records in its own book ([`RecordSource`]: an
//! embedded [`SledRecords`] or a [`PostgresRecords`] database) and its
//! chain keeps only their commitments. The [`Agent`] commits each record
//! it stores, follows the chain, answers each credit query that names the
//! provider with its records sealed to the requester's key, and
//! contributes its own encrypted sum to joint aggregations. It trusts its
//! chain from its operator's anchor only ([`HomeTrust`]), through a light
//! client, and reads nothing from any other chain.
//!
//! What this crate must never do: send a record anywhere but sealed to a
//! requester's key, seal a partial answer, log an amount, or act on a
//! chain value not proven against a block verified from the anchor. It
//! does not depend on the chain's crate: what it shares with the chain is
//! in `protocol` (and, for contributions, `homomorphic`).

#![warn(missing_docs)]

pub mod agent;
pub mod cli;
pub mod contribution;
mod error;
pub mod records;
pub mod signer;
pub mod trust;

pub use agent::{Agent, ImportReport, Outcome, SyncReport, Task, sealed_answer};
pub use error::Error;
pub use records::{PostgresRecords, RecordSource, SledRecords};
pub use trust::{Clock, HomeTrust, SystemClock};
