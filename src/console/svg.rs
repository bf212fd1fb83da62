//! Charts as self-contained inline SVG strings for the staff console's stats page and the
//! evaluation reports: bars, columns, lines, histograms and heatmaps, with every text escaped.
//!
//! Every function returns one `<svg>` element (with `xmlns`, so it also works as a standalone
//! `.svg` file) whose first child is a `<title>`. Labels may be customer questions, so all text is
//! XML-escaped; non-finite numbers never reach the markup; the output is deterministic.

use std::fmt::Write;

/// Series colours, in order; a small palette that stays distinguishable on white.
pub const PALETTE: [&str; 6] = [
    "#2563eb", "#16a34a", "#dc2626", "#d97706", "#7c3aed", "#0891b2",
];

const TEXT: &str = "#1f2937";
const MUTED: &str = "#6b7280";
const GRID: &str = "#e5e7eb";
const AXIS: &str = "#9ca3af";
/// Fill of a heatmap cell without a finite value.
const EMPTY_CELL: &str = "#f9fafb";
/// The heatmap's full-intensity colour as RGB (`PALETTE[0]`).
const HEAT_RGB: (f64, f64, f64) = (37.0, 99.0, 235.0);

/// Width of every chart, in SVG user units (pixels at 100%).
const WIDTH: f64 = 640.0;
/// Average advance of one character at 12px, to estimate whether a text fits.
const CHAR_W: f64 = 6.5;
const TITLE_MAX_CHARS: usize = 80;
const LABEL_MAX_CHARS: usize = 28;
const NOTE_MAX_CHARS: usize = 18;
const ROTATED_MAX_CHARS: usize = 16;
const LEGEND_MAX_CHARS: usize = 18;
const HEAT_LABEL_MAX_CHARS: usize = 20;

/// `write!` into a `String`, which cannot fail.
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

/// One bar (or column) of a [`bar_chart`] or [`column_chart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The category, e.g. a question or a CSAT score.
    pub label: String,
    /// The bar's length; negative and non-finite values are drawn as 0.
    pub value: f64,
    /// Text shown after the bar instead of the value, e.g. `"42 (12%)"`.
    pub note: Option<String>,
}

impl Bar {
    /// A bar without a note (the value and unit are shown).
    pub fn new(label: impl Into<String>, value: f64) -> Self {
        Self {
            label: label.into(),
            value,
            note: None,
        }
    }

    /// The same bar with `note` shown instead of the value.
    #[must_use]
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// One line of a [`line_chart`]: `(x, y)` points, drawn in the given order; non-finite points are
/// skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text, e.g. a retrieval mode.
    pub name: String,
    /// The points, e.g. `(k, recall@k)`.
    pub points: Vec<(f64, f64)>,
}

/// Horizontal bars, one row each: the label on the left, the bar, then the note (or the value
/// followed by `unit`). Lengths are proportional to the values, the largest bar being full width.
pub fn bar_chart(title: &str, bars: &[Bar], unit: &str) -> String {
    if bars.is_empty() {
        return no_data(title);
    }
    const TOP: f64 = 44.0;
    const ROW: f64 = 24.0;
    const BAR_H: f64 = 16.0;
    const LABEL_RIGHT: f64 = 196.0;
    const X0: f64 = 204.0;
    const MAX_W: f64 = WIDTH - X0 - 124.0;

    let values: Vec<f64> = bars.iter().map(|b| drawable(b.value)).collect();
    let max = values.iter().copied().fold(0.0, f64::max);
    let rows_h = bars.len() as f64 * ROW;
    let mut out = open(title, TOP + rows_h + 12.0);
    put!(
        out,
        "<line x1=\"{x}\" y1=\"{y1}\" x2=\"{x}\" y2=\"{y2}\" stroke=\"{AXIS}\"/>\n",
        x = num(X0),
        y1 = num(TOP - 4.0),
        y2 = num(TOP + rows_h - 4.0),
    );
    let color = PALETTE[0];
    for (i, (bar, &value)) in bars.iter().zip(&values).enumerate() {
        let y = TOP + i as f64 * ROW;
        let w = if max > 0.0 { value / max * MAX_W } else { 0.0 };
        let shown = bar_text(bar, unit);
        let tip = esc(&format!("{}: {shown}", bar.label));
        let label = esc(&truncate(&bar.label, LABEL_MAX_CHARS));
        let note = esc(&truncate(&shown, NOTE_MAX_CHARS));
        put!(
            out,
            "<g class=\"bar\"><title>{tip}</title>\
             <text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{label}</text>\
             <rect class=\"bar\" x=\"{x0}\" y=\"{ry}\" width=\"{rw}\" height=\"{rh}\" rx=\"2\" fill=\"{color}\"/>\
             <text x=\"{nx}\" y=\"{ty}\">{note}</text></g>\n",
            lx = num(LABEL_RIGHT),
            ty = num(y + BAR_H / 2.0 + 4.0),
            x0 = num(X0),
            ry = num(y),
            rw = num(w),
            rh = num(BAR_H),
            nx = num(X0 + w + 6.0),
        );
    }
    close(out)
}

