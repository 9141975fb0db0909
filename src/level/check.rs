//! Checking what a level file says: a distribution's numbers, hand-drawn rows, and where in the
//! file each problem sits (line and column of a field or a row).

use super::{CheesePlacement, DistributionSpec, Generator, Layout, MAX_WORLD_SIZE, Pos};

pub type SpecProblem = (&'static str, String, &'static str);

/// Checks a distribution's numbers; returns the offending field on failure.
pub fn validate_spec(spec: &DistributionSpec) -> Result<(), SpecProblem> {
    let world = spec.world_size;
    if !(3..=MAX_WORLD_SIZE).contains(&world) {
        return Err((
            "world_size",
            format!("world_size {world} is out of range"),
            "use a world_size between 3 and 64 (the paper uses 15 or 25)",
        ));
    }
    let (lo, hi) = spec.maze_size.bounds();
    if lo % 2 == 0 || hi % 2 == 0 || lo < 3 || lo > hi || hi > world {
        return Err((
            "maze_size",
            format!("maze_size {lo}..={hi} is out of range for world_size {world}"),
            "maze sides are odd, at least 3, low <= high, and at most world_size",
        ));
    }
    match spec.cheese {
        CheesePlacement::Region(r) | CheesePlacement::NearCorner(_, r) if r > hi => {
            return Err((
                "cheese",
                format!("cheese region {r} is larger than the largest maze ({hi})"),
                "use a region no larger than the maze side (0 and 1 mean the corner cell)",
            ));
        }
        _ => {}
    }
    let prob = match spec.generator {
        Generator::Blocks { wall_prob } => Some(wall_prob),
        Generator::Edges { open_prob } => Some(open_prob),
        _ => None,
    };
    if let Some(p) = prob
        && !(0.0..=1.0).contains(&p)
    {
        return Err((
            "generator",
            format!("generator probability {p} is not a probability"),
            "use a value between 0.0 and 1.0",
        ));
    }
    if spec.seeds.count == Some(0) {
        return Err((
            "seeds",
            "seed count is 0: the distribution has no levels".into(),
            "set count to at least 1, or leave it out for unbounded seeds",
        ));
    }
    match spec.generator {
        Generator::Blocks { wall_prob } if wall_prob >= 1.0 => {
            return Err((
                "generator",
                format!("Blocks(wall_prob: {wall_prob}) makes every cell a wall"),
                "use a wall_prob below 1.0 (0.2 to 0.4 gives connected mazes)",
            ));
        }
        Generator::Edges { open_prob } if open_prob <= 0.0 => {
            return Err((
                "generator",
                format!("Edges(open_prob: {open_prob}) never opens a passage"),
                "use an open_prob above 0.0 (0.5 to 0.8 gives connected mazes)",
            ));
        }
        _ => {}
    }
    match spec.cheese {
        CheesePlacement::NearStart(0) => {
            return Err((
                "cheese",
                "NearStart(0) allows only the start cell, where the cheese cannot be".into(),
                "use NearStart(1) or more (moves from the start)",
            ));
        }
        CheesePlacement::FarFromCorner(min) | CheesePlacement::FarFrom(_, min)
            if min >= hi * hi =>
        {
            return Err((
                "cheese",
                format!(
                    "FarFromCorner({min}): no cell of a {hi}x{hi} maze is {min} moves from its corner"
                ),
                "use fewer moves than the maze has cells",
            ));
        }
        _ => {}
    }
    if !spec.satisfiable() {
        return Err((
            "cheese",
            format!(
                "no maze of side {lo} to {hi} drawn from this generator has a reachable cell \
                 where this placement puts the cheese"
            ),
            "loosen the placement (a larger distance bound or region) or the generator's walls",
        ));
    }
    Ok(())
}

