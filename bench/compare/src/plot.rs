//! Line charts written as PNG files.
//!
//! Drawing is done with `plotters` (bitmap backend only) and text with `ab_glyph`, using the
//! DejaVu Sans font that the `dejavu` crate embeds in the binary: no system font library
//! (fontconfig, freetype) is involved. The pixels are encoded with the `png` crate, so the
//! output is a PNG whatever the extension of the path.
//!
//! Tick values are chosen here rather than by `plotters`: on a log axis whose label starts
//! with "message size" they are powers of two shown as "64 B", "1 KiB", "64 KiB", "1 MiB";
//! other log axes get powers of ten (or 1-2-5 steps over a narrow range), linear axes get
//! 1-2-5 steps.

use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

/// Width of the PNG, in pixels.
const WIDTH: u32 = 1200;
/// Height of the PNG, in pixels.
const HEIGHT: u32 = 750;
/// Font family name under which DejaVu Sans is registered (the family `plotters` asks for
/// by default).
const FONT: &str = "sans-serif";
/// Space around the plot, in pixels.
const MARGIN: u32 = 14;
/// Height of the x tick labels and axis description under the plot, in pixels.
const X_LABEL_AREA: u32 = 56;
/// Number of labelled ticks asked for on the x and y axes.
const X_TICKS: usize = 12;
const Y_TICKS: usize = 10;

/// Line colours: dark enough to read on white, the first ten far apart, the next ten
/// darker or different hues. Series past the twentieth reuse them with another marker.
const COLORS: [RGBColor; 20] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(100, 100, 100),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 128),
    RGBColor(128, 0, 0),
    RGBColor(0, 100, 0),
    RGBColor(184, 134, 11),
    RGBColor(75, 0, 130),
    RGBColor(0, 128, 128),
    RGBColor(199, 21, 133),
    RGBColor(0, 0, 0),
    RGBColor(85, 107, 47),
    RGBColor(210, 105, 30),
];

/// One line on a chart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Name shown in the legend.
    pub name: String,
    /// The points `(x, y)`, joined in this order. Points with a NaN or infinite coordinate,
    /// or a coordinate that is not positive on a log axis, are left out.
    pub points: Vec<(f64, f64)>,
}

/// Axis scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Equal distances for equal differences.
    Linear,
    /// Equal distances for equal ratios; only positive values can be shown.
    Log,
}

/// A line chart (one line per series, markers at the points, a legend) written as a PNG
/// of 1200x750 pixels to `path`.
///
/// Tick labels on the x axis are byte sizes ("64 B", "1 KiB", "1 MiB") when `x_label`
/// starts with "message size" (any case), plain numbers otherwise. Points that cannot be
/// shown (NaN, infinite, or not positive on a log axis) are skipped. When no point at all
/// can be shown (no series, or only empty ones) the image is still written, with the
/// title, the legend and a "no data" note, and the result is `Ok`. A series without any
/// point that can be shown is marked "(no data)" in the legend.
///
/// Never panics; errors (the font, drawing, encoding, or writing the file) are returned
/// as a message.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    x_scale: Scale,
    y_label: &str,
    y_scale: Scale,
    series: &[Series],
) -> Result<(), String> {
    register_fonts()?;
    let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    let chart = Chart {
        title,
        x_label,
        x_scale,
        y_label,
        y_scale,
        series,
    };
    // A panic inside plotters must not take the benchmark run (and its results) down.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| chart.draw(&mut pixels)))
        .map_err(|_| "plot: internal error while drawing the chart".to_string())??;
    let png = encode_png(&pixels)?;
    std::fs::write(path, png).map_err(|e| format!("plot: cannot write {}: {e}", path.display()))
}

/// Registers DejaVu Sans (regular and bold) with plotters, once per process.
fn register_fonts() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
                .map_err(|_| "plot: cannot load DejaVu Sans".to_string())?;
            register_font(FONT, FontStyle::Bold, dejavu::sans::bold())
                .map_err(|_| "plot: cannot load DejaVu Sans Bold".to_string())
        })
        .clone()
}

/// Encodes 8-bit RGB pixels of a WIDTH x HEIGHT image as PNG.
fn encode_png(pixels: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder
        .write_header()
        .map_err(|e| format!("plot: PNG: {e}"))?;
    writer
        .write_image_data(pixels)
        .map_err(|e| format!("plot: PNG: {e}"))?;
    writer.finish().map_err(|e| format!("plot: PNG: {e}"))?;
    Ok(out)
}

