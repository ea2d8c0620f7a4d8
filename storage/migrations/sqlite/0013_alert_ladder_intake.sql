-- The ladder's intake (vigil/ladder_side.py): alerts not yet taken in by the process that
-- drives the ladders. Alerts stored before this migration count as taken: an upgrade must
-- not open ladders for old alerts.
ALTER TABLE alerts ADD COLUMN laddered_at TEXT;
UPDATE alerts SET laddered_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now');
CREATE INDEX alerts_unladdered ON alerts (stored_seq) WHERE laddered_at IS NULL;
