-- The records' audit log (consult_bridge/audit.py): append-only, hash-chained; the
-- triggers refuse edits, the chain shows any made around them.
CREATE TABLE audit_log (
    seq bigint PRIMARY KEY,
    at timestamptz NOT NULL,
    actor text NOT NULL,
    role text NOT NULL,
    tenant text,
    device_id text NOT NULL,
    category text NOT NULL,
    action text NOT NULL,
    detail text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL
);
CREATE INDEX audit_log_device ON audit_log (device_id, seq);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
-- Break-glass openings: a clinician sees all of a wearer's data for an hour.
CREATE TABLE emergency_access (
    access_id text PRIMARY KEY,
    device_id text NOT NULL,
    viewer text NOT NULL,
    tenant text,
    reason text NOT NULL,
    opened_at timestamptz NOT NULL,
    until timestamptz NOT NULL
);
CREATE INDEX emergency_access_device ON emergency_access (device_id);
-- In-app notices to a wearer (device:<id>) or a user (user:<sub>).
CREATE TABLE notices (
    notice_id text PRIMARY KEY,
    recipient text NOT NULL,
    at timestamptz NOT NULL,
    kind text NOT NULL,
    text text NOT NULL
);
CREATE INDEX notices_recipient ON notices (recipient, at);
