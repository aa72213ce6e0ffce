//! Serde types for the two CometBFT conformance vector formats, and a parser
//! that names the field at fault when a file is malformed.
//!
//! The types derive [`Deserialize`] and can be read with `serde_json`
//! directly; [`parse_vector`] reads them field by field instead, so that an
//! error says which field (e.g. `input[2].block.signed_header.commit`) is
//! wrong, and it also detects the format.

use core::time::Duration;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use tendermint::block::{Commit, Header, signed_header::SignedHeader};
use tendermint::validator::Set as ValidatorSet;
use tendermint_light_client_verifier::types::{
    Hash, Height, LightBlock, PeerId, Time, TrustThreshold,
};

use super::{Encoding, VectorError, VerdictKind};

/// A light block as written in the vectors: header and commit, the
/// validator set of its height and of the next height, and optionally the
/// peer that served it (`provider`, informational only).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VectorLightBlock {
    /// Header and commit.
    pub signed_header: SignedHeader,
    /// Validator set at this height.
    pub validator_set: ValidatorSet,
    /// Validator set at the next height.
    pub next_validator_set: ValidatorSet,
    /// Peer id of the node that provided the block; not used by verification.
    #[serde(default)]
    pub provider: Option<PeerId>,
}

impl VectorLightBlock {
    /// The block as the verifier's [`LightBlock`] (an absent provider
    /// becomes the all-zero peer id).
    pub fn to_light_block(&self) -> LightBlock {
        LightBlock::new(
            self.signed_header.clone(),
            self.validator_set.clone(),
            self.next_validator_set.clone(),
            self.provider.unwrap_or_else(|| PeerId::new([0; 20])),
        )
    }

    /// Height of the block's header.
    pub fn height(&self) -> Height {
        self.signed_header.header.height
    }
}

/// A trust level fraction as written in the vectors,
/// `{ "numerator": "1", "denominator": "3" }` (strings or numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct TrustLevel {
    /// Numerator of the fraction.
    #[serde(deserialize_with = "u64_from_str_or_number")]
    pub numerator: u64,
    /// Denominator of the fraction.
    #[serde(deserialize_with = "u64_from_str_or_number")]
    pub denominator: u64,
}

impl TrustLevel {
    /// The trust threshold, if the fraction is within `[1/3, 1]`.
    pub fn to_threshold(self) -> Result<TrustThreshold, String> {
        let TrustLevel {
            numerator,
            denominator,
        } = self;
        if denominator == 0 {
            return Err("denominator is zero".into());
        }
        if numerator > denominator {
            return Err(format!("{numerator}/{denominator} is greater than 1"));
        }
        // `TrustThreshold::new` computes `3 * numerator` unchecked.
        if numerator > u64::MAX / 3 {
            return Err(format!("{numerator}/{denominator}: numbers too large"));
        }
        TrustThreshold::new(numerator, denominator)
            .map_err(|e| format!("{numerator}/{denominator}: {e}"))
    }
}

/// The `initial` trusted state of a single_step vector.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Initial {
    /// Trusted header and its commit.
    pub signed_header: SignedHeader,
    /// Validator set of the height after the trusted header.
    pub next_validator_set: ValidatorSet,
    /// How long the trusted header stays trusted (nanoseconds in the file).
    #[serde(deserialize_with = "duration_from_nanos")]
    pub trusting_period: Duration,
    /// Time of the initial state (informational: each input has its own `now`).
    pub now: Time,
    /// Trust level; the vectors have none and the default is 1/3 (the
    /// threshold tendermint-rs's driver uses for them).
    #[serde(default)]
    pub trust_level: Option<TrustLevel>,
}

/// One input of a single_step vector: a block, the time at which it is
/// verified, and the expected verdict.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SingleStepInput {
    /// The untrusted block.
    pub block: VectorLightBlock,
    /// The time of verification.
    pub now: Time,
    /// The expected verdict.
    pub verdict: VerdictKind,
}

/// A `single_step/*.json` vector: each input is verified against the latest
/// trusted state, and a successful input becomes the new trusted state.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SingleStepVector {
    /// Free-text description.
    #[serde(default)]
    pub description: String,
    /// The initial trusted state and parameters.
    pub initial: Initial,
    /// The inputs, in order.
    pub input: Vec<SingleStepInput>,
}

/// `trust_options` of a bisection vector: the trust anchor and parameters.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TrustOptions {
    /// Trusting period (nanoseconds in the file).
    #[serde(deserialize_with = "duration_from_nanos")]
    pub period: Duration,
    /// Height of the trusted header, to be found among the primary's blocks.
    pub height: Height,
    /// Hash of the trusted header; empty means "not given".
    #[serde(default)]
    pub hash: Hash,
    /// Trust level for skipping verification.
    pub trust_level: TrustLevel,
}

/// A (mock) full node: the blocks it serves.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Provider {
    /// Chain id the node claims to serve (informational).
    #[serde(default)]
    pub chain_id: String,
    /// The light blocks it serves, by height.
    pub lite_blocks: Vec<VectorLightBlock>,
}

