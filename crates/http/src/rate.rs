//! The rate limit of one end: a token bucket as pure arithmetic over a time passed in, so that
//! every rule is unit-tested without a clock. The transport does the waiting.

use std::time::Duration;

/// The most requests let through at once after a quiet spell.
pub const MAX_BURST: f64 = 5.0;

/// A token bucket that refills at `rate` tokens a second up to `burst` tokens. Taking a token
/// reserves it even when none is there yet: the bucket goes into debt and the taker is told how
/// long to wait, so that concurrent takers queue one behind the other instead of all at once.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    /// The time of the last take, from the same origin as the `now` passed in.
    last: Duration,
}

impl TokenBucket {
    /// A full bucket at time zero, or `None` when `rate_per_second` is not a positive number
    /// (no limit). The burst is one second's worth, at least 1 and at most [`MAX_BURST`].
    pub fn new(rate_per_second: f64) -> Option<TokenBucket> {
        if !(rate_per_second.is_finite() && rate_per_second > 0.0) {
            return None;
        }
        let burst = rate_per_second.clamp(1.0, MAX_BURST);
        Some(TokenBucket {
            rate: rate_per_second,
            burst,
            tokens: burst,
            last: Duration::ZERO,
        })
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn burst(&self) -> f64 {
        self.burst
    }

    /// Takes one token at `now` and says how long to wait before using it (zero: go now).
    /// A `now` earlier than a previous one is treated as that one.
    pub fn take(&mut self, now: Duration) -> Duration {
        let now = now.max(self.last);
        let refill = (now - self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            return Duration::ZERO;
        }
        Duration::try_from_secs_f64(-self.tokens / self.rate).unwrap_or(Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn no_rate_means_no_bucket() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(TokenBucket::new(rate), None, "{rate}");
        }
    }

    #[test]
    fn the_burst_is_one_second_bounded_to_one_and_the_cap() {
        assert_eq!(TokenBucket::new(0.5).map(|b| b.burst()), Some(1.0));
        assert_eq!(TokenBucket::new(3.0).map(|b| b.burst()), Some(3.0));
        assert_eq!(TokenBucket::new(100.0).map(|b| b.burst()), Some(MAX_BURST));
    }

    #[test]
    fn a_burst_goes_at_once_and_the_rest_are_spaced_at_the_rate() {
        let mut bucket = TokenBucket::new(2.0).unwrap();
        let waits: Vec<Duration> = (0..5).map(|_| bucket.take(Duration::ZERO)).collect();
        assert_eq!(
            waits,
            [ms(0), ms(0), ms(500), ms(1000), ms(1500)],
            "two go at once, then one every half second, each queued behind the last"
        );
    }

    #[test]
    fn tokens_come_back_with_time_up_to_the_burst() {
        let mut bucket = TokenBucket::new(4.0).unwrap();
        for _ in 0..4 {
            assert_eq!(bucket.take(Duration::ZERO), Duration::ZERO);
        }
        assert_eq!(bucket.take(Duration::ZERO), ms(250));
        // The debt is paid at 250 ms; 500 ms later one more token has come back.
        assert_eq!(bucket.take(ms(500)), Duration::ZERO);
        assert_eq!(bucket.take(ms(500)), ms(250));
        // A long quiet spell refills no more than the burst.
        let later = Duration::from_secs(3600);
        for _ in 0..4 {
            assert_eq!(bucket.take(later), Duration::ZERO);
        }
        assert_eq!(bucket.take(later), ms(250));
    }

    #[test]
    fn a_steady_caller_at_the_rate_never_waits() {
        let mut bucket = TokenBucket::new(10.0).unwrap();
        for i in 0..100 {
            assert_eq!(bucket.take(ms(100 * i)), Duration::ZERO, "take {i}");
        }
    }

    #[test]
    fn time_going_backwards_does_not_refill() {
        let mut bucket = TokenBucket::new(1.0).unwrap();
        assert_eq!(bucket.take(Duration::from_secs(10)), Duration::ZERO);
        assert_eq!(bucket.take(Duration::from_secs(5)), Duration::from_secs(1));
    }

    #[test]
    fn slow_rates_wait_long() {
        let mut bucket = TokenBucket::new(0.25).unwrap();
        assert_eq!(bucket.take(Duration::ZERO), Duration::ZERO);
        assert_eq!(bucket.take(Duration::ZERO), Duration::from_secs(4));
    }
}
