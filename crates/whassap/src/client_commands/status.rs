//! `whassap status set TEXT` and `whassap status get [USER_OR_JID]`.

use std::process::ExitCode;

use clap::Subcommand;

use super::{print, report, Failure, Login};

/// `status set` or `status get`.
#[derive(Subcommand)]
pub enum StatusCommand {
    /// Set your status (published on your microblog node); prints its id.
    #[command(after_help = "Example:

  WHASSAP_JID=alice@example.org WHASSAP_PASSWORD=secret whassap status set \"at the pub\"
  01JD3Q0T6ZC8W2XQ4Y7M3N1K9B

Exit codes: 0 set, 2 usage, 3 wrong password, 4 cannot connect,
5 TLS certificate refused, 6 refused (e.g. too long: 280 characters at most).")]
    Set {
        /// The status, 1–280 characters.
        text: String,
        #[command(flatten)]
        login: Login,
    },
    /// Print someone's current status (yours by default).
    #[command(after_help = "Example:

  WHASSAP_JID=alice@example.org WHASSAP_PASSWORD=secret whassap status get bob
  at the pub

USER_OR_JID is a JID, or a username on your own server. Prints nothing (with
--json: null) if they have no status. Exit codes: 0 done, 2 usage,
3 wrong password, 4 cannot connect, 5 TLS certificate refused, 6 refused.")]
    Get {
        /// Whose status [default: yours].
        user: Option<String>,
        #[command(flatten)]
        login: Login,
    },
}

/// Run `status set` or `status get`.
pub async fn run(command: StatusCommand) -> ExitCode {
    let (name, json, done) = match &command {
        StatusCommand::Set { text, login } => ("status set", login.json, set(text, login).await),
        StatusCommand::Get { user, login } => {
            ("status get", login.json, get(user.as_deref(), login).await)
        }
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report(name, json, f),
    }
}

async fn set(text: &str, login: &Login) -> Result<(), Failure> {
    let mut client = login.connect().await?;
    let id = client.set_status(text).await?;
    client.close().await?;
    print(
        login.json,
        || id.clone(),
        || serde_json::json!({ "id": id }),
    );
    Ok(())
}

async fn get(user: Option<&str>, login: &Login) -> Result<(), Failure> {
    let jid = match user {
        Some(user) => login.user_jid(user)?,
        None => login.bare_jid()?.to_owned(),
    };
    let mut client = login.connect().await?;
    let status = client.status_of(&jid).await?;
    client.close().await?;
    match status {
        Some(s) => print(
            login.json,
            || s.text.clone(),
            || serde_json::to_value(&s).unwrap_or_default(),
        ),
        None if login.json => println!("null"),
        None => eprintln!("{jid} has no status"),
    }
    Ok(())
}
