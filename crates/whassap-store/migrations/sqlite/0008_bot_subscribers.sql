-- Other servers' users who subscribed to the status bot's presence
-- (`whassap@<domain>`): the notifications API sends only to those who
-- accepted the bot. Local users' subscriptions are in their rosters.
CREATE TABLE bot_subscribers (
    jid        TEXT NOT NULL PRIMARY KEY,
    created_at TEXT NOT NULL
) STRICT;
