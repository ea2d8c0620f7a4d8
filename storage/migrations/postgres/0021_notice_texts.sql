-- SMS the API asks the process driving the ladders to send (alerting/ladder_store.py:
-- NoticeText): consultation and appointment notices, through the alerts' sender.
CREATE TABLE notice_texts (
    text_id text PRIMARY KEY,
    position bigint NOT NULL,
    text jsonb NOT NULL,
    queued_at timestamptz NOT NULL,
    attempts integer NOT NULL,
    outcome text,
    retry_at timestamptz,
    done_at timestamptz
);
CREATE INDEX notice_texts_pending ON notice_texts (position) WHERE done_at IS NULL;
