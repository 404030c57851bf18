//! Horizontal bar charts on a logarithmic axis (SVG and PNG), for figures
//! that differ by orders of magnitude, such as polling against push.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{tick, write_svg_and_png, Chart, FAMILY, HIGHLIGHT, OTHER};
use crate::outcome::short;

/// A horizontal bar chart on a logarithmic axis, written as `<path>.svg`
/// and `<path>.png`: one bar per label, top to bottom, with its value at
/// the end; the labels in `highlighted` are drawn in the highlight colour.
/// Values at or below the axis' lowest decade (zero included) are drawn as
/// empty bars with their value.
pub fn write_log_bar_chart(
    path: &Path,
    title: &str,
    bars: &[(String, f64)],
    highlighted: &[&str],
) -> anyhow::Result<()> {
    anyhow::ensure!(!bars.is_empty(), "no bars to chart for {title:?}");
    write_svg_and_png(
        path,
        &LogBarChart {
            title,
            bars,
            highlighted,
        },
    )
}

/// What [`write_log_bar_chart`] draws.
struct LogBarChart<'a> {
    title: &'a str,
    bars: &'a [(String, f64)],
    highlighted: &'a [&'a str],
}

impl Chart for LogBarChart<'_> {
    fn size(&self) -> (u32, u32) {
        (860, 110 + 48 * self.bars.len() as u32)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        draw_log_bar_chart(root, self.title, self.bars, self.highlighted)
    }
}

/// Thousandths of a decade: the x unit of log charts (an integer axis, so
/// that plotters labels the decades given as key points).
const MILLI_DECADE: f64 = 1000.0;

/// The decades a log chart spans: (lowest, highest), as powers of ten.
fn decades(bars: &[(String, f64)]) -> (i32, i32) {
    let positive = bars.iter().map(|b| b.1).filter(|v| *v > 0.0);
    let min = positive.clone().fold(f64::INFINITY, f64::min);
    let max = positive.fold(0.0, f64::max);
    if !min.is_finite() {
        return (0, 1);
    }
    let lo = min.log10().floor() as i32;
    let hi = (max.log10().ceil() as i32).max(lo + 1);
    (lo, hi)
}

fn draw_log_bar_chart<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    bars: &[(String, f64)],
    highlighted: &[&str],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let n = bars.len();
    let (lo, hi) = decades(bars);
    let x = |v: f64| {
        if v <= 0.0 {
            lo * MILLI_DECADE as i32
        } else {
            ((v.log10() * MILLI_DECADE).round() as i32).max(lo * MILLI_DECADE as i32)
        }
    };
    let x_min = lo * MILLI_DECADE as i32;
    // Room to the right of the longest bar for its value.
    let x_max = hi * MILLI_DECADE as i32 + 350;
    let row = |i: usize| 100 * (n - 1 - i) as i32;
    let centres: Vec<i32> = (0..n).map(|i| row(i) + 50).collect();
    let ticks: Vec<i32> = (lo..=hi).map(|d| d * MILLI_DECADE as i32).collect();
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
        .build_cartesian_2d(
            (x_min..x_max).with_key_points(ticks),
            (0..100 * n as i32).with_key_points(centres),
        )?;
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
        .x_label_formatter(&|v| tick(10f64.powf(*v as f64 / MILLI_DECADE)))
        .label_style(label_style.clone())
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(0xe4, 0xe7, 0xeb))
        .axis_style(RGBColor(0x60, 0x68, 0x70))
        .draw()?;
    chart.draw_series(bars.iter().enumerate().map(|(i, (label, v))| {
        let colour = if highlighted.contains(&label.as_str()) {
            HIGHLIGHT
        } else {
            OTHER
        };
        Rectangle::new(
            [(x_min, row(i) + 18), (x(*v), row(i) + 82)],
            colour.filled(),
        )
    }))?;
    let value_style = label_style.pos(Pos::new(HPos::Left, VPos::Center));
    chart.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
        EmptyElement::at((x(*v), row(i) + 50)) + Text::new(short(*v), (6, 0), value_style.clone())
    }))?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_charts_span_whole_decades() {
        let bars = vec![("poll".to_string(), 1460.0), ("pep".to_string(), 12.0)];
        assert_eq!(decades(&bars), (1, 4));
        assert_eq!(decades(&[("x".into(), 0.0)]), (0, 1));
        assert_eq!(decades(&[("x".into(), 0.5), ("y".into(), 2.0)]), (-1, 1));
    }
}
