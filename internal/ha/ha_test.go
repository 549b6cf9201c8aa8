package ha

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/opsroom/opsroom/store"
)

func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestATermEndsWhenAnotherInstanceTakesTheLeaseAndItsWritesAreRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "opsroom.db")
	a, b := openStore(t, path), openStore(t, path)
	const ttl = time.Second

	term := New(a, "a", ttl, false).Await(ctx)
	if term == nil || term.Valid() != nil || term.Lease.Epoch != 1 {
		t.Fatalf("a's term = %+v, valid: %v", term, term.Valid())
	}

	// b stands by while a renews
	standby, cancel := context.WithTimeout(ctx, 2*ttl)
	defer cancel()
	if got := New(b, "b", ttl, false).Await(standby); got != nil {
		t.Fatalf("b became active while a renews: %+v", got.Lease)
	}

	// when b takes the lease over (as if a had been paused past it)
	if took, _, err := b.AcquireLease(ctx, "b", time.Hour, true); err != nil || took == nil {
		t.Fatal(took, err)
	}

	// then a's term ends at its next renewal, and a may not act
	select {
	case <-term.Context().Done():
	case <-time.After(5 * ttl):
		t.Fatal("a's term did not end after the takeover")
	}
	if err := term.Valid(); !errors.Is(err, ErrLost) {
		t.Errorf("a's Valid after the takeover = %v, want ErrLost", err)
	}
	if _, err := a.ClaimCommand(ctx, "$x", "!r:x", "!status", "a"); !errors.Is(err, store.ErrFenced) {
		t.Errorf("a's claim after losing its term: %v, want ErrFenced", err)
	}
	term.End() // gives nothing up: the lease is b's
	if cur, _, _ := b.CurrentLease(ctx); cur.Holder != "b" || cur.Released {
		t.Errorf("the lease after a's End = %+v, want b's, not released", cur)
	}
}

func TestATermNotRenewedLapsesHereBeforeTheDatabaseLetsItGo(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "opsroom.db"))
	in := New(st, "a", time.Second, false)
	term := in.Await(ctx)
	// As if paused: the renewals stop, and the local deadline passes.
	term.mu.Lock()
	term.validUntil = time.Now().Add(-time.Millisecond)
	term.mu.Unlock()
	if err := term.Valid(); !errors.Is(err, store.ErrFenced) {
		t.Errorf("Valid past the local deadline = %v, want ErrFenced", err)
	}
	if lease, now, _ := st.CurrentLease(ctx); !now.Before(lease.Expires) {
		t.Errorf("the database's lease expired already (%s, now %s): the local deadline must come first", lease.Expires, now)
	}
	term.End()
	if lease, _, _ := st.CurrentLease(ctx); !lease.Released {
		t.Errorf("the lease after End = %+v, want released", lease)
	}
}

func TestTheLeaseMustBeAtLeastASecond(t *testing.T) {
	c := Config{}
	if errs := c.Validate(); len(errs) != 0 || c.Lease.Duration != DefaultLease {
		t.Errorf("default: %v, %s", errs, c.Lease.Duration)
	}
	c.Lease.Duration = 500 * time.Millisecond
	if errs := c.Validate(); len(errs) != 1 {
		t.Errorf("500ms: %v, want an error", errs)
	}
}
