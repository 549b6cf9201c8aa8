package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/opsroom/opsroom/internal/testworld"
	"github.com/opsroom/opsroom/ops"
	"github.com/opsroom/opsroom/store"
)

type fakeDB struct{ err error }

func (d *fakeDB) CheckWritable(context.Context) error { return d.err }

type fakeFleet struct{}

func (fakeFleet) Services() []*ops.ServiceConfig {
	return []*ops.ServiceConfig{{Name: "web", Host: "a"}, {Name: "db", Host: "b"}}
}

func (fakeFleet) Connections() []ops.Connection {
	return []ops.Connection{{Host: "a", Up: true, SessionsInUse: 2, MaxSessions: 8}, {Host: "b", MaxSessions: 8}}
}

type fakeWatcher struct {
	late    []ops.LateHost
	running bool
}

func (w *fakeWatcher) Hosts() []ops.HostWatch {
	return []ops.HostWatch{{Host: "a", LastProbe: time.Now().Add(-3 * time.Second), Streams: []ops.Stream{{Engine: "Docker", Connected: true}}}}
}

func (w *fakeWatcher) Late(time.Time) ([]ops.LateHost, bool) { return w.late, w.running }

func newTestMonitor(db *fakeDB, w *fakeWatcher) *Monitor {
	m := New(Deps{Database: db, Fleet: fakeFleet{}, Confirmations: func() int { return 1 }})
	if w != nil {
		m.Watch(w)
	}
	return m
}

func getHealth(t *testing.T, m *Monitor) (int, Report) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	var r Report
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("/healthz answered %q: %v", rec.Body, err)
	}
	return rec.Code, r
}

func TestHealthzNamesEachFailingPart(t *testing.T) {
	db := &fakeDB{}
	w := &fakeWatcher{running: true}
	m := newTestMonitor(db, w)

	// Given no sync yet, when asked, then 503 naming the sync.
	code, r := getHealth(t, m)
	if code != http.StatusServiceUnavailable || r.OK || r.Sync.OK || !strings.Contains(r.Sync.Reason, "no sync") {
		t.Errorf("before the first sync: %d %+v, want 503 naming the sync", code, r)
	}

	// Given a sync, a writable database and a watcher on time: 200.
	m.Synced(nil)
	if code, r = getHealth(t, m); code != http.StatusOK || !r.OK || r.Sync.Last == nil {
		t.Errorf("all well: %d %+v, want 200", code, r)
	}

	// When the sync fails, then 503 with the error, until it succeeds again.
	m.Synced(errors.New("connection refused"))
	if code, r = getHealth(t, m); code != http.StatusServiceUnavailable || !strings.Contains(r.Sync.Reason, "connection refused") {
		t.Errorf("sync failing: %d %+v, want 503 with the error", code, r)
	}
	m.Synced(nil)

	// When the database refuses a write and a host is late, then both are named.
	db.err = errors.New("attempt to write a readonly database")
	w.late = []ops.LateHost{{Host: "b", LastProbe: time.Now().Add(-5 * time.Minute), Due: 3 * time.Minute}}
	m.dbAt = time.Time{} // no reuse of the last check
	code, r = getHealth(t, m)
	if code != http.StatusServiceUnavailable || !r.Sync.OK || r.Database.OK || r.Watcher.OK {
		t.Fatalf("database and watcher failing: %d %+v", code, r)
	}
	for _, want := range []string{"database: attempt to write a readonly database", `watcher: host "b" last probed 5m0s ago (due within 3m0s)`} {
		if !strings.Contains(r.Reason(), want) {
			t.Errorf("reason %q lacks %q", r.Reason(), want)
		}
	}
}

func TestHealthzTakesADisabledWatcherAsHealthy(t *testing.T) {
	m := newTestMonitor(&fakeDB{}, nil)
	m.Synced(nil)
	if code, r := getHealth(t, m); code != http.StatusOK || !r.Watcher.Disabled {
		t.Errorf("watcher disabled: %d %+v, want 200 with the watcher disabled", code, r)
	}
}

func scrape(t *testing.T, m *Monitor) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return families
}

