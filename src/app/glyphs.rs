//! Which characters the UI can draw: the panels' font chain (egui's defaults: Ubuntu Light, then
//! its emoji fonts) and the scene's font (Hack). Text from outside the program (a judge's answer,
//! a level's name, an error from the system) is made drawable before it is shown, so no caption
//! ever shows a missing-glyph box.

use skrifa::MetadataProvider;
use skrifa::raw::FontRef;
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::OnceLock;

/// The font the scene's captions use: Hack (from egui's fonts), a regular weight that stays
/// legible when projected.
pub const SCENE_FONT: &[u8] = epaint_default_fonts::HACK_REGULAR;

/// The characters a set of fonts maps to glyphs.
struct Coverage(HashSet<u32>);

impl Coverage {
    fn of(fonts: &[&[u8]]) -> Self {
        let mut chars = HashSet::new();
        for bytes in fonts {
            // The fonts are egui's own, compiled in: a font that does not parse covers nothing
            // and the glyph test says so.
            if let Ok(font) = FontRef::new(bytes) {
                chars.extend(font.charmap().mappings().map(|(c, _)| c));
            }
        }
        Self(chars)
    }

    /// Control characters other than a line break count as undrawable even where a font maps
    /// them (egui would draw a tab or a carriage return as a glyph box or nothing).
    fn has(&self, c: char) -> bool {
        c == '\n' || (!c.is_control() && self.0.contains(&(c as u32)))
    }
}

fn panels() -> &'static Coverage {
    static PANELS: OnceLock<Coverage> = OnceLock::new();
    PANELS.get_or_init(|| {
        Coverage::of(&[
            epaint_default_fonts::UBUNTU_LIGHT,
            epaint_default_fonts::NOTO_EMOJI_REGULAR,
            epaint_default_fonts::EMOJI_ICON,
        ])
    })
}

fn scene() -> &'static Coverage {
    static SCENE: OnceLock<Coverage> = OnceLock::new();
    SCENE.get_or_init(|| Coverage::of(&[SCENE_FONT]))
}

/// The characters of `text` the panels cannot draw.
pub fn missing_in_panels(text: &str) -> Vec<char> {
    text.chars().filter(|c| !panels().has(*c)).collect()
}

/// The characters of `text` the scene's captions cannot draw.
pub fn missing_in_scene(text: &str) -> Vec<char> {
    text.chars().filter(|c| !scene().has(*c)).collect()
}

/// `text` with what the panels cannot draw replaced (tabs by spaces, carriage returns and other
/// control characters dropped, typographic marks by their plain forms, anything else by `?`).
pub fn for_panels(text: &str) -> Cow<'_, str> {
    drawable(text, panels())
}

/// `text` made drawable by the scene's captions (as [`for_panels`]).
pub fn for_scene(text: &str) -> Cow<'_, str> {
    drawable(text, scene())
}

fn drawable<'a>(text: &'a str, coverage: &Coverage) -> Cow<'a, str> {
    if text.chars().all(|c| coverage.has(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if coverage.has(c) {
            out.push(c);
            continue;
        }
        let plain = match c {
            '\t' => " ",
            '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{2032}' => "'",
            '\u{201C}' | '\u{201D}' | '\u{201F}' | '\u{2033}' => "\"",
            '\u{2010}'..='\u{2015}' | '\u{2212}' => "-",
            '\u{2026}' => "...",
            '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' => " ",
            c if c.is_control() || ('\u{200B}'..='\u{200F}').contains(&c) => "",
            '\u{FE00}'..='\u{FE0F}' => "",
            _ => "?",
        };
        out.push_str(plain);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fonts_parse_and_cover_plain_text() {
        for c in ('a'..='z')
            .chain('A'..='Z')
            .chain('0'..='9')
            .chain(" .,:;%()[]".chars())
        {
            assert!(panels().has(c), "panels lack {c:?}");
            assert!(scene().has(c), "scene lacks {c:?}");
        }
    }

    #[test]
    fn undrawable_characters_are_replaced_and_drawable_text_is_kept() {
        assert!(matches!(for_panels("cheese · corner"), Cow::Borrowed(_)));
        let shown = for_panels("a\tb\r\nc\u{200B}d\u{10FFFD}");
        assert_eq!(shown, "a b\ncd?");
        assert!(missing_in_panels(&shown).is_empty());
        assert!(missing_in_scene(&for_scene("\u{10FFFD} \u{2603}")).is_empty());
    }
}
