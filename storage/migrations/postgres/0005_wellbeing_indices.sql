-- Wellbeing index values (stream_processors.wellbeing); on alerts, the wearer's consent
-- to share a yellow reminder with contacts, and corrections after late readings.
CREATE TABLE index_values (
    device_id text NOT NULL,
    evaluated_at timestamptz NOT NULL,
    name text NOT NULL,
    value double precision,
    inputs jsonb NOT NULL,
    missing text NOT NULL
);
-- One value per wearer, time and index: a re-scored window replaces its value.
CREATE UNIQUE INDEX index_values_key ON index_values (device_id, evaluated_at, name);
ALTER TABLE alerts ADD COLUMN share_with_contacts boolean NOT NULL DEFAULT false;
ALTER TABLE alerts ADD COLUMN change text NOT NULL DEFAULT 'raised';
ALTER TABLE alerts ADD COLUMN refers_to text;
