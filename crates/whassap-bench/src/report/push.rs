//! The report's sections for Whassap's own scenarios: push versus poll
//! (`poll-vs-push`) and REST API throughput (`rest-throughput`), with
//! log-scale charts of CPU per delivered status and of staleness.

use std::fmt::Write;
use std::path::Path;

pub use super::log_chart::write_log_bar_chart;
use crate::outcome::short;
use crate::Outcome;

/// The scenarios of this module, left out of the side-by-side figures.
pub const SCENARIOS: &[&str] = &["poll-vs-push", "rest-throughput"];

/// Push must be at least this many times cheaper per delivered status.
const PUSH_CHEAPER_GOAL: f64 = 100.0;
/// Push staleness (p99) must stay under this.
const PUSH_STALENESS_GOAL_MS: f64 = 100.0;

/// The modes as they appear in figures and in the report, in order.
const MODES: &[(&str, &str)] = &[
    ("post_only", "posting only"),
    ("poll", "poll"),
    ("pep", "PEP (XMPP)"),
    ("sse", "SSE firehose"),
];

fn find<'a>(outcomes: &'a [Outcome], scenario: &str, ours: &str) -> Option<&'a Outcome> {
    outcomes
        .iter()
        .find(|o| o.scenario == scenario && o.label == ours)
}

fn fig(o: &Outcome, mode: &str, name: &str) -> Option<f64> {
    o.figures.get(&format!("{mode}_{name}")).copied()
}

fn cell(v: Option<f64>) -> String {
    v.map(short).unwrap_or_else(|| "–".into())
}

/// An integer with thousands separators (for counts of bytes).
fn count(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

/// `part` of `whole` as a percentage.
fn share(part: Option<f64>, whole: Option<f64>) -> String {
    match (part, whole) {
        (Some(p), Some(w)) if w > 0.0 => format!("{:.0}%", p / w * 100.0),
        _ => "–".into(),
    }
}

/// A parameter or count: whole numbers without decimals.
fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        count(v)
    } else {
        short(v)
    }
}

fn integer(v: Option<f64>) -> String {
    v.map(count).unwrap_or_else(|| "–".into())
}

