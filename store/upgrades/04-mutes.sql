-- v4: Muted services: watched and recorded, not posted
CREATE TABLE mutes (
	service  TEXT   PRIMARY KEY,
	until_ms BIGINT NOT NULL,
	muted_by TEXT   NOT NULL
);
