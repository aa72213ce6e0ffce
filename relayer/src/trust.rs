//! Where the relayer's trust in a chain starts, and the pure checks that
//! extend it.
//!
//! A light client verifies new headers from headers it already trusts; the
//! first trusted header must come from the operator, never from an endpoint
//! or a peer. That is the chain's [`Anchor`]: a height and a header hash,
//! from the relayer's config, the chain's registration in the network
//! registry, or `relayer chains trust`. The block an endpoint serves at
//! the anchor's height is trusted only if it hashes to the anchor; nothing
//! an endpoint, a peer or a request says ever moves the anchor.
//!
//! Heights below the lowest block the client trusts are verified backwards
//! ([`verify_backwards`]): each header's hash is the next one's
//! `last_header_hash`, down a bounded number of blocks, or refused.

use std::fmt;
use std::str::FromStr;

use light_clients::credit_chain::{ClientError, Options, VerificationError};
use protocol::{Hash, Height, LightBlock};

use crate::clock::SharedClock;

/// How many blocks below its lowest trusted block the relayer walks back
/// along the hash chain to verify an older height; lower is refused. Bounds
/// the work one request (e.g. a peer's proof at an old height) can cause.
pub const MAX_BACKWARD_BLOCKS: u64 = 128;

/// The operator's root of trust in a chain: the header at `height` hashes
/// to `header_hash`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    borsh::BorshSerialize,
    borsh::BorshDeserialize,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Anchor {
    /// Height of the trusted header.
    pub height: Height,
    /// Its hash.
    pub header_hash: Hash,
}

impl fmt::Display for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.header_hash, self.height)
    }
}

/// Why an anchor given as text is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    /// The height is not a block height (a positive integer).
    #[error("trust anchor height {0:?} is not a block height (a positive integer)")]
    Height(String),
    /// The hash is not 64 hex digits.
    #[error("trust anchor hash {0:?} is not a header hash (64 hex digits)")]
    Hash(String),
}

impl Anchor {
    /// An anchor from an operator's text: a height and a 64-hex-digit hash.
    pub fn parse(height: &str, hash: &str) -> Result<Anchor, AnchorError> {
        let height = height
            .trim()
            .parse::<u64>()
            .ok()
            .and_then(|h| Height::new(h).ok())
            .ok_or_else(|| AnchorError::Height(height.to_owned()))?;
        let header_hash = parse_hash(hash).ok_or_else(|| AnchorError::Hash(hash.to_owned()))?;
        Ok(Anchor {
            height,
            header_hash,
        })
    }

    /// Whether `block` is the anchored block.
    pub fn matches(&self, block: &LightBlock) -> bool {
        block.height() == self.height && block.header().hash() == self.header_hash
    }

    /// The anchor at `block` (what a devnet that started the chain itself
    /// may record).
    pub fn of(block: &LightBlock) -> Anchor {
        Anchor {
            height: block.height(),
            header_hash: block.header().hash(),
        }
    }
}

fn parse_hash(text: &str) -> Option<Hash> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    Hash::from_str(text).ok()
}

/// What the relayer's light client of one chain starts from and measures
/// time with.
#[derive(Clone, Debug)]
pub struct ChainTrust {
    /// The operator's anchor.
    pub anchor: Anchor,
    /// The light client's parameters (trust threshold, trusting period,
    /// clock drift).
    pub options: Options,
    /// The local clock: the only "now" verification reads.
    pub clock: SharedClock,
}

/// The kind of a refusal, as the `reason` label of
/// `relayer_light_blocks_refused_total` names it (few values, so the
/// label stays small).
pub fn refusal_kind(error: &ClientError) -> &'static str {
    match error {
        ClientError::Verification(VerificationError::HeaderFromFuture { .. }) => "from_future",
        ClientError::Verification(VerificationError::TrustedHeaderExpired { .. }) => {
            "trust_expired"
        }
        ClientError::Frozen { .. } => "frozen",
        _ => "invalid",
    }
}

