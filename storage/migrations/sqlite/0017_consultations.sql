-- Consultation requests (schemas/consultation.py) as msgspec JSON, with the columns the
-- queues sort and filter on; version guards against two writers (optimistic locking).
CREATE TABLE consultations (
    consult_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    state TEXT NOT NULL,
    priority TEXT NOT NULL,
    alert_id TEXT UNIQUE,
    created_at TEXT NOT NULL,
    doctor TEXT,
    planned_at TEXT,
    version INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX consultations_queue ON consultations (tenant, state, priority, created_at);
CREATE INDEX consultations_device ON consultations (device_id, created_at);
-- How far the API's intake has read the alerts table (stored_seq), for flagged cases;
-- it starts at the newest alert: cases flagged before this migration are not raised.
CREATE TABLE consult_intake (
    id INTEGER PRIMARY KEY,
    last_seq INTEGER NOT NULL
);
INSERT INTO consult_intake (id, last_seq) SELECT 1, COALESCE(MAX(stored_seq), 0) FROM alerts;
