// Package ha makes this process the active opsroom instance or a standby: it
// stands by until the store's lease is free, takes it (a term, with the next
// epoch), renews it, and ends the term when the lease is lost, so that the
// process stands by again. Only a process with a valid term acts in the world.
package ha

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/opsroom/opsroom/internal/config"
	"github.com/opsroom/opsroom/store"
)

// Config is the ha: section.
type Config struct {
	// Lease is how long a term lasts without a renewal: the longest the
	// instances can be without an active one after it dies (it renews every
	// third of it). Default 15 s.
	Lease config.Duration `yaml:"lease"`
}

// DefaultLease is ha.lease when the config does not say.
const DefaultLease = 15 * time.Second

// Validate checks the section; defaults fill what is not set.
func (c *Config) Validate() (errs []error) {
	if c.Lease.Duration == 0 {
		c.Lease.Duration = DefaultLease
	}
	if c.Lease.Duration < time.Second {
		errs = append(errs, fmt.Errorf("ha.lease: %s is too short: at least 1s (default 15s), as the active instance renews it every third of it",
			c.Lease.Duration))
	}
	return errs
}

// Name is this process as the lease and the instance list show it: "opsroom pid N on HOST".
func Name() string {
	host, _ := os.Hostname()
	return "opsroom pid " + strconv.Itoa(os.Getpid()) + " on " + host
}

// Instance is this process among those sharing the database.
type Instance struct {
	st   *store.Store
	name string
	ttl  time.Duration
	// exclusive: the database is this process's alone (a SQLite file under
	// its lock), so the lease is taken at once, whatever it says, and a term
	// ends only when the database says it was taken over.
	exclusive bool
}

// New is this process as name, with terms of ttl.
func New(st *store.Store, name string, ttl time.Duration, exclusive bool) *Instance {
	return &Instance{st: st, name: name, ttl: ttl, exclusive: exclusive}
}

// Name is this instance's name.
func (in *Instance) Name() string { return in.name }

// poll is how often a standby looks at the lease and records its heartbeat.
func (in *Instance) poll() time.Duration { return max(in.ttl/5, 100*time.Millisecond) }

// Await stands by until this process holds the lease, and returns its term;
// nil when ctx ends first. A database error while standing by is logged and
// retried: the database may be down for a while.
func (in *Instance) Await(ctx context.Context) *Term {
	log := zerolog.Ctx(ctx)
	var standingBy string
	for {
		mine, other, err := in.st.AcquireLease(ctx, in.name, in.ttl, in.exclusive)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			log.Warn().Err(err).Msg("Could not read the lease; trying again")
		case mine != nil:
			return in.begin(ctx, mine, other)
		case other.Holder != standingBy:
			standingBy = other.Holder
			log.Info().Str("active", other.Holder).Time("active_since", other.Since).Int64("epoch", other.Epoch).
				Msg("Standing by: another opsroom instance is active")
		}
		if err := in.st.Heartbeat(ctx, in.name, false); err != nil && ctx.Err() == nil {
			log.Warn().Err(err).Msg("Could not record this standby's heartbeat")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(in.poll()):
		}
	}
}

// Term is one time this process is the active instance.
type Term struct {
	in *Instance
	// Lease is the term as taken; Before the one it ended (nil: the first).
	Lease, Before *store.Lease
	ctx           context.Context
	cancel        context.CancelCauseFunc
	done          chan struct{}

	mu sync.Mutex
	// validUntil is when the term lapses unless renewed, by this process's
	// clock (monotonic): the time a renewal was sent plus the lease less a
	// margin, so it lapses here before the database's lease expires.
	validUntil time.Time
	lost       error
}

// ErrLost is the cause of a term's context when another instance took the lease.
var ErrLost = errors.New("lost the lease to another opsroom instance")

func (in *Instance) begin(ctx context.Context, lease, before *store.Lease) *Term {
	tctx, cancel := context.WithCancelCause(ctx)
	t := &Term{in: in, Lease: lease, Before: before, ctx: tctx, cancel: cancel, done: make(chan struct{}),
		validUntil: time.Now().Add(in.ttl - in.margin())}
	in.st.Fence(lease.Epoch)
	ev := zerolog.Ctx(ctx).Info().Int64("epoch", lease.Epoch)
	if before != nil {
		ev = ev.Str("after", before.Holder).Time("after_last_renewed", before.Renewed)
	}
	ev.Msg("Active: this instance holds the lease")
	go t.keep()
	return t
}

