-- The wearer's health record (schemas/health_profile.py), sealed at rest when record keys
-- are configured (storage/sealing.py).
CREATE TABLE health_profiles (
    device_id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
