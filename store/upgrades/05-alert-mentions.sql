-- v5: Who an alert mentions
ALTER TABLE alerts ADD COLUMN mentions TEXT NOT NULL DEFAULT '';
