// Command opsroom is a Matrix chat-ops bot: it runs status, logs, restart, stop,
// start and update for the services in its config over SSH, answering in the ops room.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/metrics"
	"syscall"
	"time"
	_ "time/tzdata" // display_timezone in an image without zoneinfo

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/opsroom/opsroom"
	"github.com/opsroom/opsroom/bot"
	"github.com/opsroom/opsroom/commands"
	"github.com/opsroom/opsroom/internal/ha"
	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "opsroom:", err)
		os.Exit(1)
	}
}

// errInvalidConfig means the problems were already printed.
var errInvalidConfig = errors.New("the config has errors (listed above)")

func run() error {
	// Commands sent from now on are run; those sent before, while opsroom was down, are not.
	started := processStart()
	configPath := flag.String("config", "config.yaml", "path of the config file")
	checkOnly := flag.Bool("check-config", false, "validate the config, print every error and warning, and exit")
	connect := flag.Bool("connect", false, "with -check-config: also connect to every host and check it and its services (the preflight of !check all), print the table, and exit non-zero if a check fails")
	showVersion := flag.Bool("version", false, "print the version and exit")
	printExample := flag.Bool("print-example", false, "print the documented example config (config.example.yaml) and exit")
	checkHealth := flag.Bool("healthcheck", false, "ask the running opsroom's /healthz (at the config's http.listen); exit 0 if healthy, else 1 with the reason")
	flag.Parse()
	if *printExample {
		_, err := os.Stdout.Write(opsroom.ExampleConfig)
		return err
	}
	if *checkHealth {
		return healthcheck(*configPath, os.Stdout)
	}
	if *showVersion {
		fmt.Print(readBuildInfo())
		return nil
	}

	cfg, errs, warnings, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
	for _, e := range errs {
		fmt.Fprintln(os.Stderr, "error:", e)
	}
	if len(errs) > 0 {
		return errInvalidConfig
	}
	if *checkOnly || *connect {
		fmt.Fprintf(os.Stderr, "%s: ok (%d hosts, %d services, %d warnings)\n",
			*configPath, len(cfg.Fleet.Hosts), len(cfg.Fleet.Services), len(warnings))
		if *connect {
			return connectCheck(cfg)
		}
		return nil
	}

	if cfg.DisplayTimezone != "" {
		// Every time shown in the room, with its zone; validate checked the name.
		time.Local, _ = time.LoadLocation(cfg.DisplayTimezone)
	}
	gcPercent, gcFromEnv := tuneMemory()
	log := newLogger(cfg.Log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = log.WithContext(ctx)
	build := readBuildInfo()
	log.Info().Str("version", build.Version).Str("revision", build.Revision).Bool("modified", build.Modified).
		Str("config", *configPath).Time("process_start", started).
		Int("gogc", gcPercent).Bool("gogc_from_env", gcFromEnv).Msg("Starting opsroom")
	return serve(ctx, cfg, *configPath, started)
}

// serve opens the database and the fleet, then takes turns with the other
// instances on the same database (internal/ha): it stands by until this
// process holds the lease, runs a term as the active instance, and stands by
// again if it loses the lease. It returns when ctx ends, or with why a part
// stopped for good, for main to exit non-zero and the service manager to
// restart opsroom, instead of running on deaf.
func serve(ctx context.Context, cfg *Config, path string, started time.Time) error {
	st, closeStore, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()

	fleet, err := ops.NewFleet(&cfg.Fleet)
	if err != nil {
		return err
	}
	defer fleet.Close()

	reload := &reloader{path: path, fleet: fleet, running: *cfg}
	instance := ha.New(st, ha.Name(), cfg.HA.Lease.Duration, !store.IsPostgres(cfg.Database))
	log := zerolog.Ctx(ctx)
	for {
		term := instance.Await(ctx)
		if term == nil {
			log.Info().Msg("Stopped")
			return nil
		}
		err := serveTerm(term.Context(), cfg, st, fleet, reload, instance, term, started)
		term.End()
		if lost := term.Lost(); lost != nil && ctx.Err() == nil {
			log.Warn().Err(lost).Msg("This instance is no longer the active one; standing by")
			continue
		}
		if err != nil {
			log.Err(err).Msg("Stopped: a part of opsroom stopped for good; exiting for the service manager to restart opsroom")
			return err
		}
		log.Info().Msg("Stopped")
		return nil
	}
}

// serveTerm wires the parts that act in the world (the bot, the watcher,
// health and metrics) and runs them for one term as the active instance,
// until ctx ends (the process stops, or the lease is lost) or a part stops
// for good: sync (a revoked token, a store error), alert delivery or the watcher.
func serveTerm(ctx context.Context, cfg *Config, st *store.Store, fleet *ops.Fleet, reload *reloader,
	instance *ha.Instance, term *ha.Term, started time.Time) error {
	deps := &commands.Deps{Fleet: fleet, Store: st, EditInterval: cfg.Matrix.EditInterval.Duration,
		Access: cfg.Access, RequireEncryption: cfg.Matrix.Encryption.Require, MaxJobs: cfg.Matrix.MaxJobs,
		Reload: reload.reload}
	mon := newMonitor(cfg, st, fleet, deps)
	botDeps := bot.Deps{Config: &cfg.Matrix, Store: st, Commands: deps, Started: started, Observer: mon,
		Digest: cfg.Fleet.Drift, Alerts: &cfg.Alerts, Maintenance: cfg.Maintenance,
		Instance: instance.Name(), Fence: term.Valid}
	if from, lastAlive, ok := term.TakeOver(); ok {
		// If this instance was standing by when the one before was last
		// known alive, the commands sent since (and a lease before, which
		// that one may not have seen) were not sent while opsroom was down:
		// they are run here. A command that instance claimed is not run again.
		// Else this process started after it was gone: a restart.
		if lastAlive.After(started) {
			botDeps.FailedOver = from
			botDeps.Started = lastAlive.Add(-cfg.HA.Lease.Duration)
		}
	}
	b, err := bot.New(ctx, botDeps)
	if err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	retention := store.Retention{Audit: cfg.Audit.Retention.Duration, Alerts: cfg.Retention.Alerts.Duration,
		UpdateRuns: cfg.Retention.UpdateRuns.Duration, Confirmations: cfg.Retention.Confirmations.Duration}
	g.Go(func() error { maintain(gctx, st, retention); return nil })
	if !cfg.Fleet.Watch.Disabled {
		watcher := ops.NewWatcher(fleet, b)
		deps.Watcher, reload.watcher = watcher, watcher
		mon.Watch(watcher)
		g.Go(func() error {
			if err := watcher.Run(gctx); err != nil {
				return fmt.Errorf("the watcher stopped: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error { startupPreflight(gctx, fleet); return nil })
	if zerolog.Ctx(ctx).GetLevel() <= zerolog.DebugLevel {
		g.Go(func() error { logRuntime(gctx, time.Minute); return nil })
	}
	g.Go(func() error { reload.onHangup(gctx); return nil })
	g.Go(func() error { return b.Run(gctx) })
	g.Go(func() error { return mon.Run(gctx) })
	g.Go(func() error { return serveProfiles(gctx) })
	return g.Wait()
}

// openStore opens the database: a SQLite file under its lock file, for this
// process alone, or a PostgreSQL database (with database_password, if given)
// that other instances may share. closeStore closes it (and its lock).
func openStore(ctx context.Context, cfg *Config) (st *store.Store, closeStore func(), err error) {
	if !store.IsPostgres(cfg.Database) {
		lock, err := store.LockDatabase(cfg.Database)
		if err != nil {
			return nil, nil, err
		}
		st, err := store.Open(ctx, cfg.Database)
		if err != nil {
			_ = lock.Release()
			return nil, nil, err
		}
		return st, func() { _ = st.Close(); _ = lock.Release() }, nil
	}
	uri := cfg.Database
	if cfg.DatabasePassword.IsSet() {
		password, err := cfg.DatabasePassword.Reveal()
		if err != nil {
			return nil, nil, fmt.Errorf("database_password: %w", err)
		}
		if uri, err = store.WithPassword(uri, password); err != nil {
			return nil, nil, fmt.Errorf("database: %w", err)
		}
	}
	if st, err = store.Open(ctx, uri); err != nil {
		return nil, nil, err
	}
	zerolog.Ctx(ctx).Info().Str("database", store.Redacted(uri)).Msg("Opened the PostgreSQL database")
	return st, func() { _ = st.Close() }, nil
}

// maintain keeps the database from growing without bound: at start and then
// daily it deletes the rows older than their retention, checkpoints the
// write-ahead log and vacuums the file.
func maintain(ctx context.Context, st *store.Store, retention store.Retention) {
	tick := time.NewTicker(24 * time.Hour)
	defer tick.Stop()
	for {
		log := zerolog.Ctx(ctx)
		pruned, err := st.Prune(ctx, retention, time.Now())
		if err != nil {
			log.Err(err).Msg("Failed to prune the database")
		}
		for table, n := range pruned {
			if n > 0 {
				log.Info().Str("table", table).Int64("rows", n).Msg("Pruned rows past their retention")
			}
		}
		if err := st.Compact(ctx); err != nil && ctx.Err() == nil {
			log.Err(err).Msg("Failed to compact the database")
		} else {
			log.Debug().Int64("bytes", st.Size()).Msg("Database compacted")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// logRuntime logs, at debug level, the live heap (what the last GC kept) and
// the goroutines every interval: a leak shows as either climbing while the work
// stays the same. The memory soak benchmark reads these lines.
func logRuntime(ctx context.Context, interval time.Duration) {
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/sched/goroutines:goroutines"}}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		metrics.Read(samples)
		zerolog.Ctx(ctx).Debug().Uint64("heap_live_bytes", samples[0].Value.Uint64()).
			Uint64("goroutines", samples[1].Value.Uint64()).Msg("Runtime")
	}
}
