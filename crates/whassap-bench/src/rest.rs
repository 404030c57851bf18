//! `rest-throughput`: how many durable `POST /api/v1/statuses` and public
//! timeline reads (`GET /api/v1/statuses`) the server answers per second,
//! and its CPU time per request, driven by `wrk` (a separate process, so
//! that the load generator costs the measured figures nothing but CPU).
//!
//! The scenario signs up one account through the API, makes it a personal
//! access token, writes a small Lua script for wrk (Bearer token, a unique
//! text per post) and runs wrk twice, posting then reading, sampling the
//! server's CPU time from `/proc` around each run. The server's API rate
//! limits must be off.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::http::{api, Connection, Traffic};
use crate::procfs::{self, Sample};
use crate::session::{progress, Target};
use crate::Outcome;

/// The wrk script: `post` (unique texts, Bearer token) or `get`, and a
/// `done` that prints the summary as one JSON line after [`MARKER`].
const SCRIPT: &str = r#"-- whassap-bench rest-throughput: a unique status text per POST.
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1]
  token = args[2]
  tag = args[3]
  counter = 0
  if mode == "post" then
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["Authorization"] = "Bearer " .. token
  end
end

function request()
  if mode ~= "post" then
    return wrk.request()
  end
  counter = counter + 1
  local body = string.format('{"text":"wrk %s thread %d status %d"}', tag, thread_id, counter)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    'WHASSAP-BENCH {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"#;

/// What the script's `done` prints before its JSON summary.
const MARKER: &str = "WHASSAP-BENCH ";

/// The summary wrk's `done` prints.
#[derive(Debug, Deserialize, PartialEq)]
pub struct WrkSummary {
    /// Requests completed.
    pub requests: u64,
    /// Run time in microseconds.
    pub duration_us: u64,
    /// Response bytes read.
    pub bytes: u64,
    /// Connection failures.
    pub connect: u64,
    /// Read errors.
    pub read: u64,
    /// Write errors.
    pub write: u64,
    /// Answers with a status of 400 or more.
    pub status: u64,
    /// Requests that timed out.
    pub timeout: u64,
    /// Latency percentiles and maximum, microseconds.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Maximum.
    pub max_us: u64,
}

impl WrkSummary {
    /// Find the summary in wrk's standard output.
    pub fn parse(stdout: &str) -> Option<WrkSummary> {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(MARKER))
            .and_then(|json| serde_json::from_str(json).ok())
    }

    /// Every kind of failure together.
    pub fn errors(&self) -> u64 {
        self.connect + self.read + self.write + self.status + self.timeout
    }
}

/// How hard wrk pushes.
#[derive(Clone, Debug)]
pub struct Params {
    /// HTTP address of the server.
    pub http: SocketAddr,
    /// The wrk executable.
    pub wrk: PathBuf,
    /// wrk threads.
    pub threads: usize,
    /// Connections held open (keep-alive) across the threads.
    pub connections: usize,
    /// Seconds of each run.
    pub duration: Duration,
}

