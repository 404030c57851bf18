//! Slows down repeated failed logins, per client address and per client
//! address and account: what an attacker tries costs them time, and never
//! the account's owner, who logs in from another address without waiting
//! (a per-account delay would let anyone lock an owner out with a few
//! wrong passwords).
//!
//! Each failure raises a counter that decays after a quiet period; once past the
//! free allowance every further attempt from that address (or from that
//! address on that account) waits an exponentially growing delay, capped,
//! before it is answered. IPv6 addresses count by their /64
//! ([`crate::admission::client_key`]).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::admission::client_key;

/// How long a key must stay quiet before its failures are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(300);
/// Keys kept before the forgotten ones are swept.
const SWEEP_ABOVE: usize = 100_000;

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Failure counters by client address, and by client address and account.
pub struct LoginThrottle {
    by_ip: DashMap<IpAddr, Failures>,
    by_ip_account: DashMap<(IpAddr, String), Failures>,
    free: u32,
    max_delay: Duration,
}

impl LoginThrottle {
    /// A throttle that lets `free` failures pass before delaying, up to `max_delay`.
    pub fn new(free: u32, max_delay: Duration) -> Self {
        LoginThrottle {
            by_ip: DashMap::new(),
            by_ip_account: DashMap::new(),
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

    /// How long to wait before answering an attempt from `ip` (on `account`
    /// once known).
    pub fn delay(&self, ip: IpAddr, account: Option<&str>) -> Duration {
        let ip = client_key(ip);
        let by_ip = self.delay_for(self.by_ip.get(&ip).map(|f| *f));
        let by_pair = account
            .map(|a| self.delay_for(self.by_ip_account.get(&(ip, a.to_owned())).map(|f| *f)))
            .unwrap_or_default();
        by_ip.max(by_pair)
    }

    /// Count a failed attempt.
    pub fn failed(&self, ip: IpAddr, account: Option<&str>) {
        let ip = client_key(ip);
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
            bump(
                &mut self
                    .by_ip_account
                    .entry((ip, a.to_owned()))
                    .or_insert_with(fresh),
            );
        }
        if self.by_ip.len() > SWEEP_ABOVE {
            self.by_ip.retain(|_, f| f.last.elapsed() < FORGET_AFTER);
        }
        if self.by_ip_account.len() > SWEEP_ABOVE {
            self.by_ip_account
                .retain(|_, f| f.last.elapsed() < FORGET_AFTER);
        }
    }

    /// Forget the failures of `ip` on `account` after a successful login
    /// (the address's own count stays: one right password does not clear
    /// guesses at other accounts).
    pub fn succeeded(&self, ip: IpAddr, account: &str) {
        self.by_ip_account
            .remove(&(client_key(ip), account.to_owned()));
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
        assert_eq!(t.delay(ip, Some("b")), Duration::from_secs(2));
    }

    #[test]
    fn the_owner_from_another_address_is_not_slowed() {
        let t = LoginThrottle::new(2, Duration::from_secs(5));
        let attacker: IpAddr = "192.0.2.1".parse().unwrap();
        let owner: IpAddr = "198.51.100.7".parse().unwrap();
        for _ in 0..10 {
            t.failed(attacker, Some("alice"));
        }
        assert_eq!(t.delay(attacker, Some("alice")), Duration::from_secs(5));
        assert_eq!(t.delay(owner, Some("alice")), Duration::ZERO);
        assert_eq!(t.delay(owner, None), Duration::ZERO);
    }

    #[test]
    fn success_clears_the_pair_but_not_the_address() {
        let t = LoginThrottle::new(1, Duration::from_secs(5));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        t.failed(ip, Some("a"));
        t.failed(ip, Some("a"));
        t.succeeded(ip, "a");
        assert!(
            t.delay(ip, Some("a")) > Duration::ZERO,
            "the address still counts"
        );
        let other: IpAddr = "2001:db8::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8::2".parse().unwrap();
        t.failed(other, None);
        t.failed(other, None);
        assert!(
            t.delay(same_64, None) > Duration::ZERO,
            "IPv6 counts per /64"
        );
    }
}
