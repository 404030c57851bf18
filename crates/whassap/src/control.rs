//! The control socket: `<data_dir>/control.sock`, a Unix socket only the
//! server's user may open (mode 0600), through which `whassap s2s list`
//! asks a running server about its state. One request per connection: a
//! line with the command, answered with one line of JSON.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use whassap_server::Server;

/// The socket's path in a data dir.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("control.sock")
}

/// Listen on the data dir's control socket until shutdown.
pub fn spawn(server: Arc<Server>, data_dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = socket_path(data_dir);
    // A socket left by a server that was killed.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)
        .with_context(|| format!("binding the control socket {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {}", path.display()))?;
    let s = server.clone();
    server.tasks.spawn(async move {
        loop {
            let conn = tokio::select! {
                _ = s.shutdown.cancelled() => break,
                c = listener.accept() => c,
            };
            let Ok((stream, _)) = conn else { continue };
            let s = s.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), answer(&s, stream))
                    .await;
            });
        }
        let _ = std::fs::remove_file(&path);
    });
    Ok(())
}

async fn answer(server: &Server, stream: UnixStream) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read.take(1024)).read_line(&mut line).await?;
    let reply = match line.trim() {
        "s2s list" => serde_json::to_string(&server.s2s.list()).unwrap_or_default(),
        other => serde_json::json!({ "error": format!("unknown command {other:?}") }).to_string(),
    };
    write.write_all(reply.as_bytes()).await?;
    write.write_all(b"\n").await?;
    write.shutdown().await
}

/// Ask the server running on `data_dir` (for the CLI).
pub async fn ask(data_dir: &Path, command: &str) -> anyhow::Result<String> {
    let path = socket_path(data_dir);
    let mut stream = UnixStream::connect(&path).await.with_context(|| {
        format!(
            "no server answers on {} (is `whassap serve` running with this data dir?)",
            path.display()
        )
    })?;
    stream.write_all(format!("{command}\n").as_bytes()).await?;
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply).await?;
    Ok(reply)
}
