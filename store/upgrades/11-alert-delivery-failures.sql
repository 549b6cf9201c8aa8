-- v11: An alert delivery can fail for good, with its reason; alert rooms opsroom cannot post to
ALTER TABLE alert_deliveries ADD COLUMN failure TEXT NOT NULL DEFAULT '';
ALTER TABLE alert_deliveries ADD COLUMN failed_ms BIGINT;

-- Each room's queue: its pending deliveries, oldest first.
DROP INDEX alert_deliveries_pending_idx;
CREATE INDEX alert_deliveries_room_pending_idx ON alert_deliveries (room_id, alert_id) WHERE event_id = '' AND failure = '';

-- A room that refuses opsroom's alerts (kicked, banned, not joined, upgraded):
-- its alerts wait; the row says why and since when, and that it was reported.
CREATE TABLE alert_room_problems (
	room_id  TEXT   PRIMARY KEY,
	problem  TEXT   NOT NULL,
	since_ms BIGINT NOT NULL
);