/// Vertical columns with a value axis, labels under the columns (rotated when they do not fit)
/// and the note (or value and `unit`) above each column when there is room; e.g. a CSAT 1..5
/// distribution or latency buckets.
pub fn column_chart(title: &str, bars: &[Bar], unit: &str) -> String {
    if bars.is_empty() {
        return no_data(title);
    }
    const LEFT: f64 = 56.0;
    const RIGHT: f64 = 16.0;
    const TOP: f64 = 48.0;
    const PLOT_H: f64 = 200.0;
    let plot_w = WIDTH - LEFT - RIGHT;
    let base = TOP + PLOT_H;
    let n = bars.len();
    let slot = plot_w / n as f64;
    let col_w = slot * 0.7;

    let values: Vec<f64> = bars.iter().map(|b| drawable(b.value)).collect();
    let max = values.iter().copied().fold(0.0, f64::max);
    let axis = if max > 0.0 {
        Axis::auto(0.0, max)
    } else {
        Axis::auto(0.0, 1.0)
    };
    let horizontal = bars
        .iter()
        .all(|b| b.label.chars().count() as f64 * CHAR_W <= slot - 4.0);
    let bottom = if horizontal { 36.0 } else { 110.0 };

    let mut out = open(title, base + bottom);
    if !unit.is_empty() {
        let u = esc(&truncate(unit, 12));
        put!(
            out,
            "<text x=\"8\" y=\"{y}\" font-size=\"11\" fill=\"{MUTED}\">{u}</text>\n",
            y = num(TOP - 10.0),
        );
    }
    for &t in &axis.ticks {
        let y = base - axis.frac(t) * PLOT_H;
        put!(
            out,
            "<line x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"{GRID}\"/>\
             <text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\" font-size=\"11\" fill=\"{MUTED}\">{label}</text>\n",
            x1 = num(LEFT),
            x2 = num(WIDTH - RIGHT),
            y = num(y),
            tx = num(LEFT - 6.0),
            ty = num(y + 4.0),
            label = fixed(t, axis.decimals),
        );
    }
    put!(
        out,
        "<line x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"{AXIS}\"/>\n",
        x1 = num(LEFT),
        x2 = num(WIDTH - RIGHT),
        y = num(base),
    );
    // Rotated labels are thinned out when even rotated they would overlap.
    let label_every = if horizontal {
        1
    } else {
        (14.0 / slot).ceil().max(1.0) as usize
    };
    let color = PALETTE[0];
    for (i, (bar, &value)) in bars.iter().zip(&values).enumerate() {
        let cx = LEFT + (i as f64 + 0.5) * slot;
        let h = axis.frac(value) * PLOT_H;
        let shown = bar_text(bar, unit);
        let tip = esc(&format!("{}: {shown}", bar.label));
        put!(
            out,
            "<g class=\"bar\"><title>{tip}</title>\
             <rect class=\"bar\" x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" fill=\"{color}\"/>",
            x = num(cx - col_w / 2.0),
            y = num(base - h),
            w = num(col_w),
            h = num(h),
        );
        // The note above the column, else the bare value when only that fits (the tooltip
        // always has the note).
        let fits = |t: &str| t.chars().count() as f64 * CHAR_W * (11.0 / 12.0) <= slot;
        let bare = if bar.value.is_finite() {
            value_text(bar.value)
        } else {
            "n/a".to_owned()
        };
        let above = [&shown, &bare].into_iter().find(|t| fits(t));
        if let Some(t) = above {
            put!(
                out,
                "<text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" font-size=\"11\">{t}</text>",
                x = num(cx),
                y = num(base - h - 4.0),
                t = esc(t),
            );
        }
        if horizontal {
            put!(
                out,
                "<text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\">{t}</text>",
                x = num(cx),
                y = num(base + 16.0),
                t = esc(&bar.label),
            );
        } else if i % label_every == 0 {
            let (x, y) = (num(cx), num(base + 14.0));
            put!(
                out,
                "<text x=\"{x}\" y=\"{y}\" text-anchor=\"end\" transform=\"rotate(-45 {x} {y})\">{t}</text>",
                t = esc(&truncate(&bar.label, ROTATED_MAX_CHARS)),
            );
        }
        out.push_str("</g>\n");
    }
    close(out)
}

