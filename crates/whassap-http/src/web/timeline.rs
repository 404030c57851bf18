//! `GET /`: the public timeline, live from the SSE firehose, with the
//! status form for a logged-in visitor; `POST /statuses`: that form, posted
//! through the status pipeline with `source` = `web`.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use whassap_server::statuses::{self, Source, Status, StatusError, MAX_CHARS};

use super::components::{alert, csrf_field, pager, status_list};
use super::csrf;
use super::error::WebError;
use super::form::FormData;
use super::layout::{self, Chrome};
use super::paging::{self, Cursor};
use super::session::{Session, Visitor};
use crate::AppState;

/// The firehose stream a live list listens to: statuses after the newest
/// one shown (so none is missed between the page and the stream), of one
/// user if given.
pub fn stream_url(user: Option<&str>, newest: Option<&Status>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(u) = user {
        query.append_pair("users", u);
    }
    if let Some(s) = newest {
        query.append_pair("after", &s.id);
    }
    let query = query.finish();
    if query.is_empty() {
        "/api/v1/firehose".to_string()
    } else {
        format!("/api/v1/firehose?{query}")
    }
}

/// A status form sent back with what went wrong.
struct Draft<'a> {
    text: &'a str,
    error: &'a str,
}

fn compose(session: &Session, draft: Option<&Draft<'_>>) -> Markup {
    html! {
        section.card.compose {
            form method="post" action="/statuses" {
                label for="status-text" { "What's your status, " (session.username) "?" }
                textarea #status-text name="text" rows="3" required
                    placeholder="at the pub" data-max=(MAX_CHARS)
                    aria-describedby="status-counter" {
                    (draft.map_or("", |d| d.text))
                }
                (alert(draft.map(|d| d.error)))
                div.row {
                    span.counter #status-counter aria-live="polite" {}
                    button type="submit" { "Set status" }
                }
                (csrf_field(&session.csrf))
            }
        }
    }
}

fn intro(registration_open: bool) -> Markup {
    html! {
        section.card.intro {
            h1 { "Statuses, pushed." }
            p {
                "Say what you are up to in 280 characters. Whassap pushes every status "
                "as it is posted: to XMPP clients over PubSub, to pages like this one "
                "over Server-Sent Events, and to webhooks. Nobody has to poll."
            }
            p.cta {
                @if registration_open {
                    a.button href="/signup" { "Sign up" }
                    " or "
                }
                a href="/login" { "log in" }
                " to set yours."
            }
        }
    }
}

async fn render(
    state: &AppState,
    visitor: &Visitor,
    cursor: &Cursor,
    draft: Option<&Draft<'_>>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let page = paging::load(state, None, cursor).await?;
    let live = *cursor == Cursor::Latest;
    let stream = live.then(|| stream_url(None, page.statuses.first()));
    let content = html! {
        @match &visitor.session {
            Some(session) => (compose(session, draft)),
            None => (intro(state.config.registration_open)),
        }
        div.heading {
            h2 { "Public timeline" }
            @if live { span.live hidden title="New statuses appear here as they are posted" { "live" } }
        }
        (status_list(&page.statuses, stream.as_deref(), "No statuses yet."))
        (pager("/", &page))
    };
    let page = layout::page(&Chrome::new(state, visitor), "Public timeline", content);
    Ok((status, page).into_response())
}

/// The public timeline.
pub async fn show(
    State(state): State<AppState>,
    visitor: Visitor,
    RawQuery(query): RawQuery,
) -> Result<Response, WebError> {
    let cursor = Cursor::from_query(query.as_deref())?;
    render(&state, &visitor, &cursor, None, StatusCode::OK).await
}

/// Set your status. A text the pipeline refuses (empty, too long, control
/// characters) re-renders the timeline with the text and the reason (422).
pub async fn post_status(
    State(state): State<AppState>,
    visitor: Visitor,
    form: FormData,
) -> Result<Response, WebError> {
    let session = csrf::check_session(&visitor, &form)?;
    let text = form.get("text");
    match statuses::post(&state.server, &session.username, text, Source::Web, None).await {
        Ok(_) => Ok(Redirect::to("/").into_response()),
        Err(StatusError::Validation(error)) => {
            let draft = Draft {
                text,
                error: &error,
            };
            render(
                &state,
                &visitor,
                &Cursor::Latest,
                Some(&draft),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
