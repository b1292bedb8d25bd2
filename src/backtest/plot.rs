//! `--plot FILE.svg`: one picture a person reads at a glance (plotters, SVG).
//!
//! 1. the demand over the last simulated week, with the point forecast and 80 % band the
//!    planner had for each step;
//! 2. under it, on the same time axis, the replicas provisioned by prescale (the summary's
//!    quantile, or 0.9 when there is none), the HPA at u = 0.6 and the oracle;
//! 3. the cost-versus-under-provisioning frontiers (one point per quantile, one per target
//!    utilization, the hybrids' Pareto front), SLO mode and the HPA tuned in hindsight to its
//!    budget, with the oracle at (0, 1).

use std::path::Path;

use chrono::DateTime;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::fleet::PolicyKind;
use super::report::REFERENCE_UTILIZATION;
use super::{BacktestError, Outcome};

type Fallible<T = ()> = Result<T, Box<dyn std::error::Error>>;

const PREDICTIVE: RGBColor = RGBColor(31, 119, 180);
const HPA: RGBColor = RGBColor(214, 39, 40);
const ORACLE: RGBColor = RGBColor(44, 160, 44);
const HYBRID: RGBColor = RGBColor(148, 103, 189);
const SLO: RGBColor = RGBColor(255, 127, 14);
const FONT: &str = "sans-serif";

/// Writes the picture of `outcome` to `path`.
pub fn write_svg(path: &Path, outcome: &Outcome) -> Result<(), BacktestError> {
    draw(path, outcome)
        .map_err(|e| BacktestError::Input(format!("cannot draw the plot {}: {e}", path.display())))
}

fn draw(path: &Path, outcome: &Outcome) -> Fallible {
    let root = SVGBackend::new(path, (1200, 1300)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!("prescale backtest: {}", outcome.report.dataset);
    let root = root.titled(&title, (FONT, 26))?;
    let (upper, rest) = root.split_vertically(440);
    let (middle, rest) = rest.split_vertically(360);
    let (lower, footer) = rest.split_vertically(rest.dim_in_pixel().1.saturating_sub(56));
    let week = Week::new(outcome);
    demand_panel(&upper, outcome, &week)?;
    replica_panel(&middle, outcome, &week)?;
    frontier_panel(&lower, outcome)?;
    footer.draw(&Text::new(
        format!("summary: {}", outcome.report.scaling.summary.text),
        (20, 8),
        (FONT, 15).into_font(),
    ))?;
    if let Some(h) = &outcome.report.scaling.summary.hindsight {
        footer.draw(&Text::new(h.text.clone(), (20, 30), (FONT, 15).into_font()))?;
    }
    root.present()?;
    Ok(())
}

/// The plotted stretch: the last week of the simulation (all of it if shorter), as offsets
/// into the simulation's per-step vectors, with time in days from its start.
struct Week {
    from: usize,
    to: usize,
    start: i64,
    step: i64,
}

impl Week {
    fn new(outcome: &Outcome) -> Week {
        let sim = &outcome.simulation;
        let step = outcome.dataset.series.step();
        let len = sim.period.len();
        let week = (7 * 86_400 / step).max(1) as usize;
        let from = len.saturating_sub(week);
        Week {
            from,
            to: len,
            start: outcome.dataset.series.timestamp(sim.period.start + from),
            step,
        }
    }

    fn days(&self) -> f64 {
        ((self.to - self.from) as f64 * self.step as f64 / 86_400.0).max(1e-6)
    }

    /// The x coordinate (days) of offset `i` within the week.
    fn x(&self, i: usize) -> f64 {
        i as f64 * self.step as f64 / 86_400.0
    }

    fn label(&self, x: f64) -> String {
        let t = self.start + (x * 86_400.0).round() as i64;
        DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%a %d %b %H:%M").to_string())
            .unwrap_or_default()
    }
}

/// Splits `values` at NaNs into runs of `(x, y)` points.
fn runs(week: &Week, values: &[f64]) -> Vec<Vec<(f64, f64)>> {
    let mut out = vec![Vec::new()];
    for (i, v) in values.iter().enumerate() {
        if v.is_finite() {
            out.last_mut().expect("never empty").push((week.x(i), *v));
        } else if !out.last().expect("never empty").is_empty() {
            out.push(Vec::new());
        }
    }
    out.retain(|run| !run.is_empty());
    out
}

fn demand_panel(area: &DrawingArea<SVGBackend, Shift>, outcome: &Outcome, week: &Week) -> Fallible {
    let sim = &outcome.simulation;
    let range = sim.period.start + week.from..sim.period.start + week.to;
    let demand = &outcome.dataset.series.values()[range];
    let yhat = &sim.forecast_yhat[week.from..week.to];
    let lo = &sim.forecast_lo80[week.from..week.to];
    let hi = &sim.forecast_hi80[week.from..week.to];
    let top = demand
        .iter()
        .chain(hi)
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.05;
    let bottom = demand
        .iter()
        .chain(lo)
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::min);
    let mut chart = ChartBuilder::on(area)
        .caption(
            "Demand and the forecast prescale planned on (last simulated week)",
            (FONT, 18),
        )
        .margin(12)
        .margin_right(50)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..week.days(), bottom..top)?;
    chart
        .configure_mesh()
        .x_labels(8)
        .x_label_formatter(&|x| week.label(*x))
        .x_desc("time (UTC)")
        .y_desc("demand per step")
        .y_label_formatter(&|y| super::figures::num(*y))
        .draw()?;
    // The band, one polygon per run of steps that have one.
    let band: Vec<f64> = lo
        .iter()
        .zip(hi)
        .map(|(l, h)| {
            if l.is_finite() && h.is_finite() {
                *l
            } else {
                f64::NAN
            }
        })
        .collect();
    for run in runs(week, &band) {
        let first = (run[0].0 * 86_400.0 / week.step as f64).round() as usize;
        let upper: Vec<(f64, f64)> = (first..first + run.len())
            .map(|i| (week.x(i), hi[i]))
            .collect();
        let mut polygon = run.clone();
        polygon.extend(upper.into_iter().rev());
        chart.draw_series(std::iter::once(Polygon::new(polygon, PREDICTIVE.mix(0.2))))?;
    }
    legend(&mut chart, "80 % forecast band", PREDICTIVE.mix(0.3), 8)?;
    for run in runs(week, demand) {
        chart.draw_series(LineSeries::new(run, BLACK.stroke_width(1)))?;
    }
    legend(&mut chart, "demand", BLACK.to_rgba(), 2)?;
    // Translucent, so a point forecast that follows a noisy demand does not hide it.
    for run in runs(week, yhat) {
        chart.draw_series(LineSeries::new(run, PREDICTIVE.mix(0.7).stroke_width(1)))?;
    }
    legend(&mut chart, "point forecast", PREDICTIVE.to_rgba(), 2)?;
    legend_box(&mut chart, SeriesLabelPosition::UpperLeft)
}

