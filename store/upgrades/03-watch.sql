-- v3: The watcher's memory of each service and host, and its alerts
CREATE TABLE watch_state (
	key           TEXT    PRIMARY KEY, -- "service:NAME" or "host:NAME"
	state         TEXT    NOT NULL,
	alerted       BOOLEAN NOT NULL,
	since_ms      BIGINT  NOT NULL,
	restart_count INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE alerts (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	time_ms  BIGINT  NOT NULL,
	subject  TEXT    NOT NULL, -- the service, or the host for host alerts
	kind     TEXT    NOT NULL,
	message  TEXT    NOT NULL  -- Markdown, as posted
);

-- One row per alert and room; event_id is set once the homeserver took it.
CREATE TABLE alert_deliveries (
	alert_id     INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
	room_id      TEXT    NOT NULL,
	event_id     TEXT    NOT NULL DEFAULT '',
	delivered_ms BIGINT,
	PRIMARY KEY (alert_id, room_id)
);
CREATE INDEX alert_deliveries_pending_idx ON alert_deliveries (event_id) WHERE event_id = '';