/// The "Push versus poll" section (Markdown), or empty without the run.
pub fn poll_vs_push(outcomes: &[Outcome], ours: &str) -> String {
    let Some(o) = find(outcomes, "poll-vs-push", ours) else {
        return String::new();
    };
    let p = |k: &str| o.params.get(k).copied().unwrap_or(0.0);
    let (k, u, f, r, t, every) = (
        p("consumers"),
        p("users"),
        p("follows"),
        p("rate"),
        p("duration_s"),
        p("poll_interval_s"),
    );
    let mut md = String::new();
    let _ = writeln!(
        md,
        "{} consumers each follow {} of {} users, who post {} statuses a second in all \
         (each user every {} s; each status has {} followers). Each mode ran {} s with the \
         same posting schedule: polling `GET /api/v1/users/{{u}}/statuses?after=<last seen>` \
         every {} s per followed user (one keep-alive connection per consumer, the polls \
         spread evenly), XMPP sessions subscribed to the users' `urn:xmpp:microblog:0` PEP \
         nodes, and SSE streams `GET /api/v1/firehose?users=…`. *Posting only* is the same \
         schedule with no consumer: its CPU per post is subtracted from the other modes' \
         CPU per delivered status (the gross figure keeps it).\n",
        num(k),
        num(f),
        num(u),
        num(r),
        num(u / r.max(1e-9)),
        num(k * f / u.max(1.0)),
        num(t),
        num(every),
    );
    let ratio = |push: &str| o.figures.get(&format!("poll_over_{push}_cpu")).copied();
    let staleness = |m: &str| fig(o, m, "staleness_p99_ms");
    let push_ratios: Vec<f64> = ["pep", "sse"].iter().filter_map(|m| ratio(m)).collect();
    if !push_ratios.is_empty() {
        let met = push_ratios.iter().all(|r| *r >= PUSH_CHEAPER_GOAL);
        let _ = writeln!(
            md,
            "- **Polling every {} s costs {}× the server CPU per delivered status of PEP and \
             {}× that of SSE**; goal ≥ {PUSH_CHEAPER_GOAL:.0}×: **{}**.",
            num(every),
            cell(ratio("pep")),
            cell(ratio("sse")),
            if met { "met" } else { "not met" },
        );
    }
    let push_stale: Vec<f64> = ["pep", "sse"].iter().filter_map(|m| staleness(m)).collect();
    if !push_stale.is_empty() {
        let met = push_stale.iter().all(|s| *s < PUSH_STALENESS_GOAL_MS);
        let _ = writeln!(
            md,
            "- **Staleness, p99**: PEP {} ms, SSE {} ms (goal < {PUSH_STALENESS_GOAL_MS:.0} ms: \
             **{}**); polling {} ms, and {} ms on average: a poll comes on average half an \
             interval after a post.",
            cell(staleness("pep")),
            cell(staleness("sse")),
            if met { "met" } else { "not met" },
            cell(staleness("poll")),
            cell(fig(o, "poll", "staleness_mean_ms")),
        );
    }
    if u > 0.0 && r > 0.0 && every > 0.0 {
        let _ = writeln!(
            md,
            "- Polling makes U ÷ (R × P) = {} requests per delivered status here (each user \
             posts every {} s and is polled every {} s): the ratio grows with that, so users \
             who post once an hour, polled every 10 s, make 360 requests per status.",
            num(u / (r * every)),
            num(u / r),
            num(every),
        );
    }
    md.push_str(
        "\n| mode | delivered | lost | consumer requests / status | bytes / status | server CPU s (user + kernel) | server CPU µs / status | gross | staleness p50 / p99 / max ms |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (mode, name) in MODES {
        let Some(cpu) = fig(o, mode, "server_cpu_ms").or(fig(o, mode, "posts").map(|_| f64::NAN))
        else {
            continue;
        };
        let cpu_cell = if cpu.is_nan() {
            "–".to_string()
        } else {
            format!(
                "{:.2} ({:.2} + {:.2})",
                cpu / 1000.0,
                fig(o, mode, "server_user_cpu_ms").unwrap_or(0.0) / 1000.0,
                fig(o, mode, "server_kernel_cpu_ms").unwrap_or(0.0) / 1000.0,
            )
        };
        if *mode == "post_only" {
            let _ = writeln!(
                md,
                "| {name} | {} posts | | | | {cpu_cell} | {} per post | | |",
                fig(o, mode, "posts").map(count).unwrap_or_default(),
                cell(fig(o, mode, "server_cpu_us_per_post")),
            );
            continue;
        }
        let _ = writeln!(
            md,
            "| {name} | {} of {} | {} | {} | {} | {cpu_cell} | **{}** | {} | {} / {} / {} |",
            integer(fig(o, mode, "delivered")),
            integer(fig(o, mode, "expected")),
            integer(fig(o, mode, "lost")),
            fig(o, mode, "requests_per_status").map_or("–".into(), num),
            cell(fig(o, mode, "bytes_per_status")),
            cell(fig(o, mode, "server_cpu_us_per_status")),
            cell(fig(o, mode, "server_cpu_us_per_status_gross")),
            cell(fig(o, mode, "staleness_p50_ms")),
            cell(fig(o, mode, "staleness_p99_ms")),
            cell(fig(o, mode, "staleness_max_ms")),
        );
    }
    md.push('\n');
    let unmeasured = MODES[1..].iter().any(|(mode, _)| {
        fig(o, mode, "server_cpu_us_per_status_gross").is_some()
            && fig(o, mode, "server_cpu_us_per_status").is_none()
    });
    if unmeasured {
        md.push_str(
            "A – for CPU per status: what the consumers added to posting's own CPU time was \
             under the 10 ms resolution of `/proc` (a longer or larger run measures it).\n\n",
        );
    }
    let setup: Vec<String> = MODES[1..]
        .iter()
        .filter_map(|(mode, name)| {
            let req = fig(o, mode, "setup_requests")?;
            let cpu = fig(o, mode, "setup_server_cpu_ms")
                .map(|c| format!(", {} ms of server CPU", num(c)))
                .unwrap_or_default();
            Some(format!("{name} {}{cpu}", count(req)))
        })
        .collect();
    if !setup.is_empty() {
        let _ = writeln!(
            md,
            "Setting up, not counted above (requests after connecting: the SSE requests, \
             XMPP presence and subscriptions; logins not counted as requests): {}.\n",
            setup.join("; ")
        );
    }
    let traffic: Vec<String> = MODES[1..]
        .iter()
        .filter_map(|(mode, name)| {
            Some(format!(
                "{name} {} received, {} sent",
                count(fig(o, mode, "bytes_received")?),
                count(fig(o, mode, "bytes_sent")?)
            ))
        })
        .collect();
    if !traffic.is_empty() {
        let _ = writeln!(
            md,
            "Bytes are the consumers' connections' TCP payload in both directions over the \
             measured seconds, counted by the generator at its sockets (HTTP heads and chunked \
             framing included, TCP/IP headers not): {}. Server CPU is the server process's \
             user and kernel time from `/proc/PID/stat` over the same seconds. A status counts \
             as delivered when it reached its consumer by the end of a drain after the posting \
             (5 s, or one poll interval more when polling), which is not measured. Staleness \
             runs from the moment the author sent `POST /api/v1/statuses` to the consumer's \
             receipt. Posts were acknowledged (`201 Created`, after the commit) in {} ms \
             (p50), {} ms (p99); Whassap fans a status out before it answers, so {} of the PEP \
             and {} of the SSE deliveries arrived before the author had its `201`.\n",
            traffic.join("; "),
            cell(o.figures.get("post_ack_p50_ms").copied()),
            cell(o.figures.get("post_ack_p99_ms").copied()),
            share(fig(o, "pep", "before_ack"), fig(o, "pep", "delivered")),
            share(fig(o, "sse", "before_ack"), fig(o, "sse", "delivered")),
        );
    }
    if o.generator_saturated {
        md.push_str("The load generator was saturated in at least one mode.\n\n");
    }
    if !o.errors.is_empty() {
        let _ = writeln!(
            md,
            "{} errors, the first: {}\n",
            o.errors.len(),
            o.errors[0]
        );
    }
    md
}

