//! `whassap notify JID TEXT` (SPEC §8): IM a user through the
//! notifications API, from a script or a CI job.
//!
//! Exit codes, as every client command of SPEC §8: 0 done, 2 usage,
//! 3 authentication refused, 4 cannot connect, 5 TLS certificate refused,
//! 6 the server refused the request (its error is printed).

use std::process::ExitCode;

use clap::Args;
use whassap_client::rest::{RestClient, RestError};

/// Flags of `notify`.
#[derive(Args)]
#[command(
    after_help = "Example (a CI job telling a commit's author how the build went; \
they must have added whassap@<domain> as a contact):

  export WHASSAP_URL=https://status.example.org WHASSAP_TOKEN=whassap_...
  whassap notify alice@example.org \"Build #42 of main passed\"

Prints the message's id (with --json: {\"id\": ...}).
Exit codes: 0 sent, 2 usage, 3 token refused, 4 cannot connect,
5 TLS certificate refused, 6 the server refused (e.g. the user has not
added the bot, or over api.messages_per_minute)."
)]
pub struct NotifyArgs {
    /// The recipient: a user's JID (bare or full), here or on another server.
    jid: String,
    /// The message.
    text: String,
    /// `chat`, `normal` or `headline`.
    #[arg(long = "type", value_name = "TYPE", default_value = "chat", value_parser = ["chat", "normal", "headline"])]
    kind: String,
    /// The server's HTTP address.
    #[arg(long, env = "WHASSAP_URL", default_value = "http://localhost:3000")]
    url: String,
    /// A personal access token (`POST /api/v1/tokens`).
    #[arg(long, env = "WHASSAP_TOKEN", hide_env_values = true)]
    token: String,
    /// Accept a self-signed TLS certificate (development only).
    #[arg(long)]
    insecure: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Send it; the exit code says how it went.
pub async fn run(args: NotifyArgs) -> ExitCode {
    match send(&args).await {
        Ok(id) => {
            if args.json {
                println!("{}", serde_json::json!({ "id": id }));
            } else {
                println!("{id}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if args.json {
                if let RestError::Unauthorized(error) | RestError::Refused { error, .. } = &e {
                    println!(
                        "{}",
                        serde_json::json!({"error": {"code": error.code, "message": error.message}})
                    );
                }
            }
            eprintln!("whassap notify: {e}");
            ExitCode::from(exit_code(&e))
        }
    }
}

async fn send(args: &NotifyArgs) -> Result<String, RestError> {
    let mut api = RestClient::new(&args.url)?.with_token(&args.token);
    if args.insecure {
        api = api.accept_invalid_certificates()?;
    }
    api.send_message(&args.jid, &args.text, &args.kind).await
}

/// SPEC §8's exit code for a failure.
pub fn exit_code(e: &RestError) -> u8 {
    match e {
        RestError::BadUrl(..) => 2,
        RestError::Unauthorized(_) => 3,
        RestError::Connect(..) => 4,
        RestError::Certificate(..) => 5,
        RestError::Refused { .. } | RestError::Protocol(_) => 6,
    }
}