/// Post, then read the timeline, each for `params.duration`.
pub async fn run(target: &Target, params: Params) -> Outcome {
    let mut out = Outcome::new(&target.label, "rest-throughput");
    out.param("threads", params.threads as f64)
        .param("connections", params.connections as f64)
        .param("duration_s", params.duration.as_secs_f64());
    let token = match token(target, params.http).await {
        Ok(t) => t,
        Err(e) => {
            out.errors.push(e);
            return out;
        }
    };
    let dir = std::env::temp_dir().join(format!("whassap-bench-wrk-{}", std::process::id()));
    let script = dir.join("rest.lua");
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&script, SCRIPT)) {
        out.errors
            .push(format!("writing {}: {e}", script.display()));
        return out;
    }
    let tag = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    );
    for (name, mode, path) in [
        ("post", "post", "/api/v1/statuses"),
        ("timeline", "get", "/api/v1/statuses"),
    ] {
        progress(&format!(
            "{}: wrk {name}: {} connections, {:?}",
            target.label, params.connections, params.duration
        ));
        if let Err(e) = one(
            &mut out,
            target,
            &params,
            &script,
            name,
            [mode, &token, &tag],
            path,
        )
        .await
        {
            out.errors.push(format!("{name}: {e}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    out
}

/// Sign up the wrk account (or reuse it) and make it a token.
async fn token(target: &Target, http: SocketAddr) -> Result<String, String> {
    let mut conn = Connection::open(http, Arc::new(Traffic::default())).await?;
    let user = format!("{}-wrk", target.prefix);
    api::ensure_user(&mut conn, &user, &target.password).await?;
    api::token(&mut conn, &user, &target.password, "rest-throughput").await
}

/// One wrk run; its figures go in `out` as `NAME_…`.
async fn one(
    out: &mut Outcome,
    target: &Target,
    params: &Params,
    script: &Path,
    name: &str,
    args: [&str; 3],
    path: &str,
) -> Result<(), String> {
    let url = format!("http://{}{path}", params.http);
    let mut cmd = tokio::process::Command::new(&params.wrk);
    cmd.arg(format!("-t{}", params.threads.max(1)))
        .arg(format!(
            "-c{}",
            params.connections.max(params.threads).max(1)
        ))
        .arg(format!("-d{}s", params.duration.as_secs().max(1)))
        .arg("--timeout")
        .arg("10s")
        .arg("-s")
        .arg(script)
        .arg(&url)
        .arg("--")
        .args(args)
        .kill_on_drop(true);
    let own = procfs::children_cpu_ms(std::process::id());
    let before = Sample::take(&target.pids);
    let limit = params.duration + Duration::from_secs(30);
    let output = tokio::time::timeout(limit, cmd.output())
        .await
        .map_err(|_| format!("wrk did not finish within {limit:?}"))?
        .map_err(|e| format!("running {}: {e}", params.wrk.display()))?;
    let after = Sample::take(&target.pids);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "wrk failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let summary = WrkSummary::parse(&stdout).ok_or_else(|| format!("no summary in: {stdout}"))?;
    let delta = before.until(&after);
    let k = |f: &str| format!("{name}_{f}");
    let secs = summary.duration_us as f64 / 1e6;
    let ok = summary.requests.saturating_sub(summary.status) as f64;
    out.figure(&k("requests"), summary.requests as f64)
        .figure(&k("errors"), summary.errors() as f64)
        .figure(&k("requests_per_s"), ok / secs.max(1e-9))
        .figure(&k("latency_p50_ms"), summary.p50_us as f64 / 1000.0)
        .figure(&k("latency_p99_ms"), summary.p99_us as f64 / 1000.0)
        .figure(&k("latency_max_ms"), summary.max_us as f64 / 1000.0)
        .figure(
            &k("bytes_per_response"),
            summary.bytes as f64 / (summary.requests.max(1)) as f64,
        );
    if let Some(cpu) = delta.server_cpu_ms {
        let sys = delta.server_sys_ms.unwrap_or(0.0);
        out.figure(&k("server_cpu_ms"), cpu);
        if ok > 0.0 {
            out.figure(&k("server_cpu_us_per_request"), cpu / ok * 1000.0)
                .figure(
                    &k("server_user_cpu_us_per_request"),
                    (cpu - sys) / ok * 1000.0,
                );
        }
        if cpu > 0.0 {
            out.figure(&k("server_kernel_share"), sys / cpu);
        }
    }
    if let (Some(a), Some(b)) = (own, procfs::children_cpu_ms(std::process::id())) {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get() as f64)
            .unwrap_or(1.0);
        let load = (b - a) / 1000.0 / delta.wall_s.max(1e-9) / cores;
        out.figure(&k("wrk_load"), load);
    }
    if summary.errors() > 0 {
        out.errors.push(format!(
            "{name}: {} of {} requests failed (status {}, connect {}, read {}, write {}, timeout {})",
            summary.errors(),
            summary.requests,
            summary.status,
            summary.connect,
            summary.read,
            summary.write,
            summary.timeout
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_is_found() {
        let stdout = "Running 1s test @ http://127.0.0.1:3000/api/v1/statuses\n  2 threads\nWHASSAP-BENCH {\"requests\":10,\"duration_us\":1000000,\"bytes\":500,\"connect\":0,\"read\":0,\"write\":0,\"status\":1,\"timeout\":0,\"p50_us\":900,\"p99_us\":2000,\"max_us\":3000}\n";
        let s = WrkSummary::parse(stdout).unwrap();
        assert_eq!(s.requests, 10);
        assert_eq!(s.errors(), 1);
        assert_eq!(s.p99_us, 2000);
        assert!(WrkSummary::parse("no summary").is_none());
    }
}
