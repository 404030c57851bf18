//! Server Dialback (XEP-0220) keys, generated as XEP-0185 recommends:
//! `HMAC-SHA256(SHA256(secret), receiving ' ' originating ' ' stream-id)`,
//! hex-encoded, where the HMAC key is the hex form of `SHA256(secret)` (as
//! the XEP's worked example computes it).
//!
//! Written here rather than taken from a crate: no maintained Rust crate
//! implements dialback, and it is one keyed hash and three elements.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use crate::s2s::{NS_DIALBACK as NS, NS_DIALBACK_FEATURE as NS_FEATURE};

/// The key the originating server sends for the stream `stream_id` that
/// the receiving server opened.
pub fn key(secret: &[u8], receiving: &str, originating: &str, stream_id: &str) -> String {
    let hashed = hex::encode(Sha256::digest(secret));
    let mut mac =
        Hmac::<Sha256>::new_from_slice(hashed.as_bytes()).expect("HMAC takes any key length");
    mac.update(receiving.as_bytes());
    mac.update(b" ");
    mac.update(originating.as_bytes());
    mac.update(b" ");
    mac.update(stream_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Is `candidate` the key this server would have generated? Compared in
/// constant time.
pub fn is_valid(
    secret: &[u8],
    receiving: &str,
    originating: &str,
    stream_id: &str,
    candidate: &str,
) -> bool {
    let expected = key(secret, receiving, originating, stream_id);
    expected
        .as_bytes()
        .ct_eq(candidate.trim().as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_xep_0185_example() {
        // XEP-0185 §4.
        assert_eq!(
            key(
                b"s3cr3tf0rd14lb4ck",
                "xmpp.example.com",
                "example.org",
                "D60000229F"
            ),
            "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643"
        );
    }

    #[test]
    fn a_key_is_bound_to_its_stream_and_domains() {
        let k = key(b"secret", "b.example", "a.example", "id1");
        assert!(is_valid(b"secret", "b.example", "a.example", "id1", &k));
        assert!(!is_valid(b"secret", "b.example", "a.example", "id2", &k));
        assert!(!is_valid(b"secret", "c.example", "a.example", "id1", &k));
        assert!(!is_valid(b"other", "b.example", "a.example", "id1", &k));
    }
}
