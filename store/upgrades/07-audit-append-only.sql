-- v7: Audit rows are never rewritten: the database refuses it
-- only: sqlite until "end only"
CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit_log rows are never rewritten');
END;
-- end only sqlite
-- only: postgres until "end only"
CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
	RAISE EXCEPTION 'audit_log rows are never rewritten';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
-- end only postgres
