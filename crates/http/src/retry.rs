//! Whether and when to send a request again: a pure function of what happened, so that every
//! rule is unit-tested without a clock or a network.

use std::time::Duration;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered.
    Status {
        status: u16,
        retry_after: Option<String>,
    },
    /// No connection was made: the request never reached the server.
    ConnectFailed,
    /// The connection broke or timed out after the request may have been sent.
    Interrupted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    RetryAfter(Duration),
    Stop,
}

/// Exponential back-off with jitter, capped, for a bounded number of attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The longest `Retry-After` we are willing to honour; longer waits give up instead.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

/// Decides after attempt number `attempt` (1-based). `jitter` is a number in [0, 1).
pub fn decide(
    policy: &RetryPolicy,
    outcome: &Outcome,
    idempotent: bool,
    attempt: u32,
    now: jiff::Timestamp,
    jitter: f64,
) -> Decision {
    if attempt >= policy.max_attempts {
        return Decision::Stop;
    }
    let retryable = match outcome {
        Outcome::Status { status, .. } => match status {
            429 | 503 => true,
            500 | 502 | 504 => idempotent,
            _ => false,
        },
        Outcome::ConnectFailed => true,
        Outcome::Interrupted => idempotent,
    };
    if !retryable {
        return Decision::Stop;
    }
    let backoff = backoff(policy, attempt, jitter);
    if let Outcome::Status {
        retry_after: Some(text),
        ..
    } = outcome
        && let Some(wait) = parse_retry_after(text, now)
    {
        if wait > policy.max_retry_after {
            return Decision::Stop;
        }
        return Decision::RetryAfter(wait.max(backoff.min(Duration::from_millis(50))));
    }
    Decision::RetryAfter(backoff)
}

/// base * 2^(attempt-1), capped, then scaled into [50%, 100%] by the jitter ("equal jitter").
fn backoff(policy: &RetryPolicy, attempt: u32, jitter: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(20);
    let raw = policy.base_delay.saturating_mul(1u32 << exponent);
    let capped = raw.min(policy.max_delay);
    let jitter = jitter.clamp(0.0, 1.0);
    capped.mul_f64(0.5 + jitter / 2.0)
}

/// `Retry-After` as delay-seconds or as an HTTP date (RFC 9110); a date in the past is zero.
pub fn parse_retry_after(text: &str, now: jiff::Timestamp) -> Option<Duration> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = jiff::fmt::rfc2822::parse(text).ok()?.timestamp();
    let span = when.duration_since(now);
    Some(Duration::try_from(span).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> jiff::Timestamp {
        "2026-11-27T06:00:00Z".parse().unwrap()
    }

    fn status(status: u16, retry_after: Option<&str>) -> Outcome {
        Outcome::Status {
            status,
            retry_after: retry_after.map(str::to_string),
        }
    }

    #[test]
    fn retries_429_and_503_even_for_writes() {
        let p = RetryPolicy::default();
        for code in [429, 503] {
            assert!(matches!(
                decide(&p, &status(code, None), false, 1, now(), 0.0),
                Decision::RetryAfter(_)
            ));
        }
    }

    #[test]
    fn retries_other_5xx_only_when_idempotent() {
        let p = RetryPolicy::default();
        assert!(matches!(
            decide(&p, &status(502, None), true, 1, now(), 0.0),
            Decision::RetryAfter(_)
        ));
        assert_eq!(
            decide(&p, &status(502, None), false, 1, now(), 0.0),
            Decision::Stop
        );
    }

    #[test]
    fn never_retries_client_errors() {
        let p = RetryPolicy::default();
        for code in [400, 401, 403, 404, 409] {
            assert_eq!(
                decide(&p, &status(code, None), true, 1, now(), 0.5),
                Decision::Stop
            );
        }
    }

    #[test]
    fn interrupted_writes_are_not_resent() {
        let p = RetryPolicy::default();
        assert_eq!(
            decide(&p, &Outcome::Interrupted, false, 1, now(), 0.5),
            Decision::Stop
        );
        assert!(matches!(
            decide(&p, &Outcome::ConnectFailed, false, 1, now(), 0.5),
            Decision::RetryAfter(_)
        ));
    }

    #[test]
    fn stops_after_the_last_attempt() {
        let p = RetryPolicy::default();
        assert_eq!(
            decide(&p, &status(503, None), true, p.max_attempts, now(), 0.0),
            Decision::Stop
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        let wait = |attempt| match decide(&p, &status(503, None), true, attempt, now(), 0.999) {
            Decision::RetryAfter(d) => d,
            Decision::Stop => panic!("expected a retry"),
        };
        assert!(wait(2) > wait(1));
        let big = RetryPolicy {
            max_attempts: 100,
            ..RetryPolicy::default()
        };
        match decide(&big, &status(503, None), true, 40, now(), 0.999) {
            Decision::RetryAfter(d) => assert!(d <= big.max_delay),
            Decision::Stop => panic!("expected a retry"),
        }
    }

    #[test]
    fn honours_retry_after_seconds_and_dates() {
        let p = RetryPolicy::default();
        assert_eq!(
            decide(&p, &status(429, Some("3")), false, 1, now(), 0.0),
            Decision::RetryAfter(Duration::from_secs(3))
        );
        assert_eq!(
            parse_retry_after("Fri, 27 Nov 2026 06:00:07 GMT", now()),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Fri, 27 Nov 2026 05:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now()), None);
    }

    #[test]
    fn gives_up_on_an_unreasonable_retry_after() {
        let p = RetryPolicy::default();
        assert_eq!(
            decide(&p, &status(503, Some("86400")), true, 1, now(), 0.0),
            Decision::Stop
        );
    }
}
