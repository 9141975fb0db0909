//! The real app, rendered under Xvfb with Mesa's software Vulkan: it starts, draws the 2D and 3D
//! scenes with the panel, saves a screenshot of each, and exits. The screenshots must not be blank
//! (pixel variance) and must show the maze's walls. `scripts/test.sh` installs Xvfb and Mesa.
#![cfg(feature = "app")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// RGB pixels of a PNG file.
fn read_png(path: &Path) -> (usize, usize, Vec<[u8; 3]>) {
    let file = std::fs::File::open(path)
        .unwrap_or_else(|e| panic!("{}: {e} (the app did not save it)", path.display()));
    let decoder = png::Decoder::new(std::io::BufReader::new(file));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("png data");
    let channels = info.color_type.samples();
    let pixels = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (info.width as usize, info.height as usize, pixels)
}

fn luminance_variance(pixels: &[[u8; 3]]) -> f64 {
    let lum: Vec<f64> = pixels
        .iter()
        .map(|p| 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64)
        .collect();
    let mean = lum.iter().sum::<f64>() / lum.len() as f64;
    lum.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / lum.len() as f64
}

fn share(pixels: &[[u8; 3]], pick: impl Fn(&[u8; 3]) -> bool) -> f64 {
    pixels.iter().filter(|p| pick(p)).count() as f64 / pixels.len() as f64
}

fn near(p: &[u8; 3], c: [u8; 3], tolerance: i32) -> bool {
    p.iter()
        .zip(c)
        .all(|(a, b)| (*a as i32 - b as i32).abs() <= tolerance)
}

#[test]
fn the_app_renders_the_2d_and_3d_scenes_with_the_panel() {
    assert!(
        Command::new("xvfb-run").arg("--help").output().is_ok(),
        "xvfb-run is missing: run scripts/test.sh (it installs xvfb and mesa-vulkan-drivers)"
    );
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("render");
    let _ = std::fs::remove_dir_all(&dir);
    let runtime = dir.join("xdg");
    std::fs::create_dir_all(&runtime).expect("dir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    let flat = dir.join("scene-2d.png");
    let blocks = dir.join("scene-3d.png");
    let mut child = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1024x640x24"])
        .arg(env!("CARGO_BIN_EXE_maze-rllf"))
        .args(["app", "--window", "1024x640", "--exit-after", "400"])
        .arg("--screenshot")
        .arg(format!("2d={}", flat.display()))
        .arg("--screenshot")
        .arg(format!("3d={}", blocks.display()))
        .env("XDG_RUNTIME_DIR", &runtime)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xvfb-run starts");
    let deadline = Instant::now() + Duration::from_secs(420);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the app did not finish its screenshots in time");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(status.success(), "the app failed: {status}\n{stderr}");

    let wall = maze_rllf::sim::render::colors::WALL;
    let (w, h, px) = read_png(&flat);
    assert_eq!((w, h), (1024, 640));
    let variance = luminance_variance(&px);
    assert!(
        variance > 200.0,
        "2D screenshot looks blank: variance {variance}"
    );
    let walls = share(&px, |p| near(p, wall, 6));
    assert!(walls > 0.01, "the 2D scene shows no wall colour ({walls})");
    let floor = share(&px, |p| near(p, maze_rllf::sim::render::colors::FLOOR, 6));
    assert!(floor > 0.01, "the 2D scene shows no floor ({floor})");

    let (_, _, px3) = read_png(&blocks);
    let variance = luminance_variance(&px3);
    assert!(
        variance > 200.0,
        "3D screenshot looks blank: variance {variance}"
    );
    // Lit walls keep their hue: dark, blue-dominant pixels.
    let walls = share(&px3, |p| {
        p[2] as i32 > p[0] as i32 + 20 && p[2] >= p[1] && (p[0] as i32 + p[1] as i32) < 260
    });
    assert!(walls > 0.01, "the 3D scene shows no walls ({walls})");
    let differ = px.iter().zip(&px3).filter(|(a, b)| a != b).count() as f64 / px.len() as f64;
    assert!(differ > 0.1, "the 3D view looks like the 2D view");
}
