//! Validators and validator sets.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::encoding::{Canonical, invalid_data};
use crate::{Error, Hash, PublicKey};

/// Upper bound on total voting power, so that tallies of `power * numerator`
/// never overflow a `u128` and sums never overflow a `u64`.
pub const MAX_TOTAL_VOTING_POWER: u64 = i64::MAX as u64 / 8;

/// Upper bound on the number of validators in a set.
pub const MAX_VALIDATORS: usize = 10_000;

/// One validator: its consensus key and voting power.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validator {
    /// The ed25519 key that signs commits.
    pub pub_key: PublicKey,
    /// Voting power, at least 1.
    pub power: u64,
}

/// A validator set in canonical form: sorted by public key, no duplicates,
/// every power ≥ 1, total power ≤ [`MAX_TOTAL_VOTING_POWER`].
///
/// The canonical form makes the set's hash unique, so a header's
/// `validators_hash` names exactly one set.
///
/// ```
/// use protocol::{PublicKey, Validator, ValidatorSet};
/// let set = ValidatorSet::new(vec![
///     Validator { pub_key: PublicKey([2; 32]), power: 10 },
///     Validator { pub_key: PublicKey([1; 32]), power: 5 },
/// ]).unwrap();
/// assert_eq!(set.total_power(), 15);
/// assert_eq!(set.validators()[0].pub_key, PublicKey([1; 32]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, Serialize, Deserialize)]
#[serde(try_from = "ValidatorSetJson", into = "ValidatorSetJson")]
pub struct ValidatorSet {
    validators: Vec<Validator>,
    #[borsh(skip)]
    total_power: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidatorSetJson {
    validators: Vec<Validator>,
}

impl TryFrom<ValidatorSetJson> for ValidatorSet {
    type Error = Error;
    fn try_from(v: ValidatorSetJson) -> Result<Self, Error> {
        ValidatorSet::new(v.validators)
    }
}

impl From<ValidatorSet> for ValidatorSetJson {
    fn from(v: ValidatorSet) -> Self {
        ValidatorSetJson {
            validators: v.validators,
        }
    }
}

impl ValidatorSet {
    /// Builds a set, sorting by key; refuses empty sets, duplicate keys,
    /// zero power and totals above [`MAX_TOTAL_VOTING_POWER`].
    pub fn new(mut validators: Vec<Validator>) -> Result<ValidatorSet, Error> {
        validators.sort_by_key(|a| a.pub_key);
        Self::from_sorted(validators)
    }

    fn from_sorted(validators: Vec<Validator>) -> Result<ValidatorSet, Error> {
        let bad = |m: String| Error::InvalidValidatorSet(m);
        if validators.is_empty() {
            return Err(bad("empty".into()));
        }
        if validators.len() > MAX_VALIDATORS {
            return Err(bad(format!(
                "{} validators, at most {MAX_VALIDATORS}",
                validators.len()
            )));
        }
        let mut total: u64 = 0;
        for (i, v) in validators.iter().enumerate() {
            if v.power == 0 {
                return Err(bad(format!(
                    "validator {} has zero voting power",
                    v.pub_key
                )));
            }
            if i > 0 && validators[i - 1].pub_key >= v.pub_key {
                return Err(bad(if validators[i - 1].pub_key == v.pub_key {
                    format!("duplicate validator {}", v.pub_key)
                } else {
                    format!("validators not sorted by public key at index {i}")
                }));
            }
            total = total
                .checked_add(v.power)
                .filter(|t| *t <= MAX_TOTAL_VOTING_POWER)
                .ok_or_else(|| {
                    bad(format!(
                        "total voting power exceeds {MAX_TOTAL_VOTING_POWER}"
                    ))
                })?;
        }
        Ok(ValidatorSet {
            validators,
            total_power: total,
        })
    }

    /// The validators, sorted by public key.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// Number of validators.
    pub fn len(&self) -> usize {
        self.validators.len()
    }

    /// Always false: an empty set is refused at construction.
    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    /// Sum of all voting power.
    pub fn total_power(&self) -> u64 {
        self.total_power
    }

    /// The validator with this key, if a member (binary search).
    pub fn get(&self, key: &PublicKey) -> Option<&Validator> {
        self.validators
            .binary_search_by(|v| v.pub_key.cmp(key))
            .ok()
            .map(|i| &self.validators[i])
    }

    /// The position of the validator with this key in [`Self::validators`].
    pub fn index_of(&self, key: &PublicKey) -> Option<usize> {
        self.validators
            .binary_search_by(|v| v.pub_key.cmp(key))
            .ok()
    }

    /// The hash a header commits to in `validators_hash`.
    pub fn hash(&self) -> Hash {
        self.canonical_hash()
    }
}

impl BorshDeserialize for ValidatorSet {
    fn deserialize_reader<R: borsh::io::Read>(reader: &mut R) -> borsh::io::Result<Self> {
        let validators = Vec::<Validator>::deserialize_reader(reader)?;
        // Decoding is strict: an unsorted set has another hash, so refuse it.
        ValidatorSet::from_sorted(validators).map_err(invalid_data)
    }
}

impl Canonical for ValidatorSet {
    const TYPE_NAME: &'static str = "credit-chain/validator-set";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(k: u8, power: u64) -> Validator {
        Validator {
            pub_key: PublicKey([k; 32]),
            power,
        }
    }

    #[test]
    fn structural_rules() {
        assert!(
            ValidatorSet::new(vec![])
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        assert!(
            ValidatorSet::new(vec![v(1, 1), v(1, 2)])
                .unwrap_err()
                .to_string()
                .contains("duplicate")
        );
        assert!(
            ValidatorSet::new(vec![v(1, 0)])
                .unwrap_err()
                .to_string()
                .contains("zero")
        );
        assert!(
            ValidatorSet::new(vec![v(1, MAX_TOTAL_VOTING_POWER), v(2, 1)])
                .unwrap_err()
                .to_string()
                .contains("exceeds")
        );
    }

    #[test]
    fn unsorted_bytes_are_refused_and_order_does_not_change_hash() {
        let a = ValidatorSet::new(vec![v(1, 1), v(2, 2)]).unwrap();
        let b = ValidatorSet::new(vec![v(2, 2), v(1, 1)]).unwrap();
        assert_eq!(a.hash(), b.hash());
        let unsorted = borsh::to_vec(&vec![v(2, 2), v(1, 1)]).unwrap();
        assert!(ValidatorSet::from_canonical_bytes(&unsorted).is_err());
        let back = ValidatorSet::from_canonical_bytes(&a.to_canonical_bytes()).unwrap();
        assert_eq!(back.total_power(), 3);
    }
}