/// The chart data of the push-versus-poll run: (file stem, title, bars,
/// highlighted labels).
type LogChart = (&'static str, &'static str, Vec<(String, f64)>, Vec<String>);

fn charts(o: &Outcome) -> Vec<LogChart> {
    let mut cpu = Vec::new();
    let mut stale = Vec::new();
    for (mode, name) in &MODES[1..] {
        if let Some(v) = fig(o, mode, "server_cpu_us_per_status") {
            cpu.push((name.to_string(), v));
        }
        for q in ["p50", "p99"] {
            if let Some(v) = fig(o, mode, &format!("staleness_{q}_ms")) {
                stale.push((format!("{name} {q}"), v));
            }
        }
    }
    let push = |bars: &[(String, f64)]| {
        bars.iter()
            .filter(|(l, _)| !l.starts_with("poll"))
            .map(|(l, _)| l.clone())
            .collect::<Vec<_>>()
    };
    let mut out = Vec::new();
    if !cpu.is_empty() {
        let h = push(&cpu);
        out.push((
            "poll-vs-push-cpu",
            "Server CPU per delivered status (µs, log scale, lower is better)",
            cpu,
            h,
        ));
    }
    if !stale.is_empty() {
        let h = push(&stale);
        out.push((
            "poll-vs-push-staleness",
            "Staleness, post sent to received (ms, log scale)",
            stale,
            h,
        ));
    }
    out
}

/// Draw the push-versus-poll charts into `charts_dir` and return their
/// Markdown (`charts_name` is the directory as the document links it).
pub fn poll_vs_push_charts(
    outcomes: &[Outcome],
    ours: &str,
    charts_dir: &Path,
    charts_name: &str,
) -> anyhow::Result<String> {
    let Some(o) = find(outcomes, "poll-vs-push", ours) else {
        return Ok(String::new());
    };
    let mut md = String::new();
    for (stem, title, bars, highlighted) in charts(o) {
        let h: Vec<&str> = highlighted.iter().map(String::as_str).collect();
        write_log_bar_chart(&charts_dir.join(stem), title, &bars, &h)?;
        let _ = writeln!(
            md,
            "![{title}]({charts_name}/{stem}.png)\n\n([SVG]({charts_name}/{stem}.svg))\n"
        );
    }
    Ok(md)
}