/// Turns a plotters error into the message returned by [`line_chart`].
fn draw_err<E: std::fmt::Display>(e: E) -> String {
    format!("plot: drawing failed: {e}")
}

/// The arguments of [`line_chart`].
struct Chart<'a> {
    title: &'a str,
    x_label: &'a str,
    x_scale: Scale,
    y_label: &'a str,
    y_scale: Scale,
    series: &'a [Series],
}

/// A series with its points that can be shown, its colour and its marker.
struct Line<'a> {
    name: &'a str,
    points: Vec<(f64, f64)>,
    color: RGBColor,
    marker: usize,
}

impl Chart<'_> {
    fn draw(&self, pixels: &mut [u8]) -> Result<(), String> {
        let root = BitMapBackend::with_buffer(pixels, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let framed = root.margin(10, 4, 4, 4);
        let content = if self.title.trim().is_empty() {
            framed
        } else {
            framed
                .titled(self.title, (FONT, 24, FontStyle::Bold))
                .map_err(draw_err)?
        };

        let lines: Vec<Line<'_>> = self
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| Line {
                name: &s.name,
                points: s
                    .points
                    .iter()
                    .copied()
                    .filter(|&(x, y)| shown(x, self.x_scale) && shown(y, self.y_scale))
                    .collect(),
                color: COLORS[i % COLORS.len()],
                marker: (i % COLORS.len() + i / COLORS.len()) % MARKERS,
            })
            .collect();

        let (content_w, content_h) = content.dim_in_pixel();
        let legend_w = if lines.is_empty() {
            0
        } else {
            legend_width(&content, &lines)
        };
        let (plot_area, legend_area) =
            content.split_horizontally(content_w.saturating_sub(legend_w) as i32);
        if !lines.is_empty() {
            draw_legend(&legend_area, &lines)?;
        }

        let xs = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
        let ys = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1));
        let (Some(x_range), Some(y_range)) = (data_range(xs), data_range(ys)) else {
            let note = TextStyle::from((FONT, 28).into_font())
                .color(&RGBColor(120, 120, 120))
                .pos(Pos::new(HPos::Center, VPos::Center));
            let (w, _) = plot_area.dim_in_pixel();
            plot_area
                .draw_text("no data", &note, (w as i32 / 2, content_h as i32 / 2))
                .map_err(draw_err)?;
            return root.present().map_err(draw_err);
        };

        let bytes = self
            .x_label
            .trim_start()
            .to_lowercase()
            .starts_with("message size");
        let label_font = (FONT, 15).into_font();
        let label_style = TextStyle::from(label_font.clone());
        let text_width = |text: &str| {
            plot_area
                .estimate_text_size(text, &label_style)
                .map_or(60, |(w, _)| w)
        };
        let (plot_w, plot_h) = plot_area.dim_in_pixel();
        let y_room = plot_h.saturating_sub(X_LABEL_AREA + 2 * MARGIN);
        let y_axis = fitted_axis(y_range, self.y_scale, false, Y_TICKS, y_room, |_| 22);
        let widest_y_label = y_axis
            .major
            .iter()
            .map(|v| text_width(&y_axis.label(*v)))
            .max();
        let y_label_area = widest_y_label.unwrap_or(0) + 44;
        let x_room = plot_w.saturating_sub(y_label_area + 2 * MARGIN);
        let x_axis = fitted_axis(x_range, self.x_scale, bytes, X_TICKS, x_room, text_width);

        let mut chart = ChartBuilder::on(&plot_area)
            .margin(MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(y_label_area)
            .build_cartesian_2d(x_axis, y_axis)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_labels(X_TICKS)
            .y_labels(Y_TICKS)
            .x_desc(self.x_label)
            .y_desc(self.y_label)
            .label_style(label_font)
            .axis_desc_style((FONT, 18))
            .bold_line_style(RGBColor(205, 205, 205))
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(draw_err)?;

        for line in &lines {
            chart
                .draw_series(LineSeries::new(
                    line.points.iter().copied(),
                    line.color.stroke_width(2),
                ))
                .map_err(draw_err)?;
        }
        let area = chart.plotting_area();
        for line in &lines {
            for &p in &line.points {
                draw_marker(area, p, line.marker, line.color).map_err(draw_err)?;
            }
        }
        root.present().map_err(draw_err)
    }
}

