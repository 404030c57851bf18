//! `/signup`, `/login` and `POST /logout`. Passwords are checked against
//! the stored SCRAM keys exactly as HTTP Basic is (with the same slow-down
//! after failures); both forms are protected by a pre-session CSRF token
//! (see [`super::csrf`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use maud::{html, Markup};

use super::components::{alert, csrf_field};
use super::csrf;
use super::error::WebError;
use super::form::FormData;
use super::layout::{self, Chrome};
use super::session::{self, Visitor};
use crate::api::auth::verify_password;
use crate::api::extract::ClientIp;
use crate::api::users::register;
use crate::AppState;

/// What a sign-up or login form shows again after a refusal.
#[derive(Default)]
struct Filled<'a> {
    username: &'a str,
    display_name: &'a str,
    error: Option<&'a str>,
}

/// `msg` as a sentence: capital first letter, final full stop.
fn sentence(msg: &str) -> String {
    let mut out: String = msg
        .chars()
        .take(1)
        .flat_map(char::to_uppercase)
        .chain(msg.chars().skip(1))
        .collect();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// A page with a form that needs the pre-session token, with its cookie
/// set when the browser has none yet.
fn form_page(
    state: &AppState,
    visitor: &Visitor,
    status: StatusCode,
    title: &str,
    form: impl FnOnce(&str) -> Markup,
) -> Response {
    let (token, cookie) = csrf::pre_session_token(visitor);
    let page = layout::page(&Chrome::new(state, visitor), title, form(&token));
    let jar = cookie.into_iter().fold(CookieJar::new(), CookieJar::add);
    (status, jar, page).into_response()
}

fn closed_page(state: &AppState, visitor: &Visitor, status: StatusCode) -> Response {
    let content = html! {
        section.card.narrow {
            h1 { "Sign up" }
            p.alert role="alert" {
                "Registration is closed on this server. Ask its administrator for an account, "
                "then " a href="/login" { "log in" } "."
            }
        }
    };
    (
        status,
        layout::page(&Chrome::new(state, visitor), "Sign up", content),
    )
        .into_response()
}

fn signup_form(token: &str, filled: &Filled<'_>, domain: &str) -> Markup {
    html! {
        section.card.narrow {
            h1 { "Sign up" }
            (alert(filled.error))
            form.stacked method="post" action="/signup" {
                label for="username" { "Username" }
                input #username name="username" required autocomplete="username"
                    autocapitalize="none" spellcheck="false" value=(filled.username)
                    aria-describedby="username-hint";
                p.hint #username-hint {
                    "Letters, digits and . _ - . It is also your XMPP address: name@" (domain) "."
                }
                label for="display_name" { "Display name " span.optional { "(optional)" } }
                input #display_name name="display_name" autocomplete="name" value=(filled.display_name);
                label for="password" { "Password" }
                input #password type="password" name="password" required autocomplete="new-password";
                (csrf_field(token))
                button type="submit" { "Sign up" }
            }
            p.aside { "Already have an account? " a href="/login" { "Log in" } }
        }
    }
}

fn login_form(token: &str, filled: &Filled<'_>, registration_open: bool) -> Markup {
    html! {
        section.card.narrow {
            h1 { "Log in" }
            (alert(filled.error))
            form.stacked method="post" action="/login" {
                label for="username" { "Username" }
                input #username name="username" required autocomplete="username"
                    autocapitalize="none" spellcheck="false" value=(filled.username);
                label for="password" { "Password" }
                input #password type="password" name="password" required autocomplete="current-password";
                (csrf_field(token))
                button type="submit" { "Log in" }
            }
            @if registration_open {
                p.aside { "No account yet? " a href="/signup" { "Sign up" } }
            }
        }
    }
}

/// The sign-up form (or why there is none).
pub async fn signup_page(State(state): State<AppState>, visitor: Visitor) -> Response {
    if visitor.session.is_some() {
        return Redirect::to("/").into_response();
    }
    if !state.config.registration_open {
        return closed_page(&state, &visitor, StatusCode::OK);
    }
    let domain = state.server.config.domain.clone();
    form_page(&state, &visitor, StatusCode::OK, "Sign up", |t| {
        signup_form(t, &Filled::default(), &domain)
    })
}

/// Create the account and log in; a refused name or password re-renders
/// the form with the reason (409 for a taken name, 422 otherwise).
pub async fn signup(
    State(state): State<AppState>,
    visitor: Visitor,
    form: FormData,
) -> Result<Response, WebError> {
    csrf::check_pre_session(&visitor, &form)?;
    if !state.config.registration_open {
        return Ok(closed_page(&state, &visitor, StatusCode::FORBIDDEN));
    }
    let display_name = Some(form.get("display_name").trim()).filter(|d| !d.is_empty());
    let registered = register(
        &state,
        form.get("username"),
        form.get("password"),
        display_name,
    )
    .await;
    let refusal = match registered {
        Ok(name) => {
            let cookie = session::start(&state, &name, visitor.secure).await?;
            return Ok((CookieJar::new().add(cookie), Redirect::to("/")).into_response());
        }
        Err(e) => e,
    };
    let status = match refusal.status() {
        s @ (StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY) => s,
        StatusCode::FORBIDDEN => return Ok(closed_page(&state, &visitor, StatusCode::FORBIDDEN)),
        _ => return Err(refusal.into()),
    };
    let message = sentence(refusal.message());
    let filled = Filled {
        username: form.get("username"),
        display_name: form.get("display_name"),
        error: Some(&message),
    };
    let domain = state.server.config.domain.clone();
    Ok(form_page(&state, &visitor, status, "Sign up", |t| {
        signup_form(t, &filled, &domain)
    }))
}

/// The login form.
pub async fn login_page(State(state): State<AppState>, visitor: Visitor) -> Response {
    if visitor.session.is_some() {
        return Redirect::to("/").into_response();
    }
    let open = state.config.registration_open;
    form_page(&state, &visitor, StatusCode::OK, "Log in", |t| {
        login_form(t, &Filled::default(), open)
    })
}

/// Check the password and start a session; a wrong one re-renders the
/// form (401).
pub async fn login(
    State(state): State<AppState>,
    visitor: Visitor,
    ClientIp(ip): ClientIp,
    form: FormData,
) -> Result<Response, WebError> {
    csrf::check_pre_session(&visitor, &form)?;
    let username = form.get("username").trim();
    if let Some(user) = verify_password(&state, ip, username, form.get("password")).await? {
        let cookie = session::start(&state, &user, visitor.secure).await?;
        return Ok((CookieJar::new().add(cookie), Redirect::to("/")).into_response());
    }
    let filled = Filled {
        username,
        error: Some("Wrong username or password."),
        ..Filled::default()
    };
    let open = state.config.registration_open;
    Ok(form_page(
        &state,
        &visitor,
        StatusCode::UNAUTHORIZED,
        "Log in",
        |t| login_form(t, &filled, open),
    ))
}

/// End the session (deleted from the store) and clear its cookie.
pub async fn logout(
    State(state): State<AppState>,
    visitor: Visitor,
    form: FormData,
) -> Result<Response, WebError> {
    let session = csrf::check_session(&visitor, &form)?;
    let cookie = session::end(&state, session, visitor.secure).await?;
    Ok((CookieJar::new().add(cookie), Redirect::to("/")).into_response())
}

#[cfg(test)]
mod tests {
    use super::sentence;

    #[test]
    fn messages_become_sentences() {
        assert_eq!(
            sentence("the username \"bob\" is taken"),
            "The username \"bob\" is taken."
        );
        assert_eq!(sentence("Done."), "Done.");
    }
}
