//! The guard against server-side request forgery: which addresses the
//! server may connect to when a user gives it a URL (webhooks today;
//! ActivityPub and WebSub deliveries later).
//!
//! [`refusal`] judges one address. IPv6 forms that carry an IPv4 address
//! (IPv4-mapped, IPv4-translated, NAT64 with the well-known prefix, 6to4
//! and both addresses of Teredo) are decoded and the IPv4 address judged,
//! so `http://[64:ff9b::7f00:1]/` is loopback as much as `127.0.0.1` is.
//! Beyond those, only global unicast space is allowed: every range of the
//! IANA special-purpose registries that is not globally reachable is
//! refused, and so is IPv6 outside `2000::/3`.
//!
//! [`GuardedResolver`] makes the check and the connection one step: it
//! resolves a name, refuses it if any address is refused, and hands the
//! checked addresses to the HTTP client, which connects only to those (no
//! second lookup that DNS rebinding could answer differently). An IP
//! literal in a URL never reaches a resolver, so callers check it with
//! [`check_url_host`] before each request. Redirects must not be followed
//! automatically (each hop would need the same check); the webhook sender
//! does not follow them at all.
//!
//! Written here rather than taken from a crate: the standard library's
//! `is_global` is still unstable, and the crates that offer such a check
//! do not decode the IPv6 forms that embed IPv4 addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// How long resolving a host may take.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why `ip` must not be connected to on a user's behalf, or None if it is
/// a public unicast address.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(a) => refusal_v4(a),
        IpAddr::V6(a) => refusal_v6(a),
    }
}

/// Is `ip` a public unicast address a user's URL may lead to?
pub fn is_public(ip: IpAddr) -> bool {
    refusal(ip).is_none()
}

/// `a` is in `net`/`len`.
fn in_v4(a: Ipv4Addr, net: [u8; 4], len: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    u32::from(a) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

/// IPv4 ranges that are not globally reachable (RFC 6890 and the IANA
/// IPv4 special-purpose registry), each with what it is.
const V4_REFUSED: &[([u8; 4], u32, &str)] = &[
    ([0, 0, 0, 0], 8, "\"this network\" (0.0.0.0/8)"),
    ([10, 0, 0, 0], 8, "private (10.0.0.0/8)"),
    ([100, 64, 0, 0], 10, "shared address space (100.64.0.0/10)"),
    ([127, 0, 0, 0], 8, "loopback (127.0.0.0/8)"),
    ([169, 254, 0, 0], 16, "link-local (169.254.0.0/16)"),
    ([172, 16, 0, 0], 12, "private (172.16.0.0/12)"),
    (
        [192, 0, 0, 0],
        24,
        "IETF protocol assignments (192.0.0.0/24)",
    ),
    ([192, 0, 2, 0], 24, "documentation (192.0.2.0/24)"),
    ([192, 31, 196, 0], 24, "AS112 (192.31.196.0/24)"),
    ([192, 52, 193, 0], 24, "AMT (192.52.193.0/24)"),
    ([192, 88, 99, 0], 24, "6to4 relay anycast (192.88.99.0/24)"),
    ([192, 168, 0, 0], 16, "private (192.168.0.0/16)"),
    (
        [192, 175, 48, 0],
        24,
        "AS112 direct delegation (192.175.48.0/24)",
    ),
    ([198, 18, 0, 0], 15, "benchmarking (198.18.0.0/15)"),
    ([198, 51, 100, 0], 24, "documentation (198.51.100.0/24)"),
    ([203, 0, 113, 0], 24, "documentation (203.0.113.0/24)"),
    ([224, 0, 0, 0], 4, "multicast (224.0.0.0/4)"),
    ([240, 0, 0, 0], 4, "reserved (240.0.0.0/4)"),
];

fn refusal_v4(a: Ipv4Addr) -> Option<&'static str> {
    V4_REFUSED
        .iter()
        .find(|(net, len, _)| in_v4(a, *net, *len))
        .map(|(_, _, why)| *why)
}

