-- Vigil schema on PostgreSQL: everything except the readings table (0002).
CREATE TABLE messages (
    device_id text NOT NULL,
    boot_id integer NOT NULL,
    seq bigint NOT NULL,
    kind text NOT NULL,
    sent_at timestamptz NOT NULL,
    utc_offset_min smallint NOT NULL,
    received_at timestamptz NOT NULL,
    gateway_id text,
    sample_count integer NOT NULL,
    PRIMARY KEY (device_id, boot_id, seq)
);

CREATE TABLE ecg_strips (
    device_id text NOT NULL,
    boot_id integer NOT NULL,
    seq bigint NOT NULL,
    sample_index integer NOT NULL,
    measured_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    sampling_rate_hz double precision NOT NULL,
    lead text NOT NULL,
    samples_uv bytea NOT NULL
);
CREATE INDEX ecg_device_time ON ecg_strips (device_id, measured_at);

CREATE TABLE events (
    device_id text NOT NULL,
    boot_id integer NOT NULL,
    seq bigint NOT NULL,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    type text NOT NULL,
    press_duration_s double precision,
    impact_g double precision,
    moved_after boolean,
    battery_pct double precision
);
CREATE INDEX events_device_time ON events (device_id, occurred_at);

CREATE TABLE gateway_status (
    gateway_id text PRIMARY KEY,
    state text NOT NULL,
    reported_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    connected_devices text NOT NULL
);

CREATE TABLE dead_letters (
    id bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL,
    topic text NOT NULL,
    reason text NOT NULL,
    detail text NOT NULL,
    payload bytea NOT NULL,
    payload_size integer NOT NULL
);

CREATE TABLE scores (
    device_id text NOT NULL,
    evaluated_at timestamptz NOT NULL,
    total smallint NOT NULL,
    level smallint NOT NULL,
    risk text NOT NULL,
    single_parameter_3 boolean NOT NULL,
    points jsonb NOT NULL,
    missing text NOT NULL,
    defaulted text NOT NULL
);
CREATE INDEX scores_device_time ON scores (device_id, evaluated_at);

CREATE TABLE alerts (
    alert_id text PRIMARY KEY,
    device_id text NOT NULL,
    level smallint NOT NULL,
    raised_at timestamptz NOT NULL,
    source text NOT NULL,
    summary text NOT NULL,
    score smallint,
    partial boolean NOT NULL,
    missing text NOT NULL,
    stored_seq bigserial NOT NULL,
    notified_at timestamptz
);
CREATE INDEX alerts_device ON alerts (device_id, stored_seq);
CREATE INDEX alerts_unnotified ON alerts (stored_seq) WHERE notified_at IS NULL;
