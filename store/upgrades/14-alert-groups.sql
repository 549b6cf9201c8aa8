-- v14: Alerts of one host that come together are one message: the alert's host, its group, its line in the group's message
ALTER TABLE alerts ADD COLUMN host TEXT NOT NULL DEFAULT '';
-- The id of the group's first alert, whose message the others edit; NULL: in no group.
ALTER TABLE alerts ADD COLUMN group_id BIGINT;
-- The alert as one line of a group's message (Markdown).
ALTER TABLE alerts ADD COLUMN line TEXT NOT NULL DEFAULT '';
CREATE INDEX alerts_host_time_idx ON alerts (host, time_ms);
