//! Charts for the node page, drawn with plotters as SVG on the server: the browser downloads no
//! charting code, and the SVG scales and prints. Text, axes and grid are drawn in `currentColor`
//! (see [`themed`]), so a chart follows the page's light or dark colours; series use fixed
//! colour-blind-friendly colours that read on both.

use mig::wire::{ChartRange, FleetNodeInfo};
use plotters::prelude::*;

use crate::store::Sample;

const WIDTH: u32 = 720;
const HEIGHT: u32 = 260;

/// The most points one memory line has: samples are every 10 s, so a day holds 8,640 of them per
/// instance; each line keeps the largest value per 1/`MAX_POINTS` of the range.
const MAX_POINTS: i64 = 360;

/// Distinct, colour-blind-friendly series colours (Okabe–Ito; yellow left out, it vanishes on white).
const COLOURS: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
];

/// Memory used per MIG instance over `range`: one line per instance that ran work, against the
/// largest instance's memory (the dashed line).
pub fn memory(node: &FleetNodeInfo, samples: &[Sample], now_ms: i64, range: ChartRange) -> String {
    let from = now_ms - range.span_ms();
    let bucket = (range.span_ms() / MAX_POINTS).max(1);
    let mut series: std::collections::BTreeMap<(u32, u8, String), Vec<(i64, f64)>> =
        Default::default();
    for s in samples.iter().filter(|s| s.at_ms >= from) {
        let points = series
            .entry((s.gpu, s.start, s.profile.clone()))
            .or_default();
        let gib = s.used_mib as f64 / 1024.0;
        // Samples come oldest first: keep the largest of each bucket, at the bucket's first sample.
        match points.last_mut() {
            Some((at, v)) if (*at - from) / bucket == (s.at_ms - from) / bucket => *v = v.max(gib),
            _ => points.push((s.at_ms, gib)),
        }
    }
    let capacity_gib = node
        .gpus
        .iter()
        .flat_map(|g| {
            g.instances
                .iter()
                .filter_map(|i| g.model.and_then(|m| m.profile(&i.profile)))
        })
        .map(|p| f64::from(p.memory_mib) / 1024.0)
        .fold(0.0f64, f64::max)
        .max(1.0);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
            let caption = if series.is_empty() {
                format!("Memory used per MIG instance, {}: no workloads ran", range.words())
            } else {
                format!("Memory used per MIG instance, {} (GiB)", range.words())
            };
            let mut chart = ChartBuilder::on(&root)
                .caption(caption, ("sans-serif", 15).into_font().color(&BLACK))
                .margin(10)
                .x_label_area_size(34)
                .y_label_area_size(44)
                .build_cartesian_2d(
                    (from..now_ms).with_key_points(ticks(from, now_ms, range)),
                    0.0f64..capacity_gib * 1.1,
                )?;
            chart
                .configure_mesh()
                .x_desc("time (UTC)")
                .y_desc("GiB")
                .x_label_formatter(&|t| tick_label(*t, range))
                .y_labels(5)
                .light_line_style(TRANSPARENT)
                .bold_line_style(BLACK.mix(0.12))
                .draw()?;
            chart.draw_series(DashedLineSeries::new(
                [(from, capacity_gib), (now_ms, capacity_gib)],
                6,
                4,
                ShapeStyle::from(BLACK.mix(0.45)).stroke_width(1),
            ))?;
            for (i, ((gpu, start, profile), points)) in series.iter().enumerate() {
                let colour = COLOURS[i % COLOURS.len()];
                chart
                    .draw_series(LineSeries::new(points.iter().copied(), colour.stroke_width(2)))?
                    .label(format!("GPU {gpu} {profile}@{start}"))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                    });
            }
            if !series.is_empty() {
                chart
                    .configure_series_labels()
                    .border_style(BLACK.mix(0.25))
                    .background_style(TRANSPARENT)
                    .label_font(("sans-serif", 12).into_font().color(&BLACK))
                    .position(SeriesLabelPosition::UpperLeft)
                    .draw()?;
            }
            root.present()?;
            Ok(())
        })();
        if let Err(e) = drawn {
            tracing::warn!(error = %e, "memory chart");
        }
    }
    themed(out)
}

