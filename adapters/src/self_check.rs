//! Checking an endpoint's answer against itself, before it goes anywhere.
//!
//! These checks need no trusted state: they catch endpoints that are broken,
//! misconfigured (another chain) or lying carelessly (a forged signature, a
//! proof that does not match). They do not make anything trusted — a chain
//! that forges a whole validator set passes them; the relay engine's light
//! client, which starts from a trusted header, is what catches that.
//!
//! Each rule is one of `light_clients::credit_chain::predicates` (or a
//! check of the request it answers); [`light_block`] composes them.
//!
//! ```
//! use adapters::self_check;
//! use light_clients::credit_chain::{KeyCache, signing::TestChain};
//! let mut chain = TestChain::new("shaanxi", 4);
//! let block = chain.next_block();
//! let tally = self_check::light_block(
//!     &"shaanxi".parse().unwrap(), block.height(), &block, &mut KeyCache::new(),
//! ).unwrap();
//! assert_eq!((tally.tallied, tally.total), (40, 40));
//! ```

use light_clients::credit_chain::{
    KeyCache, TrustThreshold, VerificationError, VotingPowerTally, predicates as p,
    verify_commit_signatures,
};
use light_clients::merkle::{MerkleError, StateProof};
use protocol::{ChainId, Height, LightBlock};

/// Why an answer does not verify against itself.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelfCheckError {
    /// The answer is for another chain.
    #[error("wrong chain id: expected {expected}, got {got}")]
    WrongChain {
        /// The adapter's chain.
        expected: ChainId,
        /// The answer's chain.
        got: ChainId,
    },
    /// The light block is for another height than asked.
    #[error("light block for height {got}, asked {asked}")]
    WrongHeight {
        /// The height asked.
        asked: Height,
        /// The light block's height.
        got: Height,
    },
    /// The light block breaks one of its own rules.
    #[error("{0}")]
    Invalid(#[from] VerificationError),
    /// The state proof does not verify against the header's state root.
    #[error("state proof at height {height} does not verify against state root: {error}")]
    Proof {
        /// The height of the header.
        height: Height,
        /// What failed.
        error: MerkleError,
    },
}

/// The answer is for `chain_id`.
pub fn is_chain(expected: &ChainId, got: &ChainId) -> Result<(), SelfCheckError> {
    if expected == got {
        Ok(())
    } else {
        Err(SelfCheckError::WrongChain {
            expected: expected.clone(),
            got: got.clone(),
        })
    }
}

/// The light block is at the height asked.
pub fn is_height(asked: Height, block: &LightBlock) -> Result<(), SelfCheckError> {
    if block.height() == asked {
        Ok(())
    } else {
        Err(SelfCheckError::WrongHeight {
            asked,
            got: block.height(),
        })
    }
}

/// Self-verifies a light block: the adapter's chain, the asked height, both
/// validator sets hash to the header's fields, the commit is for this
/// header (height and hash), the proposer is a member, every signature is
/// from a distinct member and verifies, and more than 2/3 of the block's
/// own validator power signed. Returns the tally.
///
/// Decompressed keys are kept in `cache` (by validator-set hash), so a
/// following adapter parses each validator key once.
pub fn light_block(
    chain_id: &ChainId,
    height: Height,
    block: &LightBlock,
    cache: &mut KeyCache,
) -> Result<VotingPowerTally, SelfCheckError> {
    let header = block.header();
    let commit = &block.signed_header.commit;
    is_chain(chain_id, &header.chain_id)?;
    is_height(height, block)?;
    p::validators_match(header, &block.validators)?;
    p::next_validators_match(header, &block.next_validators)?;
    let header_hash = header.hash();
    p::header_matches_commit(header, &header_hash, commit)?;
    p::proposer_is_validator(header, &block.validators)?;
    cache.insert(&block.validators)?;
    let signers = verify_commit_signatures(header, &header_hash, commit, &block.validators, cache)?;
    let tally = signers.tally(&block.validators, TrustThreshold::TWO_THIRDS);
    if tally.is_enough() {
        Ok(tally)
    } else {
        Err(VerificationError::InsufficientSigningPower(tally).into())
    }
}

/// Checks `proof` for `key` having `value` (`None` = absent) against the
/// state root of `block`, which must itself have been self-verified.
pub fn state_proof(
    block: &LightBlock,
    key: &[u8],
    value: Option<&[u8]>,
    proof: &StateProof,
) -> Result<(), SelfCheckError> {
    proof
        .verify(&block.header().state_root, key, value)
        .map_err(|error| SelfCheckError::Proof {
            height: block.height(),
            error,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use light_clients::credit_chain::signing::{Committee, TestChain};
    use light_clients::merkle::StateTree;

    fn chain_id(s: &str) -> ChainId {
        s.parse().unwrap()
    }

    #[test]
    fn honest_block_passes_and_each_forgery_is_named() {
        let mut chain = TestChain::new("shaanxi", 4);
        let block = chain.next_block();
        let id = chain_id("shaanxi");
        let h = block.height();
        let check = |b: &LightBlock| light_block(&id, h, b, &mut KeyCache::new());
        assert!(check(&block).is_ok());

        let err = light_block(&chain_id("beijing"), h, &block, &mut KeyCache::new()).unwrap_err();
        assert!(matches!(err, SelfCheckError::WrongChain { .. }), "{err}");

        let err = light_block(&id, h.increment(), &block, &mut KeyCache::new()).unwrap_err();
        assert!(matches!(err, SelfCheckError::WrongHeight { .. }), "{err}");

        let mut forged = block.clone();
        forged.signed_header.commit.signatures[1].signature.0[0] ^= 1;
        let err = check(&forged).unwrap_err();
        assert!(err.to_string().contains("invalid signature"), "{err}");

        let mut forged = block.clone();
        forged.signed_header.header.state_root = protocol::Hash([9; 32]);
        let err = check(&forged).unwrap_err();
        assert!(err.to_string().contains("commit signs header"), "{err}");

        let mut forged = block.clone();
        forged.validators = Committee::deterministic("other", 4).validator_set().clone();
        let err = check(&forged).unwrap_err();
        assert!(
            err.to_string().contains("validator set hash mismatch"),
            "{err}"
        );

        let mut thin = block.clone();
        thin.signed_header.commit.signatures.truncate(2);
        let err = check(&thin).unwrap_err();
        assert!(err.to_string().contains("20 of 40"), "{err}");
    }

    #[test]
    fn proofs_are_checked_against_the_header_root() {
        let tree = StateTree::from_entries([(b"k".to_vec(), b"v".to_vec())]);
        let mut chain = TestChain::new("shaanxi", 4);
        let mut header = chain.next_header();
        header.state_root = tree.root();
        let block = chain.commit_header(header);
        let present = tree.prove(b"k");
        let absent = tree.prove(b"nope");
        assert!(state_proof(&block, b"k", Some(b"v"), &present).is_ok());
        assert!(state_proof(&block, b"nope", None, &absent).is_ok());
        assert!(state_proof(&block, b"k", Some(b"w"), &present).is_err());
        assert!(state_proof(&block, b"k", None, &present).is_err());
        let other = chain.next_block();
        let err = state_proof(&other, b"k", Some(b"v"), &present).unwrap_err();
        assert!(err.to_string().contains("height 2"), "{err}");
    }
}
