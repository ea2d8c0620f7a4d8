-- Location fixes sealed at rest (storage/sealing.py): with record keys set, a GPS reading's
-- row keeps its key and time with NULL coordinates, and the coordinates go here, sealed.
CREATE TABLE sealed_fixes (
    device_id text NOT NULL,
    boot_id bigint NOT NULL,
    seq bigint NOT NULL,
    sample_index bigint NOT NULL,
    sealed text NOT NULL,
    PRIMARY KEY (device_id, boot_id, seq, sample_index)
);
