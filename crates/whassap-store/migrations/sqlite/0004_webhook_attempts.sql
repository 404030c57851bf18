-- Every attempt at a webhook delivery (GET /api/v1/webhooks/{id}/deliveries
-- shows them); the delivery row keeps only the outcome of the last one.
CREATE TABLE webhook_delivery_attempts (
    delivery_id TEXT    NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    -- 1 for the first attempt.
    attempt     INTEGER NOT NULL,
    -- When it started, Unix time in milliseconds.
    at_ms       INTEGER NOT NULL,
    -- How long it took, in milliseconds.
    duration_ms INTEGER NOT NULL,
    -- The HTTP status answered, if any.
    status      INTEGER,
    -- What went wrong (connection refused, timeout, non-2xx...), if anything.
    error       TEXT,
    PRIMARY KEY (delivery_id, attempt)
) STRICT;
