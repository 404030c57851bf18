//! `whassap`: the server, account management, and client commands.

mod client_commands;
mod firehose;
mod notify;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use whassap::config::{self, Config, PubsubCreate, Registration};
use whassap::App;

/// Whassap: an XMPP server, status service and firehose in one binary.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (XMPP c2s on 5222/5223, HTTP on 3000).
    Serve(Box<ServeArgs>),
    /// Manage accounts (works while the server is running).
    User {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Federation: the running server's connections to other servers.
    S2s {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: S2sCommand,
    },
    /// Send a chat message (logs in as --jid).
    Send(client_commands::SendArgs),
    /// Print incoming messages until interrupted (logs in as --jid).
    Listen(client_commands::ListenArgs),
    /// Set or read statuses over XMPP (logs in as --jid).
    Status {
        #[command(subcommand)]
        command: client_commands::StatusCommand,
    },
    /// Print statuses of the given JIDs as they are set (logs in as --jid).
    Watch(client_commands::WatchArgs),
    /// Print public statuses as they are posted (the SSE firehose).
    Firehose(firehose::FirehoseArgs),
    /// IM a user who added the bot, through the notifications API.
    Notify(notify::NotifyArgs),
    /// Load-test an XMPP server (this one, Prosody, ejabberd…): the same as `whassap-bench`.
    #[command(disable_help_flag = true)]
    Bench {
        /// Scenario and its flags (see `whassap bench --help`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

/// Flags of `serve`; each overrides the config key of the same name.
#[derive(Args, Serialize, Default)]
struct ServeArgs {
    /// TOML configuration file (see whassap.example.toml). Env: WHASSAP_CONFIG.
    #[arg(long, env = "WHASSAP_CONFIG")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// XMPP domain served [default: localhost].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
    /// Data directory: SQLite database and generated certificate [default: ./whassap-data].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    /// Database URL: postgres://USER@HOST/DB, sqlite:PATH [default: SQLite in the data dir].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<String>,
    /// c2s listener with STARTTLS [default: 0.0.0.0:5222]; empty disables.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    c2s_listen: Option<String>,
    /// c2s listener with direct TLS, XEP-0368 [default: 0.0.0.0:5223]; empty disables.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    c2s_tls_listen: Option<String>,
    /// HTTP listener: WebSocket XMPP, /healthz, /metrics [default: 0.0.0.0:3000]; empty disables.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    http_listen: Option<String>,
    /// Public base URL used in links [default: http://DOMAIN:3000].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    public_url: Option<String>,
    /// TLS certificate chain (PEM) [default: self-signed, generated in the data dir].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_cert: Option<String>,
    /// TLS private key (PEM), with --tls-cert.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_key: Option<String>,
    /// Let clients skip TLS and use PLAIN without it (tests and benchmarks only).
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    allow_plaintext: bool,
    /// Self sign-up on the web page and REST API [default: open].
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    registration: Option<Registration>,
    /// Enable XEP-0077 in-band registration over XMPP.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    xmpp_registration: bool,
    /// Who may create nodes on pubsub.DOMAIN: local (any local user) or admins [default: local].
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pubsub_create: Option<PubsubCreate>,
    /// An administrator's bare JID (repeatable); replaces the configured list.
    #[arg(long = "admin", value_name = "JID")]
    #[serde(rename = "admins", skip_serializing_if = "Vec::is_empty")]
    admins: Vec<String>,
    /// WebSocket connections count as secure (TLS-terminating proxy in front): offer PLAIN there.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    websocket_secure: bool,
    /// Log filter, e.g. info, debug, whassap_server=debug [default: info].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    log: Option<String>,
    /// Log format: text or json [default: text].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    log_format: Option<String>,
    /// Seconds a request waits for a PostgreSQL connection before failing (HTTP 503) [default: 10].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    database_timeout_secs: Option<u64>,
    /// Most new statuses committed in one transaction; 1: each alone [default: 256].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    status_group_commit: Option<usize>,
    /// Largest stanza accepted, in bytes [default: 262144].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_stanza_bytes: Option<usize>,
    /// Seconds a connection has to authenticate [default: 30].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_timeout_secs: Option<u64>,
    /// Stanzas queued per session before a non-reading client is dropped [default: 1024].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    session_queue: Option<usize>,
    /// Bytes queued per session before a non-reading client is dropped [default: 1048576].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    session_queue_bytes: Option<usize>,
    /// Connections open at once, XMPP and HTTP together; 0: no cap [default: 50000].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_connections: Option<usize>,
    /// Connections open at once from one client address (IPv6: a /64); 0: no cap [default: 200].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_connections_per_ip: Option<usize>,
    /// Seconds an HTTP client has to send a whole request head [default: 30].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    http_header_timeout_secs: Option<u64>,
    /// Seconds an HTTP client has to send a whole request body [default: 30].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    http_body_timeout_secs: Option<u64>,
    /// Seconds an idle keep-alive HTTP connection stays open [default: 20].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    http_idle_timeout_secs: Option<u64>,
    /// Sessions (resources) one account may have at once [default: 10].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_sessions_per_account: Option<usize>,
    /// Items in one user's roster [default: 1000].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_roster_items: Option<usize>,
    /// PubSub and PEP nodes one user may own [default: 100].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_pubsub_nodes_per_user: Option<usize>,
    /// Messages stored per offline user [default: 1000].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_offline_per_user: Option<usize>,
    /// Listener for other XMPP servers (federation) [default: 0.0.0.0:5269]; empty disables federation.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    s2s_listen: Option<String>,
    /// Static route to a peer, checked before DNS: DOMAIN=HOST:PORT (repeatable); replaces the configured list.
    #[arg(long = "s2s-route", value_name = "DOMAIN=HOST:PORT")]
    #[serde(rename = "s2s_route", skip_serializing_if = "Vec::is_empty")]
    s2s_route: Vec<String>,
    /// Peers must present a certificate valid for their domain (no dialback).
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    s2s_require_valid_certs: bool,
    /// Extra trust anchors (PEM) for peer certificates, besides the Mozilla roots.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    s2s_ca: Option<String>,
    /// Allow s2s streams without TLS when a peer offers none.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    s2s_allow_plaintext: bool,
    /// Seconds to reach and authenticate a peer before its queue is bounced [default: 60].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    s2s_timeout_secs: Option<u64>,
    /// Seconds before an idle s2s connection is closed [default: 600].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    s2s_idle_secs: Option<u64>,
    /// DNS server asked for peers' SRV records, HOST:PORT [default: the system's resolvers].
    #[arg(long, value_name = "HOST:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    s2s_dns_server: Option<String>,
    /// Join a cluster over this NATS server (needs --database postgres://…) [default: this node alone].
    #[arg(long, value_name = "nats://HOST:4222")]
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<String>,
    /// This node's name, unique in the cluster [default: host name + random suffix].
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    node_name: Option<String>,
    /// Accept webhooks to loopback and private addresses (config: webhooks.allow_private).
    #[arg(long)]
    #[serde(skip)]
    webhooks_allow_private: bool,
}

/// Where the accounts are stored.
#[derive(Args, Serialize)]
struct StoreArgs {
    /// TOML configuration file to read data_dir/database from. Env: WHASSAP_CONFIG.
    #[arg(long, env = "WHASSAP_CONFIG", global = true)]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Data directory [default: ./whassap-data].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    /// Database URL: postgres://USER@HOST/DB, sqlite:PATH [default: SQLite in the data dir].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<String>,
    /// Domain of the JIDs printed [default: the domain `whassap serve` last served with this store].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
}

#[derive(Subcommand)]
enum S2sCommand {
    /// Each server-to-server connection of the running server: peer domain,
    /// direction, TLS, authentication (external/dialback), queued stanzas,
    /// idle seconds.
    ///
    /// Example: whassap s2s list --data-dir /var/lib/whassap
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account. Without --password, the password is asked for (or read from stdin).
    Add {
        /// Username (the part before @ in the JID).
        name: String,
        /// Password (visible in the process list: prefer the prompt or stdin).
        #[arg(long)]
        password: Option<String>,
    },
    /// Delete an account with its roster and stored messages.
    Del {
        /// Username.
        name: String,
    },
    /// Change an account's password.
    Passwd {
        /// Username.
        name: String,
        /// New password (else asked for, or read from stdin).
        #[arg(long)]
        password: Option<String>,
    },
    /// List accounts.
    List,
}

fn init_logging(config: &Config) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| config.log.clone());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn read_password(given: Option<String>) -> anyhow::Result<String> {
    if let Some(p) = given {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        let p = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Again: ")?;
        if p != again {
            bail!("the passwords differ");
        }
        return Ok(p);
    }
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    Ok(s.trim_end_matches(['\r', '\n']).to_string())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config =
        config::load(args.config.as_deref(), &args).context("reading the configuration")?;
    if args.webhooks_allow_private {
        config.webhooks.allow_private = true;
    }
    init_logging(&config);
    let app = App::start(&config).await?;
    tracing::info!(domain = %config.domain, data_dir = %config.data_dir.display(), "whassap is running");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
        _ = term.recv() => tracing::info!("SIGTERM received"),
    }
    app.shutdown().await;
    Ok(())
}

