//! What the status bot makes of a chat message from a local user, and what
//! it answers.

use std::sync::Arc;

use whassap_store::TimelineQuery;

use crate::accounts;
use crate::statuses::{self, Source, StatusError};
use crate::Server;

/// A chat message to the bot, read as a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// `help`: the list of commands.
    Help,
    /// `last`: your current status; `last NAME`: that user's.
    Last(Option<&'a str>),
    /// `delete`: delete your latest status.
    Delete,
    /// Anything else: a new status.
    Post(&'a str),
}

/// Read a message body. Command words are case-insensitive and may be
/// surrounded by spaces; `last` takes at most one more word (`last NAME`),
/// so that "last night was fun" is a status.
pub fn parse(body: &str) -> Command<'_> {
    let words: Vec<&str> = body.split_whitespace().collect();
    match words.as_slice() {
        [w] if w.eq_ignore_ascii_case("help") => Command::Help,
        [w] if w.eq_ignore_ascii_case("delete") => Command::Delete,
        [w] if w.eq_ignore_ascii_case("last") => Command::Last(None),
        [w, name] if w.eq_ignore_ascii_case("last") => Command::Last(Some(name)),
        _ => Command::Post(body),
    }
}

/// The answer to `help`.
pub fn help_text(domain: &str) -> String {
    format!(
        "Hi! I am the status bot of {domain}. Send me any text and it becomes your status \
         (1 to {max} characters); I thank you for every new status, however you post it.\n\
         Commands:\n\
         help: this list\n\
         last: your current status\n\
         last NAME: the current status of NAME\n\
         delete: delete your latest status",
        max = statuses::MAX_CHARS
    )
}

/// The answer to a message from another server's user.
pub fn remote_text(domain: &str) -> String {
    format!(
        "Sorry, only users of {domain} can post statuses here. You can follow statuses \
         by subscribing to a user's microblog node or to the firehose on pubsub.{domain}."
    )
}

fn quote(text: &str) -> String {
    format!("“{text}”")
}

/// Run a command for local user `user`; the reply to send, if any (a new
/// status is answered by the pipeline's thank-you).
pub async fn run(server: &Arc<Server>, user: &str, command: Command<'_>) -> Option<String> {
    let domain = &server.config.domain;
    let reply = match command {
        Command::Help => help_text(domain),
        Command::Last(None) => match latest(server, user).await {
            Ok(Some((text, at))) => format!("Your current status: {} (since {at})", quote(&text)),
            Ok(None) => "You have no status yet: send me one!".into(),
            Err(e) => failure(e),
        },
        Command::Last(Some(name)) => {
            let name = name.trim_start_matches('@');
            let local = match name.split_once('@') {
                Some((local, d)) if d.eq_ignore_ascii_case(domain) => local,
                Some(_) => return Some(format!("{name} is not a user of {domain}.")),
                None => name,
            };
            let Ok(other) = accounts::normalise(local, true) else {
                return Some(format!("{name:?} is not a valid username."));
            };
            match server.store.display_name(&other).await {
                Ok(None) => format!("There is no user {other} here."),
                Ok(Some(_)) => match latest(server, &other).await {
                    Ok(Some((text, at))) => {
                        format!("{other}'s current status: {} (since {at})", quote(&text))
                    }
                    Ok(None) => format!("{other} has no status yet."),
                    Err(e) => failure(e),
                },
                Err(e) => failure(e.into()),
            }
        }
        Command::Delete => match latest_id(server, user).await {
            Ok(None) => "You have no status to delete.".into(),
            Ok(Some(id)) => match statuses::delete(server, user, &id).await {
                Ok(s) => format!("Deleted your status {}.", quote(&s.text)),
                Err(StatusError::NotFound) => "You have no status to delete.".into(),
                Err(e) => failure(e),
            },
            Err(e) => failure(e),
        },
        Command::Post(text) => match statuses::post(server, user, text, Source::Im, None).await {
            Ok(_) => return None,
            Err(StatusError::Validation(why)) => {
                format!("Sorry, I could not set that as your status: {why}")
            }
            Err(e) => failure(e),
        },
    };
    Some(reply)
}

fn failure(e: StatusError) -> String {
    tracing::error!("status bot: {e}");
    "Sorry, something went wrong on my side; please try again later.".into()
}

/// The text and date of `user`'s latest live status.
async fn latest(server: &Arc<Server>, user: &str) -> Result<Option<(String, String)>, StatusError> {
    Ok(newest(server, user).await?.map(|r| (r.text, r.created_at)))
}

async fn latest_id(server: &Arc<Server>, user: &str) -> Result<Option<String>, StatusError> {
    Ok(newest(server, user).await?.map(|r| r.id))
}

async fn newest(
    server: &Arc<Server>,
    user: &str,
) -> Result<Option<whassap_store::StatusRecord>, StatusError> {
    let rows = server
        .store
        .timeline(&TimelineQuery {
            author: Some(user),
            limit: 1,
            ..TimelineQuery::default()
        })
        .await?;
    Ok(rows.into_iter().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(parse("help"), Command::Help);
        assert_eq!(parse("  HELP \n"), Command::Help);
        assert_eq!(parse("Delete"), Command::Delete);
        assert_eq!(parse("last"), Command::Last(None));
        assert_eq!(parse("last bob"), Command::Last(Some("bob")));
        assert_eq!(
            parse("last night was fun"),
            Command::Post("last night was fun")
        );
        assert_eq!(parse("help me"), Command::Post("help me"));
        assert_eq!(parse("at the pub"), Command::Post("at the pub"));
    }

    #[test]
    fn texts() {
        assert!(help_text("localhost").contains("last NAME"));
        assert!(remote_text("localhost").contains("only users of localhost"));
    }
}
