//! The XMPP client commands of SPEC §8 (`send`, `listen`, `status`,
//! `watch`): each logs in as `--jid` with `--password`, does its job with
//! `whassap-client` and exits with the code SPEC §8 gives the outcome.
//! `notify` and `firehose` speak HTTP instead.

pub mod listen;
pub mod send;
pub mod status;
pub mod watch;

use std::process::ExitCode;

use clap::Args;
use whassap_client::{Client, ClientError, ConnectOptions};

pub use listen::ListenArgs;
pub use send::SendArgs;
pub use status::StatusCommand;
pub use watch::WatchArgs;

/// The flags every XMPP client command takes.
#[derive(Args, Clone)]
pub struct Login {
    /// Your account's JID (user@domain).
    #[arg(long, env = "WHASSAP_JID")]
    jid: Option<String>,
    /// Your password.
    #[arg(long, env = "WHASSAP_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Connect to HOST:PORT instead of the JID's domain on port 5222.
    #[arg(long, env = "WHASSAP_SERVER", value_name = "HOST:PORT")]
    server: Option<String>,
    /// Accept a self-signed TLS certificate (development only).
    #[arg(long)]
    insecure: bool,
    /// Print one JSON object a line instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Why a client command stopped.
pub enum Failure {
    /// The command line is wrong (exit 2).
    Usage(String),
    /// The XMPP side failed.
    Client(ClientError),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Client(e)
    }
}

impl Login {
    /// The bare JID given with `--jid`.
    fn bare_jid(&self) -> Result<&str, Failure> {
        let jid = self.jid.as_deref().ok_or_else(|| {
            Failure::Usage("--jid (or WHASSAP_JID) is required: the account to log in as".into())
        })?;
        Ok(jid.split('/').next().unwrap_or(jid))
    }

    /// Log in: TLS (STARTTLS), SCRAM, bind.
    pub async fn connect(&self) -> Result<Client, Failure> {
        let opts = self.options().await?;
        Ok(Client::connect(opts).await?)
    }

    /// Log in, and again whenever the connection drops (for the commands
    /// that run until interrupted).
    pub async fn connect_for_good(&self) -> Result<Client, Failure> {
        let opts = self.options().await?;
        let mut client = Client::connect(opts.clone()).await?;
        client.reconnect_with(opts);
        Ok(client)
    }

    async fn options(&self) -> Result<ConnectOptions, Failure> {
        let jid = self.bare_jid()?;
        let password = self
            .password
            .as_deref()
            .ok_or_else(|| Failure::Usage("--password (or WHASSAP_PASSWORD) is required".into()))?;
        let mut opts = match ConnectOptions::for_jid(jid, password, self.server.as_deref()).await {
            Ok(opts) => opts,
            Err(ClientError::Protocol(why)) => return Err(Failure::Usage(why)),
            Err(e) => return Err(e.into()),
        };
        opts.resource = Some(format!(
            "whassap-cli-{:06x}",
            rand::random::<u32>() & 0xff_ffff
        ));
        opts.accept_invalid_certs = self.insecure;
        Ok(opts)
    }

    /// A user named on the command line as a JID, or as a username on the
    /// logged-in account's server.
    pub fn user_jid(&self, user: &str) -> Result<String, Failure> {
        if user.contains('@') {
            return Ok(user.to_owned());
        }
        let own = self.bare_jid()?;
        let domain = own.split_once('@').map_or(own, |(_, d)| d);
        Ok(format!("{user}@{domain}"))
    }
}

/// Print how a command failed and give SPEC §8's exit code: 2 usage, 3
/// authentication refused, 4 cannot connect, 5 TLS certificate refused, 6
/// the server refused the request.
pub fn report(command: &str, json: bool, failure: Failure) -> ExitCode {
    let (code, message) = match failure {
        Failure::Usage(why) => (2, why),
        Failure::Client(e) => {
            let code = match &e {
                ClientError::AuthFailed(_) => 3,
                e if e.is_connect_failure() => 4,
                ClientError::Certificate(_) | ClientError::Tls(_) => 5,
                _ => 6,
            };
            if json {
                if let ClientError::Stanza(s) = &e {
                    println!(
                        "{}",
                        serde_json::json!({"error": {"code": s.condition, "type": s.kind, "message": s.text}})
                    );
                }
            }
            let hint = match code {
                4 => " (is the server running? --server HOST:PORT says where it is)",
                5 => " (--insecure accepts a self-signed certificate, in development only)",
                _ => "",
            };
            (code, format!("{e}{hint}"))
        }
    };
    eprintln!("whassap {command}: {message}");
    ExitCode::from(code)
}

/// Print one line: `json` when `--json`, else `text`.
fn print(json: bool, text: impl FnOnce() -> String, value: impl FnOnce() -> serde_json::Value) {
    if json {
        println!("{}", value());
    } else {
        println!("{}", text());
    }
}

/// A JID without its resource.
fn bare(jid: &str) -> &str {
    jid.split('/').next().unwrap_or(jid)
}
