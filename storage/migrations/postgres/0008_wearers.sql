-- Wearer profiles (what a clinician or carer recorded: fences, conditions, the at-risk
-- mark), one per device, as the JSON of stream_processors.device.WearerProfile.
-- revision increases with every write, so runners re-read only what changed; writers
-- lock the table, so revisions commit in order and a reader never skips one.
CREATE SEQUENCE wearers_revision_seq;
CREATE TABLE wearers (
    device_id TEXT PRIMARY KEY,
    profile JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    revision BIGINT NOT NULL DEFAULT nextval('wearers_revision_seq')
);
CREATE UNIQUE INDEX wearers_revision ON wearers (revision);
