//! `whassap watch JID…`: follow statuses as they are set.

use std::process::ExitCode;

use clap::Args;
use whassap_client::Client;

use super::{print, report, Failure, Login};

/// Flags of `watch`.
#[derive(Args)]
#[command(after_help = "Example:

  WHASSAP_JID=alice@example.org WHASSAP_PASSWORD=secret \\
    whassap watch bob@example.org carol@example.net
  bob@example.org: at the pub

Subscribes to each JID's microblog node (XEP-0277) and prints `JID: TEXT`
for every new status (with --json: the status object) until Ctrl-C; a
dropped connection is logged in again.
Exit codes: 0 interrupted, 2 usage, 3 wrong password, 4 cannot connect,
5 TLS certificate refused, 6 a subscription refused.")]
pub struct WatchArgs {
    /// Whose statuses: JIDs, or usernames on your own server.
    #[arg(required = true, value_name = "JID")]
    jids: Vec<String>,
    #[command(flatten)]
    login: Login,
}

/// Log in, subscribe, print.
pub async fn run(args: WatchArgs) -> ExitCode {
    let json = args.login.json;
    let mut client = match args.login.connect_for_good().await {
        Ok(c) => c,
        Err(f) => return report("watch", json, f),
    };
    tokio::select! {
        r = watch(&args, &mut client, json) => match r {
            Ok(()) => ExitCode::SUCCESS,
            Err(f) => report("watch", json, f),
        },
        _ = tokio::signal::ctrl_c() => {
            let _ = client.close().await;
            ExitCode::SUCCESS
        }
    }
}

async fn watch(args: &WatchArgs, client: &mut Client, json: bool) -> Result<(), Failure> {
    for user in &args.jids {
        let jid = args.login.user_jid(user)?;
        client.watch(&jid).await?;
    }
    client.set_presence(None, None).await?;
    eprintln!("watching {}; Ctrl-C stops", args.jids.join(", "));
    loop {
        let s = client.next_status().await?;
        print(
            json,
            || format!("{}: {}", s.author.jid, s.text),
            || serde_json::to_value(&s).unwrap_or_default(),
        );
    }
}
