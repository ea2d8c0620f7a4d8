-- Wellbeing index values (stream_processors.wellbeing), and the wearer's consent to
-- share a yellow reminder with contacts.
CREATE TABLE index_values (
    device_id TEXT NOT NULL,
    evaluated_at TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    inputs TEXT NOT NULL,
    missing TEXT NOT NULL
);
CREATE INDEX index_values_device_time ON index_values (device_id, evaluated_at);
ALTER TABLE alerts ADD COLUMN share_with_contacts INTEGER NOT NULL DEFAULT 0;