/// Lines with point markers, axis ticks, axis captions and a legend on the right; e.g. recall@k
/// curves per retrieval mode. `y_range` fixes the value axis (points outside it are drawn at its
/// edge); `None`, or an empty or non-finite range, fits it to the data.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    y_range: Option<(f64, f64)>,
) -> String {
    let points: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect()
        })
        .collect();
    let Some((x_min, x_max, y_min, y_max)) = bounds(points.iter().flatten()) else {
        return no_data(title);
    };
    const LEFT: f64 = 64.0;
    const TOP: f64 = 48.0;
    const PLOT_H: f64 = 220.0;
    const PLOT_RIGHT: f64 = WIDTH - 168.0;
    const LEGEND_X: f64 = PLOT_RIGHT + 16.0;
    const LEGEND_ROW: f64 = 20.0;
    let plot_w = PLOT_RIGHT - LEFT;
    let base = TOP + PLOT_H;

    let (x_lo, x_hi) = widen(x_min, x_max);
    let x_axis = Axis::auto(x_lo, x_hi);
    let y_axis = match y_range {
        Some((lo, hi)) if lo.is_finite() && hi.is_finite() && hi > lo => Axis::fixed(lo, hi),
        _ => {
            let (lo, hi) = widen(y_min, y_max);
            Axis::auto(lo, hi)
        }
    };
    let px = |x: f64| LEFT + x_axis.frac(x) * plot_w;
    let py = |y: f64| base - y_axis.frac(y) * PLOT_H;

    let height = (base + 52.0).max(TOP + series.len() as f64 * LEGEND_ROW + 16.0);
    let mut out = open(title, height);
    for &t in &y_axis.ticks {
        let y = num(py(t));
        put!(
            out,
            "<line x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"{GRID}\"/>\
             <text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\" font-size=\"11\" fill=\"{MUTED}\">{label}</text>\n",
            x1 = num(LEFT),
            x2 = num(PLOT_RIGHT),
            tx = num(LEFT - 6.0),
            ty = num(py(t) + 4.0),
            label = fixed(t, y_axis.decimals),
        );
    }
    for &t in &x_axis.ticks {
        let x = num(px(t));
        put!(
            out,
            "<line x1=\"{x}\" y1=\"{y1}\" x2=\"{x}\" y2=\"{y2}\" stroke=\"{GRID}\"/>\
             <text x=\"{x}\" y=\"{ty}\" text-anchor=\"middle\" font-size=\"11\" fill=\"{MUTED}\">{label}</text>\n",
            y1 = num(TOP),
            y2 = num(base),
            ty = num(base + 16.0),
            label = fixed(t, x_axis.decimals),
        );
    }
    put!(
        out,
        "<polyline points=\"{l},{t} {l},{b} {r},{b}\" fill=\"none\" stroke=\"{AXIS}\"/>\n",
        l = num(LEFT),
        t = num(TOP),
        b = num(base),
        r = num(PLOT_RIGHT),
    );
    if !x_label.is_empty() {
        put!(
            out,
            "<text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\">{t}</text>\n",
            x = num(LEFT + plot_w / 2.0),
            y = num(base + 38.0),
            t = esc(&truncate(x_label, 60)),
        );
    }
    if !y_label.is_empty() {
        let (x, y) = ("16", num(TOP + PLOT_H / 2.0));
        put!(
            out,
            "<text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" transform=\"rotate(-90 {x} {y})\">{t}</text>\n",
            t = esc(&truncate(y_label, 32)),
        );
    }
    for (i, (s, pts)) in series.iter().zip(&points).enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let dash = dash(i);
        let name = esc(&s.name);
        if !pts.is_empty() {
            let coords: Vec<String> = pts
                .iter()
                .map(|&(x, y)| format!("{},{}", num(px(x)), num(py(y))))
                .collect();
            put!(
                out,
                "<g class=\"series\"><title>{name}</title>\
                 <polyline class=\"line\" points=\"{p}\" fill=\"none\" stroke=\"{color}\" \
                 stroke-width=\"2\" stroke-linejoin=\"round\"{dash}/>",
                p = coords.join(" "),
            );
            for &(x, y) in pts {
                put!(
                    out,
                    "<circle cx=\"{cx}\" cy=\"{cy}\" r=\"3\" fill=\"{color}\"><title>{name}: {vx}, {vy}</title></circle>",
                    cx = num(px(x)),
                    cy = num(py(y)),
                    vx = esc(&value_text(x)),
                    vy = esc(&value_text(y)),
                );
            }
            out.push_str("</g>\n");
        }
        let y = TOP + 8.0 + i as f64 * LEGEND_ROW;
        put!(
            out,
            "<g class=\"legend\"><title>{name}</title>\
             <line x1=\"{x1}\" y1=\"{ly}\" x2=\"{x2}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>\
             <text x=\"{tx}\" y=\"{ty}\">{t}</text></g>\n",
            x1 = num(LEGEND_X),
            x2 = num(LEGEND_X + 18.0),
            ly = num(y),
            tx = num(LEGEND_X + 24.0),
            ty = num(y + 4.0),
            t = esc(&truncate(&s.name, LEGEND_MAX_CHARS)),
        );
    }
    close(out)
}

/// A histogram of the finite `values` in `buckets` equal-width buckets from their minimum to
/// their maximum (at least one bucket; one bucket when all values are equal), drawn with
/// [`column_chart`]. Bucket labels carry `unit`; each column's note is `count (percent)`.
pub fn histogram(title: &str, values: &[f64], buckets: usize, unit: &str) -> String {
    let buckets = bucketize(values, buckets);
    let total: usize = buckets.iter().map(|b| b.count).sum();
    let bars: Vec<Bar> = buckets
        .iter()
        .map(|b| {
            let decimals = decimals_for(b.hi - b.lo);
            let range = if b.hi > b.lo {
                format!("{}–{}", fixed(b.lo, decimals), fixed(b.hi, decimals))
            } else {
                value_text(b.lo)
            };
            let pct = if total > 0 {
                b.count as f64 * 100.0 / total as f64
            } else {
                0.0
            };
            Bar {
                label: with_unit(&range, unit),
                value: b.count as f64,
                note: Some(format!("{} ({}%)", b.count, fixed(pct, 1))),
            }
        })
        .collect();
    column_chart(title, &bars, "")
}

