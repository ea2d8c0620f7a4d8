-- The ladder's intake (vigil/ladder_side.py): alerts not yet taken in by the process that
-- drives the ladders. Alerts stored before this migration count as taken: an upgrade must
-- not open ladders for old alerts.
ALTER TABLE alerts ADD COLUMN laddered_at timestamptz;
UPDATE alerts SET laddered_at = now();
CREATE INDEX alerts_unladdered ON alerts (stored_seq) WHERE laddered_at IS NULL;
