//! The picture of a migration (`--plot FILE.svg`): three panels over one
//! time axis — the bytes sent per window with the engine's bandwidth
//! estimate, the remaining dirty set with each round's dirty set (a log
//! scale: round 0 is all of memory, the last rounds a few pages), and the
//! vCPU throttle — with the switchover (and its downtime) marked in each.
//!
//! Every series has a legend entry whose label [`SERIES`] names, so a
//! reader (or a test) finds them in the SVG's text.

use super::Timeline;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::fmt;
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
        draw_rates(&panels[0], timeline, end_ms)?;
        draw_dirty_sets(&panels[1], timeline, end_ms)?;
        draw_throttle(&panels[2], timeline, end_ms)?;
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

/// Draws the switchover's start and end as vertical lines from `low` to
/// `high` in a chart, with one legend entry.
fn mark_switchover<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    timeline: &Timeline,
    low: f64,
    high: f64,
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
            [(start, high), (start, low), (end, low), (end, high)],
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

fn draw_rates<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    timeline: &Timeline,
    end_ms: f64,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    // The first sample's window began before the engine's first poll had
    // a time: its rate is not measured.
    let sent: Vec<(f64, f64)> = timeline
        .samples
        .iter()
        .skip(1)
        .map(|sample| (sample.t_ms, sample.sent_mb_per_s()))
        .collect();
    let estimate: Vec<(f64, f64)> = timeline
        .samples
        .iter()
        .map(|sample| (sample.t_ms, sample.bandwidth_mbps / 8.0))
        .collect();
    let high = sent
        .iter()
        .chain(&estimate)
        .map(|(_, rate)| *rate)
        .fold(1.0, f64::max)
        * 1.15;
    let mut chart = builder(area)
        .build_cartesian_2d(0.0..end_ms, 0.0..high)
        .map_err(drawing)?;
    mesh(&mut chart, "MB/s")?;
    line(&mut chart, 0, sent)?;
    line(&mut chart, 1, estimate)?;
    mark_switchover(&mut chart, timeline, 0.0, high)?;
    legend(&mut chart)
}

fn draw_dirty_sets<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    timeline: &Timeline,
    end_ms: f64,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    // A log scale starts at one page: zero pages sit on the floor.
    let pages = |count: u64| (count as f64).max(1.0);
    let remaining: Vec<(f64, f64)> = timeline
        .samples
        .iter()
        .map(|sample| {
            (
                sample.t_ms,
                pages(sample.remaining_bytes / ldmig::page::PAGE_SIZE as u64),
            )
        })
        .collect();
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
    let high = remaining
        .iter()
        .chain(&rounds)
        .map(|(_, count)| *count)
        .fold(10.0, f64::max)
        * 2.0;
    let mut chart = builder(area)
        .build_cartesian_2d(0.0..end_ms, (1.0..high).log_scale())
        .map_err(drawing)?;
    mesh(&mut chart, "pages (8 KiB)")?;
    line(&mut chart, 2, remaining)?;
    line(&mut chart, 3, rounds)?;
    mark_switchover(&mut chart, timeline, 1.0, high)?;
    legend(&mut chart)
}

fn draw_throttle<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    timeline: &Timeline,
    end_ms: f64,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let throttle: Vec<(f64, f64)> = timeline
        .samples
        .iter()
        .map(|sample| (sample.t_ms, f64::from(sample.cpu_throttle_percentage)))
        .collect();
    let mut chart = builder(area)
        .build_cartesian_2d(0.0..end_ms, 0.0..105.0)
        .map_err(drawing)?;
    mesh(&mut chart, "%")?;
    line(&mut chart, 4, throttle)?;
    mark_switchover(&mut chart, timeline, 0.0, 105.0)?;
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
