//! The picture of a migration (`--plot FILE.svg`): three panels over one
//! time axis — the bytes sent per window with the engine's bandwidth
//! estimate, the remaining dirty set with each round's dirty set (a log
//! scale: round 0 is all of memory, the last rounds a few pages), and the
//! vCPU throttle — with the switchover (and its downtime) marked in each.
//!
//! Every series has a legend entry whose label [`SERIES`] names, so a
//! reader (or a test) finds them in the SVG's text.

use super::{Sample, Timeline};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::fmt;
use std::ops::Range;
use std::path::Path;

/// Legend label of the bytes sent per window.
pub const SENT_PER_WINDOW: &str = "sent per window (MB/s)";
/// Legend label of the engine's bandwidth estimate.
pub const BANDWIDTH_ESTIMATE: &str = "bandwidth estimate (MB/s)";
/// Legend label of the remaining dirty set.
pub const REMAINING_DIRTY: &str = "remaining dirty set (pages)";
/// Legend label of each round's dirty set.
pub const DIRTY_PER_ROUND: &str = "dirty pages per round";
/// Legend label of the vCPU throttle.
pub const THROTTLE: &str = "vCPU throttle (%)";
/// Legend label of the switchover marks (the downtime follows it).
pub const SWITCHOVER: &str = "switchover";

/// Every series label, in drawing order.
pub const SERIES: [&str; 6] = [
    SENT_PER_WINDOW,
    BANDWIDTH_ESTIMATE,
    REMAINING_DIRTY,
    DIRTY_PER_ROUND,
    THROTTLE,
    SWITCHOVER,
];

/// The line colour of each series of [`SERIES`], as (red, green, blue).
pub const COLORS: [(u8, u8, u8); 6] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (148, 103, 189),
    (140, 86, 75),
    (200, 0, 0),
];

/// The colour of series `index` of [`SERIES`].
fn color(index: usize) -> RGBColor {
    let (red, green, blue) = COLORS[index % COLORS.len()];
    RGBColor(red, green, blue)
}

/// The picture's size in pixels.
const SIZE: (u32, u32) = (1000, 900);

/// What went wrong drawing or writing the picture.
#[derive(Debug)]
pub enum PlotError {
    /// The timeline holds no sample: nothing to draw.
    NoSamples,
    /// The plotting library refused a drawing step.
    Drawing(String),
    /// Writing the file failed.
    Write(std::io::Error),
}

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlotError::NoSamples => f.write_str("the migration has no progress sample to draw"),
            PlotError::Drawing(what) => write!(f, "drawing the migration's picture: {what}"),
            PlotError::Write(error) => write!(f, "writing the migration's picture: {error}"),
        }
    }
}

impl std::error::Error for PlotError {}

fn drawing<E: std::error::Error + Send + Sync>(error: DrawingAreaErrorKind<E>) -> PlotError {
    PlotError::Drawing(error.to_string())
}

/// Writes the picture of `timeline` to `path`.
pub fn write_svg(timeline: &Timeline, path: &Path) -> Result<(), PlotError> {
    let text = svg(timeline)?;
    std::fs::write(path, text).map_err(PlotError::Write)
}

/// The picture of `timeline` as SVG text.
pub fn svg(timeline: &Timeline) -> Result<String, PlotError> {
    if timeline.samples.is_empty() {
        return Err(PlotError::NoSamples);
    }
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let root = root
            .titled(&title(timeline), ("sans-serif", 20))
            .map_err(drawing)?;
        let panels = root.split_evenly((3, 1));
        let end_ms = end_ms(timeline);
        draw(&panels[0], timeline, end_ms, rates(timeline))?;
        draw(&panels[1], timeline, end_ms, dirty_sets(timeline, end_ms))?;
        draw(&panels[2], timeline, end_ms, throttle(timeline))?;
        root.present().map_err(drawing)?;
    }
    Ok(text)
}

