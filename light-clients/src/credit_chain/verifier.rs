//! Composes the predicates into a verdict on one untrusted light block.

use protocol::{Header, LightBlock, Time, ValidatorSet};
use serde::{Deserialize, Serialize};

use crate::credit_chain::predicates as p;
use crate::credit_chain::voting_power::{
    KeyCache, validate_validator_set, verify_commit_signatures,
};
use crate::credit_chain::{Options, TrustThreshold, VerificationError, VotingPowerTally};

/// What a light client trusts about a chain: a verified header and the
/// validator sets it names.
///
/// In JSON this is `{ "header": …, "validators": …, "next_validators": … }`;
/// a whole light block (with `signed_header`) is accepted as well, since a
/// light block verified earlier is exactly a trusted state. Either form is
/// parsed strictly: an unknown field is refused, by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TrustedState {
    /// The trusted header.
    pub header: Header,
    /// The set that signed it.
    pub validators: ValidatorSet,
    /// The set that signs the next header; skipping verification counts
    /// trust against this set.
    pub next_validators: ValidatorSet,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustedStateJson {
    header: Header,
    validators: ValidatorSet,
    next_validators: ValidatorSet,
}

impl<'de> Deserialize<'de> for TrustedState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Pick the form by its distinguishing field, so that an error names
        // the field at fault (an untagged enum would only say "no variant").
        let value = serde_json::Value::deserialize(d)?;
        let is_light_block = value.get("signed_header").is_some();
        let parsed = if is_light_block {
            serde_json::from_value::<LightBlock>(value).map(TrustedState::from)
        } else {
            serde_json::from_value::<TrustedStateJson>(value).map(|j| TrustedState {
                header: j.header,
                validators: j.validators,
                next_validators: j.next_validators,
            })
        };
        parsed.map_err(serde::de::Error::custom)
    }
}

impl TrustedState {
    /// Checks that the validator sets are those the header names: a
    /// trusted state is only as good as this link, since skipping
    /// verification counts trust against `next_validators`.
    ///
    /// ```
    /// use light_clients::credit_chain::{TrustedState, VerificationError};
    /// use light_clients::credit_chain::signing::{Committee, TestChain};
    /// let mut chain = TestChain::new("shaanxi", 4);
    /// let mut trusted = TrustedState::from(chain.next_block());
    /// assert!(trusted.check().is_ok());
    /// trusted.next_validators = Committee::deterministic("outsiders", 4).validator_set().clone();
    /// assert!(matches!(
    ///     trusted.check(),
    ///     Err(VerificationError::TrustedNextValidatorsMismatch { .. })
    /// ));
    /// ```
    pub fn check(&self) -> Result<(), VerificationError> {
        check_trusted_sets(&self.header, &self.validators, &self.next_validators)
    }
}

/// [`TrustedState::check`] on borrowed parts.
pub(crate) fn check_trusted_sets(
    header: &Header,
    validators: &ValidatorSet,
    next_validators: &ValidatorSet,
) -> Result<(), VerificationError> {
    let computed = validators.hash();
    if computed != header.validators_hash {
        return Err(VerificationError::TrustedValidatorsMismatch {
            height: header.height,
            header: header.validators_hash,
            computed,
        });
    }
    let computed = next_validators.hash();
    if computed != header.next_validators_hash {
        return Err(VerificationError::TrustedNextValidatorsMismatch {
            height: header.height,
            header: header.next_validators_hash,
            computed,
        });
    }
    Ok(())
}

impl From<LightBlock> for TrustedState {
    fn from(lb: LightBlock) -> Self {
        TrustedState {
            header: lb.signed_header.header,
            validators: lb.validators,
            next_validators: lb.next_validators,
        }
    }
}

/// The outcome of verifying one header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The header is verified and may be trusted.
    Success,
    /// Correctly signed by its own validators, but too little of the
    /// trusted set signed to skip to it: verify an intermediate header first.
    NotEnoughTrust(VotingPowerTally),
    /// The header must not be trusted, for the reason given.
    Invalid(VerificationError),
}

impl From<Result<(), VerificationError>> for Verdict {
    fn from(r: Result<(), VerificationError>) -> Self {
        match r {
            Ok(()) => Verdict::Success,
            Err(e) => Verdict::Invalid(e),
        }
    }
}

/// Which rules to apply; misbehaviour detection re-runs verification
/// without the time rule to tell a forged header from a validly signed one
/// that breaks monotonicity.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Checks {
    pub monotonic_time: bool,
}

