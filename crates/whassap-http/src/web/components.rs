//! Pieces that several pages show: a status in a list, the list itself
//! (live or not), the pager, messages and hidden form tokens. The script
//! (`static/app.js`) builds new statuses with the same markup.

use maud::{html, Markup};
use whassap_server::statuses::Status;

use super::csrf;
use super::paging::Page;

/// `2026-11-24T19:00:00Z` as `2026-11-24 19:00 UTC` (the script turns it
/// into the reader's local, relative time).
pub fn when_text(created_at: &str) -> String {
    match (created_at.get(..10), created_at.get(11..16)) {
        (Some(day), Some(hm)) => format!("{day} {hm} UTC"),
        _ => created_at.to_string(),
    }
}

/// A user's page, relative to this site: `/` and the username as one
/// percent-encoded path segment (usernames may hold `?`, `#` or `%`).
pub fn user_path(username: &str) -> String {
    format!("/{}", whassap_server::statuses::user_segment(username))
}

/// A `<time>` of an RFC 3339 UTC time (shown local and relative by the
/// script).
pub fn when(at: &str) -> Markup {
    html! { time datetime=(at) { (when_text(at)) } }
}

/// The page of a status, relative to this site.
pub fn status_path(s: &Status) -> String {
    format!("{}/statuses/{}", user_path(&s.author.username), s.id)
}

/// One status in a list.
pub fn status_item(s: &Status) -> Markup {
    html! {
        li.status id={ "s-" (s.id) } data-id=(s.id) {
            a.author href=(user_path(&s.author.username)) {
                strong.name { (s.author.display_name) }
                " "
                span.jid { (s.author.jid) }
            }
            p.text { (s.text) }
            p.meta {
                a.when href=(status_path(s)) { (when(&s.created_at)) }
                " · via "
                span.source { (s.source.as_str()) }
            }
        }
    }
}

/// A list of statuses, newest first. With `stream` (a firehose URL), the
/// script prepends new statuses as they are posted and removes deleted
/// ones.
pub fn status_list(statuses: &[Status], stream: Option<&str>, empty: &str) -> Markup {
    html! {
        ol.statuses #statuses data-stream=[stream] aria-live="polite" {
            @for s in statuses { (status_item(s)) }
        }
        p.empty hidden[!statuses.is_empty()] { (empty) }
    }
}

/// Links to newer and older pages of a timeline at `path`.
pub fn pager(path: &str, page: &Page) -> Markup {
    html! {
        @if page.newer.is_some() || page.older.is_some() {
            nav.pager aria-label="Pages" {
                @if page.newer.is_some() {
                    a rel="prev" href={ (path) "?after=" (page.newer.as_deref().unwrap_or_default()) } { "← Newer" }
                    a href=(path) { "Latest" }
                }
                @if let Some(older) = &page.older {
                    a.older rel="next" href={ (path) "?before=" (older) } { "Older →" }
                }
            }
        }
    }
}

/// The hidden field that carries a form's CSRF token.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name=(csrf::FIELD) value=(token); }
}

/// A form's error message, if any.
pub fn alert(message: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = message {
            p.alert role="alert" { (m) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use whassap_server::statuses::{Author, Source};

    #[test]
    fn text_is_escaped_and_times_are_readable() {
        let s = Status {
            id: "01ABC".into(),
            author: Author {
                username: "alice".into(),
                jid: "alice@localhost".into(),
                display_name: "<b>Alice</b>".into(),
            },
            text: "<script>alert(1)</script> & \"quotes\"".into(),
            source: Source::Web,
            created_at: "2026-11-24T19:00:00Z".into(),
            url: String::new(),
            item_id: "01ABC".into(),
        };
        let html = status_item(&s).into_string();
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"),
            "{html}"
        );
        assert!(html.contains("&lt;b&gt;Alice&lt;/b&gt;"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("href=\"/alice/statuses/01ABC\""), "{html}");
        assert_eq!(when_text("2026-11-24T19:00:00Z"), "2026-11-24 19:00 UTC");
        assert_eq!(user_path("a?b#c%é"), "/a%3Fb%23c%25%C3%A9");
    }
}
