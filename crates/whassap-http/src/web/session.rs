//! Web sessions. Logging in makes a random session id (256 bits) that goes
//! to the browser in a cookie (`HttpOnly`, `SameSite=Lax`, `Secure` with
//! the `__Host-` prefix when the public URL is https) and to the store as
//! its SHA-256 only, with the session's CSRF token and an expiry
//! ([`SESSION_TTL`]). Sessions are in the store, so they survive a restart;
//! logging out deletes the row, so a copied cookie is worthless after it.

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use whassap_store::StoreError;

use super::error::WebError;
use crate::AppState;

/// How long a session lasts after logging in.
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Name of the session cookie (with `__Host-` in front over https).
const SESSION_COOKIE: &str = "whassap_session";
/// Name of the pre-session CSRF cookie of the login and sign-up forms.
const CSRF_COOKIE: &str = "whassap_csrf";

/// A logged-in visitor's session.
#[derive(Clone, Debug)]
pub struct Session {
    /// The account.
    pub username: String,
    /// The synchronizer token its forms carry.
    pub csrf: String,
    id_sha256: Vec<u8>,
}

/// Who is asking for a page: their session, if logged in, and the
/// pre-session CSRF cookie, if their browser holds one.
#[derive(Clone, Debug)]
pub struct Visitor {
    /// The session, when logged in.
    pub session: Option<Session>,
    /// The value of the pre-session CSRF cookie.
    pub pre_csrf: Option<String>,
    /// Cookies get `Secure` (the public URL is https).
    pub secure: bool,
}

impl Session {
    /// A session that is in no store, for unit tests.
    #[cfg(test)]
    pub fn for_tests(username: &str, csrf: &str) -> Session {
        Session {
            username: username.into(),
            csrf: csrf.into(),
            id_sha256: Vec::new(),
        }
    }
}

impl Visitor {
    /// The logged-in account, if any.
    pub fn username(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.username.as_str())
    }
}

/// 32 random bytes, base64url without padding (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Could this be one of our tokens? (Anything else is not looked up.)
fn plausible(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn is_secure(state: &AppState) -> bool {
    state.server.config.public_url.starts_with("https://")
}

fn cookie_name(base: &str, secure: bool) -> String {
    if secure {
        format!("__Host-{base}")
    } else {
        base.to_string()
    }
}

/// A cookie with our attributes; `max_age` None: until the browser closes.
fn cookie(name: String, value: String, secure: bool, max_age: Option<Duration>) -> Cookie<'static> {
    let mut c = Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .build();
    if let Some(age) = max_age {
        c.set_max_age(time::Duration::try_from(age).ok());
    }
    c
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let jar = CookieJar::from_headers(&parts.headers);
        let secure = is_secure(state);
        let mut session = None;
        if let Some(c) = jar.get(&cookie_name(SESSION_COOKIE, secure)) {
            if plausible(c.value()) {
                let id_sha256 = Sha256::digest(c.value().as_bytes()).to_vec();
                if let Some(r) = state.server.store.web_session(&id_sha256, now_ms()).await? {
                    session = Some(Session {
                        username: r.username,
                        csrf: r.csrf_token,
                        id_sha256,
                    });
                }
            }
        }
        let pre_csrf = jar
            .get(&cookie_name(CSRF_COOKIE, secure))
            .map(|c| c.value().to_string())
            .filter(|v| plausible(v));
        Ok(Visitor {
            session,
            pre_csrf,
            secure,
        })
    }
}

/// Log `username` in: a new session (never one the browser brought, so a
/// planted id is useless) and the cookie that carries it.
pub async fn start(
    state: &AppState,
    username: &str,
    secure: bool,
) -> Result<Cookie<'static>, StoreError> {
    let id = random_token();
    let now = now_ms();
    let ttl = i64::try_from(SESSION_TTL.as_millis()).unwrap_or(i64::MAX);
    state
        .server
        .store
        .web_session_create(
            &Sha256::digest(id.as_bytes()),
            username,
            &random_token(),
            now,
            now.saturating_add(ttl),
        )
        .await?;
    Ok(cookie(
        cookie_name(SESSION_COOKIE, secure),
        id,
        secure,
        Some(SESSION_TTL),
    ))
}

/// Log out: the session is deleted from the store; the answer's cookie
/// clears it in the browser.
pub async fn end(
    state: &AppState,
    session: &Session,
    secure: bool,
) -> Result<Cookie<'static>, StoreError> {
    state
        .server
        .store
        .web_session_delete(&session.id_sha256)
        .await?;
    Ok(cookie(
        cookie_name(SESSION_COOKIE, secure),
        String::new(),
        secure,
        Some(Duration::ZERO),
    ))
}

/// The pre-session CSRF cookie holding `token` (for the login and sign-up
/// forms), kept until the browser closes.
pub fn pre_session_cookie(token: &str, secure: bool) -> Cookie<'static> {
    cookie(
        cookie_name(CSRF_COOKIE, secure),
        token.to_string(),
        secure,
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_plausible() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert!(plausible(&a), "{a}");
        assert!(!plausible("short"));
        assert!(!plausible(&format!("{}\"", &a[..42])));
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_over_https() {
        let c = cookie("n".into(), "v".into(), true, Some(SESSION_TTL)).to_string();
        for part in [
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Max-Age=2592000",
        ] {
            assert!(c.contains(part), "{c} lacks {part}");
        }
        let c = cookie("n".into(), "v".into(), false, None).to_string();
        assert!(!c.contains("Secure") && !c.contains("Max-Age"), "{c}");
        assert_eq!(cookie_name(SESSION_COOKIE, true), "__Host-whassap_session");
    }
}
