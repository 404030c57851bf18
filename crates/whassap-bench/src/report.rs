//! Turn a directory of outcomes (one JSON file per server and scenario)
//! into a Markdown report: a table per scenario with every server side by
//! side, Whassap's figure as a ratio of the better peer's, the targets met
//! or missed, and an SVG bar chart per headline figure.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use crate::outcome::short;
use crate::Outcome;

/// The figures shown for a scenario: (name, heading, lower is better).
fn columns(scenario: &str) -> &'static [(&'static str, &'static str, bool)] {
    match scenario {
        "login" => &[
            ("logins_per_s", "logins/s", false),
            ("server_cpu_ms_per_login", "server CPU ms/login", true),
        ],
        "idle" => &[
            ("server_kib_per_session", "server KiB/session", true),
            ("server_rss_kib", "server RSS KiB", true),
        ],
        "chat" => &[
            ("delivered_per_s", "delivered/s", false),
            ("lost", "lost", true),
            (
                "server_cpu_ms_per_1000_messages",
                "server CPU ms/1,000 msgs",
                true,
            ),
            ("latency_p50_ms", "p50 ms", true),
            ("latency_p99_ms", "p99 ms", true),
            ("latency_max_ms", "max ms", true),
        ],
        _ => &[
            ("subscribers_reached", "subscribers reached", false),
            ("deliveries_per_s", "deliveries/s", false),
            (
                "server_cpu_ms_per_1000_deliveries",
                "server CPU ms/1,000 deliveries",
                true,
            ),
            ("last_delivery_p50_ms", "publish→last p50 ms", true),
            ("last_delivery_p99_ms", "publish→last p99 ms", true),
        ],
    }
}

/// Order of the scenarios in the report.
const SCENARIOS: &[&str] = &["idle", "login", "chat", "pubsub-fanout", "pep-fanout"];

/// Read every `*.json` outcome in `dir`.
pub fn load(dir: &Path) -> anyhow::Result<Vec<Outcome>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            out.push(Outcome::read(&path)?);
        }
    }
    out.sort_by(|a, b| (&a.scenario, &a.label).cmp(&(&b.scenario, &b.label)));
    Ok(out)
}

/// The Markdown tables for these outcomes. `ours` names the server whose
/// ratio to the better of the others is shown.
pub fn markdown(outcomes: &[Outcome], ours: &str) -> String {
    let mut by_scenario: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
    for o in outcomes {
        by_scenario.entry(o.scenario.as_str()).or_default().push(o);
    }
    let mut md = String::new();
    let mut names: Vec<&str> = SCENARIOS.to_vec();
    names.extend(by_scenario.keys().filter(|k| !SCENARIOS.contains(k)));
    for scenario in names {
        let Some(rows) = by_scenario.get(scenario) else {
            continue;
        };
        let cols = columns(scenario);
        let _ = writeln!(md, "### {scenario}\n");
        if let Some(first) = rows.first() {
            let params: Vec<String> = first
                .params
                .iter()
                .map(|(k, v)| format!("{k} {}", short(*v)))
                .collect();
            let _ = writeln!(md, "Parameters: {}.\n", params.join(", "));
        }
        let header: Vec<&str> = cols.iter().map(|c| c.1).collect();
        let _ = writeln!(md, "| server | {} | notes |", header.join(" | "));
        let _ = writeln!(md, "|---|{}---|", "---:|".repeat(cols.len()));
        for o in rows {
            let cells: Vec<String> = cols
                .iter()
                .map(|(k, _, _)| o.figures.get(*k).map(|v| short(*v)).unwrap_or("–".into()))
                .collect();
            let mut notes = Vec::new();
            if o.generator_saturated {
                notes.push("generator saturated".to_string());
            }
            if !o.errors.is_empty() {
                notes.push(format!("{} errors: {}", o.errors.len(), o.errors[0]));
            }
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                o.label,
                cells.join(" | "),
                notes.join("; ")
            );
        }
        if let Some(ratios) = ratio_row(rows, cols, ours) {
            let _ = writeln!(
                md,
                "| **{ours} ÷ better peer** | {} | |",
                ratios.join(" | ")
            );
        }
        md.push('\n');
    }
    md
}

