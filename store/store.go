// Package store keeps opsroom's state in one SQLite file: the Matrix session and
// sync position, the audit log of every command, update runs, the watcher's
// state and alerts, mutes and confirmations. mautrix's crypto and state stores
// live in the same file.
package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"net/url"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"

	// The pure-Go SQLite driver, registered as "sqlite": the binary builds with CGO_ENABLED=0.
	_ "modernc.org/sqlite"
)

//go:embed upgrades/*.sql
var upgrades embed.FS

var upgradeTable = dbutil.BuildUpgradeTable().WithFSPath(upgrades, "upgrades").Finish()

// Store is the opened database. DB is exposed so that mautrix's own stores
// (state store, crypto store) can live in the same file as its children.
type Store struct {
	DB   *dbutil.Database
	path string
}

// Open opens (creating if needed) the SQLite file at path and applies every
// pending migration.
func Open(ctx context.Context, path string) (*Store, error) {
	return open(ctx, path, upgradeTable)
}

// open is Open with the migrations given: tests make older databases with a
// prefix of the table.
func open(ctx context.Context, path string, migrations dbutil.UpgradeTable) (*Store, error) {
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
	db.Owner = "opsroom"
	db.UpgradeTable = migrations
	db.Log = dbutil.ZeroLogger(zerolog.Ctx(ctx).With().Str("component", "database").Logger())
	if err := db.Upgrade(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("migrating database %s: %w", path, err)
	}
	return &Store{DB: db, path: path}, nil
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
