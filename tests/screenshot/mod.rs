//! Reading back the app's screenshots in the window and render tests.

use std::path::Path;

/// RGB pixels of a PNG file: (width, height, pixels row after row).
pub fn read_png(path: &Path) -> (usize, usize, Vec<[u8; 3]>) {
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