/// Our figure divided by the better of the other servers' (the lower one
/// where lower is better, else the higher one).
fn ratio_row(rows: &[&Outcome], cols: &[(&str, &str, bool)], ours: &str) -> Option<Vec<String>> {
    let mine = rows.iter().find(|o| o.label == ours)?;
    let peers: Vec<&&Outcome> = rows.iter().filter(|o| o.label != ours).collect();
    if peers.is_empty() {
        return None;
    }
    Some(
        cols.iter()
            .map(|(k, _, lower_better)| {
                let values = peers.iter().filter_map(|p| p.figures.get(*k).copied());
                let best = if *lower_better {
                    values.fold(f64::INFINITY, f64::min)
                } else {
                    values.fold(f64::NEG_INFINITY, f64::max)
                };
                match mine.figures.get(*k) {
                    Some(v) if best.is_finite() && best != 0.0 => format!("{:.2}×", v / best),
                    _ => "–".into(),
                }
            })
            .collect(),
    )
}

/// A target: scenario, figure, the largest allowed ratio to the better
/// peer, and how it reads.
const TARGETS: &[(&str, &str, f64, &str)] = &[
    (
        "idle",
        "server_kib_per_session",
        0.25,
        "memory per idle session ≤ 1/4",
    ),
    (
        "login",
        "server_cpu_ms_per_login",
        1.0 / 3.0,
        "server CPU per login ≤ 1/3",
    ),
    (
        "chat",
        "server_cpu_ms_per_1000_messages",
        1.0 / 3.0,
        "server CPU per 1,000 messages ≤ 1/3",
    ),
    ("chat", "latency_p99_ms", 1.0, "chat p99 latency lower"),
    (
        "pubsub-fanout",
        "server_cpu_ms_per_1000_deliveries",
        0.2,
        "PubSub CPU per 1,000 deliveries ≤ 1/5",
    ),
    (
        "pep-fanout",
        "server_cpu_ms_per_1000_deliveries",
        0.2,
        "PEP CPU per 1,000 deliveries ≤ 1/5",
    ),
];

/// The targets table: ratio to the better peer, met or not.
pub fn targets(outcomes: &[Outcome], ours: &str) -> String {
    let mut md = String::from("| target | ratio to the better peer | met |\n|---|---:|---|\n");
    for (scenario, figure, limit, what) in TARGETS {
        let rows: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.scenario == *scenario)
            .collect();
        let mine = rows
            .iter()
            .find(|o| o.label == ours)
            .and_then(|o| o.figures.get(*figure));
        let best = rows
            .iter()
            .filter(|o| o.label != ours)
            .filter_map(|o| o.figures.get(*figure).copied())
            .fold(f64::INFINITY, f64::min);
        let (ratio, met) = match mine {
            Some(v) if best.is_finite() && best > 0.0 => {
                let r = v / best;
                (format!("{r:.2}×"), if r <= *limit { "yes" } else { "no" })
            }
            _ => ("–".to_string(), "not measured"),
        };
        let _ = writeln!(md, "| {what} | {ratio} | {met} |");
    }
    md
}