/// GPU reconfigurations (one per GPU apply) per [`ChartRange::bucket_ms`] over `range`.
pub fn applies(times_ms: &[i64], now_ms: i64, range: ChartRange) -> String {
    let (span, bucket) = (range.span_ms(), range.bucket_ms());
    let buckets = usize::try_from(span / bucket).unwrap_or(1);
    // Bars sit on whole buckets of UTC time (10:00–10:30, …), the last one holding now.
    let end = (now_ms / bucket + 1) * bucket;
    let from = end - span;
    let mut counts = vec![0u32; buckets];
    for t in times_ms.iter().filter(|t| (from..end).contains(*t)) {
        let b = usize::try_from((t - from) / bucket).unwrap_or(0);
        counts[b.min(buckets - 1)] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(0).max(1);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
            let total: u32 = counts.iter().sum();
            let caption = format!(
                "GPU reconfigurations per {}, {} ({total} in all)",
                duration_words(bucket),
                range.words()
            );
            let mut chart = ChartBuilder::on(&root)
                .caption(caption, ("sans-serif", 15).into_font().color(&BLACK))
                .margin(10)
                .x_label_area_size(34)
                .y_label_area_size(44)
                .build_cartesian_2d(
                    (from..end).with_key_points(ticks(from, end, range)),
                    // Counts on an integer axis: whole-number ticks only, one bar's room above.
                    0u32..top + 1,
                )?;
            chart
                .configure_mesh()
                .x_desc("time (UTC)")
                .y_desc("GPU applies")
                .x_label_formatter(&|t| tick_label(*t, range))
                .y_labels(usize::try_from(top + 2).unwrap_or(6).min(6))
                .light_line_style(TRANSPARENT)
                .bold_line_style(BLACK.mix(0.12))
                .draw()?;
            chart.draw_series(counts.iter().enumerate().filter(|(_, c)| **c > 0).map(
                |(i, c)| {
                    let x0 = from + i64::try_from(i).unwrap_or(0) * bucket;
                    Rectangle::new(
                        [(x0 + bucket / 10, 0), (x0 + bucket * 9 / 10, *c)],
                        COLOURS[0].filled(),
                    )
                },
            ))?;
            root.present()?;
            Ok(())
        })();
        if let Err(e) = drawn {
            tracing::warn!(error = %e, "applies chart");
        }
    }
    themed(out)
}

/// The labelled ticks of a time axis from `from` to `to`: whole UTC multiples of the range's tick.
fn ticks(from: i64, to: i64, range: ChartRange) -> Vec<i64> {
    let step = range.tick_ms();
    let first = (from + step - 1).div_euclid(step) * step;
    (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t <= to)
        .collect()
}

/// A tick's label: `13:40` within a day, `Dec 07` over a week.
fn tick_label(ms: i64, range: ChartRange) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = mig::time::Utc::from_unix_ms(ms);
    match range {
        ChartRange::Week => format!(
            "{} {:02}",
            MONTHS[(t.month.clamp(1, 12) - 1) as usize],
            t.day
        ),
        ChartRange::Hour | ChartRange::Day => format!("{:02}:{:02}", t.hour, t.minute),
    }
}

/// `300000` → `5 min`, `1800000` → `30 min`, `21600000` → `6 h`.
fn duration_words(ms: i64) -> String {
    if ms % 3_600_000 == 0 {
        format!("{} h", ms / 3_600_000)
    } else {
        format!("{} min", ms / 60_000)
    }
}

