package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"reflect"
	"sync"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/opsroom/opsroom/commands"
	"github.com/opsroom/opsroom/ops"
)

// reloader applies the config file's hosts and services to the running
// fleet, on SIGHUP and on !reload. The other sections are read at start:
// a reload that changes them says they wait for a restart.
type reloader struct {
	path    string
	fleet   *ops.Fleet
	watcher *ops.Watcher // nil when the watcher is off

	mu      sync.Mutex
	running Config // as started, or as last reloaded
}

// reload re-reads and validates the file; on any error nothing changes.
func (r *reloader) reload(ctx context.Context) (ops.Reloaded, []string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg, errs, _, err := loadConfig(r.path)
	if err != nil {
		return ops.Reloaded{}, nil, err
	}
	if len(errs) > 0 {
		return ops.Reloaded{}, nil, errors.Join(errs...)
	}
	var notes []string
	if !reflect.DeepEqual(cfg.Fleet.Watch, r.running.Fleet.Watch) {
		notes = append(notes, "watch: changed; it takes effect when opsroom restarts")
	}
	if d, was := cfg.Fleet.Drift, r.running.Fleet.Drift; d.Digest != was.Digest || d.DigestEvery != was.DigestEvery {
		notes = append(notes, "drift.digest or drift.digest_every changed; the digest's schedule takes effect when opsroom restarts")
	}
	other, running := *cfg, r.running
	other.Fleet, running.Fleet = ops.Config{}, ops.Config{}
	if !reflect.DeepEqual(other, running) {
		notes = append(notes, "settings other than hosts, services and watch changed; they take effect when opsroom restarts")
	}
	changed, err := r.fleet.Reload(&cfg.Fleet)
	if err != nil {
		return ops.Reloaded{}, nil, err
	}
	r.running = *cfg
	if r.watcher != nil && !changed.Empty() {
		r.watcher.Reloaded()
	}
	zerolog.Ctx(ctx).Info().Strs("added", changed.Added).Strs("removed", changed.Removed).Strs("changed", changed.Changed).
		Strs("hosts", changed.Hosts).Strs("notes", notes).Msg("Reloaded the config")
	return changed, notes, nil
}

// onHangup reloads on every SIGHUP until ctx ends; a failed reload is logged
// with every error, and the running config stays.
func (r *reloader) onHangup(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if _, _, err := r.reload(ctx); err != nil {
				zerolog.Ctx(ctx).Err(err).Str("config", r.path).Msg("Reload refused: the config has errors; the running config stays")
			}
		}
	}
}

var _ commands.Reloader = (*reloader)(nil).reload
