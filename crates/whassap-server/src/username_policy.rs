//! Which usernames a self sign-up may take (the web page, the REST API and
//! XMPP in-band registration; an administrator's `whassap user add` only
//! needs a valid JID localpart).
//!
//! A JID localpart may hold almost anything, but a handle lives in URLs
//! (`/<username>`), in `@user@domain` mentions across the fediverse and in
//! people's memory. The default policy, close to Mastodon's: letters and
//! digits of any script, and `_`, `.` and `-` inside the name (never first
//! or last), 1 to 32 characters, and the letters of one script only, so
//! that a name cannot pass for another with look-alike letters (a Cyrillic
//! `а` in `alice`). Han may mix with Hiragana and Katakana (Japanese) or
//! Hangul (Korean), as writing those languages needs.

use unicode_script::{Script, UnicodeScript};

/// What a new username must look like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsernamePolicy {
    /// Longest username, in characters.
    pub max_chars: usize,
    /// Characters allowed besides letters, digits and combining marks;
    /// never first or last.
    pub punctuation: String,
    /// Whether letters of several scripts may mix.
    pub mixed_scripts: bool,
}

impl Default for UsernamePolicy {
    fn default() -> Self {
        UsernamePolicy {
            max_chars: 32,
            punctuation: "_.-".into(),
            mixed_scripts: false,
        }
    }
}

/// Scripts that one language writes together.
const WRITTEN_TOGETHER: &[&[Script]] = &[
    &[Script::Han, Script::Hiragana, Script::Katakana],
    &[Script::Han, Script::Hangul],
    &[Script::Han, Script::Bopomofo],
];

impl UsernamePolicy {
    /// Why `name` (already normalised) may not be a new username, or None.
    pub fn refusal(&self, name: &str) -> Option<String> {
        let count = name.chars().count();
        if count == 0 || count > self.max_chars {
            return Some(format!("a username has 1 to {} characters", self.max_chars));
        }
        let is_punct = |c: char| self.punctuation.contains(c);
        let mut scripts: Vec<Script> = Vec::new();
        // Whether the previous character was a letter or digit, or a mark
        // on one (several marks may stack, as in Devanagari's "हूँ").
        let mut after_letter = false;
        for c in name.chars() {
            let mark = unicode_normalization::char::is_combining_mark(c);
            if mark && !after_letter {
                return Some(format!("{c:?} must follow a letter"));
            }
            if !(c.is_alphanumeric() || mark || is_punct(c)) {
                return Some(format!(
                    "a username has only letters, digits and {}",
                    self.describe_punctuation()
                ));
            }
            if c.is_alphabetic() {
                let s = c.script();
                if !matches!(s, Script::Common | Script::Inherited | Script::Unknown)
                    && !scripts.contains(&s)
                {
                    scripts.push(s);
                }
            }
            after_letter = c.is_alphanumeric() || mark;
        }
        let first = name.chars().next().is_some_and(is_punct);
        let last = name.chars().last().is_some_and(is_punct);
        if first || last {
            return Some(format!(
                "a username cannot start or end with {}",
                self.describe_punctuation()
            ));
        }
        let one_script = scripts.len() <= 1
            || WRITTEN_TOGETHER
                .iter()
                .any(|set| scripts.iter().all(|s| set.contains(s)));
        if !self.mixed_scripts && !one_script {
            return Some("a username uses the letters of one script (alphabet)".into());
        }
        None
    }

    fn describe_punctuation(&self) -> String {
        let chars: Vec<String> = self.punctuation.chars().map(|c| format!("{c}")).collect();
        match chars.len() {
            0 => "nothing else".into(),
            _ => chars.join(" "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy() {
        let p = UsernamePolicy::default();
        for ok in [
            "alice",
            "bob_2",
            "j.doe",
            "mary-ann",
            "zoë",
            "дмитрий",
            "山田たろう",
            "김민준",
            "मनीषा",
            "हूँ",
            "a",
            "x23456789012345678901234567890ab",
        ] {
            assert_eq!(p.refusal(ok), None, "{ok}");
        }
        for bad in [
            "",
            "x234567890123456789012345678901ab",
            "a#b",
            "a b",
            "a?b",
            "a%20",
            "a+b",
            "a!",
            "_alice",
            "alice.",
            "-bob",
            "аlice",
            "paypal\u{0430}",
            "\u{301}a",
            "a_\u{301}b",
        ] {
            assert!(p.refusal(bad).is_some(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn configurable() {
        let p = UsernamePolicy {
            max_chars: 5,
            punctuation: String::new(),
            mixed_scripts: true,
        };
        assert_eq!(p.refusal("abcde"), None);
        assert!(p.refusal("abcdef").is_some());
        assert!(p.refusal("a_b").is_some());
        assert_eq!(p.refusal("аlicе"), None, "mixed scripts allowed");
    }
}
