-- v13: The pinned board of each alert room, and maintenance windows
-- Each alert room's board: the message opsroom keeps pinned and edits in place.
CREATE TABLE boards (
	room_id     TEXT    PRIMARY KEY,
	event_id    TEXT    NOT NULL,
	-- pinned: opsroom pinned it (so a board missing from the pins was unpinned by someone).
	pinned      BOOLEAN NOT NULL DEFAULT false,
	-- body: the Markdown last sent, so that an edit is made only when it changes.
	body        TEXT    NOT NULL DEFAULT '',
	-- pin_problem: why the homeserver refused to pin it (no power), reported once.
	pin_problem TEXT    NOT NULL DEFAULT ''
);

-- A maintenance window: the alerts of what it covers are recorded, not posted.
CREATE TABLE maintenance (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	scope      TEXT    NOT NULL, -- service, host or all
	name       TEXT    NOT NULL, -- the service or host ('' for all)
	start_ms   BIGINT  NOT NULL,
	end_ms     BIGINT  NOT NULL, -- when it is planned to end
	reason     TEXT    NOT NULL DEFAULT '',
	started_by TEXT    NOT NULL DEFAULT '', -- a user, or '' for a scheduled window
	end_early  BOOLEAN NOT NULL DEFAULT false,
	-- schedule: the scheduled window and occurrence it is ("maintenance[0]@<start_ms>"), '' if started from the room.
	schedule   TEXT    NOT NULL DEFAULT '',
	ended_ms   BIGINT,
	ended_why  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX maintenance_open_idx ON maintenance (end_ms) WHERE ended_ms IS NULL;
CREATE UNIQUE INDEX maintenance_schedule_idx ON maintenance (schedule) WHERE schedule != '';
