//! A light client of one credit chain: trusted blocks, updates, evidence,
//! freezing, and proofs against trusted state roots.

use std::collections::BTreeMap;
use std::ops::Bound;

use protocol::{ChainId, Hash, Height, LightBlock, Time};

use crate::credit_chain::misbehaviour::verify_from;
use crate::credit_chain::verifier::{Checks, check_trusted_sets, verify_with};
use crate::credit_chain::{
    KeyCache, Misbehaviour, Options, TrustedState, Verdict, VerificationError, VotingPowerTally,
};
use crate::merkle::{
    MembershipProof, MerkleError, NonMembershipProof, verify_membership, verify_non_membership,
};

/// How many trusted blocks a client keeps before dropping the oldest.
pub const DEFAULT_MAX_TRUSTED: usize = 1_000;

/// Why a light client refused an operation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The client holds evidence of misbehaviour and refuses everything
    /// until an operator unfreezes it.
    #[error(
        "light client of {chain_id} is frozen since {kind} evidence at height {height}; an operator must unfreeze it"
    )]
    Frozen {
        /// The chain.
        chain_id: ChainId,
        /// Height of the evidence.
        height: Height,
        /// Kind of misbehaviour.
        kind: &'static str,
    },
    /// The header failed verification.
    #[error("header verification failed: {0}")]
    Verification(#[from] VerificationError),
    /// No trusted block below the height to verify from.
    #[error("no trusted block below height {0} to verify from")]
    NoTrustedStateBelow(Height),
    /// A proof was asked against a height the client does not trust.
    #[error("height {0} is not trusted by this client")]
    UntrustedHeight(Height),
    /// The state proof failed.
    #[error("state proof failed: {0}")]
    Proof(#[from] MerkleError),
    /// Submitted evidence does not hold up.
    #[error("invalid misbehaviour evidence: {0}")]
    InvalidEvidence(VerificationError),
    /// A stored state to restore trusts no block.
    #[error("light client state trusts no block")]
    EmptyState,
    /// A stored state to restore holds blocks of two chains.
    #[error("light client state of {expected} holds a block of {got}")]
    MixedChains {
        /// The chain of its lowest block.
        expected: ChainId,
        /// Another block's chain.
        got: ChainId,
    },
}

/// The result of offering a light block to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// Verified and now trusted.
    Verified {
        /// Its height.
        height: Height,
        /// Its header hash.
        hash: Hash,
    },
    /// The same header was already trusted.
    AlreadyTrusted,
    /// Valid, but too little of the trusted set signed: verify a block in
    /// between first.
    NotEnoughTrust(VotingPowerTally),
    /// The block proves misbehaviour: the client is now frozen.
    Misbehaviour(Box<Misbehaviour>),
}

/// Everything a [`LightClient`] holds, for storage (e.g. in an on-chain
/// client's state): see [`LightClient::to_state`] and
/// [`LightClient::from_state`]. The key cache is not part of it; it is
/// rebuilt on load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LightClientState {
    /// Verification options.
    pub options: Options,
    /// The trusted blocks, lowest height first.
    pub trusted: Vec<LightBlock>,
    /// The evidence the client is frozen on, if frozen.
    pub frozen: Option<Misbehaviour>,
}

/// A light client of one credit chain.
///
/// ```
/// use light_clients::credit_chain::{LightClient, Options, UpdateOutcome};
/// use light_clients::credit_chain::signing::TestChain;
/// let mut chain = TestChain::new("guangdong", 4);
/// let anchor = chain.next_block();
/// let mut client = LightClient::new(anchor, Options::default(), chain.next_header().time).unwrap();
/// let block = chain.skip(5);
/// let now = block.header().time;
/// assert!(matches!(client.update(block, now).unwrap(), UpdateOutcome::Verified { .. }));
/// assert_eq!(client.latest_height().value(), 6);
/// ```
#[derive(Clone, Debug)]
pub struct LightClient {
    chain_id: ChainId,
    options: Options,
    trusted: BTreeMap<Height, LightBlock>,
    frozen: Option<Misbehaviour>,
    max_trusted: usize,
    keys: KeyCache,
}