/// Verifies `untrusted` against `trusted` at time `now`.
///
/// Adjacent headers (height + 1) are verified sequentially: signed by more
/// than 2/3 of the trusted next validator set and linked by hash. Others
/// are verified by skipping: more than `options.trust_threshold` of the
/// trusted next set, and more than 2/3 of the header's own set, signed.
/// The trusted state must be consistent ([`TrustedState::check`]) and the
/// options within bounds ([`Options::validate`]); every key of the block's
/// sets must be sound ([`crate::credit_chain::validate_validator_set`]) and
/// every signature verify strictly before power is counted.
///
/// ```
/// use light_clients::credit_chain::{verify, Options, TrustedState, Verdict};
/// use light_clients::credit_chain::signing::TestChain;
/// let mut chain = TestChain::new("shaanxi", 4);
/// let trusted = TrustedState::from(chain.next_block());
/// let untrusted = chain.next_block();
/// let now = untrusted.header().time;
/// assert_eq!(verify(&trusted, &untrusted, &Options::default(), now), Verdict::Success);
/// ```
pub fn verify(
    trusted: &TrustedState,
    untrusted: &LightBlock,
    options: &Options,
    now: Time,
) -> Verdict {
    verify_cached(trusted, untrusted, options, now, &KeyCache::new())
}

/// [`verify`], taking decompressed validator keys from `cache` where it
/// holds the header's validator set (the usual case for a client following
/// a chain: see [`KeyCache`]). The verdict is the same as [`verify`]'s.
pub fn verify_cached(
    trusted: &TrustedState,
    untrusted: &LightBlock,
    options: &Options,
    now: Time,
    cache: &KeyCache,
) -> Verdict {
    verify_with(
        trusted,
        untrusted,
        options,
        now,
        Checks {
            monotonic_time: true,
        },
        cache,
    )
}

pub(crate) fn verify_with(
    trusted: &TrustedState,
    untrusted: &LightBlock,
    options: &Options,
    now: Time,
    checks: Checks,
    cache: &KeyCache,
) -> Verdict {
    let header = &untrusted.signed_header.header;
    let commit = &untrusted.signed_header.commit;
    let trusted_header = &trusted.header;

    // Structure first: cheap, and it names the first thing wrong.
    let header_hash = header.hash();
    let structural = (|| {
        options.validate()?;
        trusted.check()?;
        p::is_within_trust_period(trusted_header, options.trusting_period, now)?;
        p::is_header_from_past(header, options.clock_drift, now)?;
        p::is_same_chain(trusted_header, header)?;
        p::is_monotonic_height(trusted_header, header)?;
        if checks.monotonic_time {
            p::is_monotonic_time(trusted_header, header)?;
        }
        p::validators_match(header, &untrusted.validators)?;
        p::next_validators_match(header, &untrusted.next_validators)?;
        p::header_matches_commit(header, &header_hash, commit)?;
        p::proposer_is_validator(header, &untrusted.validators)?;
        if header.height.value() == trusted_header.height.value() + 1 {
            p::is_adjacent_successor(trusted_header, &trusted_header.hash(), header)?;
        }
        Ok(())
    })();
    if let Err(e) = structural {
        return Verdict::Invalid(e);
    }

    let signers = match verify_commit_signatures(
        header,
        &header_hash,
        commit,
        &untrusted.validators,
        cache,
    ) {
        Ok(s) => s,
        Err(e) => return Verdict::Invalid(e),
    };

    // The next set becomes trusted with this header: its keys must be sound
    // too (usually it is the set just checked, or one the cache holds).
    if header.next_validators_hash != header.validators_hash
        && cache.get(&header.next_validators_hash).is_none()
        && let Err(e) = validate_validator_set(&untrusted.next_validators)
    {
        return Verdict::Invalid(e);
    }

    let adjacent = header.height.value() == trusted_header.height.value() + 1;
    if !adjacent {
        let trust = signers.tally(&trusted.next_validators, options.trust_threshold);
        if !trust.is_enough() {
            return Verdict::NotEnoughTrust(trust);
        }
    }
    // For an adjacent header its own set is the trusted next set (checked
    // above), so this one tally is the whole sequential rule.
    let own = signers.tally(&untrusted.validators, TrustThreshold::TWO_THIRDS);
    if !own.is_enough() {
        return Verdict::Invalid(VerificationError::InsufficientSigningPower(own));
    }
    Verdict::Success
}