/// A witness node: `{ "type": ..., "value": { chain_id, lite_blocks } }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Witness {
    /// Provider type tag (e.g. `com.tendermint/MockProvider`), informational.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The blocks the witness serves.
    pub value: Provider,
}

/// The expected result of a bisection vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ExpectedOutput {
    /// `"no error"`: the target height is verified.
    #[serde(rename = "no error")]
    NoError,
    /// `"error"`: verification of the target height fails.
    #[serde(rename = "error")]
    Error,
}

impl core::fmt::Display for ExpectedOutput {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ExpectedOutput::NoError => "no error",
            ExpectedOutput::Error => "error",
        })
    }
}

/// A `bisection/*.json` vector: verify `height_to_verify` from the trusted
/// header, skipping over the primary's blocks, then cross-check the result
/// against the witnesses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BisectionVector {
    /// Free-text description.
    #[serde(default)]
    pub description: String,
    /// Trust anchor and parameters.
    pub trust_options: TrustOptions,
    /// The node blocks are fetched from.
    pub primary: Provider,
    /// Nodes the verified header is cross-checked against.
    #[serde(default)]
    pub witnesses: Vec<Witness>,
    /// The target height.
    pub height_to_verify: Height,
    /// The time of verification.
    pub now: Time,
    /// The expected result.
    pub expected_output: ExpectedOutput,
    /// Number of bisection steps the Go implementation took; informational
    /// (tendermint-rs does not check it either: it is an implementation detail).
    #[serde(default)]
    pub expected_num_of_bisections: Option<u64>,
}

/// A parsed vector of either format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vector {
    /// A `single_step` vector (has `initial` and `input`).
    SingleStep(Box<SingleStepVector>),
    /// A `bisection` vector (has `trust_options` and `primary`).
    Bisection(Box<BisectionVector>),
}

/// Parses a vector file, detecting its format by its fields: `initial` +
/// `input` is single_step, `trust_options` + `primary` is bisection.
///
/// Unlike plain `serde_json::from_str`, an error names the field at fault.
/// Besides the types, it checks what would make a vector meaningless: the
/// trust level must be a fraction in `[1/3, 1]`, and the initial
/// `next_validator_set` must hash to the initial header's
/// `next_validators_hash` (in one of the [`Encoding`]s).
pub fn parse_vector(json: &str) -> Result<Vector, VectorError> {
    let root: Value = serde_json::from_str(json).map_err(|e| VectorError::Json(e.to_string()))?;
    let Some(object) = root.as_object() else {
        return Err(VectorError::UnknownFormat);
    };
    let node = Node {
        value: &root,
        path: String::new(),
    };
    if object.contains_key("initial") && object.contains_key("input") {
        single_step(&node).map(|v| Vector::SingleStep(Box::new(v)))
    } else if object.contains_key("trust_options") && object.contains_key("primary") {
        bisection(&node).map(|v| Vector::Bisection(Box::new(v)))
    } else {
        Err(VectorError::UnknownFormat)
    }
}

fn single_step(root: &Node<'_>) -> Result<SingleStepVector, VectorError> {
    let description = root
        .opt("description")?
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or_default();

    let init = root.get("initial")?;
    let signed_header = signed_header(&init.get("signed_header")?)?;
    let next_node = init.get("next_validator_set")?;
    let next_validator_set: ValidatorSet = next_node.parse()?;
    if Encoding::of_validator_set(
        &next_validator_set,
        signed_header.header.next_validators_hash,
    )
    .is_none()
    {
        return Err(next_node.invalid(format!(
            "hashes to {} (protobuf), not to initial.signed_header.header.next_validators_hash {}",
            next_validator_set.hash(),
            signed_header.header.next_validators_hash
        )));
    }
    let trust_level = match init.opt("trust_level")? {
        Some(n) => Some(trust_level(&n)?),
        None => None,
    };
    let initial = Initial {
        signed_header,
        next_validator_set,
        trusting_period: init
            .get("trusting_period")?
            .parse_with(duration_from_nanos)?,
        now: init.get("now")?.parse()?,
        trust_level,
    };

    let input = root
        .get("input")?
        .items()?
        .iter()
        .map(|item| {
            Ok(SingleStepInput {
                block: light_block(&item.get("block")?)?,
                now: item.get("now")?.parse()?,
                verdict: item.get("verdict")?.parse()?,
            })
        })
        .collect::<Result<Vec<_>, VectorError>>()?;

    Ok(SingleStepVector {
        description,
        initial,
        input,
    })
}

