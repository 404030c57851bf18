//! SASL SCRAM (RFC 5802, RFC 7677), server and client, with no I/O.
//!
//! Written here on RustCrypto (`hmac`, `sha1`, `sha2`, `pbkdf2`, `subtle`)
//! rather than taken from the `sasl` crate: that crate's server side keeps
//! the salted password (a password equivalent: whoever reads it can log in),
//! compares proofs in variable time and knows only `tls-unique` channel
//! binding. Here the server stores only StoredKey/ServerKey with the salt and
//! iteration count ([`StoredCredentials`]), compares proofs and keys in
//! constant time, and refuses channel binding (`p=`) until the -PLUS
//! mechanisms (with `tls-exporter`) are added.
//!
//! Passwords are normalised with SASLprep (RFC 4013) before PBKDF2; a
//! password SASLprep refuses (e.g. one with control characters) is used as
//! given, on both sides, so such a password still works consistently.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

mod client;
mod server;

pub use client::ScramClient;
pub use server::ScramServer;

/// The hash function of a SCRAM mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hash {
    /// SCRAM-SHA-1 (RFC 5802).
    Sha1,
    /// SCRAM-SHA-256 (RFC 7677).
    Sha256,
}

impl Hash {
    /// Every supported hash, strongest first (the order to offer mechanisms in).
    pub const ALL: [Hash; 2] = [Hash::Sha256, Hash::Sha1];

    /// The SASL mechanism name (`SCRAM-SHA-1`, `SCRAM-SHA-256`).
    pub fn mechanism(&self) -> &'static str {
        match self {
            Hash::Sha1 => "SCRAM-SHA-1",
            Hash::Sha256 => "SCRAM-SHA-256",
        }
    }

    /// The hash of a SASL mechanism name; None for any other mechanism
    /// (including the -PLUS variants, which are not supported yet).
    pub fn from_mechanism(name: &str) -> Option<Hash> {
        match name {
            "SCRAM-SHA-1" => Some(Hash::Sha1),
            "SCRAM-SHA-256" => Some(Hash::Sha256),
            _ => None,
        }
    }

    /// Stable name for storage (`sha1`, `sha256`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Hash::Sha1 => "sha1",
            Hash::Sha256 => "sha256",
        }
    }

    /// Parse [`as_str`](Self::as_str).
    pub fn parse(s: &str) -> Option<Hash> {
        match s {
            "sha1" => Some(Hash::Sha1),
            "sha256" => Some(Hash::Sha256),
            _ => None,
        }
    }

    /// Output length of the hash in bytes.
    pub fn output_len(&self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
        }
    }

    fn digest(&self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha1 => Sha1::digest(data).to_vec(),
            Hash::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    fn hmac(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha1 => {
                let mut m = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            Hash::Sha256 => {
                let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    /// SaltedPassword := Hi(Normalize(password), salt, i), i.e. PBKDF2.
    fn salted_password(&self, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
        let normalised = stringprep::saslprep(password)
            .map(|p| p.into_owned())
            .unwrap_or_else(|_| password.to_string());
        let mut out = vec![0u8; self.output_len()];
        match self {
            Hash::Sha1 => {
                pbkdf2::pbkdf2_hmac::<Sha1>(normalised.as_bytes(), salt, iterations, &mut out)
            }
            Hash::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(normalised.as_bytes(), salt, iterations, &mut out)
            }
        }
        out
    }
}

/// Why a SCRAM exchange failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScramError {
    /// A message does not follow the grammar of RFC 5802 §7.
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    /// The client asked for channel binding (`p=`), which is not offered.
    #[error("channel binding is not supported")]
    ChannelBindingUnsupported,
    /// The nonce of a later message is not the one of the exchange.
    #[error("nonce mismatch")]
    NonceMismatch,
    /// The proof (or, on the client, the server signature) is wrong; also
    /// the outcome for an unknown user.
    #[error("authentication failed")]
    InvalidProof,
    /// The server ended the exchange with `e=<reason>` (client side).
    #[error("the server refused: {0}")]
    ServerRejected(String),
    /// A step was taken out of order.
    #[error("unexpected SCRAM step")]
    OutOfOrder,
}

impl ScramError {
    /// The SASL failure condition of RFC 6120 §6.5 to send for this error:
    /// `malformed-request` for grammar and ordering errors,
    /// `invalid-mechanism` when the client wanted a channel-binding (-PLUS)
    /// exchange that is not offered, `not-authorized` otherwise.
    pub fn sasl_condition(&self) -> &'static str {
        match self {
            ScramError::Malformed(_) | ScramError::OutOfOrder => "malformed-request",
            ScramError::ChannelBindingUnsupported => "invalid-mechanism",
            ScramError::NonceMismatch
            | ScramError::InvalidProof
            | ScramError::ServerRejected(_) => "not-authorized",
        }
    }
}

