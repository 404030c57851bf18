//! `poll-vs-push`: what it costs the server to keep K consumers up to date
//! with the statuses of the users they follow, by polling the REST API, by
//! XMPP PEP notifications, and by the SSE firehose.
//!
//! U authors post R statuses per second in all (`POST /api/v1/statuses`
//! with a personal access token); each of K consumers follows F of them.
//! The modes run one after another, each for T seconds with the same
//! posting schedule:
//!
//! - `poll`: each consumer polls `GET /api/v1/users/{u}/statuses?after=…`
//!   for each followed user every P seconds, on one keep-alive connection,
//!   the K·F polls spread evenly over P;
//! - `pep`: each consumer is an XMPP session subscribed (XEP-0060, with its
//!   bare JID) to the `urn:xmpp:microblog:0` PEP node of each followed user;
//! - `sse`: each consumer holds `GET /api/v1/firehose?users=…`.
//!
//! A first phase, `post-only`, runs the same schedule with no consumer at
//! all: what posting itself costs (storing, the bot's thank-you, the
//! firehose node), which every mode pays alike and which is subtracted
//! from the per-status figures.
//!
//! Per mode: server CPU time over the T seconds (user and kernel), bytes
//! on the consumers' connections both ways, consumer requests per delivered
//! status, server CPU per delivered status, staleness (from the moment the
//! author sent the post to the consumer's receipt) and loss. A status counts as
//! delivered if it reaches the consumer by the end of a drain after the
//! T seconds (push: 5 s; poll: P + 5 s); the drain is not measured.

mod consumers;
mod figures;
mod posters;
mod start;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::http::{api, Connection, Traffic};
use crate::procfs::{Delta, Sample};
use crate::session::{progress, Target};
use crate::Outcome;
pub use consumers::{seq_of, status_text, SseEvent, SseParser};
use consumers::{Arrival, Shared};
use posters::{Author, Post, Schedule};

const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const MICROBLOG: &str = "urn:xmpp:microblog:0";
/// Most users one SSE stream may filter on (the server's limit).
const MAX_FOLLOWS: usize = 100;
/// How long push modes may take to deliver after the last post.
const PUSH_DRAIN: Duration = Duration::from_secs(5);
/// Pause between setting consumers up and measuring.
const SETTLE: Duration = Duration::from_secs(1);

/// How consumers learn of new statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Poll the REST API.
    Poll,
    /// XMPP PEP notifications.
    Pep,
    /// The SSE firehose.
    Sse,
}

impl Mode {
    /// The mode's name in figures (`poll`, `pep`, `sse`).
    pub fn name(self) -> &'static str {
        match self {
            Mode::Poll => "poll",
            Mode::Pep => "pep",
            Mode::Sse => "sse",
        }
    }
}

/// The sizes of a run.
#[derive(Clone, Debug)]
pub struct Params {
    /// HTTP address of the server (REST API and firehose).
    pub http: SocketAddr,
    /// K: consumers.
    pub consumers: usize,
    /// U: authors.
    pub users: usize,
    /// F: authors each consumer follows (at most U and 100).
    pub follows: usize,
    /// R: statuses per second, all authors together.
    pub rate: f64,
    /// T: measured seconds per mode.
    pub duration: Duration,
    /// P: how often a poller asks about each followed user.
    pub poll_interval: Duration,
    /// The modes, in order.
    pub modes: Vec<Mode>,
    /// Measure posting alone first (and subtract it).
    pub baseline: bool,
}

/// What one phase measured.
struct Phase {
    name: &'static str,
    window: Delta,
    setup: Delta,
    posts: Vec<Post>,
    expected: usize,
    staleness_ms: Vec<f64>,
    /// Deliveries that reached the consumer before the author had its `201`.
    before_ack: usize,
    requests: u64,
    setup_requests: u64,
    bytes_received: u64,
    bytes_sent: u64,
}

