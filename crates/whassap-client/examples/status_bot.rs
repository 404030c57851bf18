//! The talk's status bot, as a client of any server: every IM it receives
//! becomes its sender's status on a Whassap server, through the REST API
//! (one token per user, from `POST /api/v1/tokens`), and the bot answers
//! with the status's link.
//!
//! ```sh
//! WHASSAP_JID=statusbot@example.org WHASSAP_PASSWORD=secret \
//! WHASSAP_URL=http://localhost:3000 STATUS_TOKENS='alice@example.org=whassap_…' \
//!   cargo run -p whassap-client --example status_bot
//! ```

use std::collections::HashMap;

use whassap_client::rest::RestClient;
use whassap_client::{Client, ClientError, ConnectOptions, Event};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut opts = ConnectOptions::from_env().await?;
    if std::env::args().any(|a| a == "--insecure") {
        opts = opts.insecure();
    }
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let url = std::env::var("WHASSAP_URL").unwrap_or_else(|_| "http://localhost:3000".into());
    // Each user's REST client, from STATUS_TOKENS="jid=token,jid=token".
    let mut apis = HashMap::new();
    for pair in var("STATUS_TOKENS").split(',').filter(|p| !p.is_empty()) {
        let (jid, token) = pair.split_once('=').ok_or("STATUS_TOKENS: jid=token,…")?;
        apis.insert(jid.to_owned(), RestClient::new(&url)?.with_token(token));
    }
    let mut client = Client::connect(opts).await?;
    client.contacts().await?;
    client.set_presence(None, Some("IM me your status")).await?;
    eprintln!("relaying statuses for {} users", apis.len());
    loop {
        match client.next_event().await? {
            Event::Message(m) => relay(&mut client, &apis, &m.from, &m.body).await?,
            Event::Presence(p) if p.kind.as_deref() == Some("subscribe") => {
                client.accept(&p.from).await?;
            }
            _ => {}
        }
    }
}

/// Post `text` as `from`'s status and tell them how it went.
async fn relay(
    client: &mut Client,
    apis: &HashMap<String, RestClient>,
    from: &str,
    text: &str,
) -> Result<(), ClientError> {
    let bare = from.split('/').next().unwrap_or(from);
    let answer = match apis.get(bare) {
        None => "I have no token for you: ask for one to be added.".to_owned(),
        Some(api) => match api.post_status(text).await {
            Ok(status) => format!("Thanks for setting your status: {}", status.url),
            Err(e) => format!("Your status was not set: {e}"),
        },
    };
    client.send_message(from, &answer).await
}
