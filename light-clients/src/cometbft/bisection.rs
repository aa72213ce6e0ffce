//! Skipping verification (bisection) and running a bisection vector.

use std::collections::BTreeMap;

use tendermint_light_client_verifier::options::Options;
use tendermint_light_client_verifier::predicates::{ProdPredicates, VerificationPredicates as _};
use tendermint_light_client_verifier::types::{Height, LightBlock, Time};

use super::{
    BISECTION_CLOCK_DRIFT, BisectionVector, Encoding, ExpectedOutput, Mismatch, Verdict,
    verify_step_with,
};

/// Why skipping verification did not reach (or could not trust) the target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BisectionError {
    /// The target is below the trusted height (backward verification is not supported).
    #[error("target height {target} is below the trusted height {trusted}")]
    TargetBelowTrusted {
        /// The target height.
        target: u64,
        /// The trusted height.
        trusted: u64,
    },
    /// A needed block is not among the provided blocks.
    #[error("no light block at height {height}")]
    MissingBlock {
        /// The height that is missing.
        height: u64,
    },
    /// Two different headers were provided for the same height.
    #[error("two different light blocks were provided at height {height}")]
    ConflictingBlocks {
        /// The height with two headers.
        height: u64,
    },
    /// The trusted header at `height` is no longer within the trusting period.
    #[error("trusted header at height {height} has expired: {reason}")]
    TrustExpired {
        /// Height of the expired trusted header.
        height: u64,
        /// The verifier's message.
        reason: String,
    },
    /// A block failed verification.
    #[error("light block at height {height} is invalid (verified from height {trusted}): {reason}")]
    Invalid {
        /// Height of the invalid block.
        height: u64,
        /// Height of the trusted block it was checked against.
        trusted: u64,
        /// The verifier's reason.
        reason: String,
    },
    /// A block lacks trust from the trusted block, and no provided block lies in between.
    #[error(
        "not enough trust to verify height {height} from height {trusted}, and no block in between"
    )]
    NoPivot {
        /// Height that could not be trusted.
        height: u64,
        /// Height of the trusted block.
        trusted: u64,
    },
    /// The trusted header does not have the hash given by the trust options.
    #[error(
        "trusted header at height {height} hashes to {got}, but the trust options say {expected}"
    )]
    TrustedHashMismatch {
        /// Height of the trusted header.
        height: u64,
        /// Hash from the trust options.
        expected: String,
        /// Hash of the header the primary served.
        got: String,
    },
    /// A witness serves a different header at the verified height.
    #[error(
        "witness {witness} has a different header at height {height}: {witness_hash} instead of {primary_hash}"
    )]
    WitnessConflict {
        /// Index of the witness in the vector's `witnesses`.
        witness: usize,
        /// The verified height.
        height: u64,
        /// Hash of the header verified from the primary.
        primary_hash: String,
        /// Hash of the witness's header.
        witness_hash: String,
    },
}

/// The result of [`verify_to_target`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BisectionOutcome {
    /// Heights verified successfully, in order (the initial trusted height
    /// excluded); on success the last one is the target.
    pub verified: Vec<u64>,
    /// Number of verification steps tried (successful or not).
    pub attempts: usize,
    /// The verified block at the target height, or why it could not be verified.
    pub result: Result<LightBlock, BisectionError>,
}

/// Verifies the block at `target` from the `trusted` block by skipping
/// verification over `blocks` (the untrusted blocks a node served, any order),
/// hashes and signatures being in `encoding` ([`Encoding::Protobuf`] for any
/// CometBFT chain).
///
/// Each step calls [`verify_step_with`] (i.e. the tendermint verifier) with the
/// highest block trusted so far. On [`Verdict::NotEnoughTrust`] the next
/// candidate is a block between the trusted height and the failed one,
/// closest to their midpoint (rounding up); on success the target is tried
/// again from the new trusted block; [`Verdict::Invalid`] aborts. Before each
/// step the trusted block must still be within the trusting period.
pub fn verify_to_target(
    encoding: Encoding,
    trusted: &LightBlock,
    blocks: &[LightBlock],
    target: Height,
    options: &Options,
    now: Time,
) -> BisectionOutcome {
    let mut verified = Vec::new();
    let mut attempts = 0;
    let result = bisect(
        encoding,
        trusted,
        blocks,
        target,
        options,
        now,
        &mut verified,
        &mut attempts,
    );
    BisectionOutcome {
        verified,
        attempts,
        result,
    }
}

