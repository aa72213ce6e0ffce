//! Verification parameters: trust threshold, trusting period, clock drift.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::credit_chain::VerificationError;

/// The fraction of a trusted validator set's power that must sign an
/// untrusted header before skipping verification trusts it.
///
/// Must lie in [1/3, 1]: below 1/3, every signer could be faulty.
///
/// ```
/// use light_clients::credit_chain::TrustThreshold;
/// let t: TrustThreshold = "1/3".parse().unwrap();
/// assert_eq!(t, TrustThreshold::ONE_THIRD);
/// assert!("1/4".parse::<TrustThreshold>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrustThreshold {
    numerator: u64,
    denominator: u64,
}

impl TrustThreshold {
    /// 1/3, the default for skipping verification.
    pub const ONE_THIRD: TrustThreshold = TrustThreshold {
        numerator: 1,
        denominator: 3,
    };
    /// 2/3, the quorum a header's own validator set must exceed.
    pub const TWO_THIRDS: TrustThreshold = TrustThreshold {
        numerator: 2,
        denominator: 3,
    };

    /// A threshold `numerator/denominator` within [1/3, 1].
    pub fn new(numerator: u64, denominator: u64) -> Result<TrustThreshold, VerificationError> {
        let bad = |reason: &str| {
            VerificationError::InvalidOptions(format!(
                "trust threshold {numerator}/{denominator}: {reason}"
            ))
        };
        if denominator == 0 {
            return Err(bad("denominator is zero"));
        }
        if numerator > denominator {
            return Err(bad("greater than 1"));
        }
        // numerator/denominator < 1/3  <=>  3 * numerator < denominator
        if u128::from(numerator) * 3 < u128::from(denominator) {
            return Err(bad("below 1/3"));
        }
        Ok(TrustThreshold {
            numerator,
            denominator,
        })
    }

    /// Numerator.
    pub fn numerator(self) -> u64 {
        self.numerator
    }

    /// Denominator.
    pub fn denominator(self) -> u64 {
        self.denominator
    }

    /// Whether `tallied` is strictly more than this fraction of `total`.
    pub fn is_exceeded_by(self, tallied: u64, total: u64) -> bool {
        u128::from(tallied) * u128::from(self.denominator)
            > u128::from(total) * u128::from(self.numerator)
    }
}

impl Default for TrustThreshold {
    fn default() -> Self {
        TrustThreshold::ONE_THIRD
    }
}

impl fmt::Display for TrustThreshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.numerator, self.denominator)
    }
}

impl FromStr for TrustThreshold {
    type Err = VerificationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            VerificationError::InvalidOptions(format!(
                "trust threshold {s:?}: expected a fraction such as 1/3"
            ))
        };
        let (n, d) = s.split_once('/').ok_or_else(bad)?;
        let n = n.trim().parse().map_err(|_| bad())?;
        let d = d.trim().parse().map_err(|_| bad())?;
        TrustThreshold::new(n, d)
    }
}