impl LightClient {
    /// A client trusting `anchor`, which must be internally consistent
    /// (its validator-set hashes and commit match, more than 2/3 of its own
    /// set signed) and within the trusting period at `now`.
    pub fn new(
        anchor: LightBlock,
        options: Options,
        now: Time,
    ) -> Result<LightClient, ClientError> {
        check_anchor(&anchor, &options, now)?;
        let chain_id = anchor.header().chain_id.clone();
        let mut keys = KeyCache::new();
        // `check_anchor` validated the set's keys: this cannot fail.
        let _ = keys.insert(&anchor.next_validators);
        let mut trusted = BTreeMap::new();
        trusted.insert(anchor.height(), anchor);
        Ok(LightClient {
            chain_id,
            options,
            trusted,
            frozen: None,
            max_trusted: DEFAULT_MAX_TRUSTED,
            keys,
        })
    }

    /// The client's state for storage: options, trusted blocks (lowest
    /// height first) and evidence.
    ///
    /// ```
    /// use light_clients::credit_chain::{LightClient, Options};
    /// use light_clients::credit_chain::signing::TestChain;
    /// let mut chain = TestChain::new("guangdong", 4);
    /// let anchor = chain.next_block();
    /// let client = LightClient::new(anchor, Options::default(), chain.next_header().time).unwrap();
    /// let again = LightClient::from_state(client.to_state()).unwrap();
    /// assert_eq!(again.to_state(), client.to_state());
    /// let mut empty = client.to_state();
    /// empty.trusted.clear();
    /// assert!(LightClient::from_state(empty).is_err());
    /// ```
    pub fn to_state(&self) -> LightClientState {
        LightClientState {
            options: self.options,
            trusted: self.trusted.values().cloned().collect(),
            frozen: self.frozen.clone(),
        }
    }

    /// Restores a client saved with [`LightClient::to_state`], without
    /// re-verifying signatures: the caller vouches that the state came from
    /// a client. What is cheap to check is checked all the same: the state
    /// trusts at least one block, all of one chain, each with the validator
    /// sets its header names ([`TrustedState::check`]), under options
    /// within bounds.
    pub fn from_state(state: LightClientState) -> Result<LightClient, ClientError> {
        state.options.validate().map_err(VerificationError::from)?;
        let chain_id = state
            .trusted
            .first()
            .ok_or(ClientError::EmptyState)?
            .header()
            .chain_id
            .clone();
        for block in &state.trusted {
            if block.header().chain_id != chain_id {
                return Err(ClientError::MixedChains {
                    expected: chain_id,
                    got: block.header().chain_id.clone(),
                });
            }
            check_consistent(block)?;
        }
        let mut keys = KeyCache::new();
        let trusted: BTreeMap<Height, LightBlock> =
            state.trusted.into_iter().map(|b| (b.height(), b)).collect();
        if let Some((_, latest)) = trusted.last_key_value() {
            // Only an optimisation: a set with a bad key is refused when it
            // signs.
            let _ = keys.insert(&latest.next_validators);
        }
        Ok(LightClient {
            chain_id,
            options: state.options,
            trusted,
            frozen: state.frozen,
            max_trusted: DEFAULT_MAX_TRUSTED,
            keys,
        })
    }

