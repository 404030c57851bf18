//! Request rate limits: a token bucket per key (a token, an account or an
//! IP address) that holds a minute's allowance and refills continuously.

use std::time::{Duration, Instant};

use dashmap::DashMap;

/// Keys kept before idle buckets are dropped.
const PRUNE_OVER: usize = 100_000;

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Buckets by key, all with the same rate.
pub struct RateLimiter {
    per_minute: u32,
    buckets: DashMap<String, Bucket>,
}

impl RateLimiter {
    /// `per_minute` requests a minute, in bursts of up to as many; 0 means
    /// no limit.
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute,
            buckets: DashMap::new(),
        }
    }

    /// Take one request from `key`'s allowance, or say how long to wait.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let now = Instant::now();
        let result = {
            let mut b = self.buckets.entry(key.to_string()).or_insert(Bucket {
                tokens: capacity,
                last: now,
            });
            let refill = now.duration_since(b.last).as_secs_f64() * per_second;
            b.tokens = (b.tokens + refill).min(capacity);
            b.last = now;
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                Ok(())
            } else {
                Err(Duration::from_secs_f64((1.0 - b.tokens) / per_second))
            }
        };
        if self.buckets.len() > PRUNE_OVER {
            self.buckets
                .retain(|_, b| now.duration_since(b.last) < Duration::from_secs(60));
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_the_allowance_then_a_wait() {
        let l = RateLimiter::new(3);
        for _ in 0..3 {
            assert!(l.check("k").is_ok());
        }
        let wait = l.check("k").unwrap_err();
        assert!(wait > Duration::from_secs(15) && wait <= Duration::from_secs(20));
        assert!(l.check("other").is_ok());
        assert!(RateLimiter::new(0).check("k").is_ok());
    }
}