/// Everything that lives across phases.
struct Run<'a> {
    target: &'a Target,
    params: Params,
    authors: Vec<Author>,
    /// `follows[c]`: the authors consumer `c` follows.
    follows: Vec<Vec<usize>>,
    /// `followers[a]`: how many consumers follow author `a`.
    followers: Vec<usize>,
    next_seq: u64,
    errors: Vec<String>,
}

/// Run the scenario against the server of `target` (its c2s address and
/// accounts' password) and `params.http`.
pub async fn run(target: &Target, params: Params) -> Outcome {
    let mut out = Outcome::new(&target.label, "poll-vs-push");
    let mut params = params;
    params.users = params.users.max(1);
    params.follows = params.follows.clamp(1, params.users.min(MAX_FOLLOWS));
    params.rate = params.rate.max(0.01);
    out.param("consumers", params.consumers as f64)
        .param("users", params.users as f64)
        .param("follows", params.follows as f64)
        .param("rate", params.rate)
        .param("duration_s", params.duration.as_secs_f64())
        .param("poll_interval_s", params.poll_interval.as_secs_f64());
    let (follows, followers) = follow_lists(params.consumers, params.users, params.follows);
    let mut run = Run {
        target,
        params,
        authors: Vec::new(),
        follows,
        followers,
        next_seq: 1,
        errors: Vec::new(),
    };
    if let Err(e) = run.set_up().await {
        out.errors.push(e);
        out.errors.append(&mut run.errors);
        return out;
    }
    let mut phases = Vec::new();
    if run.params.baseline {
        phases.push(run.phase(None).await);
    }
    for mode in run.params.modes.clone() {
        if run.authors.len() < run.params.users {
            break; // an author's connection was lost: reported already
        }
        phases.push(run.phase(Some(mode)).await);
    }
    figures::record(&mut out, &run.params, &phases);
    out.errors.append(&mut run.errors);
    out
}

/// Who follows whom: consumer `c` follows authors `(c·F + j) mod U` for
/// `j < F`, so every author has the same number of followers when `K·F` is
/// a multiple of `U` (and at most one apart otherwise).
fn follow_lists(consumers: usize, users: usize, follows: usize) -> (Vec<Vec<usize>>, Vec<usize>) {
    let mut followers = vec![0; users];
    let lists = (0..consumers)
        .map(|c| {
            (0..follows)
                .map(|j| {
                    let a = (c * follows + j) % users;
                    followers[a] += 1;
                    a
                })
                .collect()
        })
        .collect();
    (lists, followers)
}

