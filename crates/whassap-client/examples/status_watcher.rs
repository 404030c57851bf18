//! A status watcher: follows the statuses of the JIDs given and prints
//! each new one, with its time and link.
//!
//! ```sh
//! WHASSAP_JID=alice@localhost WHASSAP_PASSWORD=secret \
//!   cargo run -p whassap-client --example status_watcher -- bob@localhost --insecure
//! ```

use whassap_client::{Client, ClientError, ConnectOptions};

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let mut opts = ConnectOptions::from_env().await?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--insecure") {
        opts = opts.insecure();
    }
    let mut client = Client::connect(opts).await?;
    for jid in args.iter().filter(|a| !a.starts_with("--")) {
        if let Some(current) = client.status_of(jid).await? {
            println!("{jid} is: {}", current.text);
        }
        client.watch(jid).await?;
    }
    client.set_presence(None, None).await?;
    loop {
        let s = client.next_status().await?;
        let when = s.created_at.as_deref().unwrap_or("now");
        let link = s.url.as_deref().unwrap_or("");
        println!("[{when}] {}: {} {link}", s.author.jid, s.text);
    }
}
