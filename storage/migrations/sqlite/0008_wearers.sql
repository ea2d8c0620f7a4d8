-- Wearer profiles (what a clinician or carer recorded: fences, conditions, the at-risk
-- mark), one per device, as the JSON of stream_processors.device.WearerProfile.
-- revision increases with every write, so runners re-read only what changed.
CREATE TABLE wearers (
    device_id TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revision INTEGER NOT NULL
);
CREATE UNIQUE INDEX wearers_revision ON wearers (revision);
