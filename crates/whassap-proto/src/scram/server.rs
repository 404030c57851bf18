//! The server side of one SCRAM exchange.

use std::sync::OnceLock;

use base64::Engine;
use rand::RngCore;
use subtle::ConstantTimeEq;

use super::StoredCredentials;
use super::{attr, decode_saslname, random_nonce, valid_nonce, xor, Hash, ScramError, B64};

/// A random key drawn once per process, for servers that do not configure a
/// persistent one (see [`ScramServer::with_secret`]).
fn process_secret() -> &'static [u8; 32] {
    static SECRET: OnceLock<[u8; 32]> = OnceLock::new();
    SECRET.get_or_init(|| {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        key
    })
}

enum State {
    Start,
    GotFirst {
        gs2_header: String,
        client_first_bare: String,
        client_nonce: String,
    },
    SentFirst {
        gs2_header: String,
        auth_prefix: String,
        nonce: String,
        creds: StoredCredentials,
        genuine: bool,
    },
    Done,
}

/// The server side of one SCRAM exchange (RFC 5802 / RFC 7677), sans I/O and
/// without channel binding: the GS2 headers `n,,` and `y,,` are accepted
/// (`y` is right while no -PLUS mechanism is offered), `p=` is refused with
/// [`ScramError::ChannelBindingUnsupported`].
///
/// Steps: [`handle_client_first`](Self::handle_client_first) →
/// [`server_first`](Self::server_first) →
/// [`handle_client_final`](Self::handle_client_final).
pub struct ScramServer {
    hash: Hash,
    secret: Vec<u8>,
    fake_iterations: u32,
    state: State,
    authzid: Option<String>,
    username: String,
    fixed_nonce: Option<String>,
}

impl ScramServer {
    /// A server exchange whose fake salts for unknown users are keyed by a
    /// random per-process secret: stable for the life of the process. A
    /// server running several nodes, or wanting the same answers across
    /// restarts, should use [`with_secret`](Self::with_secret) instead.
    pub fn new(hash: Hash) -> Self {
        Self::with_secret(hash, process_secret())
    }

    /// A server exchange whose fake salts for unknown users are derived from
    /// the username keyed by `secret` (keep it private and stable).
    pub fn with_secret(hash: Hash, secret: &[u8]) -> Self {
        ScramServer {
            hash,
            secret: secret.to_vec(),
            fake_iterations: StoredCredentials::DEFAULT_ITERATIONS,
            state: State::Start,
            authzid: None,
            username: String::new(),
            fixed_nonce: None,
        }
    }

    /// Iteration count announced for unknown users; set it to what new
    /// accounts get so the answer does not stand out (default 4096).
    pub fn fake_iterations(mut self, iterations: u32) -> Self {
        self.fake_iterations = iterations;
        self
    }

    /// A server exchange with a chosen server nonce (test vectors only).
    #[cfg(test)]
    pub(crate) fn with_fixed_nonce(hash: Hash, nonce: &str) -> Self {
        let mut s = Self::with_secret(hash, b"test secret");
        s.fixed_nonce = Some(nonce.to_string());
        s
    }

    /// The mechanism hash of this exchange.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// The authorization identity (`a=`) the client asked for, if any. The
    /// caller must refuse the exchange unless it is the user's own bare JID.
    pub fn authzid(&self) -> Option<&str> {
        self.authzid.as_deref()
    }

    /// Parse client-first-message; returns the authentication identity (the
    /// username, saslname-decoded and SASLprep'd). The caller still applies
    /// its own username rules (nodeprep) before looking credentials up.
    pub fn handle_client_first(&mut self, msg: &[u8]) -> Result<String, ScramError> {
        if !matches!(self.state, State::Start) {
            return Err(ScramError::OutOfOrder);
        }
        let text = std::str::from_utf8(msg).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let mut parts = text.splitn(3, ',');
        let cb = parts.next().unwrap_or_default();
        match cb {
            "n" | "y" => {}
            c if c.starts_with("p=") => return Err(ScramError::ChannelBindingUnsupported),
            _ => return Err(ScramError::Malformed("bad GS2 channel binding flag")),
        }
        let authzid = parts
            .next()
            .ok_or(ScramError::Malformed("missing authzid field"))?;
        let authzid_value = if authzid.is_empty() {
            None
        } else {
            Some(decode_saslname(attr(Some(authzid), 'a')?)?)
        };
        let bare = parts
            .next()
            .ok_or(ScramError::Malformed("missing client-first-message-bare"))?;
        let mut fields = bare.split(',');
        let first = fields.next();
        if first.is_some_and(|f| f.starts_with("m=")) {
            return Err(ScramError::Malformed(
                "mandatory extensions are not supported",
            ));
        }
        let raw_name = decode_saslname(attr(first, 'n')?)?;
        let username = stringprep::saslprep(&raw_name)
            .map_err(|_| ScramError::Malformed("username refused by SASLprep"))?
            .into_owned();
        if username.is_empty() {
            return Err(ScramError::Malformed("empty username"));
        }
        let nonce = attr(fields.next(), 'r')?;
        if !valid_nonce(nonce) {
            return Err(ScramError::Malformed("bad nonce"));
        }
        self.authzid = authzid_value;
        self.username = username.clone();
        self.state = State::GotFirst {
            gs2_header: format!("{cb},{authzid},"),
            client_first_bare: bare.to_string(),
            client_nonce: nonce.to_string(),
        };
        Ok(username)
    }

