//! Timeouts, retries and limits of an adapter's RPC client.

use std::time::Duration;

use crate::AdapterError;

/// Timeouts, retries, backoff and limits of an adapter's RPC client.
///
/// A request goes to each endpoint in turn (healthy ones first) until one
/// gives an answer that verifies; that is one round. When a round fails
/// everywhere, the adapter waits `backoff_base * 2^round` (at most
/// `backoff_max`) and tries again, `retries` more times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcOptions {
    /// Longest wait for one whole answer (connection, headers and body).
    pub timeout: Duration,
    /// Longest wait for `POST /tx`, which answers once the transaction is
    /// committed (the reference node waits up to 30 s).
    pub submit_timeout: Duration,
    /// Extra rounds over all endpoints after the first one failed.
    pub retries: u32,
    /// Wait before the second round; doubled for each further round.
    pub backoff_base: Duration,
    /// Longest wait between rounds.
    pub backoff_max: Duration,
    /// How long an endpoint that failed is tried only after the healthy
    /// ones.
    pub quarantine: Duration,
    /// Largest answer accepted, in bytes; a larger one is a failure.
    pub max_response_bytes: usize,
    /// Longest time the block event stream may go without a new block
    /// before the adapter falls back to polling `/status`.
    pub silence_timeout: Duration,
    /// How often `/status` is polled while the event stream is down.
    pub poll_interval: Duration,
    /// How long to poll before subscribing to the event stream again.
    pub resubscribe_after: Duration,
}

impl Default for RpcOptions {
    fn default() -> RpcOptions {
        RpcOptions {
            timeout: Duration::from_secs(10),
            submit_timeout: Duration::from_secs(45),
            retries: 2,
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(5),
            quarantine: Duration::from_secs(30),
            max_response_bytes: 16 * 1024 * 1024,
            silence_timeout: Duration::from_secs(20),
            poll_interval: Duration::from_secs(1),
            resubscribe_after: Duration::from_secs(30),
        }
    }
}

impl RpcOptions {
    /// Smallest accepted `max_response_bytes`.
    pub const MIN_RESPONSE_BYTES: usize = 4096;

    /// Checks that every option is in range.
    pub fn validate(&self) -> Result<(), AdapterError> {
        let positive = [
            ("timeout", self.timeout),
            ("submit_timeout", self.submit_timeout),
            ("silence_timeout", self.silence_timeout),
            ("poll_interval", self.poll_interval),
        ];
        for (name, value) in positive {
            if value.is_zero() {
                return Err(AdapterError::InvalidConfig(format!(
                    "{name} must be more than zero"
                )));
            }
        }
        if self.backoff_base > self.backoff_max {
            return Err(AdapterError::InvalidConfig(format!(
                "backoff_base {:?} is above backoff_max {:?}",
                self.backoff_base, self.backoff_max
            )));
        }
        if self.max_response_bytes < Self::MIN_RESPONSE_BYTES {
            return Err(AdapterError::InvalidConfig(format!(
                "max_response_bytes {} is below {}",
                self.max_response_bytes,
                Self::MIN_RESPONSE_BYTES
            )));
        }
        Ok(())
    }

    /// The wait after failed round `round` (0 = after the first):
    /// `backoff_base * 2^round`, at most `backoff_max`.
    pub fn backoff(&self, round: u32) -> Duration {
        let factor = 1u32.checked_shl(round.min(31)).unwrap_or(u32::MAX);
        self.backoff_base
            .checked_mul(factor)
            .map_or(self.backoff_max, |d| d.min(self.backoff_max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let o = RpcOptions {
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(700),
            ..RpcOptions::default()
        };
        let waits: Vec<u128> = (0..5).map(|r| o.backoff(r).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 700, 700]);
        assert_eq!(o.backoff(u32::MAX), Duration::from_millis(700));
    }

    #[test]
    fn out_of_range_options_are_named() {
        let o = RpcOptions {
            timeout: Duration::ZERO,
            ..RpcOptions::default()
        };
        assert!(o.validate().unwrap_err().to_string().contains("timeout"));
        let o = RpcOptions {
            backoff_base: Duration::from_secs(9),
            ..RpcOptions::default()
        };
        assert!(
            o.validate()
                .unwrap_err()
                .to_string()
                .contains("backoff_base")
        );
        assert!(RpcOptions::default().validate().is_ok());
    }
}
