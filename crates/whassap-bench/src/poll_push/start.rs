//! Setting the consumers of each mode up: connections for the pollers and
//! the SSE streams, logged-in and subscribed XMPP sessions for PEP.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::consumers::{self, Followed, PollSchedule, Shared};
use super::{Run, MICROBLOG, PUBSUB};
use crate::http::Connection;
use crate::session::{go_online, stanza};

impl Run<'_> {
    /// One connection per consumer (the pollers').
    pub(super) async fn open_connections(
        &self,
        shared: &Shared,
    ) -> Result<Vec<Connection>, String> {
        let opens = (0..self.params.consumers)
            .map(|_| Connection::open(self.params.http, shared.traffic.clone()));
        futures::future::join_all(opens).await.into_iter().collect()
    }

    pub(super) fn start_pollers(
        &self,
        conns: Vec<Connection>,
        shared: &Shared,
        start: tokio::time::Instant,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let (k, f) = (self.params.consumers, self.params.follows);
        let interval = self.params.poll_interval;
        conns
            .into_iter()
            .enumerate()
            .map(|(c, conn)| {
                // Each poller takes its users in an order of its own, so that
                // when a user is polled does not follow when it posts.
                let mut order = self.follows[c].clone();
                shuffle(&mut order, c as u64);
                let follows = order
                    .iter()
                    .map(|&a| Followed {
                        user: self.authors[a].user.clone(),
                        after: self.authors[a].last_id.clone(),
                    })
                    .collect();
                // Poll j of consumer c is slot j·K + c of the K·F evenly
                // spaced over the interval.
                let first = start + interval.mul_f64(c as f64 / (k * f) as f64);
                let schedule = PollSchedule { first, interval };
                tokio::spawn(consumers::poller(
                    c,
                    conn,
                    follows,
                    schedule,
                    shared.clone(),
                ))
            })
            .collect()
    }

    pub(super) async fn start_pep(&mut self, shared: &Shared) -> Vec<tokio::task::JoinHandle<()>> {
        let readers = self.readers();
        let timeout = self.target.timeout;
        let domain = self.target.domain.clone();
        let follows = Arc::new(self.follows.clone());
        let authors: Arc<Vec<String>> =
            Arc::new(self.authors.iter().map(|a| a.user.clone()).collect());
        let setup_requests = shared.requests.clone();
        let (clients, errors) = readers
            .connect_range(0, self.params.consumers, 50, "subscribing", move |c| {
                let (follows, authors, domain, setup_requests) = (
                    follows.clone(),
                    authors.clone(),
                    domain.clone(),
                    setup_requests.clone(),
                );
                async move {
                    let mut c = go_online(c, "<presence xmlns='jabber:client'/>", &[], timeout).await?;
                    setup_requests.fetch_add(1, Ordering::Relaxed);
                    let me = c.jid().to_string();
                    let bare = me.split('/').next().unwrap_or_default().to_string();
                    let index: usize = bare
                        .split('@')
                        .next()
                        .and_then(|u| u.rsplit_once("reader"))
                        .and_then(|(_, n)| n.parse().ok())
                        .ok_or_else(|| format!("{me}: not a reader account"))?;
                    for &a in follows.get(index).into_iter().flatten() {
                        let sub = format!(
                            "<iq xmlns='jabber:client' type='set' to='{}@{domain}'><pubsub xmlns='{PUBSUB}'><subscribe node='{MICROBLOG}' jid='{bare}'/></pubsub></iq>",
                            authors[a]
                        );
                        setup_requests.fetch_add(1, Ordering::Relaxed);
                        let r = c.iq(stanza(&sub)).await.map_err(|e| format!("{me}: {e}"))?;
                        if r.attr("type") != Some("result") {
                            return Err(format!("{me}: subscribing to {} refused", authors[a]));
                        }
                    }
                    Ok(c)
                }
            })
            .await;
        self.errors
            .extend(errors.into_iter().map(|e| format!("pep: {e}")));
        clients
            .into_iter()
            .filter_map(|c| {
                let index = c
                    .jid()
                    .split('@')
                    .next()
                    .and_then(|u| u.rsplit_once("reader"))
                    .and_then(|(_, n)| n.parse().ok())?;
                Some(tokio::spawn(consumers::pep_session(
                    index,
                    c,
                    shared.clone(),
                )))
            })
            .collect()
    }

    pub(super) async fn start_sse(&mut self, shared: &Shared) -> Vec<tokio::task::JoinHandle<()>> {
        let conns = match self.open_connections(shared).await {
            Ok(c) => c,
            Err(e) => {
                self.errors.push(format!("sse: {e}"));
                return Vec::new();
            }
        };
        let mut tasks = Vec::new();
        let mut ready = Vec::new();
        for (c, conn) in conns.into_iter().enumerate() {
            let users = self.follows[c]
                .iter()
                .map(|&a| self.authors[a].user.clone())
                .collect();
            let (tx, rx) = tokio::sync::oneshot::channel();
            ready.push(rx);
            tasks.push(tokio::spawn(consumers::sse_stream(
                c,
                conn,
                users,
                shared.clone(),
                tx,
            )));
        }
        for r in ready {
            match tokio::time::timeout(self.target.timeout, r).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => self.errors.push(format!("sse: {e}")),
                _ => self.errors.push("sse: a stream did not open".into()),
            }
        }
        tasks
    }
}

/// A deterministic shuffle (Fisher–Yates driven by SplitMix64 from `seed`).
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffles_are_permutations_of_their_own() {
        let mut a: Vec<usize> = (0..50).collect();
        let mut b = a.clone();
        shuffle(&mut a, 1);
        shuffle(&mut b, 2);
        assert_ne!(a, b);
        a.sort_unstable();
        assert_eq!(a, (0..50).collect::<Vec<_>>());
    }
}
