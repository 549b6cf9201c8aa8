-- v8: Commands waiting for a ✅, so that a restart can close their prompts
CREATE TABLE confirmations (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	room_id   TEXT    NOT NULL,
	prompt_id TEXT    NOT NULL DEFAULT '',
	sender    TEXT    NOT NULL,
	command   TEXT    NOT NULL,
	service   TEXT    NOT NULL,
	asked_ms  BIGINT  NOT NULL,
	-- waiting, then confirmed, denied, expired or dropped (by a restart)
	state     TEXT    NOT NULL DEFAULT 'waiting'
);
CREATE INDEX confirmations_waiting ON confirmations (state) WHERE state = 'waiting';
