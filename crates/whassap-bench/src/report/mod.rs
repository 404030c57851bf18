//! Turn a directory of outcomes (one JSON file per server and scenario)
//! into a Markdown report: a table per scenario with every server side by
//! side, Whassap's figure as a ratio of the better peer's, the targets met
//! or missed, and a bar chart (SVG and PNG, drawn with plotters) per headline
//! figure.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::Context;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::outcome::short;
use crate::Outcome;

mod log_chart;
pub mod push;

/// The figures shown for a scenario: (name, heading, lower is better).
fn columns(scenario: &str) -> &'static [(&'static str, &'static str, bool)] {
    // The cluster runs (`idle-cluster`, `login-storm`…) read like their kind.
    let kind = ["idle", "login", "chat"]
        .into_iter()
        .find(|k| scenario.starts_with(k))
        .unwrap_or(scenario);
    match kind {
        "login" => &[
            ("logins_per_s", "logins/s", false),
            ("server_cpu_ms_per_login", "server CPU ms/login", true),
            ("server_user_cpu_ms_per_login", "of which user space", true),
            ("server_kernel_share", "kernel share of CPU", false),
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
            (
                "server_user_cpu_ms_per_1000_messages",
                "of which user space",
                true,
            ),
            ("latency_p50_ms", "p50 ms", true),
            ("latency_p99_ms", "p99 ms", true),
            ("latency_max_ms", "max ms", true),
            ("server_kernel_share", "kernel share of CPU", false),
        ],
        _ => &[
            ("subscribers_reached", "subscribers reached", false),
            ("deliveries_per_s", "deliveries/s", false),
            (
                "server_cpu_ms_per_1000_deliveries",
                "server CPU ms/1,000 deliveries",
                true,
            ),
            (
                "server_user_cpu_ms_per_1000_deliveries",
                "of which user space",
                true,
            ),
            ("last_delivery_p50_ms", "publish→last p50 ms", true),
            ("last_delivery_p99_ms", "publish→last p99 ms", true),
            ("server_kernel_share", "kernel share of CPU", false),
        ],
    }
}

/// Order of the scenarios in the report.
const SCENARIOS: &[&str] = &[
    "idle",
    "idle-tls",
    "login",
    "chat",
    "pubsub-fanout",
    "pep-fanout",
];

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
    names.extend(
        by_scenario
            .keys()
            .filter(|k| !SCENARIOS.contains(k) && !push::SCENARIOS.contains(k)),
    );
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
        if let Some(line) = floor_line(outcomes, scenario, rows) {
            let _ = writeln!(md, "{line}\n");
        }
    }
    md
}

