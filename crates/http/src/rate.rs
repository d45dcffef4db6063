//! The rate limit of one end: `governor`'s limiter (GCRA, a token bucket kept as one timestamp)
//! on tokio's clock, so that tests on a paused clock see its waits, with waiters served one at
//! a time in the order they came.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

/// The most requests let through at once after a quiet spell.
pub const MAX_BURST: u32 = 5;

/// The longest time between two requests that a rate asks for: a slower rate counts as one
/// request a day (governor keeps times in nanoseconds, 584 years at most).
pub const MAX_PERIOD: Duration = Duration::from_secs(24 * 3600);

/// How fast one end may be asked: `rate` requests a second, with a burst of one second's worth
/// (rounded down), at least 1 and at most [`MAX_BURST`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateQuota {
    rate: f64,
    burst: NonZeroU32,
}

impl RateQuota {
    /// `None` when `rate_per_second` is not a positive number (no limit).
    pub fn new(rate_per_second: f64) -> Option<RateQuota> {
        if !(rate_per_second.is_finite() && rate_per_second > 0.0) {
            return None;
        }
        // The float is clamped to 1..=MAX_BURST first, so the cast is exact.
        let burst = rate_per_second.floor().clamp(1.0, f64::from(MAX_BURST)) as u32;
        Some(RateQuota {
            rate: rate_per_second,
            burst: NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
        })
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn burst(&self) -> u32 {
        self.burst.get()
    }

    /// The time between two requests at the rate, from a nanosecond up to [`MAX_PERIOD`].
    pub fn period(&self) -> Duration {
        Duration::try_from_secs_f64(1.0 / self.rate)
            .unwrap_or(MAX_PERIOD)
            .clamp(Duration::from_nanos(1), MAX_PERIOD)
    }

    fn quota(&self) -> Option<Quota> {
        Quota::with_period(self.period()).map(|quota| quota.allow_burst(self.burst))
    }
}

/// Nanoseconds since the limiter was made, on tokio's clock (which tests may pause).
#[derive(Debug, Clone, Copy)]
struct TokioClock {
    origin: Instant,
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Nanos>>;

/// The rate limit of one end, shared by all its requests.
pub struct RateLimit {
    quota: RateQuota,
    clock: TokioClock,
    limiter: Limiter,
    /// One waiter at a time asks the limiter; tokio's mutex hands the turn on in arrival order,
    /// so requests that wait are sent in the order they came instead of racing at each refill.
    turn: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("quota", &self.quota)
            .finish_non_exhaustive()
    }
}

impl RateLimit {
    /// A limit with its full burst available now; `None` when the rate sets no limit.
    pub fn new(rate_per_second: f64) -> Option<RateLimit> {
        let quota = RateQuota::new(rate_per_second)?;
        let clock = TokioClock {
            origin: Instant::now(),
        };
        Some(RateLimit {
            quota,
            clock,
            limiter: RateLimiter::direct_with_clock(quota.quota()?, clock),
            turn: tokio::sync::Mutex::new(()),
        })
    }

    pub fn quota(&self) -> RateQuota {
        self.quota
    }

    /// Waits until one more request may be sent and counts it against the rate. `None` when it
    /// went at once; otherwise how long it waited (behind other waiters, then for the rate).
    pub async fn until_ready(&self) -> Option<Duration> {
        let start = Instant::now();
        let (_turn, mut waited) = match self.turn.try_lock() {
            Ok(turn) => (turn, false),
            Err(_) => (self.turn.lock().await, true),
        };
        while let Err(not_until) = self.limiter.check() {
            waited = true;
            tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
        }
        waited.then(|| start.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn no_rate_means_no_limit() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(RateQuota::new(rate), None, "{rate}");
            assert!(RateLimit::new(rate).is_none(), "{rate}");
        }
    }

    #[test]
    fn the_burst_is_one_second_bounded_to_one_and_the_cap() {
        assert_eq!(RateQuota::new(0.5).map(|q| q.burst()), Some(1));
        assert_eq!(RateQuota::new(3.0).map(|q| q.burst()), Some(3));
        assert_eq!(RateQuota::new(3.7).map(|q| q.burst()), Some(3));
        assert_eq!(RateQuota::new(100.0).map(|q| q.burst()), Some(MAX_BURST));
    }

    #[test]
    fn the_period_is_bounded() {
        assert_eq!(RateQuota::new(4.0).map(|q| q.period()), Some(ms(250)));
        assert_eq!(RateQuota::new(1e-12).map(|q| q.period()), Some(MAX_PERIOD));
        assert_eq!(
            RateQuota::new(1e12).map(|q| q.period()),
            Some(Duration::from_nanos(1))
        );
        assert!(RateLimit::new(1e-12).is_some() && RateLimit::new(1e12).is_some());
    }

    /// When each of `count` takers that all come at once is let through, from the start.
    async fn concurrent_release_times(rate: f64, count: usize) -> Vec<Duration> {
        let limit = std::sync::Arc::new(RateLimit::new(rate).unwrap());
        let start = Instant::now();
        let takers: Vec<_> = (0..count)
            .map(|_| {
                let limit = limit.clone();
                tokio::spawn(async move {
                    limit.until_ready().await;
                    start.elapsed()
                })
            })
            .collect();
        let mut times = Vec::new();
        for taker in takers {
            times.push(taker.await.unwrap());
        }
        times
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_goes_at_once_and_the_rest_are_spaced_at_the_rate() {
        assert_eq!(
            concurrent_release_times(2.0, 5).await,
            [ms(0), ms(0), ms(500), ms(1000), ms(1500)],
            "two go at once, then one every half second, each queued behind the last"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_come_back_with_time_up_to_the_burst() {
        let limit = RateLimit::new(4.0).unwrap();
        for _ in 0..4 {
            assert_eq!(limit.until_ready().await, None);
        }
        assert_eq!(limit.until_ready().await, Some(ms(250)));
        // The 250 ms wait paid for that one; 250 ms later one more has come back.
        tokio::time::advance(ms(250)).await;
        assert_eq!(limit.until_ready().await, None);
        assert_eq!(limit.until_ready().await, Some(ms(250)));
        // A long quiet spell refills no more than the burst.
        tokio::time::advance(Duration::from_secs(3600)).await;
        for _ in 0..4 {
            assert_eq!(limit.until_ready().await, None);
        }
        assert_eq!(limit.until_ready().await, Some(ms(250)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_caller_at_the_rate_never_waits() {
        let limit = RateLimit::new(10.0).unwrap();
        for i in 0..100 {
            assert_eq!(limit.until_ready().await, None, "take {i}");
            tokio::time::advance(ms(100)).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn slow_rates_wait_long() {
        let limit = RateLimit::new(0.25).unwrap();
        assert_eq!(limit.until_ready().await, None);
        assert_eq!(limit.until_ready().await, Some(Duration::from_secs(4)));
    }
}
