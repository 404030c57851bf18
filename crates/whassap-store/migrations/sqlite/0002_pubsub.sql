-- XEP-0060 publish-subscribe: nodes of the pubsub service and of every
-- account's PEP service, their affiliations, subscriptions and items.
-- `service` is the JID of the service (`pubsub.example.org`, or the owner's
-- bare JID for PEP). PEP rows reference their account and go with it.

CREATE TABLE pubsub_nodes (
    service    TEXT NOT NULL,
    node       TEXT NOT NULL,
    pep_user   TEXT REFERENCES users (username) ON DELETE CASCADE,
    -- The node configuration, serialised by the server (opaque here).
    config     TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (service, node)
) STRICT;

CREATE TABLE pubsub_affiliations (
    service     TEXT NOT NULL,
    node        TEXT NOT NULL,
    jid         TEXT NOT NULL,
    affiliation TEXT NOT NULL,
    PRIMARY KEY (service, node, jid),
    FOREIGN KEY (service, node) REFERENCES pubsub_nodes (service, node) ON DELETE CASCADE
) STRICT;

CREATE TABLE pubsub_subscriptions (
    service TEXT NOT NULL,
    node    TEXT NOT NULL,
    jid     TEXT NOT NULL,
    subid   TEXT NOT NULL,
    state   TEXT NOT NULL,
    PRIMARY KEY (service, node, jid, subid),
    FOREIGN KEY (service, node) REFERENCES pubsub_nodes (service, node) ON DELETE CASCADE
) STRICT;

CREATE INDEX pubsub_subscriptions_by_jid ON pubsub_subscriptions (jid, service);

-- Items in publication order: `seq` only grows, and a re-published id gets a
-- new `seq` (it becomes the newest item).
CREATE TABLE pubsub_items (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    service      TEXT NOT NULL,
    node         TEXT NOT NULL,
    item_id      TEXT NOT NULL,
    publisher    TEXT NOT NULL,
    payload      TEXT NOT NULL,
    published_at TEXT NOT NULL,
    UNIQUE (service, node, item_id),
    FOREIGN KEY (service, node) REFERENCES pubsub_nodes (service, node) ON DELETE CASCADE
) STRICT;

CREATE INDEX pubsub_items_by_node ON pubsub_items (service, node, seq);