#[allow(clippy::too_many_arguments)]
fn bisect(
    encoding: Encoding,
    initial: &LightBlock,
    blocks: &[LightBlock],
    target: Height,
    options: &Options,
    now: Time,
    verified: &mut Vec<u64>,
    attempts: &mut usize,
) -> Result<LightBlock, BisectionError> {
    let mut by_height: BTreeMap<u64, &LightBlock> = BTreeMap::new();
    for block in blocks {
        let height = block.height().value();
        match by_height.get(&height) {
            Some(seen) if seen.signed_header.header != block.signed_header.header => {
                return Err(BisectionError::ConflictingBlocks { height });
            }
            Some(_) => {}
            None => {
                by_height.insert(height, block);
            }
        }
    }

    let target = target.value();
    if target < initial.height().value() {
        return Err(BisectionError::TargetBelowTrusted {
            target,
            trusted: initial.height().value(),
        });
    }

    let mut trusted = initial;
    let mut candidate = target;
    loop {
        let trusted_height = trusted.height().value();
        if let Err(e) =
            ProdPredicates.is_within_trust_period(trusted.time(), options.trusting_period, now)
        {
            return Err(BisectionError::TrustExpired {
                height: trusted_height,
                reason: super::describe(e.detail()),
            });
        }
        if trusted_height == target {
            return Ok(trusted.clone());
        }
        let Some(block) = by_height.get(&candidate).copied() else {
            return Err(BisectionError::MissingBlock { height: candidate });
        };

        *attempts += 1;
        match verify_step_with(encoding, trusted, block, options, now) {
            Verdict::Success => {
                trusted = block;
                verified.push(candidate);
                candidate = target;
            }
            Verdict::NotEnoughTrust => {
                candidate = pivot(&by_height, trusted_height, candidate).ok_or(
                    BisectionError::NoPivot {
                        height: candidate,
                        trusted: trusted_height,
                    },
                )?;
            }
            Verdict::Invalid(reason) => {
                return Err(BisectionError::Invalid {
                    height: candidate,
                    trusted: trusted_height,
                    reason,
                });
            }
        }
    }
}

/// The available height strictly between `low` and `high` closest to their
/// midpoint (rounded up), preferring the lower one on a tie.
fn pivot(by_height: &BTreeMap<u64, &LightBlock>, low: u64, high: u64) -> Option<u64> {
    if high <= low.saturating_add(1) {
        return None;
    }
    let mid = low + (high - low).div_ceil(2);
    let below = by_height.range(low + 1..=mid).next_back().map(|(h, _)| *h);
    let above = by_height.range(mid..high).next().map(|(h, _)| *h);
    match (below, above) {
        (Some(b), Some(a)) => Some(if a - mid < mid - b { a } else { b }),
        (b, a) => b.or(a),
    }
}

/// The outcome of a bisection vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BisectionReport {
    /// The vector's description.
    pub description: String,
    /// The result the vector expects.
    pub expected: ExpectedOutput,
    /// The vector's `expected_num_of_bisections` (informational, not checked).
    pub expected_num_of_bisections: Option<u64>,
    /// What skipping verification (and the witness cross-check) produced.
    pub outcome: BisectionOutcome,
}

impl BisectionReport {
    /// Whether the result is the expected one (error or no error).
    pub fn passed(&self) -> bool {
        self.mismatch().is_none()
    }