/// An SVG bar chart of one figure across servers (hand-drawn: a handful of
/// rectangles and labels needs no charting library or system fonts).
pub fn bar_chart(title: &str, bars: &[(String, f64)]) -> String {
    let (w, bar_h, gap, left) = (640.0, 28.0, 12.0, 110.0);
    let h = 50.0 + bars.len() as f64 * (bar_h + gap);
    let max = bars
        .iter()
        .map(|b| b.1)
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let mut svg = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' font-family='sans-serif' font-size='14'>\n<rect width='100%' height='100%' fill='white'/>\n<text x='10' y='24' font-weight='bold'>{}</text>\n",
        escape(title)
    );
    for (i, (label, v)) in bars.iter().enumerate() {
        let y = 40.0 + i as f64 * (bar_h + gap);
        let len = (w - left - 120.0) * v / max;
        let colour = if label == "whassap" {
            "#2a7ab9"
        } else {
            "#9aa5b1"
        };
        let _ = writeln!(
            svg,
            "<text x='10' y='{}'>{}</text><rect x='{left}' y='{y}' width='{len:.1}' height='{bar_h}' fill='{colour}'/><text x='{:.1}' y='{}'>{}</text>",
            y + 19.0,
            escape(label),
            left + len + 6.0,
            y + 19.0,
            short(*v)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('\'', "&apos;")
}

/// The headline figure of each scenario, charted.
const CHARTS: &[(&str, &str, &str)] = &[
    (
        "idle",
        "server_kib_per_session",
        "Server memory per idle session (KiB, lower is better)",
    ),
    (
        "login",
        "server_cpu_ms_per_login",
        "Server CPU per login (ms, lower is better)",
    ),
    (
        "chat",
        "server_cpu_ms_per_1000_messages",
        "Server CPU per 1,000 chat messages (ms, lower is better)",
    ),
    (
        "pubsub-fanout",
        "server_cpu_ms_per_1000_deliveries",
        "Server CPU per 1,000 PubSub deliveries (ms, lower is better)",
    ),
    (
        "pep-fanout",
        "server_cpu_ms_per_1000_deliveries",
        "Server CPU per 1,000 PEP deliveries (ms, lower is better)",
    ),
];

/// Write the whole report: `out` (Markdown) and its charts in a directory
/// named after it (`docs/benchmarks.md` → `docs/benchmarks/*.svg`).
pub fn write_document(dir: &Path, out: &Path, ours: &str) -> anyhow::Result<()> {
    let outcomes = load(dir)?;
    let charts_dir = out.with_extension("");
    std::fs::create_dir_all(&charts_dir)?;
    let charts_name = charts_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut md = String::from("# Benchmarks: Whassap, Prosody and ejabberd side by side\n\n");
    md.push_str(
        "Written by `bench/compare.sh` (see `bench/README.md`) from one run: the three servers \
         ran one after another on the same machine, with the same accounts and the same \
         scenarios of `whassap-bench`, all over 127.0.0.1 without TLS, SCRAM-SHA-1 for every \
         login (each server stores only hashed credentials). Server CPU time and memory are \
         read from `/proc`; CPU time per operation is the headline figure, as it is steadier \
         than wall time on a shared machine.\n\n",
    );
    if let Ok(info) = std::fs::read_to_string(dir.join("run-info.txt")) {
        md.push_str("## This run\n\n```\n");
        md.push_str(info.trim_end());
        md.push_str("\n```\n\n");
    }
    md.push_str("## Targets\n\n");
    md.push_str(&targets(&outcomes, ours));
    md.push_str("\n## Figures\n\n");
    md.push_str(&markdown(&outcomes, ours));
    md.push_str("## Charts\n\n");
    for (scenario, figure, title) in CHARTS {
        let bars: Vec<(String, f64)> = outcomes
            .iter()
            .filter(|o| o.scenario == *scenario)
            .filter_map(|o| Some((o.label.clone(), *o.figures.get(*figure)?)))
            .collect();
        if bars.is_empty() {
            continue;
        }
        let file = format!("{scenario}.svg");
        std::fs::write(charts_dir.join(&file), bar_chart(title, &bars))?;
        let _ = writeln!(md, "![{title}]({charts_name}/{file})\n");
    }
    std::fs::write(out, md)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(label: &str, cpu: f64) -> Outcome {
        let mut o = Outcome::new(label, "login");
        o.param("users", 10.0);
        o.figure("server_cpu_ms_per_login", cpu);
        o
    }

    #[test]
    fn ratios_use_the_better_peer() {
        let md = markdown(
            &[
                outcome("whassap", 0.1),
                outcome("prosody", 1.5),
                outcome("ejabberd", 0.5),
            ],
            "whassap",
        );
        assert!(
            md.contains("| **whassap ÷ better peer** | – | 0.20× | |"),
            "{md}"
        );
    }

    #[test]
    fn targets_compare_with_the_better_peer() {
        let t = targets(
            &[
                outcome("whassap", 0.1),
                outcome("prosody", 1.5),
                outcome("ejabberd", 0.5),
            ],
            "whassap",
        );
        assert!(
            t.contains("| server CPU per login ≤ 1/3 | 0.20× | yes |"),
            "{t}"
        );
        assert!(
            t.contains("| memory per idle session ≤ 1/4 | – | not measured |"),
            "{t}"
        );
    }

    #[test]
    fn charts_are_svg_with_one_bar_per_server() {
        let svg = bar_chart("t", &[("whassap".into(), 1.0), ("prosody".into(), 4.0)]);
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<rect").count(), 3, "background and two bars");
    }
}
