//! The rules of a status text (SPEC §2): 1–280 Unicode characters after NFC
//! normalisation, no control characters but newline.

use unicode_normalization::UnicodeNormalization;

use super::StatusError;

/// Most characters (Unicode scalar values, after NFC) in a status.
pub const MAX_CHARS: usize = 280;

/// Normalise a status text (CRLF to LF, then NFC) and check it; the text to
/// store, or [`StatusError::Validation`] saying what is wrong.
pub fn validate(text: &str) -> Result<String, StatusError> {
    let text: String = text.replace("\r\n", "\n").nfc().collect();
    if text.trim().is_empty() {
        return Err(StatusError::Validation(
            "A status cannot be empty (or only spaces).".into(),
        ));
    }
    let n = text.chars().count();
    if n > MAX_CHARS {
        return Err(StatusError::Validation(format!(
            "A status is at most {MAX_CHARS} characters; this one has {n}."
        )));
    }
    if let Some(c) = text
        .chars()
        .find(|&c| (c.is_control() && c != '\n') || c == '\u{FFFE}' || c == '\u{FFFF}')
    {
        return Err(StatusError::Validation(format!(
            "A status cannot contain control characters other than newline (found U+{:04X}).",
            u32::from(c)
        )));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> String {
        match validate(text) {
            Err(StatusError::Validation(m)) => m,
            other => panic!("{text:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn text_is_nfc_normalised() {
        // "e" + COMBINING ACUTE ACCENT becomes one "é".
        assert_eq!(validate("cafe\u{301}").unwrap(), "caf\u{e9}");
        assert_eq!(validate("cafe\u{301}").unwrap().chars().count(), 4);
    }

    #[test]
    fn the_limit_counts_characters_not_bytes() {
        let ok = "é".repeat(280); // 560 bytes
        assert_eq!(validate(&ok).unwrap().chars().count(), 280);
        assert!(refused(&"é".repeat(281)).contains("281"));
        let emoji = "🍺".repeat(280); // 1120 bytes
        assert!(validate(&emoji).is_ok());
        // 280 decomposed characters normalise to 280, not 560.
        assert!(validate(&"e\u{301}".repeat(280)).is_ok());
        assert!(validate(&"x".repeat(281)).is_err());
    }

    #[test]
    fn empty_and_blank_are_refused() {
        assert!(refused("").contains("empty"));
        assert!(refused("  \n ").contains("empty"));
    }

    #[test]
    fn control_characters_other_than_newline_are_refused() {
        assert_eq!(validate("two\nlines").unwrap(), "two\nlines");
        assert_eq!(validate("windows\r\nline").unwrap(), "windows\nline");
        assert!(refused("bell\u{7}").contains("U+0007"));
        assert!(refused("tab\there").contains("U+0009"));
        assert!(refused("cr\ronly").contains("U+000D"));
        assert!(refused("nul\0").contains("U+0000"));
        assert!(refused("c1\u{85}").contains("U+0085"));
        assert!(refused("del\u{7f}").contains("U+007F"));
    }
}