    /// The expected and actual results when they differ.
    pub fn mismatch(&self) -> Option<Mismatch> {
        let got = match (&self.outcome.result, self.expected) {
            (Ok(_), ExpectedOutput::NoError) | (Err(_), ExpectedOutput::Error) => return None,
            (Ok(block), ExpectedOutput::Error) => format!(
                "no error (verified height {} in {} steps)",
                block.height(),
                self.outcome.attempts
            ),
            (Err(e), ExpectedOutput::NoError) => format!("error: {e}"),
        };
        Some(Mismatch {
            expected: self.expected.to_string(),
            got,
        })
    }
}

/// Runs a bisection vector the way tendermint-rs's light-client test driver
/// interprets it:
///
/// - the trusted block is the primary's block at `trust_options.height`, and
///   its header must hash to `trust_options.hash` (when given);
/// - the encoding is the one in which the trusted block's next validator set
///   hashes to its header's `next_validators_hash` (some vectors date from
///   Tendermint v0.33 and use amino), protobuf if neither does;
/// - options: `trust_options.period` and `trust_options.trust_level`, and
///   [`BISECTION_CLOCK_DRIFT`]; time is the vector's `now`;
/// - [`verify_to_target`] over the primary's `lite_blocks` to `height_to_verify`;
/// - then each witness that has a block at the verified height must have the
///   same header there, else it is an error (a fork or a lying primary).
pub fn run_bisection(vector: &BisectionVector) -> BisectionReport {
    let report = |outcome| BisectionReport {
        description: vector.description.clone(),
        expected: vector.expected_output,
        expected_num_of_bisections: vector.expected_num_of_bisections,
        outcome,
    };
    let failed = |e| BisectionOutcome {
        verified: Vec::new(),
        attempts: 0,
        result: Err(e),
    };

    let opts = &vector.trust_options;
    let trust_threshold = match opts.trust_level.to_threshold() {
        Ok(threshold) => threshold,
        Err(reason) => {
            return report(failed(BisectionError::Invalid {
                height: vector.height_to_verify.value(),
                trusted: opts.height.value(),
                reason: format!("bad trust level: {reason}"),
            }));
        }
    };
    let options = Options {
        trust_threshold,
        trusting_period: opts.period,
        clock_drift: BISECTION_CLOCK_DRIFT,
    };

    let blocks: Vec<LightBlock> = vector
        .primary
        .lite_blocks
        .iter()
        .map(|b| b.to_light_block())
        .collect();
    let Some(trusted) = blocks.iter().find(|b| b.height() == opts.height) else {
        return report(failed(BisectionError::MissingBlock {
            height: opts.height.value(),
        }));
    };
    let header = &trusted.signed_header.header;
    let encoding =
        Encoding::of_validator_set(&trusted.next_validators, header.next_validators_hash)
            .unwrap_or_default();
    let trusted_hash = encoding.header_hash(header);
    if opts.hash != Default::default() && opts.hash != trusted_hash {
        return report(failed(BisectionError::TrustedHashMismatch {
            height: opts.height.value(),
            expected: opts.hash.to_string(),
            got: trusted_hash.to_string(),
        }));
    }

    let mut outcome = verify_to_target(
        encoding,
        trusted,
        &blocks,
        vector.height_to_verify,
        &options,
        vector.now,
    );
    if let Ok(verified) = &outcome.result {
        let header = &verified.signed_header.header;
        let conflict = vector
            .witnesses
            .iter()
            .enumerate()
            .find_map(|(witness, w)| {
                w.value
                    .lite_blocks
                    .iter()
                    .find(|b| b.height() == header.height && b.signed_header.header != *header)
                    .map(|b| BisectionError::WitnessConflict {
                        witness,
                        height: header.height.value(),
                        primary_hash: encoding.header_hash(header).to_string(),
                        witness_hash: encoding.header_hash(&b.signed_header.header).to_string(),
                    })
            });
        if let Some(conflict) = conflict {
            outcome.result = Err(conflict);
        }
    }
    report(outcome)
}