impl TryFrom<String> for TrustThreshold {
    type Error = VerificationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<TrustThreshold> for String {
    fn from(t: TrustThreshold) -> String {
        t.to_string()
    }
}

/// Longest trusting period [`Options::new`] accepts: a year. A trusting
/// period must stay below the chain's unbonding period (weeks); beyond a
/// year it is a typo, and it would let long-unbonded validators fork.
pub const MAX_TRUSTING_PERIOD: Duration = Duration::from_secs(365 * 24 * 3600);

/// Largest clock drift [`Options::new`] accepts: an hour. Clocks that
/// disagree by more are broken; a larger drift lets a header dated far
/// ahead be trusted now.
pub const MAX_CLOCK_DRIFT: Duration = Duration::from_secs(3600);

/// Which verification option was out of bounds.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    /// A trusting period of zero trusts nothing, ever.
    #[error("trusting period is zero: a header must stay trusted for some time")]
    ZeroTrustingPeriod,
    /// A trusting period above [`MAX_TRUSTING_PERIOD`].
    #[error("trusting period {value:?} is longer than the maximum {max:?}")]
    TrustingPeriodTooLong {
        /// The period given.
        value: Duration,
        /// [`MAX_TRUSTING_PERIOD`].
        max: Duration,
    },
    /// A clock drift above [`MAX_CLOCK_DRIFT`].
    #[error("clock drift {value:?} is larger than the maximum {max:?}")]
    ClockDriftTooLarge {
        /// The drift given.
        value: Duration,
        /// [`MAX_CLOCK_DRIFT`].
        max: Duration,
    },
    /// A clock drift not below the trusting period: a header could be
    /// trusted before its own time and after its trust ran out.
    #[error("clock drift {clock_drift:?} is not below the trusting period {trusting_period:?}")]
    ClockDriftNotBelowTrustingPeriod {
        /// The drift given.
        clock_drift: Duration,
        /// The trusting period given.
        trusting_period: Duration,
    },
}

/// The parameters of a credit-chain light client.
///
/// Build them with [`Options::new`], which checks their bounds; the trust
/// threshold is checked by its own type ([`TrustThreshold::new`]).
///
/// ```
/// use std::time::Duration;
/// use light_clients::credit_chain::{Options, OptionsError, TrustThreshold};
/// let day = Duration::from_secs(86_400);
/// assert!(Options::new(TrustThreshold::ONE_THIRD, 14 * day, Duration::from_secs(10)).is_ok());
/// assert_eq!(
///     Options::new(TrustThreshold::ONE_THIRD, Duration::ZERO, Duration::ZERO),
///     Err(OptionsError::ZeroTrustingPeriod)
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Fraction of the trusted set that must sign a skipped-to header.
    pub trust_threshold: TrustThreshold,
    /// How long a trusted header may be used after its time; must be shorter
    /// than the chain's unbonding period.
    pub trusting_period: Duration,
    /// How far in the future (by our clock) a header time may be.
    pub clock_drift: Duration,
}

impl Options {
    /// Options with a trusting period in (0, [`MAX_TRUSTING_PERIOD`]] and a
    /// clock drift at most [`MAX_CLOCK_DRIFT`] and below the trusting period.
    pub fn new(
        trust_threshold: TrustThreshold,
        trusting_period: Duration,
        clock_drift: Duration,
    ) -> Result<Options, OptionsError> {
        let options = Options {
            trust_threshold,
            trusting_period,
            clock_drift,
        };
        options.validate()?;
        Ok(options)
    }

    /// Checks the bounds [`Options::new`] enforces (for options built
    /// field by field).
    pub fn validate(&self) -> Result<(), OptionsError> {
        if self.trusting_period.is_zero() {
            return Err(OptionsError::ZeroTrustingPeriod);
        }
        if self.trusting_period > MAX_TRUSTING_PERIOD {
            return Err(OptionsError::TrustingPeriodTooLong {
                value: self.trusting_period,
                max: MAX_TRUSTING_PERIOD,
            });
        }
        if self.clock_drift > MAX_CLOCK_DRIFT {
            return Err(OptionsError::ClockDriftTooLarge {
                value: self.clock_drift,
                max: MAX_CLOCK_DRIFT,
            });
        }
        if self.clock_drift >= self.trusting_period {
            return Err(OptionsError::ClockDriftNotBelowTrustingPeriod {
                clock_drift: self.clock_drift,
                trusting_period: self.trusting_period,
            });
        }
        Ok(())
    }
}

impl Default for Options {
    /// 1/3 trust, 14 days trusting period, 10 s clock drift.
    fn default() -> Self {
        Options {
            trust_threshold: TrustThreshold::ONE_THIRD,
            trusting_period: Duration::from_secs(14 * 24 * 3600),
            clock_drift: Duration::from_secs(10),
        }
    }
}
