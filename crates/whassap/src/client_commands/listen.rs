//! `whassap listen`: print incoming messages until interrupted.

use std::process::ExitCode;

use clap::Args;
use whassap_client::Client;

use super::{bare, print, report, Failure, Login};

/// Flags of `listen`.
#[derive(Args)]
#[command(after_help = "Example:

  WHASSAP_JID=alice@example.org WHASSAP_PASSWORD=secret whassap listen
  bob@example.org: lunch?

Prints `FROM: BODY` a line (with --json: {\"from\",\"body\",\"type\"}) until
Ctrl-C; a dropped connection is logged in again. Exit codes: 0 interrupted,
2 usage, 3 wrong password, 4 cannot connect, 5 TLS certificate refused.")]
pub struct ListenArgs {
    #[command(flatten)]
    login: Login,
}

/// Log in, come online, print messages.
pub async fn run(args: ListenArgs) -> ExitCode {
    let json = args.login.json;
    let mut client = match args.login.connect_for_good().await {
        Ok(c) => c,
        Err(f) => return report("listen", json, f),
    };
    tokio::select! {
        r = listen(&mut client, json) => match r {
            Ok(()) => ExitCode::SUCCESS,
            Err(f) => report("listen", json, f),
        },
        _ = tokio::signal::ctrl_c() => {
            let _ = client.close().await;
            ExitCode::SUCCESS
        }
    }
}

async fn listen(client: &mut Client, json: bool) -> Result<(), Failure> {
    client.set_presence(None, None).await?;
    eprintln!("listening as {}; Ctrl-C stops", client.jid());
    loop {
        let m = client.next_message().await?;
        print(
            json,
            || format!("{}: {}", bare(&m.from), m.body),
            || serde_json::to_value(&m).unwrap_or_default(),
        );
    }
}
