-- One score per wearer and evaluation time: a Kafka worker that restarts re-reads the
-- messages after its last offset commit and may compute the same scores again; the
-- sink stores them once. Earlier duplicates, if any, are dropped first.
DELETE FROM scores a USING scores b
 WHERE a.device_id = b.device_id AND a.evaluated_at = b.evaluated_at AND a.ctid > b.ctid;
DROP INDEX scores_device_time;
CREATE UNIQUE INDEX scores_key ON scores (device_id, evaluated_at);