/// The axis with the most ticks (at most `n`) whose labels, `extent(label)` pixels long
/// along an axis of `room` pixels, do not run into each other.
fn fitted_axis(
    range: (f64, f64),
    scale: Scale,
    bytes: bool,
    n: usize,
    room: u32,
    extent: impl Fn(&str) -> u32,
) -> Axis {
    let mut n = n;
    loop {
        let axis = Axis::new(range, scale, bytes, n);
        let placed: Vec<(f64, f64)> = axis
            .major
            .iter()
            .map(|v| {
                let at = axis.fraction(*v) * f64::from(room);
                (at, f64::from(extent(&axis.label(*v))))
            })
            .collect();
        let apart = placed
            .windows(2)
            .all(|w| (w[1].0 - w[0].0).abs() >= (w[0].1 + w[1].1) / 2.0 + 10.0);
        if apart || n <= 2 {
            return axis;
        }
        n -= 1;
    }
}

/// Whether a coordinate can be placed on an axis of this scale.
fn shown(v: f64, scale: Scale) -> bool {
    v.is_finite() && (scale == Scale::Linear || v > 0.0)
}

/// Smallest and largest value, or `None` when there is none.
fn data_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// Number of marker shapes.
const MARKERS: usize = 4;

/// Draws marker `kind` (circle, triangle, square, cross) centred on `at`.
fn draw_marker<DB: DrawingBackend, CT: CoordTranslate>(
    area: &DrawingArea<DB, CT>,
    at: CT::From,
    kind: usize,
    color: RGBColor,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let fill = color.filled();
    match kind % MARKERS {
        0 => area.draw(&(EmptyElement::at(at) + Circle::new((0, 0), 4, fill))),
        1 => area.draw(&(EmptyElement::at(at) + TriangleMarker::new((0, 0), 6, fill))),
        2 => area.draw(&(EmptyElement::at(at) + Rectangle::new([(-4, -4), (4, 4)], fill))),
        _ => area.draw(&(EmptyElement::at(at) + Cross::new((0, 0), 5, color.stroke_width(2)))),
    }
}

/// Legend layout: padding around it, width of the line sample, font size.
const LEGEND_PAD: u32 = 12;
const LEGEND_SAMPLE: u32 = 36;
const LEGEND_FONT: u32 = 15;
const LEGEND_MIN_W: u32 = 150;
const LEGEND_MAX_W: u32 = 380;

fn legend_style() -> TextStyle<'static> {
    TextStyle::from((FONT, LEGEND_FONT).into_font()).pos(Pos::new(HPos::Left, VPos::Center))
}

/// Legend entry text for a line.
fn legend_text(line: &Line<'_>) -> String {
    if line.points.is_empty() {
        format!("{} (no data)", line.name)
    } else {
        line.name.to_string()
    }
}

/// Width of the legend panel on the right: fits the longest name, within limits.
fn legend_width<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, lines: &[Line<'_>]) -> u32 {
    let style = legend_style();
    let widest = lines
        .iter()
        .map(|l| {
            area.estimate_text_size(&legend_text(l), &style)
                .map_or(0, |(w, _)| w)
        })
        .max()
        .unwrap_or(0);
    (widest + LEGEND_SAMPLE + 3 * LEGEND_PAD).clamp(LEGEND_MIN_W, LEGEND_MAX_W)
}

/// Shortens `text` with an ellipsis until it is at most `max_w` pixels wide.
fn fit_text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle<'_>,
    max_w: u32,
) -> String {
    let fits = |s: &str| {
        area.estimate_text_size(s, style)
            .is_ok_and(|(w, _)| w <= max_w)
    };
    if fits(text) {
        return text.to_string();
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let candidate: String = chars.iter().chain(std::iter::once(&'…')).collect();
        if fits(&candidate) {
            return candidate;
        }
    }
    String::new()
}