/// A matrix of shaded cells, e.g. a confusion matrix: rows labelled on the left, columns on top,
/// the shade of each cell proportional to its value over the largest value, the value printed in
/// the cell when it fits. Missing or non-finite cells are drawn blank with "–".
pub fn heatmap(
    title: &str,
    row_labels: &[String],
    col_labels: &[String],
    cells: &[Vec<f64>],
) -> String {
    let rows = row_labels.len().max(cells.len());
    let cols = col_labels
        .len()
        .max(cells.iter().map(Vec::len).max().unwrap_or(0));
    if rows == 0 || cols == 0 {
        return no_data(title);
    }
    const TOP: f64 = 40.0;
    const X0: f64 = 150.0;
    const CELL_H: f64 = 28.0;
    let cell = |r: usize, c: usize| cells.get(r).and_then(|row| row.get(c)).copied();
    let label = |labels: &[String], i: usize| labels.get(i).cloned().unwrap_or_default();

    let max = (0..rows)
        .flat_map(|r| (0..cols).map(move |c| (r, c)))
        .filter_map(|(r, c)| cell(r, c))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let max_col_chars = (0..cols)
        .map(|c| label(col_labels, c).chars().count())
        .max()
        .unwrap_or(0);
    let fit_w = |right: f64| ((WIDTH - X0 - right) / cols as f64).min(72.0);
    let horizontal = max_col_chars as f64 * CHAR_W <= fit_w(16.0) - 4.0;
    let (cell_w, header) = if horizontal {
        (fit_w(16.0), 24.0)
    } else {
        (fit_w(80.0), 90.0)
    };
    let grid_y = TOP + header;
    let mut out = open(title, grid_y + rows as f64 * CELL_H + 16.0);

    for c in 0..cols {
        let full = label(col_labels, c);
        let cx = X0 + (c as f64 + 0.5) * cell_w;
        if horizontal {
            put!(
                out,
                "<text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\"><title>{tip}</title>{t}</text>\n",
                x = num(cx),
                y = num(grid_y - 8.0),
                tip = esc(&full),
                t = esc(&full),
            );
        } else {
            let (x, y) = (num(cx), num(grid_y - 8.0));
            put!(
                out,
                "<text x=\"{x}\" y=\"{y}\" transform=\"rotate(-45 {x} {y})\"><title>{tip}</title>{t}</text>\n",
                tip = esc(&full),
                t = esc(&truncate(&full, ROTATED_MAX_CHARS)),
            );
        }
    }
    for r in 0..rows {
        let row_label = label(row_labels, r);
        let y = grid_y + r as f64 * CELL_H;
        put!(
            out,
            "<text x=\"{x}\" y=\"{ty}\" text-anchor=\"end\"><title>{tip}</title>{t}</text>\n",
            x = num(X0 - 8.0),
            ty = num(y + CELL_H / 2.0 + 4.0),
            tip = esc(&row_label),
            t = esc(&truncate(&row_label, HEAT_LABEL_MAX_CHARS)),
        );
        for c in 0..cols {
            let x = X0 + c as f64 * cell_w;
            let value = cell(r, c).filter(|v| v.is_finite());
            let (fill, text, t) = match value {
                Some(v) => {
                    let t = if max > 0.0 { v.max(0.0) / max } else { 0.0 };
                    (shade(t), value_text(v), t)
                }
                None => (EMPTY_CELL.to_owned(), "–".to_owned(), 0.0),
            };
            let tip = esc(&format!("{row_label} / {}: {text}", label(col_labels, c)));
            put!(
                out,
                "<g class=\"cell\"><title>{tip}</title>\
                 <rect class=\"cell\" x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" fill=\"{fill}\" stroke=\"{GRID}\"/>",
                x = num(x),
                y = num(y),
                w = num(cell_w),
                h = num(CELL_H),
            );
            if text.chars().count() as f64 * CHAR_W <= cell_w - 4.0 {
                let ink = if t > 0.55 { "#ffffff" } else { TEXT };
                put!(
                    out,
                    "<text x=\"{tx}\" y=\"{ty}\" text-anchor=\"middle\" fill=\"{ink}\">{v}</text>",
                    tx = num(x + cell_w / 2.0),
                    ty = num(y + CELL_H / 2.0 + 4.0),
                    v = esc(&text),
                );
            }
            out.push_str("</g>\n");
        }
    }
    close(out)
}

/// One histogram bucket: `[lo, hi)`, the last one `[lo, hi]`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    lo: f64,
    hi: f64,
    count: usize,
}

/// Counts the finite values into `buckets` (at least 1) equal-width buckets from min to max.
fn bucketize(values: &[f64], buckets: usize) -> Vec<Bucket> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let Some((min, max)) = finite.iter().fold(None, |acc: Option<(f64, f64)>, &v| {
        Some(acc.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
    }) else {
        return Vec::new();
    };
    if min >= max {
        return vec![Bucket {
            lo: min,
            hi: max,
            count: finite.len(),
        }];
    }
    let n = buckets.max(1);
    let mut counts = vec![0usize; n];
    for &v in &finite {
        let i = (frac(v, min, max) * n as f64).floor() as usize;
        counts[i.min(n - 1)] += 1;
    }
    // Interpolated bounds: no overflow even when max - min exceeds f64::MAX.
    let at = |i: usize| {
        let t = i as f64 / n as f64;
        min * (1.0 - t) + max * t
    };
    counts
        .into_iter()
        .enumerate()
        .map(|(i, count)| Bucket {
            lo: at(i),
            hi: if i + 1 == n { max } else { at(i + 1) },
            count,
        })
        .collect()
}

/// A numeric axis: its domain and the tick values inside it.
#[derive(Debug, Clone, PartialEq)]
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    /// Decimals needed to tell the ticks apart.
    decimals: usize,
}

impl Axis {
    /// An axis over exactly `[lo, hi]` (finite, `hi > lo`), with the round ticks inside it.
    fn fixed(lo: f64, hi: f64) -> Self {
        let step = nice_step(hi - lo);
        Self {
            lo,
            hi,
            ticks: ticks(lo, hi, step),
            decimals: decimals_for(step),
        }
    }

    /// An axis covering `[lo, hi]` (finite, `hi > lo`), widened to round numbers.
    fn auto(lo: f64, hi: f64) -> Self {
        let step = nice_step(hi - lo);
        let (nlo, nhi) = ((lo / step).floor() * step, (hi / step).ceil() * step);
        if nlo.is_finite() && nhi.is_finite() && nhi > nlo && nlo <= lo && nhi >= hi {
            Self::fixed(nlo, nhi)
        } else {
            Self::fixed(lo, hi)
        }
    }

    /// Where `v` falls on the axis, from 0 (`lo`) to 1 (`hi`), clamped.
    fn frac(&self, v: f64) -> f64 {
        frac(v, self.lo, self.hi)
    }
}

