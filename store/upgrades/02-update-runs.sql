-- v2: Update runs, for the progress message, rollback and interrupted runs
CREATE TABLE update_runs (
	id                INTEGER PRIMARY KEY AUTOINCREMENT,
	service           TEXT    NOT NULL,
	sender            TEXT    NOT NULL,
	room_id           TEXT    NOT NULL,
	progress_event_id TEXT    NOT NULL DEFAULT '',
	started_ms        BIGINT  NOT NULL,
	ended_ms          BIGINT,
	old_commit        TEXT    NOT NULL DEFAULT '',
	new_commit        TEXT    NOT NULL DEFAULT '',
	stage             TEXT    NOT NULL DEFAULT '',
	result            TEXT    NOT NULL DEFAULT 'running',
	error             TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX update_runs_service_idx ON update_runs (service, id);
