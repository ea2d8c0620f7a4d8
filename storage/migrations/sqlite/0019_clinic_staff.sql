-- A clinic's doctors (schemas/clinic.py) as msgspec JSON, and their appointment slots.
CREATE TABLE doctors (
    sub TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX doctors_tenant ON doctors (tenant);
CREATE TABLE slots (
    slot_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    doctor TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    booked_by TEXT,
    consult_id TEXT,
    booked_at TEXT
);
CREATE INDEX slots_doctor ON slots (doctor, starts_at);
