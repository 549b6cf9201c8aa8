package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/id"
)

// Lease is a term of the active instance: several opsroom processes may share
// one database, and the one whose lease is current syncs, answers, watches and
// delivers; the others stand by. Each takeover raises the epoch, and every
// write that has an effect in the world (claiming a command, recording a
// transition, marking a delivery) is refused once a newer epoch exists: see
// Fence. Times are the database's clock, so the instances' clocks need not agree.
type Lease struct {
	Holder  string
	Epoch   int64
	Since   time.Time // when this term began
	Renewed time.Time // the holder's last renewal
	Expires time.Time
	// Released says the holder gave the lease up (an orderly stop) rather
	// than letting it lapse.
	Released bool
}

// ErrFenced is what a fenced write returns when this process does not hold
// the current lease: a standby, or an active instance that has lost its term.
var ErrFenced = errors.New("this opsroom instance is not the active one (its lease was taken over), so it may not act")

// clock is the database's time in milliseconds, by dialect.
func (s *Store) clock() string {
	if s.DB.Dialect == dbutil.Postgres {
		return "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT"
	}
	return "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
}

const leaseColumns = `holder, epoch, since_ms, renewed_ms, expires_ms, released`

// CurrentLease reads the lease, and the database's time; nil if no instance
// has ever held it.
func (s *Store) CurrentLease(ctx context.Context) (*Lease, time.Time, error) {
	row := s.DB.QueryRow(ctx, fmt.Sprintf(`SELECT %s, %s FROM ha_lease WHERE id = 1`, leaseColumns, s.clock()))
	var l Lease
	var since, renewed, expires, now int64
	err := row.Scan(&l.Holder, &l.Epoch, &since, &renewed, &expires, &l.Released, &now)
	if errors.Is(err, sql.ErrNoRows) {
		if err := s.dbNow(ctx, &now); err != nil {
			return nil, time.Time{}, fmt.Errorf("reading the database's time: %w", err)
		}
		return nil, time.UnixMilli(now), nil
	} else if err != nil {
		return nil, time.Time{}, fmt.Errorf("reading the lease: %w", err)
	}
	l.Since, l.Renewed, l.Expires = time.UnixMilli(since), time.UnixMilli(renewed), time.UnixMilli(expires)
	return &l, time.UnixMilli(now), nil
}

func (s *Store) dbNow(ctx context.Context, now *int64) error {
	return s.DB.QueryRow(ctx, "SELECT "+s.clock()).Scan(now)
}