// value is the value of the family's metric with exactly these labels (-1: none).
func value(families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f := families[name]
	if f == nil {
		return -1
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			match = match && labels[l.GetName()] == l.GetValue()
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

func TestMetricsShowWhatTheObserversHeard(t *testing.T) {
	m := newTestMonitor(&fakeDB{}, &fakeWatcher{running: true})
	m.Command("status", "a", store.ResultOK, 120*time.Millisecond)
	m.Command("status", "a", store.ResultOK, 80*time.Millisecond)
	m.Command("restart", "b", store.ResultFailed, time.Second)
	m.RemoteExec("a", 30*time.Millisecond, nil)
	m.RemoteExec("a", time.Second, errors.New("unreachable"))
	m.Probed("a", 40*time.Millisecond)
	m.Alerted("exited")
	m.Delivered("exited", 300*time.Millisecond)
	m.DeliveryRetry()
	m.Synced(nil)

	f := scrape(t, m)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"opsroom_commands_total", map[string]string{"verb": "status", "result": "ok"}, 2},
		{"opsroom_commands_total", map[string]string{"verb": "restart", "result": "failed"}, 1},
		{"opsroom_command_duration_seconds", map[string]string{"host": "a"}, 2},
		{"opsroom_remote_exec_duration_seconds", map[string]string{"host": "a"}, 2},
		{"opsroom_remote_exec_errors_total", map[string]string{"host": "a"}, 1},
		{"opsroom_probe_duration_seconds", map[string]string{"host": "a"}, 1},
		{"opsroom_alerts_total", map[string]string{"kind": "exited"}, 1},
		{"opsroom_alert_delivery_lag_seconds", nil, 1},
		{"opsroom_alert_delivery_retries_total", nil, 1},
		{"opsroom_ssh_connection_up", map[string]string{"host": "a"}, 1},
		{"opsroom_ssh_connection_up", map[string]string{"host": "b"}, 0},
		{"opsroom_ssh_sessions_in_use", map[string]string{"host": "a"}, 2},
		{"opsroom_ssh_sessions_max", map[string]string{"host": "b"}, 8},
		{"opsroom_event_stream_connected", map[string]string{"host": "a", "engine": "Docker"}, 1},
		{"opsroom_confirmations_pending", nil, 1},
	} {
		if got := value(f, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if age := value(f, "opsroom_last_probe_age_seconds", map[string]string{"host": "a"}); age < 2 || age > 60 {
		t.Errorf("opsroom_last_probe_age_seconds{host=a} = %v, want about 3", age)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "opsroom_matrix_last_sync_timestamp_seconds"} {
		if f[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

// lockedBuffer is a log the heartbeat writes while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func heartbeatConfig(t *testing.T, url, interval string) Heartbeat {
	t.Helper()
	var hb Heartbeat
	if err := yaml.Unmarshal([]byte("url: "+url+"\ninterval: "+interval), &hb); err != nil {
		t.Fatal(err)
	}
	if errs, _ := hb.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	return hb
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHeartbeatPingsAfterCompleteCyclesAndFailsWithTheReason(t *testing.T) {
	p := &testworld.Recorder{}
	srv := httptest.NewServer(p)
	defer srv.Close()
	m := New(Deps{Heartbeat: heartbeatConfig(t, srv.URL+"/ping/token-123", "1ms"), Database: &fakeDB{}, Fleet: fakeFleet{}})
	m.Watch(&fakeWatcher{running: true})
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(zerolog.New(logs).WithContext(context.Background()))
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()

	// Given a healthy opsroom, when only one of two hosts is probed, then no ping;
	// when the other is too, a cycle is complete: a GET of the URL.
	m.Synced(nil)
	m.Probed("a", time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	if got := p.Since(0); len(got) != 0 {
		t.Fatalf("pinged %q before a complete cycle", got)
	}
	m.Probed("b", time.Millisecond)
	waitFor(t, "a ping after a complete cycle", func() bool { return len(p.Since(0)) == 1 })
	if got := p.Since(0)[0]; got != "GET /ping/token-123" {
		t.Errorf("healthy ping %q, want GET /ping/token-123", got)
	}

	// When the sync fails, then the next cycle POSTs URL/fail with the reason.
	m.Synced(errors.New("dial tcp 127.0.0.1:8008: connect: connection refused"))
	time.Sleep(5 * time.Millisecond)
	m.Probed("a", time.Millisecond)
	m.Probed("b", time.Millisecond)
	waitFor(t, "a /fail ping", func() bool { return len(p.Since(0)) == 2 })
	if got := p.Since(0)[1]; !strings.HasPrefix(got, "POST /ping/token-123/fail: sync: syncing with the homeserver has failed") ||
		!strings.Contains(got, "connection refused") {
		t.Errorf("unhealthy ping %q, want POST /ping/token-123/fail with the sync's reason", got)
	}

	// When the switch is away, then the failure is logged without the URL's token.
	srv.Close()
	time.Sleep(5 * time.Millisecond)
	m.Probed("a", time.Millisecond)
	m.Probed("b", time.Millisecond)
	waitFor(t, "the failed ping logged", func() bool { return strings.Contains(logs.String(), "Heartbeat ping failed") })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if strings.Contains(logs.String(), "token-123") {
		t.Errorf("the heartbeat URL's token is in the log:\n%s", logs.String())
	}
}

func TestHeartbeatPingsAtMostOncePerInterval(t *testing.T) {
	p := &testworld.Recorder{}
	srv := httptest.NewServer(p)
	defer srv.Close()
	m := New(Deps{Heartbeat: heartbeatConfig(t, srv.URL, "1h"), Database: &fakeDB{}, Fleet: fakeFleet{}})
	m.Watch(&fakeWatcher{running: true})
	m.Synced(nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = m.Run(ctx) }()
	for range 5 {
		m.Probed("a", time.Millisecond)
		m.Probed("b", time.Millisecond)
		time.Sleep(20 * time.Millisecond)
	}
	if got := p.Since(0); len(got) != 1 {
		t.Errorf("%d pings in five cycles within the interval, want 1: %q", len(got), got)
	}
}

func TestConfigChecks(t *testing.T) {
	for _, c := range []struct {
		yaml     string
		errs     []string
		warnings []string
	}{
		{yaml: "http: {listen: 127.0.0.1:9090}"},
		{yaml: "http: {listen: 9090}", errs: []string{"http.listen: \"9090\" is not host:port"}},
		{yaml: "http: {listen: 127.0.0.1:99999}", errs: []string{"http.listen: port \"99999\""}},
		{yaml: "http: {listen: 0.0.0.0:9090}", warnings: []string{"http.listen: 0.0.0.0:9090 is reachable from other machines"}},
		{yaml: "heartbeat: {url: https://hc-ping.com/abc}"},
		{yaml: "heartbeat: {url: hc-ping.com/secret-token}", errs: []string{"heartbeat.url: must be an http:// or https:// URL"}},
		{yaml: "heartbeat: {url: {env: OPSROOM_TEST_UNSET_HEARTBEAT}}", errs: []string{"heartbeat.url: reading secret: environment variable OPSROOM_TEST_UNSET_HEARTBEAT is not set"}},
		{yaml: "heartbeat: {url: https://hc-ping.com/abc, interval: -1m}", errs: []string{"heartbeat.interval: must be a positive duration"}},
	} {
		var cfg struct {
			HTTP      HTTP      `yaml:"http"`
			Heartbeat Heartbeat `yaml:"heartbeat"`
		}
		if err := yaml.Unmarshal([]byte(c.yaml), &cfg); err != nil {
			t.Fatal(err)
		}
		errs, warnings := cfg.HTTP.Validate()
		e, w := cfg.Heartbeat.Validate()
		errs, warnings = append(errs, e...), append(warnings, w...)
		check := func(kind string, got []error, want []string) {
			if len(got) != len(want) {
				t.Errorf("%s: %s %v, want %q", c.yaml, kind, got, want)
				return
			}
			for i := range want {
				if !strings.Contains(got[i].Error(), want[i]) {
					t.Errorf("%s: %s %q, want it to contain %q", c.yaml, kind, got[i], want[i])
				}
				if strings.Contains(got[i].Error(), "secret-token") {
					t.Errorf("%s: %s %q shows the URL", c.yaml, kind, got[i])
				}
			}
		}
		check("errors", errs, c.errs)
		check("warnings", warnings, c.warnings)
		if cfg.Heartbeat.Interval.Duration <= 0 {
			t.Errorf("%s: interval %s, want the default filled in", c.yaml, cfg.Heartbeat.Interval)
		}
	}
}
