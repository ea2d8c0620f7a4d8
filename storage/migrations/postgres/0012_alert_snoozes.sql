-- Snoozes by direction (alerting/snooze.py), one per wearer and direction, as msgspec
-- JSON; and the alerts they held back (also so a redelivered one is known).
CREATE TABLE alert_snoozes (
    device_id TEXT NOT NULL,
    what TEXT NOT NULL,
    until TIMESTAMPTZ NOT NULL,
    snooze JSONB NOT NULL,
    PRIMARY KEY (device_id, what)
);
CREATE TABLE snoozed_alerts (
    alert_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    what TEXT NOT NULL,
    held_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX snoozed_alerts_device ON snoozed_alerts (device_id, held_at);