/// What the server stores for a user and mechanism: never the password nor
/// the salted password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCredentials {
    /// Mechanism hash.
    pub hash: Hash,
    /// Per-user random salt.
    pub salt: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// StoredKey := H(HMAC(SaltedPassword, "Client Key")).
    pub stored_key: Vec<u8>,
    /// ServerKey := HMAC(SaltedPassword, "Server Key").
    pub server_key: Vec<u8>,
}

impl StoredCredentials {
    /// Iterations used for new credentials (RFC 7677's minimum).
    pub const DEFAULT_ITERATIONS: u32 = 4096;

    /// Length of the salt [`generate`](Self::generate) draws.
    pub const SALT_LEN: usize = 16;

    /// Derive credentials from a password and salt.
    pub fn derive(hash: Hash, password: &str, salt: &[u8], iterations: u32) -> Self {
        let salted = hash.salted_password(password, salt, iterations);
        Self::from_salted(hash, &salted, salt, iterations)
    }

    fn from_salted(hash: Hash, salted: &[u8], salt: &[u8], iterations: u32) -> Self {
        let client_key = hash.hmac(salted, b"Client Key");
        StoredCredentials {
            hash,
            salt: salt.to_vec(),
            iterations,
            stored_key: hash.digest(&client_key),
            server_key: hash.hmac(salted, b"Server Key"),
        }
    }

    /// Derive credentials with a fresh random 16-byte salt.
    pub fn generate(hash: Hash, password: &str, iterations: u32) -> Self {
        let mut salt = [0u8; Self::SALT_LEN];
        rand::thread_rng().fill_bytes(&mut salt);
        Self::derive(hash, password, &salt, iterations)
    }

    /// Check a plaintext password (SASL PLAIN, HTTP Basic) against the
    /// stored key, comparing in constant time.
    pub fn verify_password(&self, password: &str) -> bool {
        let other = Self::derive(self.hash, password, &self.salt, self.iterations);
        other.stored_key.ct_eq(&self.stored_key).into()
    }
}

fn random_nonce() -> String {
    let mut bytes = [0u8; 18];
    rand::thread_rng().fill_bytes(&mut bytes);
    B64.encode(bytes)
}

/// `=2C` → `,` and `=3D` → `=` (RFC 5802 saslname); any other `=` is an error.
fn decode_saslname(s: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(ScramError::Malformed("bad escape in a name")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

fn encode_saslname(s: &str) -> String {
    s.replace('=', "=3D").replace(',', "=2C")
}

/// The value of attribute `key` in `key=value`.
fn attr(part: Option<&str>, key: char) -> Result<&str, ScramError> {
    let p = part.ok_or(ScramError::Malformed("missing attribute"))?;
    let mut chars = p.chars();
    if chars.next() != Some(key) || chars.next() != Some('=') {
        return Err(ScramError::Malformed("unexpected attribute"));
    }
    Ok(&p[2..])
}

/// A nonce is printable ASCII except `,` (RFC 5802 §7).
fn valid_nonce(nonce: &str) -> bool {
    !nonce.is_empty() && nonce.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

#[cfg(test)]
mod tests;
