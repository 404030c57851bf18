//! Pages of a timeline for the web pages, with the API's cursors:
//! `?before=<id>` (older than it) and `?after=<id>` (the page just after
//! it, still newest first). Cursors are status ids, so pages neither skip
//! nor repeat statuses when new ones arrive.

use whassap_server::statuses::{is_cursor, Status};
use whassap_store::TimelineQuery;

use super::error::WebError;
use crate::AppState;

/// Statuses per page.
pub const PAGE_SIZE: u32 = 20;

/// Where a page starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Cursor {
    /// The newest statuses.
    #[default]
    Latest,
    /// Older than this id.
    Before(String),
    /// Just after this id.
    After(String),
}

impl Cursor {
    /// From a query string (`before` wins over `after`); 400 for a cursor
    /// that is not a status id.
    pub fn from_query(query: Option<&str>) -> Result<Cursor, WebError> {
        let (mut before, mut after) = (None, None);
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match k.as_ref() {
                "before" if !v.is_empty() => before = Some(v.into_owned()),
                "after" if !v.is_empty() => after = Some(v.into_owned()),
                _ => {}
            }
        }
        if !before.iter().chain(&after).all(|id| is_cursor(id)) {
            return Err(WebError::bad_request(
                "The page cursor (before / after) must be a status id.",
            ));
        }
        Ok(match (before, after) {
            (Some(b), _) => Cursor::Before(b),
            (None, Some(a)) => Cursor::After(a),
            (None, None) => Cursor::Latest,
        })
    }
}

/// One page, newest first, with the cursors of its neighbours.
#[derive(Debug)]
pub struct Page {
    /// The statuses.
    pub statuses: Vec<Status>,
    /// `?after=` of the newer page, if there are newer statuses.
    pub newer: Option<String>,
    /// `?before=` of the older page, if there are older statuses.
    pub older: Option<String>,
}

async fn fetch(
    state: &AppState,
    author: Option<&str>,
    before: Option<&str>,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<whassap_store::StatusRecord>, WebError> {
    Ok(state
        .server
        .store
        .timeline(&TimelineQuery {
            author,
            q: None,
            before,
            after,
            limit,
        })
        .await?)
}

/// The page of the public timeline (`author` None) or of one user's.
pub async fn load(
    state: &AppState,
    author: Option<&str>,
    cursor: &Cursor,
) -> Result<Page, WebError> {
    let (mut rows, has_newer, has_older) = match cursor {
        Cursor::After(after) => {
            // Fetched upwards from `after`: an extra row is a newer one.
            let mut rows = fetch(state, author, None, Some(after), PAGE_SIZE + 1).await?;
            let newer = rows.len() > PAGE_SIZE as usize;
            if newer {
                rows.remove(0);
            }
            (rows, newer, true)
        }
        Cursor::Latest | Cursor::Before(_) => {
            let before = match cursor {
                Cursor::Before(b) => Some(b.as_str()),
                _ => None,
            };
            let mut rows = fetch(state, author, before, None, PAGE_SIZE + 1).await?;
            let older = rows.len() > PAGE_SIZE as usize;
            rows.truncate(PAGE_SIZE as usize);
            let newer = match (before, rows.first()) {
                (Some(_), Some(first)) => !fetch(state, author, None, Some(&first.id), 1)
                    .await?
                    .is_empty(),
                _ => false,
            };
            (rows, newer, older)
        }
    };
    if matches!(cursor, Cursor::After(_)) && rows.is_empty() {
        // Nothing newer than the cursor: the latest page it is.
        return Box::pin(load(state, author, &Cursor::Latest)).await;
    }
    let statuses = rows
        .drain(..)
        .map(|r| Status::from_record(&state.server.config, r))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page {
        newer: has_newer
            .then(|| statuses.first().map(|s| s.id.clone()))
            .flatten(),
        older: has_older
            .then(|| statuses.last().map(|s| s.id.clone()))
            .flatten(),
        statuses,
    })
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn cursors_come_from_the_query() {
        assert_eq!(Cursor::from_query(None).unwrap(), Cursor::Latest);
        assert_eq!(
            Cursor::from_query(Some("after=01A&x=1")).unwrap(),
            Cursor::After("01A".into())
        );
        assert_eq!(
            Cursor::from_query(Some("after=01A&before=01B")).unwrap(),
            Cursor::Before("01B".into())
        );
        assert_eq!(Cursor::from_query(Some("before=")).unwrap(), Cursor::Latest);
        assert!(Cursor::from_query(Some("before=%3Cx%3E")).is_err());
    }
}
