//! Caps on open connections, for every door (XMPP c2s, HTTP): one global
//! and one per client address. A connection over a cap is refused at once
//! (closed before anything is read from it), never queued, so a flood from
//! one address cannot take the sockets or memory that others need.
//!
//! IPv6 clients are counted by their /64 network, the block one subscriber
//! usually gets: counting single addresses would let one host open as many
//! connections as it has addresses.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The server holds its global maximum.
    Total,
    /// This client address holds its maximum.
    PerAddress,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refused::Total => "the server holds its maximum of connections (max_connections)",
            Refused::PerAddress => {
                "this address holds its maximum of connections (max_connections_per_ip)"
            }
        })
    }
}

/// Open connections, counted against the caps.
#[derive(Debug)]
pub struct Admission {
    max_total: usize,
    max_per_address: usize,
    total: AtomicUsize,
    by_address: DashMap<IpAddr, usize>,
}

/// Holds one admitted connection's place until dropped.
#[derive(Debug)]
pub struct Admitted {
    admission: Arc<Admission>,
    key: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.admission.total.fetch_sub(1, Ordering::Relaxed);
        if let Entry::Occupied(mut e) = self.admission.by_address.entry(self.key) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }
}

/// The key a client address is counted under, here and by the login
/// slow-down: itself for IPv4 (and IPv4-mapped IPv6), its /64 for IPv6.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(a) & !((1u128 << 64) - 1)).into()),
        },
    }
}

impl Admission {
    /// Caps of `max_total` connections and `max_per_address` per client
    /// address; 0 is no cap.
    pub fn new(max_total: usize, max_per_address: usize) -> Arc<Admission> {
        Arc::new(Admission {
            max_total: if max_total == 0 {
                usize::MAX
            } else {
                max_total
            },
            max_per_address: if max_per_address == 0 {
                usize::MAX
            } else {
                max_per_address
            },
            total: AtomicUsize::new(0),
            by_address: DashMap::new(),
        })
    }

    /// Count a new connection from `peer`, or refuse it.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Admitted, Refused> {
        if self
            .total
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.max_total).then_some(n + 1)
            })
            .is_err()
        {
            return Err(Refused::Total);
        }
        let key = client_key(peer);
        let mut count = self.by_address.entry(key).or_insert(0);
        if *count >= self.max_per_address {
            drop(count);
            self.total.fetch_sub(1, Ordering::Relaxed);
            return Err(Refused::PerAddress);
        }
        *count += 1;
        drop(count);
        Ok(Admitted {
            admission: self.clone(),
            key,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_address_and_in_total() {
        let a = Admission::new(3, 2);
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let two: IpAddr = "192.0.2.2".parse().unwrap();
        let first = a.admit(one).unwrap();
        let _second = a.admit(one).unwrap();
        assert_eq!(a.admit(one).unwrap_err(), Refused::PerAddress);
        let _third = a.admit(two).unwrap();
        assert_eq!(a.admit(two).unwrap_err(), Refused::Total);
        drop(first);
        assert_eq!(a.open(), 2);
        let _again = a.admit(one).expect("a closed connection frees its place");
        drop((_second, _third, _again));
        assert!(
            a.by_address.is_empty(),
            "no entry is kept for idle addresses"
        );
    }

    #[test]
    fn ipv6_counts_per_64_and_zero_is_no_cap() {
        let a = Admission::new(0, 1);
        let _x = a.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert_eq!(
            a.admit("2001:db8:1:2::ffff".parse().unwrap()).unwrap_err(),
            Refused::PerAddress
        );
        let _y = a.admit("2001:db8:1:3::1".parse().unwrap()).unwrap();
        let _z = a.admit("::ffff:192.0.2.9".parse().unwrap()).unwrap();
        assert_eq!(
            a.admit("192.0.2.9".parse().unwrap()).unwrap_err(),
            Refused::PerAddress,
            "IPv4-mapped counts as the IPv4 address"
        );
    }
}