fn replica_panel(
    area: &DrawingArea<SVGBackend, Shift>,
    outcome: &Outcome,
    week: &Week,
) -> Fallible {
    let sim = &outcome.simulation;
    let choice = outcome.report.scaling.summary.choice.as_ref();
    // Drawn in this order, so prescale's line is on top.
    let mut lines = vec![("oracle".to_string(), ORACLE, sim.oracle())];
    if let Some(run) = sim.run(PolicyKind::ReactiveHpa, REFERENCE_UTILIZATION) {
        lines.push((format!("HPA u={REFERENCE_UTILIZATION}"), HPA, run));
    }
    let shown = match choice {
        Some(c) => sim
            .runs
            .iter()
            .find(|r| {
                r.kind.as_str() == c.policy
                    && r.param == Some(c.param)
                    && r.reactive_utilization == c.reactive_utilization
            })
            .map(|run| (format!("prescale {}", c.label()), run)),
        None => sim
            .run(PolicyKind::Predictive, 0.9)
            .map(|run| ("prescale q=0.9".to_string(), run)),
    };
    if let Some((name, run)) = shown {
        lines.push((name, PREDICTIVE, run));
    }
    let top = lines
        .iter()
        .flat_map(|(_, _, run)| run.provisioned[week.from..week.to].iter())
        .copied()
        .max()
        .unwrap_or(1) as f64
        * 1.08
        + 1.0;
    let mut chart = ChartBuilder::on(area)
        .caption(
            "Replicas provisioned (starting pods included), same week",
            (FONT, 18),
        )
        .margin(12)
        .margin_right(50)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..week.days(), 0.0..top)?;
    chart
        .configure_mesh()
        .x_labels(8)
        .x_label_formatter(&|x| week.label(*x))
        .x_desc("time (UTC)")
        .y_desc("replicas")
        .y_label_formatter(&|y| super::figures::num(*y))
        .draw()?;
    for (name, color, run) in &lines {
        let counts = &run.provisioned[week.from..week.to];
        let mut points = Vec::with_capacity(2 * counts.len());
        for (i, r) in counts.iter().enumerate() {
            points.push((week.x(i), f64::from(*r)));
            points.push((week.x(i + 1), f64::from(*r)));
        }
        chart.draw_series(LineSeries::new(points, color.stroke_width(1)))?;
        legend(&mut chart, name, color.to_rgba(), 2)?;
    }
    legend_box(&mut chart, SeriesLabelPosition::UpperLeft)
}