/// Draws the legend (line sample, marker, name per series) down the right-hand panel.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    lines: &[Line<'_>],
) -> Result<(), String> {
    let (w, h) = area.dim_in_pixel();
    let top = 40i32;
    let avail = h.saturating_sub(top as u32 + 80);
    let row_h = (avail / lines.len().max(1) as u32).clamp(12, 26);
    let rows = ((avail / row_h) as usize).max(1);
    // When the rows do not all fit, the last one says how many are left out.
    let shown_lines = if lines.len() <= rows {
        lines.len()
    } else {
        rows - 1
    };
    let style = legend_style();
    let text_w = w.saturating_sub(LEGEND_SAMPLE + 3 * LEGEND_PAD);
    let x0 = LEGEND_PAD as i32;
    let x1 = x0 + LEGEND_SAMPLE as i32;
    let text_x = x1 + LEGEND_PAD as i32;

    let mut y = top + row_h as i32 / 2;
    for line in &lines[..shown_lines] {
        area.draw(&PathElement::new(
            vec![(x0, y), (x1, y)],
            line.color.stroke_width(2),
        ))
        .map_err(draw_err)?;
        draw_marker(area, ((x0 + x1) / 2, y), line.marker, line.color).map_err(draw_err)?;
        let text = fit_text(area, &legend_text(line), &style, text_w);
        area.draw_text(&text, &style, (text_x, y))
            .map_err(draw_err)?;
        y += row_h as i32;
    }
    if shown_lines < lines.len() {
        let more = format!("… and {} more", lines.len() - shown_lines);
        area.draw_text(&more, &style, (x0, y)).map_err(draw_err)?;
    }
    let bottom = y - row_h as i32 / 2 + 4;
    area.draw(&Rectangle::new(
        [(2, top - 6), (w as i32 - 6, bottom)],
        RGBColor(180, 180, 180).stroke_width(1),
    ))
    .map_err(draw_err)
}

/// An axis for plotters: range, scale, and the ticks chosen here.
struct Axis {
    lo: f64,
    hi: f64,
    scale: Scale,
    bytes: bool,
    /// Labelled ticks.
    major: Vec<f64>,
    /// Grid lines between the labelled ticks.
    minor: Vec<f64>,
    /// Distance between labelled ticks on a linear axis (label precision).
    step: f64,
    /// Unit of byte-size labels on a linear axis: 1024^unit.
    unit: i32,
}

/// At most this many tick steps are computed, whatever the range.
const MAX_TICK_STEPS: u64 = 4096;

/// Number of whole steps from `first` to `last` (integral values), if that is finite and
/// at most [`MAX_TICK_STEPS`].
fn step_count(first: f64, last: f64) -> Option<u64> {
    let count = last - first;
    (count.is_finite() && (0.0..=MAX_TICK_STEPS as f64).contains(&count)).then_some(count as u64)
}

impl Axis {
    /// An axis showing the data in `lo..=hi` (finite; positive on a log axis).
    fn new((lo, hi): (f64, f64), scale: Scale, bytes: bool, n: usize) -> Self {
        let (lo, hi) = pad(lo, hi, scale);
        let mut axis = Axis {
            lo,
            hi,
            scale,
            bytes,
            major: Vec::new(),
            minor: Vec::new(),
            step: 0.0,
            unit: 0,
        };
        match scale {
            Scale::Log if bytes => axis.pow2_ticks(n),
            Scale::Log => axis.pow10_ticks(n),
            Scale::Linear => axis.linear_ticks(n),
        }
        let (lo, hi) = (axis.lo, axis.hi);
        let keep = |v: &f64| v.is_finite() && *v >= lo && *v <= hi;
        axis.major.retain(keep);
        axis.minor.retain(keep);
        axis
    }

    /// Ticks at powers of two, every `stride`-th one labelled (stride 1, 2, 5, 10, ...).
    fn pow2_ticks(&mut self, n: usize) {
        let first = self.lo.log2().ceil();
        let last = self.hi.log2().floor();
        let Some(count) = step_count(first, last).filter(|c| *c >= 1) else {
            return self.linear_ticks(n);
        };
        let stride = [1, 2, 5, 10, 20, 50, 100, 200, 500]
            .into_iter()
            .find(|s| (count + 1).div_ceil(*s) <= n as u64)
            .unwrap_or(1000);
        for k in 0..=count {
            let e = first + k as f64;
            let v = e.exp2();
            if e.rem_euclid(stride as f64) == 0.0 {
                self.major.push(v);
            } else if stride <= 5 {
                self.minor.push(v);
            }
        }
    }

