//! The authors: one keep-alive connection each, authenticated with a
//! personal access token, posting on a fixed schedule that every mode
//! shares.

use std::time::{Duration, Instant};

use crate::http::{api, Connection};

/// One author and its connection.
pub struct Author {
    /// Username.
    pub user: String,
    /// Authenticated with the author's token.
    pub conn: Connection,
    /// Id of the author's newest status (where pollers start).
    pub last_id: String,
}

/// One status posted during a phase.
#[derive(Clone, Debug)]
pub struct Post {
    /// Sequence number (in the text).
    pub seq: u64,
    /// Index of the author.
    pub author: usize,
    /// When the request was sent.
    pub sent: Instant,
    /// When the `201 Created` was read: the status is stored and
    /// acknowledged. `None`: the post failed.
    pub acked: Option<Instant>,
}

/// The posting schedule of one phase: `count` statuses, number `i` at
/// `start + i / rate` by author `i % authors`.
#[derive(Clone, Copy)]
pub struct Schedule {
    /// The first post.
    pub start: tokio::time::Instant,
    /// Statuses per second in all.
    pub rate: f64,
    /// Statuses in the phase.
    pub count: u64,
    /// Sequence number of the first.
    pub first_seq: u64,
}

impl Schedule {
    /// When status `i` of the phase is due.
    pub fn due(&self, i: u64) -> tokio::time::Instant {
        self.start + Duration::from_secs_f64(i as f64 / self.rate)
    }
}

/// Post author `index`'s share of the schedule, each status at its time
/// (or at once if the previous one took longer). Returns the author and
/// its posts; failures are returned as messages.
pub async fn post_share(
    index: usize,
    authors: usize,
    mut author: Author,
    schedule: Schedule,
    mode: &'static str,
) -> (Author, Vec<Post>, Vec<String>) {
    let mut posts = Vec::new();
    let mut errors = Vec::new();
    let mut i = index as u64;
    while i < schedule.count {
        tokio::time::sleep_until(schedule.due(i)).await;
        let seq = schedule.first_seq + i;
        let sent = Instant::now();
        let answer = api::post(&mut author.conn, &super::consumers::status_text(mode, seq)).await;
        let acked = match answer {
            Ok(status) => {
                let at = Instant::now();
                if status.id > author.last_id {
                    author.last_id = status.id;
                }
                Some(at)
            }
            Err(e) => {
                errors.push(format!("{}: {e}", author.user));
                None
            }
        };
        posts.push(Post {
            seq,
            author: index,
            sent,
            acked,
        });
        i += authors as u64;
    }
    (author, posts, errors)
}