/// Why a backward walk refused a block.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackwardError {
    /// The height is further below the lowest trusted block than the walk
    /// may go.
    #[error(
        "height {height} is {depth} blocks below the lowest trusted block {lowest}: at most {MAX_BACKWARD_BLOCKS} are verified backwards"
    )]
    TooDeep {
        /// The height asked.
        height: Height,
        /// The lowest trusted height.
        lowest: Height,
        /// How far below it.
        depth: u64,
    },
    /// A block's hash is not its successor's `last_header_hash`.
    #[error("block {height} does not hash to the last_header_hash of block {next}")]
    BrokenChain {
        /// The refused block.
        height: Height,
        /// Its trusted successor.
        next: Height,
    },
    /// A block's validator sets do not hash to its header's fields.
    #[error("block {0}'s validator sets do not match its header")]
    Validators(Height),
    /// A block is not at the height it was fetched for.
    #[error("block served for height {asked} is at height {got}")]
    WrongHeight {
        /// The height asked.
        asked: Height,
        /// The block's height.
        got: Height,
    },
}

/// How many blocks a walk from `lowest` down to `height` fetches, or why
/// it may not be walked.
pub fn backward_depth(height: Height, lowest: Height) -> Result<u64, BackwardError> {
    let depth = lowest.value().saturating_sub(height.value());
    if depth > MAX_BACKWARD_BLOCKS {
        return Err(BackwardError::TooDeep {
            height,
            lowest,
            depth,
        });
    }
    Ok(depth)
}

/// Checks that `older` is the block just below the trusted `next`: at the
/// height below it, hashing to `next`'s `last_header_hash`, with validator
/// sets matching its header. A block that passes is as trusted as `next`
/// (the hash chain is what `next`'s signers signed).
pub fn verify_predecessor(older: &LightBlock, next: &LightBlock) -> Result<(), BackwardError> {
    let asked = Height::new(next.height().value().saturating_sub(1)).map_err(|_| {
        BackwardError::WrongHeight {
            asked: next.height(),
            got: older.height(),
        }
    })?;
    if older.height() != asked {
        return Err(BackwardError::WrongHeight {
            asked,
            got: older.height(),
        });
    }
    if older.header().hash() != next.header().last_header_hash {
        return Err(BackwardError::BrokenChain {
            height: older.height(),
            next: next.height(),
        });
    }
    if older.validators.hash() != older.header().validators_hash
        || older.next_validators.hash() != older.header().next_validators_hash
    {
        return Err(BackwardError::Validators(older.height()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use light_clients::credit_chain::signing::{Committee, TestChain};

    use super::*;

    #[test]
    fn an_anchor_parses_from_text_and_names_what_is_wrong() {
        let hash = "ab".repeat(32);
        let anchor = Anchor::parse("7", &hash).unwrap();
        assert_eq!(anchor.height.value(), 7);
        assert_eq!(anchor.header_hash.to_string(), hash);
        assert_eq!(
            Anchor::parse("0", &hash),
            Err(AnchorError::Height("0".into()))
        );
        assert_eq!(
            Anchor::parse("x", &hash),
            Err(AnchorError::Height("x".into()))
        );
        assert_eq!(
            Anchor::parse("7", "abc"),
            Err(AnchorError::Hash("abc".into()))
        );
    }

    #[test]
    fn a_backward_walk_accepts_the_hash_chain_and_nothing_else() {
        let mut chain = TestChain::new("shaanxi", 4);
        let first = chain.next_block();
        let second = chain.next_block();
        let third = chain.next_block();
        verify_predecessor(&second, &third).unwrap();
        verify_predecessor(&first, &second).unwrap();
        // Not the predecessor.
        assert!(matches!(
            verify_predecessor(&first, &third),
            Err(BackwardError::WrongHeight { .. })
        ));
        // A forged block at the right height: block 2 with another state.
        let mut forged = second.clone();
        forged.signed_header.header.state_root = Hash::ZERO;
        assert_eq!(
            verify_predecessor(&forged, &third),
            Err(BackwardError::BrokenChain {
                height: second.height(),
                next: third.height()
            })
        );
        // Its validators swapped for outsiders while the header stays genuine.
        let mut swapped = second.clone();
        swapped.validators = Committee::deterministic("outsiders", 4)
            .validator_set()
            .clone();
        assert_eq!(
            verify_predecessor(&swapped, &third),
            Err(BackwardError::Validators(second.height()))
        );
    }

    #[test]
    fn the_walk_is_bounded() {
        let h = |v| Height::new(v).unwrap();
        assert_eq!(backward_depth(h(10), h(12)), Ok(2));
        assert!(matches!(
            backward_depth(h(1), h(MAX_BACKWARD_BLOCKS + 2)),
            Err(BackwardError::TooDeep { .. })
        ));
    }
}