    /// Produce server-first-message from the user's stored credentials for
    /// this mechanism. With `None` (unknown user, or credentials of another
    /// hash) the answer carries a deterministic fake salt derived from the
    /// username and the server secret, so it looks like a real user's and
    /// repeats identically; the exchange then fails at the proof.
    ///
    /// Called out of order, it returns an empty message and the exchange
    /// fails at [`handle_client_final`](Self::handle_client_final).
    pub fn server_first(&mut self, creds: Option<StoredCredentials>) -> Vec<u8> {
        let State::GotFirst {
            gs2_header,
            client_first_bare,
            client_nonce,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Vec::new();
        };
        let (creds, genuine) = match creds.filter(|c| c.hash == self.hash) {
            Some(c) => (c, true),
            None => (self.fake_credentials(), false),
        };
        let server_nonce = self.fixed_nonce.clone().unwrap_or_else(random_nonce);
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&creds.salt),
            creds.iterations
        );
        self.state = State::SentFirst {
            gs2_header,
            auth_prefix: format!("{client_first_bare},{server_first}"),
            nonce,
            creds,
            genuine,
        };
        server_first.into_bytes()
    }

    fn fake_credentials(&self) -> StoredCredentials {
        let mut input = b"whassap scram fake salt\0".to_vec();
        input.extend_from_slice(self.username.as_bytes());
        let salt = self.hash.hmac(&self.secret, &input)[..StoredCredentials::SALT_LEN].to_vec();
        // Random keys: no proof can match them, and the work done to check the
        // proof is the same as for a real user.
        let mut key = vec![0u8; self.hash.output_len()];
        rand::thread_rng().fill_bytes(&mut key);
        StoredCredentials {
            hash: self.hash,
            salt,
            iterations: self.fake_iterations,
            stored_key: key.clone(),
            server_key: key,
        }
    }

    /// Check client-final-message: the channel binding echo, the nonce, and
    /// the proof (in constant time). Ok(server-final-message `v=…`) on
    /// success. The exchange is over after this call, whatever the outcome.
    pub fn handle_client_final(&mut self, msg: &[u8]) -> Result<Vec<u8>, ScramError> {
        let State::SentFirst {
            gs2_header,
            auth_prefix,
            nonce,
            creds,
            genuine,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(ScramError::OutOfOrder);
        };
        let text = std::str::from_utf8(msg).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("missing proof"))?;
        let mut fields = without_proof.split(',');
        let cbind = attr(fields.next(), 'c')?;
        let got_nonce = attr(fields.next(), 'r')?;
        let cbind = B64
            .decode(cbind)
            .map_err(|_| ScramError::Malformed("bad channel binding encoding"))?;
        if cbind != gs2_header.as_bytes() {
            return Err(ScramError::Malformed(
                "channel binding data differs from the GS2 header",
            ));
        }
        if got_nonce != nonce {
            return Err(ScramError::NonceMismatch);
        }
        let proof = B64
            .decode(proof)
            .map_err(|_| ScramError::Malformed("bad proof encoding"))?;
        let auth_message = format!("{auth_prefix},{without_proof}");
        let signature = self.hash.hmac(&creds.stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return Err(ScramError::InvalidProof);
        }
        let client_key = xor(&proof, &signature);
        let matches: bool = self
            .hash
            .digest(&client_key)
            .ct_eq(&creds.stored_key)
            .into();
        if !(matches && genuine) {
            return Err(ScramError::InvalidProof);
        }
        let server_signature = self.hash.hmac(&creds.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)).into_bytes())
    }
}
