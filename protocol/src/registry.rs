//! The network registry's wire types: proposals to register, freeze or
//! deregister a chain, and the governance approvals that decide them.
//!
//! A [`Proposal`] is signed by its proposer ([`SignedProposal`]): for
//! [`Proposal::Register`] the proposer is the registration's operator (whose
//! [`ChainRegistration::operator_signature`] must verify as well); for
//! [`Proposal::Freeze`] and [`Proposal::Deregister`] a governance key. A
//! proposal is decided once `k` of the network's `n` governance keys have
//! signed an [`Approval`] of its [`Proposal::id`].
//!
//! Everything signed here starts with its own domain tag, so a signature
//! over one kind of object can never be replayed as another. This module
//! only carries signatures; verifying them is the relayer's
//! (`relayer::registry`), like `light-clients` for commits.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::encoding::Canonical;
use crate::{ChainId, ChainRegistration, Hash, PublicKey, Signature};

/// The id of a proposal: [`Proposal::id`].
pub type ProposalId = Hash;

/// Domain tag of the bytes a proposer signs ([`Proposal::sign_bytes`]).
pub const PROPOSAL_SIGN_TAG: &[u8] = b"credit-chain/registry/proposal/v1";

/// Domain tag of a proposal's id ([`Proposal::id`]).
pub const PROPOSAL_ID_TAG: &[u8] = b"credit-chain/registry/proposal-id/v1";

/// Domain tag of the bytes a governor signs to approve ([`Approval::sign_bytes`]).
pub const APPROVAL_SIGN_TAG: &[u8] = b"credit-chain/registry/approval/v1";

/// A change to the network's registry of chains, to be approved by `k` of
/// the `n` governance keys.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[borsh(use_discriminant = false)]
#[serde(rename_all = "snake_case", tag = "kind", content = "body")]
#[serde(deny_unknown_fields)]
pub enum Proposal {
    /// Add a chain (signed by its operator).
    Register(ChainRegistration),
    /// Stop relaying from and to a registered chain (it stays registered).
    Freeze {
        /// The chain.
        chain_id: ChainId,
        /// Why, for the record.
        reason: String,
    },
    /// Remove a registered (active or frozen) chain.
    Deregister {
        /// The chain.
        chain_id: ChainId,
        /// Why, for the record.
        reason: String,
    },
}

impl Canonical for Proposal {
    const TYPE_NAME: &'static str = "credit-chain/registry/proposal";
}

impl Proposal {
    /// The chain the proposal is about.
    pub fn chain_id(&self) -> &ChainId {
        match self {
            Proposal::Register(r) => &r.chain_id,
            Proposal::Freeze { chain_id, .. } | Proposal::Deregister { chain_id, .. } => chain_id,
        }
    }

    /// `"register"`, `"freeze"` or `"deregister"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Proposal::Register(_) => "register",
            Proposal::Freeze { .. } => "freeze",
            Proposal::Deregister { .. } => "deregister",
        }
    }

    /// The bytes the proposer signs: [`PROPOSAL_SIGN_TAG`], then the borsh
    /// encoding of the kind and content without any signature (for a
    /// registration, its [`ChainRegistration::sign_bytes`]). Leaving the
    /// operator's signature out means that re-signing a registration can
    /// never yield a second proposal with the same content.
    pub fn sign_bytes(&self) -> Vec<u8> {
        let body = match self {
            Proposal::Register(r) => borsh::to_vec(&(0u8, r.sign_bytes())),
            Proposal::Freeze { chain_id, reason } => borsh::to_vec(&(1u8, chain_id, reason)),
            Proposal::Deregister { chain_id, reason } => borsh::to_vec(&(2u8, chain_id, reason)),
        };
        let mut out = PROPOSAL_SIGN_TAG.to_vec();
        // Writing into a Vec cannot fail.
        out.extend(body.unwrap_or_default());
        out
    }

    /// The proposal's id: SHA-256 tagged [`PROPOSAL_ID_TAG`] of its
    /// [`Proposal::sign_bytes`]. Equal content, equal id — whoever signed it.
    pub fn id(&self) -> ProposalId {
        Hash::tagged(PROPOSAL_ID_TAG, &[&self.sign_bytes()])
    }
}

/// A proposal with its proposer's signature over [`Proposal::sign_bytes`].
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedProposal {
    /// What is proposed.
    pub proposal: Proposal,
    /// Who proposes: the operator key of a registration, a governance key
    /// otherwise.
    pub proposer: PublicKey,
    /// The proposer's ed25519 signature over [`Proposal::sign_bytes`].
    pub signature: Signature,
}

impl Canonical for SignedProposal {
    const TYPE_NAME: &'static str = "credit-chain/registry/signed-proposal";
}

impl SignedProposal {
    /// The id of the proposal: [`Proposal::id`].
    pub fn id(&self) -> ProposalId {
        self.proposal.id()
    }
}

/// A governor's approval of one proposal.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The approved proposal's [`Proposal::id`].
    pub proposal_id: ProposalId,
    /// The governance key that approves.
    pub governor: PublicKey,
    /// Its ed25519 signature over [`Approval::sign_bytes`].
    pub signature: Signature,
}

impl Canonical for Approval {
    const TYPE_NAME: &'static str = "credit-chain/registry/approval";
}

