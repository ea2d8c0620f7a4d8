-- Wellbeing index values (stream_processors.wellbeing); on alerts, the wearer's consent
-- to share a yellow reminder with contacts, and corrections after late readings.
CREATE TABLE index_values (
    device_id TEXT NOT NULL,
    evaluated_at TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    inputs TEXT NOT NULL,
    missing TEXT NOT NULL
);
-- One value per wearer, time and index: a re-scored window replaces its value.
CREATE UNIQUE INDEX index_values_key ON index_values (device_id, evaluated_at, name);
ALTER TABLE alerts ADD COLUMN share_with_contacts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN change TEXT NOT NULL DEFAULT 'raised';
ALTER TABLE alerts ADD COLUMN refers_to TEXT;
