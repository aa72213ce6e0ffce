//! The credit-chain light client.
//!
//! Trusted state = (header, validator set, next validator set). A header is
//! verified sequentially when adjacent (more than 2/3 of the trusted next
//! set signed, linked by hash) or by skipping (more than the trust
//! threshold, default 1/3, of the trusted next set and more than 2/3 of its
//! own set signed), within the trusting period and clock drift. Rules are
//! small predicates ([`predicates`]); [`verify`] composes them into a
//! [`Verdict`]; [`LightClient`] keeps trusted blocks, detects misbehaviour
//! and freezes.

mod client;
mod errors;
mod misbehaviour;
mod options;
pub mod predicates;
pub mod signing;
mod verifier;
mod voting_power;

pub use client::{ClientError, LightClient, LightClientState, UpdateOutcome};
pub use errors::VerificationError;
pub use misbehaviour::Misbehaviour;
pub use options::{MAX_CLOCK_DRIFT, MAX_TRUSTING_PERIOD, Options, OptionsError, TrustThreshold};
pub use verifier::{TrustedState, Verdict, verify, verify_cached};
pub use voting_power::{
    KeyCache, VerifiedSigners, VotingPowerTally, validate_validator_set, verify_commit_signatures,
};