/// A fan-out's CPU per delivery as multiples of its floor (the `floor`
/// outcome labelled with the fan-out's scenario, from the same run).
fn floor_line(outcomes: &[Outcome], scenario: &str, rows: &[&Outcome]) -> Option<String> {
    const CPU: &str = "server_cpu_ms_per_1000_deliveries";
    let floor = outcomes
        .iter()
        .find(|o| o.scenario == "floor" && o.label == scenario)?
        .figures
        .get(CPU)
        .copied()
        .filter(|f| *f > 0.0)?;
    let multiples: Vec<String> = rows
        .iter()
        .filter_map(|o| Some(format!("{} {:.1}×", o.label, o.figures.get(CPU)? / floor)))
        .collect();
    Some(format!(
        "Floor (a minimal writer, the same bytes to as many sockets, this run): \
         {floor:.2} ms per 1,000 deliveries. CPU per delivery as multiples of it: {}.",
        multiples.join(", ")
    ))
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
                    // A share is not a cost: no ratio.
                    _ if *k == "server_kernel_share" => String::new(),
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
        "idle-tls",
        "server_kib_per_session",
        0.25,
        "memory per idle session over STARTTLS ≤ 1/4 (reported)",
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

/// What one publish to many subscribers must stay within (publish to the
/// last subscriber's delivery, p99).
const FANOUT_GOAL_MS: f64 = 150.0;

/// The single-node scale section for `ours`: the sessions held and their
/// memory, extrapolated to a million, and one publish to many subscribers
/// against [`FANOUT_GOAL_MS`]. Empty when those runs are missing.
pub fn scale(outcomes: &[Outcome], ours: &str) -> String {
    let find = |scenario: &str| {
        outcomes
            .iter()
            .find(|o| o.scenario == scenario && o.label == ours)
    };
    let mut md = String::new();
    if let Some(o) = find("idle-scale") {
        let sessions = o.figures.get("logins").copied().unwrap_or(0.0);
        if let (Some(kib), Some(rss)) = (
            o.figures.get("server_kib_per_session"),
            o.figures.get("server_rss_kib"),
        ) {
            let million_gib = kib * 1_000_000.0 / 1024.0 / 1024.0;
            let _ = writeln!(
                md,
                "- **{} idle sessions held** on one process (its file limit here is 20,000): \
                 RSS {:.0} MiB in all, **{kib:.2} KiB per session**. At that rate a million \
                 sessions need about **{million_gib:.1} GiB** of process memory, plus the \
                 kernel's socket buffers (not in RSS; a few KiB per idle TCP connection).",
                short(sessions),
                rss / 1024.0,
            );
        }
    }
    if let Some(o) = find("pubsub-fanout-scale") {
        let subscribers = o.figures.get("subscribers_reached").copied().unwrap_or(0.0);
        if let (Some(p50), Some(p99)) = (
            o.figures.get("last_delivery_p50_ms"),
            o.figures.get("last_delivery_p99_ms"),
        ) {
            let met = if *p99 <= FANOUT_GOAL_MS {
                "met"
            } else {
                "not met"
            };
            let _ = writeln!(
                md,
                "- **One publish to {} online subscribers**: the last of them has it after \
                 {p50:.0} ms (p50) / {p99:.0} ms (p99); goal {FANOUT_GOAL_MS:.0} ms: **{met}**.",
                short(subscribers),
            );
        }
    }
    md
}

/// DejaVu Sans (see `assets/DejaVuSans.LICENSE.txt`), compiled in so that
/// PNG text needs no system fonts.
const FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
/// The family charts ask for: the embedded font in PNGs, the viewer's
/// sans-serif in SVGs.
const FAMILY: &str = "sans-serif";
/// Whassap's bars, and everyone else's.
const HIGHLIGHT: RGBColor = RGBColor(0x2a, 0x7a, 0xb9);
const OTHER: RGBColor = RGBColor(0x9a, 0xa5, 0xb1);

/// Make the embedded font known to plotters (once per process).
fn register_font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    anyhow::ensure!(ok, "the embedded chart font could not be read");
    Ok(())
}

/// A chart that plotters can draw on any backend: the report writes each
/// one twice, as SVG and as PNG.
trait Chart {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Draw the whole chart on `root`.
    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>;
}

/// Write `chart` as `<path>.svg` and `<path>.png` (`path` has no extension;
/// any it has is replaced).
fn write_svg_and_png(path: &Path, chart: &impl Chart) -> anyhow::Result<()> {
    register_font()?;
    let size = chart.size();
    let svg = path.with_extension("svg");
    chart
        .draw(SVGBackend::new(&svg, size).into_drawing_area())
        .with_context(|| format!("drawing {}", svg.display()))?;
    let png = path.with_extension("png");
    chart
        .draw(BitMapBackend::new(&png, size).into_drawing_area())
        .with_context(|| format!("drawing {}", png.display()))?;
    Ok(())
}

/// A horizontal bar chart of one figure across servers, written as
/// `<path>.svg` and `<path>.png` (`path` has no extension; any it has is
/// replaced). One bar per server, top to bottom in the order given, with its
/// value at the end; `highlight` names the server drawn in a distinct colour.
pub fn write_bar_chart(
    path: &Path,
    title: &str,
    bars: &[(String, f64)],
    highlight: &str,
) -> anyhow::Result<()> {
    anyhow::ensure!(!bars.is_empty(), "no bars to chart for {title:?}");
    write_svg_and_png(
        path,
        &BarChart {
            title,
            bars,
            highlight,
        },
    )
}