func (in *Instance) margin() time.Duration { return in.ttl / 5 }

// Context ends when the term does: the lease lost, or the process stopping.
func (t *Term) Context() context.Context { return t.ctx }

// TakeOver says whether this term began by taking the lease from another
// instance sharing the database that did not give it up (it died, hung or
// lost its database), and when that instance was last known to be alive.
func (t *Term) TakeOver() (from string, lastAlive time.Time, ok bool) {
	if t.in.exclusive || t.Before == nil || t.Before.Holder == t.in.name || t.Before.Released {
		return "", time.Time{}, false
	}
	return t.Before.Holder, t.Before.Renewed, true
}

// Valid is nil while this process may act as the active instance: its term
// not lost and, unless the database is its alone, renewed recently enough.
func (t *Term) Valid() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lost != nil {
		return t.lost
	}
	if !t.in.exclusive && time.Now().After(t.validUntil) {
		return fmt.Errorf("%w: its lease was not renewed for %s", store.ErrFenced, t.in.ttl-t.in.margin())
	}
	return nil
}

// Lost is why the term ended without this process ending it (nil if it did not).
func (t *Term) Lost() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lost
}

func (t *Term) lose(err error) {
	t.mu.Lock()
	if t.lost == nil {
		t.lost = err
	}
	t.mu.Unlock()
	t.in.st.Fence(-1)
	t.cancel(err)
}

// keep renews the lease every third of it until the term ends. A renewal the
// database refuses (a newer epoch) ends the term at once; one that fails
// (the database away) is retried until the term lapses.
func (t *Term) keep() {
	defer close(t.done)
	log := zerolog.Ctx(t.ctx)
	every := t.in.ttl / 3
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
		}
		sent := time.Now()
		ctx, cancel := context.WithTimeout(t.ctx, every)
		err := t.in.st.RenewLease(ctx, t.Lease.Epoch, t.in.ttl)
		if err == nil {
			err = t.in.st.Heartbeat(ctx, t.in.name, true)
		}
		cancel()
		switch {
		case t.ctx.Err() != nil:
			return
		case errors.Is(err, store.ErrFenced):
			current, _, _ := t.in.st.CurrentLease(context.WithoutCancel(t.ctx))
			who := "another instance"
			if current != nil {
				who = fmt.Sprintf("%s (epoch %d)", current.Holder, current.Epoch)
			}
			log.Warn().Int64("epoch", t.Lease.Epoch).Str("now_active", who).
				Msg("Lost the lease: another opsroom instance took over; standing by")
			t.lose(fmt.Errorf("%w: %s took over", ErrLost, who))
			return
		case err != nil:
			log.Warn().Err(err).Msg("Could not renew the lease; trying again")
			if !t.in.exclusive && time.Now().After(t.validUntil) {
				log.Warn().Msg("Lost the lease: it lapsed before it could be renewed; standing by")
				t.lose(fmt.Errorf("%w: it lapsed while the database did not answer", ErrLost))
				return
			}
		default:
			t.mu.Lock()
			t.validUntil = sent.Add(t.in.ttl - t.in.margin())
			t.mu.Unlock()
		}
	}
}

// End ends the term: it stops renewing and, if the lease is still this
// process's, gives it up for a standby to take at once.
func (t *Term) End() {
	t.cancel(context.Canceled)
	<-t.done
	if t.Lost() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), 5*time.Second)
	defer cancel()
	// A part may have stopped because another instance took over before the
	// next renewal would have said so: then this one stands by.
	if current, _, err := t.in.st.CurrentLease(ctx); err == nil && current != nil && current.Epoch != t.Lease.Epoch {
		t.lose(fmt.Errorf("%w: %s (epoch %d) took over", ErrLost, current.Holder, current.Epoch))
		return
	}
	if err := t.in.st.ReleaseLease(ctx, t.Lease.Epoch); err != nil {
		zerolog.Ctx(t.ctx).Warn().Err(err).Msg("Could not give up the lease; a standby takes over when it lapses")
	}
	_ = t.in.st.Heartbeat(ctx, t.in.name, false)
}