/// `a` is in `net`/`len`.
fn in_v6(a: Ipv6Addr, net: [u16; 8], len: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    u128::from(a) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

/// The 32 bits of `a` from bit `at` (counted from the left) as an IPv4 address.
fn v4_at(a: Ipv6Addr, at: u32) -> Ipv4Addr {
    Ipv4Addr::from((u128::from(a) >> (96 - at)) as u32)
}

/// The IPv4 addresses an IPv6 address carries, by the form that carries
/// them: IPv4-mapped (`::ffff:0:0/96`), IPv4-translated
/// (`::ffff:0:0:0/96`), NAT64 with the well-known prefix
/// (`64:ff9b::/96`), 6to4 (`2002::/16`) and Teredo (`2001::/32`: the
/// server's address, and the client's, stored inverted).
pub fn embedded_v4(a: Ipv6Addr) -> Vec<Ipv4Addr> {
    const LAST: u32 = 96;
    if in_v6(a, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96)
        || in_v6(a, [0, 0, 0, 0, 0xffff, 0, 0, 0], 96)
        || in_v6(a, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96)
    {
        return vec![v4_at(a, LAST)];
    }
    if in_v6(a, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        return vec![v4_at(a, 16)];
    }
    if in_v6(a, [0x2001, 0, 0, 0, 0, 0, 0, 0], 32) {
        let client = Ipv4Addr::from(!u32::from(v4_at(a, LAST)));
        return vec![v4_at(a, 32), client];
    }
    Vec::new()
}

/// IPv6 ranges refused outright (the IANA IPv6 special-purpose registry's
/// ranges that are not globally reachable, and those that only make sense
/// inside one network), each with what it is. Checked after the forms
/// that embed an IPv4 address.
const V6_REFUSED: &[([u16; 8], u32, &str)] = &[
    ([0, 0, 0, 0, 0, 0, 0, 0], 128, "unspecified (::)"),
    ([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback (::1)"),
    (
        [0, 0, 0, 0, 0, 0, 0, 0],
        96,
        "IPv4-compatible, deprecated (::/96)",
    ),
    (
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        "local-use NAT64 (64:ff9b:1::/48)",
    ),
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only (100::/64)"),
    (
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        "IETF protocol assignments (2001::/23)",
    ),
    (
        [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
        32,
        "documentation (2001:db8::/32)",
    ),
    (
        [0x3fff, 0, 0, 0, 0, 0, 0, 0],
        20,
        "documentation (3fff::/20)",
    ),
    (
        [0x5f00, 0, 0, 0, 0, 0, 0, 0],
        16,
        "segment routing SIDs (5f00::/16)",
    ),
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique local (fc00::/7)"),
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local (fe80::/10)"),
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast (ff00::/8)"),
];

fn refusal_v6(a: Ipv6Addr) -> Option<&'static str> {
    let embedded = embedded_v4(a);
    if !embedded.is_empty() {
        // Teredo lies inside 2001::/23, but its addresses are judged by the
        // IPv4 addresses they lead to.
        return embedded.into_iter().find_map(refusal_v4);
    }
    if let Some((_, _, why)) = V6_REFUSED.iter().find(|(net, len, _)| in_v6(a, *net, *len)) {
        return Some(why);
    }
    if !in_v6(a, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3) {
        return Some("not global unicast (outside 2000::/3)");
    }
    None
}

/// Why a URL host, as the `url` crate parsed it, must not be connected to:
/// a refused IP literal, or a name under `localhost` (RFC 6761). Other
/// names are judged by the addresses they resolve to ([`resolve_public`]).
pub fn check_url_host(host: &url::Host<&str>) -> Result<(), String> {
    let ip = match host {
        url::Host::Ipv4(a) => IpAddr::V4(*a),
        url::Host::Ipv6(a) => IpAddr::V6(*a),
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if d == "localhost" || d.ends_with(".localhost") {
                return Err(format!("{d} is a private address: loopback (RFC 6761)"));
            }
            return Ok(());
        }
    };
    match refusal(ip) {
        Some(why) => Err(format!("{ip} is a private address: {why}")),
        None => Ok(()),
    }
}

/// Why a host name may not be connected to.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// It is, or resolves to, an address that is not public.
    #[error("{0}")]
    Refused(String),
    /// It does not resolve (in time).
    #[error("{0}")]
    Unresolvable(String),
}

/// Resolve `host` and return its addresses (with `port`) if every one of
/// them is public.
pub async fn resolve_public(host: &str, port: u16) -> Result<Vec<SocketAddr>, HostError> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    check_url_host(&url::Host::Domain(host.as_str())).map_err(HostError::Refused)?;
    let lookup = tokio::net::lookup_host((host.as_str(), port));
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(e)) => return Err(HostError::Unresolvable(format!("{host}: {e}"))),
        Err(_) => {
            return Err(HostError::Unresolvable(format!(
                "{host} did not resolve within {RESOLVE_TIMEOUT:?}"
            )))
        }
    };
    if addrs.is_empty() {
        return Err(HostError::Unresolvable(format!("{host} has no address")));
    }
    for a in &addrs {
        if let Some(why) = refusal(a.ip()) {
            return Err(HostError::Refused(format!(
                "{host} resolves to {}, a private address: {why}",
                a.ip()
            )));
        }
    }
    Ok(addrs)
}

