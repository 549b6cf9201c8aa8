// Package monitor watches opsroom itself: /healthz and /metrics on an
// optional HTTP listener, and the heartbeat pinged to a dead-man's switch.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

// Database is the store, as far as health goes.
type Database interface {
	CheckWritable(ctx context.Context) error
}

// Fleet is the fleet, as far as health and metrics go.
type Fleet interface {
	Services() []*ops.ServiceConfig
	Connections() []ops.Connection
}

// Watcher is the watcher, as far as health and metrics go.
type Watcher interface {
	Hosts() []ops.HostWatch
	Late(now time.Time) (late []ops.LateHost, running bool)
}

// Deps is what the monitor reads.
type Deps struct {
	HTTP      HTTP
	Heartbeat Heartbeat
	Database  Database
	Fleet     Fleet
	// Confirmations says how many commands wait for a ✅ (nil: none are counted).
	Confirmations func() int
}

// Monitor hears what the parts of opsroom do (it implements their
// observers) and answers /healthz, /metrics and the heartbeat from it.
type Monitor struct {
	deps    Deps
	watcher Watcher // nil: the watcher is disabled
	metrics *metrics

	mu   sync.Mutex
	sync syncState
	// probed are the hosts probed since the last complete watcher cycle.
	probed map[string]bool
	// cycles signals a complete watcher cycle to the heartbeat (never blocking the watcher).
	cycles chan struct{}

	dbMu    sync.Mutex
	dbErr   error
	dbAt    time.Time
	started time.Time
}

// syncState is what the monitor knows of the Matrix sync.
type syncState struct {
	lastOK      time.Time // the last response handled
	failedSince time.Time // the first failure since lastOK; zero while it succeeds
	lastErr     error
}

// New builds the monitor; it serves nothing until Run.
func New(deps Deps) *Monitor {
	m := &Monitor{deps: deps, probed: map[string]bool{}, cycles: make(chan struct{}, 1), started: time.Now()}
	m.metrics = newMetrics(m)
	return m
}

// Watch has the health check and the heartbeat follow the watcher. Call it
// before Run; without it the watcher counts as disabled.
func (m *Monitor) Watch(w Watcher) { m.watcher = w }

// Registry is the Prometheus registry /metrics serves.
func (m *Monitor) Registry() *prometheus.Registry { return m.metrics.registry }

// Run serves /healthz and /metrics on http.listen, if set, and pings the
// heartbeat, if set, until ctx ends. An address it cannot listen on is an error.
func (m *Monitor) Run(ctx context.Context) error {
	log := zerolog.Ctx(ctx).With().Str("component", "monitor").Logger()
	ctx = log.WithContext(ctx)
	g, gctx := errgroup.WithContext(ctx)
	if listen := m.deps.HTTP.Listen; listen != "" {
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return fmt.Errorf("http.listen: %w", err)
		}
		srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 5 * time.Second,
			BaseContext: func(net.Listener) context.Context { return gctx }}
		log.Info().Str("address", ln.Addr().String()).Msg("Serving /healthz and /metrics")
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serving http.listen %s: %w", listen, err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			shutdown, cancel := context.WithTimeout(context.WithoutCancel(gctx), 5*time.Second)
			defer cancel()
			return srv.Shutdown(shutdown)
		})
	}
	if m.deps.Heartbeat.URL.IsSet() {
		g.Go(func() error { m.heartbeat(gctx); return nil })
	}
	return g.Wait()
}

// Handler serves /healthz and /metrics.
func (m *Monitor) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", m.serveHealth)
	mux.Handle("GET /metrics", m.metrics.handler())
	return mux
}

// Synced implements bot.Observer.
func (m *Monitor) Synced(err error) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		m.sync = syncState{lastOK: now}
		return
	}
	if m.sync.failedSince.IsZero() {
		m.sync.failedSince = now
	}
	m.sync.lastErr = err
}

// Alerted implements bot.Observer.
func (m *Monitor) Alerted(kind string) { m.metrics.alerts.WithLabelValues(kind).Inc() }

// Delivered implements bot.Observer.
func (m *Monitor) Delivered(_ string, lag time.Duration) {
	m.metrics.deliveryLag.Observe(lag.Seconds())
}

// DeliveryRetry implements bot.Observer.
func (m *Monitor) DeliveryRetry() { m.metrics.deliveryRetries.Inc() }

// Command implements commands.Observer.
func (m *Monitor) Command(verb, host string, result store.Result, took time.Duration) {
	m.metrics.commands.WithLabelValues(verb, string(result)).Inc()
	m.metrics.commandDuration.WithLabelValues(host).Observe(took.Seconds())
}

// RemoteExec implements ops.Observer.
func (m *Monitor) RemoteExec(host string, took time.Duration, err error) {
	m.metrics.execDuration.WithLabelValues(host).Observe(took.Seconds())
	if err != nil {
		m.metrics.execErrors.WithLabelValues(host).Inc()
	}
}

// Probed implements ops.Observer: it also tells the heartbeat when every
// watched host has been probed since the last time, a complete cycle.
func (m *Monitor) Probed(host string, took time.Duration) {
	m.metrics.probeDuration.WithLabelValues(host).Observe(took.Seconds())
	m.mu.Lock()
	m.probed[host] = true
	complete := true
	for _, s := range m.deps.Fleet.Services() {
		if !m.probed[s.Host] {
			complete = false
			break
		}
	}
	if complete {
		clear(m.probed)
	}
	m.mu.Unlock()
	if complete {
		select {
		case m.cycles <- struct{}{}:
		default: // the heartbeat is busy; it needs one at a time
		}
	}
}
