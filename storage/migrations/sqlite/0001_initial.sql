-- Vigil schema for the embedded SQLite store. Times are ISO 8601 text in UTC.
CREATE TABLE messages (
    device_id TEXT NOT NULL,
    boot_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    utc_offset_min INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    gateway_id TEXT,
    sample_count INTEGER NOT NULL,
    PRIMARY KEY (device_id, boot_id, seq)
) WITHOUT ROWID;

CREATE TABLE readings (
    device_id TEXT NOT NULL,
    boot_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    sample_index INTEGER NOT NULL,
    measured_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    type TEXT NOT NULL,
    heart_rate_bpm REAL,
    rr_ms TEXT,
    sensor_contact INTEGER,
    spo2_pct REAL,
    systolic_mmhg REAL,
    diastolic_mmhg REAL,
    temp_c REAL,
    site TEXT,
    respiration_rate_per_min REAL,
    steps INTEGER,
    interval_s REAL,
    stage TEXT,
    lat_deg REAL,
    lon_deg REAL,
    accuracy_m REAL,
    battery_pct REAL,
    on_wrist INTEGER
);
CREATE INDEX readings_device_time ON readings (device_id, measured_at);

CREATE TABLE ecg_strips (
    device_id TEXT NOT NULL,
    boot_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    sample_index INTEGER NOT NULL,
    measured_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    sampling_rate_hz REAL NOT NULL,
    lead TEXT NOT NULL,
    samples_uv BLOB NOT NULL
);
CREATE INDEX ecg_device_time ON ecg_strips (device_id, measured_at);

CREATE TABLE events (
    device_id TEXT NOT NULL,
    boot_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    occurred_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    type TEXT NOT NULL,
    press_duration_s REAL,
    impact_g REAL,
    moved_after INTEGER,
    battery_pct REAL
);
CREATE INDEX events_device_time ON events (device_id, occurred_at);

CREATE TABLE gateway_status (
    gateway_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    reported_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    connected_devices TEXT NOT NULL
);

CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    payload BLOB NOT NULL,
    payload_size INTEGER NOT NULL
);

CREATE TABLE scores (
    device_id TEXT NOT NULL,
    evaluated_at TEXT NOT NULL,
    total INTEGER NOT NULL,
    level INTEGER NOT NULL,
    risk TEXT NOT NULL,
    single_parameter_3 INTEGER NOT NULL,
    points TEXT NOT NULL,
    missing TEXT NOT NULL,
    defaulted TEXT NOT NULL
);
CREATE INDEX scores_device_time ON scores (device_id, evaluated_at);

CREATE TABLE alerts (
    alert_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    level INTEGER NOT NULL,
    raised_at TEXT NOT NULL,
    source TEXT NOT NULL,
    summary TEXT NOT NULL,
    score INTEGER,
    partial INTEGER NOT NULL,
    missing TEXT NOT NULL,
    stored_seq INTEGER NOT NULL,
    notified_at TEXT
);
CREATE INDEX alerts_device ON alerts (device_id, stored_seq);
CREATE INDEX alerts_unnotified ON alerts (stored_seq) WHERE notified_at IS NULL;
