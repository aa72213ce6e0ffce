//! Composes the predicates into a verdict on one untrusted light block.

use protocol::{Header, LightBlock, Time, ValidatorSet};
use serde::{Deserialize, Serialize};

use crate::credit_chain::predicates as p;
use crate::credit_chain::voting_power::{KeyCache, verify_commit_signatures};
use crate::credit_chain::{Options, TrustThreshold, VerificationError, VotingPowerTally};

/// What a light client trusts about a chain: a verified header and the
/// validator sets it names.
///
/// In JSON this is `{ "header": …, "validators": …, "next_validators": … }`;
/// a whole light block (with `signed_header`) is accepted as well, since a
/// light block verified earlier is exactly a trusted state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "TrustedStateJson")]
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
#[serde(untagged)]
enum TrustedStateJson {
    State {
        header: Header,
        validators: ValidatorSet,
        next_validators: ValidatorSet,
    },
    LightBlock(LightBlock),
}

impl From<TrustedStateJson> for TrustedState {
    fn from(j: TrustedStateJson) -> Self {
        match j {
            TrustedStateJson::State {
                header,
                validators,
                next_validators,
            } => TrustedState {
                header,
                validators,
                next_validators,
            },
            TrustedStateJson::LightBlock(lb) => lb.into(),
        }
    }
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
/// Every signature is verified (one ed25519 batch) before power is counted.
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
