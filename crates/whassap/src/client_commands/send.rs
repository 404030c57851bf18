//! `whassap send JID TEXT`: one chat message.

use std::process::ExitCode;

use clap::Args;

use super::{report, Failure, Login};

/// Flags of `send`.
#[derive(Args)]
#[command(after_help = "Example:

  export WHASSAP_JID=alice@example.org WHASSAP_PASSWORD=secret
  whassap send bob@example.org \"lunch?\"

Exit codes: 0 sent, 2 usage, 3 wrong password, 4 cannot connect,
5 TLS certificate refused, 6 the server refused the message.")]
pub struct SendArgs {
    /// The recipient's JID.
    to: String,
    /// The message.
    text: String,
    #[command(flatten)]
    login: Login,
}

/// Log in, send, log out.
pub async fn run(args: SendArgs) -> ExitCode {
    let json = args.login.json;
    match send(&args).await {
        Ok(()) => {
            if json {
                println!("{}", serde_json::json!({"to": args.to, "sent": true}));
            }
            ExitCode::SUCCESS
        }
        Err(f) => report("send", json, f),
    }
}

async fn send(args: &SendArgs) -> Result<(), Failure> {
    let mut client = args.login.connect().await?;
    client.send_message(&args.to, &args.text).await?;
    client.close().await?;
    Ok(())
}
