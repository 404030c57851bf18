//! An echo bot: answers every IM with the same text, and accepts anyone
//! who adds it as a contact.
//!
//! ```sh
//! WHASSAP_JID=echo@localhost WHASSAP_PASSWORD=secret \
//!   cargo run -p whassap-client --example echo_bot -- --insecure
//! ```
//!
//! `--insecure` accepts a self-signed certificate; `WHASSAP_SERVER`
//! (`HOST:PORT`) says where the server is if the domain does not.

use whassap_client::{Client, ClientError, ConnectOptions, Event};

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let mut client = Client::connect(options().await?).await?;
    client.contacts().await?;
    client
        .set_presence(Some("chat"), Some("I repeat what you say"))
        .await?;
    eprintln!("echoing as {}", client.jid());
    loop {
        match client.next_event().await? {
            Event::Message(m) if m.kind != "error" => {
                client.send_message(&m.from, &m.body).await?;
            }
            Event::Presence(p) if p.kind.as_deref() == Some("subscribe") => {
                client.accept(&p.from).await?;
                client.add_contact(&p.from).await?;
            }
            _ => {}
        }
    }
}

/// Credentials from the environment, as the `whassap` CLI takes them.
async fn options() -> Result<ConnectOptions, ClientError> {
    let opts = ConnectOptions::from_env().await?;
    Ok(match std::env::args().any(|a| a == "--insecure") {
        true => opts.insecure(),
        false => opts,
    })
}