/// A resolver for reqwest that only returns names whose addresses are all
/// public ([`resolve_public`]); reqwest then connects to exactly those.
#[derive(Clone, Copy, Debug, Default)]
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let addrs = resolve_public(name.as_str(), 0)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Addresses a user's URL must not lead to, each with the reason's
    /// first word.
    const REFUSED: &[(&str, &str)] = &[
        // IPv4.
        ("0.0.0.0", "\"this"),
        ("0.1.2.3", "\"this"),
        ("10.0.0.1", "private"),
        ("10.255.255.255", "private"),
        ("100.64.0.1", "shared"),
        ("100.127.255.254", "shared"),
        ("127.0.0.1", "loopback"),
        ("127.0.0.5", "loopback"),
        ("127.255.255.255", "loopback"),
        ("169.254.169.254", "link-local"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.0.0.8", "IETF"),
        ("192.0.2.1", "documentation"),
        ("192.31.196.1", "AS112"),
        ("192.52.193.1", "AMT"),
        ("192.88.99.1", "6to4"),
        ("192.168.0.1", "private"),
        ("192.175.48.1", "AS112"),
        ("198.18.0.1", "benchmarking"),
        ("198.19.255.255", "benchmarking"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        // IPv6 ranges.
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("::8.8.8.8", "IPv4-compatible"),
        ("::7f00:1", "IPv4-compatible"),
        ("64:ff9b:1::7f00:1", "local-use"),
        ("64:ff9b:1:ffff::1", "local-use"),
        ("100::1", "discard-only"),
        ("2001:2::1", "IETF"),
        ("2001:10::1", "IETF"),
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation"),
        ("5f00::1", "segment"),
        ("fc00::1", "unique"),
        ("fd12:3456::1", "unique"),
        ("fe80::1", "link-local"),
        ("febf::1", "link-local"),
        ("ff02::1", "multicast"),
        ("ff05::2", "multicast"),
        ("fec0::1", "not"),
        ("4000::1", "not"),
        ("8000::1", "not"),
        // IPv4-mapped.
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.5", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        // IPv4-translated.
        ("::ffff:0:7f00:5", "loopback"),
        ("::ffff:0:a00:1", "private"),
        // NAT64, well-known prefix.
        ("64:ff9b::7f00:5", "loopback"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("64:ff9b::c0a8:101", "private"),
        // 6to4.
        ("2002:7f00:5::", "loopback"),
        ("2002:a00:1::1", "private"),
        ("2002:c0a8:101:1::1", "private"),
        // Teredo: the server's address, then the client's (inverted).
        ("2001:0:7f00:1::", "loopback"),
        ("2001:0:808:808::80ff:fffe", "loopback"),
        ("2001:0:808:808::f5ff:fffe", "private"),
    ];

    /// Addresses a user's URL may lead to.
    const ALLOWED: &[&str] = &[
        "1.1.1.1",
        "8.8.8.8",
        "93.184.216.34",
        "100.63.255.255",
        "100.128.0.1",
        "172.15.255.255",
        "172.32.0.1",
        "192.0.1.1",
        "192.169.0.1",
        "198.17.255.255",
        "198.20.0.1",
        "223.255.255.254",
        "2606:4700::1111",
        "2a00:1450:4001:80b::200e",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
        "::ffff:0:808:808",
        "64:ff9b::808:808",
        "2002:808:808::1",
        "2001:0:808:808::f7f7:f7f7",
    ];

    #[test]
    fn the_table_of_addresses() {
        assert!(REFUSED.len() + ALLOWED.len() >= 80);
        for (text, reason) in REFUSED {
            let ip: IpAddr = text.parse().unwrap();
            let why = refusal(ip).unwrap_or_else(|| panic!("{text} was allowed"));
            assert!(
                why.starts_with(reason),
                "{text}: refused as {why:?}, expected {reason:?}"
            );
        }
        for text in ALLOWED {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(refusal(ip), None, "{text}");
        }
    }

    #[test]
    fn teredo_carries_two_addresses() {
        let a: Ipv6Addr = "2001:0:4136:e378:8000:63bf:3fff:fdd2".parse().unwrap();
        // RFC 4380's example: server 65.54.227.120, client 192.0.2.45.
        assert_eq!(
            embedded_v4(a),
            [
                Ipv4Addr::new(65, 54, 227, 120),
                Ipv4Addr::new(192, 0, 2, 45)
            ]
        );
        assert_eq!(refusal(IpAddr::V6(a)), Some("documentation (192.0.2.0/24)"));
    }

    #[test]
    fn url_hosts() {
        for (raw, ok) in [
            ("http://[64:ff9b::7f00:5]/", false),
            ("http://[2002:7f00:5::]/", false),
            ("http://[::ffff:0:7f00:5]/", false),
            ("http://0x7f.1/", false),
            ("http://2130706433/", false),
            ("http://sub.localhost./", false),
            ("http://8.8.8.8/", true),
            ("https://example.org/", true),
        ] {
            let url = url::Url::parse(raw).unwrap();
            assert_eq!(check_url_host(&url.host().unwrap()).is_ok(), ok, "{raw}");
        }
    }
}
