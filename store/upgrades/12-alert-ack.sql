-- v12: Alerts people act on: acknowledged, reminded, resolved (by a recovery or by a command)
ALTER TABLE alerts ADD COLUMN acked_by TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN acked_ms BIGINT NOT NULL DEFAULT 0;
-- When its service or host was seen running again; 0 while it is open.
ALTER TABLE alerts ADD COLUMN resolved_ms BIGINT NOT NULL DEFAULT 0;
-- How many reminder steps were recorded: 1 the reminder, then one per escalate step.
ALTER TABLE alerts ADD COLUMN reminded INTEGER NOT NULL DEFAULT 0;
-- The alert this one is about: a reminder replies to it, an edit-only row edits it
-- (an acknowledgement, a resolution by a command, a recovery while muted).
ALTER TABLE alerts ADD COLUMN about_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN edit_only BOOLEAN NOT NULL DEFAULT false;

-- Alerts from before: open only if it is its subject's latest and the watcher
-- still counts it as alerted; the others are settled, so none is reminded.
UPDATE alerts SET resolved_ms = time_ms
WHERE EXISTS (SELECT 1 FROM alerts b WHERE b.subject = alerts.subject AND b.id > alerts.id)
	OR NOT EXISTS (SELECT 1 FROM watch_state w WHERE w.alerted AND w.key IN ('service:' || alerts.subject, 'host:' || alerts.subject));
