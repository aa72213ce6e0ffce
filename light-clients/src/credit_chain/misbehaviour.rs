//! Evidence that a chain's validators signed what they must not have.

use protocol::{Header, Height, LightBlock, Time};
use serde::{Deserialize, Serialize};

use crate::credit_chain::KeyCache;
use crate::credit_chain::verifier::{Checks, verify_with};
use crate::credit_chain::{Options, TrustedState, Verdict, VerificationError};

/// Two validly signed light blocks that cannot both be honest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum Misbehaviour {
    /// Two different headers committed at the same height (a fork).
    ConflictingHeaders {
        /// One block.
        first: Box<LightBlock>,
        /// Another block at the same height with a different hash.
        second: Box<LightBlock>,
    },
    /// A header at a greater height whose time is not after an earlier
    /// header's time: BFT time must strictly increase.
    NonMonotonicTime {
        /// The lower block.
        earlier: Box<LightBlock>,
        /// The higher block, with a time not after `earlier`'s.
        later: Box<LightBlock>,
    },
}

impl Misbehaviour {
    /// The lowest height involved.
    pub fn height(&self) -> Height {
        match self {
            Misbehaviour::ConflictingHeaders { first, .. } => first.height(),
            Misbehaviour::NonMonotonicTime { earlier, .. } => earlier.height(),
        }
    }

    /// A short name of the kind of misbehaviour.
    pub fn kind(&self) -> &'static str {
        match self {
            Misbehaviour::ConflictingHeaders { .. } => "conflicting headers",
            Misbehaviour::NonMonotonicTime { .. } => "non-monotonic time",
        }
    }

    /// The two blocks.
    pub fn blocks(&self) -> (&LightBlock, &LightBlock) {
        match self {
            Misbehaviour::ConflictingHeaders { first, second } => (first, second),
            Misbehaviour::NonMonotonicTime { earlier, later } => (earlier, later),
        }
    }

    /// Checks the evidence is real: the blocks do conflict, and each is
    /// either `trusted` itself or verifies from `trusted` (time monotonicity
    /// aside, which is what such evidence breaks).
    pub fn verify(
        &self,
        trusted: &TrustedState,
        options: &Options,
        now: Time,
    ) -> Result<(), VerificationError> {
        trusted.check()?;
        self.check_shape()?;
        let (a, b) = self.blocks();
        for block in [a, b] {
            verify_from(trusted, block, options, now)?;
        }
        Ok(())
    }

    /// Checks the two blocks do conflict, without checking signatures.
    pub fn check_shape(&self) -> Result<(), VerificationError> {
        let (a, b) = self.blocks();
        match self {
            Misbehaviour::ConflictingHeaders { .. } => {
                if a.height() != b.height() {
                    return Err(VerificationError::InvalidOptions(format!(
                        "conflicting-headers evidence at two heights {} and {}",
                        a.height(),
                        b.height()
                    )));
                }
                if a.header().hash() == b.header().hash() {
                    return Err(VerificationError::InvalidOptions(
                        "conflicting-headers evidence holds the same header twice".into(),
                    ));
                }
            }
            Misbehaviour::NonMonotonicTime { .. } => {
                if b.height() <= a.height() || b.header().time > a.header().time {
                    return Err(VerificationError::InvalidOptions(format!(
                        "no time violation: height {} at {} then height {} at {}",
                        a.height(),
                        a.header().time,
                        b.height(),
                        b.header().time
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The block is the trusted header itself, or verifies from it ignoring
/// time monotonicity; anything short of that is not evidence.
pub(crate) fn verify_from(
    trusted: &TrustedState,
    block: &LightBlock,
    options: &Options,
    now: Time,
) -> Result<(), VerificationError> {
    if is_trusted_header(trusted, block.header()) {
        return Ok(());
    }
    match verify_with(
        trusted,
        block,
        options,
        now,
        Checks {
            monotonic_time: false,
        },
        &KeyCache::new(),
    ) {
        Verdict::Success => Ok(()),
        Verdict::NotEnoughTrust(tally) => Err(VerificationError::InsufficientSigningPower(tally)),
        Verdict::Invalid(e) => Err(e),
    }
}

fn is_trusted_header(trusted: &TrustedState, header: &Header) -> bool {
    trusted.header == *header
}
