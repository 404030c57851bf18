//! Status ids: ULIDs (48-bit millisecond time + 80 random bits, Crockford
//! base32, 26 characters), monotonic within the process so that two ids
//! made in the same millisecond still sort in the order they were made.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const RANDOM_BITS: u32 = 80;

/// Makes time-sorted unique ids.
#[derive(Default)]
pub struct IdGenerator {
    last: Mutex<(u64, u128)>,
}

impl IdGenerator {
    /// A new id and the millisecond time it carries.
    pub fn next(&self) -> (String, u64) {
        self.next_after("")
    }

    /// A new id that also sorts after `floor` (the greatest id another
    /// node may have committed: clocks of different machines differ), and
    /// the millisecond time it carries.
    pub fn next_after(&self, floor: &str) -> (String, u64) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let (ms, random) = {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(f) = decode(floor) {
                *last = (*last).max(f);
            }
            let next = if now > last.0 {
                (now, fresh_random())
            } else if last.1 + 1 < (1u128 << RANDOM_BITS) {
                (last.0, last.1 + 1)
            } else {
                (last.0 + 1, fresh_random())
            };
            *last = next;
            next
        };
        (encode(ms, random), ms)
    }
}

/// Is `s` a timeline cursor: a status id, or the start of one? Ids are 26
/// characters of Crockford's base32 (upper case, as ids are made) that
/// sort by time, so a prefix is a bound as well: `after=0` is the
/// beginning, `after=01JD3Q` a moment. What `before`, `after` and
/// `Last-Event-ID` are checked with.
pub fn is_cursor(s: &str) -> bool {
    (1..=26).contains(&s.len())
        && s.bytes().all(|b| CROCKFORD.contains(&b))
        && (s.len() < 26 || s.as_bytes()[0] <= b'7')
}

/// 80 random bits, with the top one clear so that increments within one
/// millisecond cannot overflow in practice.
fn fresh_random() -> u128 {
    rand::random::<u128>() & ((1u128 << (RANDOM_BITS - 1)) - 1)
}

/// The (time, random) parts of a 26-character id, if it is one.
fn decode(id: &str) -> Option<(u64, u128)> {
    if id.len() != 26 {
        return None;
    }
    let mut value = 0u128;
    for b in id.bytes() {
        let digit = CROCKFORD.iter().position(|&c| c == b)?;
        value = value.checked_mul(32)? | digit as u128;
    }
    let random = value & ((1u128 << RANDOM_BITS) - 1);
    Some(((value >> RANDOM_BITS) as u64, random))
}

fn encode(ms: u64, random: u128) -> String {
    let value = (u128::from(ms) << RANDOM_BITS) | random;
    (0..26)
        .map(|i| CROCKFORD[((value >> (5 * (25 - i))) & 31) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_26_chars_and_strictly_increasing() {
        let g = IdGenerator::default();
        let mut prev = String::new();
        for _ in 0..10_000 {
            let (id, _) = g.next();
            assert_eq!(id.len(), 26);
            assert!(id > prev, "{id} after {prev}");
            prev = id;
        }
    }

    #[test]
    fn ids_sort_after_a_floor_from_a_clock_ahead() {
        let g = IdGenerator::default();
        let (mine, ms) = g.next();
        assert_eq!(decode(&mine).map(|(t, _)| t), Some(ms));
        // Another node, its clock a minute ahead, committed this one.
        let ahead = encode(ms + 60_000, 12345);
        let (after, _) = g.next_after(&ahead);
        assert!(after > ahead, "{after} after {ahead}");
        let (next, _) = g.next();
        assert!(next > after, "still monotonic: {next} after {after}");
        // A floor below what this node made changes nothing.
        let (later, _) = g.next_after(&mine);
        assert!(later > next);
    }

    #[test]
    fn what_a_cursor_looks_like() {
        let (id, _) = IdGenerator::default().next();
        assert!(is_cursor(&id));
        for ok in ["0", "01JD3Q", "01ARZ3NDEKTSV4RRFFQ69G5FAV"] {
            assert!(is_cursor(ok), "{ok:?}");
        }
        for not in [
            "",
            "zzz",
            "\0",
            "a\"b",
            "<x>",
            "01ARZ3NDEKTSV4RRFFQ69G5FAVX",
            "01arz3ndektsv4rrffq69g5fav",
            "81ARZ3NDEKTSV4RRFFQ69G5FAV",
            "01ARZ3NDEKTSV4RRFFQ69G5FAU",
        ] {
            assert!(!is_cursor(not), "{not:?}");
        }
    }

    #[test]
    fn the_time_is_the_prefix() {
        // The ULID specification's example: 1469922850259 ms is 01ARZ3NDEK.
        assert!(encode(1_469_922_850_259, 0).starts_with("01ARZ3NDEK"));
    }
}