/// A round step (1, 2 or 5 times a power of ten) giving about five intervals over `span`.
fn nice_step(span: f64) -> f64 {
    let raw = span / 5.0;
    if !(raw.is_finite() && raw > 0.0) {
        return if span.is_finite() && span > 0.0 {
            span
        } else {
            1.0
        };
    }
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    // The tolerance keeps e.g. 0.2 / 0.1 from rounding up past 2.
    let nice = if norm <= 1.0 + 1e-9 {
        1.0
    } else if norm <= 2.0 + 1e-9 {
        2.0
    } else if norm <= 5.0 + 1e-9 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// The multiples of `step` within `[lo, hi]`, or just the two ends when that is not sensible.
fn ticks(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let eps = step * 1e-9;
    let (k0, k1) = (((lo - eps) / step).ceil(), ((hi + eps) / step).floor());
    if !(k0.is_finite() && k1.is_finite() && k1 >= k0 && k1 - k0 <= 50.0) {
        return vec![lo, hi];
    }
    (0..=(k1 - k0) as usize)
        .map(|i| (k0 + i as f64) * step)
        .collect()
}

/// Decimals needed to show values `step` apart (0 to 6).
fn decimals_for(step: f64) -> usize {
    if !(step.is_finite() && step > 0.0) || step >= 10.0 {
        return 0;
    }
    (1.0 - step.log10()).ceil().clamp(0.0, 6.0) as usize
}

/// Where `v` falls in `[lo, hi]`, from 0 to 1, clamped; 0 for a degenerate range. Halves avoid
/// overflow for ranges wider than `f64::MAX`.
fn frac(v: f64, lo: f64, hi: f64) -> f64 {
    let f = (v * 0.5 - lo * 0.5) / (hi * 0.5 - lo * 0.5);
    if f.is_finite() {
        f.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// The bounds `(x_min, x_max, y_min, y_max)` of finite points, `None` when there are none.
fn bounds<'a>(points: impl Iterator<Item = &'a (f64, f64)>) -> Option<(f64, f64, f64, f64)> {
    points.fold(None, |acc, &(x, y)| {
        Some(match acc {
            None => (x, x, y, y),
            Some((x0, x1, y0, y1)) => (x0.min(x), x1.max(x), y0.min(y), y1.max(y)),
        })
    })
}

/// A non-empty range around `[lo, hi]`: equal ends are spread apart.
fn widen(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo {
        (lo, hi)
    } else {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - pad, hi + pad)
    }
}

/// A bar's drawn value: negative and non-finite values become 0.
fn drawable(v: f64) -> f64 {
    if v.is_finite() {
        v.max(0.0)
    } else {
        0.0
    }
}

/// The text shown for a bar: its note, else its value with the unit ("n/a" when not finite).
fn bar_text(bar: &Bar, unit: &str) -> String {
    match &bar.note {
        Some(note) => note.clone(),
        None if bar.value.is_finite() => with_unit(&value_text(bar.value), unit),
        None => "n/a".to_owned(),
    }
}

/// `text` followed by `unit`, with a space unless the unit is empty or a percent sign.
fn with_unit(text: &str, unit: &str) -> String {
    if unit.is_empty() {
        text.to_owned()
    } else if unit.starts_with('%') {
        format!("{text}{unit}")
    } else {
        format!("{text} {unit}")
    }
}

/// A value for reading: up to 1, 2 or 3 decimals by magnitude, trailing zeros trimmed.
fn value_text(v: f64) -> String {
    let a = v.abs();
    let decimals = if a >= 100.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        3
    };
    fixed(v, decimals)
}

/// A number for an attribute: at most 2 decimals, clamped to ±10⁷, never `NaN` or an exponent.
fn num(v: f64) -> String {
    if v.is_finite() {
        fixed(v.clamp(-1e7, 1e7), 2)
    } else {
        "0".to_owned()
    }
}

/// `v` with at most `decimals` decimals, trailing zeros trimmed, "0" for non-finite values and
/// negative zero. Rust's fixed-precision formatting never uses an exponent.
fn fixed(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "0".to_owned();
    }
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    if s == "-0" {
        s = "0".to_owned();
    }
    s
}

/// The fill of a heatmap cell at intensity `t` (0 white, 1 the palette's blue).
fn shade(t: f64) -> String {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mix = |c: f64| (255.0 + (c - 255.0) * t).round() as u8;
    let (r, g, b) = (mix(HEAT_RGB.0), mix(HEAT_RGB.1), mix(HEAT_RGB.2));
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// A dash pattern attribute telling apart series that share a colour.
fn dash(i: usize) -> &'static str {
    match (i / PALETTE.len()) % 3 {
        0 => "",
        1 => " stroke-dasharray=\"6 3\"",
        _ => " stroke-dasharray=\"2 3\"",
    }
}

/// At most `max` characters of `s`, the last one an ellipsis when it was cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// XML-escapes text for element content and attribute values. Line breaks and tabs become
/// spaces; characters XML 1.0 forbids even escaped become U+FFFD.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}' => {
                out.push(c)
            }
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// The opening `<svg>` element, its `<title>` and the visible title.
fn open(title: &str, height: f64) -> String {
    let (w, h) = (num(WIDTH), num(height));
    let t = esc(title);
    let shown = esc(&truncate(title, TITLE_MAX_CHARS));
    let mut out = String::with_capacity(4096);
    put!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" \
         role=\"img\" aria-label=\"{t}\" class=\"concord-chart\" \
         font-family=\"system-ui, sans-serif\" font-size=\"12\" fill=\"{TEXT}\">\
         <title>{t}</title>\n\
         <text x=\"12\" y=\"24\" font-size=\"14\" font-weight=\"600\">{shown}</text>\n"
    );
    out
}

fn close(mut out: String) -> String {
    out.push_str("</svg>\n");
    out
}