/// "Migration of ldg1 to HOST: completed in 2865 ms, 4 rounds, downtime 2.65 ms".
fn title(timeline: &Timeline) -> String {
    let mut title = format!("Migration of {}", timeline.domain);
    if !timeline.peer.is_empty() {
        title.push_str(&format!(" to {}", timeline.peer));
    }
    if let Some(ending) = &timeline.ending {
        title.push_str(&format!(
            ": {} in {:.0} ms, {} rounds, downtime {:.2} ms",
            ending.status, ending.total_time_ms, ending.rounds, ending.downtime_ms
        ));
    }
    title
}

/// The time axis's end: the last sample or the ending, whichever is later.
fn end_ms(timeline: &Timeline) -> f64 {
    let last = timeline.samples.last().map_or(0.0, |sample| sample.t_ms);
    let ending = timeline
        .ending
        .as_ref()
        .map_or(0.0, |ending| ending.total_time_ms);
    last.max(ending).max(1.0)
}

/// The switchover's start and end (suspension to resumption), if known.
fn switchover(timeline: &Timeline) -> Option<(f64, f64)> {
    let ending = timeline.ending.as_ref()?;
    let start = ending.switchover_at_ms?;
    Some((start, start + ending.downtime_ms))
}

fn legend_line(color: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
}

/// Draws the switchover's start and end as vertical lines across `span`
/// of the y axis in a chart, with one legend entry.
fn mark_switchover<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    timeline: &Timeline,
    span: Range<f64>,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let Some((start, end)) = switchover(timeline) else {
        return Ok(());
    };
    let label = format!("{SWITCHOVER} (downtime {:.2} ms)", end - start);
    let color = color(5);
    chart
        .draw_series(LineSeries::new(
            [
                (start, span.end),
                (start, span.start),
                (end, span.start),
                (end, span.end),
            ],
            color.stroke_width(2),
        ))
        .map_err(drawing)?
        .label(label)
        .legend(legend_line(color));
    Ok(())
}

/// A panel's chart builder: margins and label areas.
fn builder<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
) -> ChartBuilder<'a, 'b, DB> {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(64);
    builder
}

/// A panel's grid and axis names.
fn mesh<'a, DB: DrawingBackend + 'a, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    y_desc: &str,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
    Y: Ranged + ValueFormatter<<Y as Ranged>::ValueType>,
{
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(220, 220, 220))
        .x_desc("time (ms)")
        .y_desc(y_desc)
        .draw()
        .map_err(drawing)
}

/// Draws series `index` of [`SERIES`] through `points`, with its legend entry.
fn line<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    index: usize,
    points: Vec<(f64, f64)>,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let color = color(index);
    chart
        .draw_series(LineSeries::new(points, color.stroke_width(2)))
        .map_err(drawing)?
        .label(SERIES[index])
        .legend(legend_line(color));
    Ok(())
}

/// The sent rate and the bandwidth estimate.
fn rates(timeline: &Timeline) -> Panel {
    // The first sample's window began before the engine's first poll had
    // a time: its rate is not measured.
    let sent: Vec<(f64, f64)> = timeline
        .samples
        .iter()
        .skip(1)
        .map(|sample| (sample.t_ms, sample.sent_mb_per_s()))
        .collect();
    let estimate = over_time(timeline, |sample| sample.bandwidth_mbps / 8.0);
    let lines = vec![(0, sent), (1, estimate)];
    let high = top(&lines, 1.0) * 1.15;
    Panel::new("MB/s", 0.0..high, Scale::Linear, lines)
}

/// The pages left to send and each round's dirty set, on a log scale.
fn dirty_sets(timeline: &Timeline, end_ms: f64) -> Panel {
    // A log scale starts at one page: zero pages sit on the floor.
    let pages = |count: u64| (count as f64).max(1.0);
    let remaining = over_time(timeline, |sample| {
        pages(sample.remaining_bytes / ldmig::page::PAGE_SIZE as u64)
    });
    // Each round's dirty set as a step from its start to the next round's.
    let mut rounds = Vec::with_capacity(timeline.rounds.len() * 2);
    for (index, mark) in timeline.rounds.iter().enumerate() {
        let until = timeline
            .rounds
            .get(index + 1)
            .map_or(end_ms, |next| next.at_ms);
        rounds.push((mark.at_ms, pages(mark.dirty_pages)));
        rounds.push((until, pages(mark.dirty_pages)));
    }
    let lines = vec![(2, remaining), (3, rounds)];
    let high = top(&lines, 10.0) * 2.0;
    Panel::new("pages (8 KiB)", 1.0..high, Scale::Logarithmic, lines)
}

