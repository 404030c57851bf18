//! CSRF protection of every form that changes something.
//!
//! - **Logged in**: each session has its own random synchronizer token,
//!   stored with it; every form of the session carries it in the hidden
//!   field `csrf`, and a post is accepted only if the field equals the
//!   session's token (compared in constant time).
//! - **Logging in and signing up** (no session yet): a double-submit token.
//!   The form page sets a random token in the `whassap_csrf` cookie
//!   (`HttpOnly`, `SameSite=Lax`) and the same token in the form; the post
//!   must bring both, equal. Another site can make a browser send the
//!   cookie but cannot read it, so it cannot fill in the field: nobody can
//!   be logged into someone else's account unawares.
//!
//! A post that fails the check gets 403 before anything else is looked at.

use axum_extra::extract::cookie::Cookie;
use subtle::ConstantTimeEq;

use super::error::WebError;
use super::form::FormData;
use super::session::{self, Session, Visitor};

/// The hidden form field that carries the token.
pub const FIELD: &str = "csrf";

const REFUSED: &str = "This form has expired or did not come from this site. \
                       Reload the page and try again.";

/// Equal, in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The session of a logged-in visitor whose form carries its token;
/// 403 otherwise.
pub fn check_session<'a>(visitor: &'a Visitor, form: &FormData) -> Result<&'a Session, WebError> {
    match &visitor.session {
        Some(s) if same(&s.csrf, form.get(FIELD)) => Ok(s),
        Some(_) => Err(WebError::forbidden(REFUSED)),
        None => Err(WebError::forbidden(
            "You are not logged in (or your session has ended): log in and try again.",
        )),
    }
}

/// Accept a login or sign-up form only if its token equals the pre-session
/// cookie's; 403 otherwise.
pub fn check_pre_session(visitor: &Visitor, form: &FormData) -> Result<(), WebError> {
    match &visitor.pre_csrf {
        Some(c) if same(c, form.get(FIELD)) => Ok(()),
        Some(_) => Err(WebError::forbidden(REFUSED)),
        None => Err(WebError::forbidden(
            "Logging in needs cookies: allow them for this site, reload the page and try again.",
        )),
    }
}

/// The token for a login or sign-up form: the one in the visitor's cookie,
/// or a new one with the cookie to set.
pub fn pre_session_token(visitor: &Visitor) -> (String, Option<Cookie<'static>>) {
    match &visitor.pre_csrf {
        Some(t) => (t.clone(), None),
        None => {
            let t = session::random_token();
            let cookie = session::pre_session_cookie(&t, visitor.secure);
            (t, Some(cookie))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visitor(session_token: Option<&str>, pre: Option<&str>) -> Visitor {
        Visitor {
            session: session_token.map(|t| Session::for_tests("alice", t)),
            pre_csrf: pre.map(str::to_owned),
            secure: false,
        }
    }

    #[test]
    fn session_forms_need_the_sessions_token() {
        let form = FormData::parse(b"csrf=abc");
        assert!(check_session(&visitor(Some("abc"), None), &form).is_ok());
        assert!(check_session(&visitor(Some("abd"), None), &form).is_err());
        assert!(check_session(&visitor(None, Some("abc")), &form).is_err());
        let empty = FormData::parse(b"csrf=");
        assert!(check_session(&visitor(Some(""), None), &empty).is_err());
    }

    #[test]
    fn login_forms_need_the_cookies_token() {
        let form = FormData::parse(b"csrf=xyz");
        assert!(check_pre_session(&visitor(None, Some("xyz")), &form).is_ok());
        assert!(check_pre_session(&visitor(None, Some("xy")), &form).is_err());
        assert!(check_pre_session(&visitor(None, None), &form).is_err());
        let (t, cookie) = pre_session_token(&visitor(None, None));
        assert_eq!(cookie.expect("a cookie to set").value(), t);
        let (t, cookie) = pre_session_token(&visitor(None, Some("xyz")));
        assert_eq!((t.as_str(), cookie), ("xyz", None));
    }
}
