-- One score per wearer and evaluation time (see the PostgreSQL migration of this number).
DELETE FROM scores WHERE rowid NOT IN (
    SELECT MIN(rowid) FROM scores GROUP BY device_id, evaluated_at
);
DROP INDEX scores_device_time;
CREATE UNIQUE INDEX scores_key ON scores (device_id, evaluated_at);
