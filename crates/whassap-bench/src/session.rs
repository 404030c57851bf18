//! The server under test and how the generator logs in to it.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use minidom::Element;
use tokio::sync::Semaphore;
use whassap_client::{Client, ConnectOptions, Mechanism, SaltedPasswordCache, TlsMode};

/// Where the server is and how to log in.
#[derive(Clone)]
pub struct Target {
    /// The server's name in reports.
    pub label: String,
    /// c2s addresses: account `i` connects to the `i % len`-th (several
    /// nodes of one cluster; account 0, the publisher, to the first).
    pub addrs: Vec<SocketAddr>,
    /// XMPP domain.
    pub domain: String,
    /// JID of the PubSub service.
    pub pubsub: String,
    /// Accounts are `PREFIX0`, `PREFIX1`, …
    pub prefix: String,
    /// Password of every account.
    pub password: String,
    /// SASL mechanism (SCRAM-SHA-1 for like-for-like comparisons).
    pub mechanism: Mechanism,
    /// Plain TCP or STARTTLS.
    pub tls: TlsMode,
    /// Local addresses to spread connections over (ports run out past
    /// ~28,000 connections from one address); empty: any.
    pub sources: Vec<IpAddr>,
    /// The server's process ids (one per node), for `/proc` sampling: CPU
    /// time and memory are summed over them.
    pub pids: Vec<u32>,
    /// Salted passwords computed once, so that SCRAM costs the generator
    /// nothing on later logins.
    pub scram_cache: SaltedPasswordCache,
    /// Longest wait for any one step.
    pub timeout: Duration,
}

impl Target {
    /// Username of account `i`.
    pub fn user(&self, i: usize) -> String {
        format!("{}{i}", self.prefix)
    }

    /// Bare JID of account `i`.
    pub fn jid(&self, i: usize) -> String {
        format!("{}{i}@{}", self.prefix, self.domain)
    }

    fn options(&self, i: usize) -> ConnectOptions {
        let mut o = ConnectOptions::new(
            self.addrs[i % self.addrs.len()],
            &self.domain,
            &self.user(i),
            &self.password,
        );
        o.tls = self.tls;
        o.mechanism = self.mechanism;
        o.timeout = self.timeout;
        o.accept_invalid_certs = true;
        if !self.sources.is_empty() {
            o.source_addr = Some(self.sources[i % self.sources.len()]);
        }
        o.scram_cache = Some(self.scram_cache.clone());
        o
    }

    /// Log in account `i` and bind a resource.
    pub async fn connect(&self, i: usize) -> Result<Client, String> {
        Client::connect(self.options(i))
            .await
            .map_err(|e| format!("{}: {e}", self.user(i)))
    }

    /// Log in accounts `from..to`, `concurrency` at a time, showing
    /// progress; each connected client is passed through `then` (e.g. to go
    /// online). Failures are returned as messages.
    pub async fn connect_range<F, Fut>(
        &self,
        from: usize,
        to: usize,
        concurrency: usize,
        what: &str,
        then: F,
    ) -> (Vec<Client>, Vec<String>)
    where
        F: Fn(Client) -> Fut + Clone + Send + 'static,
        Fut: std::future::Future<Output = Result<Client, String>> + Send,
    {
        let gate = Arc::new(Semaphore::new(concurrency.max(1)));
        let done = Arc::new(AtomicUsize::new(0));
        let total = to.saturating_sub(from);
        let mut tasks = Vec::with_capacity(total);
        for i in from..to {
            let (gate, done, target, then) =
                (gate.clone(), done.clone(), self.clone(), then.clone());
            let what = what.to_string();
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire().await.expect("semaphore open");
                let r = match target.connect(i).await {
                    Ok(c) => then(c).await,
                    Err(e) => Err(e),
                };
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n % 500 == 0 || n == total {
                    progress(&format!("{}: {what} {n}/{total}", target.label));
                }
                r
            }));
        }
        let mut clients = Vec::with_capacity(total);
        let mut errors = Vec::new();
        for t in tasks {
            match t.await {
                Ok(Ok(c)) => clients.push(c),
                Ok(Err(e)) => errors.push(e),
                Err(e) => errors.push(format!("task failed: {e}")),
            }
        }
        (clients, errors)
    }
}

/// Print a progress line on standard error.
pub fn progress(line: &str) {
    let mut err = std::io::stderr();
    let _ = writeln!(err, "  {line}");
}

/// Parse a stanza written in `jabber:client`.
pub fn stanza(xml: &str) -> Element {
    xml.parse()
        .expect("the generator's stanzas are well-formed")
}

/// Send initial presence and wait for its echo (the server's answer that
/// the session is available), answering caps queries with `features`.
pub async fn go_online(
    mut c: Client,
    presence: &str,
    features: &[String],
    timeout: Duration,
) -> Result<Client, String> {
    c.send(&stanza(presence)).await.map_err(|e| e.to_string())?;
    let me = c.jid().to_string();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.recv_timeout(left).await {
            Ok(Some(el)) if el.name() == "presence" && el.attr("from") == Some(me.as_str()) => {
                return Ok(c)
            }
            Ok(Some(el)) => answer_disco(&mut c, &el, features).await?,
            Ok(None) => return Err(format!("{me}: no presence echo")),
            Err(e) => return Err(format!("{me}: {e}")),
        }
    }
}

/// Answer a disco#info query (a server asking about caps) with `features`.
pub async fn answer_disco(c: &mut Client, el: &Element, features: &[String]) -> Result<(), String> {
    const DISCO: &str = "http://jabber.org/protocol/disco#info";
    if el.name() != "iq" || el.attr("type") != Some("get") {
        return Ok(());
    }
    let Some(q) = el.get_child("query", DISCO) else {
        return Ok(());
    };
    let node = q
        .attr("node")
        .map(|n| format!(" node='{n}'"))
        .unwrap_or_default();
    let feats: String = features
        .iter()
        .map(|f| format!("<feature var='{f}'/>"))
        .collect();
    let reply = format!(
        "<iq xmlns='jabber:client' type='result' id='{}' to='{}'><query xmlns='{DISCO}'{node}><identity category='client' type='bot' name='whassap-bench'/>{feats}</query></iq>",
        el.attr("id").unwrap_or(""),
        el.attr("from").unwrap_or(""),
    );
    c.send_raw(reply.as_bytes())
        .await
        .map_err(|e| e.to_string())
}

/// Percentile `p` (0–1) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
