//! The live plots under the watch view: training and shifted-maze rates from each evaluation,
//! the episodic return, and PPO's losses, against env steps (from 0, so the axes are sensible
//! from the first point on).

use super::bridge::TrainingLog;
use bevy_egui::egui;
use egui_plot::{Legend, Line, Plot, Points};

/// Which plot the bottom strip shows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum PlotTab {
    Rates,
    Return,
    Losses,
}

/// The bottom strip: the tab picker and the chosen plot of `log`.
pub(super) fn plots(ui: &mut egui::Ui, tab: &mut PlotTab, log: &TrainingLog) {
    ui.horizontal(|ui| {
        ui.selectable_value(tab, PlotTab::Rates, "cheese / corner rates");
        ui.selectable_value(tab, PlotTab::Return, "return");
        ui.selectable_value(tab, PlotTab::Losses, "losses");
    });
    if let Some(note) = &log.history_note {
        ui.small(note);
    }
    // The x axis starts at step 0 and reaches the latest point, so a single point (or a run
    // resumed at millions of steps) never gets a degenerate axis around one value.
    let last_step = log
        .iterations
        .iter()
        .map(|it| it.global_step)
        .chain(log.evaluations.iter().map(|e| e.global_step))
        .max()
        .unwrap_or(0);
    let plot = Plot::new(("plot", *tab as u8))
        .legend(Legend::default())
        .height(180.0)
        .x_axis_label("env steps")
        .include_x(0.0)
        .include_x((last_step as f64 * 1.02).max(1000.0))
        .include_y(0.0)
        .allow_drag(false);
    let series = |f: &dyn Fn(&crate::rl::IterationMetrics) -> f64| -> Vec<[f64; 2]> {
        log.iterations
            .iter()
            .map(|it| [it.global_step as f64, f(it)])
            .collect()
    };
    match *tab {
        PlotTab::Rates => {
            let eval = |f: &dyn Fn(&crate::trainer::EvalPoint) -> f64| -> Vec<[f64; 2]> {
                log.evaluations
                    .iter()
                    .map(|e| [e.global_step as f64, f(e)])
                    .collect()
            };
            // Every iteration's training episodes (the whole history of a loaded run), under the
            // evaluations' points.
            let per_iteration = [
                ("train episodes: cheese", series(&|it| it.cheese_rate)),
                ("train episodes: corner", series(&|it| it.corner_rate)),
            ];
            let lines = [
                ("train: cheese", eval(&|e| e.train.cheese.rate)),
                ("shifted: cheese", eval(&|e| e.shifted.cheese.rate)),
                ("shifted: corner first", eval(&|e| e.shifted.corner.rate)),
                ("shifted: neither", eval(&|e| e.shifted.neither.rate)),
            ];
            plot.include_y(1.0).show(ui, |p| {
                for (name, points) in per_iteration {
                    p.line(Line::new(name, points).width(1.0));
                }
                for (name, points) in lines {
                    p.points(Points::new(name, points.clone()).radius(2.5));
                    p.line(Line::new(name, points));
                }
            });
        }
        PlotTab::Return => {
            let points = series(&|it| it.episodic_return);
            plot.show(ui, |p| p.line(Line::new("episodic return", points)));
        }
        PlotTab::Losses => {
            let lines = [
                ("value loss", series(&|it| it.value_loss)),
                ("policy loss", series(&|it| it.policy_loss)),
                ("entropy", series(&|it| it.entropy)),
                ("approx KL", series(&|it| it.approx_kl)),
            ];
            plot.show(ui, |p| {
                for (name, points) in lines {
                    p.line(Line::new(name, points));
                }
            });
        }
    }
}