impl Run<'_> {
    fn author_name(&self, a: usize) -> String {
        format!("{}-author{a}", self.target.prefix)
    }

    /// The consumers' accounts, for PEP: `PREFIX-reader0…`.
    fn readers(&self) -> Target {
        let mut t = self.target.clone();
        t.prefix = format!("{}-reader", self.target.prefix);
        t
    }

    /// Accounts (through the API: authors, and readers for PEP), the
    /// authors' tokens and connections, and one first status per author
    /// (so that every microblog node exists and pollers know where to
    /// start).
    async fn set_up(&mut self) -> Result<(), String> {
        let http = self.params.http;
        let traffic = Arc::new(Traffic::default());
        let password = self.target.password.clone();
        let mut names: Vec<String> = (0..self.params.users)
            .map(|a| self.author_name(a))
            .collect();
        if self.params.modes.contains(&Mode::Pep) {
            let readers = self.readers();
            names.extend((0..self.params.consumers).map(|c| readers.user(c)));
        }
        progress(&format!(
            "{}: creating {} accounts through the REST API",
            self.target.label,
            names.len()
        ));
        // A few connections at once: each sign-up derives SCRAM keys.
        let workers = 4.min(names.len()).max(1);
        let names = Arc::new(names);
        let mut tasks = Vec::new();
        for w in 0..workers {
            let (names, password, traffic) = (names.clone(), password.clone(), traffic.clone());
            tasks.push(tokio::spawn(async move {
                let mut conn = Connection::open(http, traffic).await?;
                for name in names.iter().skip(w).step_by(workers) {
                    api::ensure_user(&mut conn, name, &password).await?;
                }
                Ok::<(), String>(())
            }));
        }
        for t in tasks {
            t.await.map_err(|e| e.to_string())??;
        }
        for a in 0..self.params.users {
            let user = self.author_name(a);
            let mut conn = Connection::open(http, traffic.clone()).await?;
            api::token(&mut conn, &user, &password, "poll-vs-push").await?;
            let seq = self.next_seq;
            self.next_seq += 1;
            let first = api::post(&mut conn, &status_text("first", seq)).await?;
            self.authors.push(Author {
                user,
                conn,
                last_id: first.id,
            });
        }
        Ok(())
    }

    /// One phase: set the consumers up, post for T seconds while they
    /// consume, drain, and tear them down. `None`: posting alone.
    async fn phase(&mut self, mode: Option<Mode>) -> Phase {
        let name = mode.map_or("post-only", Mode::name);
        let p = self.params.clone();
        let (arrivals_tx, arrivals_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Shared {
            arrivals: arrivals_tx,
            traffic: Arc::new(Traffic::default()),
            requests: Arc::new(AtomicU64::new(0)),
            stop: stop_rx,
            errors: Arc::new(Mutex::new(Vec::new())),
        };
        let count = (p.rate * p.duration.as_secs_f64()).floor().max(1.0) as u64;
        let first_seq = self.next_seq;
        self.next_seq += count;
        let seqs = first_seq..first_seq + count;
        let relevant = Arc::new(AtomicUsize::new(0));
        let collector = tokio::spawn(collect(arrivals_rx, seqs.clone(), relevant.clone()));

        progress(&format!("{}: {name}: setting up", self.target.label));
        let setup_start = Sample::take(&self.target.pids);
        let mut tasks = Vec::new();
        let mut start_pollers = None;
        match mode {
            None => {}
            Some(Mode::Poll) => match self.open_connections(&shared).await {
                Ok(conns) => start_pollers = Some(conns),
                Err(e) => self.errors.push(e),
            },
            Some(Mode::Pep) => tasks = self.start_pep(&shared).await,
            Some(Mode::Sse) => tasks = self.start_sse(&shared).await,
        }
        tokio::time::sleep(SETTLE).await;
        let setup = setup_start.until(&Sample::take(&self.target.pids));
        let setup_requests = shared.requests.load(Ordering::Relaxed);

        let start = tokio::time::Instant::now() + Duration::from_millis(100);
        if let Some(conns) = start_pollers {
            tasks = self.start_pollers(conns, &shared, start);
        }
        let schedule = Schedule {
            start,
            rate: p.rate,
            count,
            first_seq,
        };
        let authors = std::mem::take(&mut self.authors);
        let n = authors.len();
        let posting: Vec<_> = authors
            .into_iter()
            .enumerate()
            .map(|(i, a)| tokio::spawn(posters::post_share(i, n, a, schedule, name)))
            .collect();
        progress(&format!(
            "{}: {name}: posting {count} statuses over {:?}",
            self.target.label, p.duration
        ));
        tokio::time::sleep_until(start).await;
        let before = Sample::take(&self.target.pids);
        let (requests0, traffic0) = (
            shared.requests.load(Ordering::Relaxed),
            shared.traffic.totals(),
        );
        let mut posts = Vec::new();
        for task in posting {
            match task.await {
                Ok((author, mut done, mut errors)) => {
                    self.authors.push(author);
                    posts.append(&mut done);
                    self.errors.append(&mut errors);
                }
                Err(e) => self.errors.push(format!("author task: {e}")),
            }
        }
        if self.authors.len() < n {
            self.errors
                .push(format!("{name}: an author's task failed; stopping"));
        }
        tokio::time::sleep_until(start + p.duration).await;
        let after = Sample::take(&self.target.pids);
        let window = before.until(&after);
        let requests = shared.requests.load(Ordering::Relaxed) - requests0;
        let traffic = shared.traffic.totals();

        let expected: usize = posts
            .iter()
            .filter(|x| x.acked.is_some())
            .map(|x| self.followers[x.author])
            .sum();
        if mode.is_some() {
            let drain = match mode {
                Some(Mode::Poll) => p.poll_interval + PUSH_DRAIN,
                _ => PUSH_DRAIN,
            };
            let deadline = tokio::time::Instant::now() + drain;
            while relevant.load(Ordering::Relaxed) < expected
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let _ = stop_tx.send(true);
        for t in tasks {
            if tokio::time::timeout(self.target.timeout, t).await.is_err() {
                self.errors.push(format!("{name}: a consumer did not stop"));
            }
        }
        let errors = shared.errors.lock().map(|e| e.clone()).unwrap_or_default();
        self.errors
            .extend(errors.into_iter().map(|e| format!("{name}: {e}")));
        drop(shared);
        let arrivals = collector.await.unwrap_or_default();
        let (staleness_ms, before_ack) = self.staleness(&posts, &arrivals);
        progress(&format!(
            "{}: {name}: {} of {expected} deliveries",
            self.target.label,
            staleness_ms.len()
        ));
        Phase {
            name,
            window,
            setup,
            posts,
            expected,
            staleness_ms,
            before_ack,
            requests,
            setup_requests,
            bytes_received: traffic.0 - traffic0.0,
            bytes_sent: traffic.1 - traffic0.1,
        }
    }

    /// The staleness of every delivery of an acknowledged status to a
    /// consumer that follows its author, sorted, in ms: from the moment the
    /// author sent the post (the server fans out before it answers, so a
    /// push usually arrives before the author has its `201`, and time from
    /// the `201` would be 0). Also how many deliveries beat the `201`.
    fn staleness(
        &self,
        posts: &[Post],
        arrivals: &HashMap<(u64, usize), Instant>,
    ) -> (Vec<f64>, usize) {
        let by_seq: HashMap<u64, &Post> = posts.iter().map(|p| (p.seq, p)).collect();
        let mut before_ack = 0;
        let mut out: Vec<f64> = arrivals
            .iter()
            .filter_map(|((seq, consumer), at)| {
                let post = by_seq.get(seq)?;
                let acked = post.acked?;
                if !self.follows.get(*consumer)?.contains(&post.author) {
                    return None;
                }
                if *at < acked {
                    before_ack += 1;
                }
                Some(at.saturating_duration_since(post.sent).as_secs_f64() * 1000.0)
            })
            .collect();
        out.sort_by(f64::total_cmp);
        (out, before_ack)
    }
}

/// Gather arrivals until every sender is gone: the first receipt of each
/// (status, consumer), counting those of this phase's statuses as they come.
async fn collect(
    mut rx: mpsc::UnboundedReceiver<Arrival>,
    seqs: std::ops::Range<u64>,
    relevant: Arc<AtomicUsize>,
) -> HashMap<(u64, usize), Instant> {
    let mut seen = HashMap::new();
    while let Some(a) = rx.recv().await {
        if !seqs.contains(&a.seq) {
            continue;
        }
        if let std::collections::hash_map::Entry::Vacant(v) = seen.entry((a.seq, a.consumer)) {
            v.insert(a.at);
            relevant.fetch_add(1, Ordering::Relaxed);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_author_has_as_many_followers() {
        let (lists, followers) = follow_lists(200, 20, 5);
        assert_eq!(lists.len(), 200);
        assert!(lists.iter().all(|l| l.len() == 5));
        assert!(followers.iter().all(|&n| n == 50), "{followers:?}");
        // No consumer follows anyone twice.
        for l in &lists {
            let mut s = l.clone();
            s.dedup();
            assert_eq!(s.len(), l.len());
        }
        let (_, uneven) = follow_lists(3, 2, 1);
        assert_eq!(uneven, vec![2, 1]);
    }
}
