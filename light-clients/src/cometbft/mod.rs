//! CometBFT light blocks, verified with tendermint-light-client-verifier.
//!
//! The verification algorithm itself (validator-set hashes, commit
//! signatures, trusting period, trust threshold) is the one of the
//! [`tendermint_light_client_verifier`] crate; this module does not
//! reimplement it. What lives here:
//!
//! - [`verify_step`]: one verification step (sequential or skipping), with
//!   the verifier's verdict mapped to our own [`Verdict`];
//! - [`Encoding`]: CometBFT's protobuf encoding, and the go-amino encoding of
//!   Tendermint v0.33 that the bisection vectors were generated with. For
//!   amino only the three encoding-dependent pieces (header hash,
//!   validator-set hash, vote sign bytes) are supplied, through the
//!   verifier's own extension points ([`verify_step_with`]);
//! - [`verify_to_target`]: skipping verification (bisection) from a trusted
//!   block to a target height over a set of untrusted blocks, calling the
//!   verifier for each step (the scheduler is ours);
//! - serde types for the two conformance vector formats of
//!   `shared/vectors/cometbft` ([`SingleStepVector`], [`BisectionVector`]),
//!   a parser that names the field at fault ([`parse_vector`],
//!   [`VectorError`]), and pure drivers that run them ([`run_single_step`],
//!   [`run_bisection`], [`run_vector`]) and report what each vector expected
//!   and got ([`VectorReport`], [`Mismatch`]).
//!
//! Nothing here does I/O or reads a clock: "now" is always a parameter (for
//! the vectors, it is the `now` written in the file).

mod amino;
mod bisection;
mod error;
mod single_step;
mod vectors;

use core::fmt;
use core::time::Duration;

use serde::{Deserialize, Serialize};
use tendermint::block::Header;
use tendermint::validator::Set as ValidatorSet;
use tendermint_light_client_verifier::{
    ProdVerifier, Verdict as TmVerdict, Verifier as _, errors::VerificationErrorDetail, types::Hash,
};

pub use bisection::{
    BisectionError, BisectionOutcome, BisectionReport, run_bisection, verify_to_target,
};
pub use error::VectorError;
pub use single_step::{SingleStepReport, StepOutcome, run_single_step};
pub use tendermint_light_client_verifier::options::Options;
pub use tendermint_light_client_verifier::types::{
    Height, LightBlock, PeerId, Time, TrustThreshold,
};
pub use vectors::{
    BisectionVector, ExpectedOutput, Initial, Provider, SingleStepInput, SingleStepVector,
    TrustLevel, TrustOptions, Vector, VectorLightBlock, Witness, parse_vector,
};

/// Clock drift used for `single_step` vectors: zero, as in tendermint-rs's
/// own model-based test driver for these vectors.
pub const SINGLE_STEP_CLOCK_DRIFT: Duration = Duration::from_secs(0);

/// Clock drift used for `bisection` vectors: ten seconds, as in
/// tendermint-rs's own light-client test driver (and Go's default).
pub const BISECTION_CLOCK_DRIFT: Duration = Duration::from_secs(10);

/// Outcome of verifying one untrusted light block against a trusted one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// The block is valid and may be trusted.
    Success,
    /// The block may be valid, but too little of the trusted validator set
    /// signed it to trust it in one step; verify an intermediate block first.
    NotEnoughTrust,
    /// The block is invalid (or the trusted state has expired); the string
    /// says why.
    Invalid(String),
}

impl Verdict {
    /// The kind of this verdict, without its reason.
    pub fn kind(&self) -> VerdictKind {
        match self {
            Verdict::Success => VerdictKind::Success,
            Verdict::NotEnoughTrust => VerdictKind::NotEnoughTrust,
            Verdict::Invalid(_) => VerdictKind::Invalid,
        }
    }

    /// Whether this verdict is [`Verdict::Success`].
    pub fn is_success(&self) -> bool {
        matches!(self, Verdict::Success)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Invalid(reason) => write!(f, "INVALID ({reason})"),
            other => write!(f, "{}", other.kind()),
        }
    }
}

/// A verdict without its reason, as written in the vectors
/// (`"SUCCESS"`, `"NOT_ENOUGH_TRUST"`, `"INVALID"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerdictKind {
    /// See [`Verdict::Success`].
    Success,
    /// See [`Verdict::NotEnoughTrust`].
    NotEnoughTrust,
    /// See [`Verdict::Invalid`].
    Invalid,
}

impl fmt::Display for VerdictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VerdictKind::Success => "SUCCESS",
            VerdictKind::NotEnoughTrust => "NOT_ENOUGH_TRUST",
            VerdictKind::Invalid => "INVALID",
        })
    }
}

/// The encoding a chain uses for header and validator-set hashes and for
/// vote sign bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encoding {
    /// Protobuf, as CometBFT and Tendermint since v0.34 use.
    #[default]
    Protobuf,
    /// go-amino, as Tendermint v0.33 and earlier used (some conformance
    /// vectors were generated then).
    LegacyAmino,
}

impl Encoding {
    /// Both encodings, most recent first.
    pub const ALL: [Encoding; 2] = [Encoding::Protobuf, Encoding::LegacyAmino];

    /// The hash of a header in this encoding.
    pub fn header_hash(self, header: &Header) -> Hash {
        match self {
            Encoding::Protobuf => header.hash(),
            Encoding::LegacyAmino => amino::header_hash(header),
        }
    }