    /// Ticks at 1..9 or else 1-2-5 times powers of ten when that makes 3 to `n` labels;
    /// over a wider range at powers of ten (every `stride`-th one labelled); failing that,
    /// linear ticks.
    fn pow10_ticks(&mut self, n: usize) {
        let (lo, hi) = (self.lo, self.hi);
        let first = lo.log10().floor();
        let Some(count) = step_count(first, hi.log10().ceil()) else {
            return self.linear_ticks(n);
        };
        for mantissas in [&[1, 2, 3, 4, 5, 6, 7, 8, 9][..], &[1, 2, 5]] {
            if count as usize > n {
                break;
            }
            self.major.clear();
            self.minor.clear();
            for k in 0..=count {
                let p = 10f64.powf(first + k as f64);
                for m in 1..10 {
                    let v = f64::from(m) * p;
                    if mantissas.contains(&m) {
                        self.major.push(v);
                    } else {
                        self.minor.push(v);
                    }
                }
            }
            let labelled = self.major.iter().filter(|v| **v >= lo && **v <= hi).count();
            if (3..=n).contains(&labelled) {
                return;
            }
        }
        self.major.clear();
        self.minor.clear();
        // The powers of ten inside the range.
        let first = lo.log10().ceil();
        let Some(count) = step_count(first, hi.log10().floor()).filter(|c| *c >= 2) else {
            return self.linear_ticks(n);
        };
        let stride = (count + 1).div_ceil(n.max(1) as u64).max(1);
        if stride == 1 {
            // Grid lines in the partial decade under the first power of ten.
            let below = 10f64.powf(first - 1.0);
            self.minor.extend((2..10).map(|m| f64::from(m) * below));
        }
        for k in 0..=count {
            let e = first + k as f64;
            let v = 10f64.powf(e);
            if e.rem_euclid(stride as f64) == 0.0 {
                self.major.push(v);
            }
            if stride == 1 {
                self.minor.extend((2..10).map(|m| f64::from(m) * v));
            }
        }
    }

    /// Ticks at multiples of a 1-2-5 step (in the byte unit of the axis for byte sizes).
    fn linear_ticks(&mut self, n: usize) {
        let unit_size = if self.bytes {
            self.unit = byte_unit(self.lo.abs().max(self.hi.abs()));
            1024f64.powi(self.unit)
        } else {
            1.0
        };
        // Halves first: the span of two finite values can overflow.
        let raw = (self.hi / 2.0 - self.lo / 2.0) / unit_size / n.max(1) as f64 * 2.0;
        if !(raw > 0.0 && raw.is_finite()) {
            return;
        }
        let mag = 10f64.powf(raw.log10().floor());
        let mantissa = [1.0, 2.0, 5.0, 10.0]
            .into_iter()
            .find(|m| m * mag >= raw)
            .unwrap_or(10.0);
        let step = mantissa * mag * unit_size;
        let minor_div = if mantissa == 2.0 { 4 } else { 5 };
        self.step = step;
        let first = (self.lo / step).ceil();
        let Some(count) = step_count(first, (self.hi / step).floor()) else {
            return;
        };
        // One step below the first for the minor ticks under it.
        for k in 0..=count + 1 {
            let v = (first - 1.0 + k as f64) * step;
            if k > 0 {
                // Snap values that should be zero (0.1 * 3 - 0.3 is not).
                self.major.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
            }
            self.minor
                .extend((1..minor_div).map(|d| v + f64::from(d) * step / f64::from(minor_div)));
        }
    }

    /// Position of `v` between `lo` (0) and `hi` (1).
    fn fraction(&self, v: f64) -> f64 {
        let t = match self.scale {
            // Halves: the span of two finite values can overflow.
            Scale::Linear => (v / 2.0 - self.lo / 2.0) / (self.hi / 2.0 - self.lo / 2.0),
            Scale::Log => (v.ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln()),
        };
        if t.is_nan() { 0.0 } else { t.clamp(-1.0, 2.0) }
    }

    /// Tick label for `v`.
    fn label(&self, v: f64) -> String {
        match (self.bytes, self.scale) {
            (true, Scale::Log) => human_bytes(v),
            (true, Scale::Linear) => {
                let unit = 1024f64.powi(self.unit);
                let decimals = decimals_for(self.step / unit);
                let text = format!("{:.*}", decimals, v / unit);
                format!("{} {}", normalize_zero(&text), UNITS[self.unit as usize])
            }
            (false, Scale::Log) => plain_number(v),
            (false, Scale::Linear) => {
                let biggest = self.lo.abs().max(self.hi.abs());
                if v == 0.0 || self.step.is_nan() || self.step <= 0.0 {
                    plain_number(v)
                } else if (1e-3..1e6).contains(&biggest) {
                    normalize_zero(&format!("{:.*}", decimals_for(self.step), v))
                } else {
                    // Enough digits to tell ticks apart, e.g. 1.0000001e6 next to 1.0000002e6.
                    let digits = biggest.log10().floor() - self.step.log10().floor() + 1.0;
                    exponent_form(v, digits.clamp(1.0, 17.0) as usize)
                }
            }
        }
    }
}