    /// The chain this client follows.
    pub fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }

    /// The verification options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The highest trusted block.
    pub fn latest(&self) -> &LightBlock {
        // The map is never empty: created with an anchor, pruning keeps one.
        match self.trusted.last_key_value() {
            Some((_, b)) => b,
            None => unreachable!("a light client always trusts at least one block"),
        }
    }

    /// The highest trusted height.
    pub fn latest_height(&self) -> Height {
        self.latest().height()
    }

    /// The trusted block at `height`, if any.
    pub fn trusted_at(&self, height: Height) -> Option<&LightBlock> {
        self.trusted.get(&height)
    }

    /// The evidence the client is frozen on, if frozen.
    pub fn frozen(&self) -> Option<&Misbehaviour> {
        self.frozen.as_ref()
    }

    fn ensure_active(&self) -> Result<(), ClientError> {
        match &self.frozen {
            None => Ok(()),
            Some(ev) => Err(ClientError::Frozen {
                chain_id: self.chain_id.clone(),
                height: ev.height(),
                kind: ev.kind(),
            }),
        }
    }

    /// The lowest block the client trusts (heights below it can only be
    /// verified backwards, by hash chain).
    pub fn lowest_trusted(&self) -> &LightBlock {
        match self.trusted.first_key_value() {
            Some((_, block)) => block,
            // Built with an anchor, never emptied below one block.
            None => unreachable!("a light client always trusts a block"),
        }
    }

    /// The highest trusted block below `height`, if any.
    pub fn trusted_below(&self, height: Height) -> Option<&LightBlock> {
        self.trusted.range(..height).next_back().map(|(_, b)| b)
    }

    fn trusted_above(&self, height: Height) -> Option<&LightBlock> {
        self.trusted
            .range((Bound::Excluded(height), Bound::Unbounded))
            .next()
            .map(|(_, b)| b)
    }

    /// Verifies `block` from the nearest trusted block below it and trusts
    /// it on success. A block that conflicts with a trusted one, or breaks
    /// time monotonicity, while validly signed, freezes the client.
    pub fn update(&mut self, block: LightBlock, now: Time) -> Result<UpdateOutcome, ClientError> {
        self.ensure_active()?;
        if block.header().chain_id != self.chain_id {
            return Err(VerificationError::ChainIdMismatch {
                expected: self.chain_id.clone(),
                got: block.header().chain_id.clone(),
            }
            .into());
        }
        let height = block.height();
        if let Some(existing) = self.trusted.get(&height) {
            if existing.header() == block.header() {
                return Ok(UpdateOutcome::AlreadyTrusted);
            }
            let existing = existing.clone();
            self.check_signed_by_trusted(&block, now)?;
            return Ok(self.freeze(Misbehaviour::ConflictingHeaders {
                first: Box::new(existing),
                second: Box::new(block),
            }));
        }
        let base_block = self
            .trusted_below(height)
            .ok_or(ClientError::NoTrustedStateBelow(height))?
            .clone();
        let base = TrustedState::from(base_block.clone());
        match verify_with(
            &base,
            &block,
            &self.options,
            now,
            Checks {
                monotonic_time: true,
            },
            &self.keys,
        ) {
            Verdict::Success => {}
            Verdict::NotEnoughTrust(tally) => return Ok(UpdateOutcome::NotEnoughTrust(tally)),
            Verdict::Invalid(VerificationError::NonIncreasingTime { .. }) => {
                // Forged, or validly signed and so evidence? Re-check without
                // the time rule to tell which.
                verify_from(&base, &block, &self.options, now)?;
                return Ok(self.freeze(Misbehaviour::NonMonotonicTime {
                    earlier: Box::new(base_block),
                    later: Box::new(block),
                }));
            }
            Verdict::Invalid(e) => return Err(e.into()),
        }
        if let Some(above) = self.trusted_above(height)
            && above.header().time <= block.header().time
        {
            let later = above.clone();
            return Ok(self.freeze(Misbehaviour::NonMonotonicTime {
                earlier: Box::new(block),
                later: Box::new(later),
            }));
        }
        let hash = block.header().hash();
        let _ = self.keys.insert(&block.next_validators);
        self.trusted.insert(height, block);
        while self.trusted.len() > self.max_trusted {
            self.trusted.pop_first();
        }
        Ok(UpdateOutcome::Verified { height, hash })
    }

    /// Accepts evidence found elsewhere (e.g. by another relayer): if it
    /// verifies from a trusted block below it, the client freezes.
    pub fn submit_misbehaviour(
        &mut self,
        evidence: Misbehaviour,
        now: Time,
    ) -> Result<(), ClientError> {
        if self.frozen.is_some() {
            return Ok(());
        }
        evidence
            .check_shape()
            .map_err(ClientError::InvalidEvidence)?;
        let (a, b) = evidence.blocks();
        self.check_signed_by_trusted(a, now)?;
        self.check_signed_by_trusted(b, now)?;
        self.freeze(evidence);
        Ok(())
    }

    /// Whether `block` carries the authority of validators this client
    /// trusts (time monotonicity aside): it is a trusted block, or verifies
    /// from the nearest trusted block below it, or, at the lowest trusted
    /// height, is signed by more than 2/3 of the same validator set as the
    /// trusted block there.
    fn check_signed_by_trusted(&self, block: &LightBlock, now: Time) -> Result<(), ClientError> {
        let height = block.height();
        if self
            .trusted
            .get(&height)
            .is_some_and(|t| t.header() == block.header())
        {
            return Ok(());
        }
        if let Some(below) = self.trusted_below(height) {
            verify_from(
                &TrustedState::from(below.clone()),
                block,
                &self.options,
                now,
            )
            .map_err(ClientError::InvalidEvidence)?;
            return Ok(());
        }
        match self.trusted.get(&height) {
            Some(same) if same.header().validators_hash == block.header().validators_hash => {
                check_anchor(block, &self.options, now)
            }
            Some(same) => Err(ClientError::InvalidEvidence(
                VerificationError::ValidatorsHashMismatch {
                    header: block.header().validators_hash,
                    computed: same.header().validators_hash,
                },
            )),
            None => Err(ClientError::NoTrustedStateBelow(height)),
        }
    }

    fn freeze(&mut self, evidence: Misbehaviour) -> UpdateOutcome {
        self.frozen = Some(evidence.clone());
        UpdateOutcome::Misbehaviour(Box::new(evidence))
    }

    /// The explicit operator action that ends a freeze: the operator, having
    /// resolved the fork out of band, names a new trust anchor. Every block
    /// trusted before is dropped; the evidence is returned for the record.
    pub fn unfreeze(
        &mut self,
        new_anchor: LightBlock,
        now: Time,
    ) -> Result<Option<Misbehaviour>, ClientError> {
        if new_anchor.header().chain_id != self.chain_id {
            return Err(VerificationError::ChainIdMismatch {
                expected: self.chain_id.clone(),
                got: new_anchor.header().chain_id.clone(),
            }
            .into());
        }
        check_anchor(&new_anchor, &self.options, now)?;
        self.trusted.clear();
        self.trusted.insert(new_anchor.height(), new_anchor);
        Ok(self.frozen.take())
    }

    fn trusted_root(&self, height: Height) -> Result<Hash, ClientError> {
        self.ensure_active()?;
        self.trusted
            .get(&height)
            .map(|b| b.header().state_root)
            .ok_or(ClientError::UntrustedHeight(height))
    }

    /// Verifies that `key` has `value` in the state at a trusted `height`.
    pub fn verify_membership(
        &self,
        height: Height,
        key: &[u8],
        value: &[u8],
        proof: &MembershipProof,
    ) -> Result<(), ClientError> {
        let root = self.trusted_root(height)?;
        Ok(verify_membership(&root, key, value, proof)?)
    }

    /// Verifies that `key` is absent from the state at a trusted `height`.
    pub fn verify_non_membership(
        &self,
        height: Height,
        key: &[u8],
        proof: &NonMembershipProof,
    ) -> Result<(), ClientError> {
        let root = self.trusted_root(height)?;
        Ok(verify_non_membership(&root, key, proof)?)
    }
}

