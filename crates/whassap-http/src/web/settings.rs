//! `/settings`: personal access tokens (made here, shown once; revoked)
//! and webhooks (registered with their secret shown once; deleted), each
//! webhook with its latest deliveries. Tokens and webhooks are made by the
//! same code as through the REST API, so the same rules apply.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use whassap_store::{AttemptRecord, DeliveryRecord, TokenRecord, WebhookRecord};

use super::components::{alert, csrf_field, when};
use super::csrf;
use super::error::WebError;
use super::form::FormData;
use super::layout::{self, Chrome};
use super::session::{Session, Visitor};
use crate::api::error::ApiError;
use crate::api::tokens::{self, CreatedToken};
use crate::api::webhooks::{self, NewWebhook, UsersFilter};
use crate::AppState;

/// Deliveries shown per webhook.
const RECENT_DELIVERIES: u32 = 5;

/// What the page says besides the lists.
enum Notice<'a> {
    None,
    /// A token just made: its secret, shown this once.
    Token(CreatedToken),
    /// A webhook just registered: its secret, shown this once.
    Webhook(WebhookRecord),
    /// The token form, refused.
    TokenRefused {
        name: &'a str,
        error: String,
    },
    /// The webhook form, refused.
    WebhookRefused {
        form: &'a FormData,
        error: String,
    },
}

fn tokens_section(session: &Session, tokens: &[TokenRecord], notice: &Notice<'_>) -> Markup {
    let (name, error) = match notice {
        Notice::TokenRefused { name, error } => (*name, Some(error.as_str())),
        _ => ("", None),
    };
    html! {
        section.card #tokens {
            h2 { "Personal access tokens" }
            p.muted {
                "For scripts and apps using the " a href="/api/v1/openapi.json" { "REST API" }
                " (" code { "Authorization: Bearer …" } ")."
            }
            @if let Notice::Token(t) = notice {
                div.secret role="status" {
                    p { "Your new token " strong { (t.name) } ". Copy it now: it is not shown again." }
                    code #new-token { (t.token) }
                }
            }
            @if tokens.is_empty() {
                p.muted { "No tokens yet." }
            } @else {
                ul.rows {
                    @for t in tokens {
                        li data-token-id=(t.id) {
                            div.grow {
                                strong { (t.name) }
                                p.meta {
                                    "created " (when(&t.created_at))
                                    " · " @match &t.last_used_at { Some(at) => { "last used " (when(at)) }, None => "never used" }
                                }
                            }
                            form.inline method="post" action={ "/settings/tokens/" (t.id) "/revoke" } {
                                (csrf_field(&session.csrf))
                                button.danger.small type="submit" { "Revoke" }
                            }
                        }
                    }
                }
            }
            form.stacked method="post" action="/settings/tokens" {
                (alert(error))
                label for="token-name" { "New token's name" }
                div.row {
                    input #token-name name="name" required placeholder="my script" value=(name);
                    button type="submit" { "Create token" }
                }
                (csrf_field(&session.csrf))
            }
        }
    }
}

fn attempt_text(a: &AttemptRecord) -> String {
    match (a.status, &a.error) {
        (Some(code), None) => format!("HTTP {code} in {} ms", a.duration_ms),
        (_, Some(e)) => e.clone(),
        (None, None) => "no answer".into(),
    }
}