/// What [`write_bar_chart`] draws.
struct BarChart<'a> {
    title: &'a str,
    bars: &'a [(String, f64)],
    highlight: &'a str,
}

impl Chart for BarChart<'_> {
    fn size(&self) -> (u32, u32) {
        (860, 110 + 56 * self.bars.len() as u32)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        draw_bar_chart(root, self.title, self.bars, self.highlight)
    }
}

fn draw_bar_chart<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    bars: &[(String, f64)],
    highlight: &str,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let n = bars.len();
    // Room to the right of the longest bar for its value.
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max);
    let x_max = if max > 0.0 { max * 1.18 } else { 1.0 };
    // One row of 100 units per bar, the first at the top: row r spans
    // 100r..100r + 100 from the bottom, with its label at the centre.
    // (Integer units: plotters formats labels of bound key points only on
    // integer axes.)
    let row = |i: usize| 100 * (n - 1 - i) as i32;
    let centres: Vec<i32> = (0..n).map(|i| row(i) + 50).collect();
    // Wide enough for the longest server name.
    let label_style = TextStyle::from((FAMILY, 16).into_font());
    let mut label_width = 60;
    for (label, _) in bars {
        label_width = label_width.max(root.estimate_text_size(label, &label_style)?.0);
    }
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 22))
        .margin(16)
        .margin_right(28)
        .x_label_area_size(32)
        .y_label_area_size(label_width + 24)
        .build_cartesian_2d(0.0..x_max, (0..100 * n as i32).with_key_points(centres))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_label_formatter(&|y| {
            let from_top = n.checked_sub(1 + (*y / 100).max(0) as usize);
            from_top
                .and_then(|i| bars.get(i))
                .map(|b| b.0.clone())
                .unwrap_or_default()
        })
        .x_labels(6)
        .x_label_formatter(&|v| tick(*v))
        .label_style(label_style.clone())
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(0xe4, 0xe7, 0xeb))
        .axis_style(RGBColor(0x60, 0x68, 0x70))
        .draw()?;
    chart.draw_series(bars.iter().enumerate().map(|(i, (label, v))| {
        let colour = if label == highlight { HIGHLIGHT } else { OTHER };
        Rectangle::new([(0.0, row(i) + 18), (*v, row(i) + 82)], colour.filled())
    }))?;
    let value_style = label_style.pos(Pos::new(HPos::Left, VPos::Center));
    chart.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
        EmptyElement::at((*v, row(i) + 50)) + Text::new(short(*v), (6, 0), value_style.clone())
    }))?;
    root.present()?;
    Ok(())
}

