//! Running a single_step vector.

use tendermint_light_client_verifier::options::Options;
use tendermint_light_client_verifier::types::{LightBlock, PeerId, TrustThreshold};

use super::{
    Encoding, Mismatch, SINGLE_STEP_CLOCK_DRIFT, SingleStepVector, Verdict, VerdictKind,
    verify_step_with,
};

/// The outcome of one input of a single_step vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepOutcome {
    /// Index of the input in the file's `input` array.
    pub index: usize,
    /// Height of the input block.
    pub height: u64,
    /// The verdict the vector expects.
    pub expected: VerdictKind,
    /// The verdict verification produced.
    pub got: Verdict,
}

impl StepOutcome {
    /// Whether the verdict is the expected one.
    pub fn passed(&self) -> bool {
        self.got.kind() == self.expected
    }
}

/// The outcomes of all the inputs of a single_step vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleStepReport {
    /// The vector's description.
    pub description: String,
    /// One outcome per input, in order.
    pub steps: Vec<StepOutcome>,
}

impl SingleStepReport {
    /// Whether every input got its expected verdict.
    pub fn passed(&self) -> bool {
        self.steps.iter().all(StepOutcome::passed)
    }

    /// The first input whose verdict differs from the expected one.
    pub fn mismatch(&self) -> Option<Mismatch> {
        let step = self.steps.iter().find(|s| !s.passed())?;
        Some(Mismatch {
            expected: format!(
                "{} for input[{}] (height {})",
                step.expected, step.index, step.height
            ),
            got: step.got.to_string(),
        })
    }
}

/// Runs a single_step vector: each input is verified against the latest
/// trusted state at the input's own `now`, and an input that verifies
/// becomes the new trusted state (whatever the vector expected, so that one
/// wrong verdict shows up as such and is not hidden by the following ones).
///
/// The initial trusted state is the initial header with its next validator
/// set; options: the file's trusting period, its trust level if any (else
/// 1/3), and [`SINGLE_STEP_CLOCK_DRIFT`], as in tendermint-rs's driver. The
/// encoding is the one in which the initial next validator set hashes to the
/// initial header's `next_validators_hash` (protobuf if neither does).
pub fn run_single_step(vector: &SingleStepVector) -> SingleStepReport {
    let initial = &vector.initial;
    let mut trusted = LightBlock::new(
        initial.signed_header.clone(),
        initial.next_validator_set.clone(),
        initial.next_validator_set.clone(),
        PeerId::new([0; 20]),
    );
    let header = &initial.signed_header.header;
    let encoding =
        Encoding::of_validator_set(&initial.next_validator_set, header.next_validators_hash)
            .unwrap_or_default();
    let mut steps = Vec::with_capacity(vector.input.len());
    let threshold = match initial.trust_level.map(|level| level.to_threshold()) {
        None => Ok(TrustThreshold::default()),
        Some(result) => result,
    };
    let options = threshold.map(|trust_threshold| Options {
        trust_threshold,
        trusting_period: initial.trusting_period,
        clock_drift: SINGLE_STEP_CLOCK_DRIFT,
    });

    for (index, input) in vector.input.iter().enumerate() {
        let block = input.block.to_light_block();
        let got = match &options {
            Ok(options) => verify_step_with(encoding, &trusted, &block, options, input.now),
            Err(reason) => Verdict::Invalid(format!("bad trust level: {reason}")),
        };
        steps.push(StepOutcome {
            index,
            height: block.height().value(),
            expected: input.verdict,
            got: got.clone(),
        });
        if got.is_success() {
            trusted = block;
        }
    }

    SingleStepReport {
        description: vector.description.clone(),
        steps,
    }
}