async fn user(store_args: StoreArgs, command: UserCommand) -> anyhow::Result<()> {
    let config = config::load(store_args.config.as_deref(), &store_args)
        .context("reading the configuration")?;
    let store = whassap::open_store(&config).await?;
    // The domain the server serves: a flag, else what `serve` recorded in
    // the store, else the configuration's.
    let domain = match &store_args.domain {
        Some(d) => d.clone(),
        None => store
            .setting(whassap::SERVED_DOMAIN)
            .await
            .context("reading the served domain")?
            .unwrap_or_else(|| config.domain.clone()),
    };
    let iterations = whassap_server::ServerConfig::new("", "").scram_iterations;
    use whassap_server::accounts;
    match command {
        UserCommand::Add { name, password } => {
            let password = read_password(password)?;
            let name = accounts::add(&store, &name, &password, iterations).await?;
            println!("created {name}@{domain}");
        }
        UserCommand::Del { name } => {
            accounts::delete(&store, &name).await?;
            println!("deleted {name}@{domain}");
        }
        UserCommand::Passwd { name, password } => {
            let password = read_password(password)?;
            accounts::set_password(&store, &name, &password, iterations).await?;
            println!("password of {name}@{domain} changed");
        }
        UserCommand::List => {
            for u in store.list_users().await? {
                println!("{u}@{domain}");
            }
        }
    }
    store.close().await;
    Ok(())
}

