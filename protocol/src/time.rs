//! Heights and times.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Error;
use crate::encoding::{invalid_data, string_conversions};

/// A block height; the first block is height 1.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, Serialize, Deserialize,
)]
#[serde(try_from = "u64", into = "u64")]
pub struct Height(u64);

impl Height {
    /// Height 1, the genesis block.
    pub const GENESIS: Height = Height(1);

    /// A height, refusing zero.
    pub fn new(h: u64) -> Result<Height, Error> {
        if h == 0 {
            Err(Error::ZeroHeight)
        } else {
            Ok(Height(h))
        }
    }

    /// The height as a number.
    pub fn value(self) -> u64 {
        self.0
    }

    /// The next height (saturating at `u64::MAX`).
    pub fn increment(self) -> Height {
        Height(self.0.saturating_add(1))
    }
}

impl TryFrom<u64> for Height {
    type Error = Error;
    fn try_from(h: u64) -> Result<Self, Error> {
        Height::new(h)
    }
}

impl From<Height> for u64 {
    fn from(h: Height) -> u64 {
        h.0
    }
}

impl BorshDeserialize for Height {
    fn deserialize_reader<R: borsh::io::Read>(reader: &mut R) -> borsh::io::Result<Self> {
        Height::new(u64::deserialize_reader(reader)?).map_err(invalid_data)
    }
}

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Height({})", self.0)
    }
}

/// A point in time: nanoseconds since the Unix epoch (UTC). In JSON it is an
/// RFC 3339 string such as `2026-11-23T16:02:13.5Z`.
///
/// ```
/// use protocol::Time;
/// let t: Time = "2026-11-23T16:02:13Z".parse().unwrap();
/// assert_eq!(t.to_string(), "2026-11-23T16:02:13Z");
/// ```
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Time(u64);

impl Time {
    /// A time from nanoseconds since the Unix epoch.
    pub const fn from_unix_nanos(nanos: u64) -> Time {
        Time(nanos)
    }

    /// Nanoseconds since the Unix epoch.
    pub fn unix_nanos(self) -> u64 {
        self.0
    }

    /// `self + d`, or `None` past the representable range.
    pub fn checked_add(self, d: Duration) -> Option<Time> {
        u64::try_from(d.as_nanos())
            .ok()
            .and_then(|n| self.0.checked_add(n))
            .map(Time)
    }

    /// `self - d`, saturating at the epoch.
    pub fn saturating_sub(self, d: Duration) -> Time {
        Time(
            self.0
                .saturating_sub(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        )
    }

    /// How long after `earlier` this time is, or `None` if it is before.
    pub fn duration_since(self, earlier: Time) -> Option<Duration> {
        self.0.checked_sub(earlier.0).map(Duration::from_nanos)
    }
}

impl FromStr for Time {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let fail = |reason: String| Error::InvalidTime {
            value: s.to_owned(),
            reason,
        };
        let dt =
            OffsetDateTime::parse(s, &Rfc3339).map_err(|e| fail(format!("not RFC 3339: {e}")))?;
        u64::try_from(dt.unix_timestamp_nanos())
            .map(Time)
            .map_err(|_| fail("before 1970-01-01T00:00:00Z".to_owned()))
    }
}

string_conversions!(Time);

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every u64 of nanoseconds is within time's range (year < 2555).
        match OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0))
            .ok()
            .and_then(|dt| dt.format(&Rfc3339).ok())
        {
            Some(s) => f.write_str(&s),
            None => write!(f, "{}ns", self.0),
        }
    }
}

impl fmt::Debug for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Time({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trips_through_rfc3339() {
        let t: Time = "2026-11-23T16:02:13.123456789Z".parse().unwrap();
        assert_eq!(t.to_string().parse::<Time>().unwrap(), t);
        assert!(
            "1969-12-31T23:59:59Z"
                .parse::<Time>()
                .unwrap_err()
                .to_string()
                .contains("before 1970")
        );
        assert!(
            "yesterday"
                .parse::<Time>()
                .unwrap_err()
                .to_string()
                .contains("RFC 3339")
        );
        assert!(
            Time::from_unix_nanos(u64::MAX)
                .to_string()
                .starts_with("2554-")
        );
    }

    #[test]
    fn height_zero_is_refused() {
        assert_eq!(Height::new(0), Err(Error::ZeroHeight));
        assert!(serde_json::from_str::<Height>("0").is_err());
        assert!(borsh::from_slice::<Height>(&0u64.to_le_bytes()).is_err());
    }
}