fn bisection(root: &Node<'_>) -> Result<BisectionVector, VectorError> {
    let description = root
        .opt("description")?
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or_default();

    let opts = root.get("trust_options")?;
    let trust_options = TrustOptions {
        period: opts.get("period")?.parse_with(duration_from_nanos)?,
        height: opts.get("height")?.parse()?,
        hash: opts
            .opt("hash")?
            .map(|n| n.parse())
            .transpose()?
            .unwrap_or_default(),
        trust_level: trust_level(&opts.get("trust_level")?)?,
    };

    let primary = provider(&root.get("primary")?)?;
    let witnesses = match root.opt("witnesses")? {
        None => Vec::new(),
        Some(list) => list
            .items()?
            .iter()
            .map(|w| {
                Ok(Witness {
                    kind: w
                        .opt("type")?
                        .map(|n| n.parse())
                        .transpose()?
                        .unwrap_or_default(),
                    value: provider(&w.get("value")?)?,
                })
            })
            .collect::<Result<Vec<_>, VectorError>>()?,
    };

    Ok(BisectionVector {
        description,
        trust_options,
        primary,
        witnesses,
        height_to_verify: root.get("height_to_verify")?.parse()?,
        now: root.get("now")?.parse()?,
        expected_output: root.get("expected_output")?.parse()?,
        expected_num_of_bisections: root
            .opt("expected_num_of_bisections")?
            .map(|n| n.parse())
            .transpose()?,
    })
}

fn trust_level(node: &Node<'_>) -> Result<TrustLevel, VectorError> {
    let level: TrustLevel = node.parse()?;
    level
        .to_threshold()
        .map_err(|reason| node.invalid(reason))?;
    Ok(level)
}

fn provider(node: &Node<'_>) -> Result<Provider, VectorError> {
    Ok(Provider {
        chain_id: node
            .opt("chain_id")?
            .map(|n| n.parse())
            .transpose()?
            .unwrap_or_default(),
        lite_blocks: node
            .get("lite_blocks")?
            .items()?
            .iter()
            .map(light_block)
            .collect::<Result<_, _>>()?,
    })
}

fn light_block(node: &Node<'_>) -> Result<VectorLightBlock, VectorError> {
    Ok(VectorLightBlock {
        signed_header: signed_header(&node.get("signed_header")?)?,
        validator_set: node.get("validator_set")?.parse()?,
        next_validator_set: node.get("next_validator_set")?.parse()?,
        provider: node.opt("provider")?.map(|n| n.parse()).transpose()?,
    })
}

fn signed_header(node: &Node<'_>) -> Result<SignedHeader, VectorError> {
    let header: Header = node.get("header")?.parse()?;
    let commit: Commit = node.get("commit")?.parse()?;
    if header.height != commit.height {
        return Err(node.invalid(format!(
            "header height {} differs from commit height {}",
            header.height, commit.height
        )));
    }
    SignedHeader::new(header, commit).map_err(|e| node.invalid(e.to_string()))
}

/// A JSON value and its path in the file, for error messages.
struct Node<'a> {
    value: &'a Value,
    path: String,
}

impl<'a> Node<'a> {
    fn child(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn invalid(&self, reason: impl Into<String>) -> VectorError {
        let field = if self.path.is_empty() {
            "(root)".to_owned()
        } else {
            self.path.clone()
        };
        // tendermint's errors carry their tracer's name; it says nothing here.
        let reason = reason.into().replace("StringTracer: ", "");
        VectorError::InvalidField { field, reason }
    }

    /// The member `key`, absent or `null` being `None`.
    fn opt(&self, key: &str) -> Result<Option<Node<'a>>, VectorError> {
        let Some(object) = self.value.as_object() else {
            return Err(self.invalid(format!("expected an object, found {}", kind(self.value))));
        };
        Ok(object.get(key).filter(|v| !v.is_null()).map(|value| Node {
            value,
            path: self.child(key),
        }))
    }

    /// The member `key`, which must be present and not `null`.
    fn get(&self, key: &str) -> Result<Node<'a>, VectorError> {
        self.opt(key)?.ok_or_else(|| VectorError::MissingField {
            field: self.child(key),
        })
    }

    /// The elements of an array.
    fn items(&self) -> Result<Vec<Node<'a>>, VectorError> {
        let Some(items) = self.value.as_array() else {
            return Err(self.invalid(format!("expected an array, found {}", kind(self.value))));
        };
        Ok(items
            .iter()
            .enumerate()
            .map(|(i, value)| Node {
                value,
                path: format!("{}[{i}]", self.path),
            })
            .collect())
    }

    fn parse<T: DeserializeOwned>(&self) -> Result<T, VectorError> {
        T::deserialize(self.value).map_err(|e| self.invalid(e.to_string()))
    }

    fn parse_with<T>(
        &self,
        f: fn(&'a Value) -> Result<T, serde_json::Error>,
    ) -> Result<T, VectorError> {
        f(self.value).map_err(|e| self.invalid(e.to_string()))
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StrOrU64 {
    Str(String),
    Num(u64),
}

fn u64_from_str_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    match StrOrU64::deserialize(deserializer)? {
        StrOrU64::Num(n) => Ok(n),
        StrOrU64::Str(s) => s
            .trim()
            .parse()
            .map_err(|e| D::Error::custom(format!("`{s}` is not an unsigned integer: {e}"))),
    }
}

/// A duration written as a number of nanoseconds (a string, as in the
/// tendermint JSON encoding, or a plain number).
fn duration_from_nanos<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64_from_str_or_number(deserializer).map(Duration::from_nanos)
}