    /// The hash of a validator set in this encoding (`None` for a legacy
    /// set with a key type that encoding does not know).
    pub fn validator_set_hash(self, validators: &ValidatorSet) -> Option<Hash> {
        match self {
            Encoding::Protobuf => Some(validators.hash()),
            Encoding::LegacyAmino => amino::validator_set_hash(validators),
        }
    }

    /// The encoding in which `validators` hashes to `expected` (e.g. a
    /// header's `next_validators_hash`), if any.
    pub fn of_validator_set(validators: &ValidatorSet, expected: Hash) -> Option<Encoding> {
        Encoding::ALL
            .into_iter()
            .find(|e| e.validator_set_hash(validators) == Some(expected))
    }
}

/// Verifies `untrusted` against `trusted` at time `now`, for a chain using
/// the protobuf encoding (every CometBFT chain); see [`verify_step_with`].
pub fn verify_step(
    trusted: &LightBlock,
    untrusted: &LightBlock,
    options: &Options,
    now: Time,
) -> Verdict {
    verify_step_with(Encoding::Protobuf, trusted, untrusted, options, now)
}

/// Verifies `untrusted` against `trusted` at time `now`, hashes and
/// signatures being in `encoding`.
///
/// Sequential when `untrusted` is the block right after `trusted`
/// (> 2/3 of the trusted next validator set must have signed), skipping
/// otherwise (`options.trust_threshold` of the trusted next validator set,
/// and > 2/3 of the untrusted block's own set). All the checks are those of
/// the verifier's `verify_update_header` ([`ProdVerifier`] for protobuf; the
/// same [`PredicateVerifier`](tendermint_light_client_verifier::PredicateVerifier)
/// with the amino hashes and sign bytes plugged in for legacy amino). In
/// addition this function rejects as [`Verdict::Invalid`] the inputs the
/// verifier leaves to its caller: a trusted block whose next validator set
/// does not hash to its header's `next_validators_hash`, a trusted height of
/// `i64::MAX`, and a trust threshold whose denominator would overflow the
/// voting-power arithmetic.
pub fn verify_step_with(
    encoding: Encoding,
    trusted: &LightBlock,
    untrusted: &LightBlock,
    options: &Options,
    now: Time,
) -> Verdict {
    let trusted_header = &trusted.signed_header.header;
    if trusted.height().value() >= i64::MAX as u64 {
        return Verdict::Invalid(format!(
            "trusted height {} is the highest possible height",
            trusted.height()
        ));
    }
    let next_hash = encoding.validator_set_hash(&trusted.next_validators);
    if next_hash != Some(trusted_header.next_validators_hash) {
        return Verdict::Invalid(format!(
            "trusted next validator set hashes to {}, but the trusted header says {}",
            next_hash.map_or_else(|| "nothing".to_owned(), |h| h.to_string()),
            trusted_header.next_validators_hash
        ));
    }
    // The verifier computes `power * denominator` in u64 without a check.
    let total = trusted.next_validators.total_voting_power().value();
    let denominator = options.trust_threshold.denominator();
    if total.checked_mul(denominator).is_none() {
        return Verdict::Invalid(format!(
            "trust threshold denominator {denominator} overflows with total voting power {total}"
        ));
    }

    let (untrusted, trusted) = (untrusted.as_untrusted_state(), trusted.as_trusted_state());
    let verdict = match encoding {
        Encoding::Protobuf => {
            ProdVerifier::default().verify_update_header(untrusted, trusted, options, now)
        }
        Encoding::LegacyAmino => {
            amino::verifier().verify_update_header(untrusted, trusted, options, now)
        }
    };
    match verdict {
        TmVerdict::Success => Verdict::Success,
        TmVerdict::NotEnoughTrust(_) => Verdict::NotEnoughTrust,
        TmVerdict::Invalid(detail) => Verdict::Invalid(describe(&detail)),
    }
}

/// A one-line reason for a verifier error (the verifier's own message, except
/// for a bad signature whose message embeds the whole validator and sign bytes).
fn describe(detail: &VerificationErrorDetail) -> String {
    match detail {
        VerificationErrorDetail::InvalidSignature(e) => {
            format!("invalid signature from validator {}", e.validator.address)
        }
        other => other.to_string(),
    }
}

/// The result of running one vector file, of either format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VectorReport {
    /// Report of a `single_step` vector.
    SingleStep(SingleStepReport),
    /// Report of a `bisection` vector.
    Bisection(Box<BisectionReport>),
}

/// What a vector expected and what we got instead, as display strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// What the vector expected.
    pub expected: String,
    /// What verification actually produced.
    pub got: String,
}

impl VectorReport {
    /// Whether every expectation of the vector was met.
    pub fn passed(&self) -> bool {
        self.mismatch().is_none()
    }

    /// The first unmet expectation, if any.
    pub fn mismatch(&self) -> Option<Mismatch> {
        match self {
            VectorReport::SingleStep(report) => report.mismatch(),
            VectorReport::Bisection(report) => report.mismatch(),
        }
    }

    /// The vector's `description` field.
    pub fn description(&self) -> &str {
        match self {
            VectorReport::SingleStep(report) => &report.description,
            VectorReport::Bisection(report) => &report.description,
        }
    }
}

/// Parses a vector file of either format (detected by its fields) and runs it.
///
/// An `Err` means the file is malformed; a verification failure is an `Ok`
/// report whose [`VectorReport::passed`] may be false.
pub fn run_vector(json: &str) -> Result<VectorReport, VectorError> {
    Ok(match parse_vector(json)? {
        Vector::SingleStep(vector) => VectorReport::SingleStep(run_single_step(&vector)),
        Vector::Bisection(vector) => VectorReport::Bisection(Box::new(run_bisection(&vector))),
    })
}