fn frontier_panel(area: &DrawingArea<SVGBackend, Shift>, outcome: &Outcome) -> Fallible {
    let policies = &outcome.report.scaling.policies;
    let points = |kind: PolicyKind| -> Vec<(f64, f64, String)> {
        policies
            .iter()
            .filter(|p| p.policy == kind.as_str() && p.cost_vs_oracle.is_finite())
            .map(|p| {
                let param = p.param.unwrap_or(f64::NAN);
                let label = if kind == PolicyKind::ReactiveHpa {
                    format!("u={param}")
                } else {
                    super::report::setting_label(p.policy, param, p.reactive_utilization)
                };
                (100.0 * p.underprovisioned_fraction, p.cost_vs_oracle, label)
            })
            .collect()
    };
    let predictive = points(PolicyKind::Predictive);
    let hpa = points(PolicyKind::ReactiveHpa);
    let hybrid = super::hindsight::pareto(points(PolicyKind::Hybrid), |p| (p.0, p.1));
    let slo = points(PolicyKind::Slo);
    let oracle_hours = outcome
        .simulation
        .oracle()
        .tally
        .replica_hours(outcome.dataset.series.step());
    let hindsight = outcome.report.scaling.summary.hindsight.as_ref();
    let tuned: Vec<(f64, f64, String)> = hindsight
        .and_then(|h| h.at_budget.as_ref())
        .filter(|_| oracle_hours > 0.0)
        .map(|p| {
            (
                100.0 * p.underprovisioned_fraction,
                p.hpa_replica_hours / oracle_hours,
                "HPA tuned in hindsight".to_string(),
            )
        })
        .into_iter()
        .collect();
    let all = || {
        predictive
            .iter()
            .chain(&hpa)
            .chain(&hybrid)
            .chain(&slo)
            .chain(&tuned)
    };
    let right = all().map(|p| p.0).fold(1.0, f64::max) * 1.15;
    let top = all().map(|p| p.1).fold(1.2, f64::max) * 1.08;
    let bottom = all().map(|p| p.1).fold(1.0, f64::min).min(1.0) * 0.95;
    let mut chart = ChartBuilder::on(area)
        .caption(
            "Cost versus under-provisioning: each point is one setting (lower left is better)",
            (FONT, 18),
        )
        .margin(12)
        .margin_right(50)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.02 * right..right, bottom..top)?;
    chart
        .configure_mesh()
        .x_desc("under-provisioned steps (%)")
        .y_desc("replica-hours / oracle's")
        .y_label_formatter(&|y| super::figures::num(*y))
        .x_label_formatter(&|x| super::figures::num(*x))
        .draw()?;
    for (name, color, series) in [
        ("prescale (forecast quantile q)", PREDICTIVE, &predictive),
        ("reactive HPA (target utilization u)", HPA, &hpa),
        (
            "prescale hybrid, its frontier (q + reactive floor u)",
            HYBRID,
            &hybrid,
        ),
    ] {
        let line: Vec<(f64, f64)> = series.iter().map(|p| (p.0, p.1)).collect();
        chart.draw_series(LineSeries::new(line, color.stroke_width(2)))?;
        chart.draw_series(
            series
                .iter()
                .map(|p| Circle::new((p.0, p.1), 4, color.filled())),
        )?;
        chart.draw_series(point_labels(series))?;
        legend(&mut chart, name, color.to_rgba(), 2)?;
    }
    for (name, color, series) in [
        ("prescale SLO mode", SLO, &slo),
        ("the HPA frontier at the SLO's budget", HPA, &tuned),
    ] {
        if series.is_empty() {
            continue;
        }
        chart.draw_series(
            series
                .iter()
                .map(|p| TriangleMarker::new((p.0, p.1), 8, color.filled())),
        )?;
        chart.draw_series(point_labels(series))?;
        legend(&mut chart, name, color.to_rgba(), 4)?;
    }
    chart.draw_series(std::iter::once(Circle::new((0.0, 1.0), 5, ORACLE.filled())))?;
    legend(
        &mut chart,
        "oracle (no delay, perfect foresight)",
        ORACLE.to_rgba(),
        4,
    )?;
    legend_box(&mut chart, SeriesLabelPosition::UpperRight)
}

/// Each point's label, written at the point.
fn point_labels(
    points: &[(f64, f64, String)],
) -> impl Iterator<Item = Text<'static, (f64, f64), String>> + '_ {
    points
        .iter()
        .map(|p| Text::new(p.2.clone(), (p.0, p.1), (FONT, 13).into_font()))
}

/// Draws the legend entries at `position`.
fn legend_box<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<
        'a,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    position: SeriesLabelPosition,
) -> Fallible
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Adds a legend entry drawn as a short line of `color` and `width`.
fn legend<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    name: &str,
    color: RGBAColor,
    width: u32,
) -> Fallible
where
    DB::ErrorType: 'static,
{
    chart
        .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
        .map_err(|e| e.to_string())?
        .label(name)
        .legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(width))
        });
    Ok(())
}
