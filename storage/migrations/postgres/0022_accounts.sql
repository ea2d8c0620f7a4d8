-- Users who sign in to the API (consult_bridge/login.py): the role and scope their tokens
-- carry, and an Argon2id hash of the password (never the password); failed sign-ins, for
-- the lockout.
CREATE TABLE accounts (
    sub text PRIMARY KEY,
    role text NOT NULL,
    name text NOT NULL,
    tenant text,
    device text,
    password_hash text NOT NULL,
    disabled boolean NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE login_failures (
    sub text NOT NULL,
    at timestamptz NOT NULL
);
CREATE INDEX login_failures_sub ON login_failures (sub, at);
