//! Where a remote domain's XMPP server listens (RFC 6120 §3.2, XEP-0368):
//! a static route first, else DNS SRV `_xmpps-server._tcp` (direct TLS),
//! then `_xmpp-server._tcp` (STARTTLS), then the domain itself on 5269.

use std::collections::HashMap;

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;

/// The default s2s port.
pub const PORT: u16 = 5269;

/// One place to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS from the first byte (XEP-0368) rather than STARTTLS.
    pub direct_tls: bool,
}

/// The DNS side: hickory's resolver with the system configuration, if the
/// system has one (without it, only routes and addresses are used).
pub struct Resolver {
    dns: Option<TokioResolver>,
    routes: HashMap<String, (String, u16)>,
}

impl Resolver {
    /// A resolver with the static routes, asking `server` (or the
    /// system's resolvers) for SRV records.
    pub fn new(routes: HashMap<String, (String, u16)>, server: Option<SocketAddr>) -> Resolver {
        let built = match server {
            Some(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let config = ResolverConfig::from_parts(
                    None,
                    Vec::new(),
                    vec![NameServerConfig::new(addr.ip(), true, vec![udp, tcp])],
                );
                TokioResolver::builder_with_config(config, TokioRuntimeProvider::default()).build()
            }
            None => TokioResolver::builder_tokio().and_then(|b| b.build()),
        };
        let dns = match built {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(
                    "no DNS resolver ({e}): federation uses static routes and addresses only"
                );
                None
            }
        };
        Resolver { dns, routes }
    }

    /// The places to try for `domain`, in order.
    pub async fn targets(&self, domain: &str) -> Vec<Target> {
        if let Some((host, port)) = self.routes.get(domain) {
            return vec![Target {
                host: host.clone(),
                port: *port,
                direct_tls: false,
            }];
        }
        let mut out = Vec::new();
        if let Some(dns) = &self.dns {
            for (service, direct_tls) in
                [("_xmpps-server._tcp", true), ("_xmpp-server._tcp", false)]
            {
                out.extend(srv(dns, &format!("{service}.{domain}."), direct_tls).await);
            }
        }
        if out.is_empty() {
            out.push(Target {
                host: domain.to_string(),
                port: PORT,
                direct_tls: false,
            });
        }
        out
    }
}

impl Resolver {
    /// The addresses of a target host: itself if it is an address, else
    /// its A/AAAA records (from the same DNS server as the SRV records, or
    /// the system's hosts file and resolvers).
    pub async fn addresses(&self, host: &str) -> Vec<IpAddr> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return vec![ip];
        }
        match &self.dns {
            Some(dns) => match dns.lookup_ip(host).await {
                Ok(found) => found.iter().collect(),
                Err(e) => {
                    tracing::debug!(%host, "address lookup failed: {e}");
                    Vec::new()
                }
            },
            None => tokio::net::lookup_host((host, 0))
                .await
                .map(|a| a.map(|s| s.ip()).collect())
                .unwrap_or_default(),
        }
    }
}

/// SRV targets of `name` by priority, then weight (heaviest first: a
/// deterministic reading of RFC 2782's weighted choice, enough for the few
/// records a domain has). A target of "." means "no service here".
async fn srv(dns: &TokioResolver, name: &str, direct_tls: bool) -> Vec<Target> {
    let lookup = match dns.srv_lookup(name).await {
        Ok(l) => l,
        Err(e) => {
            if !e.is_no_records_found() {
                tracing::debug!(%name, "SRV lookup failed: {e}");
            }
            return Vec::new();
        }
    };
    let mut records: Vec<(u16, u16, Target)> = lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::SRV(srv) => Some(srv.clone()),
            _ => None,
        })
        .filter(|srv| !srv.target.is_root())
        .map(|srv| {
            let host = srv.target.to_utf8();
            (
                srv.priority,
                u16::MAX - srv.weight,
                Target {
                    host: host.trim_end_matches('.').to_string(),
                    port: srv.port,
                    direct_tls,
                },
            )
        })
        .collect();
    records.sort_by_key(|r| (r.0, r.1));
    records.into_iter().map(|(_, _, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_static_route_comes_first_and_alone() {
        let r = Resolver::new(
            HashMap::from([("peer.example".to_string(), ("127.0.0.7".to_string(), 5999))]),
            None,
        );
        assert_eq!(
            r.targets("peer.example").await,
            vec![Target {
                host: "127.0.0.7".into(),
                port: 5999,
                direct_tls: false
            }]
        );
    }
}
