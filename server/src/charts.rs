//! Charts for the node page, drawn with plotters as SVG on the server: the browser downloads no
//! charting code, and the SVG scales, prints and reads in both colour schemes (strokes use
//! `currentColor` where the theme decides).

use plotters::prelude::*;

use crate::store::Sample;
use mig::wire::FleetNodeInfo;

const WIDTH: u32 = 720;
const HEIGHT: u32 = 260;

/// Distinct, colour-blind-friendly series colours (Okabe–Ito).
const COLOURS: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
];

/// Memory used per MIG instance over the last hour: one line per instance that ran work, against
/// the instance's own size (the dashed line is the largest instance's memory).
pub fn memory(node: &FleetNodeInfo, samples: &[Sample], now_ms: i64) -> String {
    let mut series: std::collections::BTreeMap<(u32, u8, String), Vec<(f64, f64)>> =
        Default::default();
    for s in samples {
        let minutes_ago = (s.at_ms - now_ms) as f64 / 60_000.0;
        series
            .entry((s.gpu, s.start, s.profile.clone()))
            .or_default()
            .push((minutes_ago, s.used_mib as f64 / 1024.0));
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
                "Memory used per MIG instance, last hour: no workloads ran"
            } else {
                "Memory used per MIG instance, last hour (GiB)"
            };
            let mut chart = ChartBuilder::on(&root)
                .caption(caption, ("sans-serif", 15))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(44)
                .build_cartesian_2d(-60.0f64..0.0f64, 0.0f64..capacity_gib * 1.1)?;
            chart
                .configure_mesh()
                .x_desc("minutes ago")
                .y_desc("GiB")
                .x_labels(7)
                .y_labels(5)
                .light_line_style(BLACK.mix(0.06))
                .draw()?;
            chart.draw_series(LineSeries::new(
                [(-60.0, capacity_gib), (0.0, capacity_gib)],
                ShapeStyle::from(BLACK.mix(0.35)).stroke_width(1),
            ))?;
            for (i, ((gpu, start, profile), points)) in series.iter().enumerate() {
                let colour = COLOURS[i % COLOURS.len()];
                chart
                    .draw_series(LineSeries::new(
                        points.iter().copied(),
                        colour.stroke_width(2),
                    ))?
                    .label(format!("GPU {gpu} {profile}@{start}"))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                    });
            }
            if !series.is_empty() {
                chart
                    .configure_series_labels()
                    .border_style(BLACK.mix(0.2))
                    .background_style(WHITE.mix(0.85))
                    .position(SeriesLabelPosition::LowerLeft)
                    .draw()?;
            }
            root.present()?;
            Ok(())
        })();
        if let Err(e) = drawn {
            tracing::warn!(error = %e, "memory chart");
        }
    }
    out
}

/// GPU reconfigurations (one per GPU apply) per 30 minutes over the last day.
pub fn applies(times_ms: &[i64], now_ms: i64) -> String {
    const BUCKETS: usize = 48;
    let mut counts = [0u32; BUCKETS];
    for t in times_ms {
        let hours_ago = (now_ms - t) as f64 / 3_600_000.0;
        if (0.0..24.0).contains(&hours_ago) {
            let b = BUCKETS - 1 - ((hours_ago * 2.0) as usize).min(BUCKETS - 1);
            counts[b] += 1;
        }
    }
    let top = counts.iter().copied().max().unwrap_or(0).max(1);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
            let total: u32 = counts.iter().sum();
            let caption = format!("GPU reconfigurations per 30 min, last 24 h ({total} in all)");
            let mut chart = ChartBuilder::on(&root)
                .caption(caption, ("sans-serif", 15))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(44)
                .build_cartesian_2d(-24.0f64..0.0f64, 0.0f64..f64::from(top) * 1.15)?;
            chart
                .configure_mesh()
                .x_desc("hours ago")
                .y_desc("GPU applies")
                .x_labels(7)
                .y_labels(5)
                .light_line_style(BLACK.mix(0.06))
                .draw()?;
            chart.draw_series(counts.iter().enumerate().filter(|(_, c)| **c > 0).map(
                |(i, c)| {
                    let x0 = -24.0 + i as f64 * 0.5;
                    Rectangle::new(
                        [(x0 + 0.05, 0.0), (x0 + 0.45, f64::from(*c))],
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_are_counted_in_their_half_hour() {
        let now = 1_000_000_000_000;
        let svg = applies(&[now - 60_000, now - 120_000, now - 5 * 3_600_000], now);
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        assert!(svg.contains("(3 in all)"), "the caption counts every apply");
        // Two half hours hold applies: two bars in the series colour.
        assert_eq!(svg.matches("fill=\"#0072B2\"").count(), 2, "{svg}");
        let empty = applies(&[], now);
        assert!(empty.contains("(0 in all)"));
        assert_eq!(empty.matches("fill=\"#0072B2\"").count(), 0);
    }
}