/// A chart with only its title and "no data".
fn no_data(title: &str) -> String {
    let mut out = open(title, 96.0);
    put!(
        out,
        "<text x=\"{x}\" y=\"64\" text-anchor=\"middle\" fill=\"{MUTED}\">no data</text>\n",
        x = num(WIDTH / 2.0),
    );
    close(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NASTY: &str = "<script>alert(\"x\")</script> & co";
    const NASTY_ESCAPED: &str = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co";

    /// A tiny XML well-formedness check: one `<svg>` root, balanced and matching tags, quoted
    /// attributes, no raw `<`/`>` in text, only known entities, no "NaN"/"inf" anywhere.
    fn check(svg: &str) -> Result<(), String> {
        for bad in ["NaN", "inf"] {
            if svg.contains(bad) {
                return Err(format!("contains {bad:?}"));
            }
        }
        if svg.matches("<g").count() != svg.matches("</g>").count() {
            return Err("unbalanced <g>".into());
        }
        let mut stack: Vec<&str> = Vec::new();
        let mut roots = 0;
        let mut rest = svg;
        loop {
            let (text, tail) = match rest.find('<') {
                Some(i) => (&rest[..i], Some(&rest[i + 1..])),
                None => (rest, None),
            };
            check_text(text)?;
            if stack.is_empty() && !text.trim().is_empty() {
                return Err(format!("text outside the root: {text:?}"));
            }
            let Some(tail) = tail else { break };
            let mut in_quote = false;
            let end = tail
                .char_indices()
                .find(|&(_, c)| {
                    if c == '"' {
                        in_quote = !in_quote;
                    }
                    c == '>' && !in_quote
                })
                .map(|(i, _)| i)
                .ok_or("unterminated tag")?;
            let tag = &tail[..end];
            if tag.contains('<') {
                return Err(format!("'<' inside tag {tag:?}"));
            }
            if let Some(name) = tag.strip_prefix('/') {
                match stack.pop() {
                    Some(open) if open == name.trim() => {}
                    other => return Err(format!("</{name}> closes {other:?}")),
                }
            } else {
                let self_closing = tag.ends_with('/');
                let body = tag.trim_end_matches('/');
                let name = body.split_whitespace().next().ok_or("empty tag")?;
                if body.matches('"').count() % 2 != 0 {
                    return Err(format!("unbalanced quotes in {tag:?}"));
                }
                check_text(body)?;
                if stack.is_empty() {
                    roots += 1;
                    if name != "svg" || roots > 1 {
                        return Err(format!("unexpected root <{name}>"));
                    }
                }
                if !self_closing {
                    stack.push(name);
                }
            }
            rest = &tail[end + 1..];
        }
        if !stack.is_empty() {
            return Err(format!("unclosed: {stack:?}"));
        }
        if roots != 1 {
            return Err("no <svg> root".into());
        }
        Ok(())
    }

    /// Text and attribute values: no raw '>' and every '&' starts a known entity.
    fn check_text(text: &str) -> Result<(), String> {
        if text.contains('>') {
            return Err(format!("raw '>' in {text:?}"));
        }
        for (i, _) in text.match_indices('&') {
            let after = &text[i..];
            let known = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                .iter()
                .any(|e| after.starts_with(e));
            if !known {
                return Err(format!("bad entity at {after:?}"));
            }
        }
        Ok(())
    }

    fn assert_ok(svg: &str) {
        if let Err(e) = check(svg) {
            panic!("malformed SVG ({e}):\n{svg}");
        }
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 "));
        assert!(svg.contains("role=\"img\""));
    }

    /// The numeric `attr` of every `<rect class="{class}"`, in order.
    fn rect_attrs(svg: &str, class: &str, attr: &str) -> Vec<f64> {
        let open = format!("<rect class=\"{class}\"");
        let key = format!(" {attr}=\"");
        svg.match_indices(&open)
            .map(|(i, _)| {
                let tag = &svg[i..i + svg[i..].find('>').expect("tag end")];
                let start = tag.find(&key).expect("attribute") + key.len();
                let len = tag[start..].find('"').expect("closing quote");
                tag[start..start + len].parse().expect("number")
            })
            .collect()
    }

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn checker_rejects_broken_markup() {
        let good = "<svg a=\"1\"><g><text>a &amp; b</text></g><rect/></svg>";
        assert_eq!(check(good), Ok(()));
        for bad in [
            "<svg><g></svg>",
            "<svg><g></text></g></svg>",
            "<svg><text>a & b</text></svg>",
            "<svg><text>a > b</text></svg>",
            "<svg><rect width=\"NaN\"/></svg>",
            "<svg><rect width=\"inf\"/></svg>",
            "<svg a=\"1><g></g></svg>",
            "<svg></svg><svg></svg>",
            "<g></g>",
            "<svg><text><script>x</script></text>",
        ] {
            assert!(check(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn numbers_have_at_most_two_decimals_and_no_exponent() {
        assert_eq!(num(1.23456), "1.23");
        assert_eq!(num(2.0), "2");
        assert_eq!(num(2.5), "2.5");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(1e-12), "0");
        assert_eq!(num(1e300), "10000000");
        assert_eq!(num(f64::NAN), "0");
        assert_eq!(num(f64::NEG_INFINITY), "0");
        assert_eq!(fixed(1e21, 0), "1000000000000000000000");
        assert_eq!(value_text(0.0042), "0.004");
        assert_eq!(value_text(1234.56), "1234.6");
        assert_eq!(with_unit("12", "ms"), "12 ms");
        assert_eq!(with_unit("12", "%"), "12%");
    }

    #[test]
    fn bar_lengths_are_proportional_to_values() {
        let bars = [
            Bar::new("refunds", 10.0),
            Bar::new("shipping", 5.0).with_note("5 (25%)"),
            Bar::new("other", 2.5),
        ];
        let svg = bar_chart("Topics", &bars, "msgs");
        assert_ok(&svg);
        let widths = rect_attrs(&svg, "bar", "width");
        assert_eq!(widths.len(), 3);
        assert!(widths[0] > 100.0, "largest bar too short: {widths:?}");
        assert!((widths[0] / widths[1] - 2.0).abs() < 0.01, "{widths:?}");
        assert!((widths[0] / widths[2] - 4.0).abs() < 0.02, "{widths:?}");
        assert!(svg.contains(">5 (25%)</text>"));
        assert!(svg.contains(">10 msgs</text>"));
    }

    #[test]
    fn column_heights_are_proportional_and_long_labels_rotate() {
        let bars: Vec<Bar> = (1..=5).map(|i| Bar::new(i.to_string(), i as f64)).collect();
        let svg = column_chart("CSAT", &bars, "");
        assert_ok(&svg);
        let heights = rect_attrs(&svg, "bar", "height");
        assert_eq!(heights.len(), 5);
        assert!((heights[4] / heights[1] - 2.5).abs() < 0.01, "{heights:?}");
        assert!(!svg.contains("rotate("));

        let long: Vec<Bar> = (0..12)
            .map(|i| Bar::new(format!("a rather long bucket label {i}"), 1.0))
            .collect();
        let svg = column_chart("Buckets", &long, "ms");
        assert_ok(&svg);
        assert!(svg.contains("rotate(-45"));
        assert!(svg.contains('…'));
        assert!(svg.contains("<title>a rather long bucket label 11: 1 ms</title>"));
    }

    #[test]
    fn all_text_is_escaped() {
        let note = "it's <b>";
        let bars = [Bar::new(NASTY, 3.0).with_note(note)];
        let series = [Series {
            name: NASTY.to_owned(),
            points: vec![(1.0, 0.5), (2.0, 0.7)],
        }];
        let svgs = [
            bar_chart(NASTY, &bars, NASTY),
            column_chart(NASTY, &bars, NASTY),
            line_chart(NASTY, NASTY, NASTY, &series, None),
            histogram(NASTY, &[1.0, 2.0], 2, NASTY),
            heatmap(NASTY, &labels(&[NASTY]), &labels(&[NASTY]), &[vec![1.0]]),
            bar_chart(NASTY, &[], ""),
        ];
        for svg in &svgs {
            assert_ok(svg);
            assert!(!svg.contains("<script"), "{svg}");
            assert!(!svg.contains("<b>"), "{svg}");
            assert!(
                svg.contains(&format!("aria-label=\"{NASTY_ESCAPED}\"")),
                "{svg}"
            );
            assert!(
                svg.contains(&format!("<title>{NASTY_ESCAPED}</title>")),
                "{svg}"
            );
        }
        assert!(svgs[0].contains("it&apos;s &lt;b&gt;"));
        assert!(svgs[0].contains(&format!(
            "<title>{NASTY_ESCAPED}: it&apos;s &lt;b&gt;</title>"
        )));
        assert!(svgs[2].contains(&format!(
            "<g class=\"legend\"><title>{NASTY_ESCAPED}</title>"
        )));
        // Characters XML forbids even escaped are replaced.
        let svg = bar_chart("ctl", &[Bar::new("a\u{1}b\u{FFFF}", 1.0)], "");
        assert_ok(&svg);
        assert!(svg.contains("a\u{FFFD}b\u{FFFD}"));
        assert!(!svg.contains('\u{1}'));
    }

    #[test]
    fn empty_inputs_render_title_and_no_data() {
        let empty_series = [Series {
            name: "s".to_owned(),
            points: vec![(f64::NAN, 1.0), (1.0, f64::INFINITY)],
        }];
        for svg in [
            bar_chart("Empty bars", &[], "ms"),
            column_chart("Empty bars", &[], ""),
            line_chart("Empty bars", "x", "y", &[], None),
            line_chart("Empty bars", "x", "y", &empty_series, Some((0.0, 1.0))),
            histogram("Empty bars", &[], 10, "ms"),
            histogram("Empty bars", &[f64::NAN, f64::INFINITY], 10, "ms"),
            heatmap("Empty bars", &[], &[], &[]),
            heatmap("Empty bars", &labels(&["a"]), &[], &[]),
        ] {
            assert_ok(&svg);
            assert!(svg.contains("<title>Empty bars</title>"), "{svg}");
            assert!(svg.contains(">no data</text>"), "{svg}");
        }
        assert!(!bar_chart("x", &[Bar::new("a", 1.0)], "").contains("no data"));
    }

    #[test]
    fn zero_negative_and_non_finite_values_draw_nothing() {
        let zeros = [Bar::new("a", 0.0), Bar::new("b", 0.0)];
        let svg = bar_chart("z", &zeros, "");
        assert_ok(&svg);
        assert_eq!(rect_attrs(&svg, "bar", "width"), vec![0.0, 0.0]);
        let svg = column_chart("z", &zeros, "");
        assert_ok(&svg);
        assert_eq!(rect_attrs(&svg, "bar", "height"), vec![0.0, 0.0]);

        let odd = [
            Bar::new("negative", -5.0),
            Bar::new("not a number", f64::NAN),
            Bar::new("unbounded", f64::INFINITY),
            Bar::new("ok", 4.0),
        ];
        let svg = bar_chart("odd", &odd, "");
        assert_ok(&svg);
        let widths = rect_attrs(&svg, "bar", "width");
        assert_eq!(&widths[..3], &[0.0, 0.0, 0.0]);
        assert!(widths[3] > 100.0);
        assert_eq!(svg.matches(">n/a</text>").count(), 2);
        let svg = column_chart("odd", &odd, "");
        assert_ok(&svg);
        let heights = rect_attrs(&svg, "bar", "height");
        assert_eq!(&heights[..3], &[0.0, 0.0, 0.0]);
        assert!(heights[3] > 100.0);
    }

    #[test]
    fn long_labels_are_truncated_with_the_full_label_in_a_tooltip() {
        let long = "How do I return an item I bought with a gift card last Christmas?";
        let svg = bar_chart("Questions", &[Bar::new(long, 3.0)], "");
        assert_ok(&svg);
        let shown: String = long.chars().take(LABEL_MAX_CHARS - 1).collect();
        assert!(svg.contains(&format!(">{shown}…</text>")), "{svg}");
        assert!(svg.contains(&format!("<g class=\"bar\"><title>{long}: 3</title>")));
        let visible = svg.replace(&format!("<title>{long}: 3</title>"), "");
        assert!(!visible.contains(long));
    }

    #[test]
    fn histogram_counts_every_finite_value_once() {
        let mut values: Vec<f64> = (1..=100).map(f64::from).collect();
        values.extend([f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
        let buckets = bucketize(&values, 7);
        assert_eq!(buckets.len(), 7);
        assert_eq!(buckets.iter().map(|b| b.count).sum::<usize>(), 100);
        assert_eq!(buckets[0].lo, 1.0);
        assert_eq!(buckets[6].hi, 100.0);
        assert!(buckets.windows(2).all(|w| w[0].hi == w[1].lo));
        assert!(
            buckets.iter().all(|b| b.count >= 14 && b.count <= 15),
            "{buckets:?}"
        );

        let svg = histogram("Latency", &values, 7, "ms");
        assert_ok(&svg);
        assert_eq!(rect_attrs(&svg, "bar", "height").len(), 7);
        assert!(svg.contains(">15 (15%)</text>"), "{svg}");
        let narrow = histogram("Latency", &values, 20, "ms");
        assert_ok(&narrow);
        assert!(narrow.contains(">5</text>") && !narrow.contains(">5 (5%)</text>"));
        assert!(svg.contains("<title>1–15 ms: 15 (15%)</title>"), "{svg}");

        let same = bucketize(&[3.0, 3.0, 3.0], 5);
        assert_eq!(same.len(), 1);
        assert_eq!(same[0].count, 3);
        assert_eq!(bucketize(&[1.0, 2.0], 0).len(), 1);
        let extreme = bucketize(&[-f64::MAX, 0.0, f64::MAX], 2);
        assert_eq!(
            extreme.iter().map(|b| b.count).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_ok(&histogram("Extreme", &[-f64::MAX, 0.0, f64::MAX], 2, ""));
    }

    #[test]
    fn heatmap_draws_rows_times_cols_shaded_cells() {
        let rows = labels(&["refund", "shipping", "other"]);
        let cols = labels(&["refund", "shipping", "other", "escalate"]);
        let cells = vec![
            vec![8.0, 1.0, 0.0, 1.0],
            vec![2.0, 6.0, f64::NAN, 0.0],
            vec![0.0, 0.0, 4.0], // ragged: the missing cell is drawn blank
        ];
        let svg = heatmap("Confusion", &rows, &cols, &cells);
        assert_ok(&svg);
        assert_eq!(svg.matches("<rect class=\"cell\"").count(), 12);
        assert_eq!(svg.matches("<g class=\"cell\">").count(), 12);
        let fills: Vec<&str> = svg
            .match_indices("<rect class=\"cell\"")
            .map(|(i, _)| {
                let start = i + svg[i..].find("fill=\"").expect("fill") + 6;
                &svg[start..start + 7]
            })
            .collect();
        assert_eq!(fills[0], PALETTE[0]);
        assert_eq!(fills[2], "#ffffff");
        assert_eq!(fills[6], EMPTY_CELL);
        assert_eq!(fills[11], EMPTY_CELL);
        assert!(svg.contains("<title>shipping / refund: 2</title>"));
        assert!(svg.contains(">8</text>"));
        assert_eq!(shade(0.5), "#92b1f5");
    }

    #[test]
    fn line_chart_has_a_polyline_and_legend_entry_per_series() {
        let series = [
            Series {
                name: "hybrid".to_owned(),
                points: vec![(1.0, 0.62), (5.0, 0.88), (10.0, 0.93), (20.0, 1.4)],
            },
            Series {
                name: "bm25".to_owned(),
                points: vec![(1.0, 0.51), (5.0, f64::NAN), (10.0, 0.85), (20.0, -0.2)],
            },
        ];
        let svg = line_chart("Recall@k", "k", "recall", &series, Some((0.0, 1.0)));
        assert_ok(&svg);
        assert_eq!(svg.matches("<polyline class=\"line\"").count(), 2);
        assert_eq!(svg.matches("<g class=\"legend\">").count(), 2);
        assert!(svg.contains(">hybrid</text>"));
        assert!(svg.contains(">bm25</text>"));
        assert_eq!(svg.matches("<circle").count(), 7);
        // Points outside the fixed range are clamped into the plot (top 48, bottom 268).
        for (i, _) in svg.match_indices("<polyline class=\"line\" points=\"") {
            let start = i + svg[i..].find("points=\"").expect("points") + 8;
            let end = start + svg[start..].find('"').expect("end");
            for pair in svg[start..end].split(' ') {
                let y: f64 = pair.split(',').nth(1).expect("y").parse().expect("number");
                assert!((48.0..=268.0).contains(&y), "y {y} outside the plot");
            }
        }
        assert!(
            svg.contains(">0.2</text>") && svg.contains(">1</text>"),
            "{svg}"
        );
        assert_eq!(
            svg,
            line_chart("Recall@k", "k", "recall", &series, Some((0.0, 1.0)))
        );
    }

    #[test]
    fn single_point_and_degenerate_series_render() {
        let one = [Series {
            name: "only".to_owned(),
            points: vec![(3.0, 0.5)],
        }];
        for range in [None, Some((1.0, 1.0)), Some((f64::NAN, 1.0))] {
            let svg = line_chart("One", "x", "y", &one, range);
            assert_ok(&svg);
            assert_eq!(svg.matches("<circle").count(), 1);
            assert_eq!(svg.matches("<polyline class=\"line\"").count(), 1);
        }
        let many: Vec<Series> = (0..8)
            .map(|i| Series {
                name: format!("s{i}"),
                points: vec![(0.0, 0.0), (1.0, f64::from(i))],
            })
            .collect();
        let svg = line_chart("Many", "", "", &many, None);
        assert_ok(&svg);
        assert_eq!(svg.matches("stroke-dasharray=\"6 3\"").count(), 4);
    }

    #[test]
    fn axes_use_round_ticks() {
        let axis = Axis::auto(0.0, 87.0);
        assert_eq!(axis.ticks, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(axis.hi, 100.0);
        let fixed_axis = Axis::fixed(0.0, 1.0);
        assert_eq!(fixed_axis.ticks.len(), 6);
        assert_eq!(fixed(fixed_axis.ticks[3], fixed_axis.decimals), "0.6");
        assert_eq!(Axis::fixed(-f64::MAX, f64::MAX).ticks.len(), 2);
    }
}
