-- Wellbeing index values (stream_processors.wellbeing), and the wearer's consent to
-- share a yellow reminder with contacts.
CREATE TABLE index_values (
    device_id text NOT NULL,
    evaluated_at timestamptz NOT NULL,
    name text NOT NULL,
    value double precision,
    inputs jsonb NOT NULL,
    missing text NOT NULL
);
CREATE INDEX index_values_device_time ON index_values (device_id, evaluated_at);
ALTER TABLE alerts ADD COLUMN share_with_contacts boolean NOT NULL DEFAULT false;
