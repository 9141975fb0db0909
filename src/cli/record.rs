//! `record` and `show`: episodes of a checkpoint as GIFs and PNGs, and level files validated and
//! drawn in the terminal.

use crate::level::{LevelSource, load_level_file};
use crate::rl::{DeviceChoice, checkpoint};
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

/// The arguments of `maze-rllf record`.
#[derive(Args, Debug)]
pub struct RecordArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Level file to play (default: the shifted distribution of the checkpoint's config).
    #[arg(long)]
    pub level: Option<PathBuf>,
    /// Output GIF; with `--count N > 1`, `-1`, `-2`, ... are added before the extension.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Pixels per cell.
    #[arg(long, default_value_t = 24)]
    pub cell_px: usize,
    /// Also write a PNG of the maze with the whole path.
    #[arg(long)]
    pub png: bool,
}

/// The arguments of `maze-rllf show`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    pub level: PathBuf,
    #[arg(long, default_value_t = 1)]
    pub count: usize,
}

/// Writes GIFs of `count` episodes of a checkpoint.
pub(super) fn record(args: RecordArgs) -> anyhow::Result<()> {
    let RecordArgs {
        checkpoint,
        level,
        out,
        count,
        seed,
        cell_px,
        png,
    } = args;
    let (checkpoint_path, level, out) = (checkpoint.as_path(), level.as_deref(), out.as_path());
    let device = DeviceChoice::Cpu.device()?;
    let loaded = checkpoint::load(checkpoint_path, &device)?;
    let world = loaded.config.training_levels()?.world_size();
    let source = match level {
        Some(path) => load_level_file(path)?
            .fitted_to(world)
            .map_err(anyhow::Error::msg)?,
        None => loaded.config.shifted_levels()?,
    };
    if !(2..=64).contains(&cell_px) {
        anyhow::bail!("--cell-px {cell_px}: use 2 to 64 pixels per cell");
    }
    let policy = crate::rl::Policy::new(loaded.model, device);
    let episodes = crate::experiment::rollouts::collect_rollouts(
        &policy,
        &source,
        count.max(1),
        seed,
        loaded.config.max_steps,
    );
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    for (i, episode) in episodes.iter().enumerate() {
        let path = if episodes.len() == 1 {
            out.to_path_buf()
        } else {
            let stem = out
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("episode");
            out.with_file_name(format!("{stem}-{}.gif", i + 1))
        };
        let gif = crate::sim::render::episode_gif(&episode.layout, &episode.path, cell_px, 12)
            .map_err(anyhow::Error::msg)?;
        std::fs::write(&path, gif).with_context(|| path.display().to_string())?;
        let outcome = format!("{:?}", episode.stats.outcome).to_lowercase();
        println!(
            "{}: {} steps, outcome {outcome}",
            path.display(),
            episode.stats.length
        );
        if png {
            let last = episode.path.last().copied().unwrap_or(episode.layout.start);
            let (w, h, pixels) =
                crate::sim::render::rgb(&episode.layout, last, &episode.path, cell_px);
            let png_path = path.with_extension("png");
            let bytes = crate::sim::render::png_bytes(w, h, &pixels).map_err(anyhow::Error::msg)?;
            std::fs::write(&png_path, bytes).with_context(|| png_path.display().to_string())?;
            println!("{}", png_path.display());
        }
    }
    Ok(())
}

/// Validates a level file and draws it (a distribution as `count` samples).
pub(super) fn show(args: ShowArgs) -> anyhow::Result<()> {
    let (path, count) = (args.level.as_path(), args.count);
    let source = load_level_file(path)?;
    match &source {
        LevelSource::Fixed { name, layout } => {
            println!("{}: valid fixed level '{name}'", path.display());
            println!(
                "{}x{} world, start {:?}, cheese {:?}, corner {:?}, shortest path {} steps",
                layout.size,
                layout.size,
                layout.start,
                layout.cheese,
                layout.corner,
                layout.cheese_distance().unwrap_or(0)
            );
            print!(
                "{}",
                crate::sim::render::ascii(layout, layout.start, &[], true)
            );
        }
        LevelSource::Distribution { name, spec } => {
            println!("{}: valid distribution '{name}'", path.display());
            println!(
                "generator {:?}, world {}, maze {:?}, cheese {:?}, seeds {:?}",
                spec.generator, spec.world_size, spec.maze_size, spec.cheese, spec.seeds
            );
            for i in 0..count as u64 {
                let seed = spec.seed_from_draw(i);
                let layout = spec.level_for_seed(seed);
                println!(
                    "\nseed {seed} (cheese {} steps away):",
                    layout.cheese_distance().unwrap_or(0)
                );
                print!(
                    "{}",
                    crate::sim::render::ascii(&layout, layout.start, &[], true)
                );
            }
        }
        LevelSource::Mixture { name, parts } => {
            println!("{}: valid mixture '{name}'", path.display());
            for part in parts {
                println!("weight {}: {:?}", part.weight, part.spec);
            }
        }
    }
    Ok(())
}
