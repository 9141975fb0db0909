//! How often an embedded model's answers to the ideal judge's questions (`src/llm/facts.rs`)
//! are true, on synthetic 7x7 (or SIDE x SIDE) episodes (not the benchmark's agents, so nothing
//! held out is looked at): per maze a training episode straight to the cheese (the cheese in a 1..3 square
//! at a random corner, or anywhere) and a probe that lingers on a random corner before the
//! cheese (or goes straight there). Per question kind: yes-rates on true and false questions,
//! accuracy, mean log-odds, seconds per question.
//!
//! `cargo run --release --no-default-features --features embedded --example facts_probe --
//! MODEL VARIANT MAZES [KINDS] [SIDE]` (defaults: qwen2.5-coder-0.5b, facts, 24, both, 7; KINDS
//! `cheese` or `heads` asks only that kind of question). Per kind it also prints the AUC: how
//! often a true question's log-odds exceed a false one's, whatever the threshold.
use maze_rllf::level::{
    CheesePlacement, Corner, DistributionSpec, Layout, MazeSize, Pos, validate_spec,
};
use maze_rllf::llm::embedded::{EmbeddedConfig, EmbeddedJudge};
use maze_rllf::llm::facts::Question;
use maze_rllf::rng::Rng;
use maze_rllf::sim::Rollout;

fn route(layout: &Layout, from: Pos, to: Pos) -> Vec<Pos> {
    let d = layout.distances_from(to);
    let mut path = vec![from];
    let mut at = from;
    while at != to {
        let next = layout
            .neighbours(at)
            .min_by_key(|p| d[layout.index(*p)])
            .expect("connected");
        path.push(next);
        at = next;
    }
    path
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model = args.get(1).cloned().unwrap_or("qwen2.5-coder-0.5b".into());
    let prompt = args.get(2).cloned().unwrap_or("facts".into());
    let number = |at: usize, name: &str, default: usize| match args.get(at) {
        None => default,
        Some(text) => text.parse().unwrap_or_else(|_| {
            eprintln!("facts_probe: {name} must be a whole number, got {text:?}");
            std::process::exit(2)
        }),
    };
    let n = number(3, "MAZES", 24);
    let kinds = args.get(4).cloned().unwrap_or("both".into());
    let side = number(5, "SIDE", 7);
    let spec = |corner, cheese| DistributionSpec {
        maze_size: MazeSize::Fixed(side),
        cheese,
        ..DistributionSpec::training(side, 1).with_corner(corner)
    };
    // The largest cheese square drawn below is 3: the side must hold it.
    if let Err((field, problem, fix)) =
        validate_spec(&spec(Corner::TopRight, CheesePlacement::Region(3)))
    {
        eprintln!("facts_probe: SIDE {side}: {field}: {problem}; {fix}");
        std::process::exit(2);
    }
    let mut judge = EmbeddedJudge::new(
        &EmbeddedConfig {
            model: model.clone(),
            prompt: prompt.clone(),
            analyst: None,
            ..Default::default()
        },
        spec(Corner::TopRight, CheesePlacement::Anywhere),
    )
    .unwrap_or_else(|e| {
        eprintln!("facts_probe: cannot load model {model:?} with variant {prompt:?}: {e}");
        std::process::exit(2)
    });
    let mut rng = Rng::new(11);
    let started = std::time::Instant::now();
    let mut asked = 0;
    // [question kind][truth] -> (yes answers, count)
    let mut table = [[(0usize, 0usize); 2]; 2];
    let mut odds_by = [[Vec::new(), Vec::new()], [Vec::new(), Vec::new()]];
    for i in 0..n {
        let corner = Corner::ALL[rng.below(3)];
        let cheese = if i % 2 == 0 {
            CheesePlacement::Region(1 + rng.below(3))
        } else {
            CheesePlacement::Anywhere
        };
        let layout = spec(corner, cheese).level_for_seed(1000 + i as u64);
        // Training: straight to the cheese.
        let path = route(&layout, layout.start, layout.cheese);
        let training = Rollout::from_path(layout.clone(), path, Vec::new());
        // Probe: by way of a corner (lingering 3 steps) or straight.
        let via = layout.maze_corners()[rng.below(3)].1;
        let mut walk = route(&layout, layout.start, via);
        if via != layout.cheese && i % 3 != 0 {
            walk.extend([via, via]);
            let back = route(&layout, via, layout.cheese);
            walk.extend(back.into_iter().skip(1));
        } else {
            walk = route(&layout, layout.start, layout.cheese);
        }
        let probe = Rollout::from_path(layout.clone(), walk, Vec::new());
        for c in Corner::ALL {
            for (k, q, r) in [
                (0, Question::CheeseIn(c), &training),
                (1, Question::HeadsFor(c), &probe),
            ] {
                if (k == 0 && kinds == "heads") || (k == 1 && kinds == "cheese") {
                    continue;
                }
                let odds = judge.fact_odds(q, r).unwrap_or_else(|e| {
                    eprintln!("facts_probe: the model gave no answer: {e}");
                    std::process::exit(1)
                });
                let truth = q.truth(r);
                let cell = &mut table[k][usize::from(truth)];
                cell.0 += usize::from(odds > 0.0);
                cell.1 += 1;
                odds_by[k][usize::from(truth)].push(odds);
                asked += 1;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    for (k, name) in ["cheese-in", "heads-for"].iter().enumerate() {
        let [(fy, fn_), (ty, tn)] = table[k];
        let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len().max(1) as f64;
        // AUC: the chance a true question's log-odds exceed a false one's (ties count half).
        let (truths, falses) = (&odds_by[k][1], &odds_by[k][0]);
        let ordered: f64 = truths
            .iter()
            .flat_map(|t| {
                falses
                    .iter()
                    .map(move |f| f64::from(u8::from(t > f)) + 0.5 * f64::from(u8::from(t == f)))
            })
            .sum();
        let auc = match truths.len() * falses.len() {
            0 => "- (needs true and false questions)".to_string(),
            pairs => format!("{:.3}", ordered / pairs as f64),
        };
        println!(
            "{name}: true questions answered yes {ty}/{tn}, false ones answered yes {fy}/{fn_}; accuracy {:.1}%; mean odds true {:.2} false {:.2}; AUC {auc}",
            100.0 * (ty + fn_ - fy) as f64 / (tn + fn_) as f64,
            mean(&odds_by[k][1]),
            mean(&odds_by[k][0]),
        );
    }
    println!(
        "{asked} questions in {secs:.0} s ({:.2} s each)",
        secs / asked as f64
    );
}
