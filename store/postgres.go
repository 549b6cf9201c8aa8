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

// The session advisory lock an opsroom process holds on its PostgreSQL
// database: (opsroomLockClass, instanceLockID) in the two-key form, so
// pg_locks shows it as classid, objid with objsubid 2. Advisory locks are per
// database: opsroom instances on other databases of the cluster do not meet.
const (
	opsroomLockClass = 0x6f707372 // "opsr"
	instanceLockID   = 1
)

// HeldError says another session holds the PostgreSQL database: one opsroom
// at a time, as on SQLite, until the active/standby lease comes.
type HeldError struct {
	Database string // the URI, without its password
	// Holder names the other session: its application_name (opsroom sets
	// "opsroom pid N on HOST"), backend PID, address and start; "" if
	// PostgreSQL did not say.
	Holder string
}

func (e *HeldError) Error() string {
	holder := "another opsroom process"
	if e.Holder != "" {
		holder = e.Holder
	}
	return fmt.Sprintf("database %s is in use by %s (it holds opsroom's advisory lock): only one opsroom may run on a database, "+
		"on PostgreSQL too for now, so stop that one first; an active instance with a standby is planned", e.Database, holder)
}

// holderQuery names the session holding the advisory lock.
var holderQuery = fmt.Sprintf(`
	SELECT a.pid, COALESCE(a.application_name, ''), COALESCE(host(a.client_addr), 'the local socket'), a.backend_start
	FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
	WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %d AND l.objid = %d AND l.objsubid = 2
		AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
	opsroomLockClass, instanceLockID)

func openPostgres(ctx context.Context, uri string, migrations dbutil.UpgradeTable) (*Store, error) {
	shown := Redacted(uri)
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("database: the PostgreSQL URI %s does not parse: %w", shown, errors.Unwrap(err))
	}
	// The holder's name, as a second instance's error shows it.
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
	if st.held, err = holdDatabase(ctx, raw, shown); err != nil {
		_ = raw.Close()
		return nil, err
	}
	if st.DB, err = dbutil.NewWithDB(raw, "pgx"); err != nil {
		_ = st.held.Close()
		_ = raw.Close()
		return nil, fmt.Errorf("opening database %s: %w", shown, err)
	}
	if err := st.migrate(ctx, migrations); err != nil {
		return nil, err
	}
	return st, nil
}

// holdDatabase takes opsroom's session advisory lock on a connection of its
// own, kept for as long as the store is open: PostgreSQL drops the lock when
// the session ends, however the process ends. It says who holds it when it
// is taken (a *HeldError).
func holdDatabase(ctx context.Context, raw *sql.DB, shown string) (*sql.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := raw.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting to database %s: %w", shown, err)
	}
	var taken bool
	err = conn.QueryRowContext(ctx, fmt.Sprintf("SELECT pg_try_advisory_lock(%d, %d)", opsroomLockClass, instanceLockID)).Scan(&taken)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("taking database %s for this opsroom: %w", shown, err)
	}
	if taken {
		return conn, nil
	}
	held := &HeldError{Database: shown}
	var pid int
	var app, from string
	var since time.Time
	if err := conn.QueryRowContext(ctx, holderQuery).Scan(&pid, &app, &from, &since); err == nil {
		if app == "" {
			app = "a session"
		}
		held.Holder = fmt.Sprintf("%s (PostgreSQL backend %d, connected from %s since %s)", app, pid, from, since.Format(time.RFC3339))
	}
	_ = conn.Close()
	return nil, held
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