pub(super) type RowProblem = (usize, usize, String, &'static str);

pub(super) fn validate_rows(text: &str, rows: &[String]) -> Result<Layout, RowProblem> {
    let positions = row_positions(text);
    let row_pos = |i: usize, j: usize| -> (usize, usize) {
        positions
            .get(i)
            .map(|&(line, col)| (line, col + j))
            .unwrap_or_else(|| field_position(text, "rows"))
    };
    let (rows_line, rows_col) = field_position(text, "rows");
    if rows.is_empty() {
        return Err((
            rows_line,
            rows_col,
            "the layout has no rows".into(),
            "draw the maze as strings of # . M C, one per row",
        ));
    }
    let width = rows[0].chars().count();
    let height = rows.len();
    if !(3..=MAX_WORLD_SIZE).contains(&width) || !(3..=MAX_WORLD_SIZE).contains(&height) {
        return Err((
            rows_line,
            rows_col,
            format!("the layout is {width} wide and {height} tall: size out of range"),
            "layouts are between 3 and 64 cells on each side",
        ));
    }
    let size = width.max(height);
    let (row_off, col_off) = ((size - height) / 2, (size - width) / 2);
    let mut walls = vec![true; size * size];
    let (mut start, mut cheese) = (None, None);
    for (i, row) in rows.iter().enumerate() {
        let len = row.chars().count();
        if len != width {
            let (line, col) = row_pos(i, 0);
            return Err((
                line,
                col,
                format!(
                    "row {} has {len} cells but row 1 has {width} (ragged rows)",
                    i + 1
                ),
                "make every row the same length; pad with # walls",
            ));
        }
        for (j, tile) in row.chars().enumerate() {
            let p = Pos::new(i + row_off, j + col_off);
            let place = |slot: &mut Option<Pos>, what: &str| -> Result<(), RowProblem> {
                if slot.is_some() {
                    let (line, col) = row_pos(i, j);
                    return Err((
                        line,
                        col,
                        format!("a second {what} at row {}, column {}", i + 1, j + 1),
                        "a level has exactly one M (mouse start) and one C (cheese)",
                    ));
                }
                *slot = Some(p);
                Ok(())
            };
            match tile {
                '#' => continue,
                '.' => {}
                'M' => place(&mut start, "start M")?,
                'C' => place(&mut cheese, "cheese C")?,
                other => {
                    let (line, col) = row_pos(i, j);
                    return Err((
                        line,
                        col,
                        format!("unknown tile '{other}' at row {}, column {}", i + 1, j + 1),
                        "use # (wall), . (floor), M (mouse start) or C (cheese)",
                    ));
                }
            }
            walls[p.row * size + p.col] = false;
        }
    }
    let Some(start) = start else {
        return Err((
            rows_line,
            rows_col,
            "the layout has no start (M)".into(),
            "put exactly one M where the mouse starts",
        ));
    };
    let Some(cheese) = cheese else {
        return Err((
            rows_line,
            rows_col,
            "the layout has no cheese (C)".into(),
            "put exactly one C where the cheese is",
        ));
    };
    // The proxy goal: the free cell nearest the top-right of the drawing.
    let top_right = Pos::new(row_off, col_off + width - 1);
    let corner = (0..size * size)
        .map(|i| Pos::new(i / size, i % size))
        .filter(|p| !walls[p.row * size + p.col])
        .min_by_key(|p| (p.manhattan(top_right), p.row))
        .unwrap_or(cheese);
    let layout = Layout {
        size,
        walls,
        start,
        cheese,
        corner,
    };
    if layout.cheese_distance().is_none() {
        let (line, col) = row_pos(cheese.row - row_off, cheese.col - col_off);
        return Err((
            line,
            col,
            "the cheese cannot be reached from the start".into(),
            "open a path of . cells from M to C",
        ));
    }
    Ok(layout)
}

/// 1-based line and column of `offset` in `text`.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Where `field:` is written in the file (1:1 if it is not there).
pub(super) fn field_position(text: &str, field: &str) -> (usize, usize) {
    field_offset(text, field).map_or((1, 1), |at| line_col(text, at))
}

/// Byte offset of `field:` in the file.
pub(super) fn field_offset(text: &str, field: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text[from..].find(field) {
        let at = from + found;
        let boundary_before = at == 0
            || !text[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let rest = text[at + field.len()..].trim_start();
        if boundary_before && rest.starts_with(':') {
            return Some(at);
        }
        from = at + field.len();
    }
    None
}

/// Line and column of the first character inside each string of the `rows: [..]` list.
pub(super) fn row_positions(text: &str) -> Vec<(usize, usize)> {
    let Some(start) = field_offset(text, "rows") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = start;
    let mut in_string = false;
    while i < bytes.len() {
        match bytes[i] {
            b'"' if !in_string => {
                in_string = true;
                out.push(line_col(text, i + 1));
            }
            b'"' => in_string = false,
            b'\\' if in_string => i += 1,
            b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b']' if !in_string => break,
            _ => {}
        }
        i += 1;
    }
    out
}
