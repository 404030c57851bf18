//! Preparation of JID parts: usernames (localparts) and resources.
//!
//! RFC 7622 replaced stringprep by PRECIS, but deployed servers and the `jid`
//! crate still apply the stringprep profiles of RFC 6122 (Nodeprep,
//! Resourceprep); using the same ones keeps our names equal to what the
//! `jid` crate produces when it parses a JID. On top of Nodeprep, the
//! characters RFC 7622 §3.3.1 forbids in a localpart are refused explicitly.

/// A name that cannot be a JID part.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct PrepError(pub &'static str);

/// Longest JID part, in bytes (RFC 7622 §3.3.1, §3.4.1).
pub const MAX_PART_BYTES: usize = 1023;

/// Characters RFC 7622 forbids in a localpart, besides spaces and controls.
const FORBIDDEN_IN_LOCALPART: &str = "\"&'/:<>@";

/// Normalise a username (JID localpart): Nodeprep (which lowercases),
/// 1–1023 bytes, none of `"&'/:<>@`, spaces or control characters.
pub fn nodeprep(name: &str) -> Result<String, PrepError> {
    let prepped = stringprep::nodeprep(name).map_err(|_| PrepError("not a valid username"))?;
    if prepped.is_empty() || prepped.len() > MAX_PART_BYTES {
        return Err(PrepError("a username is 1 to 1023 bytes"));
    }
    if prepped
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || FORBIDDEN_IN_LOCALPART.contains(c))
    {
        return Err(PrepError(
            "a username has no spaces, controls or any of \"&'/:<>@",
        ));
    }
    Ok(prepped.into_owned())
}

/// Whether `name` is a username in canonical form: valid, and unchanged by
/// [`nodeprep`] (so `alice` is, `Alice` is not). Use it to check names that
/// should already have been normalised, e.g. ones read back from storage.
pub fn valid_username(name: &str) -> bool {
    nodeprep(name).is_ok_and(|p| p == name)
}

/// Normalise a resource: Resourceprep (case is kept), 1–1023 bytes.
pub fn resourceprep(resource: &str) -> Result<String, PrepError> {
    let prepped =
        stringprep::resourceprep(resource).map_err(|_| PrepError("not a valid resource"))?;
    if prepped.is_empty() || prepped.len() > MAX_PART_BYTES {
        return Err(PrepError("a resource is 1 to 1023 bytes"));
    }
    Ok(prepped.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_case_folded_and_checked() {
        assert_eq!(nodeprep("Alice").unwrap(), "alice");
        assert_eq!(nodeprep("ÉLODIE").unwrap(), "élodie");
        assert_eq!(nodeprep("a.b_c-d+1").unwrap(), "a.b_c-d+1");
        for bad in [
            "", "a b", "a@b", "a/b", "a:b", "a<b", "a>b", "a'b", "a\"b", "a&b", "a\tb", "a\u{7f}b",
            "a\u{a0}b",
        ] {
            assert!(nodeprep(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(nodeprep(&"x".repeat(1023)).is_ok());
        assert!(nodeprep(&"x".repeat(1024)).is_err());
        // 512 two-byte characters: 1024 bytes.
        assert!(nodeprep(&"é".repeat(512)).is_err());
    }

    #[test]
    fn agrees_with_the_jid_crate() {
        for name in ["Alice", "ÉLODIE", "ǅemal"] {
            let jid = jid::BareJid::new(&format!("{name}@localhost")).unwrap();
            assert_eq!(jid.node().unwrap().as_str(), nodeprep(name).unwrap());
        }
    }

    #[test]
    fn canonical_usernames() {
        assert!(valid_username("alice"));
        assert!(!valid_username("Alice"));
        assert!(!valid_username("a b"));
        assert!(!valid_username(""));
    }

    #[test]
    fn resources_keep_case() {
        assert_eq!(resourceprep("Laptop 1").unwrap(), "Laptop 1");
        assert!(resourceprep("").is_err());
        assert!(resourceprep(&"r".repeat(1024)).is_err());
    }
}
