-- A clinic's doctors (schemas/clinic.py) as msgspec JSON, and their appointment slots.
CREATE TABLE doctors (
    sub text PRIMARY KEY,
    tenant text NOT NULL,
    body text NOT NULL
);
CREATE INDEX doctors_tenant ON doctors (tenant);
CREATE TABLE slots (
    slot_id text PRIMARY KEY,
    tenant text NOT NULL,
    doctor text NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    booked_by text,
    consult_id text,
    booked_at timestamptz
);
CREATE INDEX slots_doctor ON slots (doctor, starts_at);
