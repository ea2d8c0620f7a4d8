-- Users who sign in to the API (consult_bridge/login.py): the role and scope their tokens
-- carry, and an Argon2id hash of the password (never the password); failed sign-ins, for
-- the lockout.
CREATE TABLE accounts (
    sub TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    tenant TEXT,
    device TEXT,
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE login_failures (
    sub TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX login_failures_sub ON login_failures (sub, at);