fn deliveries(list: &[(DeliveryRecord, Vec<AttemptRecord>)]) -> Markup {
    html! {
        @if list.is_empty() {
            p.muted { "No deliveries yet." }
        } @else {
            div.table-wrap {
                table.deliveries {
                    thead { tr { th { "event" } th { "when" } th { "state" } th { "attempts" } th { "last attempt" } } }
                    tbody {
                        @for (d, attempts) in list {
                            tr {
                                td { code { (d.event) } }
                                td { (when(&d.created_at)) }
                                td { span class={ "state state-" (d.state.as_str()) } { (d.state.as_str()) } }
                                td { (attempts.len()) }
                                td { (attempts.last().map(attempt_text).unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
    }
}

type HookWithLog = (WebhookRecord, Vec<(DeliveryRecord, Vec<AttemptRecord>)>);

fn webhooks_section(session: &Session, hooks: &[HookWithLog], notice: &Notice<'_>) -> Markup {
    let (form, error) = match notice {
        Notice::WebhookRefused { form, error } => (Some(*form), Some(error.as_str())),
        _ => (None, None),
    };
    let field = |name: &str| form.map_or(String::new(), |f| f.get(name).to_string());
    html! {
        section.card #webhooks {
            h2 { "Webhooks" }
            p.muted {
                "Each new or deleted status that matches is POSTed to the URL, signed with "
                code { "X-Whassap-Signature" } " (HMAC-SHA256 of the body with the secret)."
            }
            @if let Notice::Webhook(w) = notice {
                div.secret role="status" {
                    p { "Webhook registered. Its signing secret, shown only now:" }
                    code #new-secret { (w.secret) }
                }
            }
            @for (w, log) in hooks {
                div.hook data-webhook-id=(w.id) {
                    div.row {
                        code.grow { (w.url) }
                        form.inline method="post" action={ "/settings/webhooks/" (w.id) "/delete" } {
                            (csrf_field(&session.csrf))
                            button.danger.small type="submit" { "Delete" }
                        }
                    }
                    p.meta {
                        @match &w.users { Some(u) => { "users: " (u.join(", ")) }, None => "everyone" }
                        @if let Some(q) = &w.q { " · containing “" (q) "”" }
                        " · created " (when(&w.created_at))
                    }
                    (deliveries(log))
                }
            }
            @if hooks.is_empty() { p.muted { "No webhooks yet." } }
            form.stacked method="post" action="/settings/webhooks" {
                (alert(error))
                label for="hook-url" { "URL" }
                input #hook-url name="url" type="url" required placeholder="https://example.org/hooks/whassap" value=(field("url"));
                label for="hook-users" { "Only these users " span.optional { "(optional, comma-separated)" } }
                input #hook-users name="users" value=(field("users"));
                label for="hook-q" { "Only statuses containing " span.optional { "(optional)" } }
                input #hook-q name="q" value=(field("q"));
                label for="hook-secret" { "Secret " span.optional { "(optional; generated if empty)" } }
                input #hook-secret name="secret" autocomplete="off";
                (csrf_field(&session.csrf))
                button type="submit" { "Add webhook" }
            }
        }
    }
}

async fn render(
    state: &AppState,
    visitor: &Visitor,
    session: &Session,
    notice: Notice<'_>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let store = &state.server.store;
    let user = &session.username;
    let tokens = store.tokens(user).await?;
    let mut hooks = Vec::new();
    for w in store.webhooks(user).await? {
        let mut log = Vec::new();
        for d in store
            .webhook_deliveries_recent(&w.id, RECENT_DELIVERIES)
            .await?
        {
            let attempts = store.delivery_attempts(&d.id).await?;
            log.push((d, attempts));
        }
        hooks.push((w, log));
    }
    let domain = &state.server.config.domain;
    let content = html! {
        section.card {
            h1 { "Settings" }
            p {
                "Logged in as " strong { (user) } ". Your XMPP address is "
                code { (user) "@" (domain) } ": log in with any XMPP client and the same password."
            }
        }
        (tokens_section(session, &tokens, &notice))
        (webhooks_section(session, &hooks, &notice))
    };
    let page = layout::page(&Chrome::new(state, visitor), "Settings", content);
    Ok((status, page).into_response())
}

/// The settings page (the login page for visitors not logged in).
pub async fn show(State(state): State<AppState>, visitor: Visitor) -> Result<Response, WebError> {
    let Some(session) = &visitor.session else {
        return Ok(Redirect::to("/login").into_response());
    };
    render(&state, &visitor, session, Notice::None, StatusCode::OK).await
}

/// A refusal the form can show (4xx), or the error page (5xx).
fn refused(e: ApiError) -> Result<(StatusCode, String), WebError> {
    match e.status() {
        s if s.is_client_error() => Ok((StatusCode::UNPROCESSABLE_ENTITY, e.message().to_string())),
        _ => Err(e.into()),
    }
}

/// Make a token; the page shows it once (201).
pub async fn create_token(
    State(state): State<AppState>,
    visitor: Visitor,
    form: FormData,
) -> Result<Response, WebError> {
    let session = csrf::check_session(&visitor, &form)?;
    let name = form.get("name");
    let (notice, status) = match tokens::create_for(&state, &session.username, name).await {
        Ok(created) => (Notice::Token(created), StatusCode::CREATED),
        Err(e) => {
            let (status, error) = refused(e)?;
            (Notice::TokenRefused { name, error }, status)
        }
    };
    render(&state, &visitor, session, notice, status).await
}

/// Revoke one of your tokens.
pub async fn revoke_token(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, WebError> {
    let session = csrf::check_session(&visitor, &form)?;
    if state.server.delete_token(&session.username, &id).await? {
        Ok(Redirect::to("/settings#tokens").into_response())
    } else {
        Err(WebError::not_found("You have no such token."))
    }
}

/// Register a webhook; the page shows its secret once (201).
pub async fn create_webhook(
    State(state): State<AppState>,
    visitor: Visitor,
    form: FormData,
) -> Result<Response, WebError> {
    let session = csrf::check_session(&visitor, &form)?;
    let optional = |name: &str| Some(form.get(name).trim().to_string()).filter(|v| !v.is_empty());
    let new = NewWebhook {
        url: form.get("url").to_string(),
        users: optional("users").map(UsersFilter::Csv),
        q: optional("q"),
        secret: optional("secret"),
    };
    let (notice, status) = match webhooks::create_for(&state, &session.username, new).await {
        Ok(hook) => (Notice::Webhook(hook), StatusCode::CREATED),
        Err(e) => {
            let (status, error) = refused(e)?;
            (Notice::WebhookRefused { form: &form, error }, status)
        }
    };
    render(&state, &visitor, session, notice, status).await
}

/// Delete one of your webhooks (its pending deliveries go with it).
pub async fn delete_webhook(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, WebError> {
    let session = csrf::check_session(&visitor, &form)?;
    if state
        .server
        .store
        .webhook_delete(&session.username, &id)
        .await?
    {
        Ok(Redirect::to("/settings#webhooks").into_response())
    } else {
        Err(WebError::not_found("You have no such webhook."))
    }
}
