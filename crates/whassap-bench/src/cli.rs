//! The command line of `whassap-bench` (also `whassap bench`): load
//! scenarios against any XMPP server, and the report.
//!
//! Example: `whassap-bench login --addr 127.0.0.1:5222 --users 2000 --pid $(pgrep -f 'whassap serve')`

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::fanout::Via;
use crate::{chat, fanout, floor, login, poll_push, report, rest, Outcome, Target};
use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use whassap_client::{Mechanism, SaltedPasswordCache, TlsMode};

/// Load generator for XMPP servers (Whassap, Prosody, ejabberd…): every
/// scenario samples the server's CPU time and memory from /proc (give
/// --pid) and prints, and optionally writes as JSON, what it measured.
#[derive(Parser)]
#[command(name = "whassap-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// N accounts log in (C at a time), bind and go online: logins/s, server CPU per login, memory per session.
    Login {
        #[command(flatten)]
        common: Common,
        /// Accounts to log in.
        #[arg(long, default_value_t = 1000)]
        users: usize,
        /// Logins in flight at once.
        #[arg(long, default_value_t = 50)]
        concurrency: usize,
    },
    /// Hold N idle sessions: server memory per session.
    Idle {
        #[command(flatten)]
        common: Common,
        /// Sessions to hold.
        #[arg(long, default_value_t = 1000)]
        users: usize,
        /// Logins in flight at once.
        #[arg(long, default_value_t = 50)]
        concurrency: usize,
        /// Seconds to hold them before reading the memory.
        #[arg(long, default_value_t = 5)]
        hold_secs: u64,
        /// First account (accounts FROM..FROM+USERS log in).
        #[arg(long, default_value_t = 0)]
        from: usize,
        /// Hold sessions together with other `idle` processes (one process
        /// may open only so many sockets): every process that names this
        /// directory waits there for the others before logging in, before
        /// measuring and before leaving; memory is then the sum over every
        /// --pid divided by every process's sessions.
        #[arg(long, requires = "parties")]
        barrier: Option<PathBuf>,
        /// How many processes meet at --barrier.
        #[arg(long, requires = "barrier")]
        parties: Option<usize>,
    },
    /// The physical floor of a fan-out, no server involved: one thread writes the same notification bytes to N sockets (one write each), M times; its CPU per 1,000 deliveries.
    ///
    /// Example: `whassap-bench floor --sessions 2000 --items 20 --json floor.json`
    Floor {
        /// N: sockets (readers in this process; mind the file limit).
        #[arg(long, default_value_t = 1000)]
        sessions: usize,
        /// M: rounds, each written to every socket once every reader has the previous one.
        #[arg(long, default_value_t = 20)]
        items: usize,
        /// Bytes per notification (default: a PubSub notification as Whassap sends it, about 400).
        #[arg(long)]
        bytes: Option<usize>,
        /// Local addresses the readers connect from, comma-separated.
        #[arg(long, value_delimiter = ',')]
        source: Vec<IpAddr>,
        /// Name in the results.
        #[arg(long, default_value = "floor")]
        label: String,
        /// Write the outcome as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Longest wait for a round, in seconds.
        #[arg(long, default_value_t = 30)]
        timeout_secs: u64,
    },
    /// Online users chat in pairs: delivered/s, loss, latency, server CPU per 1,000 messages.
    Chat {
        #[command(flatten)]
        common: Common,
        /// Users (pairs).
        #[arg(long, default_value_t = 200)]
        users: usize,
        /// Messages per second in all (0: as fast as possible).
        #[arg(long, default_value_t = 2000.0)]
        rate: f64,
        /// Seconds of chatting.
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
    },
    /// One node on the PubSub service, S subscribers, M items: publish→last delivery, server CPU per 1,000 deliveries.
    ///
    /// With --publisher-addr, the publisher logs in to another server and
    /// the subscribers follow a node of that server's PubSub service over
    /// federation (--pubsub names it; --pid is then best the publisher's
    /// server).
    PubsubFanout {
        #[command(flatten)]
        common: Common,
        /// Subscribers.
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        /// c2s address of the publisher's server, if not the subscribers'.
        #[arg(long, requires = "publisher_domain")]
        publisher_addr: Option<SocketAddr>,
        /// XMPP domain of the publisher's server.
        #[arg(long, requires = "publisher_addr")]
        publisher_domain: Option<String>,
        /// Items published (one after another).
        #[arg(long, default_value_t = 20)]
        items: usize,
    },
    /// The same through PEP: contacts whose caps say urn:xmpp:microblog:0+notify.
    PepFanout {
        #[command(flatten)]
        common: Common,
        /// Contacts.
        #[arg(long, default_value_t = 500)]
        subscribers: usize,
        /// Items published (one after another).
        #[arg(long, default_value_t = 10)]
        items: usize,
    },
    /// Whassap only: K consumers follow U users who post R statuses/s; per mode (REST polling every P s, XMPP PEP, SSE firehose) server CPU, bytes and requests per delivered status, staleness and loss.
    PollVsPush {
        #[command(flatten)]
        common: Common,
        /// HTTP address of the server (REST API and SSE firehose); its API rate limits must be off.
        #[arg(long, default_value = "127.0.0.1:3000")]
        http: SocketAddr,
        /// K: consumers.
        #[arg(long, default_value_t = 200)]
        consumers: usize,
        /// U: users who post (accounts PREFIX-author0…, made through the API).
        #[arg(long, default_value_t = 200)]
        users: usize,
        /// F: users each consumer follows (at most 100).
        #[arg(long, default_value_t = 100)]
        follows: usize,
        /// R: statuses per second, all users together.
        #[arg(long, default_value_t = 2.0)]
        rate: f64,
        /// T: seconds each mode is measured.
        #[arg(long, default_value_t = 20.0)]
        duration_secs: f64,
        /// P: seconds between two polls of the same user by a consumer.
        #[arg(long, default_value_t = 10.0)]
        poll_interval_secs: f64,
        /// Modes, in order.
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "poll,pep,sse"
        )]
        modes: Vec<poll_push::Mode>,
        /// Skip the first phase that measures posting alone (then nothing is subtracted).
        #[arg(long)]
        no_baseline: bool,
    },
    /// Whassap only: durable POST /api/v1/statuses and GET /api/v1/statuses per second with wrk, and server CPU per request.
    RestThroughput {
        #[command(flatten)]
        common: Common,
        /// HTTP address of the server; its API rate limits must be off.
        #[arg(long, default_value = "127.0.0.1:3000")]
        http: SocketAddr,
        /// The wrk executable.
        #[arg(long, default_value = "wrk")]
        wrk: PathBuf,
        /// wrk threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Keep-alive connections across the threads.
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// Seconds of each run (posting, then reading).
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
    },
    /// Read the JSON outcomes in a directory and write the Markdown report.
    Report {
        /// Directory of JSON outcomes.
        #[arg(long)]
        dir: PathBuf,
        /// Markdown document to write (charts go to a directory of the same name); default: print the tables.
        #[arg(long)]
        out: Option<PathBuf>,
        /// The server whose ratios to the better peer are shown.
        #[arg(long, default_value = "whassap")]
        ours: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Sasl {
    /// SCRAM-SHA-1 (like for like: every server stores hashed credentials).
    ScramSha1,
    /// SCRAM-SHA-256.
    ScramSha256,
    /// PLAIN (only over TLS unless the server allows otherwise).
    Plain,
}

#[derive(Clone, Copy, ValueEnum)]
enum Tls {
    /// Plain TCP (the server must allow it).
    None,
    /// STARTTLS.
    Starttls,
}

#[derive(Args)]
struct Common {
    /// c2s address of the server; several, comma-separated, for the nodes of
    /// one cluster (account i connects to the (i mod n)-th).
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:5222")]
    addr: Vec<SocketAddr>,
    /// XMPP domain.
    #[arg(long, default_value = "localhost")]
    domain: String,
    /// JID of the PubSub service.
    #[arg(long, default_value = "pubsub.localhost")]
    pubsub: String,
    /// Accounts are PREFIX0, PREFIX1, …
    #[arg(long, default_value = "bench")]
    prefix: String,
    /// Password of every account.
    #[arg(long, default_value = "password")]
    password: String,
    /// SASL mechanism.
    #[arg(long, value_enum, default_value = "scram-sha1")]
    sasl: Sasl,
    /// TLS.
    #[arg(long, value_enum, default_value = "none")]
    tls: Tls,
    /// Local addresses to connect from, comma-separated (e.g. 127.0.0.2,127.0.0.3).
    #[arg(long, value_delimiter = ',')]
    source: Vec<IpAddr>,
    /// The server's process id (CPU time and memory are read from /proc);
    /// several, comma-separated, for a cluster's nodes (summed).
    #[arg(long, value_delimiter = ',')]
    pid: Vec<u32>,
    /// The server's name in the results.
    #[arg(long, default_value = "server")]
    label: String,
    /// Record the outcome under this scenario name instead of the
    /// command's (e.g. `idle-tls`, `idle-scale`), so that the report shows
    /// it as a scenario of its own.
    #[arg(long)]
    record_as: Option<String>,
    /// Write the outcome as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Longest wait for any one step, in seconds.
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
}

impl Common {
    fn target(&self) -> Target {
        Target {
            label: self.label.clone(),
            addrs: self.addr.clone(),
            domain: self.domain.clone(),
            pubsub: self.pubsub.clone(),
            prefix: self.prefix.clone(),
            password: self.password.clone(),
            mechanism: match self.sasl {
                Sasl::ScramSha1 => Mechanism::ScramSha1,
                Sasl::ScramSha256 => Mechanism::ScramSha256,
                Sasl::Plain => Mechanism::Plain,
            },
            tls: match self.tls {
                Tls::None => TlsMode::Plain,
                Tls::Starttls => TlsMode::StartTls,
            },
            sources: self.source.clone(),
            pids: self.pid.clone(),
            scram_cache: SaltedPasswordCache::default(),
            timeout: Duration::from_secs(self.timeout_secs),
        }
    }
}

fn finish(common: &Common, mut outcome: Outcome) -> anyhow::Result<()> {
    if let Some(name) = &common.record_as {
        outcome.scenario = name.clone();
    }
    println!("{}", outcome.summary());
    for e in outcome.errors.iter().take(3) {
        eprintln!("error: {e}");
    }
    if let Some(path) = &common.json {
        outcome
            .write(path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if common.pid.is_empty() {
        eprintln!("note: without --pid the server's CPU and memory are not measured");
    }
    Ok(())
}

/// A positive number of seconds given on the command line.
fn seconds(v: f64, flag: &str) -> anyhow::Result<Duration> {
    anyhow::ensure!(v.is_finite() && v > 0.0, "{flag} must be positive");
    Ok(Duration::from_secs_f64(v))
}

/// Parse `args` (the first is the program name) and run the command.
pub async fn run<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::parse_from(args);
    match cli.command {
        Command::Login {
            common,
            users,
            concurrency,
        } => {
            let o = login::run(&common.target(), users, concurrency).await;
            finish(&common, o)
        }
        Command::Idle {
            common,
            users,
            concurrency,
            hold_secs,
            from,
            barrier,
            parties,
        } => {
            let together = barrier.zip(parties).map(|(dir, parties)| login::Together {
                barrier: crate::barrier::Barrier::new(dir, parties),
            });
            let o = login::run_idle(
                &common.target(),
                from..from + users,
                concurrency,
                Duration::from_secs(hold_secs),
                together,
            )
            .await;
            finish(&common, o)
        }
        Command::Floor {
            sessions,
            items,
            bytes,
            source,
            label,
            json,
            timeout_secs,
        } => {
            let mut notification = floor::sample_notification();
            if let Some(n) = bytes {
                notification.resize(n.max(1), b' ');
            }
            let o = floor::run(
                &label,
                floor::Params {
                    sessions,
                    items,
                    bytes: notification,
                    sources: source,
                    timeout: Duration::from_secs(timeout_secs),
                },
            )
            .await;
            println!("{}", o.summary());
            for e in o.errors.iter().take(3) {
                eprintln!("error: {e}");
            }
            if let Some(path) = &json {
                o.write(path)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(())
        }
        Command::Chat {
            common,
            users,
            rate,
            duration_secs,
        } => {
            let o = chat::run(
                &common.target(),
                users,
                rate,
                Duration::from_secs(duration_secs),
            )
            .await;
            finish(&common, o)
        }
        Command::PubsubFanout {
            common,
            subscribers,
            items,
            publisher_addr,
            publisher_domain,
        } => {
            let target = common.target();
            let publisher = publisher_addr
                .zip(publisher_domain)
                .map(|(addr, domain)| Target {
                    addrs: vec![addr],
                    domain,
                    ..target.clone()
                });
            let o = fanout::run_from(&target, publisher.as_ref(), Via::PubSub, subscribers, items)
                .await;
            finish(&common, o)
        }
        Command::PepFanout {
            common,
            subscribers,
            items,
        } => {
            let o = fanout::run(&common.target(), Via::Pep, subscribers, items).await;
            finish(&common, o)
        }
        Command::PollVsPush {
            common,
            http,
            consumers,
            users,
            follows,
            rate,
            duration_secs,
            poll_interval_secs,
            modes,
            no_baseline,
        } => {
            let params = poll_push::Params {
                http,
                consumers,
                users,
                follows,
                rate,
                duration: seconds(duration_secs, "--duration-secs")?,
                poll_interval: seconds(poll_interval_secs, "--poll-interval-secs")?,
                modes,
                baseline: !no_baseline,
            };
            let o = poll_push::run(&common.target(), params).await;
            finish(&common, o)
        }
        Command::RestThroughput {
            common,
            http,
            wrk,
            threads,
            connections,
            duration_secs,
        } => {
            let params = rest::Params {
                http,
                wrk,
                threads,
                connections,
                duration: Duration::from_secs(duration_secs),
            };
            let o = rest::run(&common.target(), params).await;
            finish(&common, o)
        }
        Command::Report { dir, out, ours } => match out {
            Some(path) => report::write_document(&dir, &path, &ours)
                .with_context(|| format!("writing the report {}", path.display())),
            None => {
                let outcomes =
                    report::load(&dir).with_context(|| format!("reading {}", dir.display()))?;
                print!("{}", report::markdown(&outcomes, &ours));
                Ok(())
            }
        },
    }
}
