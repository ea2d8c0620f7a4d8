-- Acknowledgements and cancels asked for through the API (consult_bridge), applied by
-- the process driving the ladders (vigil/ladder_side.py), as msgspec JSON.
CREATE TABLE ladder_requests (
    request_id TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    ladder_id TEXT NOT NULL,
    request JSONB NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL,
    taken_at TIMESTAMPTZ
);
CREATE INDEX ladder_requests_pending ON ladder_requests (position) WHERE taken_at IS NULL;
