-- v7: Audit rows are never rewritten: the database refuses it
CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit_log rows are never rewritten');
END;
