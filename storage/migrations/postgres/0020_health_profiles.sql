-- The wearer's health record (schemas/health_profile.py), sealed at rest when record keys
-- are configured (storage/sealing.py).
CREATE TABLE health_profiles (
    device_id text PRIMARY KEY,
    body text NOT NULL,
    updated_at timestamptz NOT NULL
);
