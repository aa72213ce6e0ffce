//! The rules of credit-chain header verification, one small predicate each.
//!
//! The verifier composes them; each returns the error that names the values
//! that broke its rule.

use std::time::Duration;

use protocol::{Commit, Hash, Header, Time, ValidatorSet};

use crate::credit_chain::VerificationError;

/// The untrusted header is for the trusted chain.
pub fn is_same_chain(trusted: &Header, untrusted: &Header) -> Result<(), VerificationError> {
    if trusted.chain_id == untrusted.chain_id {
        Ok(())
    } else {
        Err(VerificationError::ChainIdMismatch {
            expected: trusted.chain_id.clone(),
            got: untrusted.chain_id.clone(),
        })
    }
}

/// The trusted header is still within the trusting period at `now`.
pub fn is_within_trust_period(
    trusted: &Header,
    trusting_period: Duration,
    now: Time,
) -> Result<(), VerificationError> {
    let expired = || VerificationError::TrustedHeaderExpired {
        height: trusted.height,
        trusted_time: trusted.time,
        trusting_period,
        now,
    };
    match trusted.time.checked_add(trusting_period) {
        Some(expires_at) if expires_at > now => Ok(()),
        Some(_) => Err(expired()),
        // Expiry past the representable range: never expires in practice.
        None => Ok(()),
    }
}

/// The untrusted header's time is not ahead of `now` by more than the drift.
pub fn is_header_from_past(
    untrusted: &Header,
    clock_drift: Duration,
    now: Time,
) -> Result<(), VerificationError> {
    let limit = now.checked_add(clock_drift);
    if limit.is_none_or(|l| untrusted.time <= l) {
        Ok(())
    } else {
        Err(VerificationError::HeaderFromFuture {
            header_time: untrusted.time,
            now,
            clock_drift,
        })
    }
}

/// Heights strictly increase.
pub fn is_monotonic_height(trusted: &Header, untrusted: &Header) -> Result<(), VerificationError> {
    if untrusted.height > trusted.height {
        Ok(())
    } else {
        Err(VerificationError::NonIncreasingHeight {
            trusted: trusted.height,
            untrusted: untrusted.height,
        })
    }
}

/// Times strictly increase.
pub fn is_monotonic_time(trusted: &Header, untrusted: &Header) -> Result<(), VerificationError> {
    if untrusted.time > trusted.time {
        Ok(())
    } else {
        Err(VerificationError::NonIncreasingTime {
            trusted: trusted.time,
            untrusted: untrusted.time,
        })
    }
}

/// `validators` is the set named by `header.validators_hash`.
pub fn validators_match(
    header: &Header,
    validators: &ValidatorSet,
) -> Result<(), VerificationError> {
    let computed = validators.hash();
    if computed == header.validators_hash {
        Ok(())
    } else {
        Err(VerificationError::ValidatorsHashMismatch {
            header: header.validators_hash,
            computed,
        })
    }
}

/// `next_validators` is the set named by `header.next_validators_hash`.
pub fn next_validators_match(
    header: &Header,
    next_validators: &ValidatorSet,
) -> Result<(), VerificationError> {
    let computed = next_validators.hash();
    if computed == header.next_validators_hash {
        Ok(())
    } else {
        Err(VerificationError::NextValidatorsHashMismatch {
            header: header.next_validators_hash,
            computed,
        })
    }
}

/// The commit is for this header: same height, same hash.
pub fn header_matches_commit(
    header: &Header,
    header_hash: &Hash,
    commit: &Commit,
) -> Result<(), VerificationError> {
    if commit.height != header.height {
        return Err(VerificationError::CommitHeightMismatch {
            header: header.height,
            commit: commit.height,
        });
    }
    if commit.header_hash != *header_hash {
        return Err(VerificationError::CommitHeaderHashMismatch {
            header: *header_hash,
            commit: commit.header_hash,
        });
    }
    Ok(())
}

/// The proposer is a member of the header's validator set.
pub fn proposer_is_validator(
    header: &Header,
    validators: &ValidatorSet,
) -> Result<(), VerificationError> {
    match validators.get(&header.proposer) {
        Some(_) => Ok(()),
        None => Err(VerificationError::ProposerNotInValidatorSet(
            header.proposer,
        )),
    }
}

/// For an adjacent header: signed by the set the trusted header announced,
/// and linked to the trusted header by hash.
pub fn is_adjacent_successor(
    trusted: &Header,
    trusted_hash: &Hash,
    untrusted: &Header,
) -> Result<(), VerificationError> {
    if untrusted.validators_hash != trusted.next_validators_hash {
        return Err(VerificationError::NotTrustedNextValidators {
            header: untrusted.validators_hash,
            trusted_next: trusted.next_validators_hash,
        });
    }
    if untrusted.last_header_hash != *trusted_hash {
        return Err(VerificationError::LastHeaderHashMismatch {
            expected: *trusted_hash,
            got: untrusted.last_header_hash,
        });
    }
    Ok(())
}
