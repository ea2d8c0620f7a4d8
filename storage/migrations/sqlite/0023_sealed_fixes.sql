-- Location fixes sealed at rest (storage/sealing.py): with record keys set, a GPS reading's
-- row keeps its key and time with NULL coordinates, and the coordinates go here, sealed.
CREATE TABLE sealed_fixes (
    device_id TEXT NOT NULL,
    boot_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    sample_index INTEGER NOT NULL,
    sealed TEXT NOT NULL,
    PRIMARY KEY (device_id, boot_id, seq, sample_index)
);