impl Ranged for Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let (a, b) = (f64::from(limit.0), f64::from(limit.1));
        (a + self.fraction(*value) * (b - a)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.minor.clone()
        } else {
            self.major.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for Axis {
    fn format(value: &f64) -> String {
        plain_number(*value)
    }

    fn format_ext(&self, value: &f64) -> String {
        self.label(*value)
    }
}

/// Widens `lo..=hi` a little so that the extreme points do not sit on the frame, and
/// makes an empty range non-empty. The result stays finite (and positive on a log axis).
fn pad(lo: f64, hi: f64, scale: Scale) -> (f64, f64) {
    let (l, h) = match scale {
        Scale::Log => {
            let (ll, lh) = (lo.ln(), hi.ln());
            let margin = if hi > lo {
                ((lh - ll) * 0.03).max(1.05f64.ln())
            } else {
                2f64.ln()
            };
            let l = (ll - margin).exp();
            let h = (lh + margin).exp();
            (
                if l > 0.0 { l } else { lo },
                if h.is_finite() { h } else { hi },
            )
        }
        Scale::Linear => {
            let p = if hi > lo {
                (hi / 2.0 - lo / 2.0) * 0.08
            } else if lo == 0.0 {
                1.0
            } else {
                lo.abs() * 0.1
            };
            // Data that are all >= 0 keep a bottom of 0 when they come close to it.
            let l = if lo >= 0.0 && lo - p < 0.0 {
                0.0
            } else {
                lo - p
            };
            let h = hi + p;
            (
                if l.is_finite() { l } else { lo },
                if h.is_finite() { h } else { hi },
            )
        }
    };
    if h > l {
        (l, h)
    } else {
        // A single value so tiny or huge that padding changed nothing.
        match scale {
            Scale::Log if lo * 2.0 <= f64::MAX => (lo, lo * 2.0),
            Scale::Log => (lo / 2.0, lo),
            Scale::Linear if lo.abs() < 1.0 => (lo - 1.0, lo + 1.0),
            Scale::Linear if lo > 0.0 => (lo / 2.0, lo),
            Scale::Linear => (lo, lo / 2.0),
        }
    }
}

const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// The largest power of 1024 (as an index into [`UNITS`]) not above `v`.
fn byte_unit(v: f64) -> i32 {
    let mut unit = 0;
    let mut x = v;
    while x >= 1024.0 && unit + 1 < UNITS.len() as i32 {
        x /= 1024.0;
        unit += 1;
    }
    unit
}

/// A byte count as "64 B", "1 KiB", "1.5 MiB".
fn human_bytes(v: f64) -> String {
    if !(1.0..1024f64.powi(UNITS.len() as i32)).contains(&v.abs()) {
        return format!("{} B", plain_number(v));
    }
    let unit = byte_unit(v.abs());
    let scaled = v / 1024f64.powi(unit);
    format!(
        "{} {}",
        trim_decimals(&format!("{scaled:.2}")),
        UNITS[unit as usize]
    )
}

/// Decimals needed to tell apart ticks `step` apart.
fn decimals_for(step: f64) -> usize {
    if step > 0.0 && step.is_finite() {
        (-step.log10().floor()).clamp(0.0, 12.0) as usize
    } else {
        0
    }
}

/// A number with up to 4 significant digits, in exponent form when very large or small.
fn plain_number(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    if !v.is_finite() {
        return v.to_string();
    }
    let a = v.abs();
    if (1e-3..1e6).contains(&a) {
        let decimals = (3.0 - a.log10().floor()).clamp(0.0, 6.0) as usize;
        trim_decimals(&format!("{v:.decimals$}"))
    } else {
        exponent_form(v, 4)
    }
}

/// `v` as "2.5e7", with at most `digits` significant digits.
fn exponent_form(v: f64, digits: usize) -> String {
    let text = format!("{v:.prec$e}", prec = digits.saturating_sub(1));
    match text.split_once('e') {
        Some((mantissa, exp)) => format!("{}e{exp}", trim_decimals(mantissa)),
        None => text,
    }
}

/// "1.500" -> "1.5", "2.000" -> "2", "-0.00" -> "0".
fn trim_decimals(text: &str) -> String {
    let trimmed = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    };
    normalize_zero(trimmed)
}

