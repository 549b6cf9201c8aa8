// Package store keeps opsroom's state in one database, a SQLite file or a
// PostgreSQL database: the Matrix session and sync position, the audit log of
// every command, update runs, the watcher's state and alerts, mutes and
// confirmations. mautrix's crypto and state stores live in the same database.
package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"net/url"
	"sync/atomic"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"

	// The pure-Go SQLite driver, registered as "sqlite": the binary builds with CGO_ENABLED=0.
	_ "modernc.org/sqlite"
)

//go:embed upgrades/*.sql
var upgrades embed.FS

var upgradeTable = dbutil.BuildUpgradeTable().WithFSPath(upgrades, "upgrades").Finish()

// Store is the opened database. DB is exposed so that mautrix's own stores
// (state store, crypto store) can live in the same database as its children.
type Store struct {
	DB *dbutil.Database
	// path is the SQLite file, or the PostgreSQL URI without its password:
	// what errors name.
	path string
	// epoch is the lease term this process acts under (see Fence).
	epoch atomic.Int64
}

// Open opens the database and applies every pending migration: a SQLite file
// at the path given (created if needed), or the PostgreSQL database a
// postgres:// (or postgresql://) URI names. A SQLite file is taken for one
// process with LockDatabase before; on PostgreSQL several processes share the
// database, one of them active at a time (see Lease).
func Open(ctx context.Context, database string) (*Store, error) {
	return open(ctx, database, upgradeTable)
}

// open is Open with the migrations given: tests make older databases with a
// prefix of the table.
func open(ctx context.Context, database string, migrations dbutil.UpgradeTable) (*Store, error) {
	if IsPostgres(database) {
		return openPostgres(ctx, database, migrations)
	}
	return openSQLite(ctx, database, migrations)
}

func openSQLite(ctx context.Context, path string, migrations dbutil.UpgradeTable) (*Store, error) {
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Set("_txlock", "immediate")
	raw, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening database %s: %w", path, err)
	}
	db, err := dbutil.NewWithDB(raw, "sqlite")
	if err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("opening database %s: %w", path, err)
	}
	st := &Store{DB: db, path: path}
	if err := st.migrate(ctx, migrations); err != nil {
		return nil, err
	}
	return st, nil
}

// migrate applies the pending migrations of the table given; on failure it
// closes the store.
func (s *Store) migrate(ctx context.Context, migrations dbutil.UpgradeTable) error {
	s.DB.Owner = "opsroom"
	s.DB.UpgradeTable = migrations
	s.DB.Log = dbutil.ZeroLogger(zerolog.Ctx(ctx).With().Str("component", "database").Logger())
	if err := s.DB.Upgrade(ctx); err != nil {
		_ = s.Close()
		return fmt.Errorf("migrating database %s: %w", s.path, err)
	}
	return nil
}

// queryHelper reads rows as T with dbutil's QueryHelper, T's Scan saying how:
// the one way the store reads rows.
func queryHelper[T interface {
	*R
	dbutil.DataStruct[T]
}, R any](s *Store) *dbutil.QueryHelper[T] {
	return dbutil.MakeQueryHelper(s.DB, func(*dbutil.QueryHelper[T]) T { return new(R) })
}

// Close closes the database.
func (s *Store) Close() error {
	return s.DB.Close()
}
