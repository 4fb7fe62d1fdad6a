//! Bounded exponential backoff with jitter, shared by object_store and the
//! crate's own HTTP clients.

use std::time::Duration;

/// How transient failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// Backoff before the first retry.
    pub initial_backoff: Duration,
    /// Longest single backoff.
    pub max_backoff: Duration,
    /// No retry starts later than this after the first attempt.
    pub total_timeout: Duration,
    /// Timeout of one request (connect to end of response headers; bodies
    /// are bounded by the stall timeout of the transport).
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            total_timeout: Duration::from_secs(180),
            request_timeout: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based): full jitter over an
    /// exponentially growing window, capped at `max_backoff`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let window = self
            .initial_backoff
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
            .min(self.max_backoff);
        let jitter: f64 = rand::random::<f64>();
        // Never below a tenth of the window, so a burst of failures spreads out.
        window.mul_f64(0.1 + 0.9 * jitter)
    }

    pub(crate) fn to_object_store(self) -> object_store::RetryConfig {
        object_store::RetryConfig {
            backoff: object_store::BackoffConfig {
                init_backoff: self.initial_backoff,
                max_backoff: self.max_backoff,
                base: 2.0,
            },
            max_retries: self.max_retries as usize,
            retry_timeout: self.total_timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        for _ in 0..100 {
            assert!(p.backoff(1) <= Duration::from_millis(100));
            assert!(p.backoff(1) >= Duration::from_millis(10));
            assert!(p.backoff(4) <= Duration::from_millis(800));
            assert!(p.backoff(40) <= Duration::from_secs(15));
            assert!(p.backoff(40) >= Duration::from_millis(1500));
        }
    }
}
