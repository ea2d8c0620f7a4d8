-- vigil run seeds its silence checks at start from the bands heard from in the last day
-- (Store.last_heard). Without an index on received_at that reads the whole messages
-- table. Rows arrive in receive order, so a BRIN index (a summary per range of pages,
-- not an entry per row) finds the last day's pages.
CREATE INDEX messages_received_brin ON messages USING brin (received_at);
