//! Slows down repeated failed logins, per client IP and per account.
//!
//! Each failure raises a counter that decays after a quiet period; once past the
//! free allowance every further attempt from that IP or on that account waits
//! an exponentially growing delay, capped, before it is answered.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// How long a key must stay quiet before its failures are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(300);

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Failure counters by IP and by account.
pub struct LoginThrottle {
    by_ip: DashMap<IpAddr, Failures>,
    by_account: DashMap<String, Failures>,
    free: u32,
    max_delay: Duration,
}

impl LoginThrottle {
    /// A throttle that lets `free` failures pass before delaying, up to `max_delay`.
    pub fn new(free: u32, max_delay: Duration) -> Self {
        LoginThrottle {
            by_ip: DashMap::new(),
            by_account: DashMap::new(),
            free,
            max_delay,
        }
    }

    fn delay_for(&self, f: Option<Failures>) -> Duration {
        match f {
            Some(f) if f.last.elapsed() < FORGET_AFTER && f.count >= self.free => {
                let steps = (f.count - self.free).min(16);
                (Duration::from_millis(250) * 2u32.pow(steps)).min(self.max_delay)
            }
            _ => Duration::ZERO,
        }
    }

    /// How long to wait before answering an attempt from `ip` (and on `account` once known).
    pub fn delay(&self, ip: IpAddr, account: Option<&str>) -> Duration {
        let by_ip = self.delay_for(self.by_ip.get(&ip).map(|f| *f));
        let by_account = account
            .map(|a| self.delay_for(self.by_account.get(a).map(|f| *f)))
            .unwrap_or_default();
        by_ip.max(by_account)
    }

    /// Count a failed attempt.
    pub fn failed(&self, ip: IpAddr, account: Option<&str>) {
        let bump = |f: &mut Failures| {
            if f.last.elapsed() >= FORGET_AFTER {
                f.count = 0;
            }
            f.count += 1;
            f.last = Instant::now();
        };
        let fresh = || Failures {
            count: 0,
            last: Instant::now(),
        };
        bump(&mut self.by_ip.entry(ip).or_insert_with(fresh));
        if let Some(a) = account {
            bump(&mut self.by_account.entry(a.to_owned()).or_insert_with(fresh));
        }
        if self.by_ip.len() > 100_000 {
            self.by_ip.retain(|_, f| f.last.elapsed() < FORGET_AFTER);
        }
        if self.by_account.len() > 100_000 {
            self.by_account
                .retain(|_, f| f.last.elapsed() < FORGET_AFTER);
        }
    }

    /// Forget the account's failures after a successful login.
    pub fn succeeded(&self, account: &str) {
        self.by_account.remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_after_the_free_allowance_and_are_capped() {
        let t = LoginThrottle::new(2, Duration::from_secs(2));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(t.delay(ip, Some("a")), Duration::ZERO);
        t.failed(ip, Some("a"));
        t.failed(ip, Some("a"));
        let first = t.delay(ip, Some("a"));
        assert!(first > Duration::ZERO);
        t.failed(ip, Some("a"));
        assert!(t.delay(ip, None) > first);
        for _ in 0..20 {
            t.failed(ip, Some("a"));
        }
        assert_eq!(t.delay(ip, None), Duration::from_secs(2));
        // Another IP trying the same account is slowed too.
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(t.delay(other, Some("a")), Duration::from_secs(2));
        t.succeeded("a");
        assert_eq!(t.delay(other, Some("a")), Duration::ZERO);
    }
}
