-- v9: A flapping service's silence survives a restart
ALTER TABLE watch_state ADD COLUMN flapping BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE watch_state ADD COLUMN flap_last_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE watch_state ADD COLUMN flap_suppressed INTEGER NOT NULL DEFAULT 0;