/// An axis tick: as in the tables, without trailing zeros.
fn tick(v: f64) -> String {
    let s = short(v);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The headline figure of each scenario, charted.
const CHARTS: &[(&str, &str, &str)] = &[
    (
        "idle",
        "server_kib_per_session",
        "Server memory per idle session (KiB, lower is better)",
    ),
    (
        "idle-tls",
        "server_kib_per_session",
        "Server memory per idle session over STARTTLS (KiB, lower is better)",
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

/// Opens the hand-written part of the report (benchmarks run by other
/// scripts, with their own explanations): [`write_document`] keeps what
/// lies between this line and [`KEPT_END`] in the file it replaces.
pub const KEPT_BEGIN: &str = "<!-- Written by hand: `whassap-bench report` keeps this part. -->";

/// Closes the hand-written part of the report.
pub const KEPT_END: &str = "<!-- End of the part written by hand. -->";

/// The hand-written part of an earlier report, markers included.
fn kept_part(out: &Path) -> Option<String> {
    let old = std::fs::read_to_string(out).ok()?;
    let begin = old.find(KEPT_BEGIN)?;
    let end = begin + old[begin..].find(KEPT_END)? + KEPT_END.len();
    Some(old[begin..end].to_string())
}

/// Write the whole report: `out` (Markdown) and its charts in a directory
/// named after it (`docs/benchmarks.md` → `docs/benchmarks/*.png` and
/// `*.svg`). The hand-written part of the `out` it replaces (between
/// [`KEPT_BEGIN`] and [`KEPT_END`]) is kept, after the REST figures.
pub fn write_document(dir: &Path, out: &Path, ours: &str) -> anyhow::Result<()> {
    let outcomes = load(dir)?;
    let kept = kept_part(out);
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
         scenarios of `whassap-bench`, all over 127.0.0.1 without TLS (except `idle-tls`, \
         over STARTTLS), SCRAM-SHA-1 for every login (each server stores only hashed \
         credentials). The `-scale` runs are Whassap's alone, as are push versus poll and \
         REST throughput, which use its REST API. Server CPU time and memory are \
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
    let scale = scale(&outcomes, ours);
    if !scale.is_empty() {
        md.push_str("\n## Scale: one Whassap node\n\n");
        md.push_str(&scale);
    }
    let push = push::poll_vs_push(&outcomes, ours);
    if !push.is_empty() {
        md.push_str("\n## Push versus poll\n\n");
        md.push_str(&push);
        md.push_str(&push::poll_vs_push_charts(
            &outcomes,
            ours,
            &charts_dir,
            &charts_name,
        )?);
    }
    let rest = push::rest_throughput(&outcomes, ours);
    if !rest.is_empty() {
        md.push_str("\n## REST API throughput\n\n");
        md.push_str(&rest);
    }
    if let Some(kept) = kept {
        md.push('\n');
        md.push_str(&kept);
        md.push('\n');
    }
    let figures = markdown(&outcomes, ours);
    if !figures.is_empty() {
        md.push_str("\n## Figures\n\n");
        md.push_str(&figures);
    }
    let mut charts = String::new();
    for (scenario, figure, title) in CHARTS {
        let bars: Vec<(String, f64)> = outcomes
            .iter()
            .filter(|o| o.scenario == *scenario)
            .filter_map(|o| Some((o.label.clone(), *o.figures.get(*figure)?)))
            .collect();
        if bars.is_empty() {
            continue;
        }
        write_bar_chart(&charts_dir.join(scenario), title, &bars, ours)?;
        let _ = writeln!(
            charts,
            "![{title}]({charts_name}/{scenario}.png)\n\n([SVG]({charts_name}/{scenario}.svg))\n"
        );
    }
    if !charts.is_empty() {
        md.push_str("## Charts\n\n");
        md.push_str(&charts);
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
    fn scale_extrapolates_memory_and_checks_the_fanout_goal() {
        let mut idle = Outcome::new("whassap", "idle-scale");
        idle.figure("logins", 19000.0)
            .figure("server_kib_per_session", 6.0)
            .figure("server_rss_kib", 120_000.0);
        let mut fan = Outcome::new("whassap", "pubsub-fanout-scale");
        fan.figure("subscribers_reached", 15000.0)
            .figure("last_delivery_p50_ms", 90.0)
            .figure("last_delivery_p99_ms", 200.0);
        let md = scale(&[idle, fan], "whassap");
        assert!(md.contains("**6.00 KiB per session**"), "{md}");
        assert!(md.contains("about **5.7 GiB**"), "{md}");
        assert!(md.contains("goal 150 ms: **not met**"), "{md}");
        assert_eq!(scale(&[outcome("whassap", 1.0)], "whassap"), "");
    }

    #[test]
    fn fan_outs_are_given_as_multiples_of_their_floor() {
        let fan = |label: &str, scenario: &str, cpu: f64| {
            let mut o = Outcome::new(label, scenario);
            o.figure("server_cpu_ms_per_1000_deliveries", cpu);
            o
        };
        let outcomes = vec![
            fan("pubsub-fanout", "floor", 4.0),
            fan("whassap", "pubsub-fanout", 10.0),
            fan("ejabberd", "pubsub-fanout", 30.0),
            fan("whassap", "pep-fanout", 12.0),
        ];
        let md = markdown(&outcomes, "whassap");
        assert!(
            md.contains("4.00 ms per 1,000 deliveries. CPU per delivery as multiples of it: whassap 2.5×, ejabberd 7.5×."),
            "{md}"
        );
        // No floor of its own: no line.
        assert_eq!(md.matches("multiples of it").count(), 1, "{md}");
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
            md.contains("| **whassap ÷ better peer** | – | 0.20× | – |  | |"),
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

    /// Bars of a colour in plotters' SVG output.
    fn bars(svg: &str, colour: RGBColor) -> usize {
        let fill = format!("fill=\"#{:02X}{:02X}{:02X}\"", colour.0, colour.1, colour.2);
        svg.lines()
            .filter(|l| l.trim_start().starts_with("<rect") && l.contains(&fill))
            .count()
    }

    #[test]
    fn charts_are_svg_and_png_with_one_bar_per_server() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("login");
        let servers = [
            ("whassap".to_string(), 0.25),
            ("prosody".to_string(), 4.0),
            ("ejabberd".to_string(), 1234.0),
        ];
        write_bar_chart(&base, "Server CPU per login (ms)", &servers, "whassap").unwrap();

        let svg = std::fs::read_to_string(base.with_extension("svg")).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert_eq!(bars(&svg, HIGHLIGHT), 1, "{svg}");
        assert_eq!(bars(&svg, OTHER), 2, "{svg}");
        for text in [
            "Server CPU per login (ms)",
            "whassap",
            "prosody",
            "ejabberd",
            "0.250",
            "4.00",
            "1234",
        ] {
            assert!(
                svg.contains(&format!(">\n{text}\n</text>")),
                "{text} in {svg}"
            );
        }

        let png = std::fs::read(base.with_extension("png")).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        // IHDR: width and height, as the SVG's.
        assert_eq!(&png[12..16], b"IHDR");
        let (w, h) = (&png[16..20], &png[20..24]);
        let (w, h) = (
            u32::from_be_bytes(w.try_into().unwrap()),
            u32::from_be_bytes(h.try_into().unwrap()),
        );
        assert!(
            svg.contains(&format!("width=\"{w}\" height=\"{h}\"")),
            "{w}x{h}"
        );
        // Bars alone compress to a few KiB; the text takes far more.
        assert!(png.len() > 10_000, "{} bytes", png.len());
    }

    #[test]
    fn the_document_embeds_the_png_and_links_the_svg() {
        let runs = tempfile::tempdir().unwrap();
        for o in [outcome("whassap", 0.1), outcome("prosody", 1.5)] {
            o.write(&runs.path().join(format!("{}-login.json", o.label)))
                .unwrap();
        }
        let docs = tempfile::tempdir().unwrap();
        let out = docs.path().join("benchmarks.md");
        write_document(runs.path(), &out, "whassap").unwrap();

        let md = std::fs::read_to_string(&out).unwrap();
        assert!(
            md.contains("![Server CPU per login (ms, lower is better)](benchmarks/login.png)"),
            "{md}"
        );
        assert!(md.contains("([SVG](benchmarks/login.svg))"), "{md}");
        assert!(docs.path().join("benchmarks/login.png").is_file());
        assert!(docs.path().join("benchmarks/login.svg").is_file());
        assert!(!docs.path().join("benchmarks/chat.png").exists());
    }

    #[test]
    fn the_hand_written_part_survives_a_new_report() {
        let runs = tempfile::tempdir().unwrap();
        outcome("whassap", 0.1)
            .write(&runs.path().join("whassap-login.json"))
            .unwrap();
        let docs = tempfile::tempdir().unwrap();
        let out = docs.path().join("benchmarks.md");
        let by_hand =
            format!("{KEPT_BEGIN}\n## Several nodes\n\nThree nodes did well.\n{KEPT_END}");
        std::fs::write(
            &out,
            format!("# Old\n\nold figures\n\n{by_hand}\n\nold charts\n"),
        )
        .unwrap();
        write_document(runs.path(), &out, "whassap").unwrap();
        let md = std::fs::read_to_string(&out).unwrap();
        assert!(md.contains(&by_hand), "{md}");
        assert!(!md.contains("old figures"), "{md}");
        assert!(md.find(&by_hand) < md.find("## Figures"), "{md}");
        // Without the part, nothing is invented.
        std::fs::remove_file(&out).unwrap();
        write_document(runs.path(), &out, "whassap").unwrap();
        assert!(!std::fs::read_to_string(&out).unwrap().contains(KEPT_BEGIN));
    }
}