async fn s2s(store_args: StoreArgs, command: S2sCommand) -> anyhow::Result<()> {
    let config = config::load(store_args.config.as_deref(), &store_args)
        .context("reading the configuration")?;
    match command {
        S2sCommand::List { json } => {
            let reply = whassap::control::ask(&config.data_dir, "s2s list").await?;
            if json {
                print!("{reply}");
                return Ok(());
            }
            let links: Vec<whassap_server::s2s::LinkInfo> =
                serde_json::from_str(&reply).context("reading the server's answer")?;
            println!(
                "{:<32} {:<4} {:<4} {:<9} {:>7} {:>5}",
                "PEER", "DIR", "TLS", "AUTH", "QUEUED", "IDLE"
            );
            for l in links {
                println!(
                    "{:<32} {:<4} {:<4} {:<9} {:>7} {:>4}s",
                    if l.domain.is_empty() { "?" } else { &l.domain },
                    l.direction,
                    if l.tls { "yes" } else { "no" },
                    l.auth,
                    l.queued,
                    l.idle_secs
                );
            }
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let done = match cli.command {
        Command::Serve(args) => serve(*args).await,
        Command::User { store, command } => user(store, command).await,
        Command::S2s { store, command } => s2s(store, command).await,
        Command::Notify(args) => return notify::run(args).await,
        Command::Send(args) => return client_commands::send::run(args).await,
        Command::Listen(args) => return client_commands::listen::run(args).await,
        Command::Status { command } => return client_commands::status::run(command).await,
        Command::Watch(args) => return client_commands::watch::run(args).await,
        Command::Firehose(args) => return firehose::run(args).await,
        Command::Bench { args } => {
            let argv = std::iter::once(std::ffi::OsString::from("whassap bench")).chain(args);
            whassap_bench::cli::run(argv).await
        }
    };
    match done {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // As `main` returning the error would print it.
        Err(e) => {
            eprintln!("Error: {e:?}");
            std::process::ExitCode::FAILURE
        }
    }
}
