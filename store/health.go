package store

import (
	"context"
	"fmt"
)

// writableQuery changes nothing but is a write all the same: it takes the
// write lock and, with a row there, commits a page to the write-ahead log.
// SQLite refuses it in a database it cannot write (read-only, locked past
// the busy timeout, a full or failing disk).
const writableQuery = `UPDATE sync_state SET filter_id=filter_id`

// CheckWritable makes one write that changes nothing, and says whether it
// failed: for the health check.
func (s *Store) CheckWritable(ctx context.Context) error {
	if _, err := s.DB.Exec(ctx, writableQuery); err != nil {
		return fmt.Errorf("database %s is not writable: %w", s.path, err)
	}
	return nil
}
