-- Readings on plain PostgreSQL: native range partitioning by device time, one
-- partition per month (created ahead by the store, see PostgresStore.ensure_partitions),
-- and a default partition so a reading from a badly skewed clock is kept, not refused.
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
) PARTITION BY RANGE (measured_at);
CREATE TABLE readings_default PARTITION OF readings DEFAULT;
CREATE INDEX readings_device_time ON readings (device_id, measured_at);
