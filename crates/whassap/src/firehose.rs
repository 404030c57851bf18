//! `whassap firehose` (SPEC §8): tail the SSE firehose from the shell,
//! resuming after a drop with `Last-Event-ID`.

use std::process::ExitCode;

use clap::Args;
use whassap_client::rest::{FirehoseEvent, FirehoseFilter, RestClient, RestError};

/// Flags of `firehose`.
#[derive(Args)]
#[command(
    after_help = "Example (every status mentioning \"pub\" by alice or bob):

  whassap firehose --url https://status.example.org --users alice,bob --q pub
  alice: at the pub

Prints `USER: TEXT` a line (with --json: each status as the REST API gives
it, and {\"deleted\": ID} for a deletion) until Ctrl-C. A dropped stream is
resumed after the last status seen, so none is missed or repeated.
Exit codes: 0 interrupted, 2 usage, 4 cannot connect, 5 TLS certificate
refused, 6 the server refused."
)]
pub struct FirehoseArgs {
    /// Only these usernames, comma-separated.
    #[arg(long, value_delimiter = ',')]
    users: Vec<String>,
    /// Only statuses containing this word (case-insensitive).
    #[arg(long)]
    q: Option<String>,
    /// Start after this status id (replaying what followed it).
    #[arg(long, value_name = "ID")]
    after: Option<String>,
    /// The server's HTTP address.
    #[arg(long, env = "WHASSAP_URL", default_value = "http://localhost:3000")]
    url: String,
    /// Accept a self-signed TLS certificate (development only).
    #[arg(long)]
    insecure: bool,
    /// Print one JSON object a line instead of text.
    #[arg(long)]
    json: bool,
}

/// Tail it until interrupted; the exit code says how it ended.
pub async fn run(args: FirehoseArgs) -> ExitCode {
    tokio::select! {
        e = tail(&args) => {
            eprintln!("whassap firehose: {e}");
            ExitCode::from(crate::notify::exit_code(&e))
        }
        _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
    }
}

/// Print events until an error ends the stream.
async fn tail(args: &FirehoseArgs) -> RestError {
    let api = match RestClient::new(&args.url) {
        Ok(api) if args.insecure => match api.accept_invalid_certificates() {
            Ok(api) => api,
            Err(e) => return e,
        },
        Ok(api) => api,
        Err(e) => return e,
    };
    let filter = FirehoseFilter {
        users: args.users.clone(),
        q: args.q.clone(),
    };
    let mut firehose = match api.firehose(filter, args.after.clone()).await {
        Ok(f) => f,
        Err(e) => return e,
    };
    eprintln!("tailing {}; Ctrl-C stops", args.url);
    loop {
        match firehose.next().await {
            Ok(FirehoseEvent::Status(s)) if args.json => {
                println!("{}", serde_json::to_string(&s).unwrap_or_default());
            }
            Ok(FirehoseEvent::Status(s)) => println!("{}: {}", s.author.username, s.text),
            Ok(FirehoseEvent::Deleted(id)) if args.json => {
                println!("{}", serde_json::json!({ "deleted": id }));
            }
            Ok(FirehoseEvent::Deleted(_)) => {}
            Err(e) => return e,
        }
    }
}
