package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.mau.fi/util/dbutil"

	// pgx's database/sql driver, registered as "pgx": pure Go, like the SQLite one.
	_ "github.com/jackc/pgx/v5/stdlib"
)

// IsPostgres says whether database names a PostgreSQL database (a postgres://
// or postgresql:// URI) rather than a SQLite file.
func IsPostgres(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// Redacted is database as it may be shown: a PostgreSQL URI without its
// password; a SQLite path as it is.
func Redacted(database string) string {
	if !IsPostgres(database) {
		return database
	}
	u, err := url.Parse(database)
	if err != nil {
		return "a PostgreSQL URI that does not parse"
	}
	return u.Redacted()
}

// WithPassword is the PostgreSQL URI database with its password set to
// password (given apart, as a secret, so that the URI in the config holds none).
func WithPassword(database, password string) (string, error) {
	u, err := url.Parse(database)
	if err != nil {
		return "", fmt.Errorf("the PostgreSQL URI does not parse: %w", errors.Unwrap(err))
	}
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String(), nil
}

func openPostgres(ctx context.Context, uri string, migrations dbutil.UpgradeTable) (*Store, error) {
	shown := Redacted(uri)
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("database: the PostgreSQL URI %s does not parse: %w", shown, errors.Unwrap(err))
	}
	// Who this is, in pg_stat_activity.
	if q := u.Query(); q.Get("application_name") == "" {
		hostname, _ := os.Hostname()
		q.Set("application_name", "opsroom pid "+strconv.Itoa(os.Getpid())+" on "+hostname)
		// pgx reads a "+" in the query as itself, not as a space.
		u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	}
	raw, err := sql.Open("pgx", u.String())
	if err != nil {
		return nil, fmt.Errorf("opening database %s: %w", shown, err)
	}
	// A bounded pool: the server's max_connections is shared with the homeserver and bridges.
	raw.SetMaxOpenConns(20)
	raw.SetMaxIdleConns(4)
	st := &Store{path: shown}
	if st.DB, err = dbutil.NewWithDB(raw, "pgx"); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("opening database %s: %w", shown, err)
	}
	if err := st.migrate(ctx, migrations); err != nil {
		return nil, err
	}
	return st, nil
}

// sizeQuery is the PostgreSQL database's size on disk, opsroom's tables and
// mautrix's alike.
const sizeQuery = `SELECT pg_database_size(current_database())`

func (s *Store) postgresSize() int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var size int64
	if err := s.DB.QueryRow(ctx, sizeQuery).Scan(&size); err != nil {
		return 0
	}
	return size
}