/// "-0", "-0.0" and the like become "0", "0.0".
fn normalize_zero(text: &str) -> String {
    match text.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A file path in the temp dir, unique to this process and call, removed on drop.
    struct TempPng(PathBuf);

    impl TempPng {
        fn new(tag: &str) -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            TempPng(std::env::temp_dir().join(format!(
                "ipc-compare-plot-{}-{n}-{tag}.png",
                std::process::id()
            )))
        }
    }

    impl Drop for TempPng {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// Checks the PNG signature and the IHDR size, returns the file's bytes.
    fn assert_png_1200x750(path: &Path) -> Vec<u8> {
        let bytes = std::fs::read(path).expect("chart file written");
        assert!(bytes.len() > 24, "file too short: {} bytes", bytes.len());
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
        assert_eq!(&bytes[12..16], b"IHDR", "first chunk is IHDR");
        let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!((width, height), (1200, 750));
        bytes
    }

    fn sizes() -> Vec<f64> {
        (6..=20).map(|e| f64::from(1u32 << e)).collect()
    }

    fn series(name: &str, f: impl Fn(f64) -> f64) -> Series {
        Series {
            name: name.to_string(),
            points: sizes().into_iter().map(|x| (x, f(x))).collect(),
        }
    }

    #[test]
    fn three_series_png_is_1200x750() {
        let file = TempPng::new("three");
        let data = [
            series("libipc ring", |x| 180.0 + x / 900.0),
            series("unix socket", |x| 2_500.0 + x / 400.0),
            series("pipe", |x| 3_100.0 + x / 350.0),
        ];
        line_chart(
            &file.0,
            "Round-trip latency (p50)",
            "message size (bytes)",
            Scale::Log,
            "latency (ns)",
            Scale::Log,
            &data,
        )
        .expect("chart drawn");
        let bytes = assert_png_1200x750(&file.0);
        // Something was drawn: a blank white image compresses to far less.
        assert!(
            bytes.len() > 10_000,
            "suspiciously small PNG: {}",
            bytes.len()
        );
    }

    #[test]
    fn log_chart_with_zero_nan_and_inf_points() {
        let file = TempPng::new("bad-points");
        let data = [
            Series {
                name: "with holes".to_string(),
                points: vec![
                    (0.0, 10.0),
                    (64.0, 0.0),
                    (128.0, f64::NAN),
                    (256.0, 30.0),
                    (f64::INFINITY, 1.0),
                    (512.0, -4.0),
                    (1024.0, 50.0),
                    (f64::NAN, f64::NEG_INFINITY),
                ],
            },
            Series {
                name: "nothing usable".to_string(),
                points: vec![(0.0, 0.0), (-1.0, 5.0)],
            },
        ];
        line_chart(
            &file.0,
            "holes",
            "message size",
            Scale::Log,
            "throughput (msg/s)",
            Scale::Log,
            &data,
        )
        .expect("chart drawn");
        assert_png_1200x750(&file.0);
    }

    #[test]
    fn no_data_still_writes_an_image() {
        for data in [
            Vec::new(),
            vec![Series {
                name: "empty".to_string(),
                points: Vec::new(),
            }],
        ] {
            let file = TempPng::new("empty");
            line_chart(&file.0, "", "x", Scale::Linear, "y", Scale::Log, &data)
                .expect("chart drawn");
            assert_png_1200x750(&file.0);
        }
    }

    #[test]
    fn odd_inputs_do_not_fail() {
        let extremes = [
            vec![(1.0, 5.0)],
            vec![(3.0, 3.0), (3.0, 3.0)],
            vec![(f64::MIN_POSITIVE, 1e-300), (f64::MAX, 1e300)],
            vec![(5e-324, 5e-324)],
            vec![(f64::MAX, f64::MAX)],
            vec![(-f64::MAX, -1e308), (f64::MAX, 1e308)],
            vec![(0.1, 0.3), (0.2, 0.30000000000000004)],
            vec![(1e6, 1e6 + 0.5), (1e6 + 0.1, 1e6 + 0.2)],
            vec![(-5.0, -2.0), (-1.0, -3.0)],
        ];
        // Byte-size and plain x labels in turn: every chart costs ~0.25 s in a debug build.
        for (i, points) in extremes.into_iter().enumerate() {
            let x_label = ["message size (bytes)", "threads"][i % 2];
            for x_scale in [Scale::Linear, Scale::Log] {
                for y_scale in [Scale::Linear, Scale::Log] {
                    let file = TempPng::new("odd");
                    let data = [Series {
                        name: format!("case {i}"),
                        points: points.clone(),
                    }];
                    line_chart(&file.0, "odd", x_label, x_scale, "y", y_scale, &data)
                        .unwrap_or_else(|e| panic!("case {i}: {e}"));
                    assert_png_1200x750(&file.0);
                }
            }
        }
    }

    #[test]
    fn many_series_and_long_names() {
        let file = TempPng::new("many");
        let data: Vec<Series> = (0..60)
            .map(|i| {
                let name = if i == 3 {
                    "a very long series name that cannot possibly fit in the legend panel".repeat(3)
                } else {
                    format!("series {i} µs ✓")
                };
                series(&name, move |x| f64::from(i + 1) * x)
            })
            .collect();
        line_chart(
            &file.0,
            &"long title ".repeat(30),
            "message size",
            Scale::Log,
            "",
            Scale::Linear,
            &data,
        )
        .expect("chart drawn");
        assert_png_1200x750(&file.0);
    }

    #[test]
    fn unwritable_path_is_an_error() {
        let dir = std::env::temp_dir().join(format!(
            "ipc-compare-plot-{}-missing-dir",
            std::process::id()
        ));
        let result = line_chart(
            &dir.join("chart.png"),
            "t",
            "x",
            Scale::Linear,
            "y",
            Scale::Linear,
            &[series("s", |x| x)],
        );
        assert!(result.is_err());
    }

    #[test]
    fn byte_size_ticks() {
        assert_eq!(human_bytes(64.0), "64 B");
        assert_eq!(human_bytes(1024.0), "1 KiB");
        assert_eq!(human_bytes(65536.0), "64 KiB");
        assert_eq!(human_bytes(1048576.0), "1 MiB");
        assert_eq!(human_bytes(1536.0), "1.5 KiB");
        assert_eq!(human_bytes(0.5), "0.5 B");
        assert_eq!(human_bytes(1e300), "1e300 B");
        let axis = Axis::new((64.0, 1048576.0), Scale::Log, true, X_TICKS);
        for v in [64.0, 1024.0, 65536.0, 1048576.0] {
            assert!(axis.major.contains(&v), "{v} not in {:?}", axis.major);
        }
        assert!(axis.major.len() <= X_TICKS);
    }

    #[test]
    fn plain_ticks() {
        assert_eq!(plain_number(1000.0), "1000");
        assert_eq!(plain_number(0.25), "0.25");
        assert_eq!(plain_number(12345.678), "12346");
        assert_eq!(plain_number(2.5e7), "2.5e7");
        assert_eq!(plain_number(1e6), "1e6");
        assert_eq!(plain_number(999_999.0), "999999");
        assert_eq!(plain_number(1e-5), "1e-5");
        assert_eq!(plain_number(-0.0), "0");
        let axis = Axis::new((0.0, 0.9), Scale::Linear, false, Y_TICKS);
        let labels: Vec<String> = axis.major.iter().map(|v| axis.label(*v)).collect();
        assert_eq!(labels.first().map(String::as_str), Some("0"));
        assert!(labels.contains(&"0.3".to_string()), "{labels:?}");
        let axis = Axis::new((1e6, 1e6 + 0.5), Scale::Linear, false, Y_TICKS);
        let labels: Vec<String> = axis.major.iter().map(|v| axis.label(*v)).collect();
        assert!(labels.contains(&"1.0000001e6".to_string()), "{labels:?}");
        let axis = Axis::new((0.0, 3e6), Scale::Linear, false, Y_TICKS);
        let labels: Vec<String> = axis.major.iter().map(|v| axis.label(*v)).collect();
        assert_eq!(labels[..3], ["0", "5e5", "1e6"]);
        let axis = Axis::new((150.0, 90_000.0), Scale::Log, false, Y_TICKS);
        assert_eq!(
            axis.major,
            vec![
                200.0, 500.0, 1000.0, 2000.0, 5000.0, 10_000.0, 20_000.0, 50_000.0, 100_000.0
            ]
        );
        let axis = Axis::new((1.0, 1e9), Scale::Log, false, Y_TICKS);
        assert_eq!(axis.major.len(), 10, "{:?}", axis.major);
        let axis = Axis::new((1e-300, 1e300), Scale::Log, false, Y_TICKS);
        assert!(
            (3..=Y_TICKS).contains(&axis.major.len()),
            "{:?}",
            axis.major
        );
        let axis = Axis::new((2.0, 3.0), Scale::Log, false, Y_TICKS);
        assert!(axis.major.len() >= 3, "{:?}", axis.major);
    }
}