// AcquireLease makes holder the active instance for ttl if the lease is free:
// never held, released, or expired (force: whatever its state, for a SQLite
// file that only this process can open). It returns the new term, and the
// term it ended (nil if none); or, when another instance holds it, a nil term
// and that instance's. Two standbys that try at once cannot both win: the
// takeover is a compare-and-set on the epoch.
func (s *Store) AcquireLease(ctx context.Context, holder string, ttl time.Duration, force bool) (mine, before *Lease, err error) {
	before, now, err := s.CurrentLease(ctx)
	if err != nil {
		return nil, nil, err
	}
	if before != nil && !force && now.Before(before.Expires) {
		return nil, before, nil
	}
	ms := ttl.Milliseconds()
	var res sql.Result
	if before == nil {
		res, err = s.DB.Exec(ctx, fmt.Sprintf(`
			INSERT INTO ha_lease (id, %s) VALUES (1, $1, 1, %[2]s, %[2]s, %[2]s + $2, FALSE)
			ON CONFLICT (id) DO NOTHING`, leaseColumns, s.clock()), holder, ms)
	} else {
		res, err = s.DB.Exec(ctx, fmt.Sprintf(`
			UPDATE ha_lease SET holder = $1, epoch = epoch + 1, since_ms = %[1]s, renewed_ms = %[1]s, expires_ms = %[1]s + $2, released = FALSE
			WHERE id = 1 AND epoch = $3`, s.clock()), holder, ms, before.Epoch)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("taking the lease: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		// Another instance took it in between.
		current, _, err := s.CurrentLease(ctx)
		return nil, current, err
	}
	mine, _, err = s.CurrentLease(ctx)
	if err != nil {
		return nil, nil, err
	}
	if mine.Holder != holder {
		return nil, mine, nil
	}
	return mine, before, nil
}

// RenewLease extends the term of epoch by ttl from now; ErrFenced if another
// instance has taken the lease since.
func (s *Store) RenewLease(ctx context.Context, epoch int64, ttl time.Duration) error {
	res, err := s.DB.Exec(ctx, fmt.Sprintf(`UPDATE ha_lease SET renewed_ms = %[1]s, expires_ms = %[1]s + $1 WHERE id = 1 AND epoch = $2`,
		s.clock()), ttl.Milliseconds(), epoch)
	if err != nil {
		return fmt.Errorf("renewing the lease: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ErrFenced
	}
	return nil
}

// ReleaseLease ends the term of epoch now, for a standby to take over at once
// (an orderly stop); nothing if the term has ended already.
func (s *Store) ReleaseLease(ctx context.Context, epoch int64) error {
	_, err := s.DB.Exec(ctx, fmt.Sprintf(`UPDATE ha_lease SET expires_ms = %s, released = TRUE WHERE id = 1 AND epoch = $1`, s.clock()), epoch)
	if err != nil {
		return fmt.Errorf("releasing the lease: %w", err)
	}
	return nil
}

// Fence sets the epoch this process acts under: epoch > 0 while it is the
// active instance, -1 once it is not (every fenced write is then refused).
// A store on which no lease was ever taken (0, tools and tests) is not fenced.
func (s *Store) Fence(epoch int64) { s.epoch.Store(epoch) }

// fenced runs fn in a transaction that first checks that this process's epoch
// is still the lease's: the check holds the lease row (shared, on PostgreSQL)
// until the transaction ends, so a takeover waits for the write, and a write
// after a takeover is refused with ErrFenced.
func (s *Store) fenced(ctx context.Context, fn func(ctx context.Context) error) error {
	epoch := s.epoch.Load()
	if epoch == 0 {
		return s.DB.DoTxn(ctx, nil, fn)
	}
	if epoch < 0 {
		return ErrFenced
	}
	lock := ""
	if s.DB.Dialect == dbutil.Postgres {
		lock = " FOR SHARE"
	}
	return s.DB.DoTxn(ctx, nil, func(ctx context.Context) error {
		var current int64
		if err := s.DB.QueryRow(ctx, "SELECT epoch FROM ha_lease WHERE id = 1"+lock).Scan(&current); err != nil {
			return fmt.Errorf("checking the lease: %w", err)
		}
		if current != epoch {
			s.epoch.CompareAndSwap(epoch, -1)
			return ErrFenced
		}
		return fn(ctx)
	})
}

// ClaimCommand records that this instance runs command (as typed, for a
// later notice) of event: true if it is the first to claim it, false if it
// was claimed before (by this or another instance, before a takeover), so
// that no command runs twice.
func (s *Store) ClaimCommand(ctx context.Context, event id.EventID, room id.RoomID, command, holder string) (bool, error) {
	claimed := false
	err := s.fenced(ctx, func(ctx context.Context) error {
		res, err := s.DB.Exec(ctx, `INSERT INTO command_claims (event_id, room_id, command, holder, epoch, time_ms) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (event_id) DO NOTHING`, event, room, command, holder, s.epoch.Load(), time.Now().UnixMilli())
		if err != nil {
			return fmt.Errorf("claiming the command of %s: %w", event, err)
		}
		n, _ := res.RowsAffected()
		claimed = n == 1
		return nil
	})
	return claimed, err
}

// AnswerClaim records that the command of event has its first answer in the
// room (a reply, a progress message, a confirmation prompt).
func (s *Store) AnswerClaim(ctx context.Context, event id.EventID) error {
	if _, err := s.DB.Exec(ctx, `UPDATE command_claims SET answered = TRUE WHERE event_id = $1`, event); err != nil {
		return fmt.Errorf("recording the answer to %s: %w", event, err)
	}
	return nil
}

// Claim is a command an instance took.
type Claim struct {
	EventID id.EventID
	RoomID  id.RoomID
	Command string
	Holder  string
	Time    time.Time
}

// CutOffClaims are the commands claimed in an earlier term than this
// process's, since since, that were never answered: the instance running
// them stopped first.
func (s *Store) CutOffClaims(ctx context.Context, since time.Time) ([]Claim, error) {
	rows, err := s.DB.Query(ctx, `SELECT event_id, room_id, command, holder, time_ms FROM command_claims
		WHERE NOT answered AND epoch < $1 AND time_ms >= $2 ORDER BY time_ms`, s.epoch.Load(), since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("reading the commands cut off: %w", err)
	}
	defer rows.Close()
	var out []Claim
	for rows.Next() {
		var c Claim
		var at int64
		if err := rows.Scan(&c.EventID, &c.RoomID, &c.Command, &c.Holder, &at); err != nil {
			return nil, err
		}
		c.Time = time.UnixMilli(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Instance is one opsroom process sharing the database, as its heartbeat says.
type Instance struct {
	Name   string
	Active bool
	Seen   time.Time // its last heartbeat
}

// Heartbeat records that the instance name is alive, and whether it is the active one.
func (s *Store) Heartbeat(ctx context.Context, name string, active bool) error {
	_, err := s.DB.Exec(ctx, fmt.Sprintf(`INSERT INTO ha_instances (name, active, seen_ms) VALUES ($1, $2, %[1]s)
		ON CONFLICT (name) DO UPDATE SET active = excluded.active, seen_ms = excluded.seen_ms`, s.clock()), name, active)
	if err != nil {
		return fmt.Errorf("recording this instance's heartbeat: %w", err)
	}
	return nil
}

// Instances lists the instances heard from within since, most recent first,
// with the database's time now.
func (s *Store) Instances(ctx context.Context, since time.Duration) ([]Instance, time.Time, error) {
	var now int64
	if err := s.dbNow(ctx, &now); err != nil {
		return nil, time.Time{}, fmt.Errorf("reading the database's time: %w", err)
	}
	rows, err := s.DB.Query(ctx, `SELECT name, active, seen_ms FROM ha_instances WHERE seen_ms >= $1 ORDER BY seen_ms DESC`,
		now-since.Milliseconds())
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("reading the instances: %w", err)
	}
	var out []Instance
	for rows.Next() {
		var in Instance
		var seen int64
		if err := rows.Scan(&in.Name, &in.Active, &seen); err != nil {
			_ = rows.Close()
			return nil, time.Time{}, err
		}
		in.Seen = time.UnixMilli(seen)
		out = append(out, in)
	}
	return out, time.UnixMilli(now), rows.Err()
}
