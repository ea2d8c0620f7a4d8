-- Twilio callbacks already taken in, by their X-Twilio-Signature (alerting/webhooks.py):
-- the same signed request again is a replay, refused also after a restart.
CREATE TABLE webhook_signatures (
    signature TEXT PRIMARY KEY,
    seen_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_signatures_seen ON webhook_signatures (seen_at);
