//! The frame of every page: head (viewport, stylesheet, script), the
//! navigation bar, and the footer with the "push saved" counter.

use maud::{html, Markup, DOCTYPE};

use super::components::user_path;
use super::csrf;
use super::session::Visitor;
use super::stats::PushStats;
use crate::AppState;

/// Where the stylesheet, script and icon are served (versioned, so that a
/// new release is fetched anew).
pub const CSS: &str = concat!("/static/app.css?v=", env!("CARGO_PKG_VERSION"));
/// The script.
pub const JS: &str = concat!("/static/app.js?v=", env!("CARGO_PKG_VERSION"));
/// The icon.
pub const ICON: &str = "/static/icon.svg";

/// What the frame shows around a page's content.
pub struct Chrome {
    /// The logged-in user and their session's form token.
    user: Option<(String, String)>,
    /// The counter, if this page shows it.
    stats: Option<PushStats>,
    /// Offer sign-up in the navigation.
    registration_open: bool,
}

impl Chrome {
    /// For a visitor, with the counter.
    pub fn new(state: &AppState, visitor: &Visitor) -> Chrome {
        Chrome {
            user: visitor
                .session
                .as_ref()
                .map(|s| (s.username.clone(), s.csrf.clone())),
            stats: Some(PushStats::of(&state.server.metrics)),
            registration_open: state.config.registration_open,
        }
    }

    /// For error pages: no user, no counter.
    pub fn bare() -> Chrome {
        Chrome {
            user: None,
            stats: None,
            registration_open: false,
        }
    }
}

/// A whole page: `<title>` is `title · Whassap`.
pub fn page(chrome: &Chrome, title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · Whassap" }
                link rel="icon" href=(ICON) type="image/svg+xml";
                link rel="stylesheet" href=(CSS);
                script src=(JS) defer {}
            }
            body {
                (nav(chrome))
                main { (content) }
                (footer(chrome))
            }
        }
    }
}

fn nav(chrome: &Chrome) -> Markup {
    html! {
        header.site {
            nav.bar aria-label="Site" {
                a.brand href="/" {
                    img src=(ICON) alt="" width="28" height="28";
                    span { "Whassap" }
                }
                div.links {
                    @if let Some((user, token)) = &chrome.user {
                        a href=(user_path(user)) { "@" (user) }
                        a href="/settings" { "Settings" }
                        form.inline method="post" action="/logout" {
                            input type="hidden" name=(csrf::FIELD) value=(token);
                            button.link type="submit" { "Log out" }
                        }
                    } @else {
                        a href="/login" { "Log in" }
                        @if chrome.registration_open {
                            a.button href="/signup" { "Sign up" }
                        }
                    }
                }
            }
        }
    }
}

/// Thousands with commas, as the script writes them too.
pub fn number(n: u64) -> String {
    let digits = n.to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|g| std::str::from_utf8(g).unwrap_or_default())
        .collect();
    groups.join(",")
}

fn footer(chrome: &Chrome) -> Markup {
    html! {
        footer.site {
            @if let Some(s) = &chrome.stats {
                aside.push-saved aria-labelledby="push-saved-title" data-stats="/stats.json" {
                    h2 #push-saved-title { "Push saved" }
                    dl {
                        div { dt { "statuses pushed" } dd data-stat="statuses_pushed" { (number(s.statuses_pushed)) } }
                        div { dt { "push deliveries" } dd data-stat="push_deliveries" { (number(s.push_deliveries)) } }
                        div { dt { "consumers online" } dd data-stat="consumers_online" { (number(s.consumers_online)) } }
                        div.highlight { dt { "polls avoided" } dd data-stat="polls_avoided" { (number(s.polls_avoided)) } }
                    }
                    p.note {
                        "Requests that the same readers, polling every "
                        (s.poll_interval_secs) " s instead of being pushed to, would have made since the server started. "
                        a href="/stats.json" { "stats.json" }
                    }
                }
            }
            p.colophon {
                "Whassap: statuses pushed over XMPP. "
                a href="/api/v1/openapi.json" { "REST API" }
                " · "
                a href="/api/v1/firehose" { "SSE firehose" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn numbers_group_thousands() {
        assert_eq!(number(0), "0");
        assert_eq!(number(999), "999");
        assert_eq!(number(1000), "1,000");
        assert_eq!(number(1234567), "1,234,567");
    }
}
