//! The client side of one SCRAM exchange.

use base64::Engine;
use subtle::ConstantTimeEq;

use super::{attr, encode_saslname, random_nonce, valid_nonce, xor, Hash, ScramError, B64};

/// Salt, iteration count and the salted password computed for them.
type SaltedPassword = (Vec<u8>, u32, Vec<u8>);

/// The client side of one SCRAM exchange (the project's client, the CLI,
/// tests and the benchmark), without channel binding (GS2 header `n,,`).
///
/// Steps: [`client_first`](Self::client_first) →
/// [`handle_server_first`](Self::handle_server_first) →
/// [`verify_server_final`](Self::verify_server_final).
pub struct ScramClient {
    hash: Hash,
    username: String,
    password: String,
    nonce: String,
    client_first_bare: Option<String>,
    cached: Option<SaltedPassword>,
    salted: Option<SaltedPassword>,
    server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    /// A client for `username` with `password` and a random nonce.
    pub fn new(hash: Hash, username: &str, password: &str) -> Self {
        Self::with_nonce(hash, username, password, &random_nonce())
    }

    /// A client with a chosen nonce (test vectors); a nonce is printable
    /// ASCII without `,`, anything else is replaced by a random one.
    pub fn with_nonce(hash: Hash, username: &str, password: &str, nonce: &str) -> Self {
        let nonce = if valid_nonce(nonce) {
            nonce.to_string()
        } else {
            random_nonce()
        };
        ScramClient {
            hash,
            username: username.to_string(),
            password: password.to_string(),
            nonce,
            client_first_bare: None,
            cached: None,
            salted: None,
            server_signature: None,
        }
    }

    /// Reuse a salted password computed earlier (see
    /// [`salted_password`](Self::salted_password)) when the server announces
    /// the same salt and iteration count: skips PBKDF2, the costly step.
    pub fn with_cached_salted_password(
        mut self,
        salt: Vec<u8>,
        iterations: u32,
        salted: Vec<u8>,
    ) -> Self {
        self.cached = Some((salt, iterations, salted));
        self
    }

    /// The (salt, iterations, salted password) of this exchange once the
    /// server-first-message was handled, for the caller to cache. The salted
    /// password is a password equivalent: keep it in memory only.
    pub fn salted_password(&self) -> Option<(Vec<u8>, u32, Vec<u8>)> {
        self.salted.clone()
    }

    /// client-first-message: `n,,n=<user>,r=<nonce>`.
    pub fn client_first(&mut self) -> Vec<u8> {
        let bare = format!("n={},r={}", encode_saslname(&self.username), self.nonce);
        let msg = format!("n,,{bare}").into_bytes();
        self.client_first_bare = Some(bare);
        msg
    }

    /// Handle server-first-message; returns client-final-message.
    pub fn handle_server_first(&mut self, msg: &[u8]) -> Result<Vec<u8>, ScramError> {
        let client_first_bare = self
            .client_first_bare
            .as_deref()
            .ok_or(ScramError::OutOfOrder)?;
        let text = std::str::from_utf8(msg).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        if let Some(reason) = text.strip_prefix("e=") {
            return Err(ScramError::ServerRejected(reason.to_string()));
        }
        let mut fields = text.split(',');
        let first = fields.next();
        if first.is_some_and(|f| f.starts_with("m=")) {
            return Err(ScramError::Malformed(
                "mandatory extensions are not supported",
            ));
        }
        let nonce = attr(first, 'r')?;
        let salt = B64
            .decode(attr(fields.next(), 's')?)
            .map_err(|_| ScramError::Malformed("bad salt"))?;
        let iterations: u32 = attr(fields.next(), 'i')?
            .parse()
            .map_err(|_| ScramError::Malformed("bad iteration count"))?;
        if !valid_nonce(nonce) || !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len()
        {
            return Err(ScramError::NonceMismatch);
        }
        if iterations == 0 {
            return Err(ScramError::Malformed("zero iterations"));
        }
        let salted = match &self.cached {
            Some((s, i, p)) if *s == salt && *i == iterations => p.clone(),
            _ => self.hash.salted_password(&self.password, &salt, iterations),
        };
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{client_first_bare},{text},{without_proof}");
        let client_key = self.hash.hmac(&salted, b"Client Key");
        let stored_key = self.hash.digest(&client_key);
        let signature = self.hash.hmac(&stored_key, auth_message.as_bytes());
        let proof = xor(&client_key, &signature);
        let server_key = self.hash.hmac(&salted, b"Server Key");
        self.server_signature = Some(self.hash.hmac(&server_key, auth_message.as_bytes()));
        self.salted = Some((salt, iterations, salted));
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Check server-final-message (`v=`, mutual authentication); an `e=`
    /// message becomes [`ScramError::ServerRejected`].
    pub fn verify_server_final(&self, msg: &[u8]) -> Result<(), ScramError> {
        let expected = self
            .server_signature
            .as_ref()
            .ok_or(ScramError::OutOfOrder)?;
        let text = std::str::from_utf8(msg).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        if let Some(reason) = text.strip_prefix("e=") {
            return Err(ScramError::ServerRejected(reason.to_string()));
        }
        let got = B64
            .decode(attr(Some(text), 'v')?)
            .map_err(|_| ScramError::Malformed("bad verifier"))?;
        if got.ct_eq(expected).into() {
            Ok(())
        } else {
            Err(ScramError::InvalidProof)
        }
    }
}