/// The "REST API throughput" section (Markdown), or empty without the run.
pub fn rest_throughput(outcomes: &[Outcome], ours: &str) -> String {
    let Some(o) = find(outcomes, "rest-throughput", ours) else {
        return String::new();
    };
    let p = |k: &str| o.params.get(k).copied().unwrap_or(0.0);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "`wrk` with {} threads and {} keep-alive connections, {} s per request kind, on the \
         same machine as the server (so the two share its cores: requests per second is \
         what this machine does, CPU per request is the server's cost). Posts carry a \
         personal access token and a unique text; each is acknowledged only once stored \
         (SQLite, committed), then fans out. The timeline is the public one, newest 20.\n",
        num(p("threads")),
        num(p("connections")),
        num(p("duration_s")),
    );
    md.push_str(
        "| request | requests/s | server CPU µs / request | of which user space | kernel share | p50 ms | p99 ms | errors | wrk's share of the machine |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (kind, name) in [
        ("post", "`POST /api/v1/statuses`"),
        ("timeline", "`GET /api/v1/statuses`"),
    ] {
        if fig(o, kind, "requests").is_none() {
            continue;
        }
        let _ = writeln!(
            md,
            "| {name} | **{}** | **{}** | {} | {} | {} | {} | {} | {} |",
            cell(fig(o, kind, "requests_per_s")),
            cell(fig(o, kind, "server_cpu_us_per_request")),
            cell(fig(o, kind, "server_user_cpu_us_per_request")),
            cell(fig(o, kind, "server_kernel_share")),
            cell(fig(o, kind, "latency_p50_ms")),
            cell(fig(o, kind, "latency_p99_ms")),
            integer(fig(o, kind, "errors")),
            cell(fig(o, kind, "wrk_load")),
        );
    }
    if !o.errors.is_empty() {
        let _ = writeln!(
            md,
            "\n{} errors, the first: {}",
            o.errors.len(),
            o.errors[0]
        );
    }
    md.push('\n');
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> Outcome {
        let mut o = Outcome::new("whassap", "poll-vs-push");
        for (k, v) in [
            ("consumers", 200.0),
            ("users", 100.0),
            ("follows", 25.0),
            ("rate", 2.0),
            ("duration_s", 20.0),
            ("poll_interval_s", 10.0),
        ] {
            o.param(k, v);
        }
        for (k, v) in [
            ("post_only_posts", 40.0),
            ("post_only_server_cpu_ms", 80.0),
            ("post_only_server_user_cpu_ms", 60.0),
            ("post_only_server_kernel_cpu_ms", 20.0),
            ("post_only_server_cpu_us_per_post", 2000.0),
            ("poll_delivered", 2000.0),
            ("poll_expected", 2000.0),
            ("poll_lost", 0.0),
            ("poll_server_cpu_ms", 3000.0),
            ("poll_server_cpu_us_per_status", 1460.0),
            ("poll_staleness_p99_ms", 9800.0),
            ("poll_bytes_received", 1_234_567.0),
            ("poll_bytes_sent", 89_000.0),
            ("pep_delivered", 2000.0),
            ("pep_server_cpu_us_per_status", 12.0),
            ("pep_staleness_p50_ms", 0.0),
            ("pep_staleness_p99_ms", 4.0),
            ("sse_server_cpu_us_per_status", 20.0),
            ("sse_staleness_p99_ms", 6.0),
            ("poll_over_pep_cpu", 121.7),
            ("poll_over_sse_cpu", 73.0),
        ] {
            o.figure(k, v);
        }
        o
    }

    #[test]
    fn the_section_states_ratios_goals_and_bytes() {
        let md = poll_vs_push(&[run()], "whassap");
        assert!(
            md.contains(
                "costs 122× the server CPU per delivered status of PEP and 73.00× that of SSE"
            ),
            "{md}"
        );
        assert!(md.contains("goal ≥ 100×: **not met**"), "{md}");
        assert!(md.contains("goal < 100 ms: **met**"), "{md}");
        assert!(md.contains("= 5 requests per delivered status"), "{md}");
        assert!(
            md.contains("200 consumers each follow 25 of 100 users, who post 2 statuses"),
            "{md}"
        );
        assert!(md.contains("poll 1,234,567 received, 89,000 sent"), "{md}");
        assert!(md.contains("| posting only | 40 posts |"), "{md}");
        assert!(md.contains("| poll | 2,000 of 2,000 | 0 |"), "{md}");
        assert!(md.contains("| 3.00 (0.00 + 0.00) | **1460** |"), "{md}");
        assert_eq!(poll_vs_push(&[run()], "prosody"), "");
    }

    #[test]
    fn the_charts_are_drawn_and_linked() {
        let dir = tempfile::tempdir().unwrap();
        let charts = poll_vs_push_charts(&[run()], "whassap", dir.path(), "b").unwrap();
        assert!(charts.contains("](b/poll-vs-push-cpu.png)"), "{charts}");
        assert!(
            charts.contains("](b/poll-vs-push-staleness.png)"),
            "{charts}"
        );
        let svg = std::fs::read_to_string(dir.path().join("poll-vs-push-cpu.svg")).unwrap();
        for text in ["poll", "PEP (XMPP)", "1460", "12.00", "1000", "10"] {
            assert!(
                svg.contains(&format!(">\n{text}\n</text>")),
                "{text} in {svg}"
            );
        }
        assert!(dir.path().join("poll-vs-push-staleness.png").is_file());
    }

    #[test]
    fn rest_rows() {
        let mut o = Outcome::new("whassap", "rest-throughput");
        o.param("threads", 2.0)
            .param("connections", 32.0)
            .param("duration_s", 10.0)
            .figure("post_requests", 5000.0)
            .figure("post_requests_per_s", 500.0)
            .figure("post_server_cpu_us_per_request", 900.0)
            .figure("timeline_requests", 90000.0)
            .figure("timeline_requests_per_s", 9000.0);
        let md = rest_throughput(&[o], "whassap");
        assert!(
            md.contains("| `POST /api/v1/statuses` | **500** | **900** |"),
            "{md}"
        );
        assert!(md.contains("| `GET /api/v1/statuses` | **9000** |"), "{md}");
    }
}
