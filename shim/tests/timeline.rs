//! The picture of a migration from a real (small) one: two daemons in this
//! process migrate a 16M domain with the idle workload (it converges under
//! qemu-sparc64 on a loaded machine too), its bandwidth capped so that it
//! lasts a few dozen progress samples; the progress events make
//! a timeline, as `ldmig migrate-domain --plot` collects it; its SVG parses
//! as SVG and holds every series (legend text and a line of its colour),
//! and its JSON lines read back as the same timeline.

mod support;

use ldmig_shim::control::{call, Event};
use ldmig_shim::timeline::plot::{self, COLORS, SERIES};
use ldmig_shim::timeline::Timeline;
use support::{daemon_with, migration, migration_done, source_host, target_host, PASSWORD};

/// The pages of the migrated domain (16M of 8K pages).
const DOMAIN_PAGES: u64 = (16 << 20) / 8192;

fn migrate_and_record() -> Timeline {
    let source = daemon_with("plot-a", &source_host(), PASSWORD, "idle", false);
    let target = daemon_with("plot-b", &target_host(), PASSWORD, "idle", false);
    // Capped at 8M a second: the 16M take about two seconds, a few dozen
    // progress samples.
    let request = migration("ldg1", &target.listen_addr().to_string(), Some(8 << 20));
    let mut timeline = Timeline::new("ldg1");
    let event = call(source.control_path(), &request, |event| {
        if let Event::Progress { info, .. } = event {
            timeline.record(info);
        }
    })
    .expect("the source daemon answers");
    let info = migration_done(&event, "the migration did not complete");
    timeline.finish(info);
    source.shutdown();
    target.shutdown();
    timeline
}

#[test]
fn a_migrations_picture_parses_as_svg_and_holds_every_series() {
    let timeline = migrate_and_record();
    let ending = timeline.ending.clone().expect("an ending");
    assert_eq!(ending.status, "completed");
    // Round 0 sends every page; every round is marked in order; the last
    // mark is the stop-and-copy, at the switchover.
    let first = timeline.rounds.first().expect("round 0 is marked");
    assert_eq!((first.round, first.dirty_pages), (0, DOMAIN_PAGES));
    assert!(timeline
        .rounds
        .windows(2)
        .all(|pair| pair[0].round <= pair[1].round && pair[0].at_ms <= pair[1].at_ms));
    let last = timeline.rounds.last().expect("marks");
    assert!(last.stop_and_copy, "{:?}", timeline.rounds);
    let switchover = ending.switchover_at_ms.expect("the switchover is noted");
    assert_eq!(last.at_ms, switchover);
    assert!(switchover <= ending.total_time_ms);

    let text = plot::svg(&timeline).expect("the picture draws");
    let document = roxmltree::Document::parse(&text).expect("the SVG is XML");
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(root.attribute("width"), Some("1000"));
    let texts: Vec<&str> = document
        .descendants()
        .filter(|node| node.has_tag_name("text"))
        .filter_map(|node| node.text())
        .map(str::trim)
        .collect();
    let lines: Vec<(String, usize)> = document
        .descendants()
        .filter(|node| node.has_tag_name("polyline"))
        .map(|node| {
            let stroke = node.attribute("stroke").unwrap_or("").to_ascii_uppercase();
            let points = node
                .attribute("points")
                .unwrap_or("")
                .split_whitespace()
                .count();
            (stroke, points)
        })
        .collect();
    for (label, (red, green, blue)) in SERIES.iter().zip(COLORS) {
        assert!(
            texts.iter().any(|text| text.starts_with(label)),
            "no legend entry '{label}' among {texts:?}"
        );
        let stroke = format!("#{red:02X}{green:02X}{blue:02X}");
        let drawn = lines
            .iter()
            .filter(|(line_stroke, points)| *line_stroke == stroke && *points >= 2)
            .count();
        // The legend's sample line and at least one line in a panel.
        assert!(drawn >= 2, "series '{label}' ({stroke}) has {drawn} lines");
    }
    assert!(
        texts.iter().any(|text| text.contains("completed in")),
        "the title tells how it ended: {texts:?}"
    );

    // The JSON lines read back (times to the last bit or one off: JSON's
    // decimal text of a double).
    let read =
        Timeline::from_json_lines(&timeline.to_json_lines()).expect("the timeline reads back");
    assert_eq!(read.samples.len(), timeline.samples.len());
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(1.0);
    for (back, sample) in read.samples.iter().zip(&timeline.samples) {
        assert!(close(back.t_ms, sample.t_ms), "{back:?} != {sample:?}");
        assert_eq!(
            (back.sent_bytes, back.remaining_bytes, back.round),
            (sample.sent_bytes, sample.remaining_bytes, sample.round)
        );
    }
    let pages = |timeline: &Timeline| -> Vec<(u32, u64, bool)> {
        timeline
            .rounds
            .iter()
            .map(|mark| (mark.round, mark.dirty_pages, mark.stop_and_copy))
            .collect()
    };
    assert_eq!(pages(&read), pages(&timeline));
    assert_eq!(read.ending.map(|end| end.status), Some(ending.status));
}
