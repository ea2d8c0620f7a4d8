-- Consultation requests (schemas/consultation.py) as msgspec JSON, with the columns the
-- queues sort and filter on; version guards against two writers (optimistic locking).
CREATE TABLE consultations (
    consult_id text PRIMARY KEY,
    device_id text NOT NULL,
    tenant text NOT NULL,
    state text NOT NULL,
    priority text NOT NULL,
    alert_id text UNIQUE,
    created_at timestamptz NOT NULL,
    doctor text,
    planned_at timestamptz,
    version bigint NOT NULL,
    body text NOT NULL
);
CREATE INDEX consultations_queue ON consultations (tenant, state, priority, created_at);
CREATE INDEX consultations_device ON consultations (device_id, created_at);
-- How far the API's intake has read the alerts table (stored_seq), for flagged cases;
-- it starts at the newest alert: cases flagged before this migration are not raised.
CREATE TABLE consult_intake (
    id bigint PRIMARY KEY,
    last_seq bigint NOT NULL
);
INSERT INTO consult_intake (id, last_seq) SELECT 1, COALESCE(MAX(stored_seq), 0) FROM alerts;
