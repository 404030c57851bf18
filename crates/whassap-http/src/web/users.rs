//! `GET /{username}`: a user's page (current status, history, and how to
//! follow them from an XMPP client); `GET /{username}/statuses/{id}`: one
//! status, the page its `url` points at, with a delete button for its
//! author; `POST /{username}/statuses/{id}/delete`.

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use whassap_server::accounts;
use whassap_server::statuses::{self, Status, BOT_USERNAME};

use super::components::{csrf_field, pager, status_list, status_path, user_path, when};
use super::csrf;
use super::error::WebError;
use super::form::FormData;
use super::layout::{self, Chrome};
use super::paging::{self, Cursor};
use super::session::Visitor;
use super::timeline::stream_url;
use crate::AppState;

/// The PEP node of XEP-0277 microblogs.
const MICROBLOG: &str = "urn:xmpp:microblog:0";

fn no_such_user(name: &str) -> WebError {
    WebError::not_found(format!("There is no user {name:?} here."))
}

/// The account of a page's path and its display name; 404 if none.
async fn account(state: &AppState, name: &str) -> Result<(String, String), WebError> {
    let user = accounts::normalise(name, true).map_err(|_| no_such_user(name))?;
    let display = state
        .server
        .store
        .display_name(&user)
        .await?
        .ok_or_else(|| no_such_user(name))?
        .unwrap_or_else(|| user.clone());
    Ok((user, display))
}

fn current(status: Option<&Status>) -> Markup {
    html! {
        div.current data-current {
            @if let Some(s) = status {
                blockquote.current-text data-id=(s.id) { (s.text) }
                p.meta {
                    "Current status · "
                    a.when href=(status_path(s)) { (when(&s.created_at)) }
                }
            } @else {
                p.muted { "No status yet." }
            }
        }
    }
}

fn follow_hint(user: &str, domain: &str, display: &str, bot: &str) -> Markup {
    let microblog = MICROBLOG;
    let jid = format!("{user}@{domain}");
    let jid_uri = format!("{}@{domain}", &user_path(user)[1..]);
    html! {
        section.card.follow {
            h2 { "Follow " (display) " from your XMPP client" }
            ul {
                li {
                    "Add " code { (jid) } " to your contacts. Clients that show microblogs "
                    "(XEP-0277) get each status the moment it is posted, over PEP."
                }
                li {
                    "Or subscribe to the node " code { (microblog) } " on " code { (jid) }
                    " (XEP-0060): it works from any server, no contact needed."
                }
                li {
                    "Set your own status by chatting with the bot " code { (bot) }
                    ": whatever you send it becomes your status."
                }
            }
            p.actions {
                a.button href={ "xmpp:" (jid_uri) "?roster" } { "Add to contacts" }
                " "
                a href={ "xmpp:" (jid_uri) "?pubsub;action=subscribe;node=" (microblog) } { "Subscribe" }
            }
        }
    }
}

/// A user's page.
pub async fn show(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, WebError> {
    let (user, display) = account(&state, &name).await?;
    let cursor = Cursor::from_query(query.as_deref())?;
    let page = paging::load(&state, Some(&user), &cursor).await?;
    let latest = match cursor {
        Cursor::Latest => page.statuses.first().cloned(),
        _ => paging::load(&state, Some(&user), &Cursor::Latest)
            .await?
            .statuses
            .into_iter()
            .next(),
    };
    let store = &state.server.store;
    let count = store.statuses_count(&user).await?;
    let domain = &state.server.config.domain;
    let jid = format!("{user}@{domain}");
    let stream = (cursor == Cursor::Latest).then(|| stream_url(Some(&user), page.statuses.first()));
    let path = user_path(&user);
    let content = html! {
        section.card.profile {
            h1 { (display) }
            p.jid { (jid) }
            (current(latest.as_ref()))
            p.muted { (count) @if count == 1 { " status" } @else { " statuses" } }
        }
        (follow_hint(&user, domain, &display, &format!("{BOT_USERNAME}@{domain}")))
        div.heading { h2 { "History" } }
        (status_list(&page.statuses, stream.as_deref(), "No statuses yet."))
        (pager(&path, &page))
    };
    Ok(layout::page(&Chrome::new(&state, &visitor), &display, content).into_response())
}

/// One status, the page its `url` points at.
pub async fn status(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((name, id)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let (user, _) = account(&state, &name).await?;
    let record = state
        .server
        .store
        .status(&id)
        .await?
        .filter(|r| r.author == user)
        .ok_or_else(|| {
            WebError::not_found("There is no such status (it may have been deleted).")
        })?;
    let s = Status::from_record(&state.server.config, record)?;
    let owner = visitor.username() == Some(user.as_str());
    let content = html! {
        article.card.single data-id=(s.id) {
            a.author href=(user_path(&user)) {
                strong.name { (s.author.display_name) }
                " "
                span.jid { (s.author.jid) }
            }
            p.text.big { (s.text) }
            p.meta {
                (when(&s.created_at))
                " · via " span.source { (s.source.as_str()) }
            }
            @if let (true, Some(session)) = (owner, &visitor.session) {
                form.inline method="post" action={ (status_path(&s)) "/delete" } {
                    (csrf_field(&session.csrf))
                    button.danger type="submit" { "Delete this status" }
                }
            }
        }
        p { a href=(user_path(&user)) { "← More from " (s.author.display_name) } }
    };
    let title = format!("{}: {}", s.author.display_name, s.text);
    Ok(layout::page(&Chrome::new(&state, &visitor), &title, content).into_response())
}

/// Delete a status: its author only (403 for anyone else), retracted
/// everywhere through the pipeline; back to the author's page.
pub async fn delete_status(
    State(state): State<AppState>,
    visitor: Visitor,
    Path((name, id)): Path<(String, String)>,
    form: FormData,
) -> Result<Response, WebError> {
    let session = csrf::check_session(&visitor, &form)?;
    let (user, _) = account(&state, &name).await?;
    let exists = state
        .server
        .store
        .status(&id)
        .await?
        .is_some_and(|r| r.author == user);
    if !exists {
        return Err(WebError::not_found(
            "There is no such status (it may have been deleted).",
        ));
    }
    statuses::delete(&state.server, &session.username, &id).await?;
    Ok(Redirect::to(&user_path(&user)).into_response())
}
