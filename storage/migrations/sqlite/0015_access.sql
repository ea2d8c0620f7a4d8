-- Who may see a wearer's data (consult_bridge/access.py): the clinic each wearer is
-- enrolled in, and the wearer's grants to viewers, as msgspec JSON.
CREATE TABLE enrolments (
    device_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    enrolled_at TEXT NOT NULL
);
CREATE TABLE grants (
    grant_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    viewer TEXT NOT NULL,
    grant_json TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX grants_device ON grants (device_id) WHERE revoked_at IS NULL;
