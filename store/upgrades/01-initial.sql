-- v0 -> v1: Initial schema: Matrix session, sync position and the audit log
CREATE TABLE matrix_session (
	user_id   TEXT PRIMARY KEY,
	device_id TEXT NOT NULL
);

CREATE TABLE sync_state (
	user_id    TEXT PRIMARY KEY,
	filter_id  TEXT NOT NULL DEFAULT '',
	next_batch TEXT NOT NULL DEFAULT ''
);

-- Audit rows are only ever inserted: never updated, never rewritten.
CREATE TABLE audit_log (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	time_ms     BIGINT  NOT NULL,
	sender      TEXT    NOT NULL,
	room_id     TEXT    NOT NULL,
	event_id    TEXT    NOT NULL DEFAULT '',
	command     TEXT    NOT NULL,
	args        TEXT    NOT NULL DEFAULT '',
	service     TEXT    NOT NULL DEFAULT '',
	result      TEXT    NOT NULL,
	exit_code   INTEGER,
	duration_ms BIGINT  NOT NULL DEFAULT 0,
	detail      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_time_idx ON audit_log (time_ms);
CREATE INDEX audit_log_service_idx ON audit_log (service, time_ms);
