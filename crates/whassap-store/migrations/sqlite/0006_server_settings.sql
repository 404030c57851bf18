-- Facts about the server that tools working on the same database need,
-- such as the domain `whassap serve` last served (so that `whassap user`
-- prints the accounts' real JIDs).
CREATE TABLE server_settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