/// A trusted block's validator sets are the ones its header names.
fn check_consistent(block: &LightBlock) -> Result<(), VerificationError> {
    check_trusted_sets(block.header(), &block.validators, &block.next_validators)
}

/// An anchor must be self-consistent: its validator sets match its header
/// and have sound keys, its commit signs it, and more than 2/3 of its own
/// set signed; and the options must be within bounds.
fn check_anchor(anchor: &LightBlock, options: &Options, now: Time) -> Result<(), ClientError> {
    use crate::credit_chain::predicates as p;
    use crate::credit_chain::{TrustThreshold, validate_validator_set, verify_commit_signatures};
    let header = anchor.header();
    let hash = header.hash();
    options.validate().map_err(VerificationError::from)?;
    p::is_within_trust_period(header, options.trusting_period, now)?;
    p::validators_match(header, &anchor.validators)?;
    p::next_validators_match(header, &anchor.next_validators)?;
    validate_validator_set(&anchor.next_validators)?;
    p::header_matches_commit(header, &hash, &anchor.signed_header.commit)?;
    let signers = verify_commit_signatures(
        header,
        &hash,
        &anchor.signed_header.commit,
        &anchor.validators,
        &KeyCache::new(),
    )?;
    let own = signers.tally(&anchor.validators, TrustThreshold::TWO_THIRDS);
    if !own.is_enough() {
        return Err(VerificationError::InsufficientSigningPower(own).into());
    }
    Ok(())
}