/// The SVG with its black (text, axes, grid, the capacity line) drawn in `currentColor`: the page's
/// text colour, light on dark and dark on light. Series colours stay as they are.
fn themed(svg: String) -> String {
    svg.replace("#000000", "currentColor")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_644_800_000; // 2026-12-07T12:00:00Z

    /// Every `<text>` of an SVG, trimmed.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| {
                let body = &t[t.find('>')? + 1..];
                Some(body[..body.find("</text>")?].trim().to_owned())
            })
            .collect()
    }

    #[test]
    fn applies_are_counted_in_their_bar() {
        let svg = applies(
            &[NOW - 60_000, NOW - 120_000, NOW - 5 * 3_600_000],
            NOW,
            ChartRange::Day,
        );
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        assert!(svg.contains("per 30 min, last 24 h (3 in all)"), "the caption counts every apply");
        // Two half hours hold applies: two bars in the series colour.
        assert_eq!(svg.matches("fill=\"#0072B2\"").count(), 2, "{svg}");
        let empty = applies(&[], NOW, ChartRange::Day);
        assert!(empty.contains("(0 in all)"));
        assert_eq!(empty.matches("fill=\"#0072B2\"").count(), 0);
        // An apply 3 days ago is in the week's chart only.
        let old = [NOW - 3 * 86_400_000];
        assert!(applies(&old, NOW, ChartRange::Day).contains("(0 in all)"));
        let week = applies(&old, NOW, ChartRange::Week);
        assert!(week.contains("per 6 h, last 7 days (1 in all)"), "{week}");
    }

    #[test]
    fn time_axes_read_as_utc_clock_times_and_counts_as_whole_numbers() {
        let svg = applies(&[NOW - 60_000, NOW - 90_000, NOW - 100_000], NOW, ChartRange::Day);
        let labels = texts(&svg);
        // Ticks every 4 h on whole hours, printed as clock times, never as "-60.0".
        for t in ["12:00", "16:00", "20:00", "00:00", "04:00", "08:00"] {
            assert!(labels.iter().any(|l| l == t), "tick {t} in {labels:?}");
        }
        assert!(labels.iter().any(|l| l == "time (UTC)"), "{labels:?}");
        assert!(!labels.iter().any(|l| l.starts_with('-')), "no negative labels: {labels:?}");
        // Three applies in one bar: whole-number ticks only.
        for v in ["0", "1", "2", "3"] {
            assert!(labels.iter().any(|l| l == v), "y tick {v} in {labels:?}");
        }
        assert!(!labels.iter().any(|l| l.contains('.') && l.parse::<f64>().is_ok()), "no fractions: {labels:?}");
        let hour = texts(&applies(&[], NOW, ChartRange::Hour));
        for t in ["11:10", "11:30", "11:50"] {
            assert!(hour.iter().any(|l| l == t), "tick {t} in {hour:?}");
        }
        let week = texts(&applies(&[], NOW, ChartRange::Week));
        for t in ["Dec 01", "Dec 04", "Dec 07"] {
            assert!(week.iter().any(|l| l == t), "tick {t} in {week:?}");
        }
    }

    #[test]
    fn charts_draw_in_the_page_colour_without_a_white_box() {
        let svg = applies(&[NOW - 60_000], NOW, ChartRange::Day);
        assert!(svg.contains("currentColor"), "{svg}");
        assert!(!svg.contains("#000000"), "no fixed black: {svg}");
        assert!(!svg.to_ascii_uppercase().contains("#FFFFFF"), "no white box: {svg}");
    }

    #[test]
    fn memory_lines_keep_the_peak_of_each_bucket() {
        let node: FleetNodeInfo = serde_json::from_value(serde_json::json!({
            "name": "n", "pool": "p", "shape": "BM.GPU.H100.8", "mig_config": null, "gpus": []
        }))
        .expect("node");
        let at = |ago_s: i64, used_mib: u64| Sample {
            node: "n".into(),
            gpu: 0,
            start: 0,
            profile: "1g.10gb".into(),
            at_ms: NOW - ago_s * 1000,
            used_mib,
        };
        // Ten samples 1 s apart in one bucket (a day has 240 s buckets): one point, the peak.
        let samples: Vec<Sample> = (0..10).map(|i| at(100 - i, 1024 * (i as u64 + 1))).collect();
        let svg = memory(&node, &samples, NOW, ChartRange::Day);
        assert!(svg.contains("GPU 0 1g.10gb@0"), "{svg}");
        assert!(svg.contains("last 24 h (GiB)"), "{svg}");
        assert!(!svg.contains("#000000"));
        let none = memory(&node, &[], NOW, ChartRange::Hour);
        assert!(none.contains("last hour: no workloads ran"), "{none}");
    }
}
