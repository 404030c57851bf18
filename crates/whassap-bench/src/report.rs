//! Turn a directory of outcomes (one JSON file per server and scenario)
//! into a Markdown report: a table per scenario with every server side by
//! side, and Whassap's figure as a ratio of the better peer's.

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
}