impl Approval {
    /// The bytes a governor signs to approve `proposal_id`:
    /// [`APPROVAL_SIGN_TAG`] followed by the 32 bytes of the id.
    pub fn sign_bytes_for(proposal_id: &ProposalId) -> Vec<u8> {
        let mut out = APPROVAL_SIGN_TAG.to_vec();
        out.extend_from_slice(proposal_id.as_bytes());
        out
    }

    /// The bytes this approval's signature covers.
    pub fn sign_bytes(&self) -> Vec<u8> {
        Approval::sign_bytes_for(&self.proposal_id)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{ChainType, Height, TrustAnchor, Validator, ValidatorSet};

    fn registration() -> ChainRegistration {
        ChainRegistration {
            chain_id: "sichuan".parse().unwrap(),
            chain_type: ChainType::CreditChain,
            trust_anchor: TrustAnchor {
                height: Height::new(42).unwrap(),
                header_hash: Hash::digest(b"header"),
                next_validators: ValidatorSet::new(vec![Validator {
                    pub_key: PublicKey([7; 32]),
                    power: 10,
                }])
                .unwrap(),
            },
            operator_key: PublicKey([1; 32]),
            relayer_peer_ids: vec!["12D3KooWExample".into()],
            operator_signature: Signature([9; 64]),
        }
    }

    fn samples() -> Vec<SignedProposal> {
        let sign = |proposal| SignedProposal {
            proposal,
            proposer: PublicKey([2; 32]),
            signature: Signature([3; 64]),
        };
        vec![
            sign(Proposal::Register(registration())),
            sign(Proposal::Freeze {
                chain_id: "sichuan".parse().unwrap(),
                reason: "misbehaviour at 43".into(),
            }),
            sign(Proposal::Deregister {
                chain_id: "sichuan".parse().unwrap(),
                reason: "retired".into(),
            }),
        ]
    }

    #[test]
    fn proposals_round_trip_in_borsh_and_json() {
        for p in samples() {
            let bytes = p.to_canonical_bytes();
            assert_eq!(SignedProposal::from_canonical_bytes(&bytes).unwrap(), p);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<SignedProposal>(&json).unwrap(), p);
            let mut trailing = bytes.clone();
            trailing.push(0);
            assert!(SignedProposal::from_canonical_bytes(&trailing).is_err());
        }
        let a = Approval {
            proposal_id: Hash::digest(b"p"),
            governor: PublicKey([4; 32]),
            signature: Signature([5; 64]),
        };
        assert_eq!(
            Approval::from_canonical_bytes(&a.to_canonical_bytes()).unwrap(),
            a
        );
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["proposal_id"], a.proposal_id.to_string());
    }

    #[test]
    fn the_id_covers_the_content_but_not_the_signatures() {
        let ps = samples();
        let ids: Vec<Hash> = ps.iter().map(SignedProposal::id).collect();
        assert_ne!(ids[0], ids[1]);
        assert_ne!(ids[1], ids[2]);
        // A freeze and a deregister with the same fields differ.
        let freeze = Proposal::Freeze {
            chain_id: "sichuan".parse().unwrap(),
            reason: "x".into(),
        };
        let deregister = Proposal::Deregister {
            chain_id: "sichuan".parse().unwrap(),
            reason: "x".into(),
        };
        assert_ne!(freeze.id(), deregister.id());
        // Re-signing changes nothing; changing a field changes the id.
        let mut r = registration();
        let id = Proposal::Register(r.clone()).id();
        r.operator_signature = Signature([0; 64]);
        assert_eq!(Proposal::Register(r.clone()).id(), id);
        r.relayer_peer_ids.push("12D3KooWOther".into());
        assert_ne!(Proposal::Register(r).id(), id);
        // Approval sign bytes are tagged and bind the id.
        let bytes = Approval::sign_bytes_for(&id);
        assert!(bytes.starts_with(APPROVAL_SIGN_TAG));
        assert!(bytes.ends_with(id.as_bytes()));
        assert!(ps[0].proposal.sign_bytes().starts_with(PROPOSAL_SIGN_TAG));
    }

    #[test]
    fn unknown_proposal_kinds_are_refused() {
        let mut bytes = samples()[1].to_canonical_bytes();
        bytes[0] = 3;
        let err = SignedProposal::from_canonical_bytes(&bytes).unwrap_err();
        assert!(err.to_string().contains("signed-proposal"), "{err}");
    }

    fn decode_is_canonical<T: Canonical>(bytes: &[u8]) {
        if let Ok(v) = T::from_canonical_bytes(bytes) {
            assert_eq!(v.to_canonical_bytes(), bytes, "{}", T::TYPE_NAME);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn random_bytes_never_panic_the_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            decode_is_canonical::<Proposal>(&bytes);
            decode_is_canonical::<SignedProposal>(&bytes);
            decode_is_canonical::<Approval>(&bytes);
            if let Ok(s) = std::str::from_utf8(&bytes) {
                let _ = serde_json::from_str::<SignedProposal>(s);
                let _ = serde_json::from_str::<Approval>(s);
            }
        }

        #[test]
        fn mutated_proposals_never_panic(which in 0usize..3, idx in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
            let mut bytes = samples()[which].to_canonical_bytes();
            let i = idx.index(bytes.len());
            bytes[i] = byte;
            decode_is_canonical::<SignedProposal>(&bytes);
            let len = bytes.len();
            decode_is_canonical::<SignedProposal>(&bytes[..cut.index(len)]);
        }
    }
}
