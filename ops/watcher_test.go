package ops

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opsroom/opsroom/internal/config"
)

// failingReporter fails the first `fail` transitions it is given, and keeps the alerts of the others.
type failingReporter struct {
	fail   int
	stored []AlertKind
}

func (r *failingReporter) Remembered(context.Context) (map[string]Remembered, error) { return nil, nil }

func (r *failingReporter) Transition(_ context.Context, _ string, _ Remembered, alert *Alert) error {
	if alert != nil && r.fail > 0 {
		r.fail--
		return errors.New("database is locked")
	}
	if alert != nil {
		r.stored = append(r.stored, alert.Kind)
	}
	return nil
}

// TestAFailedWriteDoesNotLoseTheAlert: when storing a transition fails, the
// watcher keeps its previous view, so the next probe finds the change again
// and its alert is stored then.
func TestAFailedWriteDoesNotLoseTheAlert(t *testing.T) {
	cfg := &Config{
		Hosts:    map[string]*HostConfig{"h": {Name: "h", Address: "127.0.0.1:1"}},
		Services: map[string]*ServiceConfig{"web": {Name: "web", Host: "h", Kind: KindContainer, Container: "web"}},
		Watch:    WatchConfig{Interval: config.Duration{Duration: time.Second}, UnreachableProbes: 2, CrashLoopRestarts: 3, CrashLoopWindow: config.Duration{Duration: time.Minute}},
	}
	f, err := NewFleet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep := &failingReporter{fail: 1}
	w := NewWatcher(f, rep)
	w.services["web"], w.hosts["h"] = &tracker{}, &hostTracker{}
	state := StateRunning
	w.probe = func(context.Context, string, []*ServiceConfig) []Status {
		return []Status{{Service: "web", Host: "h", Object: "web", State: state}}
	}
	ctx := context.Background()
	w.probeHost(ctx, "h", f.Services()) // the baseline
	state = StateExited
	w.probeHost(ctx, "h", f.Services()) // the exit; storing it fails
	if len(rep.stored) != 0 {
		t.Fatalf("stored %v although the write failed", rep.stored)
	}
	w.probeHost(ctx, "h", f.Services()) // still exited: found again, stored now
	w.probeHost(ctx, "h", f.Services())
	if len(rep.stored) != 1 || rep.stored[0] != AlertExited {
		t.Errorf("stored alerts %v, want one exited", rep.stored)
	}
}
