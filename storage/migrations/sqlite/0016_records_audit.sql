-- The records' audit log (consult_bridge/audit.py): append-only, hash-chained; the
-- triggers refuse edits, the chain shows any made around them.
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    tenant TEXT,
    device_id TEXT NOT NULL,
    category TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_device ON audit_log (device_id, seq);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
-- Break-glass openings: a clinician sees all of a wearer's data for an hour.
CREATE TABLE emergency_access (
    access_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    viewer TEXT NOT NULL,
    tenant TEXT,
    reason TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    until TEXT NOT NULL
);
CREATE INDEX emergency_access_device ON emergency_access (device_id);
-- In-app notices to a wearer (device:<id>) or a user (user:<sub>).
CREATE TABLE notices (
    notice_id TEXT PRIMARY KEY,
    recipient TEXT NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX notices_recipient ON notices (recipient, at);
