package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

// twoInstances opens one database twice, as two opsroom processes would.
func twoInstances(t *testing.T) (a, b *Store) {
	t.Helper()
	a, path := openTemp(t)
	b, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return a, b
}

func TestOneInstanceHoldsTheLeaseUntilItLapsesThenAStandbyTakesOver(t *testing.T) {
	eachDialect(t, func(t *testing.T) {
		ctx := context.Background()
		a, b := twoInstances(t)
		const ttl = time.Second

		// given a holding the lease
		mine, before, err := a.AcquireLease(ctx, "a", ttl, false)
		if err != nil || mine == nil || mine.Epoch != 1 || before != nil {
			t.Fatalf("a's first acquire = %+v, %+v, %v; want epoch 1, no term before", mine, before, err)
		}
		// then b stands by, told who holds it, for as long as a renews
		for range 3 {
			got, holder, err := b.AcquireLease(ctx, "b", ttl, false)
			if err != nil || got != nil || holder == nil || holder.Holder != "a" {
				t.Fatalf("b's acquire while a holds = %+v, %+v, %v; want none, held by a", got, holder, err)
			}
			if err := a.RenewLease(ctx, 1, ttl); err != nil {
				t.Fatalf("a's renewal: %v", err)
			}
			time.Sleep(ttl / 3)
		}

		// when a stops renewing, b takes over once the lease lapses, with the next epoch
		var took *Lease
		for deadline := time.Now().Add(5 * ttl); took == nil && time.Now().Before(deadline); time.Sleep(ttl / 10) {
			if took, before, err = b.AcquireLease(ctx, "b", ttl, false); err != nil {
				t.Fatal(err)
			}
		}
		if took == nil || took.Epoch != 2 || took.Holder != "b" || before == nil || before.Holder != "a" || before.Epoch != 1 {
			t.Fatalf("b's takeover = %+v after %+v, want epoch 2 after a's epoch 1", took, before)
		}
		// and a, waking up, cannot renew: its term is over
		if err := a.RenewLease(ctx, 1, ttl); !errors.Is(err, ErrFenced) {
			t.Errorf("a's renewal after the takeover: %v, want ErrFenced", err)
		}

		// A released lease is free at once.
		if err := b.ReleaseLease(ctx, 2); err != nil {
			t.Fatal(err)
		}
		again, released, err := a.AcquireLease(ctx, "a", time.Hour, false)
		if err != nil || again == nil || again.Epoch != 3 || again.Released {
			t.Errorf("a's acquire after b released = %+v, %v; want epoch 3", again, err)
		}
		if released == nil || !released.Released || before.Released {
			t.Errorf("the term b gave up = %+v, want released; the one that lapsed = %+v, want not", released, before)
		}
	})
}

func TestWritesOfAnEndedTermAreRefused(t *testing.T) {
	eachDialect(t, func(t *testing.T) {
		ctx := context.Background()
		a, b := twoInstances(t)
		old, _, err := a.AcquireLease(ctx, "a", time.Hour, false)
		if err != nil || old == nil {
			t.Fatal(old, err)
		}
		a.Fence(old.Epoch)
		if ok, err := a.ClaimCommand(ctx, "$one", "!room:x", "!status", "a"); !ok || err != nil {
			t.Fatalf("a's claim while active = %v, %v", ok, err)
		}

		// when b takes over (forced: a never released) while a is paused
		took, _, err := b.AcquireLease(ctx, "b", time.Hour, true)
		if err != nil || took == nil || took.Epoch != old.Epoch+1 {
			t.Fatal(took, err)
		}
		b.Fence(took.Epoch)

		// then each of a's effectful writes is refused: a command, a transition, a delivery
		if _, err := a.ClaimCommand(ctx, "$two", "!room:x", "!status", "a"); !errors.Is(err, ErrFenced) {
			t.Errorf("a's claim after the takeover: %v, want ErrFenced", err)
		}
		ws := WatchState{Key: "svc:web", State: "exited", Alerted: true, Since: time.Now()}
		if err := a.RecordTransition(ctx, ws, &Alert{Subject: "web", Kind: "stopped", Message: "web stopped", Time: time.Now()},
			[]id.RoomID{"!room:x"}); !errors.Is(err, ErrFenced) {
			t.Errorf("a's transition after the takeover: %v, want ErrFenced", err)
		}
		if states, err := b.WatchStates(ctx); err != nil || len(states) != 0 {
			t.Errorf("watch states after a's refused transition = %v, %v; want none", states, err)
		}

		// and b claims each command once: the one a ran is not run again
		if ok, err := b.ClaimCommand(ctx, "$one", "!room:x", "!status", "b"); ok || err != nil {
			t.Errorf("b's claim of the command a ran = %v, %v; want false", ok, err)
		}
		if ok, err := b.ClaimCommand(ctx, "$two", "!room:x", "!status", "b"); !ok || err != nil {
			t.Errorf("b's claim of a new command = %v, %v; want true", ok, err)
		}
		if ok, err := b.ClaimCommand(ctx, "$two", "!room:x", "!status", "b"); ok || err != nil {
			t.Errorf("b's second claim of the same command = %v, %v; want false", ok, err)
		}

		// and the command a took but never answered is b's to report, once
		cut, err := b.CutOffClaims(ctx, time.Now().Add(-time.Hour))
		if err != nil || len(cut) != 1 || cut[0].EventID != "$one" || cut[0].Holder != "a" || cut[0].Command != "!status" {
			t.Fatalf("cut off claims = %+v, %v; want a's $one", cut, err)
		}
		if err := b.AnswerClaim(ctx, "$one"); err != nil {
			t.Fatal(err)
		}
		if cut, err := b.CutOffClaims(ctx, time.Now().Add(-time.Hour)); err != nil || len(cut) != 0 {
			t.Errorf("cut off claims after the answer = %+v, %v; want none", cut, err)
		}
	})
}

func TestInstancesAreListedByTheirHeartbeats(t *testing.T) {
	eachDialect(t, func(t *testing.T) {
		ctx := context.Background()
		a, b := twoInstances(t)
		if err := a.Heartbeat(ctx, "a", true); err != nil {
			t.Fatal(err)
		}
		if err := b.Heartbeat(ctx, "b", false); err != nil {
			t.Fatal(err)
		}
		got, now, err := a.Instances(ctx, time.Minute)
		if err != nil || len(got) != 2 || now.IsZero() {
			t.Fatalf("instances = %+v, %v", got, err)
		}
		active := map[string]bool{}
		for _, in := range got {
			active[in.Name] = in.Active
		}
		if !active["a"] || active["b"] {
			t.Errorf("active = %v, want a only", active)
		}
	})
}