/// The vCPU throttle.
fn throttle(timeline: &Timeline) -> Panel {
    let throttle = over_time(timeline, |sample| f64::from(sample.cpu_throttle_percentage));
    Panel::new("%", 0.0..105.0, Scale::Linear, vec![(4, throttle)])
}

/// The highest value of `lines`, at least `floor`.
fn top(lines: &[(usize, Vec<(f64, f64)>)], floor: f64) -> f64 {
    lines
        .iter()
        .flat_map(|(_, points)| points)
        .map(|(_, value)| *value)
        .fold(floor, f64::max)
}

/// One value of every sample, against the sample's time.
fn over_time(timeline: &Timeline, value: impl Fn(&Sample) -> f64) -> Vec<(f64, f64)> {
    timeline
        .samples
        .iter()
        .map(|sample| (sample.t_ms, value(sample)))
        .collect()
}

/// What one panel shows: its y axis and its lines (each an index into
/// [`SERIES`] and its points).
struct Panel {
    axis: Axis,
    lines: Vec<(usize, Vec<(f64, f64)>)>,
}

impl Panel {
    fn new(
        name: &'static str,
        range: Range<f64>,
        scale: Scale,
        lines: Vec<(usize, Vec<(f64, f64)>)>,
    ) -> Panel {
        Panel {
            axis: Axis { name, range, scale },
            lines,
        }
    }
}

/// A panel's y axis: its name, its range (which the switchover marks
/// span) and its scale.
struct Axis {
    name: &'static str,
    range: Range<f64>,
    scale: Scale,
}

/// How a y axis maps values.
#[derive(Clone, Copy)]
enum Scale {
    Linear,
    Logarithmic,
}

/// Draws `panel` over time up to `end_ms`, the switchover marked, and the
/// legend.
fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    timeline: &Timeline,
    end_ms: f64,
    panel: Panel,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let range = panel.axis.range.clone();
    match panel.axis.scale {
        Scale::Linear => draw_on(area, timeline, end_ms, panel, range),
        Scale::Logarithmic => draw_on(area, timeline, end_ms, panel, range.log_scale()),
    }
}

/// [`draw`] on the y axis `y_axis`.
fn draw_on<DB: DrawingBackend, R>(
    area: &DrawingArea<DB, Shift>,
    timeline: &Timeline,
    end_ms: f64,
    panel: Panel,
    y_axis: R,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
    R: AsRangedCoord<Value = f64>,
    R::CoordDescType: ValueFormatter<f64>,
{
    let Panel { axis, lines } = panel;
    let mut chart = builder(area)
        .build_cartesian_2d(0.0..end_ms, y_axis)
        .map_err(drawing)?;
    mesh(&mut chart, axis.name)?;
    for (index, points) in lines {
        line(&mut chart, index, points)?;
    }
    mark_switchover(&mut chart, timeline, axis.range)?;
    legend(&mut chart)
}

fn legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(drawing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::MigrationInfo;

    #[test]
    fn an_empty_timeline_is_refused_by_name() {
        let error = svg(&Timeline::new("ldg1")).expect_err("nothing to draw");
        assert!(matches!(error, PlotError::NoSamples), "{error}");
    }

    #[test]
    fn a_timeline_of_one_sample_draws_every_series_label() {
        let mut timeline = Timeline::new("ldg1");
        timeline.finish(&MigrationInfo {
            status: "completed".into(),
            total_time_ms: 10.0,
            switchover_at_ms: Some(9.0),
            downtime_ms: 0.5,
            ..MigrationInfo::default()
        });
        let text = svg(&timeline).expect("draws");
        for label in SERIES {
            assert!(text.contains(label), "{label} missing");
        }
        assert!(text.contains("downtime 0.50 ms"));
    }
}
