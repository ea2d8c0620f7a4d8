-- Readings sealed at rest (storage/sealing.py): with record keys set, a batch's readings
-- rows keep their key, time and type with NULL values, and the values go here, sealed as
-- one envelope per batch (they replace sealed_fixes, kept for fixes written before).
CREATE TABLE sealed_batches (
    device_id text NOT NULL,
    boot_id bigint NOT NULL,
    seq bigint NOT NULL,
    sealed text NOT NULL,
    PRIMARY KEY (device_id, boot_id, seq)
);
-- An index value's value, inputs and missing names, sealed (NULL when stored plain).
ALTER TABLE index_values ADD COLUMN sealed text;
