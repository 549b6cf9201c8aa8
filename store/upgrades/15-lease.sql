-- v15: Active and standby instances: the lease the active one holds, every instance's heartbeat, the commands claimed
-- One row: the instance that is active, the epoch of its term (raised by each takeover) and until when it holds.
-- Times are the database's clock, in milliseconds.
CREATE TABLE ha_lease (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	holder     TEXT   NOT NULL,
	epoch      BIGINT NOT NULL,
	since_ms   BIGINT NOT NULL,
	renewed_ms BIGINT NOT NULL,
	expires_ms BIGINT NOT NULL,
	-- Given up by its holder (an orderly stop), rather than lapsed.
	released   BOOLEAN NOT NULL DEFAULT FALSE
);
-- Every instance's last heartbeat, active or standing by.
CREATE TABLE ha_instances (
	name    TEXT    PRIMARY KEY,
	active  BOOLEAN NOT NULL,
	seen_ms BIGINT  NOT NULL
);
-- Each command (a message or a reaction) is run by the instance that claims its event first;
-- answered once its first answer is in the room (a cut-off one is answered by the next active instance).
CREATE TABLE command_claims (
	event_id TEXT    PRIMARY KEY,
	room_id  TEXT    NOT NULL,
	command  TEXT    NOT NULL,
	holder   TEXT    NOT NULL,
	epoch    BIGINT  NOT NULL,
	time_ms  BIGINT  NOT NULL,
	answered BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX command_claims_time_idx ON command_claims (time_ms);
