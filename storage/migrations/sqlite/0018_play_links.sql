-- Play links handed out (consult_bridge/play_links.py): the token is signed, so the row
-- is for listing, revoking and publishing; and the wearer's consent to publish.
CREATE TABLE play_links (
    link_id TEXT PRIMARY KEY,
    consult_id TEXT NOT NULL,
    recording_id TEXT NOT NULL,
    audience TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    published_at TEXT
);
CREATE INDEX play_links_consult ON play_links (consult_id);
CREATE TABLE publish_consents (
    consult_id TEXT PRIMARY KEY,
    consent INTEGER NOT NULL,
    changed_at TEXT NOT NULL
);
