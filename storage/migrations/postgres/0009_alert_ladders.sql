-- The alert ladders (alerting/ladder.py) and their outbox, written together before any
-- message or call goes out, so a restart resumes each open ladder where it was and
-- sends nothing twice. state and action are msgspec JSON.
CREATE TABLE ladders (
    ladder_id TEXT PRIMARY KEY,
    ladder_key TEXT NOT NULL,
    device_id TEXT NOT NULL,
    is_open BOOLEAN NOT NULL,
    deadline TIMESTAMPTZ,
    state JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX ladders_one_open ON ladders (ladder_key) WHERE is_open;
CREATE INDEX ladders_deadline ON ladders (deadline) WHERE is_open;
CREATE INDEX ladders_device ON ladders (device_id);

-- status: pending (written, not tried, or to be tried again from not_before), sending
-- (tried, no answer yet), sent, failed, unknown (a restart found it sending: it may or
-- may not have gone out; not retried), throttled (a routine message to a number that
-- had too many already; not sent).
CREATE TABLE ladder_outbox (
    action_key TEXT PRIMARY KEY,
    ladder_id TEXT NOT NULL REFERENCES ladders (ladder_id),
    position BIGSERIAL,
    action JSONB NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before TIMESTAMPTZ,
    provider_id TEXT,
    error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ladder_outbox_open ON ladder_outbox (position) WHERE status IN ('pending', 'sending');
CREATE INDEX ladder_outbox_provider ON ladder_outbox (provider_id);

-- Who each wearer's ladder may tell (alerting.contacts.Directory), its timing
-- (LadderPolicy) and the call log imported for closeness, as msgspec JSON.
CREATE TABLE alert_directories (
    device_id TEXT PRIMARY KEY,
    directory JSONB NOT NULL,
    policy JSONB NOT NULL,
    call_log JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Every alert a ladder took in (opened, raised or ended it): an alert delivered again
-- after a restart is recognised and changes nothing.
CREATE TABLE ladder_alerts (
    alert_id TEXT PRIMARY KEY,
    ladder_id TEXT NOT NULL REFERENCES ladders (ladder_id)
);
