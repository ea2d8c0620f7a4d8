-- Play links handed out (consult_bridge/play_links.py): the token is signed, so the row
-- is for listing, revoking and publishing; and the wearer's consent to publish.
CREATE TABLE play_links (
    link_id text PRIMARY KEY,
    consult_id text NOT NULL,
    recording_id text NOT NULL,
    audience text NOT NULL,
    expires_at timestamptz NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz,
    published_at timestamptz
);
CREATE INDEX play_links_consult ON play_links (consult_id);
CREATE TABLE publish_consents (
    consult_id text PRIMARY KEY,
    consent boolean NOT NULL,
    changed_at timestamptz NOT NULL
);
