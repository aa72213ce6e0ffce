//! The local clock every verification reads its "now" from.
//!
//! A light client decides whether a header is too far in the future (clock
//! drift) and whether its trusted state is still within the trusting period
//! by comparing with *now*. That now must be the verifier's own clock, never
//! a time the untrusted party chose (a header's own time): otherwise a
//! header dated a year ahead, or one back-dated to just after a trusted
//! block whose trust expired long ago, would pass. Every process builds one
//! [`SharedClock`] and hands it to everything that verifies; tests hand a
//! [`FixedClock`] instead, to set time where they need it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use protocol::Time;

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> Time;
}

/// A clock shared by every part of a process that verifies.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl SystemClock {
    /// The system clock, shared.
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Time {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Time::from_unix_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// A clock that shows what it was set to, for tests: time moves only when
/// the test moves it.
#[derive(Debug)]
pub struct FixedClock {
    nanos: AtomicU64,
}

impl FixedClock {
    /// A clock showing `at`.
    pub fn new(at: Time) -> Arc<FixedClock> {
        Arc::new(FixedClock {
            nanos: AtomicU64::new(at.unix_nanos()),
        })
    }

    /// Shows `at` from now on.
    pub fn set(&self, at: Time) {
        self.nanos.store(at.unix_nanos(), Ordering::SeqCst);
    }

    /// Moves the clock forward by `by` (saturating).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(by))
            });
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Time {
        Time::from_unix_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_moves_only_when_told() {
        let clock = FixedClock::new(Time::from_unix_nanos(1_000));
        assert_eq!(clock.now().unix_nanos(), 1_000);
        clock.advance(Duration::from_nanos(500));
        assert_eq!(clock.now().unix_nanos(), 1_500);
        clock.set(Time::from_unix_nanos(7));
        assert_eq!(clock.now().unix_nanos(), 7);
    }

    #[test]
    fn the_system_clock_is_after_2020() {
        // 2020-01-01T00:00:00Z in nanoseconds: a clock reading below it is
        // a broken conversion, not a slow machine.
        assert!(SystemClock.now().unix_nanos() > 1_577_836_800_000_000_000);
    }
}
