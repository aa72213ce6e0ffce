//! Credit-chain block headers, commits and light blocks.
//!
//! Their JSON is parsed strictly (`deny_unknown_fields`): a field no
//! signature covers must not be shown to a reader as part of a signed block.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::encoding::Canonical;
use crate::{ChainId, Hash, Height, PublicKey, Signature, Time, ValidatorSet};

/// A credit-chain block header. Its hash (see [`Header::hash`]) is what
/// validators sign and what the next header links to.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// The chain this block belongs to.
    pub chain_id: ChainId,
    /// Block height, from 1.
    pub height: Height,
    /// Block time, chosen by the proposer; strictly increasing.
    pub time: Time,
    /// Hash of the previous header ([`Hash::ZERO`] at genesis).
    pub last_header_hash: Hash,
    /// Root of the key-value state after this block (the app hash).
    pub state_root: Hash,
    /// Root of this block's transactions.
    pub transactions_root: Hash,
    /// Hash of the validator set that signs this block.
    pub validators_hash: Hash,
    /// Hash of the validator set that signs the next block.
    pub next_validators_hash: Hash,
    /// The validator that proposed this block.
    pub proposer: PublicKey,
}

impl Canonical for Header {
    const TYPE_NAME: &'static str = "credit-chain/header";
}

impl Header {
    /// SHA-256 over the canonical encoding, domain-tagged.
    pub fn hash(&self) -> Hash {
        self.canonical_hash()
    }
}

/// One validator's signature in a commit.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitSig {
    /// The signer; must be a member of the block's validator set.
    pub validator: PublicKey,
    /// ed25519 signature over [`vote_sign_bytes`].
    pub signature: Signature,
}

/// The signatures that commit a header.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Commit {
    /// Height of the committed header.
    pub height: Height,
    /// Hash of the committed header.
    pub header_hash: Hash,
    /// Signatures of the validators that voted for it.
    pub signatures: Vec<CommitSig>,
}

impl Canonical for Commit {
    const TYPE_NAME: &'static str = "credit-chain/commit";
}

/// The exact bytes a validator signs to commit a header: a domain tag, then
/// the chain id, height and header hash in canonical encoding. Binding the
/// chain id and height stops a signature being replayed on another chain or
/// at another height.
///
/// ```
/// use protocol::{vote_sign_bytes, Hash, Height};
/// let a = vote_sign_bytes(&"shaanxi".parse().unwrap(), Height::GENESIS, &Hash::ZERO);
/// let b = vote_sign_bytes(&"beijing".parse().unwrap(), Height::GENESIS, &Hash::ZERO);
/// assert_ne!(a, b);
/// ```
pub fn vote_sign_bytes(chain_id: &ChainId, height: Height, header_hash: &Hash) -> Vec<u8> {
    const TAG: &[u8] = b"credit-chain/vote/v1";
    let mut out = Vec::with_capacity(TAG.len() + 4 + chain_id.as_str().len() + 8 + 32);
    out.extend_from_slice(TAG);
    out.extend_from_slice(&chain_id.to_canonical_bytes());
    out.extend_from_slice(&height.value().to_le_bytes());
    out.extend_from_slice(header_hash.as_bytes());
    out
}

/// A header with the commit that signs it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedHeader {
    /// The header.
    pub header: Header,
    /// Its commit.
    pub commit: Commit,
}

impl Canonical for SignedHeader {
    const TYPE_NAME: &'static str = "credit-chain/signed-header";
}

/// What a light client needs to verify one block: the signed header and the
/// validator sets its hashes name.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LightBlock {
    /// Header and commit.
    pub signed_header: SignedHeader,
    /// The set that signed it (hash = `header.validators_hash`).
    pub validators: ValidatorSet,
    /// The set for the next block (hash = `header.next_validators_hash`).
    pub next_validators: ValidatorSet,
}

impl Canonical for LightBlock {
    const TYPE_NAME: &'static str = "credit-chain/light-block";
}

impl LightBlock {
    /// The header.
    pub fn header(&self) -> &Header {
        &self.signed_header.header
    }

    /// The height.
    pub fn height(&self) -> Height {
        self.signed_header.header.height
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            chain_id: "shaanxi".parse().unwrap(),
            height: Height::GENESIS,
            time: Time::from_unix_nanos(1),
            last_header_hash: Hash::ZERO,
            state_root: Hash::ZERO,
            transactions_root: Hash::ZERO,
            validators_hash: Hash::ZERO,
            next_validators_hash: Hash::ZERO,
            proposer: PublicKey([1; 32]),
        }
    }

    #[test]
    fn a_header_with_an_unknown_field_is_refused_by_name() {
        let mut v = serde_json::to_value(header()).unwrap();
        assert_eq!(
            serde_json::from_value::<Header>(v.clone()).unwrap(),
            header()
        );
        v["approved_by_regulator"] = serde_json::json!(true);
        let err = serde_json::from_value::<Header>(v).unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown field `approved_by_regulator`"),
            "{err}"
        );
        let sig = CommitSig {
            validator: PublicKey([1; 32]),
            signature: Signature([2; 64]),
        };
        let mut v = serde_json::to_value(&sig).unwrap();
        v["weight"] = serde_json::json!(100);
        assert!(serde_json::from_value::<CommitSig>(v).is_err());
    }
}
