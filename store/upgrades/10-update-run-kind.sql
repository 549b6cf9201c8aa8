-- v10: Update runs say whether they were an update or a rollback
ALTER TABLE update_runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'update';
