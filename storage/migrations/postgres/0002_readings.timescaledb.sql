-- Readings on TimescaleDB: a hypertable with 1-day chunks, compressed after 7 days
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE TABLE readings (
    device_id text NOT NULL,
    boot_id integer NOT NULL,
    seq bigint NOT NULL,
    sample_index integer NOT NULL,
    measured_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    type text NOT NULL,
    heart_rate_bpm real,
    rr_ms real[],
    sensor_contact boolean,
    spo2_pct real,
    systolic_mmhg real,
    diastolic_mmhg real,
    temp_c real,
    site text,
    respiration_rate_per_min real,
    steps integer,
    interval_s real,
    stage text,
    lat_deg double precision,
    lon_deg double precision,
    accuracy_m real,
    battery_pct real,
    on_wrist boolean
);
CREATE INDEX readings_device_time ON readings (device_id, measured_at);
SELECT create_hypertable('readings', 'measured_at', chunk_time_interval => INTERVAL '1 day');
ALTER TABLE readings SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'device_id',
    timescaledb.compress_orderby = 'measured_at'
);
SELECT add_compression_policy('readings', INTERVAL '7 days');
-- Raw readings are kept two years; scores and alerts are kept (no policy on them).
SELECT add_retention_policy('readings', INTERVAL '730 days');
